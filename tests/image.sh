#!/usr/bin/env bash
# The image stage of tests/test.sh: builds deploy/Dockerfile with podman, unchanged, on base
# images made here from Debian's registry (no other registry is reachable), then runs the
# ImageTest integration tests against it (tests/integration/image_test.cc): as Kubernetes would
# run it, and a fleet of containers with the reconciler in one.
#
# These machines need podman with --runtime runc --cgroup-manager cgroupfs and explicit
# --ulimit values. Where podman cannot run containers at all, the stage says so loudly and
# skips (exit 0); any other failure fails it.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${1:-build}
tests/deps.sh podman buildah mmdebstrap runc uidmap
podman=(podman --runtime runc --cgroup-manager cgroupfs)
work=$(mktemp -d /tmp/plby-image.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Can podman work on this machine at all?
if ! "${podman[@]}" info >"$work/info" 2>&1; then
  echo "tests/image.sh: SKIPPED: podman cannot run here:" >&2
  cat "$work/info" >&2
  exit 0
fi

# Base images, from Debian's registry: debian:12 and the same as debian:12-slim (the Dockerfile's
# two stages). Made once per machine.
if ! "${podman[@]}" image exists localhost/debian:12; then
  echo "tests/image.sh: building the debian:12 base image with mmdebstrap"
  mmdebstrap --variant=minbase --quiet bookworm "$work/base.tar"
  "${podman[@]}" import --quiet "$work/base.tar" localhost/debian:12 >/dev/null
fi
"${podman[@]}" tag localhost/debian:12 localhost/debian:12-slim

image=localhost/plby:test
echo "tests/image.sh: building deploy/Dockerfile"
started=$SECONDS
"${podman[@]}" build --quiet --pull=never --network host -f deploy/Dockerfile -t "$image" . \
  >/dev/null
echo "tests/image.sh: image built in $((SECONDS - started))s"

PLBY_IMAGE=$image "$build_dir/tests/plby_integration_tests" --gtest_filter='ImageTest.*'
