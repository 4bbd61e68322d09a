#!/usr/bin/env bash
# One training step of the tiny config in C++ (`pride bench step`) next to the same model and step
# in Python PyTorch (scripts/bench/reference_step.py, Debian's python3-torch), and their ratio
# python step time / C++ step time (> 1: C++ is faster). Builds nothing.
#
# Usage: scripts/bench/step_vs_python.sh [PRIDE_BINARY]    (default build/pride)
#   CONFIG=configs/tiny.yaml  the config both sides read
#   REPEATS=1                 pairs of runs, alternated; the ratio uses each side's best median
#                             (the least disturbed run on a shared machine)
#   OMP_NUM_THREADS           unset: torch's default on both sides (the same system LibTorch
#                             decides; 1 on the 2-vCPU dev machine); set: that many on both
# Prints each run's JSON line, then one JSON summary line.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
pride="$(realpath -m "${1:-$repo/build/pride}")"
config="${CONFIG:-configs/tiny.yaml}"
repeats="${REPEATS:-1}"
cd "$repo"

[[ -x "$pride" ]] || { echo "step_vs_python: no pride binary at $pride (build it first)" >&2; exit 2; }

# Debian's python3-torch lives under /usr/bin/python3, which a python3 earlier in PATH may hide.
python=python3
if ! "$python" -c 'import torch' 2>/dev/null; then
  if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    echo "step_vs_python: installing python3-torch" >&2
    apt-get install -y python3-torch >&2 || { apt-get update >&2 && apt-get install -y python3-torch >&2; }
  fi
  python=/usr/bin/python3
fi

runs=()
for ((i = 0; i < repeats; ++i)); do
  cpp="$("$pride" bench step --config "$config" | grep '^{' | tail -n 1)"
  py="$("$python" scripts/bench/reference_step.py --config "$config" | grep '^{' | tail -n 1)"
  echo "$cpp"
  echo "$py"
  runs+=("$cpp" "$py")
done

printf '%s\n' "${runs[@]}" | "$python" -c '
import json, sys
runs = [json.loads(line) for line in sys.stdin]
best = {impl: min((r for r in runs if r["impl"] == impl), key=lambda r: r["step_ms_median"])
        for impl in ("cpp", "python")}
cpp, py = best["cpp"], best["python"]
counts = (cpp["num_parameters"], py["num_parameters"])
if counts[0] != counts[1]:
    sys.exit("step_vs_python: parameter counts differ: C++ %d, Python %d" % counts)
if cpp["threads"] != py["threads"]:
    print("step_vs_python: warning: C++ ran %d threads, Python %d; set OMP_NUM_THREADS to compare"
          " like with like" % (cpp["threads"], py["threads"]), file=sys.stderr)
print(json.dumps({
    "cpp_step_ms": round(cpp["step_ms_median"], 3),
    "cpp_tokens_per_s": round(cpp["tokens_per_s"], 1),
    "cpp_cpu_ms": round(cpp["cpu_ms_median"], 3),
    "cpp_threads": cpp["threads"],
    "python_step_ms": round(py["step_ms_median"], 3),
    "python_tokens_per_s": round(py["tokens_per_s"], 1),
    "python_cpu_ms": round(py["cpu_ms_median"], 3),
    "python_threads": py["threads"],
    "ratio_python_over_cpp": round(py["step_ms_median"] / cpp["step_ms_median"], 3),
    "num_parameters": cpp["num_parameters"],
    "repeats": len(runs) // 2,
}))
'
