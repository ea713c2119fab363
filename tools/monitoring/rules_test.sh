#!/usr/bin/env bash
# The repository's alerting and recording rules parse (promtool check rules) and
# fire, or stay quiet, as their unit tests say (promtool test rules).
#   rules_test.sh RULES TESTS
set -euo pipefail
command -v promtool >/dev/null || {
  echo "promtool not found on PATH: install the Debian package prometheus (./bazelw does on first run)" >&2
  exit 1
}
promtool check rules "$1"
promtool test rules "$2" # rule_files in TESTS are relative to it
