# A resumed run continues exactly like an uninterrupted one: bit for bit with the same world size
# (1 and 2 ranks, sync and async saving), within float tolerance on another world size (4->2,
# 1->4, 2->1), after a preemption signal, and after a rank is SIGKILLed in the middle of a save.
source "$(dirname "$0")/lib/common.sh"
make_data
RUN=("${SMALL[@]}" --set train.max_steps=12 --set checkpoint.every_steps=4 --set train.micro_batch_size=2)

train() {  # train DIR RANKS extra-args...: exits the test on an unexpected exit code
  local dir=$1 ranks=$2
  shift 2
  mpi "$ranks" train "${RUN[@]}" --set "run.dir=$WORK/$dir" "$@" >>"$WORK/$dir.log" 2>&1 \
    || { echo "exit $? from $dir"; cat "$WORK/$dir.log"; exit 1; }
}

train full1 1
train full2 2

for mode in false true; do
  train "sliced1_$mode" 1 --set train.stop_at_step=6 --set checkpoint.async=$mode
  train "sliced1_$mode" 1 --set checkpoint.async=$mode --resume auto
  check "1 rank, async=$mode: resumed run equals the uninterrupted one bit for bit" \
    $COMPARE metrics "$WORK/full1/metrics.jsonl" "$WORK/sliced1_$mode/metrics.jsonl" --rtol 0
done
train sliced2 2 --set train.stop_at_step=5
train sliced2 2 --resume auto
check "2 ranks: resumed run equals the uninterrupted one bit for bit" \
  $COMPARE metrics "$WORK/full2/metrics.jsonl" "$WORK/sliced2/metrics.jsonl" --rtol 0

# Across world sizes the micro-batch is 8 / ranks, so each micro-step covers the whole global batch
# (the MMD sees the same group of samples whatever the rank count).
train full1_whole 1 --set train.micro_batch_size=8
for pair in 4:2 1:4 2:1; do
  saved=${pair%:*} resumed=${pair#*:}
  train "world_$saved$resumed" "$saved" --set train.stop_at_step=6 \
    --set train.micro_batch_size=$((8 / saved))
  train "world_$saved$resumed" "$resumed" --resume auto --set train.micro_batch_size=$((8 / resumed))
  check "saved on $saved ranks, resumed on $resumed: losses match the uninterrupted run" \
    $COMPARE metrics "$WORK/full1_whole/metrics.jsonl" "$WORK/world_$saved$resumed/metrics.jsonl" --rtol 1e-5
done

# Preemption: SIGUSR1 to mpirun is forwarded to the ranks; they agree, save and exit 75.
mpirun --oversubscribe --bind-to none -n 2 -x OMP_NUM_THREADS "$PRIDE" train "${RUN[@]}" \
  --set train.max_steps=400 --set "run.dir=$WORK/preempt" >"$WORK/preempt.log" 2>&1 &
launcher=$!
for _ in $(seq 600); do
  [ "$( { wc -l <"$WORK/preempt/metrics.jsonl"; } 2>/dev/null || echo 0)" -ge 3 ] && break
  sleep 0.1
done
kill -USR1 "$launcher"
set +e
wait "$launcher"
code=$?
set -e
check "preempted run exits with code 75 (got $code)" test "$code" -eq 75
stopped=$(python3 -c "import json,sys; print(open(sys.argv[1]).read().strip())" "$WORK/preempt/checkpoints/latest")
check "preempted run saved a checkpoint ($stopped)" test -n "$stopped"
mpi 2 train "${RUN[@]}" --set train.max_steps=400 --set train.stop_at_step=30 \
  --set "run.dir=$WORK/preempt" --resume auto >>"$WORK/preempt.log" 2>&1
mpi 2 train "${RUN[@]}" --set train.max_steps=400 --set train.stop_at_step=30 \
  --set "run.dir=$WORK/preempt_ref" >>"$WORK/preempt_ref.log" 2>&1
check "run resumed after preemption equals an uninterrupted one" \
  $COMPARE metrics "$WORK/preempt_ref/metrics.jsonl" "$WORK/preempt/metrics.jsonl" --rtol 0

# SIGKILL of rank 1 in the middle of the step-8 save: the step-4 checkpoint stays loadable and
# the resumed run still equals the uninterrupted one.
set +e
PRIDE_INJECT_FAULT=save:1:8:kill mpi 2 train "${RUN[@]}" --set "run.dir=$WORK/killed" \
  >"$WORK/killed.log" 2>&1
code=$?
set -e
check "a rank killed during a save fails the job (exit $code)" test "$code" -ne 0
check "the interrupted save left the previous checkpoint as latest" \
  grep -q "step_0*4" "$WORK/killed/checkpoints/latest"
check "the previous checkpoint verifies" "$PRIDE" ckpt inspect "$WORK/killed/checkpoints/step_00000004" >/dev/null
train killed 2 --resume auto
check "run resumed after the kill equals the uninterrupted one" \
  $COMPARE metrics "$WORK/full2/metrics.jsonl" "$WORK/killed/metrics.jsonl" --rtol 0
check "leftovers of the crashed save were cleaned up" \
  test -z "$(find "$WORK/killed/checkpoints" -maxdepth 1 -name '.tmp*')"
