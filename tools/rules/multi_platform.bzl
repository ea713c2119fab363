"""multi_platform_binaries: build binaries for several platforms in one invocation.

A 1:N split transition on --platforms builds each binary once per platform; the
outputs are named <binary>_<platform> so they can sit side by side in a release,
each with a build ID of its own (tools/release/buildid).
"""

load("//tools/rules:buildid.bzl", "BUILD_ID_ATTRS", "set_build_id")

# Every platform of platforms/BUILD.bazel: what a release covers.
ALL_PLATFORMS = [
    Label("//platforms:linux_amd64"),
    Label("//platforms:linux_arm64"),
    Label("//platforms:darwin_arm64"),
]

# The Linux platforms, which container images are built for.
LINUX_PLATFORMS = [
    Label("//platforms:linux_amd64"),
    Label("//platforms:linux_arm64"),
]

def _split_by_platform_impl(_settings, attr):
    return {
        platform.name: {"//command_line_option:platforms": str(platform)}
        for platform in attr.platforms
    }

# Builds an attribute once per platform of the rule's `platforms` attribute; the
# split keys are the platforms' names ("linux_arm64").
split_by_platform = transition(
    implementation = _split_by_platform_impl,
    inputs = [],
    outputs = ["//command_line_option:platforms"],
)

def _multi_platform_binaries_impl(ctx):
    outputs = []
    for platform, binaries in ctx.split_attr.binaries.items():
        for binary in binaries:
            executable = binary[DefaultInfo].files_to_run.executable
            out = ctx.actions.declare_file("{}/{}_{}".format(ctx.label.name, binary.label.name, platform))
            if ctx.attr.build_id:
                set_build_id(ctx, executable, out)
            else:
                ctx.actions.symlink(output = out, target_file = executable)
            outputs.append(out)
    return [DefaultInfo(files = depset(outputs))]

multi_platform_binaries = rule(
    implementation = _multi_platform_binaries_impl,
    doc = "Builds every binary for every platform; outputs are <name>/<binary>_<platform>.",
    attrs = BUILD_ID_ATTRS | {
        "binaries": attr.label_list(
            cfg = split_by_platform,
            mandatory = True,
            doc = "Executable targets to build for each platform.",
        ),
        "build_id": attr.bool(
            default = True,
            doc = "Give each output a build ID of its own; False: the linker's output as it is.",
        ),
        "platforms": attr.label_list(
            default = ALL_PLATFORMS,
            doc = "platform() targets; each output name ends with the platform's name.",
        ),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
)
