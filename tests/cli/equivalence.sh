# A global batch B trains the same however it is split into ranks x micro-batches x accumulation
# steps: per-step losses (every term, MMD included) and final parameters agree within 1e-5
# relative, with the MMD features from the PI slots and from the response.
source "$(dirname "$0")/lib/common.sh"
make_data
run() {  # run NAME RANKS MICRO [--set ...]
  local name=$1 ranks=$2 micro=$3
  shift 3
  train_and_export "$name" "$ranks" --set train.max_steps=8 --set "train.micro_batch_size=$micro" "$@"
}
# Global batch 8: 1 x 8, 1 x 2 (accumulation 4), 2 ranks x 2 (accumulation 2), 4 ranks x 2.
for source in pi_slots response; do
  run "${source}_1x8" 1 8 --set model.feature_source=$source
  for split in "1 2" "2 2" "4 2"; do
    set -- $split
    run "${source}_$1x$2" "$1" "$2" --set model.feature_source=$source
    same_as "${source}_1x8" "${source}_$1x$2"
  done
done
check "MMD is on and logged in these runs" \
  grep -q '"mmd":[0-9.]*[1-9]' "$WORK/pi_slots_1x8/metrics.jsonl"
check "only rank 0 writes metrics and prints progress" \
  test "$(grep -c '^step' "$WORK/pi_slots_4x2.log")" -eq 8
check "the chosen split is printed at start" \
  grep -q "global batch 8 = 4 rank(s) x 1 accumulation x micro-batch 2" "$WORK/pi_slots_4x2.log"

# With mmd_weight 0, a global batch of one sample trains (no features, no MMD collectives).
run single 1 1 --set train.global_batch_size=1 --set loss.mmd_weight=0
check "a global batch of 1 trains without MMD" \
  grep -q '"step":8' "$WORK/single/metrics.jsonl"
