#!/bin/sh
# Debian's protoc (package protobuf-compiler), so nothing compiles protoc from C++.
exec /usr/bin/protoc "$@"
