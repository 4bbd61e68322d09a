#!/usr/bin/env bash
# A student that starts from a pretrained model (model.init_from, docs/evaluation.md): tiny random
# Hugging Face models written by tests/cli/lib/hf_reference.py (Qwen3: head_dim, q/k norms, one KV
# head; Llama: tied embeddings, attention biases, llama3 rope). Before any update (train.lr=0), the
# student's logits (PI-free, its cross-attention output projections zero) equal the independent
# Python forward of the HF model within 1e-4. Then model.freeze keeps the pretrained parts as they
# were while the rest trains, and bad input is a clear error.
source "$(dirname "$0")/lib/common.sh"
REF="/usr/bin/python3 $REPO/tests/cli/lib/hf_reference.py"
make_data
cat >"$WORK/prompts.jsonl" <<'JSON'
{"prompt_ids": [7, 14, 21, 28, 35, 42, 49, 56, 63, 70, 77, 84]}
{"prompt_ids": [9]}
{"prompt_ids": [1, 5, 17, 33, 65, 99, 300, 511]}
JSON
BASE=(--config "$REPO/configs/tiny.yaml" --set "data.train=[$WORK/train.h5]"
  --set "data.eval=[$WORK/eval.h5]" --set model.memory_slots=4 --set train.global_batch_size=8
  --set train.micro_batch_size=8 --set train.eval_samples=8 --set checkpoint.every_steps=0
  --set "run.dir=$WORK/scratch-run")

for model in qwen3 llama_tied; do
  arch=${model%_tied}
  flags=()
  [[ $model == *_tied ]] && flags=(--tied)
  $REF make "$WORK/$model" "$arch" --vocab 512 --seed 4 "${flags[@]}"
  "$PRIDE" train "${BASE[@]}" --set "model.init_from=$WORK/$model" --set "run.dir=$WORK/$model-run" \
    --set train.max_steps=1 --set train.lr=0 >/dev/null
  "$PRIDE" generate --checkpoint "$WORK/$model-run/checkpoints" --in "$WORK/prompts.jsonl" \
    --dump-logits "$WORK/$model-student.jsonl"
  $REF logits "$WORK/$model" "$WORK/prompts.jsonl" "$WORK/$model-ref.jsonl"
  check "$model: the initialised student's logits equal the HF model's (1e-4)" \
    $REF compare "$WORK/$model-student.jsonl" "$WORK/$model-ref.jsonl" 1e-4
done

# model.freeze: embeddings and the pretrained blocks stay, the LM head and cross-attention train.
"$PRIDE" train "${BASE[@]}" --set "model.init_from=$WORK/qwen3" --set "run.dir=$WORK/frozen" \
  --set train.max_steps=3 --set train.lr=1e-2 --set "model.freeze=[embeddings, decoder]" >/dev/null
"$PRIDE" ckpt export "$WORK/frozen/checkpoints" --out "$WORK/frozen.safetensors" >/dev/null
check "model.freeze keeps embeddings and decoder, the rest trains" /usr/bin/python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
from hf_reference import read_model, read_safetensors
_, hf = read_model(sys.argv[2])
student = read_safetensors(sys.argv[3])
same = lambda a, b: bool((hf[a] == student[b]).all())
kept = same("model.embed_tokens.weight", "embed_tokens.weight") and same(
    "model.layers.1.self_attn.q_proj.weight", "layers.1.self_attn.q_proj.weight") and same(
    "model.layers.0.self_attn.q_norm.weight", "layers.0.self_attn.q_norm.weight") and same(
    "model.norm.weight", "norm.weight")
trained = not same("lm_head.weight", "lm_head.weight") and bool(
    student["layers.0.cross_attn.o_proj.weight"].abs().max() > 0)
print("pretrained parts kept:", kept, "| others trained:", trained)
sys.exit(not (kept and trained))' "$REPO/tests/cli/lib" "$WORK/qwen3" "$WORK/frozen.safetensors"

check "a model.* key that disagrees with init_from is named" \
  expect_error "model.d_model = 96 disagrees with $WORK/qwen3/config.json: \"hidden_size\" = 64" \
  train "${BASE[@]}" --set "model.init_from=$WORK/qwen3" --set model.d_model=96
"$PRIDE" data synth --out "$WORK/other_vocab.h5" --samples 16 --seed 3 --vocab 300 --topk 6 \
  --hidden 24 --audio-dim 8 --visual-dim 6 >/dev/null
check "data made with another vocabulary is rejected" \
  expect_error "the data set's vocabulary has 300 tokens but model.init_from" \
  train "${BASE[@]}" --set "model.init_from=$WORK/qwen3" --set "data.train=[$WORK/other_vocab.h5]" \
  --set "data.eval=[$WORK/other_vocab.h5]"
check "an unknown freeze part is named" expect_error "model.freeze holds 'attention'" \
  train "${BASE[@]}" --set "model.freeze=[attention]"
