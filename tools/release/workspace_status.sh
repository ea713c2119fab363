#!/usr/bin/env bash
# Bazel's --workspace_status_command for --config=release: the source revision that
# stamped binaries and images carry (STABLE_ keys invalidate stamped outputs).
set -euo pipefail
echo "STABLE_MONOREEL_VERSION $(git describe --tags --always --dirty 2>/dev/null || echo unknown)"
echo "STABLE_MONOREEL_COMMIT $(git rev-parse HEAD 2>/dev/null || echo unknown)"
