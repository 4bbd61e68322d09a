#!/usr/bin/env bash
# `pride teach` in its response modes on 2 ranks (teach.mode respond | improve, docs/dpo.md): the
# teacher's prompts are the documented direct and improvement prompts, its replies equal greedy
# generation by the independent Python forward from those prompts (encoded by Hugging Face's
# tokenizers), "reference" keeps the gold response and "original" the rewritten one; the four
# improvement sets ask for different things; a run killed after a part resumes on another world
# size into the same file; another configuration in the same directory is refused; `pride data
# pairs --from dialogues` makes (improved, original) pairs with the student's context.
source "$(dirname "$0")/lib/common.sh"
LIB="$REPO/tests/cli/lib"
REF="/usr/bin/python3 $LIB/hf_reference.py"
RESPONSE_REF="/usr/bin/python3 $LIB/response_reference.py"
NPM="${PRIDE_CACHE:-$HOME/.cache/pride}/npm"

$REF make-tokenizer "$WORK/teacher" --merges "e r,t h,th e,i n" --special-config
$REF make "$WORK/teacher" llama --vocab 261 --seed 7 --layers 1
"$PRIDE" data convert --from empathetic-dialogues \
  --in "$REPO/tests/data/dialogue/empathetic_dialogues.csv" --out "$WORK/ed.jsonl" >/dev/null
TEACH=(--set "teach.teacher=$WORK/teacher" --set teach.part_size=2 --set teach.batch_size=2
  --set teach.response_max_tokens=10 --set teach.progress_every_s=0 --set run.device=cpu)
teach() {  # teach RANKS MODE INPUT OUT [--set ...]: a response pass, prompts logged in OUT.prompts
  local ranks=$1 mode=$2 input=$3 out=$4
  shift 4
  PRIDE_TEACH_PROMPTS="$out.prompts" mpi "$ranks" teach "${TEACH[@]}" --set "teach.mode=$mode" \
    --set "teach.input=$input" --set "teach.out=$out" "$@" >/dev/null
}
replies() {  # replies OUT INPUT MODE: the written replies against the reference generation
  $RESPONSE_REF texts "$1.prompts" "$WORK/texts.json"
  node "$LIB/encode_label_texts.js" "$NPM/node_modules/tokenizers" "$WORK/teacher/tokenizer.json" \
    "$WORK/texts.json" >"$WORK/ids.json"
  $RESPONSE_REF check-replies "$WORK/teacher" "$WORK/ids.json" 10 "$2" "$1/responses.jsonl" "$3"
}

teach 2 respond "$WORK/ed.jsonl" "$WORK/respond"
check "respond: the teacher reads the documented direct prompt" \
  $RESPONSE_REF direct-prompts "$WORK/ed.jsonl" "$WORK/respond.prompts"
teach 2 improve "$WORK/respond/responses.jsonl" "$WORK/feeling"
check "improve: the prompt shows the dialogue and quotes the reply to improve" \
  $RESPONSE_REF improve-prompts "$WORK/respond/responses.jsonl" "$WORK/feeling.prompts"
if command -v node >/dev/null && "$REPO/scripts/install-references.sh"; then
  check "respond: replies equal the independent greedy generation; reference = gold" \
    replies "$WORK/respond" "$WORK/ed.jsonl" respond
  check "improve: replies equal the independent greedy generation; original and reference kept" \
    replies "$WORK/feeling" "$WORK/respond/responses.jsonl" improve
else
  echo "SKIPPED: the generation check needs node and the pinned npm packages"
fi
for set in situation invite warmth; do
  teach 2 improve "$WORK/respond/responses.jsonl" "$WORK/$set" --set "teach.improve_set=$set"
done
check "the four improvement sets ask for four different things" /usr/bin/python3 -c '
import json, sys
first = [json.loads(open(d + ".prompts/prompts-0.jsonl").readline())["prompt"] for d in sys.argv[1:]]
print([p.split("\n")[-2][:48] for p in first])
sys.exit(len(set(first)) != 4)' "$WORK/feeling" "$WORK/situation" "$WORK/invite" "$WORK/warmth"

# Resumable: killed after rank 0's first part, rerun on 1 rank; the same file as uninterrupted.
if PRIDE_INJECT_FAULT=teach_part:0:0:kill teach 2 improve "$WORK/respond/responses.jsonl" \
  "$WORK/resumed"; then
  echo "FAILED: the injected kill did not stop the run" >&2
  exit 1
fi
test ! -e "$WORK/resumed/responses.jsonl"
teach 1 improve "$WORK/respond/responses.jsonl" "$WORK/resumed"
check "improve: killed on 2 ranks, rerun on 1, the same responses as uninterrupted" \
  cmp "$WORK/feeling/responses.jsonl" "$WORK/resumed/responses.jsonl"
check "another configuration in the same directory is refused" \
  expect_error "holds the responses of another teach configuration" teach "${TEACH[@]}" \
  --set teach.mode=improve --set teach.improve_set=warmth \
  --set "teach.input=$WORK/respond/responses.jsonl" --set "teach.out=$WORK/feeling"
check "a direct prompt may not show the gold response" expect_error "teach.response_template" \
  teach "${TEACH[@]}" --set teach.mode=respond --set "teach.input=$WORK/ed.jsonl" \
  --set "teach.out=$WORK/bad" --set 'teach.response_template="{dialogue} {response}"'

# Pairs of (improved, original) replies with the student's context, as pride teach renders it.
"$PRIDE" data pairs --from dialogues --in "$WORK/feeling/responses.jsonl" \
  --tokenizer "$WORK/teacher" --out "$WORK/pairs.h5" >/dev/null
check "pairs --from dialogues: the student's context, the improved reply chosen, the original rejected" \
  $RESPONSE_REF check-pairs "$WORK/feeling/responses.jsonl" "$WORK/pairs.h5" "$WORK/teacher"
check "pairs --from dialogues needs an original or --rejected" expect_error 'has no "original"' \
  data pairs --from dialogues --in "$WORK/ed.jsonl" --tokenizer "$WORK/teacher" --out "$WORK/bad.h5"
printf '%s\n' '{"text": "I see."}' '{"text": "Oh no."}' >"$WORK/two.jsonl"
check "--rejected with another line count is refused" expect_error "responses for the" \
  data pairs --from dialogues --in "$WORK/ed.jsonl" --rejected "$WORK/two.jsonl" \
  --tokenizer "$WORK/teacher" --out "$WORK/bad.h5"
