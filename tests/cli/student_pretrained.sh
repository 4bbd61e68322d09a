#!/usr/bin/env bash
# A student that starts from a pretrained model (model.init_from, docs/evaluation.md): tiny random
# Hugging Face models written by tests/cli/lib/hf_reference.py (Qwen3: head_dim, q/k norms, one KV
# head; Llama: tied embeddings, attention biases, llama3 rope). Before any update (train.lr=0), the
# student's logits (PI-free, its cross-attention output projections zero) equal the independent
# Python forward of the HF model within 1e-4. Then model.freeze keeps the pretrained parts as they
# were while the rest trains, with gradient and optimizer memory for the trainable part only; a
# frozen run resumed on the same world size equals the uninterrupted one bit for bit, and resumed
# on 2 ranks with ZeRO-1 within float tolerance with the frozen weights still bit-identical; bad
# input is a clear error.
source "$(dirname "$0")/lib/common.sh"
REF="/usr/bin/python3 $REPO/tests/cli/lib/hf_reference.py"
make_data
cp "$REPO/tests/cli/lib/student_prompts.jsonl" "$WORK/prompts.jsonl"  # three prompts of ids
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
FROZEN=("${BASE[@]}" --set "model.init_from=$WORK/qwen3" --set train.max_steps=4 --set train.lr=1e-2
  --set "model.freeze=[embeddings, decoder]" --set run.log_every=1)
"$PRIDE" train "${FROZEN[@]}" --set "run.dir=$WORK/frozen" >"$WORK/frozen.log" 2>&1
"$PRIDE" ckpt export "$WORK/frozen/checkpoints" --out "$WORK/frozen.safetensors" >/dev/null
check "the startup line counts gradients and optimizer state for the trainable parameters only" \
  /usr/bin/python3 -c '
import re, sys
line = re.search(r"trainable (\d+) / total (\d+) parameters.*gradients ([\d.]+) MiB, optimizer state "
                 r"([\d.]+) MiB", open(sys.argv[1]).read())
trainable, total = int(line[1]), int(line[2])
mib = lambda n: round(n * 4 / 2**20, 1)
print(line[0])
sys.exit(not (0 < trainable < total and float(line[3]) == mib(trainable)
              and float(line[4]) == mib(2 * trainable)))' "$WORK/frozen.log"
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

# Resumed frozen runs: on 1 rank from step 2 (bit for bit), and saved on 1 rank, resumed on 2 with
# ZeRO-1 (the optimizer state split over the ranks).
"$PRIDE" train "${FROZEN[@]}" --set "run.dir=$WORK/frozen_11" --set train.stop_at_step=2 >/dev/null
"$PRIDE" train "${FROZEN[@]}" --set "run.dir=$WORK/frozen_11" --resume auto >/dev/null
check "a frozen run resumed on 1 rank equals the uninterrupted one bit for bit" \
  $COMPARE metrics "$WORK/frozen/metrics.jsonl" "$WORK/frozen_11/metrics.jsonl" --rtol 0
"$PRIDE" ckpt export "$WORK/frozen_11/checkpoints" --out "$WORK/frozen_11.safetensors" >/dev/null
check "... and exports the same weights" cmp "$WORK/frozen.safetensors" "$WORK/frozen_11.safetensors"
"$PRIDE" train "${FROZEN[@]}" --set "run.dir=$WORK/frozen_12" --set train.stop_at_step=2 >/dev/null
mpi 2 train "${FROZEN[@]}" --set "run.dir=$WORK/frozen_12" --set train.micro_batch_size=4 \
  --set dist.zero=1 --resume auto >/dev/null
check "a frozen run saved on 1 rank and resumed on 2 with ZeRO-1 matches the uninterrupted one (1e-5)" \
  $COMPARE metrics "$WORK/frozen/metrics.jsonl" "$WORK/frozen_12/metrics.jsonl" --rtol 1e-5
"$PRIDE" ckpt export "$WORK/frozen_12/checkpoints" --out "$WORK/frozen_12.safetensors" >/dev/null
check "... its frozen weights are bit-identical and its trainable ones agree (1e-5)" \
  /usr/bin/python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
from hf_reference import read_safetensors
full, resumed = read_safetensors(sys.argv[2]), read_safetensors(sys.argv[3])
frozen = [k for k in full if k.startswith("embed_tokens") or k == "norm.weight"
          or (k.startswith("layers.") and ".cross_attn" not in k)]
trained = [k for k in full if k not in frozen]
same = all(bool((full[k] == resumed[k]).all()) for k in frozen)
worst = max(float(((full[k] - resumed[k]).abs().max() / full[k].abs().max().clamp(min=1e-12)))
            for k in trained)
print(len(frozen), "frozen tensors identical:", same, "| largest relative difference of",
      len(trained), "trained:", worst)
sys.exit(not (same and worst < 1e-5 and len(frozen) > 0))' "$REPO/tests/cli/lib" \
  "$WORK/frozen.safetensors" "$WORK/frozen_12.safetensors"
check "resuming a frozen run with another model.freeze is named" \
  expect_error "'optim.exp_avg' holds" train "${FROZEN[@]}" --set "run.dir=$WORK/frozen_11" \
  --set train.max_steps=5 --set "model.freeze=[embeddings]" --resume auto

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
