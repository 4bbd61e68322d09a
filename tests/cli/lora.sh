#!/usr/bin/env bash
# LoRA (model.lora, docs/models.md "LoRA") on a tiny random Hugging Face Llama written by
# tests/cli/lib/hf_reference.py, adapters on all seven projections: a fresh LoRA student computes
# the HF model's logits (1e-4); training changes the adapters alone (the pretrained weights stay
# bit-identical, the startup line counts gradients and optimizer state for the adapters only); the
# merged export (--merged) read by the independent Python forward gives the trained student's
# logits (1e-4); the PEFT export (--peft) has PEFT's names, shapes and config, and base + scale *
# B A equals the merged weights; 1 rank equals 2 ranks x accumulation and a resumed run the
# uninterrupted one; DPO with LoRA takes its reference from the same model with the adapters off
# (loss log 2 at step 1); bad settings are errors naming the key.
source "$(dirname "$0")/lib/common.sh"
REF="/usr/bin/python3 $REPO/tests/cli/lib/hf_reference.py"
make_data
cp "$REPO/tests/cli/lib/student_prompts.jsonl" "$WORK/prompts.jsonl"  # three prompts of ids
$REF make "$WORK/llama" llama --vocab 512 --seed 4
TARGETS="[q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]"
LORA=(--config "$REPO/configs/tiny.yaml" --set "data.train=[$WORK/train.h5]"
  --set "data.eval=[$WORK/eval.h5]" --set model.memory_slots=4 --set train.global_batch_size=8
  --set train.micro_batch_size=8 --set train.eval_samples=8 --set checkpoint.every_steps=0
  --set "model.init_from=$WORK/llama" --set model.lora.rank=4 --set model.lora.alpha=8
  --set "model.lora.targets=$TARGETS" --set "model.freeze=[memory]" --set run.log_every=1
  --set train.max_steps=4 --set train.lr=2e-2 --set train.warmup_steps=0)
logits_match() {  # logits_match WHAT CHECKPOINT HF_DIR: the student's PI-free logits = the HF model's
  "$PRIDE" generate --checkpoint "$2" --in "$WORK/prompts.jsonl" --dump-logits "$WORK/student.jsonl"
  $REF logits "$3" "$WORK/prompts.jsonl" "$WORK/ref.jsonl"
  check "$1" $REF compare "$WORK/student.jsonl" "$WORK/ref.jsonl" 1e-4
}

"$PRIDE" train "${LORA[@]}" --set "run.dir=$WORK/fresh" --set train.max_steps=1 --set train.lr=0 \
  >/dev/null
logits_match "a fresh LoRA student's logits equal the HF model's (1e-4)" "$WORK/fresh/checkpoints" \
  "$WORK/llama"
cp "$WORK/ref.jsonl" "$WORK/llama-ref.jsonl"
"$PRIDE" ckpt export "$WORK/fresh/checkpoints" --out "$WORK/fresh.safetensors" >/dev/null

"$PRIDE" train "${LORA[@]}" --set "run.dir=$WORK/lora" >"$WORK/lora.log" 2>&1
"$PRIDE" ckpt export "$WORK/lora/checkpoints" --out "$WORK/lora.safetensors" \
  --merged "$WORK/merged" --peft "$WORK/peft" >/dev/null
check "the startup line counts gradients and optimizer state for the adapters only" \
  /usr/bin/python3 -c '
import json, re, sys
c = json.load(open(sys.argv[2] + "/config.json"))
d, f, hd = c["hidden_size"], c["intermediate_size"], c["hidden_size"] // c["num_attention_heads"]
q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
shapes = [(d, q), (d, kv), (d, kv), (q, d), (d, f), (d, f), (f, d)]  # (in, out) of the 7 targets
adapters = c["num_hidden_layers"] * sum(4 * (i + o) for i, o in shapes)
line = re.search(r"trainable (\d+) / total (\d+) parameters.*model.lora: rank 4.*gradients "
                 r"([\d.]+) MiB, optimizer state ([\d.]+) MiB", open(sys.argv[1]).read())
mib = lambda n: round(n * 4 / 2**20, 1)
print(line[0], "| adapter elements:", adapters)
sys.exit(not (int(line[1]) == adapters and float(line[3]) == mib(adapters)
              and float(line[4]) == mib(2 * adapters)))' "$WORK/lora.log" "$WORK/llama"
check "training changed the adapters alone: the pretrained weights are bit-identical to the HF ones" \
  /usr/bin/python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
from hf_reference import read_model, read_safetensors
_, hf = read_model(sys.argv[2])
fresh, trained = read_safetensors(sys.argv[3]), read_safetensors(sys.argv[4])
pretrained = {k: (k[6:] if k.startswith("model.") else k) for k in hf}
kept = all(bool((hf[k] == trained[mine]).all()) for k, mine in pretrained.items())
others = [k for k in trained if ".lora_" not in k]
unchanged = all(bool((fresh[k] == trained[k]).all()) for k in others)
b_trained = all(bool(trained[k].abs().max() > 0) for k in trained if ".lora_B." in k)
a_moved = all(not bool((fresh[k] == trained[k]).all()) for k in trained if ".lora_A." in k)
print(len(pretrained), "pretrained tensors kept:", kept, "|", len(others),
      "non-adapter tensors unchanged:", unchanged, "| every adapter trained:", b_trained and a_moved)
sys.exit(not (kept and unchanged and b_trained and a_moved))' "$REPO/tests/cli/lib" "$WORK/llama" \
  "$WORK/fresh.safetensors" "$WORK/lora.safetensors"
logits_match "the merged export, read by the Python forward, gives the trained student's logits (1e-4)" \
  "$WORK/lora/checkpoints" "$WORK/merged"
check "... which the adapters moved away from the pretrained model's" \
  bash -c "! $REF compare '$WORK/student.jsonl' '$WORK/llama-ref.jsonl' 1e-2"
check "the PEFT export has PEFT's config, names and shapes, and base + scale * B A = merged" \
  /usr/bin/python3 -c '
import json, sys
sys.path.insert(0, sys.argv[1])
from hf_reference import read_model, read_safetensors
cfg = json.load(open(sys.argv[3] + "/adapter_config.json"))
_, base = read_model(sys.argv[2])
_, merged = read_model(sys.argv[4])
adapter = read_safetensors(sys.argv[3] + "/adapter_model.safetensors")
targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
config_ok = (cfg["peft_type"] == "LORA" and cfg["task_type"] == "CAUSAL_LM" and cfg["r"] == 4
             and cfg["lora_alpha"] == 8 and cfg["lora_dropout"] == 0 and cfg["bias"] == "none"
             and sorted(cfg["target_modules"]) == sorted(targets)
             and cfg["base_model_name_or_path"] == sys.argv[2] and not cfg["fan_in_fan_out"])
expected, worst = set(), 0.0
for layer in range(2):
    for t in targets:
        part = "mlp" if t in ("gate_proj", "up_proj", "down_proj") else "self_attn"
        module = f"model.layers.{layer}.{part}.{t}"
        a = adapter[f"base_model.model.{module}.lora_A.weight"]
        b = adapter[f"base_model.model.{module}.lora_B.weight"]
        w = base[module + ".weight"]
        assert a.shape == (4, w.shape[1]) and b.shape == (w.shape[0], 4), (module, a.shape, b.shape)
        expected |= {f"base_model.model.{module}.lora_{x}.weight" for x in "AB"}
        worst = max(worst, float((w + 8 / 4 * b @ a - merged[module + ".weight"]).abs().max()))
untouched = all(bool((base[k] == merged[k]).all()) for k in base
                if not any(k.endswith(t + ".weight") for t in targets))
print("config:", config_ok, "| names:", set(adapter) == expected, len(expected),
      "| base + scale B A vs merged:", worst, "| other weights as the base:", untouched)
sys.exit(not (config_ok and set(adapter) == expected and worst < 1e-6 and untouched))' \
  "$REPO/tests/cli/lib" "$WORK/llama" "$WORK/peft" "$WORK/merged"

# 2 ranks x 2 accumulation steps x micro-batch 2 = the 1-rank global batch of 8; and a resumed run.
mpi 2 train "${LORA[@]}" --set "run.dir=$WORK/lora_2" --set train.micro_batch_size=2 >/dev/null
"$PRIDE" ckpt export "$WORK/lora_2/checkpoints" --out "$WORK/lora_2.safetensors" >/dev/null
check "2 ranks x accumulation log the 1-rank losses (1e-5)" \
  $COMPARE metrics "$WORK/lora/metrics.jsonl" "$WORK/lora_2/metrics.jsonl" --rtol 1e-5
check "... and end with its weights (1e-5)" \
  $COMPARE weights "$WORK/lora.safetensors" "$WORK/lora_2.safetensors" --rtol 1e-5
"$PRIDE" train "${LORA[@]}" --set "run.dir=$WORK/resumed" --set train.stop_at_step=2 >/dev/null
"$PRIDE" train "${LORA[@]}" --set "run.dir=$WORK/resumed" --resume auto >/dev/null
"$PRIDE" ckpt export "$WORK/resumed/checkpoints" --out "$WORK/resumed.safetensors" >/dev/null
check "a resumed LoRA run equals the uninterrupted one bit for bit" \
  $COMPARE metrics "$WORK/lora/metrics.jsonl" "$WORK/resumed/metrics.jsonl" --rtol 0
check "... and exports the same weights" cmp "$WORK/lora.safetensors" "$WORK/resumed.safetensors"

# DPO with LoRA: the online reference is the policy with its adapters off, so step 1's loss is log 2.
$REF make-tokenizer "$WORK/pairs_model" --special-config
$REF make "$WORK/pairs_model" llama --vocab 300 --seed 5
for i in 1 2 3 4 5 6 7 8; do
  echo "{\"prompt\": \"hello $i\", \"chosen\": \"help $i he\", \"rejected\": \"hhh $i\"}"
done >"$WORK/pairs.jsonl"
"$PRIDE" data pairs --in "$WORK/pairs.jsonl" --out "$WORK/pairs.h5" --tokenizer "$WORK/pairs_model" \
  --vocab-size 300 >/dev/null
"$PRIDE" train --config "$REPO/configs/tiny.yaml" --set train.objective=dpo \
  --set "model.init_from=$WORK/pairs_model" --set "data.train=[$WORK/pairs.h5]" \
  --set "data.eval=[$WORK/pairs.h5]" --set model.lora.rank=4 --set "model.freeze=[memory]" \
  --set train.global_batch_size=4 --set train.micro_batch_size=4 --set train.max_steps=2 \
  --set train.eval_samples=4 --set checkpoint.every_steps=0 --set run.log_every=1 \
  --set "run.dir=$WORK/dpo" >"$WORK/dpo.log" 2>&1 || { cat "$WORK/dpo.log"; exit 1; }
check "DPO with LoRA states that its reference is the same model with the adapters off" \
  grep -q "reference online (the student with its LoRA adapters off: no second model)" "$WORK/dpo.log"
check "... and step 1 has loss log 2 (policy = reference)" /usr/bin/python3 -c '
import json, math, sys
first = json.loads(open(sys.argv[1]).readline())
print("step", first["step"], "loss", first["loss"])
sys.exit(not (first["step"] == 1 and abs(first["loss"] - math.log(2)) < 1e-6))' "$WORK/dpo/metrics.jsonl"

# With PRIDE's memory parts training too, adapters off is no longer the start: a frozen copy.
"$PRIDE" train --config "$REPO/configs/tiny.yaml" --set train.objective=dpo \
  --set "model.init_from=$WORK/pairs_model" --set "data.train=[$WORK/pairs.h5]" \
  --set "data.eval=[$WORK/pairs.h5]" --set model.lora.rank=4 --set train.global_batch_size=4 \
  --set train.micro_batch_size=4 --set train.max_steps=1 --set train.eval_samples=4 \
  --set checkpoint.every_steps=0 --set "run.dir=$WORK/dpo_memory" >"$WORK/dpo_memory.log" 2>&1 ||
  { cat "$WORK/dpo_memory.log"; exit 1; }
check "DPO with LoRA and trained memory parts keeps a frozen copy as its reference" \
  grep -q "reference online (the starting weights, frozen)" "$WORK/dpo_memory.log"

check "LoRA without model.init_from is named" \
  expect_error "model.lora.rank = 4 needs model.init_from" train "${LORA[@]}" --set model.init_from=
check "an unknown LoRA target is named" expect_error "model.lora.targets holds 'qkv_proj'" \
  train "${LORA[@]}" --set "model.lora.targets=[q_proj, qkv_proj]"
check "a negative LoRA rank is named" expect_error "model.lora.rank = -1 is out of range" \
  train "${LORA[@]}" --set model.lora.rank=-1
