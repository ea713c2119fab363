"""go_image: a service's multi-platform OCI image and its push target, no Docker needed.

    go_image(name = "image", binary = ":idgen", ports = ["9090"])
    go_image(name = "image", binary = ":transcode", base = "ffmpeg", ports = ["9090"])

builds the binary for linux/amd64 and linux/arm64 through a split transition (so
any host, a Mac included, puts the right binary in each image) and writes, with
tools/image/ocibuild:
  :image          an OCI image layout (directory) holding one image index
  :image.tar      the same layout as a tarball, for tools that load one
  :image.digest   the index digest
  :image.spdx.json its SBOM (SPDX 2.3: the Go modules linked into each binary, the
                  Debian packages of its base; tools/image/sbom), which :push
                  attaches to the pushed index as an OCI referrer
and a runnable :push (`./bazelw run :push -- --repository=HOST/PATH [--tag=T]`).
Stamped builds (--config=release) label images with the source revision.

With `base = "ffmpeg"` the images start from a Debian layer (debian_base, below:
FFmpeg's run-time packages, pinned in tools/image/debian/ffmpeg.lock.json) and
ffmpeg is on their PATH. Bases are named, not labels: a service depends on no
tool, and the base is an implicit attribute like ocibuild (tools/depgraph).
"""

load("//tools/rules:buildid.bzl", "BUILD_ID_ATTRS", "set_build_id")
load("//tools/rules:multi_platform.bzl", "LINUX_PLATFORMS", "split_by_platform")

_OCIBUILD = Label("//tools/image/ocibuild")
_DEBLAYER = Label("//tools/image/deblayer")
_SBOM = Label("//tools/image/sbom")

# The Debian architecture of each platform an image is built for.
_DEBIAN_ARCH = {"linux_amd64": "amd64", "linux_arm64": "arm64"}

DebianBaseInfo = provider(
    doc = "A Debian base layer per platform, built by debian_base.",
    fields = {
        "layers": "dict: platform name (linux_amd64) -> the layer (.tar.gz)",
        "lock": "the lock pinning its packages",
    },
)

def _debian_base_impl(ctx):
    layers = {}
    for target, arch in ctx.attr.debs.items():
        platform = [p for p, a in _DEBIAN_ARCH.items() if a == arch]
        if not platform:
            fail("debs: architecture %r: want one of %s" % (arch, _DEBIAN_ARCH.values()))
        layer = ctx.actions.declare_file("%s_%s.tar.gz" % (ctx.label.name, arch))
        args = ctx.actions.args()
        args.add("--lock", ctx.file.lock)
        args.add("--arch", arch)
        args.add("--out", layer)
        args.add_all(target.files)
        ctx.actions.run(
            executable = ctx.executable._deblayer,
            arguments = [args],
            inputs = depset([ctx.file.lock], transitive = [target.files]),
            outputs = [layer],
            mnemonic = "DebianLayer",
            progress_message = "Building the %s layer of %%{label}" % arch,
        )
        layers[platform[0]] = layer
    return [
        DefaultInfo(files = depset(layers.values())),
        DebianBaseInfo(layers = layers, lock = ctx.file.lock),
    ]

debian_base = rule(
    implementation = _debian_base_impl,
    doc = "A base layer per architecture from the Debian packages a lock pins (tools/image/deblayer).",
    attrs = {
        "lock": attr.label(mandatory = True, allow_single_file = [".json"]),
        "debs": attr.label_keyed_string_dict(
            mandatory = True,
            doc = "the .deb files of each architecture: {\"@debian_ffmpeg//:amd64\": \"amd64\", ...}",
        ),
        "_deblayer": attr.label(default = _DEBLAYER, executable = True, cfg = "exec"),
    },
)
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
    base = ctx.attr._base[DebianBaseInfo] if ctx.attr._base else None
    sbom_args = ctx.actions.args()
    sbom_args.add("--name", ctx.attr.service)
    sbom_args.add("--go_mod", ctx.file._go_mod)
    sbom_args.add("--go_sum", ctx.file._go_sum)
    sbom_args.add("--out", ctx.outputs.sbom)
    sbom_inputs = [ctx.file._go_mod, ctx.file._go_sum]
    if base:
        sbom_args.add("--lock", base.lock)
        sbom_inputs.append(base.lock)
    for platform, binary in sorted(ctx.split_attr.binary.items()):
        if base:
            if platform not in base.layers:
                fail("base %s has no layer for %s" % (ctx.attr._base.label, platform))
            args.add("--base_layer", "%s=%s" % (platform.replace("_", "/"), base.layers[platform].path))
            inputs.append(base.layers[platform])
        executable = ctx.actions.declare_file("%s_%s/%s" % (ctx.label.name, platform, ctx.attr.service))
        set_build_id(ctx, binary[DefaultInfo].files_to_run.executable, executable)
        args.add("--binary", "%s=%s" % (platform.replace("_", "/"), executable.path))
        sbom_args.add("--binary", "%s=%s" % (platform.replace("_", "/"), executable.path))
        inputs.append(executable)
        sbom_inputs.append(executable)
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
    ctx.actions.run(
        executable = ctx.executable._sbom,
        arguments = [sbom_args],
        inputs = sbom_inputs,
        outputs = [ctx.outputs.sbom],
        mnemonic = "SBOM",
        progress_message = "Writing the SBOM of %{label}",
    )
    return [
        # The layout alone, so $(rootpath :image) names it; :image.tar and
        # :image.digest are built when asked for (or with --output_groups=all).
        DefaultInfo(files = depset([layout])),
        OutputGroupInfo(all = depset(outputs + [ctx.outputs.sbom]), sbom = depset([ctx.outputs.sbom])),
        ImageInfo(layout = layout, sbom = ctx.outputs.sbom, service = ctx.attr.service),
    ]

ImageInfo = provider(
    doc = "A service image built by go_image.",
    fields = {
        "layout": "the OCI layout directory",
        "sbom": "its SBOM (SPDX JSON)",
        "service": "the service name: the repository name under a registry prefix",
    },
)

def _go_image_rule(base):
    return rule(
        implementation = _go_image_impl,
        attrs = _GO_IMAGE_ATTRS | {
            "_base": attr.label(default = base, providers = [DebianBaseInfo]),
        },
    )

_GO_IMAGE_ATTRS = BUILD_ID_ATTRS | {
    # Not executable = True: Bazel 7 crashes on executable split attributes.
    "binary": attr.label(mandatory = True, cfg = split_by_platform),
    "platforms": attr.label_list(default = LINUX_PLATFORMS),
    "ports": attr.string_list(),
    "service": attr.string(mandatory = True),
    "stamp": attr.bool(),
    "tarball": attr.output(mandatory = True),
    "digest": attr.output(mandatory = True),
    "sbom": attr.output(mandatory = True),
    "_sbom": attr.label(default = _SBOM, executable = True, cfg = "exec"),
    "_go_mod": attr.label(default = Label("//:go.mod"), allow_single_file = True),
    "_go_sum": attr.label(default = Label("//:go.sum"), allow_single_file = True),
    "_ocibuild": attr.label(default = _OCIBUILD, executable = True, cfg = "exec"),
    "_zoneinfo": attr.label(default = "@go_sdk_module//:lib/time/zoneinfo.zip", allow_single_file = True),
    "_allowlist_function_transition": attr.label(
        default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
    ),
}

# One rule per base (a rule must be a global of its .bzl file): go_image's
# `base` picks it.
_go_image = _go_image_rule(None)
_go_image_ffmpeg = _go_image_rule(Label("//tools/image/debian:ffmpeg"))

_GO_IMAGE_RULES = {
    "": _go_image,
    "ffmpeg": _go_image_ffmpeg,
}

def _image_push_impl(ctx):
    layouts = []
    pusher = ctx.attr.pusher
    runfiles = [ctx.executable.pusher]
    for image in ctx.attr.images:
        info = image[ImageInfo]
        layouts.append("--layout=%s=%s" % (info.service, info.layout.short_path))
        layouts.append("--sbom=%s=%s" % (info.service, info.sbom.short_path))
        runfiles += [info.layout, info.sbom]
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(
        output = script,
        is_executable = True,
        content = """#!/usr/bin/env bash
# Pushes {label}: arguments go to {pusher}.
set -euo pipefail
cd "${{RUNFILES_DIR:-$0.runfiles}}/_main"
exec ./{pusher} {layouts} "$@"
""".format(label = ctx.label, pusher = ctx.executable.pusher.short_path, layouts = " ".join(layouts)),
    )
    return [DefaultInfo(
        executable = script,
        runfiles = ctx.runfiles(files = runfiles).merge(pusher[DefaultInfo].default_runfiles),
    )]

image_push = rule(
    implementation = _image_push_impl,
    doc = "Pushes images: `bazel run` it with --repository=HOST/PATH (one image) or --registry=HOST/PREFIX.",
    executable = True,
    attrs = {
        "images": attr.label_list(providers = [ImageInfo], mandatory = True),
        "pusher": attr.label(
            default = _OCIPUSH,
            executable = True,
            cfg = "exec",
            doc = "the program run with --layout=NAME=DIR and --sbom=NAME=FILE per image: ocipush, or tools/image/cipush",
        ),
    },
)

def go_image(name, binary, ports = [], base = "", service = None, visibility = None):
    """The image of one service and its push target (see the file's doc).

    Args:
      name: the image target; its push target is :push (name "image") or :<name>_push.
      binary: the service's go_binary, built for each Linux platform.
      ports: ports the image exposes, "9090" or "9090/udp".
      base: "" (no base image) or "ffmpeg" (the Debian FFmpeg base, tools/image/debian).
      service: the service's name (default: the package's last directory).
      visibility: of both targets.
    """
    if base not in _GO_IMAGE_RULES:
        fail("go_image base %r: want one of %s" % (base, _GO_IMAGE_RULES.keys()))
    _GO_IMAGE_RULES[base](
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
        sbom = name + ".spdx.json",
        visibility = visibility,
    )
    image_push(
        name = "push" if name == "image" else name + "_push",
        images = [":" + name],
        visibility = visibility,
    )
