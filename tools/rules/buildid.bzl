"""set_build_id: give a linked binary a build ID of its own (see tools/release/buildid).

Rules that ship binaries (//:release, go_image) call it; a rule using it needs
BUILD_ID_ATTRS among its attributes.
"""

BUILD_ID_ATTRS = {
    "_buildid": attr.label(
        default = Label("//tools/release/buildid"),
        executable = True,
        cfg = "exec",
    ),
}

def set_build_id(ctx, binary, out):
    """Writes binary to out with its GNU build-id (ELF) or LC_UUID (Mach-O) set to a hash of its contents."""
    ctx.actions.run(
        executable = ctx.executable._buildid,
        arguments = [binary.path, out.path],
        inputs = [binary],
        outputs = [out],
        mnemonic = "BuildID",
        progress_message = "Setting the build ID of %{output}",
    )
