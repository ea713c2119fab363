"""PackageMetadataInfo: the package URL (purl) of a third-party package."""

PackageMetadataInfo = provider(
    doc = "Metadata about a package, as gazelle's go_repository records it.",
    fields = {
        "purl": "The package URL (https://github.com/package-url/purl-spec).",
        "attributes": "A list of files with further metadata.",
    },
)
