"""proto_library, as the registry's protobuf module exports it (Bazel 7's builtin)."""

def proto_library(**kwargs):
    native.proto_library(**kwargs)
