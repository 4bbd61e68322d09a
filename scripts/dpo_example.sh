#!/usr/bin/env bash
# The SFT -> DPO recipe end to end on the repository's EmpatheticDialogues fixture (docs/dpo.md),
# with tiny random Llamas and a byte-level BPE tokenizer standing in for the teacher and the
# student (written in the Hugging Face layout by the tests' Python reference, which needs Debian's
# python3-torch):
#   the teacher writes each reply (teach.mode respond), then improves it with a targeted empathy
#   prompt (teach.mode improve) -> pairs (improved vs the direct reply) -> SFT on the improved
#   replies -> the SFT student generates -> pairs (improved vs the student's own reply) -> DPO from
#   the SFT student -> both students generate -> `pride judge`: the DPO student against the SFT one.
#   scripts/dpo_example.sh [RANKS]      (after scripts/build.sh; OUT=DIR moves runs/dpo-example)
set -euo pipefail
cd "$(dirname "$0")/.."
RANKS=${1:-2}
OUT=${OUT:-runs/dpo-example}
PRIDE=${PRIDE_BIN:-build/pride}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$OUT" && mkdir -p "$OUT"
run() {  # run COMMAND [--set ...]: on RANKS ranks, configs/dpo-ed.yaml with this example's paths
  local command=$1
  shift
  PRIDE_BIN=$PRIDE launch/pride-launch -n "$RANKS" "$command" --config configs/dpo-ed.yaml \
    --set "teach.teacher=$OUT/teacher" --set "teach.input=$OUT/ed.jsonl" --set teach.part_size=2 \
    --set "model.init_from=$OUT/student" --set "judge.model=$OUT/teacher" \
    --set "judge.input=$OUT/improve/responses.jsonl" "$@"
}
pairs() {  # pairs OUT.h5 [--rejected FILE]: the improved replies against another response
  local out=$1
  shift
  "$PRIDE" data pairs --from dialogues --in "$OUT/improve/responses.jsonl" --tokenizer "$OUT/student" \
    --vocab-size 261 --out "$out" "$@"
}
generate() {  # generate CHECKPOINT OUT.jsonl: a student's replies to the pairs' prompts
  "$PRIDE" generate --checkpoint "$1" --data "$OUT/pairs.h5" --tokenizer "$OUT/student" \
    --max-new-tokens 24 --out "$2"
}

echo "== a stand-in teacher and student (one tokenizer), and the fixture as dialogue JSONL"
for model in teacher:7:2 student:3:1; do
  IFS=: read -r name seed layers <<<"$model"
  /usr/bin/python3 tests/cli/lib/hf_reference.py make-tokenizer "$OUT/$name" \
    --merges "e r,t h,th e,i n" --special-config
  /usr/bin/python3 tests/cli/lib/hf_reference.py make "$OUT/$name" llama --vocab 261 \
    --seed "$seed" --layers "$layers"
done
"$PRIDE" data convert --from empathetic-dialogues \
  --in tests/data/dialogue/empathetic_dialogues.csv --out "$OUT/ed.jsonl"

echo "== 1. the teacher replies to each dialogue, then improves its reply (improve_set feeling)"
run teach --set teach.mode=respond --set "teach.out=$OUT/respond"
run teach --set teach.mode=improve --set "teach.input=$OUT/respond/responses.jsonl" \
  --set "teach.out=$OUT/improve"
head -n 1 "$OUT/improve/responses.jsonl" | /usr/bin/python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print("gold:", r["reference"], "| direct:", r["original"], "| improved:", r["response"]["text"])'

echo "== 2. pairs: the improved reply chosen, the direct one rejected; SFT on the chosen"
pairs "$OUT/pairs.h5"
run train --set train.objective=sft --set "data.train=[$OUT/pairs.h5]" \
  --set "data.eval=[$OUT/pairs.h5]" --set "run.dir=$OUT/sft"

echo "== 3. the SFT student replies; DPO pairs with its own reply rejected; DPO from the SFT student"
generate "$OUT/sft/checkpoints" "$OUT/sft-replies.jsonl"
pairs "$OUT/pairs-student.h5" --rejected "$OUT/sft-replies.jsonl"
run train --set train.objective=dpo --set "model.init_from=$OUT/sft/checkpoints" \
  --set "data.train=[$OUT/pairs-student.h5]" --set "data.eval=[$OUT/pairs-student.h5]" \
  --set "run.dir=$OUT/dpo"

echo "== 4. pride judge: the DPO student's replies against the SFT student's"
generate "$OUT/dpo/checkpoints" "$OUT/dpo-replies.jsonl"
run judge --set "judge.a=$OUT/dpo-replies.jsonl" --set "judge.b=$OUT/sft-replies.jsonl" \
  --set "judge.out=$OUT/judge" >/dev/null
cat "$OUT/judge/metrics.json"
