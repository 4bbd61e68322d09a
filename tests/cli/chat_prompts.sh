#!/usr/bin/env bash
# Chat templates in use (docs/chat-templates.md): `pride teach` with a tiny random teacher carrying
# Qwen2.5's published tokenizer_config.json and a student (model.init_from) carrying Llama 3.2's.
# The reasoning and scoring prompts the teacher is given are byte-identical to what Jinja2,
# configured as Hugging Face configures it, renders for [system, user] messages; the student's
# context is the dialogue's messages in the student's template, its ids that text with each special
# token one id (no BOS added to the template's), and the response follows without the " " prefix.
# teach.chat/model.chat off give the plain text prompts; the settings and the system prompt are in
# the run's fingerprint. A student trained on the chat contexts and exported is given the same
# prompts by `pride generate --checkpoint --chat`; `pride generate --model --chat` equals generate
# on the prompt Jinja2 renders (no second BOS where the tokenizer adds one). Bad input: exit 2, naming the file, line or template.
source "$(dirname "$0")/lib/common.sh"
LIB="$REPO/tests/cli/lib"
REF="/usr/bin/python3 $LIB/hf_reference.py"
CHAT_REF="/usr/bin/python3 $LIB/chat_reference.py"
TEMPLATES="$REPO/tests/chat/templates"
if ! /usr/bin/python3 -c "import jinja2" 2>/dev/null; then
  echo "SKIPPED: the reference needs python3-jinja2"
  exit 0
fi

model() {  # model DIR TOKENIZER_CONFIG [--bos]: a tiny random Llama with a chat tokenizer
  $REF make-tokenizer "$1" --merges "e r,t h,th e,i n" --special-config
  $CHAT_REF fixture "$@"
  $REF make "$1" llama --vocab 300 --seed 7 --layers 1
}
model "$WORK/teacher" "$TEMPLATES/qwen2.5/tokenizer_config.json"
model "$WORK/student" "$TEMPLATES/llama-3.2/tokenizer_config.json"
"$PRIDE" data convert --from empathetic-dialogues \
  --in "$REPO/tests/data/dialogue/empathetic_dialogues.csv" --out "$WORK/ed.jsonl" >/dev/null
TEACH=(--set "teach.teacher=$WORK/teacher" --set "teach.input=$WORK/ed.jsonl" --set teach.topk=4
  --set teach.reasoning_max_tokens=3 --set teach.batch_size=4 --set teach.progress_every_s=0
  --set run.device=cpu --set "model.init_from=$WORK/student")
stamp() { /usr/bin/python3 -c 'import h5py, sys; print(h5py.File(sys.argv[1], "r").attrs["teach_stamp"])' \
  "$1/shard-00000-of-00001.h5"; }

PRIDE_TEACH_PROMPTS="$WORK/chat_prompts" "$PRIDE" teach "${TEACH[@]}" --set "teach.out=$WORK/chat" \
  --set 'teach.system_prompt="You are a kind listener."' >/dev/null
check "chat: the teacher's prompts, the student's context and ids are Jinja2's rendering" \
  $CHAT_REF check-teach "$WORK/ed.jsonl" "$WORK/chat_prompts" "$WORK/chat" "$WORK/teacher" \
  "$WORK/student" "You are a kind listener."

PRIDE_TEACH_PROMPTS="$WORK/plain_prompts" "$PRIDE" teach "${TEACH[@]}" --set "teach.out=$WORK/plain" \
  --set teach.chat=off --set model.chat=off >/dev/null
/usr/bin/python3 "$LIB/teach_reference.py" texts "$WORK/ed.jsonl" "$WORK/texts.json"
check "off: the plain text prompts, as without a chat template" /usr/bin/python3 -c '
import json, sys
texts = json.load(open(sys.argv[1]))
logged = [json.loads(l) for l in open(sys.argv[2] + "/prompts-0.jsonl")]
ok = len(texts) == len(logged) and all(
    p["context"] == t["context"] == p["score_prompt"] and p["reasoning_prompt"] == t["reasoning_prompt"]
    for t, p in zip(texts, logged))
print(len(logged), "samples, prompts as documented:", ok)
sys.exit(not ok)' "$WORK/texts.json" "$WORK/plain_prompts"
check "the chat settings are in the fingerprint" test "$(stamp "$WORK/chat")" != "$(stamp "$WORK/plain")"
check "a finished chat run is not taken for a run with teach.chat off" \
  expect_error "holds a finished teach run of another configuration" teach "${TEACH[@]}" \
  --set "teach.out=$WORK/chat" --set teach.chat=off --set 'teach.system_prompt="You are a kind listener."'
check "... nor for one with another system prompt" \
  expect_error "holds a finished teach run of another configuration" teach "${TEACH[@]}" \
  --set "teach.out=$WORK/chat"
"$PRIDE" teach "${TEACH[@]}" --set "teach.out=$WORK/chat" \
  --set 'teach.system_prompt="You are a kind listener."' >"$WORK/again.log"
check "the same chat run is finished" grep -q "already holds this run's finished output" "$WORK/again.log"

# The student trains on the chat contexts; at inference, generate --chat gives it the same prompt.
"$PRIDE" train --config "$REPO/configs/tiny.yaml" --set "data.train=[$WORK/chat]" \
  --set "data.eval=[$WORK/chat]" --set "model.init_from=$WORK/student" --set model.memory_slots=4 \
  --set model.max_seq_len=512 \
  --set train.global_batch_size=4 --set train.micro_batch_size=4 --set train.max_steps=1 \
  --set train.lr=0 --set train.eval_every=0 --set checkpoint.every_steps=0 \
  --set "run.dir=$WORK/student_run" >/dev/null
mkdir "$WORK/export"
"$PRIDE" ckpt export "$WORK/student_run/checkpoints" --out "$WORK/export/student.safetensors" >/dev/null
$CHAT_REF student-prompts "$WORK/ed.jsonl" "$WORK/chat" "$WORK/dialogues.jsonl" "$WORK/contexts.jsonl"
"$PRIDE" generate --checkpoint "$WORK/export" --chat --in "$WORK/dialogues.jsonl" \
  --dump-logits "$WORK/student_chat.logits"
"$PRIDE" generate --checkpoint "$WORK/export" --in "$WORK/contexts.jsonl" \
  --dump-logits "$WORK/student_trained.logits"
check "generate --chat gives the exported student the contexts it trained on" \
  cmp "$WORK/student_chat.logits" "$WORK/student_trained.logits"

# A budget that cuts contexts: turns are dropped, a last turn too long alone loses the start of
# its text, and the template's frame stays whole (the same first and last ids as the full context).
"$PRIDE" teach "${TEACH[@]}" --set "teach.out=$WORK/short" --set teach.max_context_tokens=160 \
  >"$WORK/short.log"
check "chat: the rendered contexts fit teach.max_context_tokens, their frames whole" \
  /usr/bin/python3 -c '
import json, sys, h5py
def contexts(run):
    f = h5py.File(run + "/shard-00000-of-00001.h5", "r")
    c, tokens = f["samples/context_offsets"][...], f["samples/context"][...]
    return [list(tokens[c[i]:c[i + 1]]) for i in range(len(c) - 1)]
short, full = contexts(sys.argv[1]), contexts(sys.argv[2])
stats = json.loads(open(sys.argv[3]).read().split("teach-stats ")[1].splitlines()[0])
print("longest context", max(map(len, short)), "|", stats)
assert max(map(len, short)) <= 160 and stats["shortened_contexts"] > 0
for cut, whole in zip(short, full):
    assert cut[:6] == whole[:6] and cut[-6:] == whole[-6:], (cut, whole)' \
  "$WORK/short" "$WORK/chat" "$WORK/short.log"
check "a budget below the chat template's frame is an error naming the sample" \
  expect_error "sample 0): the chat template's frame alone is" teach "${TEACH[@]}" \
  --set "teach.out=$WORK/tiny" --set teach.max_context_tokens=60

# generate --chat: the conversation rendered and encoded as apply_chat_template(tokenize=True).
cat >"$WORK/conversations.jsonl" <<'JSON'
[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "I lost my keys today."}]

{"messages": [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "How are you?"}]}
JSON
$CHAT_REF render "$WORK/teacher/tokenizer_config.json" "$WORK/conversations.jsonl" "$WORK/rendered.jsonl"
GEN=(--max-new-tokens 5 --batch-size 2)
"$PRIDE" generate --model "$WORK/teacher" --chat --in "$WORK/conversations.jsonl" "${GEN[@]}" \
  >"$WORK/chat.out"
"$PRIDE" generate --model "$WORK/teacher" --in "$WORK/rendered.jsonl" "${GEN[@]}" >"$WORK/rendered.out"
check "generate --chat equals generate on the prompts Jinja2 renders" \
  cmp "$WORK/chat.out" "$WORK/rendered.out"
model "$WORK/llama" "$TEMPLATES/llama-3.2/tokenizer_config.json" --bos
$CHAT_REF render "$WORK/llama/tokenizer_config.json" "$WORK/conversations.jsonl" "$WORK/llama.jsonl"
sed -i 's/^{"prompt": "<|begin_of_text|>/{"prompt": "/' "$WORK/llama.jsonl"  # the tokenizer adds it
"$PRIDE" generate --model "$WORK/llama" --chat --in "$WORK/conversations.jsonl" \
  --dump-logits "$WORK/llama_chat.logits"
"$PRIDE" generate --model "$WORK/llama" --in "$WORK/llama.jsonl" --dump-logits "$WORK/llama.logits"
check "generate --chat: one BOS, the template's, where the tokenizer would add another" \
  cmp "$WORK/llama_chat.logits" "$WORK/llama.logits"

# Errors: exit 2, naming what is wrong.
$REF make-tokenizer "$WORK/plain_model" --special-config
$REF make "$WORK/plain_model" llama --vocab 300 --layers 1
check "generate --chat of a model without a chat template" \
  expect_error "has no chat template" generate --model "$WORK/plain_model" --chat \
  --in "$WORK/conversations.jsonl"
printf '%s\n' '[{"role": "user", "content": "Hi"}]' '[{"content": "no role"}]' >"$WORK/bad.jsonl"
check "generate --chat of a bad message list names the file and line" \
  expect_error "bad.jsonl:2: " generate --model "$WORK/teacher" --chat --in "$WORK/bad.jsonl"
check "generate --chat needs --in" \
  expect_error "give the conversations as --in FILE" generate --model "$WORK/teacher" --chat \
  --prompt "Hi"
mkdir "$WORK/unsupported"
cp "$WORK/teacher"/{config.json,model.safetensors,tokenizer.json} "$WORK/unsupported/"
echo '{"eos_token": "<|im_end|>", "chat_template": "{{ messages[0].content | wordcount }}"}' \
  >"$WORK/unsupported/tokenizer_config.json"
check "teach with an unsupported template construct names the template" \
  expect_error "tokenizer_config.json" teach "${TEACH[@]}" --set "teach.teacher=$WORK/unsupported" \
  --set "teach.out=$WORK/x"
check "generate --chat with it too" \
  expect_error "wordcount" generate --model "$WORK/unsupported" --chat --in "$WORK/conversations.jsonl"
check "model.chat takes auto or off" \
  expect_error "model.chat" teach "${TEACH[@]}" --set "teach.out=$WORK/x" --set model.chat=on
