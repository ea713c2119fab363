"""A Go program built from its module, at a pinned version, by the pinned Go SDK.

For tools whose module graph is far larger than what they do for us (Jaeger),
this is `go install module/cmd@version` split in three, so that none of the tool's
dependencies enter go.mod or the Bazel graph, and yet the build is an action:

- tools/gotools/goresolve, run by hand when a tool is pinned or bumped, resolves
  the tool (through GOPROXY, checked against the checksum database) and writes its
  lock (tools/gotools/<name>.lock.json): the go.mod and go.sum of a scratch module
  that requires it, and the module files its build reads (each module's .mod, and
  the .zip of those that provide packages), each with its sha256;
- the repository rule `go_install` downloads those files from GOPROXY through
  Bazel's downloader, all at once and by sha256 (so the repository cache serves
  them next time), into a directory laid out as a Go module proxy. No go command
  resolves anything (only `go env GOPROXY` runs, to find the proxy): resolving
  Jaeger on each new machine took minutes, one module after the other;
- the rule `go_install_binary` (in the repository's BUILD file, as `bin/<name>`)
  runs `go build` in an action against that directory (GOPROXY=file://, no
  network): pure Go, -trimpath, so every machine gets the same binary, and a
  remote cache or remote execution serves it like any other action.

With `patches`, the tool's own module is built from a patched copy: the
repository rule unpacks its zip at the repository's root, applies the patches
(paths relative to the module's root, `a/` and `b/` prefixes, as `git diff`
writes them, each file's change under its own `diff --git` line), and the
scratch module replaces the tool's module with it. This is how a tool is built
with less than upstream puts in it (Jaeger: only the collector components and
the storage backend our tests configure). goresolve resolves such a tool with
the same patches (`--patch`), so its lock names only the module files the
patched build reads, and records them: the repository rule refuses a lock
resolved with other patches than its own.
"""

def _proxies(ctx):
    """Returns the module proxy URLs of the user's GOPROXY (`go env`, so the Go env file counts)."""
    result = ctx.execute([ctx.path(ctx.attr._go), "env", "GOPROXY"], environment = {"GOTOOLCHAIN": "local"})
    if result.return_code != 0:
        fail("go env GOPROXY failed:\n" + result.stderr)
    goproxy = result.stdout.strip()
    urls = []
    for entry in goproxy.replace("|", ",").split(","):
        if entry == "off":
            break
        if entry.startswith("https://") or entry.startswith("http://") or entry.startswith("file://"):
            urls.append(entry.rstrip("/"))
    if not urls:
        fail("GOPROXY=%r names no module proxy URL; go_install downloads the tools' modules from one" % goproxy)
    return urls

def _unescape(path):
    """Undoes the module proxy's case escaping ("!a" for "A")."""
    parts = path.split("!")
    return parts[0] + "".join([p[:1].upper() + p[1:] for p in parts[1:]])

def _tool_module(lock):
    """Returns (module path, proxy path of its zip) of the module that provides the tool's package."""
    best = None
    for path in lock["files"]:
        if not path.endswith("/@v/%s.zip" % lock["version"]):
            continue
        module = _unescape(path[:-len("/@v/%s.zip" % lock["version"])])
        if lock["package"] == module or lock["package"].startswith(module + "/"):
            if best == None or len(module) > len(best[0]):
                best = (module, path)
    if best == None:
        fail("%s: no module zip at %s provides %s" % (lock["package"], lock["version"], lock["package"]))
    return best

def _go_install_impl(ctx):
    lock = json.decode(ctx.read(ctx.attr.lock))
    patches = ["%s/%s" % (p.package, p.name) if p.package else p.name for p in ctx.attr.patches]
    if lock.get("patches", []) != patches:
        fail("%s was resolved with patches %s, and go_install(name = %r) applies %s: rerun tools/gotools/goresolve with --patch=... for each, in this order" % (
            ctx.attr.lock,
            lock.get("patches", []),
            ctx.attr.name.split("~")[-1],
            patches,
        ))
    proxies = _proxies(ctx)
    ctx.file("src/go.sum", lock["go_sum"])
    pending = [
        ctx.download(
            url = ["%s/%s" % (proxy, path) for proxy in proxies],
            output = "proxy/" + path,
            sha256 = sha256,
            canonical_id = "gomodule:" + path,
            block = False,
        )
        for path, sha256 in lock["files"].items()
    ]
    ctx.report_progress("downloading %d module files of %s@%s" % (len(pending), lock["package"], lock["version"]))
    for p in pending:
        p.wait()

    go_mod = lock["go_mod"]
    if ctx.attr.patches:
        module, zip_path = _tool_module(lock)
        ctx.extract("proxy/" + zip_path, stripPrefix = "%s@%s" % (module, lock["version"]))
        for patch in ctx.attr.patches:
            ctx.patch(patch, strip = 1)
        go_mod += "\n// The tool's module, patched (go_install's patches), unpacked at the repository's root.\nreplace %s => ../\n" % module
    ctx.file("src/go.mod", go_mod)

    name = lock["package"].split("/")[-1]
    ctx.file("BUILD.bazel", """load("@//tools/rules:go_install.bzl", "go_install_binary")

go_install_binary(
    name = "bin/{name}",
    package = "{package}",
    go_mod = "src/go.mod",
    go_sum = "src/go.sum",
    proxy = glob(["proxy/**"]),
    module = glob(["**"], exclude = ["proxy/**", "src/**", "BUILD.bazel", "REPO.bazel"], allow_empty = True),
    visibility = ["//visibility:public"],
)
""".format(name = name, package = lock["package"]))

go_install = repository_rule(
    implementation = _go_install_impl,
    doc = "The module files of a Go tool, as its lock (tools/gotools/goresolve) pins them, and a BUILD file that builds it.",
    attrs = {
        "lock": attr.label(mandatory = True, allow_single_file = [".json"], doc = "The tool's lock, e.g. //tools/gotools:grpcurl.lock.json."),
        "patches": attr.label_list(allow_files = [".patch"], doc = "Patches to the tool's own module (strip 1), applied in order."),
        "_go": attr.label(default = "@go_sdk_module//:bin/go"),
    },
)

def _go_install_binary_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name)
    go = ctx.file._go
    goroot = go.dirname.rsplit("/", 1)[0]
    ctx.actions.run_shell(
        outputs = [out],
        inputs = depset([ctx.file.go_mod, ctx.file.go_sum] + ctx.files.proxy + ctx.files.module, transitive = [ctx.attr._sdk[DefaultInfo].files]),
        command = """set -eu
exec_root=$PWD
out=$exec_root/$1
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cd "$(dirname "$3")"
if [ "$6" = patched ]; then
  # The patched module (the repository's root, but its proxy) is copied out of
  # the sandbox's symlinks: go:embed refuses to embed a symlink.
  shopt -s dotglob
  mkdir "$work/tool"
  for f in ../*; do [ "${f#../}" = proxy ] || cp -RL "$f" "$work/tool/"; done
  cd "$work/tool/src"
fi
GOROOT=$exec_root/$2 \\
  GOPROXY=file://$exec_root/$4 GOSUMDB=off GOFLAGS="-mod=readonly -modcacherw -trimpath" \\
  GOMODCACHE=$work/mod GOCACHE=$work/cache GOPATH=$work/path HOME=$work \\
  CGO_ENABLED=0 GOTOOLCHAIN=local GOTELEMETRY=off \\
  "$exec_root/$2/bin/go" build -o "$out" "$5"
""",
        arguments = [out.path, goroot, ctx.file.go_mod.path, ctx.label.workspace_root + "/proxy", ctx.attr.package, "patched" if ctx.files.module else "as-is"],
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
        "module": attr.label_list(allow_files = True, doc = "The tool's patched module, if go.mod replaces it with the repository's root."),
        "_go": attr.label(default = "@go_sdk_module//:bin/go", allow_single_file = True),
        "_sdk": attr.label(default = "@go_sdk_module//:sdk"),
    },
)
