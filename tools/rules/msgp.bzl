"""msgp_generate: MessagePack code for the types of one Go file, by tinylib/msgp.

    msgp_generate(name = "watermark_msgp", src = "watermark.go")

writes watermark_gen.go (Marshal/Unmarshal/Encode/Decode methods) and
watermark_gen_test.go (round-trip tests and benchmarks). List them in the package's
go_library and go_test srcs with a `# keep` comment: gazelle does not see generated
files.
"""

def _msgp_impl(ctx):
    sdk = ctx.toolchains["@io_bazel_rules_go//go:toolchain"].sdk

    # msgp runs goimports on its output, which needs the go command; here it only
    # prunes unused imports. Empty scratch GOPATH/GOCACHE keep it off the host's.
    ctx.actions.run_shell(
        command = """
            export GOROOT="$PWD/{goroot}" PATH="$PWD/{gobin}:$PATH" GO111MODULE=off
            export GOPATH="$(mktemp -d)" GOCACHE="$(mktemp -d)" HOME="$(mktemp -d)"
            "$1" -file "$2" -o "$3" >/dev/null
        """.format(goroot = sdk.root_file.dirname, gobin = sdk.go.dirname),
        arguments = [ctx.executable._msgp.path, ctx.file.src.path, ctx.outputs.out.path],
        inputs = depset([ctx.file.src], transitive = [sdk.tools, sdk.headers, sdk.srcs]),
        tools = [ctx.executable._msgp, sdk.go],
        outputs = [ctx.outputs.out, ctx.outputs.test_out],
        mnemonic = "Msgp",
        progress_message = "Generating MessagePack code for %{input}",
        toolchain = "@io_bazel_rules_go//go:toolchain",
    )

_msgp = rule(
    implementation = _msgp_impl,
    attrs = {
        "src": attr.label(allow_single_file = [".go"], mandatory = True),
        "out": attr.output(mandatory = True),
        "test_out": attr.output(mandatory = True),
        "_msgp": attr.label(
            default = "@com_github_tinylib_msgp//:msgp",
            executable = True,
            cfg = "exec",
        ),
    },
    toolchains = ["@io_bazel_rules_go//go:toolchain"],
)

def msgp_generate(name, src, **kwargs):
    if not src.endswith(".go"):
        fail("msgp_generate: src must be a .go file, got " + src)
    stem = src[:-len(".go")]

    # msgp names the test file after the output file.
    _msgp(
        name = name,
        src = src,
        out = stem + "_gen.go",
        test_out = stem + "_gen_test.go",
        **kwargs
    )
