#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test under ctest
# (unit tests, multi-rank tests under mpirun with 1, 2 and 4 ranks, and CLI end-to-end tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir build --output-on-failure -j 2 "$@"
