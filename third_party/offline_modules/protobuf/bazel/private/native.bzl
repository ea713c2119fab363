"""Binds Bazel's builtin proto symbols so the public .bzl files can re-export them.

A .bzl file cannot write `ProtoInfo = ProtoInfo`: the builtin must be bound under
another name first.
"""

NativeProtoInfo = ProtoInfo
native_proto_common = proto_common_do_not_use
NativeProtoLangToolchainInfo = proto_common_do_not_use.ProtoLangToolchainInfo
