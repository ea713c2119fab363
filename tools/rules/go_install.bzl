"""A Go program built from its module, at a pinned version, by the pinned Go SDK.

For tools whose module graph is far larger than what they do for us (buf), this is
`go install module/cmd@version` in a repository rule: the module comes through
GOPROXY and is checked against the checksum database, the build is -trimpath and
pure Go, so every machine gets the same binary, and none of the tool's
dependencies enter go.mod or the Bazel graph.
"""

def _go_install_impl(ctx):
    go = ctx.path(ctx.attr._go)
    env = {
        "CGO_ENABLED": "0",
        "GOBIN": str(ctx.path("bin")),
        "GOFLAGS": "-trimpath -mod=mod",
        "GOTOOLCHAIN": "local",
    }

    # The user's module and build caches (content-addressed, so they cannot change
    # the result): a fresh output base rebuilds the tool in seconds, not minutes.
    for name in ["GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOMODCACHE", "GOPATH", "GOCACHE", "HOME", "XDG_CACHE_HOME"]:
        if ctx.os.environ.get(name):
            env[name] = ctx.os.environ[name]
    ctx.report_progress("go install %s@%s" % (ctx.attr.package, ctx.attr.version))
    result = ctx.execute(
        [go, "install", "%s@%s" % (ctx.attr.package, ctx.attr.version)],
        environment = env,
        timeout = 3600,
    )
    if result.return_code != 0:
        fail("go install %s@%s failed (check GOPROXY):\n%s" % (ctx.attr.package, ctx.attr.version, result.stderr))
    name = ctx.attr.package.split("/")[-1]
    ctx.file("BUILD.bazel", 'exports_files(["bin/%s"])\n' % name)

go_install = repository_rule(
    implementation = _go_install_impl,
    attrs = {
        "package": attr.string(mandatory = True, doc = "The main package, e.g. github.com/bufbuild/buf/cmd/buf."),
        "version": attr.string(mandatory = True, doc = "The module version, e.g. v1.70.0."),
        "_go": attr.label(default = "@go_sdk_module//:bin/go"),
    },
    environ = ["GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOMODCACHE", "GOPATH", "GOCACHE"],
)
