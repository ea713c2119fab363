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
    name = ctx.attr.package.split("/")[-1]
    target = "%s@%s" % (ctx.attr.package, ctx.attr.version)
    if ctx.attr.as_tool:
        # A module whose go.mod has replace directives cannot be `go install`ed
        # by version; as a tool dependency of a module of our own, its
        # requirements are resolved (and checked against the checksum database)
        # without them.
        ctx.file("go.mod", "module monoreel.local/tool\n")
        steps = [
            [go, "get", "-tool", target],
            [go, "build", "-o", "bin/" + name, ctx.attr.package],
        ]
    else:
        steps = [[go, "install", target]]
    ctx.report_progress("building %s (go %s)" % (target, steps[0][1]))
    for step in steps:
        result = ctx.execute(step, environment = env, timeout = 3600)
        if result.return_code != 0:
            fail("%s failed (check GOPROXY):\n%s" % (" ".join([str(a) for a in step[1:]]), result.stderr))
    ctx.file("BUILD.bazel", 'exports_files(["bin/%s"])\n' % name)

go_install = repository_rule(
    implementation = _go_install_impl,
    attrs = {
        "package": attr.string(mandatory = True, doc = "The main package, e.g. github.com/bufbuild/buf/cmd/buf."),
        "version": attr.string(mandatory = True, doc = "The module version, e.g. v1.70.0."),
        "as_tool": attr.bool(doc = "Build it as a tool dependency of a scratch module: for modules with replace directives (Jaeger)."),
        "_go": attr.label(default = "@go_sdk_module//:bin/go"),
    },
    environ = ["GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOMODCACHE", "GOPATH", "GOCACHE"],
)
