"""The package_metadata rule gazelle's go_repository puts in every generated repo."""

load("//providers:package_metadata_info.bzl", "PackageMetadataInfo")

def _package_metadata_impl(ctx):
    return [PackageMetadataInfo(purl = ctx.attr.purl, attributes = ctx.files.attributes)]

_package_metadata = rule(
    implementation = _package_metadata_impl,
    attrs = {
        "purl": attr.string(mandatory = True),
        "attributes": attr.label_list(allow_files = True),
    },
)

def package_metadata(name, purl, attributes = [], visibility = None, **kwargs):
    # applicable_licenses = [] because the target is itself a default_package_metadata
    # of its package: without it Bazel reports a dependency cycle.
    _package_metadata(
        name = name,
        purl = purl,
        attributes = attributes,
        visibility = visibility,
        applicable_licenses = [],
        **kwargs
    )
