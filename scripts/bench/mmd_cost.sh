#!/usr/bin/env bash
# What the exact global-batch MMD costs per training step: the tiny config at 1 rank, median
# step_time_s of steps 11-60, with MMD off (loss.mmd_weight=0: no feature pass, no all-gather)
# and on, for both feature sources, each run REPEATS times interleaved.
#   scripts/bench/mmd_cost.sh build/pride [REPEATS]
set -euo pipefail
pride=$(realpath "${1:-build/pride}")
repeats=${2:-3}
work=$(mktemp -d /tmp/pride-mmd-cost.XXXXXX)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
"$pride" data synth --out "$work/train.h5" --samples 2000 --seed 1 >/dev/null
"$pride" data synth --out "$work/eval.h5" --samples 64 --seed 2 >/dev/null
variants=("off pi_slots 0" "on pi_slots 1" "off response 0" "on response 1")
for ((r = 0; r < repeats; ++r)); do
  for v in "${variants[@]}"; do
    set -- $v
    "$pride" train --config configs/tiny.yaml --set "data.train=[$work/train.h5]" \
      --set "data.eval=[$work/eval.h5]" --set train.max_steps=60 --set train.eval_every=0 \
      --set train.eval_samples=16 --set run.log_every=1 --set checkpoint.every_steps=0 \
      --set "model.feature_source=$2" --set "loss.mmd_weight=$3" --set "run.dir=$work/$1_$2_$r" \
      >/dev/null
  done
done
/usr/bin/python3 - "$work" "$repeats" <<'PY'
import json, statistics, sys
work, repeats = sys.argv[1], int(sys.argv[2])
def median_ms(name):
    times = []
    for r in range(repeats):
        rows = [json.loads(l) for l in open(f"{work}/{name}_{r}/metrics.jsonl") if '"loss"' in l]
        times += [row["step_time_s"] for row in rows if 11 <= row["step"] <= 60]
    return 1000 * statistics.median(times)
for source in ("pi_slots", "response"):
    off, on = median_ms(f"off_{source}"), median_ms(f"on_{source}")
    print(f"feature_source {source:8s}: MMD off {off:6.1f} ms/step, on {on:6.1f} ms/step "
          f"(+{100 * (on - off) / off:.0f}%)")
PY
