#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages that plby needs to build, test and run its demo. Packages
# already installed are left alone, so this is quick on a prepared machine. Uses sudo when not
# run as root. Extra packages (the benchmark's peers) can be named as arguments.
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libabsl-dev libtomlplusplus-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libssl-dev openssl curl
  clang libclang-rt-dev
  "$@"
)

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  echo "tests/deps.sh: this needs a Debian or Ubuntu machine (apt-get and dpkg-query)." >&2
  echo "Install these packages by other means: ${packages[*]}" >&2
  exit 1
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "tests/deps.sh: missing packages (${missing[*]}) and no sudo: run as root." >&2
    exit 1
  fi
  as_root=(sudo)
fi
echo "tests/deps.sh: installing ${missing[*]}"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}"
