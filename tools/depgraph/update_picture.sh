#!/usr/bin/env bash
# Copies the module graph picture Bazel drew (:modules_svg) over docs/modules.svg.
#   ./bazelw run //tools/depgraph:update_picture
set -euo pipefail
: "${BUILD_WORKSPACE_DIRECTORY:?run it with bazel run}"
cp "$1" "$BUILD_WORKSPACE_DIRECTORY/docs/modules.svg"
chmod 644 "$BUILD_WORKSPACE_DIRECTORY/docs/modules.svg"
echo "wrote docs/modules.svg"
