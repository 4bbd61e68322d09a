#!/usr/bin/env bash
# Trains the full method and each ablation (configs/ablations/) over several seeds on the same
# synthetic data and prints the PI-free eval metrics of the last evaluation as mean +/- std.
#   scripts/bench/ablations.sh [PRIDE_BINARY] [SEEDS...]      (default build/pride, seeds 1 2 3)
#   STEPS=N   steps per run (default 600; runs go to runs/ablations-N)
#   JOBS=N    runs at a time (default: the number of cores; each run uses one thread)
#   SET="k=v ..."  extra --set overrides for every run (e.g. SET=model.feature_source=response)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/lib/ablation_args.sh "$@"
mkdir -p "$work"
# Made afresh each time (well under a second), so that the data always come from this binary.
"$pride" data synth --out "$work/train.h5" --samples 4000 --seed 1 >/dev/null
"$pride" data synth --out "$work/eval.h5" --samples 512 --seed 2 >/dev/null
# One run; its --set overrides come from the environment (values hold no spaces).
run_one() {
  local variant=$1 seed=$2 extra=()
  [ "$variant" = full ] || extra=(--config "configs/ablations/$variant.yaml")
  for kv in $ABLATION_SETS; do extra+=(--set "$kv"); done
  "$ABLATION_PRIDE" train --config configs/tiny.yaml "${extra[@]}" --set run.seed="$seed" \
    --set "data.train=[$ABLATION_WORK/train.h5]" --set "data.eval=[$ABLATION_WORK/eval.h5]" \
    --set train.eval_samples=0 --set "run.dir=$ABLATION_WORK/$variant-$seed" >/dev/null ||
    { echo "ablations: $variant seed $seed failed" >&2; return 255; }
}
export -f run_one
export ABLATION_PRIDE=$pride ABLATION_WORK=$work ABLATION_SETS="train.max_steps=$steps ${SET:-}"
# JOBS runs at a time, one thread each.
for variant in full no_pi no_rkl no_mmd ce_only; do
  for seed in "${seeds[@]}"; do echo "$variant $seed"; done
done | OMP_NUM_THREADS=1 xargs -P "$jobs" -L 1 bash -c 'run_one "$@"' _
/usr/bin/python3 - "$work" "${seeds[@]}" <<'PY'
import json, statistics, sys
work, seeds = sys.argv[1], sys.argv[2:]
variants = ["full", "no_pi", "no_rkl", "no_mmd", "ce_only"]
keys = ["eval_ce", "eval_rkl", "eval_emotion_acc"]
stats = {}
print(f"{'variant':8} {'eval_ce':>16} {'eval_rkl':>16} {'eval_emotion_acc':>18}")
for variant in variants:
    finals = []
    for seed in seeds:
        evals = [json.loads(l) for l in open(f"{work}/{variant}-{seed}/metrics.jsonl") if "eval_ce" in l]
        finals.append(evals[-1])
    for key in keys:
        values = [f[key] for f in finals]
        stats[variant, key] = (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0)
    cells = [f"{stats[variant, k][0]:.4f} ± {stats[variant, k][1]:.4f}" for k in keys]
    print(f"{variant:8} {cells[0]:>16} {cells[1]:>16} {cells[2]:>18}")
# The full method beats an ablation on a metric when the means differ, in its favour, by more than
# the two standard deviations added together.
print()
for variant in variants[1:]:
    verdicts = []
    for key, sign in [("eval_rkl", -1), ("eval_emotion_acc", 1)]:
        (full_mean, full_std), (mean, std) = stats["full", key], stats[variant, key]
        margin, spread = sign * (full_mean - mean), full_std + std
        verdicts.append(f"{key} margin {margin:+.4f} vs spread {spread:.4f}"
                        f" ({'beats' if margin > spread else 'does not beat'})")
    print(f"full vs {variant:8}: " + "; ".join(verdicts))
PY
