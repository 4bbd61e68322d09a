#!/usr/bin/env bash
# HEF end to end on the repository's EmpatheticDialogues fixture (docs/hef.md), with a tiny random
# Llama and a byte-level BPE tokenizer standing in for the large model (written in the Hugging Face
# layout by the tests' Python reference, which needs Debian's python3-torch):
#   teach (the teacher's emotion by label scoring) -> train a student: the plug-in -> teach with the
#   plug-in and the HEF prompts (its cause words become the PI source emotion_cause) -> train a new
#   student with emotion KD and that PI -> `pride hef`: the large model with and without the
#   plug-in, with emotion accuracy, macro-F1 and generation metrics.
#   scripts/hef_example.sh [RANKS]      (after scripts/build.sh; OUT=DIR moves runs/hef-example)
set -euo pipefail
cd "$(dirname "$0")/.."
RANKS=${1:-2}
OUT=${OUT:-runs/hef-example}
PRIDE=${PRIDE_BIN:-build/pride}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$OUT" && mkdir -p "$OUT"
run() {  # run COMMAND [--set ...]: on RANKS ranks, configs/hef-ed.yaml with this example's paths
  local command=$1
  shift
  PRIDE_BIN=$PRIDE launch/pride-launch -n "$RANKS" "$command" --config configs/hef-ed.yaml \
    --set "teach.teacher=$OUT/teacher" --set "teach.input=$OUT/ed.jsonl" \
    --set "model.tokenizer=$OUT/teacher" --set teach.part_size=2 "$@"
}

echo "== a stand-in teacher in $OUT/teacher, and the fixture as dialogue JSONL"
/usr/bin/python3 tests/cli/lib/hf_reference.py make-tokenizer "$OUT/teacher" \
  --merges "e r,t h,th e,i n" --special-config
/usr/bin/python3 tests/cli/lib/hf_reference.py make "$OUT/teacher" llama --vocab 261 --seed 7
"$PRIDE" data convert --from empathetic-dialogues \
  --in tests/data/dialogue/empathetic_dialogues.csv --out "$OUT/ed.jsonl"

echo "== 1. teach: reasoning PI, top-K, hidden states and the teacher's emotion distribution"
run teach --set "teach.out=$OUT/taught"

echo "== 2. train the plug-in: a student with an emotion head over the 32 labels"
run train --set "data.train=[$OUT/taught]" --set "data.eval=[$OUT/taught]" \
  --set "run.dir=$OUT/plugin"

echo "== 3. teach with the plug-in: HEF prompts, cause words as the PI source emotion_cause"
PRIDE_TEACH_PROMPTS="$OUT/prompts" run teach --set "teach.out=$OUT/taught-hef" \
  --set "teach.plugin=$OUT/plugin/checkpoints" --set teach.prompt_set=hef
head -n 1 "$OUT/prompts/prompts-0.jsonl" | /usr/bin/python3 -c \
  'import json, sys; r = json.loads(sys.stdin.read()); print("candidates:", r["emotion_candidates"], "| cause words:", r["cause_words"])'
"$PRIDE" data inspect "$OUT/taught-hef/shard-00000-of-0000$RANKS.h5" | grep -E "teacher|privileged"

echo "== 4. train a new student with emotion KD and the cause-word PI; evaluate it PI-free"
run train --set "data.train=[$OUT/taught-hef]" --set "data.eval=[$OUT/taught-hef]" \
  --set "run.dir=$OUT/student"
"$PRIDE" eval --config configs/hef-ed.yaml --set "model.tokenizer=$OUT/teacher" \
  --set "data.eval=[$OUT/taught-hef]" --checkpoint "$OUT/student/checkpoints"

echo "== 5. pride hef: the large model with and without the plug-in"
run hef --set "teach.plugin=$OUT/plugin/checkpoints" --set "hef.out=$OUT/report" >/dev/null
cat "$OUT/report/metrics.json"
