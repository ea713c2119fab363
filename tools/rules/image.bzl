"""go_image: a service's multi-platform OCI image and its push target, no Docker needed.

    go_image(name = "image", binary = ":idgen", ports = ["9090"])

builds the binary for linux/amd64 and linux/arm64 through a split transition (so
any host, a Mac included, puts the right binary in each image) and writes, with
tools/image/ocibuild:
  :image          an OCI image layout (directory) holding one image index
  :image.tar      the same layout as a tarball, for tools that load one
  :image.digest   the index digest
and a runnable :push (`./bazelw run :push -- --repository=HOST/PATH [--tag=T]`).
Stamped builds (--config=release) label images with the source revision.
"""

load("//tools/rules:buildid.bzl", "BUILD_ID_ATTRS", "set_build_id")
load("//tools/rules:multi_platform.bzl", "LINUX_PLATFORMS", "split_by_platform")

_OCIBUILD = Label("//tools/image/ocibuild")
_OCIPUSH = Label("//tools/image/ocipush")

def _go_image_impl(ctx):
    layout = ctx.actions.declare_directory(ctx.label.name)
    outputs = [layout, ctx.outputs.tarball, ctx.outputs.digest]
    args = ctx.actions.args()
    args.add("--name", ctx.attr.service)
    args.add("--zoneinfo", ctx.file._zoneinfo)
    args.add("--layout", layout.path)
    args.add("--tarball", ctx.outputs.tarball)
    args.add("--digest_file", ctx.outputs.digest)
    args.add_all(ctx.attr.ports, before_each = "--port")
    inputs = [ctx.file._zoneinfo]
    for platform, binary in sorted(ctx.split_attr.binary.items()):
        executable = ctx.actions.declare_file("%s_%s/%s" % (ctx.label.name, platform, ctx.attr.service))
        set_build_id(ctx, binary[DefaultInfo].files_to_run.executable, executable)
        args.add("--binary", "%s=%s" % (platform.replace("_", "/"), executable.path))
        inputs.append(executable)
    if ctx.attr.stamp:
        args.add("--status_file", ctx.info_file)
        inputs.append(ctx.info_file)
    ctx.actions.run(
        executable = ctx.executable._ocibuild,
        arguments = [args],
        inputs = inputs,
        outputs = outputs,
        mnemonic = "OCIImage",
        progress_message = "Building image %{label}",
    )
    return [
        # The layout alone, so $(rootpath :image) names it; :image.tar and
        # :image.digest are built when asked for (or with --output_groups=all).
        DefaultInfo(files = depset([layout])),
        OutputGroupInfo(all = depset(outputs)),
        ImageInfo(layout = layout, service = ctx.attr.service),
    ]

ImageInfo = provider(
    doc = "A service image built by go_image.",
    fields = {
        "layout": "the OCI layout directory",
        "service": "the service name: the repository name under a registry prefix",
    },
)

_go_image = rule(
    implementation = _go_image_impl,
    attrs = BUILD_ID_ATTRS | {
        # Not executable = True: Bazel 7 crashes on executable split attributes.
        "binary": attr.label(mandatory = True, cfg = split_by_platform),
        "platforms": attr.label_list(default = LINUX_PLATFORMS),
        "ports": attr.string_list(),
        "service": attr.string(mandatory = True),
        "stamp": attr.bool(),
        "tarball": attr.output(mandatory = True),
        "digest": attr.output(mandatory = True),
        "_ocibuild": attr.label(default = _OCIBUILD, executable = True, cfg = "exec"),
        "_zoneinfo": attr.label(default = "@go_sdk_module//:lib/time/zoneinfo.zip", allow_single_file = True),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
)

def _image_push_impl(ctx):
    layouts = []
    runfiles = [ctx.executable._ocipush]
    for image in ctx.attr.images:
        info = image[ImageInfo]
        layouts.append("--layout=%s=%s" % (info.service, info.layout.short_path))
        runfiles.append(info.layout)
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(
        output = script,
        is_executable = True,
        content = """#!/usr/bin/env bash
# Pushes {label}: arguments go to tools/image/ocipush.
set -euo pipefail
cd "${{RUNFILES_DIR:-$0.runfiles}}/_main"
exec ./{ocipush} {layouts} "$@"
""".format(label = ctx.label, ocipush = ctx.executable._ocipush.short_path, layouts = " ".join(layouts)),
    )
    return [DefaultInfo(
        executable = script,
        runfiles = ctx.runfiles(files = runfiles).merge(ctx.attr._ocipush[DefaultInfo].default_runfiles),
    )]

image_push = rule(
    implementation = _image_push_impl,
    doc = "Pushes images: `bazel run` it with --repository=HOST/PATH (one image) or --registry=HOST/PREFIX.",
    executable = True,
    attrs = {
        "images": attr.label_list(providers = [ImageInfo], mandatory = True),
        "_ocipush": attr.label(default = _OCIPUSH, executable = True, cfg = "exec"),
    },
)

def go_image(name, binary, ports = [], service = None, visibility = None):
    """The image of one service and its push target (see the file's doc)."""
    _go_image(
        name = name,
        binary = binary,
        ports = ports,
        service = service or native.package_name().split("/")[-1],
        stamp = select({
            Label("//tools/rules:stamped"): True,
            "//conditions:default": False,
        }),
        tarball = name + ".tar",
        digest = name + ".digest",
        visibility = visibility,
    )
    image_push(
        name = "push" if name == "image" else name + "_push",
        images = [":" + name],
        visibility = visibility,
    )
