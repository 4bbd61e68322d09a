#!/usr/bin/env bash
# Step throughput of `pride train` at 1, 2 and 4 ranks for one config, and how much of the
# gradient all-reduce backward hides: each rank count runs twice, once with one gradient bucket
# (its all-reduce can only start when backward ends) and once with small buckets (started from
# autograd hooks while backward runs). Builds nothing; reads the runs' metrics.jsonl.
#
# Usage: scripts/bench/ranks.sh [PRIDE_BINARY] [RANKS...]     (default build/pride, ranks 1 2 4)
#   CONFIG=configs/tiny.yaml   STEPS=60   SMALL_BUCKET_MB=1   GLOBAL_BATCH=16 (split over the
#   ranks: the same training at every rank count)   BUCKET_ORDER=ready (dist.bucket_order:
#   "reverse" gives the buckets before they followed the order gradients become ready)
# Prints one row per run, medians over the steps after the first ten: step time, tokens/s (all
# ranks), comm_exposed_s (the time gradient communication held up the step), and the share of
# the one-bucket exposed time that small buckets hide behind backward.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
pride="$(realpath -m "${1:-$repo/build/pride}")"
shift || true
[ $# -gt 0 ] && ranks=("$@") || ranks=(1 2 4)
config="${CONFIG:-configs/tiny.yaml}"
steps="${STEPS:-60}"
small_bucket="${SMALL_BUCKET_MB:-1}"
global_batch="${GLOBAL_BATCH:-16}"
bucket_order="${BUCKET_ORDER:-ready}"
work="$repo/runs/bench-ranks"
cd "$repo"
[[ -x "$pride" ]] || { echo "ranks.sh: no pride binary at $pride (build it first)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

mkdir -p "$work"
[ -f "$work/train.h5" ] || "$pride" data synth --out "$work/train.h5" --samples 4000 --seed 1 >/dev/null
[ -f "$work/eval.h5" ] || "$pride" data synth --out "$work/eval.h5" --samples 64 --seed 2 >/dev/null

for n in "${ranks[@]}"; do
  for bucket in 25 "$small_bucket"; do
    dir="$work/n$n-bucket$bucket"
    rm -rf "$dir"
    mpirun --oversubscribe -n "$n" "$pride" train --config "$config" \
      --set "data.train=[$work/train.h5]" --set "data.eval=[$work/eval.h5]" --set train.eval_every=0 \
      --set train.max_steps="$steps" \
      --set train.global_batch_size="$global_batch" --set train.micro_batch_size=$((global_batch / n)) \
      --set run.log_every=1 --set checkpoint.every_steps=0 \
      --set dist.bucket_mb="$bucket" --set dist.bucket_order="$bucket_order" \
      --set "run.dir=$dir" >/dev/null
  done
done

/usr/bin/python3 - "$work" "$small_bucket" "${ranks[@]}" <<'PY'
import json, statistics, sys
work, small, ranks = sys.argv[1], sys.argv[2], sys.argv[3:]
print(f"{'ranks':>5} {'bucket MB':>9} {'ms/step':>8} {'tokens/s':>9} {'comm exposed ms':>15} {'hidden':>7}")
for n in ranks:
    exposed_one_bucket = None
    for bucket in ["25", small]:
        rows = [json.loads(l) for l in open(f"{work}/n{n}-bucket{bucket}/metrics.jsonl")]
        rows = [r for r in rows if "step_time_s" in r and r["step"] > 10]
        med = lambda key: statistics.median(r[key] for r in rows)
        exposed = med("comm_exposed_s")
        # One bucket starts only when backward ends: its exposed time is the whole all-reduce.
        exposed_one_bucket = exposed_one_bucket or exposed
        hidden = f"{1 - exposed / exposed_one_bucket:7.0%}" if n != "1" else f"{'-':>7}"
        print(f"{n:>5} {bucket:>9} {1e3 * med('step_time_s'):8.1f} {med('tokens_per_s'):9.0f}"
              f" {1e3 * exposed:15.2f} {hidden}")
PY
