#!/usr/bin/env bash
# `pride judge` on 2 ranks (docs/judge.md): every pair judged in both orders; the judge's
# probabilities of the answer labels equal the from-scratch Python forward within 1e-4, the
# verdicts follow the both-orders rule and the rates count them; swapping the files swaps wins and
# losses; a chat judge reads its template; bad response files are errors naming file and line.
source "$(dirname "$0")/lib/common.sh"
LIB="$REPO/tests/cli/lib"
REF="/usr/bin/python3 $LIB/hf_reference.py"
LABEL_REF="/usr/bin/python3 $LIB/label_reference.py"
NPM="${PRIDE_CACHE:-$HOME/.cache/pride}/npm"

$REF make-tokenizer "$WORK/judge" --merges "e r,t h,th e,i n" --special-config
$REF make "$WORK/judge" llama --vocab 300 --seed 3
"$PRIDE" data convert --from empathetic-dialogues \
  --in "$REPO/tests/data/dialogue/empathetic_dialogues.csv" --out "$WORK/ed.jsonl" >/dev/null
/usr/bin/python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
rows = [json.loads(l) for l in open(work + "/ed.jsonl")]
with open(work + "/gold.jsonl", "w") as a, open(work + "/short.jsonl", "w") as b:
    for r in rows:
        a.write(json.dumps({"id": r["id"], "response": r["response"]["text"]}) + "\n")
        b.write(json.dumps({"hypothesis_text": "That sounds hard. Tell me more?"}) + "\n")
PY
JUDGE=(--set "judge.model=$WORK/judge" --set "judge.input=$WORK/ed.jsonl" --set run.device=cpu
  --set judge.batch_size=2 --set judge.bootstrap=200)

mpi 2 judge "${JUDGE[@]}" --set "judge.a=$WORK/gold.jsonl" --set "judge.b=$WORK/short.jsonl" \
  --set "judge.out=$WORK/ab" >"$WORK/ab.log"
cat "$WORK/ab.log"
$LABEL_REF judge-texts "$WORK/ab/verdicts.jsonl" "$WORK/judge_texts.json"
if command -v node >/dev/null && "$REPO/scripts/install-references.sh"; then
  node "$LIB/encode_label_texts.js" "$NPM/node_modules/tokenizers" "$WORK/judge/tokenizer.json" \
    "$WORK/judge_texts.json" >"$WORK/judge_ids.json"
  check "the judge's probabilities equal the independent forward (1e-4); verdicts and rates follow" \
    $LABEL_REF judge-check "$WORK/judge_ids.json" "$WORK/ab/verdicts.jsonl" "$WORK/ab/metrics.json" \
    "$WORK/judge" 1e-4
else
  echo "SKIPPED: the reference check needs node and the pinned npm packages"
fi
mpi 2 judge "${JUDGE[@]}" --set "judge.a=$WORK/short.jsonl" --set "judge.b=$WORK/gold.jsonl" \
  --set "judge.out=$WORK/ba" >/dev/null
check "swapping the files swaps wins and losses, pair by pair" /usr/bin/python3 -c '
import json, sys
ab, ba = ([json.loads(l) for l in open(sys.argv[i] + "/verdicts.jsonl")] for i in (1, 2))
m_ab, m_ba = (json.load(open(sys.argv[i] + "/metrics.json")) for i in (1, 2))
swap = {"a": "b", "b": "a", "tie": "tie"}
ok = [swap[r["verdict"]] for r in ab] == [r["verdict"] for r in ba] and \
     abs(m_ab["win"]["rate"] - m_ba["loss"]["rate"]) < 1e-12 and \
     all(abs(x["p_a_first"] - (1 - y["p_a_second"])) < 1e-6 for x, y in zip(ab, ba))
print("verdicts", [r["verdict"] for r in ab], "| win", m_ab["win"], "| tie", m_ab["tie"]["rate"])
sys.exit(not ok)' "$WORK/ab" "$WORK/ba"

# A chat judge: the prompts are its template's user message.
/usr/bin/python3 - "$WORK/judge/tokenizer_config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["chat_template"] = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                           "{% if add_generation_prompt %}<|assistant|>{% endif %}")
json.dump(config, open(path, "w"))
PY
mpi 2 judge "${JUDGE[@]}" --set "judge.a=$WORK/gold.jsonl" --set "judge.b=$WORK/short.jsonl" \
  --set "judge.out=$WORK/chat" --set 'judge.system_prompt="Be fair."' >/dev/null
check "a chat judge's prompts are rendered in its template" /usr/bin/python3 -c '
import json, sys
row = json.loads(open(sys.argv[1]).readline())
p = row["prompt_a_first"]
sys.exit(not (p.startswith("<|system|>Be fair.\n<|user|>You judge") and p.endswith("<|assistant|>")))' \
  "$WORK/chat/verdicts.jsonl"

# Errors name the file and line.
head -n 3 "$WORK/short.jsonl" >"$WORK/three.jsonl"
check "a response file shorter than the input" expect_error "three.jsonl: 3 responses for the 5" \
  judge "${JUDGE[@]}" --set "judge.a=$WORK/gold.jsonl" --set "judge.b=$WORK/three.jsonl" \
  --set "judge.out=$WORK/bad"
echo '{"id": "another", "response": "hi"}' >"$WORK/wrong_id.jsonl"
check "an id that answers another dialogue" expect_error "wrong_id.jsonl:1: id \"another\"" \
  judge "${JUDGE[@]}" --set "judge.a=$WORK/wrong_id.jsonl" --set "judge.b=$WORK/short.jsonl" \
  --set "judge.out=$WORK/bad"
check "a line without the response field" expect_error "short.jsonl:1: no string field 'reply'" \
  judge "${JUDGE[@]}" --set "judge.a=$WORK/gold.jsonl" --set "judge.b=$WORK/short.jsonl" \
  --set judge.b_field=reply --set "judge.out=$WORK/bad"
