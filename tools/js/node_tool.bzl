"""node_tool: a JavaScript program of an npm package, run by the pinned node.

npm packages start their programs with `#!/usr/bin/env node`, which would run
whatever node the machine has (or none, in a sandbox with a fixed PATH). A
node_tool is a small shell script that runs the entry point with @npm//:node, found
through its runfiles, so it works as an action's tool, as a protoc plugin and under
`bazel run`. The generated BUILD file of @npm (tools/js/npm.bzl) declares tsc and
protoc-gen-es with it.
"""

def _runfiles_path(f):
    # "../repo/path" for an external file, "path" for the main repository's.
    path = f.short_path
    return path[3:] if path.startswith("../") else "_main/" + path

def _node_tool_impl(ctx):
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(
        output = script,
        is_executable = True,
        content = """#!/bin/sh
# Runs {entry} with the pinned node (tools/js/node_tool.bzl).
r="$0.runfiles"
[ -d "$r" ] || r="${{RUNFILES_DIR:-${{TEST_SRCDIR:?{name}: no runfiles}}}}"
exec "$r/{node}" "$r/{entry}" "$@"
""".format(
            name = ctx.label.name,
            node = _runfiles_path(ctx.file.node),
            entry = _runfiles_path(ctx.file.entry),
        ),
    )
    runfiles = ctx.runfiles(files = [ctx.file.node, ctx.file.entry] + ctx.files.data)
    return [DefaultInfo(executable = script, files = depset([script]), runfiles = runfiles)]

node_tool = rule(
    implementation = _node_tool_impl,
    doc = "Runs a JavaScript entry point of an npm package with the pinned node.",
    executable = True,
    attrs = {
        "data": attr.label_list(allow_files = True, doc = "the package and what it needs"),
        "entry": attr.label(mandatory = True, allow_single_file = True, doc = "the script, e.g. node_modules/typescript/bin/tsc"),
        "node": attr.label(mandatory = True, allow_single_file = True, doc = "the node binary (@npm//:node)"),
    },
)
