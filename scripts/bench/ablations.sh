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
/usr/bin/python3 scripts/bench/lib/ablation_table.py "$work" "full no_pi no_rkl no_mmd ce_only" \
  "full:no_pi full:no_rkl full:no_mmd full:ce_only" "${seeds[@]}"
