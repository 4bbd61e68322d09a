#!/usr/bin/env bash
# Builds pride against CUDA LibTorch + NCCL on a GPU machine and runs the GPU checks: 1-rank NCCL
# training, and 2 ranks sharing one GPU over the MPI backend. Logs go to $1 (default ./gpu-logs).
# Expects the Debian libraries unpacked as in docs/gpu.md (source /opt/deps/env.sh first).
set -uo pipefail
out=${1:-gpu-logs}
mkdir -p "$out"
torch_prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DPRIDE_BUILD_TESTS=OFF \
  -DPRIDE_WITH_NCCL=ON -DCMAKE_PREFIX_PATH="$torch_prefix;${CMAKE_PREFIX_PATH:-}" >"$out/cmake.log" 2>&1 \
  || { tail -30 "$out/cmake.log"; exit 1; }
cmake --build build-gpu -j "$(nproc)" >"$out/build.log" 2>&1 || { grep -m20 -E "error" "$out/build.log"; exit 1; }
pride=build-gpu/pride
$pride --version
$pride data synth --out /tmp/train.h5 --samples 4000 --seed 1
$pride data synth --out /tmp/eval.h5 --samples 512 --seed 2
common=(--config configs/tiny.yaml --set "data.train=[/tmp/train.h5]" --set "data.eval=[/tmp/eval.h5]"
  --set train.max_steps=300 --set train.eval_every=100)
echo "== 1 rank, NCCL backend"
$pride train "${common[@]}" --set run.dir=/tmp/nccl1 --set dist.backend=nccl 2>&1 | tee "$out/nccl1.log" | tail -6
echo "== 2 ranks sharing the GPU, MPI backend"
mpirun --allow-run-as-root --oversubscribe --bind-to none -n 2 $pride train "${common[@]}" \
  --set run.dir=/tmp/mpi2 --set dist.backend=mpi --set train.micro_batch_size=8 2>&1 \
  | tee "$out/mpi2.log" | tail -6
echo "== 1 rank, CPU on the same machine (reference)"
OMP_NUM_THREADS=16 $pride train "${common[@]}" --set run.dir=/tmp/cpu1 --set run.device=cpu \
  --set train.max_steps=100 2>&1 | tee "$out/cpu1.log" | tail -3
