#!/usr/bin/env bash
# CLI test: checks launch/pride-launch --dry-run output (ranks, env passthrough, binary and
# arguments, --oversubscribe), its -h and bad-option exits, and the Slurm templates (syntax,
# --requeue, --signal, --resume auto, requeue on exit 75). Needs no GPU, no Slurm, no build.
# Usage: bash launch_dry_run.sh <path-to-pride-binary> <repo-root>
set -euo pipefail

bin="${1:?usage: launch_dry_run.sh <path-to-pride-binary> <repo-root>}"
repo="${2:?usage: launch_dry_run.sh <path-to-pride-binary> <repo-root>}"
launcher="$repo/launch/pride-launch"
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
# expect_contains NAME HAYSTACK NEEDLE: NEEDLE must occur in HAYSTACK as a substring.
expect_contains() {
  [[ "$2" == *"$3"* ]] || fail "$1: expected '$3' in: $2"
}
expect_absent() {
  [[ "$2" != *"$3"* ]] || fail "$1: did not expect '$3' in: $2"
}

[[ -x "$launcher" ]] || { echo "FAIL: $launcher is missing or not executable" >&2; exit 1; }

# Runs the launcher in dry-run mode with a controlled environment: no GPUs, the given binary.
dry_run() {
  env -u OMP_NUM_THREADS CUDA_VISIBLE_DEVICES="" PRIDE_BIN="$bin" "$launcher" --dry-run "$@" 2>/dev/null
}

# -n 3: rank count, binary and pride arguments in order.
out="$(dry_run -n 3 train --config configs/tiny.yaml --set train.max_steps=5 --resume auto)" ||
  fail "-n 3 --dry-run exited non-zero"
expect_contains "-n 3" "$out" "mpirun -n 3 "
expect_contains "binary and args in order" "$out" \
  "$bin train --config configs/tiny.yaml --set train.max_steps=5 --resume auto"
[[ "$out" == *"$bin train --config configs/tiny.yaml --set train.max_steps=5 --resume auto" ]] ||
  fail "pride args must end the command line: $out"
expect_contains "threads per rank" "$out" "-x OMP_NUM_THREADS="
expect_contains "binding" "$out" "--bind-to "

# `--` separates launcher options from pride's; options after it belong to pride.
out="$(dry_run -n 2 -- train --config a.yaml --config b.yaml)" || fail "-- form exited non-zero"
expect_contains "-- separator" "$out" "mpirun -n 2 "
expect_contains "-- separator args" "$out" "$bin train --config a.yaml --config b.yaml"

# Environment passthrough with -x when set, absent when not.
out="$(NCCL_DEBUG=INFO NCCL_SOCKET_IFNAME=lo PRIDE_FOO=1 dry_run -n 2 train --config c.yaml)" ||
  fail "passthrough run exited non-zero"
expect_contains "NCCL_DEBUG passthrough" "$out" "-x NCCL_DEBUG"
expect_contains "NCCL_SOCKET_IFNAME passthrough" "$out" "-x NCCL_SOCKET_IFNAME"
expect_contains "PRIDE_* passthrough" "$out" "-x PRIDE_FOO"
out="$(env -u NCCL_DEBUG PRIDE_BIN="$bin" CUDA_VISIBLE_DEVICES="" "$launcher" --dry-run -n 2 train 2>/dev/null)" ||
  fail "run without NCCL_DEBUG exited non-zero"
expect_absent "NCCL_DEBUG unset" "$out" "NCCL_DEBUG"
# A user's OMP_NUM_THREADS is passed as is, not replaced.
out="$(OMP_NUM_THREADS=7 CUDA_VISIBLE_DEVICES="" PRIDE_BIN="$bin" "$launcher" --dry-run -n 2 train 2>/dev/null)" ||
  fail "run with OMP_NUM_THREADS exited non-zero"
expect_contains "user OMP_NUM_THREADS" "$out" "-x OMP_NUM_THREADS"
expect_absent "user OMP_NUM_THREADS kept" "$out" "OMP_NUM_THREADS="

# --oversubscribe when ranks > cores, not for one rank.
cores="$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)"  # nproc obeys OMP_NUM_THREADS
out="$(dry_run -n $((cores + 1)) train)" || fail "-n cores+1 exited non-zero"
expect_contains "ranks > cores" "$out" "--oversubscribe"
out="$(dry_run -n 1 train)" || fail "-n 1 exited non-zero"
expect_absent "one rank" "$out" "--oversubscribe"
expect_contains "-n 1" "$out" "mpirun -n 1 "

# Default rank count: one per visible GPU, 1 without GPUs.
out="$(CUDA_VISIBLE_DEVICES=0,1,2,3 PRIDE_BIN="$bin" "$launcher" --dry-run train 2>/dev/null)" ||
  fail "GPU default exited non-zero"
expect_contains "one rank per GPU" "$out" "mpirun -n 4 "
out="$(dry_run train)" || fail "CPU default exited non-zero"
expect_contains "CPU default" "$out" "mpirun -n 1 "

# -h exits 0 with usage; bad options and values exit non-zero.
help="$("$launcher" -h)" || fail "-h exited non-zero"
expect_contains "-h usage" "$help" "Usage:"
if "$launcher" --no-such-option train >/dev/null 2>&1; then fail "a bad option exited 0"; fi
if "$launcher" -n zero train >/dev/null 2>&1; then fail "-n zero exited 0"; fi
if "$launcher" -n 0 train >/dev/null 2>&1; then fail "-n 0 exited 0"; fi
if "$launcher" --dry-run >/dev/null 2>&1; then fail "no pride arguments exited 0"; fi

# Slurm templates: valid bash, requeue-able, signalled, resuming, and applying the requeue policy
# (75 and, bounded, 69: its behaviour is tested by slurm_requeue.sh).
for template in "$repo/slurm/pride-1node.sbatch" "$repo/slurm/pride-multinode.sbatch"; do
  name="$(basename "$template")"
  [[ -f "$template" ]] || { fail "$name is missing"; continue; }
  bash -n "$template" || fail "$name: bash -n failed"
  for needle in "#SBATCH --requeue" "#SBATCH --signal=" "#SBATCH --open-mode=append" \
    "srun --mpi=pmix" "--resume auto" "slurm/requeue-policy.sh" "pride_requeue_policy"; do
    grep -qF -- "$needle" "$template" || fail "$name: expected a line with '$needle'"
  done
done

if ((failures > 0)); then
  echo "launch_dry_run: $failures check(s) failed" >&2
  exit 1
fi
echo "launch_dry_run: all checks passed"
