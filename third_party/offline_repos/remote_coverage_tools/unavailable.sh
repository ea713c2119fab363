#!/bin/sh
echo "Bazel's coverage tools are downloaded from a Bazel mirror this machine cannot reach: run bazel coverage where it can" >&2
exit 1
