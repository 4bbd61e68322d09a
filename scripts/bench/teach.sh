#!/usr/bin/env bash
# Teacher-pass throughput on the CPU (docs/teacher.md): `pride teach` at 1 and 2 ranks over
# synthetic dialogue text with a random ~20M-parameter Llama teacher (width 512, 6 layers, 4 heads /
# 2 KV heads, vocabulary 8192 of which a byte-level BPE tokenizer uses 261). Prints one JSON line
# per rank count: wall seconds, samples/s, and the teacher-forced scoring and reasoning-generation
# tokens/s summed over ranks (each rank's tokens over its own seconds in that phase), from the
# ranks' `teach-stats` lines. Builds nothing.
#
# Usage: scripts/bench/teach.sh [PRIDE_BINARY]     (default build/pride)
#   SAMPLES=64 REASONING_TOKENS=32 BATCH=8   samples, reasoning tokens generated per sample, batch
#   WIDTH=512 LAYERS=6 VOCAB=8192            the random teacher's shape
#   DEVICE=cpu DTYPE=fp32 RANKS="1 2"        e.g. on a GPU machine: DEVICE=cuda DTYPE=bf16 RANKS=1
#   PYTHON=/usr/bin/python3                  a python with torch
#                                            WIDTH=2048 LAYERS=16 VOCAB=32000 (~1B parameters)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
pride="$(realpath -m "${1:-$repo/build/pride}")"
samples="${SAMPLES:-64}"
python="${PYTHON:-/usr/bin/python3}"  # with torch (the random teacher) and json
ref="$python $repo/tests/cli/lib/hf_reference.py"
[[ -x "$pride" ]] || { echo "teach.sh: no pride binary at $pride (build it first)" >&2; exit 2; }
work="$(mktemp -d "${TMPDIR:-/tmp}/pride-bench-teach.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

$ref make-tokenizer "$work/teacher" --merges "e r,t h,th e,i n,o u,a n" --special-config
$ref make "$work/teacher" llama --width "${WIDTH:-512}" --layers "${LAYERS:-6}" \
  --vocab "${VOCAB:-8192}" --seed 1
"$python" - "$work/samples.jsonl" "$samples" <<'PY'
import json, random, sys
random.seed(0)
words = "i feel so tired today my friend never called back after the party and it hurts".split()
say = lambda n: " ".join(random.choice(words) for _ in range(n)).capitalize() + "."
with open(sys.argv[1], "w") as out:
    for i in range(int(sys.argv[2])):
        turns = [{"speaker": ("speaker", "listener")[t % 2], "text": say(random.randint(8, 16))}
                 for t in range(random.randint(1, 4))]
        out.write(json.dumps({"id": f"s{i}", "label_set": "empathetic-dialogues-32", "emotion": "sad",
                              "context": turns, "response": {"speaker": "listener", "text": say(12)},
                              "privileged": {"situation": say(10)}}) + "\n")
PY

for ranks in ${RANKS:-1 2}; do
  start=$(date +%s.%N)
  mpirun --oversubscribe --bind-to none -n "$ranks" "$pride" teach --set "teach.teacher=$work/teacher" \
    --set "teach.input=$work/samples.jsonl" --set "teach.out=$work/out$ranks" --set "run.device=${DEVICE:-cpu}" \
    --set "teach.dtype=${DTYPE:-fp32}" \
    --set teach.topk=20 --set "teach.reasoning_max_tokens=${REASONING_TOKENS:-32}" \
    --set "teach.batch_size=${BATCH:-8}" --set teach.progress_every_s=1000 >"$work/log$ranks"
  end=$(date +%s.%N)
  "$python" - "$work/log$ranks" "$ranks" "$start" "$end" "$samples" <<'PY'
import json, sys
stats = [json.loads(l.split(" ", 1)[1]) for l in open(sys.argv[1]) if l.startswith("teach-stats ")]
wall = float(sys.argv[4]) - float(sys.argv[3])
print(json.dumps({"ranks": int(sys.argv[2]), "samples": int(sys.argv[5]), "wall_s": round(wall, 2),
                  "samples_per_s": round(int(sys.argv[5]) / wall, 2),
                  "scoring_tokens_per_s": round(sum(s["scored_tokens"] / s["score_s"] for s in stats)),
                  "generation_tokens_per_s": round(sum(s["generated_tokens"] / s["generate_s"] for s in stats), 1),
                  "scored_tokens": sum(s["scored_tokens"] for s in stats),
                  "generated_tokens": sum(s["generated_tokens"] for s in stats)}))
PY
done
