#!/usr/bin/env bash
# Builds tailor (Release, warnings as errors) into build/ and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh -DTAILOR_WERROR=ON
ctest --test-dir build --output-on-failure -j"$(nproc)"
