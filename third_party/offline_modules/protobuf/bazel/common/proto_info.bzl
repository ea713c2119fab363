"""ProtoInfo, as the registry's protobuf module exports it."""

load("//bazel/private:native.bzl", "NativeProtoInfo")

ProtoInfo = NativeProtoInfo
