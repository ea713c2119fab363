"""A Go SDK fetched as the `golang.org/toolchain` module through GOPROXY.

The Go module proxy serves every Go release as that module (it is what GOTOOLCHAIN
uses), so the SDK comes through the same registry as every other Go dependency, on
machines that cannot reach the Go download site. The zip's sha256 is pinned in
MODULE.bazel, so the SDK is the same bytes on every machine; rules_go then wraps the
repository with `go_sdk.wrap`.
"""

_MODULE = "golang.org/toolchain"

def _proxies(ctx):
    """The HTTP(S) entries of GOPROXY, in order, from the environment or `go env`."""
    value = ctx.os.environ.get("GOPROXY", "")
    if not value:
        go = ctx.which("go")
        if go:
            result = ctx.execute([go, "env", "GOPROXY"])
            if result.return_code == 0:
                value = result.stdout.strip()
    proxies = []
    for entry in value.replace("|", ",").split(","):
        entry = entry.strip().rstrip("/")
        if entry.startswith("https://") or entry.startswith("http://"):
            proxies.append(entry)
    if not proxies:
        fail("no Go module proxy to fetch the Go SDK from: set GOPROXY (it is %r)" % value)
    return proxies

def _host_platform(ctx):
    os = ctx.os.name.lower()
    if os.startswith("mac os"):
        os = "darwin"
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(ctx.os.arch, ctx.os.arch)
    return os + "-" + arch

def _go_toolchain_module_impl(ctx):
    platform = _host_platform(ctx)
    sha256 = ctx.attr.sha256.get(platform)
    if not sha256:
        fail("no Go %s SDK pinned for host %s: add its sha256 to MODULE.bazel (tools/rules/go_sdk_pin.sh prints it)" % (ctx.attr.version, platform))
    version = "v0.0.1-go%s.%s" % (ctx.attr.version, platform)
    ctx.download_and_extract(
        url = ["%s/%s/@v/%s.zip" % (proxy, _MODULE, version) for proxy in _proxies(ctx)],
        sha256 = sha256,
        type = "zip",
        stripPrefix = "%s@%s" % (_MODULE, version),
    )

    # Module zips carry no file modes: give the SDK's programs back their execute bit.
    result = ctx.execute(["sh", "-c", "chmod +x bin/* pkg/tool/*/*"])
    if result.return_code != 0:
        fail("could not make the Go SDK executable: " + result.stderr)

    # README.md marks the root for go_sdk.wrap; zoneinfo.zip goes into images;
    # gofmt checks the repo's formatting; go is the build benchmark's peer.
    # :sdk is what the go command needs to build (go_install_binary's actions).
    ctx.file("BUILD.bazel", """exports_files(["README.md", "bin/go", "bin/gofmt", "lib/time/zoneinfo.zip"])

filegroup(
    name = "sdk",
    srcs = glob(["bin/**", "lib/**", "pkg/**", "src/**", "go.env", "VERSION"], exclude = ["**/testdata/**"]),
    visibility = ["//visibility:public"],
)
""")

go_toolchain_module = repository_rule(
    implementation = _go_toolchain_module_impl,
    doc = "Downloads the Go SDK for the host platform as the golang.org/toolchain module.",
    attrs = {
        "version": attr.string(mandatory = True, doc = "The Go version, e.g. 1.26.8."),
        "sha256": attr.string_dict(
            mandatory = True,
            doc = "sha256 of the module zip for each host platform, keyed by GOOS-GOARCH.",
        ),
    },
)
