"""TypeScript rules: protoc-gen-es, tsc, esbuild and node's test runner, from @npm.

    es_proto_library   *_pb.ts of proto_library targets and their proto deps
    ts_check           tsc --noEmit, strict: fails the build on a type error
    ts_check_fails_test  a test that tsc rejects some code (proves ts_check checks)
    esbuild_bundle     one browser bundle (ESM, minified) of an entry point
    ts_test            test files bundled for node, run by `node --test`

Every action runs the pinned tools of @npm (tools/js/npm.bzl) on declared inputs
only, writes no absolute path, and needs no network.

How imports resolve. Each rule lays out its sources and those of its deps (sources
and generated files alike) under `<name>.tree/`, by workspace path, as symlinks:
a relative import from web/console/x.ts of "../gen/proto/danmaku/v1/danmaku_pb.js"
finds the generated file whether it is in the source tree or in bazel-bin. npm
packages resolve through a `node_modules` link the action makes at the root of its
(sandboxed) execroot, to @npm's `node_modules`; only the files of the packages in
deps are there. tsc and esbuild run with symlinks preserved, so both resolve from
where a file is in the tree, not from where its link points.
"""

load("@com_google_protobuf//bazel/common:proto_info.bzl", "ProtoInfo")

_NODE = Label("@npm//:node")
_TSC = Label("@npm//:tsc")
_ESBUILD = Label("@npm//:esbuild")
_PROTOC_GEN_ES = Label("@npm//:protoc-gen-es")
_PROTOBUF_RUNTIME = Label("@npm//:node_modules/@bufbuild/protobuf")

TsInfo = provider(
    doc = "TypeScript sources of the main repository and the npm files they need.",
    fields = {
        "sources": "depset of Files: .ts files (sources and generated) by workspace path",
        "npm": "depset of Files of @npm packages",
    },
)

# The compiler options of every check: strict, for bundlers (esbuild), ESM.
COMPILER_OPTIONS = {
    "forceConsistentCasingInFileNames": True,
    "isolatedModules": True,
    "lib": ["ES2023", "DOM", "DOM.Iterable"],
    "module": "ESNext",
    "moduleResolution": "Bundler",
    "noEmit": True,
    "noFallthroughCasesInSwitch": True,
    "noImplicitOverride": True,
    "noImplicitReturns": True,
    "noUncheckedIndexedAccess": True,
    # Resolve from where a file is in the tree, not where its symlink points.
    "preserveSymlinks": True,
    "skipLibCheck": True,
    "strict": True,
    "target": "ES2022",
    "verbatimModuleSyntax": True,
}

def _is_external(f):
    return f.short_path.startswith("../")

def _collect(srcs, deps):
    """The main-repository sources and the npm files of srcs and deps."""
    sources = [f for f in srcs if not _is_external(f)]
    npm = [f for f in srcs if _is_external(f)]
    transitive_sources = []
    transitive_npm = []
    for d in deps:
        if TsInfo in d:
            transitive_sources.append(d[TsInfo].sources)
            transitive_npm.append(d[TsInfo].npm)
        else:
            files = d[DefaultInfo].files.to_list()
            sources.extend([f for f in files if not _is_external(f)])
            npm.extend([f for f in files if _is_external(f)])
    return (
        depset(sources, transitive = transitive_sources),
        depset(npm, transitive = transitive_npm),
    )

def _node_modules_path(ctx):
    # The exec path of @npm's node_modules (external/<canonical name>/node_modules).
    node = ctx.file._node
    return node.dirname + "/node_modules" if node.dirname else "node_modules"

def _stage(ctx, sources, types = []):
    """Links sources into <name>.tree/ by workspace path; writes its tsconfig.json.

    Returns (tree root path, staged files by short path, tsconfig File).
    """
    tree = ctx.label.name + ".tree"
    staged = {}
    for f in sources.to_list():
        if f.short_path in staged:
            continue
        out = ctx.actions.declare_file("%s/%s" % (tree, f.short_path))
        ctx.actions.symlink(output = out, target_file = f)
        staged[f.short_path] = out
    tsconfig = ctx.actions.declare_file(tree + "/tsconfig.json")
    options = dict(COMPILER_OPTIONS)
    options["types"] = types
    root = tsconfig.dirname
    return root, staged, tsconfig, options

def _write_tsconfig(ctx, tsconfig, options, files):
    ctx.actions.write(tsconfig, json.encode_indent({
        "compilerOptions": options,
        "files": files,
    }) + "\n")

_WITH_NODE_MODULES = """set -eu
[ -e node_modules ] || ln -s "$1" node_modules
shift
"""

def _ts_files(paths):
    return sorted([p for p in paths if p.endswith(".ts") or p.endswith(".tsx") or p.endswith(".mts")])

# --- es_proto_library --------------------------------------------------------

def _import_path(f, roots):
    for root in roots:
        if root == ".":
            continue
        if f.path.startswith(root + "/"):
            return f.path[len(root) + 1:]
    if f.short_path.startswith("../"):
        fail("%s: cannot tell its import path" % f.path)
    return f.short_path

def _es_proto_library_impl(ctx):
    sources = depset(transitive = [p[ProtoInfo].transitive_sources for p in ctx.attr.protos])
    roots = depset(transitive = [p[ProtoInfo].transitive_proto_path for p in ctx.attr.protos]).to_list()

    # Longest import roots first: a virtual-imports root is below the bin dir.
    roots = sorted(roots, key = lambda r: -len(r))
    generate = []
    outputs = []
    for f in sources.to_list():
        path = _import_path(f, roots)

        # Well-known types come from @bufbuild/protobuf/wkt: protoc-gen-es imports
        # them from there, and generates nothing for them.
        if path.startswith("google/protobuf/"):
            continue
        generate.append(path)
        outputs.append(ctx.actions.declare_file(path[:-len(".proto")] + "_pb.ts"))
    out_dir = ctx.bin_dir.path + ("/" + ctx.label.package if ctx.label.package else "")
    args = ctx.actions.args()
    args.add(ctx.executable._protoc_gen_es, format = "--plugin=protoc-gen-es=%s")
    args.add("--es_out=" + out_dir)
    args.add("--es_opt=target=ts,import_extension=js")
    args.add_all(roots, format_each = "--proto_path=%s")
    args.add_all(generate)
    ctx.actions.run(
        executable = ctx.executable._protoc,
        arguments = [args],
        inputs = sources,
        outputs = outputs,
        tools = [ctx.attr._protoc_gen_es[DefaultInfo].files_to_run],
        mnemonic = "ProtocGenEs",
        progress_message = "Generating TypeScript of %{label}",
    )
    return [
        DefaultInfo(files = depset(outputs)),
        TsInfo(sources = depset(outputs), npm = ctx.attr._runtime[DefaultInfo].files),
    ]

es_proto_library = rule(
    implementation = _es_proto_library_impl,
    doc = """TypeScript (protoc-gen-es, target=ts) of protos and their proto deps.

Writes `<package>/<import path>_pb.ts`: for //proto/danmaku/v1:danmakuv1_proto in
web/gen, web/gen/proto/danmaku/v1/danmaku_pb.ts. The protoc is the one Go uses
(--proto_compiler); well-known types come from @bufbuild/protobuf/wkt.""",
    attrs = {
        "protos": attr.label_list(mandatory = True, providers = [ProtoInfo]),
        "_protoc": attr.label(
            cfg = "exec",
            executable = True,
            default = configuration_field(fragment = "proto", name = "proto_compiler"),
        ),
        "_protoc_gen_es": attr.label(cfg = "exec", executable = True, default = _PROTOC_GEN_ES),
        "_runtime": attr.label(default = _PROTOBUF_RUNTIME),
    },
    fragments = ["proto"],
)

# --- ts_check ----------------------------------------------------------------

def _check_setup(ctx):
    sources, npm = _collect(ctx.files.srcs, ctx.attr.deps)
    root, staged, tsconfig, options = _stage(ctx, sources, ctx.attr.types)
    files = _ts_files([f.short_path for f in ctx.files.srcs if not _is_external(f)])
    _write_tsconfig(ctx, tsconfig, options, files)
    return root, staged, tsconfig, npm

def _ts_check_impl(ctx):
    root, staged, tsconfig, npm = _check_setup(ctx)
    stamp = ctx.actions.declare_file(ctx.label.name + ".ok")
    ctx.actions.run_shell(
        # From the tree's root, so errors name files by their workspace path.
        command = _WITH_NODE_MODULES + 'top=$PWD; cd "$1"; "$top/$2" -p tsconfig.json --pretty false; : > "$top/$3"',
        arguments = [_node_modules_path(ctx), root, ctx.executable._tsc.path, stamp.path],
        inputs = depset([tsconfig] + staged.values(), transitive = [npm]),
        outputs = [stamp],
        tools = [ctx.attr._tsc[DefaultInfo].files_to_run],
        mnemonic = "TsCheck",
        progress_message = "Type-checking %{label}",
    )
    sources, _ = _collect(ctx.files.srcs, ctx.attr.deps)
    return [
        DefaultInfo(files = depset([stamp])),
        OutputGroupInfo(tree = depset([tsconfig] + staged.values())),
        TsInfo(sources = sources, npm = npm),
    ]

_CHECK_ATTRS = {
    "deps": attr.label_list(allow_files = True, doc = "ts_check, es_proto_library or @npm//:node_modules/<name> targets, or files"),
    "srcs": attr.label_list(allow_files = [".ts", ".tsx", ".mts"], doc = "the files to check (their imports are checked with them)"),
    "types": attr.string_list(doc = "global type packages, e.g. [\"node\"] (@types/node in deps)"),
    "_node": attr.label(default = _NODE, allow_single_file = True, cfg = "exec"),
    "_tsc": attr.label(default = _TSC, cfg = "exec", executable = True),
}

ts_check = rule(
    implementation = _ts_check_impl,
    doc = """tsc --noEmit of srcs with a generated strict tsconfig; a type error fails the build.

Its TsInfo carries srcs and deps on: other rules can depend on a ts_check like on
a library.""",
    attrs = _CHECK_ATTRS,
)

def _runfiles_path(f):
    return f.short_path[3:] if f.short_path.startswith("../") else "_main/" + f.short_path

def _ts_check_fails_test_impl(ctx):
    _, staged, tsconfig, npm = _check_setup(ctx)
    tsc = ctx.executable._tsc
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(script, is_executable = True, content = """#!/bin/sh
# Passes when tsc, run on the tree and tsconfig ts_check would use, rejects it with
# every one of the expected messages.
set -u
r="${{TEST_SRCDIR:-$0.runfiles}}"
w="${{TEST_TMPDIR:?}}/tree"
mkdir -p "$w" && cp -RL "$r/{tree}/." "$w/" && ln -s "$r/{node_modules}" "$w/node_modules"
out="${{TEST_TMPDIR}}/tsc.out"
(cd "$w" && "$r/{tsc}" -p tsconfig.json --pretty false) >"$out" 2>&1
rc=$?
cat "$out"
if [ "$rc" -eq 0 ]; then echo "FAIL: tsc accepted the code"; exit 1; fi
for want in {expect}; do
  grep -qF -- "$want" "$out" || {{ echo "FAIL: tsc failed (exit $rc) but did not say: $want"; exit 1; }}
done
echo "PASS: tsc rejected the code (exit $rc) with every expected message"
""".format(
        tree = _runfiles_path(tsconfig)[:-len("/tsconfig.json")],
        node_modules = _runfiles_path(ctx.file._node)[:-len("node")] + "node_modules",
        tsc = _runfiles_path(tsc),
        expect = " ".join(["'%s'" % e.replace("'", "") for e in ctx.attr.expect]),
    ))
    runfiles = ctx.runfiles(files = [tsconfig, ctx.file._node] + staged.values(), transitive_files = npm)
    runfiles = runfiles.merge(ctx.attr._tsc[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = script, runfiles = runfiles)]

_ts_check_fails_test = rule(
    implementation = _ts_check_fails_test_impl,
    test = True,
    attrs = dict(_CHECK_ATTRS, expect = attr.string_list(mandatory = True, doc = "substrings tsc's output must have, e.g. error TS2322")),
)

def ts_check_fails_test(name, visibility = None, size = "small", **kwargs):
    """Passes when ts_check's tsc (same tsconfig, same tools) rejects srcs with every `expect` message."""
    _ts_check_fails_test(name = name, visibility = visibility or ["//tools/depgraph:__pkg__"], size = size, **kwargs)

# --- esbuild ---------------------------------------------------------------------

def _esbuild(ctx, entries, outputs, sources, npm, flags):
    root, staged, tsconfig, options = _stage(ctx, sources)
    _write_tsconfig(ctx, tsconfig, options, [])
    args = ctx.actions.args()
    args.add(_node_modules_path(ctx))
    args.add(ctx.executable._esbuild)
    args.add_all([root + "/" + e for e in entries])
    args.add("--bundle")
    args.add("--preserve-symlinks")
    args.add("--tsconfig=" + tsconfig.path)
    args.add("--log-level=warning")
    args.add("--charset=utf8")
    args.add_all(flags)
    ctx.actions.run_shell(
        command = _WITH_NODE_MODULES + 'exec "$@"',
        arguments = [args],
        inputs = depset([tsconfig] + staged.values(), transitive = [npm]),
        outputs = outputs,
        tools = [ctx.executable._esbuild],
        mnemonic = "Esbuild",
        progress_message = "Bundling %{label}",
    )

def _entry_path(f):
    if _is_external(f):
        fail("%s: the entry must be a file of this repository" % f.path)
    return f.short_path

def _esbuild_bundle_impl(ctx):
    sources, npm = _collect(ctx.files.srcs + [ctx.file.entry], ctx.attr.deps)
    out = ctx.actions.declare_file(ctx.label.name + ".js")
    outputs = [out]
    flags = ["--outfile=" + out.path, "--format=esm", "--platform=browser", "--target=" + ctx.attr.target, "--legal-comments=none"]
    if ctx.attr.minify:
        flags.append("--minify")
    if ctx.attr.sourcemap:
        outputs.append(ctx.actions.declare_file(ctx.label.name + ".js.map"))
        flags.append("--sourcemap")
    _esbuild(ctx, [_entry_path(ctx.file.entry)], outputs, sources, npm, flags)
    return [DefaultInfo(files = depset(outputs))]

_ESBUILD_ATTRS = {
    "deps": attr.label_list(allow_files = True, doc = "ts_check, es_proto_library or @npm//:node_modules/<name> targets"),
    "srcs": attr.label_list(allow_files = [".ts", ".tsx", ".mts", ".js", ".mjs", ".json", ".css"]),
    "_esbuild": attr.label(default = _ESBUILD, cfg = "exec", executable = True, allow_single_file = True),
    "_node": attr.label(default = _NODE, allow_single_file = True, cfg = "exec"),
}

esbuild_bundle = rule(
    implementation = _esbuild_bundle_impl,
    doc = "One ESM bundle for the browser, `<name>.js` (+ `<name>.js.map`), of entry and what it imports.",
    attrs = dict(
        _ESBUILD_ATTRS,
        entry = attr.label(mandatory = True, allow_single_file = [".ts", ".tsx", ".mts", ".js", ".mjs"]),
        minify = attr.bool(default = True),
        sourcemap = attr.bool(default = True),
        target = attr.string(default = "es2022", doc = "esbuild --target"),
    ),
)

# --- ts_test ---------------------------------------------------------------------

def _ts_test_impl(ctx):
    sources, npm = _collect(ctx.files.srcs, ctx.attr.deps)
    entries = sorted([_entry_path(f) for f in ctx.files.srcs])
    outdir = ctx.label.name + ".bundle"
    outputs = [ctx.actions.declare_file("%s/%s.mjs" % (outdir, e.rsplit(".", 1)[0])) for e in entries]
    root = "%s/%s.tree" % (ctx.bin_dir.path + ("/" + ctx.label.package if ctx.label.package else ""), ctx.label.name)
    _esbuild(ctx, entries, outputs, sources, npm, [
        "--outdir=%s/%s/%s" % (ctx.bin_dir.path, ctx.label.package, outdir) if ctx.label.package else "--outdir=%s/%s" % (ctx.bin_dir.path, outdir),
        "--outbase=" + root,
        "--out-extension:.js=.mjs",
        "--format=esm",
        "--platform=node",
        "--target=node22",
        "--sourcemap=inline",
    ])
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(script, is_executable = True, content = """#!/bin/sh
# node's test runner on the bundled tests, with the pinned node (tools/js/defs.bzl).
r="${{TEST_SRCDIR:-$0.runfiles}}"
set -- --enable-source-maps --test --test-reporter=spec --test-reporter-destination=stdout
[ -n "${{XML_OUTPUT_FILE:-}}" ] && set -- "$@" --test-reporter=junit --test-reporter-destination="$XML_OUTPUT_FILE"
exec "$r/{node}" "$@" {files}
""".format(
        node = _runfiles_path(ctx.file._node),
        files = " ".join(['"$r/%s"' % _runfiles_path(f) for f in outputs]),
    ))
    env = {k: ctx.expand_location(v, ctx.attr.data) for k, v in ctx.attr.env.items()}
    return [
        DefaultInfo(executable = script, runfiles = ctx.runfiles(files = [ctx.file._node] + outputs + ctx.files.data)),
        RunEnvironmentInfo(environment = env),
    ]

_ts_test = rule(
    implementation = _ts_test_impl,
    test = True,
    attrs = dict(
        _ESBUILD_ATTRS,
        data = attr.label_list(allow_files = True, doc = "files the tests read at run time"),
        env = attr.string_dict(doc = "environment of the tests; $(rlocationpath ...) of data expands (a path under $TEST_SRCDIR)"),
    ),
)

def ts_test(name, srcs, deps = [], visibility = None, size = "small", **kwargs):
    """Bundles each test file of srcs for node (esbuild) and runs them with `node --test`.

    Tests use node:test and node:assert; add @npm//:node_modules/@types/node to a
    ts_check of them (types = ["node"]) to type-check them too.
    """
    _ts_test(name = name, srcs = srcs, deps = deps, visibility = visibility or ["//tools/depgraph:__pkg__"], size = size, **kwargs)
