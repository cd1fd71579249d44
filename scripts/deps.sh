#!/usr/bin/env bash
# Installs the Debian packages tailor needs to build, test and benchmark. Idempotent: when every
# package is present it prints nothing and touches nothing.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libxtensor-dev libxtensor-blas-dev libopenblas-dev
  libsimdjson-dev libturbojpeg0-dev libpng-dev
  libfmt-dev nlohmann-json3-dev libcli11-dev
  catch2 libbenchmark-dev
  python3
)
# Extra packages a caller asks for (e.g. clang for the fuzzer): scripts/deps.sh clang
packages+=("$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "tailor: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >/dev/null
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
