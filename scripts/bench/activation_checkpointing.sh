#!/usr/bin/env bash
# What train.activation_checkpointing saves and costs on the CPU: a student whose activations
# dominate memory (tiny config widened to 8 layers x d_model 256, ~450-token dialogues, micro-batch
# 8), trained at 1 rank with and without it, each run REPEATS times interleaved. Prints the peak
# RSS of the whole process (/usr/bin/time -v, best run), the median step_time_s of steps 3-STEPS,
# and the process's CPU time (user + system, best run; steadier than wall time on a busy machine).
#   scripts/bench/activation_checkpointing.sh build/pride [REPEATS] [STEPS]
set -euo pipefail
pride=$(realpath "${1:-build/pride}")
repeats=${2:-2}
steps=${3:-10}
work=$(mktemp -d /tmp/pride-actckpt.XXXXXX)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
long=(--min-context 420 --max-context 460)
"$pride" data synth --out "$work/train.h5" --samples 256 --seed 1 "${long[@]}" >/dev/null
"$pride" data synth --out "$work/eval.h5" --samples 16 --seed 2 "${long[@]}" >/dev/null
for ((r = 0; r < repeats; ++r)); do
  for on in false true; do
    /usr/bin/time -v "$pride" train --config configs/tiny.yaml --set "data.train=[$work/train.h5]" \
      --set "data.eval=[$work/eval.h5]" --set model.n_layers=8 --set model.d_model=256 \
      --set model.n_heads=8 --set model.n_kv_heads=4 --set model.d_ff=688 \
      --set model.max_seq_len=512 --set train.global_batch_size=8 --set train.micro_batch_size=8 \
      --set "train.max_steps=$steps" --set train.eval_every=0 --set train.eval_samples=8 \
      --set run.log_every=1 --set checkpoint.every_steps=0 \
      --set "train.activation_checkpointing=$on" --set "run.dir=$work/${on}_$r" \
      >/dev/null 2>"$work/${on}_$r.time"
  done
done
/usr/bin/python3 - "$work" "$repeats" <<'PY'
import json, re, statistics, sys
work, repeats = sys.argv[1], int(sys.argv[2])
def figures(on):
    peak_kb, cpu_s, times = [], [], []
    for r in range(repeats):
        text = open(f"{work}/{on}_{r}.time").read()
        field = lambda name: float(re.search(name + r": ([\d.]+)", text)[1])
        peak_kb.append(field(r"Maximum resident set size \(kbytes\)"))
        cpu_s.append(field(r"User time \(seconds\)") + field(r"System time \(seconds\)"))
        rows = [json.loads(l) for l in open(f"{work}/{on}_{r}/metrics.jsonl") if '"loss"' in l]
        times += [row["step_time_s"] for row in rows if row["step"] >= 3]
    return min(peak_kb) / 1024, 1000 * statistics.median(times), min(cpu_s), rows[0]["input_tokens"]
off, on = figures("false"), figures("true")
print(f"input tokens per step: {off[3]:.0f}")
for name, (rss, ms, cpu, _) in (("off", off), ("on", on)):
    print(f"activation_checkpointing {name:3s}: peak RSS {rss:6.0f} MiB, {ms:7.1f} ms/step, "
          f"CPU {cpu:6.1f} s")
change = lambda i: f"{100 * (on[i] - off[i]) / off[i]:+.0f}%"
print(f"checkpointing: peak RSS {change(0)}, step time {change(1)}, CPU time {change(2)}")
PY
