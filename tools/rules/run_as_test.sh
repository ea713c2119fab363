#!/usr/bin/env bash
# Runs the command a test's args name: lets a binary with arguments serve as a test.
exec "$@"
