#!/usr/bin/env bash
# Generation throughput on the CPU: `pride generate` greedy with the KV cache and without it
# (recomputing the prefix each step), batched and one prompt at a time, next to the independent
# Python reference's greedy loop (tests/cli/lib/hf_reference.py: full prefix each step, one prompt
# at a time, Debian's python3-torch). The model is a random ~20M-parameter Llama (width 512,
# 6 layers, 4 heads / 2 KV heads, vocabulary 8192, untied). Prints one JSON line per run (generated
# tokens/s); checks that every run generated the same tokens. Builds nothing.
#
# Usage: scripts/bench/generate.sh [PRIDE_BINARY]     (default build/pride)
#   PROMPTS=8 NEW_TOKENS=64   prompts (lengths 16..44) and tokens generated for each
#   OMP_NUM_THREADS           threads on both sides (default: torch's own choice)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
pride="$(realpath -m "${1:-$repo/build/pride}")"
prompts="${PROMPTS:-8}"
new_tokens="${NEW_TOKENS:-64}"
ref="/usr/bin/python3 $repo/tests/cli/lib/hf_reference.py"
[[ -x "$pride" ]] || { echo "generate.sh: no pride binary at $pride (build it first)" >&2; exit 2; }
work="$(mktemp -d "${TMPDIR:-/tmp}/pride-bench-generate.XXXXXX")"
trap 'rm -rf "$work"' EXIT

$ref make "$work/model" llama --width 512 --layers 6 --vocab 8192 --seed 1
/usr/bin/python3 - "$work/prompts.jsonl" "$prompts" <<'PY'
import json, random, sys
random.seed(0)
with open(sys.argv[1], "w") as out:
    for i in range(int(sys.argv[2])):
        out.write(json.dumps({"prompt_ids": [random.randrange(4, 8192) for _ in range(16 + 4 * i)]}) + "\n")
PY

run_pride() {  # run_pride NAME args...: one JSON line with the run's figures
  local name=$1
  shift
  "$pride" generate --model "$work/model" --in "$work/prompts.jsonl" --max-new-tokens "$new_tokens" \
    --stats --out "$work/$name.jsonl" "$@" 2>&1 >/dev/null | grep '^{' |
    sed "s/^{/{\"impl\":\"pride\",\"run\":\"$name\",/"
}
run_pride cache_batch8 --batch-size 8
run_pride cache_batch1 --batch-size 1
run_pride nocache_batch1 --batch-size 1 --no-cache
$ref greedy "$work/model" "$work/prompts.jsonl" "$new_tokens" "$work/python.jsonl" 2>&1 >/dev/null |
  sed 's/^{/{"run":"nocache_batch1",/'
/usr/bin/python3 - "$work" <<'PY'
import json, sys
runs = ["cache_batch8", "cache_batch1", "nocache_batch1", "python"]
ids = {r: [json.loads(l)["ids"] for l in open(f"{sys.argv[1]}/{r}.jsonl")] for r in runs}
same = all(ids[r] == ids["python"] for r in runs)
print(json.dumps({"same_tokens_everywhere": same}))
PY
