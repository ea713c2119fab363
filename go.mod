module github.com/monoreel/monoreel

go 1.26.0

// github.com/bazelbuild/buildtools is held at the commit gazelle 0.47 requires: later ones depend on
// github.com/google/safeopen, whose BUILD files name repos of its own WORKSPACE.
require (
	github.com/bazelbuild/buildtools v0.0.0-20250930140053-2eb4fccefb52
	github.com/tinylib/msgp v1.6.5
	go.uber.org/mock v0.6.0
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

// github.com/bazelbuild/buildtools is held at the commit gazelle 0.47 requires: later ones depend on
// github.com/google/safeopen, whose BUILD files name repos of its own WORKSPACE.
require (
	github.com/golang/protobuf v1.5.4 // indirect
	github.com/philhofer/fwd v1.2.0 // indirect
	golang.org/x/mod v0.41.0 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sync v0.23.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	golang.org/x/tools v0.49.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
)
