#!/usr/bin/env bash
# Prints the MODULE.bazel lines that pin a Go SDK version for every host platform.
# Usage: tools/rules/go_sdk_pin.sh 1.26.8
# `go mod download` verifies each zip against the Go checksum database first.
set -euo pipefail
version=${1:?usage: $0 GO_VERSION}
echo "GO_VERSION = \"$version\""
echo "GO_SDK_SHA256 = {"
for platform in darwin-arm64 linux-amd64 linux-arm64; do
  zip=$(GOFLAGS=-mod=mod go mod download -json "golang.org/toolchain@v0.0.1-go$version.$platform" |
    sed -n 's/^[[:space:]]*"Zip": "\(.*\)",$/\1/p')
  echo "    \"$platform\": \"$(sha256sum "$zip" | cut -d' ' -f1)\","
done
echo "}"
