#!/usr/bin/env bash
# `pride teach` end to end (docs/teacher.md): EmpatheticDialogues fixture -> data convert -> teach
# on 2 ranks with a tiny random Llama teacher (an embedding larger than its byte-level BPE
# tokenizer's vocabulary, as real models pad theirs) -> data inspect ->
# train -> eval. The stored ids equal Hugging Face's own tokenizers on the documented templates,
# the reasoning equals the reference's greedy continuation, and the top-K and hidden states equal
# the from-scratch Python forward (1e-4). Then resumption (a rank killed after a part, rerun on
# another world size gives the same files), a finished run left alone, and the errors.
source "$(dirname "$0")/lib/common.sh"
LIB="$REPO/tests/cli/lib"
REF="/usr/bin/python3 $LIB/hf_reference.py"
TEACH_REF="/usr/bin/python3 $LIB/teach_reference.py"
NPM="${PRIDE_CACHE:-$HOME/.cache/pride}/npm"

$REF make-tokenizer "$WORK/teacher" --merges "e r,t h,th e,i n" --special-config
$REF make "$WORK/teacher" llama --vocab 300 --seed 7  # 39 embedding rows past the 261 tokens
"$PRIDE" data convert --from empathetic-dialogues \
  --in "$REPO/tests/data/dialogue/empathetic_dialogues.csv" --out "$WORK/ed.jsonl" >/dev/null
TEACH=(--set "teach.teacher=$WORK/teacher" --set "teach.input=$WORK/ed.jsonl" --set teach.topk=8
  --set teach.reasoning_max_tokens=6 --set teach.batch_size=2 --set teach.part_size=2
  --set teach.hidden_tokens=true --set teach.progress_every_s=0 --set run.device=cpu)

mpi 2 teach "${TEACH[@]}" --set "teach.out=$WORK/taught" >"$WORK/teach.log"
cat "$WORK/teach.log"
check "2 ranks wrote one shard each and the manifest" test -f "$WORK/taught/manifest.json" -a \
  -f "$WORK/taught/shard-00000-of-00002.h5" -a -f "$WORK/taught/shard-00001-of-00002.h5" -a \
  ! -e "$WORK/taught/parts"
for shard in "$WORK"/taught/shard-*.h5; do
  check "data inspect accepts $(basename "$shard")" "$PRIDE" data inspect "$shard" >/dev/null
done

# The reference: texts rendered from the documented templates, tokenized by HF tokenizers.
$TEACH_REF texts "$WORK/ed.jsonl" "$WORK/texts.json"
if command -v node >/dev/null && "$REPO/scripts/install-references.sh"; then
  node - "$NPM/node_modules/tokenizers" "$WORK/teacher/tokenizer.json" "$WORK/texts.json" \
    >"$WORK/ids.json" <<'JS'
const fs = require("fs");
const [modules, file, texts] = process.argv.slice(2);
const { Tokenizer } = require(modules);
(async () => {
  const tokenizer = Tokenizer.fromFile(file);
  const encode = async (text, addSpecialTokens) =>
    (await tokenizer.encodeBatch([text], { addSpecialTokens }))[0].getIds();
  const out = [];
  for (const job of JSON.parse(fs.readFileSync(texts, "utf8"))) {
    const privileged = {};
    for (const [name, text] of Object.entries(job.privileged)) privileged[name] = await encode(text, false);
    out.push({ context: await encode(job.context, true), response: await encode(job.response, false),
               reasoning_prompt: await encode(job.reasoning_prompt, true), privileged });
  }
  process.stdout.write(JSON.stringify(out));
})();
JS
  check "ids, reasoning, top-K and hidden states equal the independent reference (1e-4)" \
    $TEACH_REF check "$WORK/ed.jsonl" "$WORK/texts.json" "$WORK/ids.json" "$WORK/taught" \
    "$WORK/teacher" 6 261 1e-4
else
  echo "SKIPPED: the reference check needs node and the pinned npm packages"
fi

# The student trains on the taught shards and is evaluated without PI.
STUDENT=(--config "$REPO/configs/tiny.yaml" --set "data.train=[$WORK/taught]"
  --set "data.eval=[$WORK/taught]" --set model.d_model=32 --set model.n_heads=4
  --set model.n_kv_heads=2 --set model.d_ff=64 --set model.memory_slots=4
  --set train.global_batch_size=4 --set train.micro_batch_size=2 --set train.max_steps=4
  --set train.warmup_steps=1 --set train.eval_every=0 --set run.log_every=1
  --set checkpoint.every_steps=0 --set "run.dir=$WORK/run" --set "model.tokenizer=$WORK/teacher")
mpi 2 train "${STUDENT[@]}" >/dev/null
check "the student trained on the taught data: every loss term finite" /usr/bin/python3 -c '
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if "loss" in l]
terms = ("loss", "ce", "rkl", "mmd", "emotion_ce")
ok = rows and all(math.isfinite(r[t]) for r in rows for t in terms if t in r)
print(len(rows), "logged steps, last loss", rows[-1]["loss"] if rows else None)
sys.exit(not ok)' "$WORK/run/metrics.jsonl"
"$PRIDE" eval "${STUDENT[@]}" --checkpoint "$WORK/run/checkpoints" >"$WORK/eval.json"
check "eval of the student without PI" grep -q '"eval_ppl"' "$WORK/eval.json"
"$PRIDE" eval "${STUDENT[@]}" --checkpoint "$WORK/run/checkpoints" --generate \
  --set eval.max_new_tokens=8 --out "$WORK/generated" >/dev/null
check "the student talks: responses decoded with the shared tokenizer, scored on words" \
  /usr/bin/python3 -c '
import json, sys
metrics = json.load(open(sys.argv[1] + "/metrics.json"))
rows = [json.loads(l) for l in open(sys.argv[1] + "/responses.jsonl")]
references = {" " + json.loads(l)["response"]["text"] for l in open(sys.argv[2])}
print(metrics["scored_on"], len(rows), "responses, e.g.", repr(rows[0]["hypothesis_text"]))
sys.exit(not (metrics["scored_on"] == "words" and len(rows) == 5
              and all(r["reference_text"].strip() in {t.strip() for t in references} for r in rows)))' \
  "$WORK/generated" "$WORK/ed.jsonl"
$REF make-tokenizer "$WORK/other_tokenizer" --merges "a n,o n" --special-config
check "a student whose tokenizer is not the data's refuses it" \
  expect_error "the data set was tokenized by" train "${STUDENT[@]}" \
  --set "model.tokenizer=$WORK/other_tokenizer"

# Length budgets: the oldest turns go first, a long response is cut and keeps its eos.
"$PRIDE" teach "${TEACH[@]}" --set "teach.out=$WORK/short" --set teach.max_context_tokens=40 \
  --set teach.max_response_tokens=6 >"$WORK/short.log"
check "contexts and responses fit their budgets" /usr/bin/python3 -c '
import json, sys, h5py
f = h5py.File(sys.argv[1] + "/shard-00000-of-00001.h5", "r")
c, r = f["samples/context_offsets"][...], f["samples/response_offsets"][...]
eos = int(f.attrs["eos_id"])
responses = [f["samples/response"][r[i]:r[i + 1]].tolist() for i in range(len(r) - 1)]
stats = json.loads(open(sys.argv[2]).read().split("teach-stats ")[1].splitlines()[0])
print("longest context", max(c[1:] - c[:-1]), "| longest response", max(map(len, responses)), "|", stats)
sys.exit(not (max(c[1:] - c[:-1]) <= 40 and all(len(x) <= 6 and x[-1] == eos for x in responses)
              and stats["shortened_contexts"] > 0 and stats["cut_responses"] > 0))' \
  "$WORK/short" "$WORK/short.log"

# teach.score_template: written like the context it scores exactly the default targets; with the
# reasoning in it the teacher scores after its own reasoning, while what the student sees stays.
"$PRIDE" teach "${TEACH[@]}" --set "teach.out=$WORK/score_default" >/dev/null
for variant in same:"{dialogue}{speaker}:" reasoning:"{dialogue}({speaker} thinks: {reasoning})\n{speaker}:"; do
  "$PRIDE" teach "${TEACH[@]}" --set "teach.out=$WORK/score_${variant%%:*}" \
    --set "teach.score_template=\"${variant#*:}\"" >/dev/null
done
check "the scoring template decides the teacher's prompt, not the student's context" /usr/bin/python3 -c '
import sys, h5py, numpy as np
read = lambda d: h5py.File(d + "/shard-00000-of-00001.h5", "r")
default, same, reasoning = (read(sys.argv[1] + "/" + d) for d in ("score_default", "score_same", "score_reasoning"))
equal = lambda a, b, k: np.array_equal(a[k][...], b[k][...])
targets = ("teacher/topk_ids", "teacher/topk_logprobs", "teacher/hidden")
kept = ("samples/context", "samples/response", "samples/privileged/reasoning")
ok = all(equal(default, same, k) for k in targets + kept) and \
     all(equal(default, reasoning, k) for k in kept) and not equal(default, reasoning, "teacher/hidden")
print("same template: targets equal; with reasoning: targets differ, context kept:", ok)
sys.exit(not ok)' "$WORK"
# MELD: audio/visual features from a feature file (some clips have none: 0 frames), stored as fp16,
# the converter's future_summary empty for a dialogue's last utterance; the student trains on it.
/usr/bin/python3 - "$WORK/meld_features.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    for u in range(4):
        f[f"features/dia0_utt{u}/audio"] = np.full((u + 1, 4), u, dtype=np.float32)
        f[f"features/dia0_utt{u}/visual"] = np.full((2, 3), -u, dtype=np.float32)
PY
"$PRIDE" data convert --from meld --in "$REPO/tests/data/dialogue/meld.csv" \
  --out "$WORK/meld.jsonl" --features "$WORK/meld_features.h5" >/dev/null
"$PRIDE" teach "${TEACH[@]}" --set "teach.input=$WORK/meld.jsonl" --set "teach.out=$WORK/meld" \
  --set teach.storage=fp16 >/dev/null
check "data inspect accepts the MELD shard" "$PRIDE" data inspect "$WORK/meld/shard-00000-of-00001.h5" >/dev/null
check "MELD features, labels and future summaries are where the input put them" /usr/bin/python3 -c '
import json, sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
samples = [json.loads(l) for l in open(sys.argv[2])]
labels = f.attrs["emotion_labels"]
labels = (labels.decode() if isinstance(labels, bytes) else str(labels)).split(",")
assert f.attrs["modalities"] in ("audio,visual", b"audio,visual") and f["samples/audio"].dtype == np.float16
for i, s in enumerate(samples):
    for m, width in (("audio", 4), ("visual", 3)):
        o = f[f"samples/{m}_offsets"]
        frames = f[f"samples/{m}"][o[i]:o[i + 1]]
        if m in s:
            u = int(s["id"].split("utt")[1])
            want = np.full((u + 1, 4), u) if m == "audio" else np.full((2, 3), -u)
            assert np.array_equal(frames, want), (s["id"], m)
        else:
            assert frames.shape == (0, width), (s["id"], m, frames.shape)
    assert labels[f["samples/emotion"][i]] == s["emotion"]
    o = f["samples/privileged/future_summary_offsets"]
    assert (o[i + 1] > o[i]) == ("future_summary" in s.get("privileged", {})), s["id"]
print(len(samples), "samples checked")' "$WORK/meld/shard-00000-of-00001.h5" "$WORK/meld.jsonl"
"$PRIDE" train "${STUDENT[@]}" --set "data.train=[$WORK/meld]" --set "data.eval=[$WORK/meld]" \
  --set "run.dir=$WORK/meld_run" --set train.max_steps=2 >/dev/null
check "the student trains on MELD with features" test -s "$WORK/meld_run/metrics.jsonl"

# A finished run is left alone.
before=$(md5sum "$WORK"/taught/*.h5)
"$PRIDE" teach "${TEACH[@]}" --set "teach.out=$WORK/taught" >"$WORK/again.log"
check "a rerun of a finished run does nothing" grep -q "already holds this run's finished output" \
  "$WORK/again.log"
check "... and leaves its files as they were" test "$before" = "$(md5sum "$WORK"/taught/*.h5)"

# Resumption: one rank killed after its second part; a rerun on 2 ranks reuses both parts and
# writes what the uninterrupted run wrote. A stray .partial is never taken for a part.
if PRIDE_INJECT_FAULT=teach_part:0:1:kill "$PRIDE" teach "${TEACH[@]}" \
  --set "teach.out=$WORK/resumed" >/dev/null 2>&1; then
  echo "FAILED: the killed teach run exited 0" >&2
  exit 1
fi
check "the killed run left two parts and no manifest" test "$(ls "$WORK"/resumed/parts/*.h5 | wc -l)" = 2 \
  -a ! -e "$WORK/resumed/manifest.json"
echo "not HDF5" >"$WORK/resumed/parts/part-000000004-000000005.h5.partial"
mpi 2 teach "${TEACH[@]}" --set "teach.out=$WORK/resumed" >"$WORK/resumed.log"
check "the rerun reused the 4 samples of the finished parts" test "$(grep -o '"reused":[0-9]*' \
  "$WORK/resumed.log" | cut -d: -f2 | awk '{s += $1} END {print s}')" = 4
check "the resumed output equals the uninterrupted run's" /usr/bin/python3 -c '
import sys, h5py, numpy as np
def datasets(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj[...]) if isinstance(obj, h5py.Dataset) else None)
    return out
for r in (0, 1):
    x = datasets(h5py.File(f"{sys.argv[1]}/shard-0000{r}-of-00002.h5", "r"))
    y = datasets(h5py.File(f"{sys.argv[2]}/shard-0000{r}-of-00002.h5", "r"))
    if x.keys() != y.keys() or any(not np.array_equal(x[k], y[k]) for k in x):
        sys.exit(f"shard {r} differs")
print("both shards equal, dataset by dataset")' "$WORK/taught" "$WORK/resumed"

# Errors: parts of another configuration, a student with another tokenizer, a template typo.
PRIDE_INJECT_FAULT=teach_part:0:0:kill "$PRIDE" teach "${TEACH[@]}" \
  --set "teach.out=$WORK/changed" >/dev/null 2>&1 || true
check "parts made by another configuration are refused" \
  expect_error "made by another teach configuration" teach "${TEACH[@]}" \
  --set "teach.out=$WORK/changed" --set teach.topk=4
check "a student tokenizer other than the teacher's is refused" \
  expect_error "is not the teacher's" teach "${TEACH[@]}" --set "teach.out=$WORK/x" \
  --set "model.tokenizer=$WORK/other_tokenizer"
check "an unknown template placeholder is named" \
  expect_error "teach.context_template: unknown placeholder {dialog}" teach "${TEACH[@]}" \
  --set "teach.out=$WORK/x" --set 'teach.context_template="{dialog}{speaker}:"'
