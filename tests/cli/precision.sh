# train.precision=bf16 (autocast for forward and backward, fp32 master weights, loss terms and MMD)
# tracks fp32 training: over 50 steps every logged loss stays within 5% relative of the fp32 run's
# (bf16 keeps 8 bits of mantissa: about 0.4% per rounding), and both learn.
source "$(dirname "$0")/lib/common.sh"
make_data
for precision in fp32 bf16; do
  "$PRIDE" train "${SMALL[@]}" --set train.max_steps=50 --set train.eval_every=0 \
    --set "train.precision=$precision" --set "run.dir=$WORK/$precision" >"$WORK/$precision.log" 2>&1 ||
    { cat "$WORK/$precision.log"; exit 1; }
done
check "bf16 losses track fp32 within 5% over 50 steps" \
  $COMPARE metrics "$WORK/fp32/metrics.jsonl" "$WORK/bf16/metrics.jsonl" --rtol 0.05 \
  --keys loss,ce,rkl,emotion_ce
check "the bf16 run says so at start" grep -q "bf16" "$WORK/bf16.log"
check "bf16 training lowers the loss" /usr/bin/python3 -c "
import json
rows = [json.loads(l) for l in open('$WORK/bf16/metrics.jsonl') if 'eval_ce' not in l]
assert rows[-1]['loss'] < 0.8 * rows[0]['loss'], (rows[0]['loss'], rows[-1]['loss'])"
