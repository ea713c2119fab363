"""The platform's APIs: the one list the API checks and the API mocks are made from.

Each entry is a domain with a gRPC service in proto/<domain>/v1. From this list come:

  //proto:lint, //proto:breaking   buf checks of every API's .proto (with SHARED below)
  //proto:mocks                    every API's mock package, proto/<domain>/v1/mock
                                   (a package missing for a listed domain fails the
                                   build: "no such package")
  proto/<domain>/v1/mock           go_grpc_mock (tools/rules/gomock.bzl) finds its API here and
                                   fails for a domain that is not listed

Adding an API is its .proto (gazelle writes its BUILD file), one line below, and
proto/<domain>/v1/mock/BUILD.bazel copied from another API's: it names nothing of
its own. Gazelle resolves every ".../proto/<domain>/v1/mock" import to that package
with one `resolve_regexp` directive in the root BUILD.bazel.
"""

API_DOMAINS = [
    "aitag",
    "cdnpush",
    "config",
    "console",
    "danmaku",
    "idgen",
    "orchestrator",
    "transcode",
    "upload",
]

# Proto packages of messages the APIs share: checked by buf, no service to mock.
SHARED_DOMAINS = ["common"]

def proto_library_label(domain):
    return "//proto/%s/v1:%sv1_proto" % (domain, domain)

def mock_label(domain):
    return "//proto/%s/v1/mock" % domain
