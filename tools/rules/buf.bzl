"""buf_checks: buf lint and breaking-change checks over proto_library targets.

buf (buf's release binary for the host, from its npm package: @npm//:buf, pinned by
web/package-lock.json) runs on a copy
of exactly the .proto files of the given proto_library targets, with the repo's
buf.yaml, so the checks are hermetic and cached like any test.
"""

load("@com_google_protobuf//bazel/common:proto_info.bzl", "ProtoInfo")
load("@rules_shell//shell:sh_binary.bzl", "sh_binary")
load("@rules_shell//shell:sh_test.bzl", "sh_test")

def _proto_sources_impl(ctx):
    return [DefaultInfo(files = depset(transitive = [
        depset(p[ProtoInfo].direct_sources)
        for p in ctx.attr.protos
    ]))]

_proto_sources = rule(
    implementation = _proto_sources_impl,
    doc = "The .proto files of proto_library targets (their default output is a descriptor set).",
    attrs = {"protos": attr.label_list(providers = [ProtoInfo])},
)

_BUF = "@npm//:buf"
_CONFIG = "//:buf.yaml"
_SCRIPT = "//tools/rules:buf_check.sh"

def buf_checks(name, protos, baseline, breaking_cases = [], visibility = None):
    """Defines :lint, :breaking, :breaking_selftest (tests), :update_baseline and `name`.

    Args:
      name: the test_suite of the checks.
      protos: every proto_library to check.
      baseline: the committed buf image (text format) the breaking check compares with.
      breaking_cases: [file, sed expression, comma-separated words] triples:
        :breaking_selftest applies each to a copy and requires the breaking
        check to fail with a message naming every word.
      visibility: of the test_suite; written in the BUILD file, where gazelle
        sees it, so the module graph (tools/depgraph) takes the suite as a root.
    """
    sources = name + "_sources"
    _proto_sources(name = sources, protos = protos)
    args = [
        "$(rootpath %s)" % _BUF,
        "$(rootpath %s)" % _CONFIG,
        "$(rootpath %s)" % baseline,
        "$(rootpaths :%s)" % sources,
    ]
    data = [_BUF, _CONFIG, baseline, ":" + sources]
    tests = [":lint", ":breaking"]
    for mode in ["lint", "breaking"]:
        sh_test(
            name = mode,
            srcs = [_SCRIPT],
            args = [mode] + args,
            data = data,
        )
    if breaking_cases:
        cases = []
        for case in breaking_cases:
            cases.extend(case)
        sh_test(
            name = "breaking_selftest",
            srcs = [_SCRIPT],
            args = ["selftest"] + args + ["--"] + ["'%s'" % c for c in cases],
            data = data,
        )
        tests.append(":breaking_selftest")
    native.test_suite(
        name = name,
        tests = tests,
        visibility = visibility,
    )
    sh_binary(
        name = "update_baseline",
        srcs = [_SCRIPT],
        args = ["update"] + args,
        data = data,
    )
