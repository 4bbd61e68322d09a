#!/usr/bin/env bash
# Checkpoint save and load throughput at 1, 2 and 4 ranks against the disk's own write speed
# (`dd` with fsync of the same number of bytes), for states the size of the tiny config's
# (params + AdamW moments, 12 MB) and of a ~100M-parameter model's (1200 MB). Builds nothing;
# runs the disabled timing test in tests/mpi/test_checkpoint.cpp. Loads are timed twice: right
# after the save (page cache) and, where root may drop the page cache, from the disk.
#
# Usage: scripts/bench/checkpoint.sh [BUILD_DIR] [SIZES_MB...]   (default build, sizes 12 1200)
#   TMPDIR   where the checkpoints and the dd file are written (the disk under test)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tests="$(realpath -m "${1:-$repo/build}")/tests/pride_mpi_tests"
shift || true
[ $# -gt 0 ] && sizes=("$@") || sizes=(12 1200)
[[ -x "$tests" ]] || { echo "checkpoint.sh: no test binary at $tests (build it first)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

for mb in "${sizes[@]}"; do
  echo "== $mb MB"
  echo -n "dd bs=1M conv=fsync: "
  dd if=/dev/zero of="$scratch/dd.bin" bs=1M count="$mb" conv=fsync 2>&1 | tail -n 1
  rm -f "$scratch/dd.bin"
  for n in 1 2 4; do
    PRIDE_CKPT_BENCH_MB="$mb" TMPDIR="$scratch" mpirun --oversubscribe -n "$n" "$tests" \
      --gtest_filter='CheckpointMpi*SaveAndLoadTimes' --gtest_also_run_disabled_tests |
      grep '^checkpoint of'
  done
done
