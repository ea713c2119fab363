"""The platform's services: the one list every cross-service target is made from.

Adding a service is creating services/<name>/ (its code, its BUILD file from
gazelle, and, if it has an image, a `go_image(name = "image", ...)` line there)
and adding one line below. From this list come:

  //:release       every service binary for every platform
  //:images        every service image index        (entries with image = True)
  //:push_all      pushes every image               (entries with image = True)
  //tools/devstack the platform on loopback         (entries with devstack = True),
                   starting the services in this order

The order is devstack's start order: every service after the ones it calls.
"""

def _service(name, image = True, devstack = True):
    return struct(
        name = name,
        label = "//services/%s" % name,
        image = image,
        devstack = devstack,
    )

SERVICES = [
    _service("config"),
    _service("idgen"),
    _service("upload"),
    # transcode and aitag run ffmpeg: their images have the Debian FFmpeg base.
    _service("transcode"),
    _service("aitag"),
    _service("cdnpush"),
    _service("orchestrator"),
    _service("danmaku"),
    # The web console calls every service above: last.
    _service("console"),
]

def service_binaries():
    """The binary label of every service."""
    return [s.label for s in SERVICES]

def service_images():
    """The image label of every service that has one."""
    return ["%s:image" % s.label for s in SERVICES if s.image]

def devstack_services():
    """The services devstack starts, in start order."""
    return [s for s in SERVICES if s.devstack]
