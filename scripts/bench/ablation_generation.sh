#!/usr/bin/env bash
# Generation metrics of the runs scripts/bench/ablations.sh made: `pride eval --generate` on each
# run's last checkpoint (PI-free, greedy, at least 6 and at most 24 new tokens, all 512 evaluation
# samples; docs/evaluation.md), then BLEU-1/2/4, ROUGE-L, Dist-1/2 and the average length as
# mean +/- std over the seeds.
#   scripts/bench/ablation_generation.sh [PRIDE_BINARY] [SEEDS...]   (default build/pride, 1 2 3)
#   STEPS, JOBS, SET as for ablations.sh (they name the runs' directory)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib/ablation_args.sh "$@"
[ -f "$work/eval.h5" ] || { echo "no $work: run scripts/bench/ablations.sh first" >&2; exit 2; }
eval_one() {
  local variant=$1 seed=$2 extra=() run=$GEN_WORK/$1-$2
  [ "$variant" = full ] || extra=(--config "configs/ablations/$variant.yaml")
  for kv in $GEN_SETS; do extra+=(--set "$kv"); done
  "$GEN_PRIDE" eval --config configs/tiny.yaml "${extra[@]}" --set run.seed="$seed" \
    --set "data.train=[$GEN_WORK/train.h5]" --set "data.eval=[$GEN_WORK/eval.h5]" \
    --set train.eval_samples=0 --set eval.min_new_tokens=6 --set eval.max_new_tokens=24 \
    --set "run.dir=$run" --checkpoint "$run/checkpoints" --generate --out "$run/generation" \
    >/dev/null || { echo "ablation_generation: $variant seed $seed failed" >&2; return 255; }
}
export -f eval_one
export GEN_PRIDE=$pride GEN_WORK=$work GEN_SETS="train.max_steps=$steps ${SET:-}"
for variant in full no_pi no_rkl no_mmd ce_only; do
  for seed in "${seeds[@]}"; do echo "$variant $seed"; done
done | OMP_NUM_THREADS=1 xargs -P "$jobs" -L 1 bash -c 'eval_one "$@"' _
/usr/bin/python3 - "$work" "${seeds[@]}" <<'PY'
import json, statistics, sys
work, seeds = sys.argv[1], sys.argv[2:]
keys = ["bleu1", "bleu2", "bleu4", "rouge_l", "dist1", "dist2", "avg_len"]
print("| variant | " + " | ".join(keys) + " |")
print("| --- |" + " --- |" * len(keys))
for variant in ["full", "no_pi", "no_rkl", "no_mmd", "ce_only"]:
    runs = [json.load(open(f"{work}/{variant}-{seed}/generation/metrics.json")) for seed in seeds]
    cells = []
    for key in keys:
        values = [r[key] for r in runs]
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        cells.append(f"{statistics.mean(values):.4f} ± {std:.4f}")
    print(f"| {variant} | " + " | ".join(cells) + " |")
PY
