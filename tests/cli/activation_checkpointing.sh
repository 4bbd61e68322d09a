# train.activation_checkpointing (each decoder block recomputed in backward) trains like the plain
# run: over 5 steps, with 2 accumulated micro-batches a step, every logged term (grad_norm
# included) and the final parameters agree within 1e-5 relative, at 1 rank in fp32 and bf16
# autocast, and at 2 ranks under mpirun (gradient buckets all-reduced from the hooks as they
# fill) with and without ZeRO-1.
source "$(dirname "$0")/lib/common.sh"
make_data
run() {  # run NAME RANKS [--set ...]: global batch 8 in 2 micro-batches a rank
  local name=$1 ranks=$2
  shift 2
  train_and_export "$name" "$ranks" --set train.max_steps=5 \
    --set "train.micro_batch_size=$((4 / ranks))" "$@"
}
CKPT=(--set train.activation_checkpointing=true)
for precision in fp32 bf16; do
  run "plain_1_$precision" 1 --set "train.precision=$precision"
  run "ckpt_1_$precision" 1 --set "train.precision=$precision" "${CKPT[@]}"
  same_as "plain_1_$precision" "ckpt_1_$precision"
done
# Small gradient buckets, so that many launch from the accumulate-grad hooks during backward.
BUCKETS=(--set dist.bucket_mb=0.02)
run plain_2 2 "${BUCKETS[@]}"
run ckpt_2 2 "${BUCKETS[@]}" "${CKPT[@]}"
same_as plain_2 ckpt_2
run ckpt_2_zero 2 "${BUCKETS[@]}" "${CKPT[@]}" --set dist.zero=1
same_as plain_2 ckpt_2_zero
check "the effective config records the key" \
  grep -q "activation_checkpointing: true" "$WORK/ckpt_2/config.yaml"
