# Bad input gets a clear error naming the file, key or sample and exit 2; a failure on one rank
# ends the whole job with that rank's message; a stuck rank ends the job through the collective
# timeout (a transient fault: exit 69) instead of a hang; a non-finite gradient skips the update on
# every rank and too many in a row stop the run; a broken srun/MPI wiring is refused.
source "$(dirname "$0")/lib/common.sh"
make_data

expect_failure() {  # expect_failure "description" CODE PATTERN command...
  local what=$1 code=$2 pattern=$3
  shift 3
  set +e
  "$@" >"$WORK/out.log" 2>&1
  local got=$?
  set -e
  if [ "$got" -ne "$code" ] || ! grep -q -- "$pattern" "$WORK/out.log"; then
    echo "FAILED: $what (exit $got, want $code; output:)" >&2
    cat "$WORK/out.log" >&2
    exit 1
  fi
  echo "ok: $what"
}

expect_failure "unknown config key names the key" 2 "train.learning_rate" \
  "$PRIDE" train "${SMALL[@]}" --set train.learning_rate=1
expect_failure "missing data file is named" 2 "$WORK/nope.h5" \
  "$PRIDE" train "${SMALL[@]}" --set "data.train=[$WORK/nope.h5]"
printf 'not hdf5' >"$WORK/garbage.h5"
expect_failure "a file that is not HDF5 is rejected by inspect" 2 "garbage.h5" \
  "$PRIDE" data inspect "$WORK/garbage.h5"
head -c 20000 "$WORK/train.h5" >"$WORK/truncated.h5"
expect_failure "a truncated file is rejected by inspect" 2 "truncated.h5" \
  "$PRIDE" data inspect "$WORK/truncated.h5"
expect_failure "a missing checkpoint is an error" 2 "no checkpoint" \
  "$PRIDE" train "${SMALL[@]}" --set "run.dir=$WORK/r" --resume "$WORK/none"

start=$(date +%s)
expect_failure "an error on rank 1 ends the 2-rank job with rank 1's message" 2 \
  "\[rank 1\] error: injected fault: step point of step 3" \
  env PRIDE_INJECT_FAULT=step:1:3:throw bash -c "$(declare -f mpi); PRIDE=$PRIDE; mpi 2 train $(printf '%q ' "${SMALL[@]}") --set train.max_steps=50 --set train.micro_batch_size=4 --set run.dir=$WORK/t"
check "the failed job ended within 60 s" test $(($(date +%s) - start)) -lt 60

start=$(date +%s)
set +e
# The timeout leaves room for ranks that start seconds apart on a loaded CI machine: a tighter one
# fires at an earlier step's collective, before the injected hang.
PRIDE_INJECT_FAULT=step:1:3:hang mpi 2 train "${SMALL[@]}" --set train.max_steps=50 \
  --set dist.timeout_s=10 --set train.micro_batch_size=4 --set "run.dir=$WORK/h" >"$WORK/hang.log" 2>&1
code=$?
set -e
tail -n 20 "$WORK/hang.log"  # for the CI log, should a check below fail
check "a hung rank ends the job through the timeout with the transient-fault code (exit $code)" \
  test "$code" -eq 69
check "the timeout message names the operation and the step" \
  grep -q "did not complete within 10 s at step 3" "$WORK/hang.log"
check "the hung job ended within 60 s" test $(($(date +%s) - start)) -lt 60

# A NaN gradient on rank 1 at step 3 (fault injection): no update on either rank, counted in
# metrics.jsonl, and the run goes on to finish with finite weights.
PRIDE_INJECT_FAULT=loss:1:3:nan mpi 2 train "${SMALL[@]}" --set train.max_steps=6 \
  --set "run.dir=$WORK/nan" >"$WORK/nan.log" 2>&1 || { cat "$WORK/nan.log"; exit 1; }
check "the skipped step is logged" grep -q '"skipped_steps":1,"step":3' "$WORK/nan/metrics.jsonl"
check "steps before it skipped nothing" grep -q '"skipped_steps":0,"step":2' "$WORK/nan/metrics.jsonl"
check "the warning names the step" grep -q "step 3: gradient norm is nan; update skipped" "$WORK/nan.log"
"$PRIDE" ckpt export "$WORK/nan/checkpoints/latest" --out "$WORK/nan.safetensors" >/dev/null
check "the checkpoint after a skipped step holds finite weights" /usr/bin/python3 -c "
import sys; sys.path.insert(0, '$REPO/tests/cli/lib')
import numpy as np, compare_runs
assert all(np.isfinite(t).all() for t in compare_runs.read_safetensors('$WORK/nan.safetensors').values())"
expect_failure "non-finite gradients at every step stop the run after max_skipped_steps" 2 \
  "3 consecutive steps had a non-finite gradient norm (train.max_skipped_steps = 2)" \
  env 'PRIDE_INJECT_FAULT=loss:0:*:nan' "$PRIDE" train "${SMALL[@]}" --set train.max_steps=6 \
  --set train.max_skipped_steps=2 --set "run.dir=$WORK/nan_all"

expect_failure "srun tasks that MPI does not see as one world are refused" 2 \
  "srun started 4 tasks but MPI sees a world of 1 rank" \
  env SLURM_STEP_NUM_TASKS=4 "$PRIDE" train "${SMALL[@]}" --set "run.dir=$WORK/slurm"
expect_failure "a global batch of 1 with MMD on is rejected at config time" 2 \
  "loss.mmd_weight > 0 needs train.global_batch_size >= 2" \
  "$PRIDE" train "${SMALL[@]}" --set train.global_batch_size=1 --set "run.dir=$WORK/one"
