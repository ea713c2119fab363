#!/usr/bin/env bash
# Runs a command from a test's args. An argument WORKSPACE_OF:PATH becomes the source
# workspace that the runfile PATH really lives in (for tests that walk the tree).
set -euo pipefail
args=()
for arg in "$@"; do
  case "$arg" in
    *WORKSPACE_OF:*)
      file=${arg#*WORKSPACE_OF:}
      real=$(readlink -f "$file")
      # The file is tools/depgraph/<name>: the workspace is three levels up.
      arg="${arg%%WORKSPACE_OF:*}$(cd "$(dirname "$real")/../.." && pwd)"
      ;;
  esac
  args+=("$arg")
done
exec "${args[@]}"
