"""A Go program built from its module, at a pinned version, by the pinned Go SDK.

For tools whose module graph is far larger than what they do for us (buf, Jaeger),
this is `go install module/cmd@version` split in two, so that none of the tool's
dependencies enter go.mod or the Bazel graph, and yet the build is an action:

- the repository rule `go_install` resolves the tool as a tool dependency of a
  scratch module (`go get -tool`: through GOPROXY, checked against the checksum
  database) and copies the module files its build needs (each module's .mod, and
  the .zip of those that provide packages) into the repository, laid out as a Go
  module proxy;
- the rule `go_install_binary` (in the repository's BUILD file, as `bin/<name>`)
  runs `go build` in an action against that directory (GOPROXY=file://, no
  network): pure Go, -trimpath, so every machine gets the same binary, and a
  remote cache or remote execution serves it like any other action. Compiling a
  tool in the repository rule instead made every new machine compile it, whatever
  the cache held.
"""

def _escape(path):
    """Returns a module path or version as module proxies spell it ("A" is "!a")."""
    out = ""
    for c in path.elems():
        if c.isupper():
            out += "!" + c.lower()
        else:
            out += c
    return out

def _go_install_impl(ctx):
    go = ctx.path(ctx.attr._go)
    env = {
        "CGO_ENABLED": "0",
        "GOFLAGS": "-mod=mod",
        "GOTOOLCHAIN": "local",
    }

    for name in ["GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOCACHE", "HOME", "XDG_CACHE_HOME"]:
        if ctx.os.environ.get(name):
            env[name] = ctx.os.environ[name]

    # A module cache of its own, deleted once the proxy is copied: the proxy holds
    # the files this tool's resolution downloaded and nothing else. With the
    # user's cache, the .mod files of a pruned graph's leaves were copied only when
    # another fetch had put them there, so the repository, and the build action's
    # key, changed from one machine to the next (a remote cache miss).
    modcache = str(ctx.path("modcache"))
    env["GOMODCACHE"] = modcache

    def go_run(args, what):
        result = ctx.execute([go] + args, environment = env, working_directory = "src", timeout = 3600)
        if result.return_code != 0:
            fail("%s: go %s failed (check GOPROXY):\n%s" % (what, " ".join(args), result.stderr))
        return result.stdout

    target = "%s@%s" % (ctx.attr.package, ctx.attr.version)
    ctx.report_progress("resolving %s" % target)

    # A tool dependency of a scratch module: a module whose go.mod has replace
    # directives (Jaeger) cannot be `go install`ed by version; this resolves its
    # requirements (and checks them against the checksum database) without them.
    ctx.file("src/go.mod", "module monoreel.local/tool\n")
    go_run(["get", "-tool", target], target)

    # What the build needs from the module cache: the .mod of every module
    # version in the requirement graph that go read (a pruned graph's leaves have
    # none), and some .zip files.
    mods = {}
    for line in go_run(["mod", "graph"], target).splitlines():
        for node in line.split(" ")[:2]:
            # Skip the scratch module itself and the go@ and toolchain@ nodes.
            if "@" in node and not node.startswith("go@") and not node.startswith("toolchain@"):
                mods[node] = True

    # A module's .zip is needed when it provides one of the tool's packages, or
    # could (its path is a prefix of one): go checks every such module of the
    # build list, so that an import path is never ambiguous.
    packages = go_run(["list", "-deps", "-f", "{{.ImportPath}}", ctx.attr.package], target).splitlines()
    zips = {}
    for line in go_run(["list", "-m", "-f", "{{if not .Main}}{{.Path}}@{{.Version}}{{end}}", "all"], target).splitlines():
        if not line:
            continue
        path = line.rsplit("@", 1)[0]
        for p in packages:
            if p == path or p.startswith(path + "/"):
                zips[line] = True
                break

    # go list downloads only the modules it loads packages from; the build checks
    # the others too.
    if zips:
        go_run(["mod", "download"] + sorted(zips.keys()), target)
    files = []
    for node, _ in mods.items():
        path, version = node.rsplit("@", 1)
        base = "%s/@v/%s" % (_escape(path), _escape(version))

        # go downloads no .mod for a leaf of the pruned graph, and needs none.
        if ctx.path("%s/cache/download/%s.mod" % (modcache, base)).exists:
            files.append(base + ".mod")
        if node in zips:
            files.append(base + ".zip")
    ctx.file("files.txt", "\n".join(sorted(files)) + "\n")
    copy = ctx.execute([
        "sh",
        "-c",
        'mkdir -p proxy && tar -C "$1/cache/download" -cf - -T files.txt | tar -C proxy -xf -',
        "copy",
        modcache,
    ])
    if copy.return_code != 0 or copy.stderr:
        fail("%s: copying its modules from %s: %s" % (target, modcache, copy.stderr))
    ctx.delete("files.txt")
    go_run(["clean", "-modcache"], target)  # its files are read-only
    ctx.delete("modcache")

    name = ctx.attr.package.split("/")[-1]
    ctx.file("BUILD.bazel", """load("@//tools/rules:go_install.bzl", "go_install_binary")

go_install_binary(
    name = "bin/{name}",
    package = "{package}",
    go_mod = "src/go.mod",
    go_sum = "src/go.sum",
    proxy = glob(["proxy/**"]),
    visibility = ["//visibility:public"],
)
""".format(name = name, package = ctx.attr.package))

go_install = repository_rule(
    implementation = _go_install_impl,
    attrs = {
        "package": attr.string(mandatory = True, doc = "The main package, e.g. github.com/bufbuild/buf/cmd/buf."),
        "version": attr.string(mandatory = True, doc = "The module version, e.g. v1.70.0."),
        "_go": attr.label(default = "@go_sdk_module//:bin/go"),
    },
    environ = ["GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOCACHE"],
)

def _go_install_binary_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name)
    go = ctx.file._go
    goroot = go.dirname.rsplit("/", 1)[0]
    ctx.actions.run_shell(
        outputs = [out],
        inputs = depset([ctx.file.go_mod, ctx.file.go_sum] + ctx.files.proxy, transitive = [ctx.attr._sdk[DefaultInfo].files]),
        command = """set -eu
exec_root=$PWD
out=$exec_root/$1
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cd "$(dirname "$3")"
GOROOT=$exec_root/$2 \\
  GOPROXY=file://$exec_root/$4 GOSUMDB=off GOFLAGS="-mod=readonly -modcacherw -trimpath" \\
  GOMODCACHE=$work/mod GOCACHE=$work/cache GOPATH=$work/path HOME=$work \\
  CGO_ENABLED=0 GOTOOLCHAIN=local GOTELEMETRY=off \\
  "$exec_root/$2/bin/go" build -o "$out" "$5"
""",
        arguments = [out.path, goroot, ctx.file.go_mod.path, ctx.label.workspace_root + "/proxy", ctx.attr.package],
        mnemonic = "GoInstall",
        progress_message = "Building %s from its module" % ctx.attr.package,
    )
    return [DefaultInfo(files = depset([out]), executable = out)]

go_install_binary = rule(
    implementation = _go_install_binary_impl,
    doc = "`go build` of a package of a go_install repository, offline, against the module files it holds.",
    executable = True,
    attrs = {
        "package": attr.string(mandatory = True),
        "go_mod": attr.label(mandatory = True, allow_single_file = True),
        "go_sum": attr.label(mandatory = True, allow_single_file = True),
        "proxy": attr.label_list(allow_files = True),
        "_go": attr.label(default = "@go_sdk_module//:bin/go", allow_single_file = True),
        "_sdk": attr.label(default = "@go_sdk_module//:sdk"),
    },
)
