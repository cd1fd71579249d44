#!/usr/bin/env bash
# Builds tailor (Release, warnings as errors) into build/ and runs every test. Extra arguments go to
# cmake's configure step (e.g. -DTAILOR_BUILD_BENCHES=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh -DTAILOR_WERROR=ON "$@"   # extra arguments go to cmake's configure step
ctest --test-dir build --output-on-failure -j"$(nproc)"
