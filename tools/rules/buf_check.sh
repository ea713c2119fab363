#!/usr/bin/env bash
# buf on a fixed set of .proto files, for Bazel (tools/rules/buf.bzl):
#   buf_check.sh lint     BUF CONFIG BASELINE PROTO...
#   buf_check.sh breaking BUF CONFIG BASELINE PROTO...
#   buf_check.sh update   BUF CONFIG BASELINE PROTO...   (bazel run: rewrites BASELINE)
#   buf_check.sh selftest BUF CONFIG BASELINE PROTO... -- FILE SED_EXPR WORDS [...]
# selftest applies each SED_EXPR to FILE in a fresh copy and requires the breaking
# check to fail with a message naming every comma-separated word of WORDS.
set -euo pipefail
mode=$1 buf=$2 config=$3 baseline=$4
shift 4
protos=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  protos+=("$1")
  shift
done
[ "${1-}" = -- ] && shift

scratch=${TEST_TMPDIR:-$(mktemp -d)}
export BUF_CACHE_DIR=$scratch/buf-cache
buf=$(realpath "$buf")
config=$(realpath "$config")
# The baseline is a buf image in text format, reviewable in a diff.
against="$(realpath "$baseline")#format=txtpb"

# copy DIR: the protos at their workspace paths under DIR, buf.yaml at its root, so
# buf sees exactly these files and imports them as Bazel does.
copy() {
  rm -rf "$1"
  mkdir -p "$1"
  cp "$config" "$1/buf.yaml"
  local f
  for f in "${protos[@]}"; do
    mkdir -p "$1/$(dirname "$f")"
    cp -L "$f" "$1/$f"
    chmod u+w "$1/$f"
  done
}

case $mode in
lint)
  copy "$scratch/ws"
  cd "$scratch/ws"
  "$buf" lint
  echo "buf lint: ${#protos[@]} files clean"
  ;;
breaking)
  copy "$scratch/ws"
  cd "$scratch/ws"
  if ! "$buf" breaking --against "$against"; then
    echo "The protos break compatibility with proto/$(basename "$baseline") (above)."
    echo "Fix them, or, for a change made on purpose: ./bazelw run //proto:update_baseline"
    exit 1
  fi
  echo "buf breaking: ${#protos[@]} files compatible with the baseline"
  ;;
update)
  [ -n "${BUILD_WORKSPACE_DIRECTORY-}" ] || { echo "run me with ./bazelw run" >&2; exit 2; }
  copy "$scratch/ws"
  out="$BUILD_WORKSPACE_DIRECTORY/$baseline"
  (cd "$scratch/ws" && "$buf" build --exclude-source-info -o "$out#format=txtpb")
  echo "wrote $out: commit it with the change it accepts"
  ;;
selftest)
  [ $# -gt 0 ] && [ $(($# % 3)) = 0 ] || { echo "selftest needs FILE SED_EXPR WORDS triples" >&2; exit 2; }
  cases=0
  while [ $# -gt 0 ]; do
    file=$1 expr=$2 words=$3
    shift 3
    cases=$((cases + 1))
    copy "$scratch/case$cases"
    before=$(cat "$scratch/case$cases/$file")
    sed -i -e "$expr" "$scratch/case$cases/$file"
    [ "$before" != "$(cat "$scratch/case$cases/$file")" ] || { echo "case $cases: '$expr' changed nothing in $file" >&2; exit 1; }
    if out=$(cd "$scratch/case$cases" && "$buf" breaking --against "$against" 2>&1); then
      echo "case $cases: '$expr' on $file passed the breaking check; it must fail" >&2
      exit 1
    fi
    IFS=, read -ra want <<<"$words"
    for w in "${want[@]}"; do
      grep -qF -- "$w" <<<"$out" || { echo "case $cases: the failure does not name '$w':" >&2; echo "$out" >&2; exit 1; }
    done
    echo "case $cases ($expr): refused: $out"
  done
  ;;
*)
  echo "unknown mode $mode" >&2
  exit 2
  ;;
esac
