"""go_grpc_mock: gomock mocks of the gRPC clients and servers of one go_proto_library.

    go_grpc_mock(
        name = "mock",
        proto = "//proto/idgen/v1:idgenv1_go_proto",
        library = "//proto/idgen/v1:idgen",
        importpath = "github.com/monoreel/monoreel/proto/idgen/v1/mock",
    )

runs go.uber.org/mock's mockgen (source mode, through rules_go's gomock rule) on the
_grpc.pb.go file the go_proto_library `proto` generates, and wraps the result in a
go_library named `name` that depends on `library`, the go_library embedding `proto`
(the one callers import: depending on both would link the package twice). Nothing generated is checked in.
"""

load("@io_bazel_rules_go//extras:gomock.bzl", "gomock")
load("@io_bazel_rules_go//go:def.bzl", "go_library")

_MOCKGEN = Label("@org_uber_go_mock//mockgen")

def _grpc_source_impl(ctx):
    srcs = [
        f
        for f in ctx.attr.proto[OutputGroupInfo].go_generated_srcs.to_list()
        if f.basename.endswith("_grpc.pb.go")
    ]
    if len(srcs) != 1:
        fail("%s: expected one _grpc.pb.go file, found %s" % (ctx.attr.proto.label, srcs))
    return [DefaultInfo(files = depset(srcs))]

_grpc_source = rule(
    implementation = _grpc_source_impl,
    doc = "The _grpc.pb.go file of a go_proto_library built with the go_grpc_v2 compiler.",
    attrs = {"proto": attr.label(mandatory = True)},
)

def go_grpc_mock(name, proto, library, importpath, visibility = None):
    _grpc_source(name = name + "_grpc_src", proto = proto)
    gomock(
        name = name + "_src",
        out = name + "_mock.go",
        source = name + "_grpc_src",
        library = library,
        package = importpath.rpartition("/")[2],
        mockgen_tool = _MOCKGEN,
    )
    go_library(
        name = name,
        testonly = True,
        srcs = [name + "_mock.go"],
        importpath = importpath,
        visibility = visibility,
        deps = [
            library,
            "@org_golang_google_grpc//:grpc",
            "@org_uber_go_mock//gomock",
        ],
    )
