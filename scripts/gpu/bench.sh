#!/usr/bin/env bash
# The GPU measurement run, one command from the repository root on the GPU machine:
#   bash scripts/gpu/bench.sh [OUT_DIR]            (default: $OUT, else gpu-logs)
# 1. unpacks the carried Debian libraries (.deps, docs/gpu.md) into /opt/deps;
# 2. configures and builds pride and the MPI test binary against the CUDA LibTorch with NCCL;
# 3. runs the MPI/NCCL test binary at 1 rank;
# 4. makes synthetic data shaped for configs/gpu-*.yaml (vocab 16384, rows of ~1024 tokens);
# 5. per config (gpu-125m, gpu-350m) and precision (fp32, bf16; bf16 only where this build has
#    train.precision): pride for $STEPS steps, then the PyTorch peer (scripts/bench/pytorch_peer.py)
#    on the same data, sampling GPU memory with nvidia-smi;
# 6. after the first config: save and resume at 1 rank over NCCL (tiny config: 20 steps straight,
#    and 10 + resume to 20);
# 7. then gpu-125m bf16 with train.activation_checkpointing, and the teacher pass on a ~250M random
#    teacher (scripts/bench/teach.sh, 1 rank); then the operator count per step at gpu-125m
#    shapes (`pride bench step --ops`) and gpu-125m bf16 with train.micro_batch_size=auto;
# 8. prints a summary (tokens/s per GPU, MFU, step time, peak memory, pride/PyTorch ratio) and
#    leaves three files in OUT_DIR: summary.txt, bench.log and logs.tar.gz (every log and
#    metrics.jsonl).
# Every phase runs under `timeout`, and phases that would start after DEADLINE_S seconds are
# skipped, so that a hang costs one phase, not the machine's budget.
#
# Knobs (environment): STEPS=20 (timed runs; log every 5), CONFIGS="gpu-125m gpu-350m",
# PRECISIONS="fp32 bf16", PEER=1 (0: skip the PyTorch peer), PEER_COMPILE=1 (0: skip the peer under
# torch.compile at gpu-125m bf16), DEADLINE_S=450, BUILD_DIR=build-gpu,
# SKIP_BUILD=1 (reuse BUILD_DIR), PYTHON=python3.
# CPU=1 checks this script on a machine without a GPU: system libraries, device cpu, a tiny model
# and short rows, same phases (GPU-only steps report n/a).
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
out="$(realpath -m "${1:-${OUT:-gpu-logs}}")"
cpu="${CPU:-0}"
steps="${STEPS:-20}"
configs="${CONFIGS:-gpu-125m gpu-350m}"
precisions="${PRECISIONS:-fp32 bf16}"
peer="${PEER:-1}"
peer_compile="${PEER_COMPILE:-1}"
deadline="${DEADLINE_S:-450}"
build="${BUILD_DIR:-build-gpu}"
python="${PYTHON:-python3}"
work="$(mktemp -d /tmp/pride-bench.XXXXXX)"
logs="$work/logs"
mkdir -p "$out" "$logs"
exec > >(tee "$out/bench.log") 2>&1
started=$SECONDS

# phase NAME TIMEOUT_S COMMAND...: runs COMMAND under a timeout capped by what is left before the
# deadline, logging to $logs/NAME.log; prints one status line.
phase() {
  local name=$1 limit=$2
  shift 2
  local left=$((deadline - (SECONDS - started)))
  if ((left < 15)); then
    echo "== $name: skipped (deadline of ${deadline}s reached)"
    return 99
  fi
  ((limit > left)) && limit=$left
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" >"$logs/$name.log" 2>&1
  local rc=$?
  local verdict=ok
  ((rc == 124 || rc == 137)) && verdict="TIMED OUT after ${limit}s"
  ((rc != 0 && rc != 124 && rc != 137)) && verdict="FAILED (exit $rc)"
  echo "== $name: $verdict in $((SECONDS - t0))s"
  ((rc != 0)) && tail -n 15 "$logs/$name.log" | sed 's/^/   | /'
  return $rc
}

finish() {
  tar -czf "$out/logs.tar.gz" -C "$work" logs 2>/dev/null
  echo "== done in $((SECONDS - started))s; logs in $out"
}
trap finish EXIT

# --- 1. libraries ---------------------------------------------------------------------------------
if [[ $cpu == 1 ]]; then
  echo "== CPU mode: system libraries, device cpu, tiny shapes"
  device=cpu backend=mpi
elif [[ -d .deps ]]; then
  phase unpack 120 bash scripts/gpu/unpack-debs.sh .deps /opt/deps || exit 1
  source /opt/deps/env.sh
  device=cuda backend=nccl
else
  echo "== no .deps here: run scripts/gpu/fetch-debs.sh .deps on the CPU machine first" \
    "(docs/gpu.md); trying the machine's own libraries"
  device=cuda backend=nccl
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null \
  | sed 's/^/== GPU: /'
"$python" -c 'import torch; print("== python torch", torch.__version__, "cuda", torch.version.cuda)'

# --- 2. build -------------------------------------------------------------------------------------
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  prefix="$("$python" -c 'import torch;print(torch.utils.cmake_prefix_path)')"
  nccl=ON
  [[ $cpu == 1 ]] && nccl=OFF && prefix=""
  phase configure 120 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPRIDE_BUILD_TESTS=ON -DPRIDE_WITH_NCCL=$nccl \
    -DCMAKE_PREFIX_PATH="$prefix;${CMAKE_PREFIX_PATH:-}" || exit 1
  phase build 420 cmake --build "$build" -j "$(nproc)" --target pride pride_mpi_tests || exit 1
fi
pride="$repo/$build/pride"
[[ -x $pride ]] || { echo "== no pride binary at $pride"; exit 1; }

# --- 3. the communicator tests at 1 rank (NCCL ones included on a GPU) ----------------------------
mpirun=(mpirun --allow-run-as-root --oversubscribe --bind-to none -n 1)
phase mpi-tests-1-rank 120 "${mpirun[@]}" "$build/tests/pride_mpi_tests"
grep -aE "\[  (PASSED|FAILED)  \]|SKIPPED \].*tests?, listed" "$logs/mpi-tests-1-rank.log" |
  sed 's/^/   /'

# --- 4. data --------------------------------------------------------------------------------------
data="$work/data"
synth=(--vocab 16384 --topk 20 --hidden 1024 --audio-dim 64 --visual-dim 64
  --min-context 992 --max-context 1007)
shape=()  # overrides that every run (pride and peer) shares
if [[ $cpu == 1 ]]; then
  synth=(--vocab 1024 --topk 8 --hidden 64 --audio-dim 16 --visual-dim 16
    --min-context 40 --max-context 100)
  shape=(model.d_model=64 model.n_layers=2 model.n_heads=4 model.n_kv_heads=2 model.d_ff=128
    model.max_seq_len=128 model.memory_slots=4 train.micro_batch_size=2
    train.global_batch_size=4)
fi
mkdir -p "$data"
phase synth-train 120 "$pride" data synth --out "$data/train.h5" --samples 2048 --seed 1 \
  "${synth[@]}" || exit 1
phase synth-eval 60 "$pride" data synth --out "$data/eval.h5" --samples 64 --seed 2 "${synth[@]}" \
  || exit 1

sets() { for kv in "$@"; do printf -- '--set\n%s\n' "$kv"; done; }
mapfile -t shape_sets < <(sets "${shape[@]}")
common=(--set "data.train=[$data/train.h5]" --set "data.eval=[$data/eval.h5]"
  --set run.device=$device --set dist.backend=$backend --set train.eval_every=0
  --set train.eval_samples=32 --set run.log_every=5 --set checkpoint.every_steps=0
  --set train.max_steps=$steps "${shape_sets[@]}")
has_precision=0
grep -q '"train.precision"' src/config/config.cpp && has_precision=1

# GPU memory in use, sampled every 200 ms while $1 runs (max MiB into $logs/$1.mem).
sample_memory() {
  command -v nvidia-smi >/dev/null || return 0
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$logs/$1.mem" &
  echo $!
}

# The peak pride used for mfu (its metrics' peak_tflops), for the peer to use the same; 0: none.
pride_peak() {
  "$python" - "$logs" <<'PY'
import glob, json, sys
for path in sorted(glob.glob(sys.argv[1] + "/pride-*.metrics.jsonl")):
    for line in open(path):
        record = json.loads(line)
        if "peak_tflops" in record:
            print(record["peak_tflops"]); sys.exit()
print(0)
PY
}

# --- 5. pride and the PyTorch peer at a config and precision --------------------------------------
measure() {  # measure CONFIG PRECISION
  local config=$1 precision=$2 name="pride-$1-$2" sampler extra=()
  if [[ $precision != fp32 && $has_precision != 1 ]]; then
    echo "== $name: skipped (this build has no train.precision)"
  else
    [[ $precision != fp32 ]] && extra=(--set train.precision=$precision)
    sampler=$(sample_memory "$name")
    phase "$name" 150 "$pride" train --config "configs/$config.yaml" "${common[@]}" "${extra[@]}" \
      --set "run.dir=$work/$name"
    [[ -n $sampler ]] && kill "$sampler" 2>/dev/null
    cp "$work/$name/metrics.jsonl" "$logs/$name.metrics.jsonl" 2>/dev/null
  fi
  [[ $peer == 1 ]] || return 0
  run_peer "peer-$config-$precision" 150
  # Issue 22's goal is against the peer under torch.compile (gpu-125m bf16; compiling takes a
  # minute or two, so only there).
  if [[ $peer_compile == 1 && $config == gpu-125m && $precision == bf16 ]]; then
    run_peer "peer-compiled-$config-$precision" 300 --compile
  fi
}

# run_peer NAME TIMEOUT_S [ARGS...]: the PyTorch peer at measure()'s config and precision.
run_peer() {
  local name=$1 timeout_s=$2 sampler
  shift 2
  sampler=$(sample_memory "$name")
  phase "$name" "$timeout_s" "$python" scripts/bench/pytorch_peer.py --config "configs/$config.yaml" \
    --data "$data/train.h5" --device $device --precision $precision --steps "$steps" --warmup 5 \
    --peak-tflops "$(pride_peak)" "${shape_sets[@]}" "$@"
  [[ -n $sampler ]] && kill "$sampler" 2>/dev/null
}

# --- 6. save and resume at 1 rank over the chosen backend (tiny config: fast) ---------------------
resume_check() {
  local tiny=(--config configs/tiny.yaml --set "data.train=[$work/tiny-train.h5]"
    --set "data.eval=[$work/tiny-eval.h5]" --set run.device=$device --set dist.backend=$backend
    --set train.max_steps=20 --set train.eval_every=0 --set run.log_every=1)
  phase synth-tiny 60 "$pride" data synth --out "$work/tiny-train.h5" --samples 512 --seed 1 &&
    phase synth-tiny-eval 60 "$pride" data synth --out "$work/tiny-eval.h5" --samples 64 --seed 2 &&
    phase train-straight 120 "$pride" train "${tiny[@]}" --set "run.dir=$work/straight" &&
    phase train-stop-at-10 120 "$pride" train "${tiny[@]}" --set "run.dir=$work/sliced" \
      --set train.stop_at_step=10 &&
    phase resume-to-20 120 "$pride" train "${tiny[@]}" --set "run.dir=$work/sliced" --resume auto &&
    grep -h "resumed at step" "$logs/resume-to-20.log" | sed 's/^/   /'
  cp "$work/straight/metrics.jsonl" "$logs/resume-straight.metrics.jsonl" 2>/dev/null
  cp "$work/sliced/metrics.jsonl" "$logs/resume-sliced.metrics.jsonl" 2>/dev/null
}

# Most important first, so that a slow build or machine loses the least: the first config, the
# NCCL save/resume path, then the other configs.
first=1
for config in $configs; do
  for precision in $precisions; do measure "$config" "$precision"; done
  [[ $first == 1 ]] && resume_check
  first=0
done

# --- 7. added later: activation checkpointing, and the teacher pass ------------------------------
later_features() {
  local name=pride-gpu-125m-bf16-ckpt sampler teacher=(WIDTH=1024 LAYERS=12 VOCAB=32000 SAMPLES=256)
  [[ $cpu == 1 ]] && teacher=(WIDTH=128 LAYERS=2 VOCAB=1024 SAMPLES=16)
  sampler=$(sample_memory "$name")
  phase "$name" 150 "$pride" train --config configs/gpu-125m.yaml "${common[@]}" \
    --set train.precision=bf16 --set train.activation_checkpointing=true --set "run.dir=$work/$name"
  [[ -n $sampler ]] && kill "$sampler" 2>/dev/null
  cp "$work/$name/metrics.jsonl" "$logs/$name.metrics.jsonl" 2>/dev/null
  phase teach-bench 300 env PYTHON="$python" DEVICE=$device DTYPE=bf16 RANKS=1 BATCH=32 \
    REASONING_TOKENS=64 "${teacher[@]}" scripts/bench/teach.sh "$pride"
}
grep -q '"train.activation_checkpointing"' src/config/config.cpp && later_features

# --- 7b. operators per step and the auto micro-batch (issue 22) ----------------------------------
# The operator count of one bench step at gpu-125m shapes (the bench runs on the CPU; on LibTorch
# 2.x the fused attention and RMSNorm count differently from 1.13), with every operator in order
# in ops-gpu-125m-sequence.tsv (phase, autograd node, operator) to attribute it, then gpu-125m bf16 with
# train.micro_batch_size=auto (the probe's choice in its log) and train.count_ops.
ops_and_auto() {
  local name=pride-gpu-125m-bf16-auto sampler ops_shape=(--set model.vocab_size=16384)
  [[ $cpu == 1 ]] && ops_shape=("${shape_sets[@]}")
  phase ops-gpu-125m 300 "$pride" bench step --config configs/gpu-125m.yaml "${ops_shape[@]}" --ops \
    --ops-sequence "$logs/ops-gpu-125m-sequence.tsv"
  grep -aE '^(operator|all operators|host syncs)' "$logs/ops-gpu-125m.log" | sed 's/^/   /'
  sampler=$(sample_memory "$name")
  phase "$name" 200 "$pride" train --config configs/gpu-125m.yaml "${common[@]}" \
    --set train.precision=bf16 --set train.micro_batch_size=auto --set train.count_ops=true \
    --set "run.dir=$work/$name"
  [[ -n $sampler ]] && kill "$sampler" 2>/dev/null
  grep -ah "micro_batch_size auto" "$logs/$name.log" | sed 's/^/   /'
  cp "$work/$name/metrics.jsonl" "$logs/$name.metrics.jsonl" 2>/dev/null
}
grep -q '"train.count_ops"' src/config/config.cpp && ops_and_auto

# --- 8. summary -----------------------------------------------------------------------------------
"$python" - "$logs" "$configs" "$precisions" <<'PY' | tee "$out/summary.txt"
import glob, json, os, statistics, sys
logs, configs, precisions = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()

def peak_gib(name):
    path = f"{logs}/{name}.mem"
    values = [float(v) for v in open(path).read().split() if v.strip()] if os.path.exists(path) else []
    return max(values) / 1024 if values else None

def pride_row(name):
    path = f"{logs}/{name}.metrics.jsonl"
    if not os.path.exists(path):
        return None
    rows = [json.loads(l) for l in open(path)]
    rows = [r for r in rows if "tokens_per_s_per_gpu" in r][1:]  # the first window warms up
    if not rows:
        return None
    med = lambda key: statistics.median(r[key] for r in rows) if key in rows[0] else None
    return {"tokens_per_s_per_gpu": med("tokens_per_s_per_gpu"), "mfu": med("mfu"),
            "step_ms": 1e3 * med("step_time_s"), "loss": rows[-1]["loss"]}

def peer_row(name):
    path = f"{logs}/{name}.log"
    lines = [l for l in open(path) if l.startswith("{")] if os.path.exists(path) else []
    if not lines:
        return None
    r = json.loads(lines[-1])
    return {"tokens_per_s_per_gpu": r["tokens_per_s_per_gpu"], "mfu": r.get("mfu"),
            "step_ms": r["step_ms"], "loss": r["final_loss"]}

fmt = lambda v, spec: "n/a" if v is None else format(v, spec)
print(f"{'run':<28} {'tokens/s/GPU':>12} {'MFU':>6} {'step ms':>8} {'peak GiB':>8} {'loss':>7}")
for config in configs:
    for precision in precisions:
        pair = {}
        for impl, read in (("pride", pride_row), ("peer", peer_row),
                           ("peer-compiled", peer_row)):
            name = f"{impl}-{config}-{precision}"
            row = read(name)
            pair[impl] = row
            if row is None:
                if impl != "peer-compiled":  # run at gpu-125m bf16 only
                    print(f"{name:<28} {'(no result)':>12}")
                continue
            print(f"{name:<28} {row['tokens_per_s_per_gpu']:12.0f} {fmt(row['mfu'], '6.1%')}"
                  f" {row['step_ms']:8.1f} {fmt(peak_gib(name), '8.1f')} {row['loss']:7.3f}")
        for impl, label in (("peer", "PyTorch"), ("peer-compiled", "compiled")):
            if pair["pride"] and pair[impl]:
                ratio = pair["pride"]["tokens_per_s_per_gpu"] / pair[impl]["tokens_per_s_per_gpu"]
                print(f"{'  pride/' + label + ' tokens/s':<28} {ratio:12.2f}")
for name in ("pride-gpu-125m-bf16-ckpt", "pride-gpu-125m-bf16-auto"):
    row = pride_row(name)
    if row:
        print(f"{name:<28} {row['tokens_per_s_per_gpu']:12.0f} {fmt(row['mfu'], '6.1%')}"
              f" {row['step_ms']:8.1f} {fmt(peak_gib(name), '8.1f')} {row['loss']:7.3f}")
ops_log = f"{logs}/ops-gpu-125m.log"
for line in open(ops_log) if os.path.exists(ops_log) else []:
    if line.startswith("{"):
        record = json.loads(line)
        print("ops per bench step (gpu-125m shapes):", json.dumps(record.get("ops")),
              "host syncs:", json.dumps(record.get("host_syncs")),
              "dispatches at any depth:", json.dumps(record.get("dispatches")))
for line in open(f"{logs}/teach-bench.log") if os.path.exists(f"{logs}/teach-bench.log") else []:
    if line.startswith('{"ranks"'):
        print("teach", line.strip())
for name in ("resume-straight", "resume-sliced"):
    path = f"{logs}/{name}.metrics.jsonl"
    if os.path.exists(path):
        last = [json.loads(l) for l in open(path) if '"loss"' in l][-1]
        print(f"{name:<28} step {last['step']} loss {last['loss']:.6f}")
PY
