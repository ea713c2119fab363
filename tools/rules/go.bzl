"""Monoreel's go_test: rules_go's, visible to the depgraph analyzer.

gazelle writes it in place of rules_go's go_test (`# gazelle:map_kind` in the root
BUILD.bazel). Test targets are private by default, and tools/depgraph must name
them as roots of the graph it checks, or test-only dependencies would go unchecked.
"""

load("@io_bazel_rules_go//go:def.bzl", _go_test = "go_test")

def go_test(name, visibility = None, **kwargs):
    _go_test(
        name = name,
        visibility = visibility or [Label("//tools/depgraph:__pkg__")],
        **kwargs
    )
