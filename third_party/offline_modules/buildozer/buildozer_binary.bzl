"""The `buildozer_binary` extension bazel_tools uses for `bazel mod tidy`.

The registry's module downloads a prebuilt buildozer from GitHub, which these machines
cannot reach. This stand-in creates the same repo with a `buildozer` that explains that.
"""

def _buildozer_binary_repo_impl(ctx):
    ctx.file(
        "buildozer",
        "#!/bin/sh\necho 'buildozer is not available offline: run `bazel mod tidy` on a machine that reaches the Bazel registry' >&2\nexit 1\n",
        executable = True,
    )
    ctx.file("BUILD.bazel", 'exports_files(["buildozer"])\n')

_buildozer_binary_repo = repository_rule(implementation = _buildozer_binary_repo_impl)

def _buildozer_binary_impl(_module_ctx):
    _buildozer_binary_repo(name = "buildozer_binary")

buildozer_binary = module_extension(implementation = _buildozer_binary_impl)
