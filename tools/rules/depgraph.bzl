"""The target graph depgraph checks, as Bazel sees it.

depgraph_aspect walks every attribute of the targets it is applied to and records,
for each target of the main repository, its label, whether it is testonly, and the
main-repository labels it depends on (external repositories are not modules and are
left out). module_graph applies it to a list of roots and writes the records to one
file in the format of tools/depgraph/internal/graph.
"""

DepgraphInfo = provider(
    doc = "Graph records of a target and everything it depends on.",
    fields = {"records": "depset of strings, one line per main-repository target"},
)

def _in_main_repo(label):
    return label.workspace_name == ""

def _label(label):
    return "//%s:%s" % (label.package, label.name)

def _depgraph_aspect_impl(_target, ctx):
    transitive = []
    deps = {}
    for name in dir(ctx.rule.attr):
        value = getattr(ctx.rule.attr, name)
        values = value if type(value) == "list" else (value.keys() if type(value) == "dict" else [value])
        for v in values:
            if type(v) != "Target":
                continue
            if DepgraphInfo in v:
                transitive.append(v[DepgraphInfo].records)
            if name.startswith("_") or not _in_main_repo(v.label):
                continue

            # A target's own source files say nothing about modules.
            if DepgraphInfo not in v and v.label.package == ctx.label.package:
                continue
            deps[_label(v.label)] = True
    if not _in_main_repo(ctx.label):
        return [DepgraphInfo(records = depset(transitive = transitive))]
    testonly = getattr(ctx.rule.attr, "testonly", False) or ctx.rule.kind.endswith("_test")
    record = "%s\t%s\t%s" % (_label(ctx.label), "t" if testonly else "-", " ".join(sorted(deps.keys())))
    return [DepgraphInfo(records = depset([record], transitive = transitive))]

depgraph_aspect = aspect(
    implementation = _depgraph_aspect_impl,
    attr_aspects = ["*"],
    doc = "Collects the main-repository target graph below a target.",
)

def _module_graph_impl(ctx):
    # Some native rules (platform, ...) do not take aspects: they depend on
    # nothing of this repository's modules anyway.
    records = depset(transitive = [root[DepgraphInfo].records for root in ctx.attr.roots if DepgraphInfo in root])
    out = ctx.actions.declare_file(ctx.label.name + ".graph")
    args = ctx.actions.args()
    args.set_param_file_format("multiline")
    args.add_all(records)
    ctx.actions.write(out, args)
    return [DefaultInfo(files = depset([out]))]

# Roots include tests, so a module_graph must be testonly = True.
module_graph = rule(
    implementation = _module_graph_impl,
    doc = "Writes the target graph below roots, for tools/depgraph.",
    attrs = {
        "roots": attr.label_list(aspects = [depgraph_aspect], mandatory = True),
    },
)
