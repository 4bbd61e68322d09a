#!/usr/bin/env bash
# The student talks and is scored (docs/evaluation.md): `pride eval --generate` on synthetic data
# writes metrics.json and responses.jsonl, whose BLEU-1..4, ROUGE-L, Dist-1/2 and average length
# equal both `pride score` on the responses and the independent reference (nltk corpus_bleu,
# from-scratch ROUGE-L and Dist-n); with a tokenizer, the responses' decoded text (checked against
# an independent decoding) is scored on its words, equal to the same reference on that text;
# 2 ranks write the same responses as 1; `pride generate
# --checkpoint` (PI-free, the data set's contexts and audio/visual frames) gives the same greedy
# responses, from the checkpoint and from `pride ckpt export`'s directory, with and without the
# KV cache.
source "$(dirname "$0")/lib/common.sh"
REF="/usr/bin/python3 $REPO/tests/cli/lib/text_metrics_reference.py"
make_data
RUN=("${SMALL[@]}" --set "run.dir=$WORK/run" --set train.max_steps=100 --set train.eval_every=0
  --set train.eval_samples=20 --set eval.max_new_tokens=12 --set eval.min_new_tokens=6
  --set eval.batch_size=6)
"$PRIDE" train "${RUN[@]}" >/dev/null
CKPT="$WORK/run/checkpoints"

"$PRIDE" eval "${RUN[@]}" --checkpoint "$CKPT" --generate --out "$WORK/gen1" >"$WORK/eval1.json"
check "eval --generate reports the generation metrics beside perplexity and emotion accuracy" \
  /usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
need = ["eval_ppl", "eval_rkl", "eval_emotion_acc", "bleu1", "bleu2", "bleu3", "bleu4", "rouge_l",
        "dist1", "dist2", "avg_len", "gen_tokens_per_s"]
print({k: m.get(k) for k in need})
sys.exit(any(k not in m for k in need) or m["responses"] != 20 or not 6 <= m["avg_len"] <= 12)' \
  "$WORK/eval1.json"
check "the responses differ between samples (so the comparisons below mean something)" \
  /usr/bin/python3 -c '
import json, sys
hyps = {tuple(json.loads(l)["hypothesis"]) for l in open(sys.argv[1])}
print(len(hyps), "distinct responses")
sys.exit(len(hyps) < 4)' "$WORK/gen1/responses.jsonl"
check "responses.jsonl holds one line per sample, in sample order" \
  bash -c "[[ \$(wc -l <'$WORK/gen1/responses.jsonl') -eq 20 ]] && head -1 '$WORK/gen1/responses.jsonl' | grep -q '\"index\":0'"
check "eval's metrics equal the independent reference on its responses (1e-6)" \
  $REF check "$WORK/gen1/responses.jsonl" "$WORK/gen1/metrics.json" 1e-6
"$PRIDE" score --in "$WORK/gen1/responses.jsonl" >"$WORK/score.json"
check "pride score recomputes eval's metrics from responses.jsonl" \
  $REF check "$WORK/gen1/responses.jsonl" "$WORK/score.json" 1e-9

# With a tokenizer (a 512-piece tokenizer.json fixture): the words of the decoded text are scored.
$REF tokenizer "$WORK/tok.json"
"$PRIDE" eval "${RUN[@]}" --checkpoint "$CKPT" --generate --tokenizer "$WORK/tok.json" \
  --out "$WORK/gen_text" >/dev/null
check "with --tokenizer: the same ids, their text beside them, and words scored instead of ids" \
  /usr/bin/python3 -c '
import json, sys
ids = [json.loads(l) for l in open(sys.argv[1])]
text = [json.loads(l) for l in open(sys.argv[2])]
m_ids, m_text = json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
print(text[0]["hypothesis_text"], "|", text[0]["reference_text"])
same_ids = all(a["hypothesis"] == b["hypothesis"] and a["reference"] == b["reference"]
               for a, b in zip(ids, text))
sys.exit(not (same_ids and len(ids) == len(text) and all(t["reference_text"] for t in text)
              and m_text["scored_on"] == "words" and m_ids["scored_on"] == "token_ids"
              and m_text["avg_len"] != m_ids["avg_len"]))' \
  "$WORK/gen1/responses.jsonl" "$WORK/gen_text/responses.jsonl" "$WORK/gen1/metrics.json" \
  "$WORK/gen_text/metrics.json"
check "with --tokenizer: the metrics equal the reference on the independently decoded words (1e-6)" \
  $REF check "$WORK/gen_text/responses.jsonl" "$WORK/gen_text/metrics.json" 1e-6 "$WORK/tok.json"
"$PRIDE" score --in "$WORK/gen_text/responses.jsonl" >"$WORK/score_text.json"
check "pride score recomputes them from responses.jsonl's text" \
  $REF check "$WORK/gen_text/responses.jsonl" "$WORK/score_text.json" 1e-9
"$PRIDE" eval "${RUN[@]}" --checkpoint "$CKPT" --generate --set "model.tokenizer=$WORK/tok.json" \
  --out "$WORK/gen_model_tok" >/dev/null
check "model.tokenizer is eval's default tokenizer" \
  cmp "$WORK/gen_text/responses.jsonl" "$WORK/gen_model_tok/responses.jsonl"
check "a missing tokenizer is named" expect_error "$WORK/nowhere.json" \
  eval "${RUN[@]}" --checkpoint "$CKPT" --generate --tokenizer "$WORK/nowhere.json"

mpi 2 eval "${RUN[@]}" --checkpoint "$CKPT" --generate --out "$WORK/gen2" >/dev/null
check "2 ranks write the same responses as 1 rank" \
  cmp "$WORK/gen1/responses.jsonl" "$WORK/gen2/responses.jsonl"

# pride generate on the first 5 samples: the same greedy ids as eval (plus the stop token).
same_as_eval() {  # same_as_eval OUT.jsonl
  /usr/bin/python3 -c '
import json, sys
gen = [json.loads(l) for l in open(sys.argv[1])]
ev = [json.loads(l) for l in open(sys.argv[2])][:len(gen)]
strip = lambda g: g["ids"][:-1] if g["finish_reason"] == "stop" else g["ids"]
ok = len(gen) == 5 and all(strip(g) == e["hypothesis"] and g["sample"] == e["index"]
                           for g, e in zip(gen, ev))
sys.exit(not ok)' "$1" "$WORK/gen1/responses.jsonl"
}
GEN=(--data "$WORK/eval.h5" --samples 5 --max-new-tokens 12 --min-new-tokens 6 --batch-size 3)
"$PRIDE" generate --checkpoint "$CKPT" "${GEN[@]}" --out "$WORK/cli.jsonl"
check "generate --checkpoint --data gives eval's greedy responses" same_as_eval "$WORK/cli.jsonl"
"$PRIDE" generate --checkpoint "$CKPT" "${GEN[@]}" --no-cache --out "$WORK/nocache.jsonl"
check "without the KV cache: the same responses" cmp "$WORK/cli.jsonl" "$WORK/nocache.jsonl"

mkdir -p "$WORK/export"
"$PRIDE" ckpt export "$CKPT" --out "$WORK/export/student.safetensors" >/dev/null
check "export writes student.json beside the weights" test -s "$WORK/export/student.json"
"$PRIDE" generate --checkpoint "$WORK/export" "${GEN[@]}" --out "$WORK/exported.jsonl"
check "generate from the export directory alone: the same responses" \
  cmp "$WORK/cli.jsonl" "$WORK/exported.jsonl"
"$PRIDE" generate --checkpoint "$WORK/export" --prompt-ids '[1, 40, 41, 42]' --max-new-tokens 5 \
  >"$WORK/ids.jsonl"
check "a prompt of ids without a data set" grep -q '"ids":\[' "$WORK/ids.jsonl"
# Paths in student.json stay inside its directory; wrong types are named.
for edit in 'c["weights"] = "../../x.safetensors"' 'c["weights"] = "/etc/passwd"' \
  'c["tokenizer"] = "../tokenizer"' 'c["step"] = "x"'; do
  rm -rf "$WORK/hostile" && cp -r "$WORK/export" "$WORK/hostile"
  /usr/bin/python3 -c "import json, sys
c = json.load(open(sys.argv[1])); $edit; json.dump(c, open(sys.argv[1], 'w'))" "$WORK/hostile/student.json"
  check "student.json: $edit is refused" expect_error "student.json: \"" \
    generate --checkpoint "$WORK/hostile" --prompt-ids '[1, 40]' --max-new-tokens 2
done

code=0
"$PRIDE" generate --checkpoint "$WORK/run" --prompt-ids '[1]' 2>"$WORK/err.txt" || code=$?
check "a directory that is no student is named (exit 2)" \
  bash -c "[[ $code -eq 2 ]] && grep -qF 'neither a checkpoint' '$WORK/err.txt'"
