#!/usr/bin/env bash
# Formats (fix) or checks (check) the workspace: Starlark with buildifier (built by
# Bazel from github.com/bazelbuild/buildtools), formatted and linted, and Go with the
# pinned SDK's gofmt. Lint skips third_party/: stand-ins that mirror upstream files
# and bind Bazel's builtins on purpose (third_party/offline_modules/protobuf).
#   ./bazelw run //:format                     reformat in place
#   ./bazelw test //tools/format:format_test   fail on unformatted files
set -euo pipefail

mode=${1:?usage: format.sh check|fix BUILDIFIER GOFMT MODULE_BAZEL}
runfiles=${RUNFILES_DIR:-${TEST_SRCDIR:-$0.runfiles}}
buildifier="$runfiles/$2"
gofmt="$runfiles/$3"
# The workspace: where MODULE.bazel really lives (bazel run also says it directly).
workspace=${BUILD_WORKSPACE_DIRECTORY:-$(dirname "$(readlink -f "$runfiles/$4")")}

cd "$workspace"
# A sandbox or a remote executor holds MODULE.bazel without the rest of the
# checkout: checking that would pass on next to nothing.
if [[ ! -f go.mod ]]; then
  echo "format: $workspace is not the checkout (no go.mod next to MODULE.bazel); run the check locally, not sandboxed" >&2
  exit 1
fi
# list NAME_PATTERN...: the workspace's files matching any pattern, sorted.
list() {
  local expr=() p
  for p in "$@"; do expr+=(-o -name "$p"); done
  find . -path './bazel-*' -prune -o -path './.git' -prune -o \( "${expr[@]:1}" \) -type f -print0 | LC_ALL=C sort -z
}
starlark=()
while IFS= read -r -d '' f; do starlark+=("$f"); done < <(list BUILD.bazel BUILD '*.bzl' MODULE.bazel WORKSPACE)
linted=()
for f in "${starlark[@]}"; do [[ $f == ./third_party/* ]] || linted+=("$f"); done
gofiles=()
while IFS= read -r -d '' f; do gofiles+=("$f"); done < <(list '*.go')

case "$mode" in
  fix)
    "$buildifier" -mode=fix "${starlark[@]}"
    "$buildifier" -mode=fix -lint=fix "${linted[@]}"
    "$gofmt" -w "${gofiles[@]}"
    ;;
  check)
    failed=0
    if ! "$buildifier" -mode=check "${starlark[@]}"; then failed=1; fi
    if ! "$buildifier" -mode=check -lint=warn "${linted[@]}"; then failed=1; fi
    unformatted=$("$gofmt" -l "${gofiles[@]}")
    if [ -n "$unformatted" ]; then
      printf '%s # gofmt\n' $unformatted
      failed=1
    fi
    if [ $failed = 1 ]; then
      echo "format: the files above are not formatted or have lint warnings; run: ./bazelw run //:format (it fixes what buildifier can)" >&2
      exit 1
    fi
    echo "format: ${#starlark[@]} Starlark files formatted (${#linted[@]} linted) and ${#gofiles[@]} Go files formatted"
    ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
