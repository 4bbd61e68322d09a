#!/usr/bin/env bash
# HEF's signals on the synthetic generator (docs/results.md, "HEF: emotion KD and cause-word PI"):
# the same samples with and without the plug-in-like signals of `pride data synth`
# (--teacher-emotions: the teacher's emotion distribution, right 80% of the time; --cause-words: the
# privileged source emotion_cause, the context's cue words with misses and a false positive),
# trained over several seeds and compared on the PI-free eval metrics of the last evaluation.
#   scripts/bench/hef_ablation.sh [PRIDE_BINARY] [SEEDS...]   (default build/pride, seeds 1..5)
#   STEPS=N (default 600), JOBS=N runs at a time (default: the number of cores), KD=w (default 1)
# Variants: no_pi (PI off), full (today's PRIDE), cause_pi (+ emotion_cause), emotion_kd (+ the
# teacher's emotions, loss.emotion_kd_weight=KD), hef (both).
set -euo pipefail
cd "$(dirname "$0")/../.."
pride=${1:-build/pride}
shift || true
[ $# -gt 0 ] && seeds=("$@") || seeds=(1 2 3 4 5)
steps=${STEPS:-600}
work=runs/hef-ablation-$steps
mkdir -p "$work"
# Four files of the same samples: the signals come from their own random streams.
for variant in "base" "cause --cause-words" "emotions --teacher-emotions" \
  "both --cause-words --teacher-emotions"; do
  set -- $variant
  name=$1
  shift
  "$pride" data synth --out "$work/train-$name.h5" --samples 4000 --seed 1 "$@" >/dev/null
  "$pride" data synth --out "$work/eval-$name.h5" --samples 512 --seed 2 "$@" >/dev/null
done
run_one() {  # run_one VARIANT SEED
  local variant=$1 seed=$2 data=base extra=()
  case $variant in
    no_pi) extra=(--config configs/ablations/no_pi.yaml) ;;
    cause_pi) data=cause ;;
    emotion_kd) data=emotions extra=(--set "loss.emotion_kd_weight=$HEF_KD") ;;
    hef) data=both extra=(--set "loss.emotion_kd_weight=$HEF_KD") ;;
  esac
  "$HEF_PRIDE" train --config configs/tiny.yaml "${extra[@]}" --set run.seed="$seed" \
    --set "data.train=[$HEF_WORK/train-$data.h5]" --set "data.eval=[$HEF_WORK/eval-$data.h5]" \
    --set train.eval_samples=0 --set train.max_steps="$HEF_STEPS" \
    --set "run.dir=$HEF_WORK/$variant-$seed" >/dev/null ||
    { echo "hef_ablation: $variant seed $seed failed" >&2; return 255; }
}
export -f run_one
export HEF_PRIDE=$pride HEF_WORK=$work HEF_STEPS=$steps HEF_KD=${KD:-1}
for variant in no_pi full cause_pi emotion_kd hef; do
  for seed in "${seeds[@]}"; do echo "$variant $seed"; done
done | OMP_NUM_THREADS=1 xargs -P "${JOBS:-$(nproc)}" -L 1 bash -c 'run_one "$@"' _
/usr/bin/python3 scripts/bench/lib/ablation_table.py "$work" "no_pi full cause_pi emotion_kd hef" \
  "cause_pi:no_pi cause_pi:full emotion_kd:no_pi emotion_kd:full hef:no_pi hef:full" "${seeds[@]}"
