#!/usr/bin/env bash
# Where a GPU step's time goes, one command on the GPU machine (after bench.sh, or alone: it
# builds when build-gpu/ has no binary): gpu-125m in bf16 for STEPS steps logged every step, with
# torch's default threads and with OMP_NUM_THREADS=2 (the prefetch thread shares the pool), the
# PyTorch peer on the same data, an nsys kernel summary where nsys exists, and the MPI tests at
# 1 rank. Results in OUT_DIR (default $OUT): profile.log and the runs' metrics.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
out="$(realpath -m "${1:-${OUT:-gpu-profile}}")"
steps=${STEPS:-60}
mkdir -p "$out"
exec > >(tee "$out/profile.log") 2>&1
bash scripts/gpu/unpack-debs.sh .deps /opt/deps >/dev/null && source /opt/deps/env.sh
build=build-gpu
if [[ ! -x $build/pride ]]; then
  prefix="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')"
  cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPRIDE_WITH_NCCL=ON \
    -DCMAKE_PREFIX_PATH="$prefix;$CMAKE_PREFIX_PATH" >/dev/null &&
    timeout 300 cmake --build $build -j "$(nproc)" --target pride pride_mpi_tests >/dev/null ||
    { echo "build failed"; exit 1; }
fi
echo "== MPI tests at 1 rank (checkpoint tests apart)"
timeout 90 mpirun --allow-run-as-root -n 1 $build/tests/pride_mpi_tests \
  --gtest_filter='-CheckpointMpiTest.*' 2>&1 | grep -E '^\S*\[ +(OK|FAILED|PASSED|SKIPPED) ' | tail -60
echo "== checkpoint tests, one process without mpirun"
timeout 60 $build/tests/pride_mpi_tests --gtest_filter='CheckpointMpiTest.*' 2>&1 | tail -8
if command -v gdb >/dev/null; then
  timeout 60 gdb -batch -ex run -ex bt --args $build/tests/pride_mpi_tests \
    --gtest_filter='CheckpointMpiTest.EveryRankLoadsWhatTheWorldSaved' 2>&1 | tail -25
fi
data=/tmp/profile-data
mkdir -p $data
synth=(--vocab 16384 --topk 20 --hidden 1024 --audio-dim 64 --visual-dim 64 --min-context 992
  --max-context 1007)
$build/pride data synth --out $data/train.h5 --samples 2048 --seed 1 "${synth[@]}" >/dev/null
$build/pride data synth --out $data/eval.h5 --samples 64 --seed 2 "${synth[@]}" >/dev/null
run=(--config configs/gpu-125m.yaml --set "data.train=[$data/train.h5]" --set "data.eval=[$data/eval.h5]"
  --set train.precision=bf16 --set train.eval_every=0 --set train.eval_samples=16
  --set run.log_every=1 --set checkpoint.every_steps=0 --set train.max_steps=$steps)
summary() {  # summary NAME: median step_time_s and wall per step over the second half
  python3 - "$1" "$steps" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
rows = rows[len(rows) // 2:]
med = lambda k: statistics.median(r[k] for r in rows)
print(f"   step_time_s {1e3 * med('step_time_s'):.1f} ms, tokens/s/GPU {med('tokens_per_s_per_gpu'):.0f},"
      f" mfu {med('mfu'):.3f}")
PY
}
for threads in default 2; do
  echo "== pride gpu-125m bf16, threads $threads"
  env $([[ $threads != default ]] && echo OMP_NUM_THREADS=$threads) timeout 150 $build/pride train \
    "${run[@]}" --set run.dir=/tmp/p-$threads >/tmp/p-$threads.log 2>&1 || tail -5 /tmp/p-$threads.log
  cp /tmp/p-$threads/metrics.jsonl "$out/pride-threads-$threads.jsonl"
  summary /tmp/p-$threads/metrics.jsonl
done
echo "== PyTorch peer gpu-125m bf16"
timeout 150 python3 scripts/bench/pytorch_peer.py --config configs/gpu-125m.yaml --data $data/train.h5 \
  --device cuda --precision bf16 --steps "$steps" --warmup 10 --peak-tflops 989 2>&1 | grep '^{' | tail -1
nsys=$(command -v nsys || ls /usr/local/cuda/bin/nsys 2>/dev/null)
if [[ -n $nsys ]]; then
  echo "== nsys kernel summary, 20 steps"
  timeout 150 $nsys profile -o /tmp/prof --force-overwrite true --stats=false $build/pride train \
    "${run[@]}" --set train.max_steps=20 --set run.dir=/tmp/p-nsys >/dev/null 2>&1
  timeout 60 $nsys stats -r cuda_gpu_kern_sum,cuda_api_sum -f csv /tmp/prof.nsys-rep 2>/dev/null |
    head -60 | cut -c1-220
else
  echo "== no nsys on this machine"
fi
