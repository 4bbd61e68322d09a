#!/usr/bin/env bash
# The path from published dialogue data to a trained student, on the repository's fixtures
# (docs/teacher.md): EmpatheticDialogues CSV -> `pride data convert` -> `pride teach` on 2 ranks
# -> `pride data inspect` -> `pride train` -> `pride eval`. No machine here can download a teacher,
# so a tiny random Llama and a byte-level BPE tokenizer stand in for one, written in the Hugging
# Face layout by the tests' Python reference (needs Debian's python3-torch; a real run points
# teach.teacher at a model directory instead). Everything lands in runs/teach-example/.
#   scripts/teach_example.sh [RANKS]      (after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
RANKS=${1:-2}
OUT=runs/teach-example
PRIDE=${PRIDE_BIN:-build/pride}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$OUT" && mkdir -p "$OUT"

echo "== a stand-in teacher: tiny random Llama + byte-level BPE tokenizer in $OUT/teacher"
/usr/bin/python3 tests/cli/lib/hf_reference.py make-tokenizer "$OUT/teacher" \
  --merges "e r,t h,th e,i n" --special-config
/usr/bin/python3 tests/cli/lib/hf_reference.py make "$OUT/teacher" llama --vocab 261 --seed 7

echo "== convert"
"$PRIDE" data convert --from empathetic-dialogues \
  --in tests/data/dialogue/empathetic_dialogues.csv --out "$OUT/ed.jsonl"

echo "== teach on $RANKS ranks"
PRIDE_BIN=$PRIDE launch/pride-launch -n "$RANKS" teach --config configs/teach-ed.yaml \
  --set teach.reasoning_max_tokens=16 --set teach.batch_size=2 --set teach.part_size=2

echo "== inspect"
for shard in "$OUT"/taught/shard-*.h5; do "$PRIDE" data inspect "$shard" | head -n 4; done

echo "== train and evaluate (PI-free)"
PRIDE_BIN=$PRIDE launch/pride-launch -n "$RANKS" train --config configs/teach-ed.yaml
"$PRIDE" eval --config configs/teach-ed.yaml --checkpoint "$OUT/run/checkpoints"
