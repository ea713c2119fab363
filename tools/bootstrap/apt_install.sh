#!/usr/bin/env bash
# Installs Debian packages:
#   apt_install.sh PACKAGE...             from the host's own suites (servers for tests)
#   apt_install.sh --testing PACKAGE...   from Debian testing ("forky"), on bookworm
#
# bookworm only packages Bazel 4, which has no bzlmod. Debian testing packages a
# 7.x as bazel-bootstrap; it installs on bookworm as a partial upgrade, and what links
# the same libraries (protoc) must then come from testing too. We add the
# testing suite with the same mirror and keyring as the host's own bookworm source,
# pinned at priority 100 so apt never upgrades anything else from it unasked.
#
# Prints what it does on stderr; exits non-zero with a one-line reason otherwise.
set -euo pipefail
testing=0
if [ "${1-}" = --testing ]; then
  testing=1
  shift
fi
[ $# -gt 0 ] || { echo "usage: $0 [--testing] PACKAGE..." >&2; exit 2; }

suite=forky
sources=/etc/apt/sources.list.d/monoreel-debian-testing.sources
pin=/etc/apt/preferences.d/monoreel-debian-testing

say() { echo "bazelw: $*" >&2; }
die() { echo "bazelw: $*" >&2; exit 1; }

sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || die "installing $* needs root and there is no sudo: run ./bazelw once as root, or install bazelisk"
  sudo="sudo -n"
fi
command -v apt-get >/dev/null || die "installing $* needs apt-get, which this host lacks: install bazelisk and protoc yourself"

# Reuse the mirror URI and keyring of the host's bookworm source, whatever they are.
mirror_of_host() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      /^[[:space:]]*$/ { if (suites ~ /(^| )bookworm( |$)/ && uris != "") { print uris "|" key; exit } uris=""; suites=""; key=""; next }
      /^URIs:/ { uris=$2 } /^Suites:/ { $1=""; suites=$0 } /^Signed-By:/ { key=$2 }
      END { if (suites ~ /(^| )bookworm( |$)/ && uris != "") print uris "|" key }
    ' "$f" | head -1
  done | grep . | head -1 && return
  # One-line format (/etc/apt/sources.list).
  awk '$1=="deb" && $0 ~ / bookworm / { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { print $i "|" ; exit } }' \
    /etc/apt/sources.list 2>/dev/null | head -1
}

if [ $testing = 0 ]; then
  say "installing $* from Debian"
  if ! { $sudo apt-get install -y -qq "$@" >/dev/null 2>&1 ||
    { $sudo apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null; }; }; then
    die "could not install $* from Debian: check apt's sources"
  fi
  exit 0
fi

if [ ! -f "$sources" ]; then
  m=$(mirror_of_host) || true
  [ -n "$m" ] || die "no Debian bookworm apt source to derive a $suite source from: install bazelisk"
  uri=${m%%|*}; key=${m#*|}
  [ -n "$key" ] || key=/usr/share/keyrings/debian-archive-keyring.gpg
  say "adding Debian '$suite' apt source ($uri), pinned at priority 100"
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' "$uri" "$suite" "$key" | $sudo tee "$sources" >/dev/null
  printf 'Package: *\nPin: release n=%s\nPin-Priority: 100\n' "$suite" | $sudo tee "$pin" >/dev/null
fi

say "apt-get update"
$sudo apt-get update -qq >/dev/null 2>&1 || die "apt cannot reach Debian $suite to install $*: install bazelisk"

errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

apt_forky() {
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -t "$suite" \
    -o Dpkg::Options::=--force-overwrite -o Dpkg::Options::=--force-confold "$@"
}
say "installing $* from Debian $suite (the first time a partial upgrade, about 2 minutes)"
if ! apt_forky "$@" >/dev/null 2>"$errors"; then
  # Seen once: a file conflict between packages of the upgrade stops dpkg midway.
  say "apt stopped midway ($(tail -1 "$errors")); repairing with --fix-broken and retrying"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -y -qq -t "$suite" \
    -o Dpkg::Options::=--force-overwrite --fix-broken install >/dev/null 2>&1 || true
  apt_forky "$@" >/dev/null || die "could not install $* from Debian $suite (see apt output above): install bazelisk"
fi
