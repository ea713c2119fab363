"""ProtoLangToolchainInfo, as the registry's protobuf module exports it."""

load("//bazel/private:native.bzl", "NativeProtoLangToolchainInfo")

ProtoLangToolchainInfo = NativeProtoLangToolchainInfo
