"""proto_common, as the registry's protobuf module exports it."""

load("//bazel/private:native.bzl", "native_proto_common")

proto_common = native_proto_common
