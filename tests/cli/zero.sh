# ZeRO-1 (dist.zero: 1) trains like plain data parallel: at 1, 2 and 4 ranks, 20 steps with and
# without it end with parameters within 1e-6 (relative L2 per tensor) and the same per-step losses.
# Its checkpoints keep the full-state format: a run saved with ZeRO at 4 ranks resumes without it
# at 2, and one saved without it at 1 rank resumes with it at 4, each tracking the uninterrupted
# run at its final world size (within equivalence.sh's 5e-5: other world sizes sum in another
# order).
source "$(dirname "$0")/lib/common.sh"
make_data
run() {  # run NAME RANKS ZERO [extra args...]
  local name=$1 ranks=$2 zero=$3
  shift 3
  mpi "$ranks" train "${SMALL[@]}" --set train.max_steps=20 --set "run.dir=$WORK/$name" \
    --set "train.micro_batch_size=$((8 / ranks))" --set "dist.zero=$zero" "$@" \
    >>"$WORK/$name.log" 2>&1 || { cat "$WORK/$name.log"; exit 1; }
}
export_weights() {
  "$PRIDE" ckpt export "$WORK/$1/checkpoints/latest" --out "$WORK/$1.safetensors" >/dev/null
}
for ranks in 1 2 4; do
  run "plain$ranks" "$ranks" 0
  run "zero$ranks" "$ranks" 1
  export_weights "plain$ranks"
  export_weights "zero$ranks"
  check "$ranks rank(s): ZeRO-1 final parameters match plain data parallel within 1e-6" \
    $COMPARE weights "$WORK/plain$ranks.safetensors" "$WORK/zero$ranks.safetensors" --rtol 1e-6
  check "$ranks rank(s): ZeRO-1 per-step losses match plain data parallel" \
    $COMPARE metrics "$WORK/plain$ranks/metrics.jsonl" "$WORK/zero$ranks/metrics.jsonl" --rtol 1e-6
done

run zero4_to_plain2 4 1 --set train.stop_at_step=10
run zero4_to_plain2 2 0 --resume auto
export_weights zero4_to_plain2
check "saved with ZeRO at 4 ranks, resumed without at 2: tracks the 2-rank run" \
  $COMPARE weights "$WORK/plain2.safetensors" "$WORK/zero4_to_plain2.safetensors" --rtol 5e-5
run plain1_to_zero4 1 0 --set train.stop_at_step=10
run plain1_to_zero4 4 1 --resume auto
export_weights plain1_to_zero4
check "saved without ZeRO at 1 rank, resumed with it at 4: tracks the 4-rank run" \
  $COMPARE weights "$WORK/zero4.safetensors" "$WORK/plain1_to_zero4.safetensors" --rtol 5e-5
check "the resumed runs did resume at step 10" \
  test "$(grep -c 'resumed at step 10' "$WORK/zero4_to_plain2.log" "$WORK/plain1_to_zero4.log" |
    grep -c ':1$')" -eq 2
