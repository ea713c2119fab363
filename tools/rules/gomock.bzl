"""go_grpc_mock: gomock mocks of one API's gRPC clients, servers and streams.

proto/<domain>/v1/mock/BUILD.bazel of every API in API_DOMAINS (proto/apis.bzl) is

    load("//tools/rules:gomock.bzl", "go_grpc_mock")

    go_grpc_mock(
        name = "mock",
        visibility = ["//visibility:public"],
    )

(name and visibility are the macro's defaults, written out so that gazelle, which
cannot look into a macro, lists the target as a root of the depgraph check), which
declares the go_library `mock`, importpath
github.com/monoreel/monoreel/proto/<domain>/v1/mock, from the go_proto_library
`<domain>v1_go_proto` of proto/<domain>/v1 (gazelle's names). It holds:

  - mocks of every interface of the _grpc.pb.go file (MockXServiceClient,
    MockXServiceServer), by go.uber.org/mock's mockgen in source mode through
    rules_go's gomock rule;
  - mocks of the stream of every streaming method (MockXService_MethodClient,
    MockXService_MethodServer): protoc-gen-go-grpc declares them as aliases of
    grpc's generic stream interfaces, which source mode skips, so streammock
    (tools/gomock/streammock) has mockgen mock them from the export data.

The library depends on proto/<domain>/v1's go_library, the one callers import
(depending on the go_proto_library it embeds too would link the package twice).
Nothing generated is checked in.
"""

load("@io_bazel_rules_go//extras:gomock.bzl", "gomock")
load("@io_bazel_rules_go//go:def.bzl", "GoArchive", "go_library")
load("//proto:apis.bzl", "API_DOMAINS")

_MOCKGEN = Label("@org_uber_go_mock//mockgen")
_IMPORT_PREFIX = "github.com/monoreel/monoreel/"

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

_GO_TOOLCHAIN = "@io_bazel_rules_go//go:toolchain"

def _stream_mocks_impl(ctx):
    archive = ctx.attr.library[GoArchive].data
    sdk = ctx.toolchains[_GO_TOOLCHAIN].sdk
    ctx.actions.run(
        executable = ctx.executable._streammock,
        arguments = [
            "-mockgen=" + ctx.executable._mockgen.path,
            "-go=" + sdk.go.path,
            "-source=" + ctx.file.source.path,
            "-archive=" + archive.export_file.path,
            "-importpath=" + archive.importpath,
            "-package=" + ctx.attr.package,
            "-out=" + ctx.outputs.out.path,
        ],
        inputs = depset(
            [ctx.file.source, archive.export_file],
            transitive = [sdk.tools, sdk.headers, sdk.srcs],
        ),
        tools = [ctx.executable._mockgen, sdk.go],
        toolchain = _GO_TOOLCHAIN,
        outputs = [ctx.outputs.out],
        mnemonic = "GoStreamMock",
        progress_message = "Mocking the gRPC streams of %{label}",
    )

_stream_mocks = rule(
    implementation = _stream_mocks_impl,
    doc = "Mocks of the stream aliases of a _grpc.pb.go file (see streammock).",
    attrs = {
        "source": attr.label(mandatory = True, allow_single_file = [".go"]),
        "library": attr.label(mandatory = True, providers = [GoArchive]),
        "package": attr.string(mandatory = True),
        "out": attr.output(mandatory = True),
        # Tools are private attributes: tools/depgraph sees no proto -> tools edge.
        "_streammock": attr.label(default = Label("//tools/gomock/streammock"), executable = True, cfg = "exec"),
        "_mockgen": attr.label(default = _MOCKGEN, executable = True, cfg = "exec"),
    },
    toolchains = [_GO_TOOLCHAIN],
)

def go_grpc_mock(name = "mock", visibility = ["//visibility:public"]):
    """The mocks of the API whose proto/<domain>/v1/mock package calls it.

    Args:
      name: the go_library of the mocks.
      visibility: of that go_library.
    """
    pkg = native.package_name()
    parts = pkg.split("/")
    if len(parts) != 4 or parts[0] != "proto" or parts[2] != "v1" or parts[3] != "mock":
        fail("go_grpc_mock belongs in proto/<domain>/v1/mock, not in %s" % pkg)
    domain = parts[1]
    if domain not in API_DOMAINS:
        fail("%s: %s is not in API_DOMAINS of proto/apis.bzl" % (pkg, domain))
    api = "//proto/%s/v1" % domain
    library = "%s:%s" % (api, domain)
    _grpc_source(name = name + "_grpc_src", proto = "%s:%sv1_go_proto" % (api, domain))
    gomock(
        name = name + "_src",
        out = name + "_mock.go",
        source = name + "_grpc_src",
        library = library,
        package = parts[3],
        mockgen_tool = _MOCKGEN,
    )
    _stream_mocks(
        name = name + "_streams_src",
        out = name + "_streams_mock.go",
        source = name + "_grpc_src",
        library = library,
        package = parts[3],
    )
    go_library(
        name = name,
        testonly = True,
        srcs = [
            name + "_mock.go",
            name + "_streams_mock.go",
        ],
        importpath = _IMPORT_PREFIX + pkg,
        visibility = visibility,
        deps = [
            library,
            "@org_golang_google_grpc//:grpc",
            "@org_golang_google_grpc//metadata",
            "@org_uber_go_mock//gomock",
        ],
    )
