#!/usr/bin/env bash
# Formats (fix) or checks (check) every Starlark file of the workspace with
# buildifier, built by Bazel from github.com/bazelbuild/buildtools.
#   ./bazelw run //:buildifier            reformat in place
#   ./bazelw test //tools/buildifier:buildifier_test   fail on unformatted files
set -euo pipefail

mode=${1:?usage: buildifier.sh check|fix BUILDIFIER MODULE_BAZEL}
runfiles=${RUNFILES_DIR:-${TEST_SRCDIR:-$0.runfiles}}
buildifier="$runfiles/$2"
# The workspace: where MODULE.bazel really lives (bazel run also says it directly).
workspace=${BUILD_WORKSPACE_DIRECTORY:-$(dirname "$(readlink -f "$runfiles/$3")")}

cd "$workspace"
files=()
while IFS= read -r -d '' f; do files+=("$f"); done < <(
  find . -path './bazel-*' -prune -o \
    \( -name BUILD.bazel -o -name BUILD -o -name '*.bzl' -o -name MODULE.bazel -o -name WORKSPACE \) -print0 | LC_ALL=C sort -z)

case "$mode" in
  fix) exec "$buildifier" -mode=fix "${files[@]}" ;;
  check)
    if ! "$buildifier" -mode=check "${files[@]}"; then
      echo "buildifier: the files above are not formatted; run: ./bazelw run //:buildifier" >&2
      exit 1
    fi
    echo "buildifier: ${#files[@]} files formatted"
    ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
