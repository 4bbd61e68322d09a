#!/usr/bin/env bash
# SFT and DPO (train.objective sft | dpo, docs/dpo.md) on preference pairs written by `pride data
# pairs` from TRL-style JSONL (plain text and chat messages) for a tiny random Llama with the
# Qwen2.5 chat template: the stored ids are what TRL tokenizes (Jinja2 reference); DPO's first step
# (sigmoid with label smoothing, IPO, hinge) equals the published formula with autograd over an
# independent forward, the precomputed reference log-probabilities included (1e-5); the online
# reference equals the precomputed one; SFT and DPO train the same on 1 rank and on 2 ranks with
# accumulation, and resume exactly on another world size; DPO starts from the SFT checkpoint
# (model.init_from a pride student); bad input is exit 2 naming the file, line or key.
source "$(dirname "$0")/lib/common.sh"
LIB="$REPO/tests/cli/lib"
REF="/usr/bin/python3 $LIB/hf_reference.py"
DPO_REF="/usr/bin/python3 $LIB/dpo_reference.py"
if ! /usr/bin/python3 -c "import jinja2, h5py" 2>/dev/null; then
  echo "SKIPPED: the reference needs python3-jinja2 and python3-h5py"
  exit 0
fi

model() {  # model DIR SEED: a tiny random Llama with a byte-level tokenizer and Qwen2.5's template
  $REF make-tokenizer "$1" --merges "e r,t h,th e,i n,o u" --special-config
  /usr/bin/python3 "$LIB/chat_reference.py" fixture "$1" \
    "$REPO/tests/chat/templates/qwen2.5/tokenizer_config.json"
  $REF make "$1" llama --vocab 300 --seed "$2" --layers 1
}
model "$WORK/policy" 5
model "$WORK/reference" 9
/usr/bin/python3 - "$WORK/pairs.jsonl" <<'PY'
import json, random, sys
random.seed(3)
words = "i feel so sad today my dog is sick and worried about the exam".split()
say = lambda n: " ".join(random.choice(words) for _ in range(n))
with open(sys.argv[1], "w") as f:
    for i in range(16):
        prompt, chosen = say(random.randint(3, 8)), "That sounds hard. " + say(random.randint(1, 4))
        rejected = "ok " + say(random.randint(1, 6))
        if i % 4 == 3:
            user = lambda text: [{"role": "user", "content": text}]
            reply = lambda text: [{"role": "assistant", "content": text}]
            row = {"prompt": user(prompt), "chosen": reply(chosen), "rejected": reply(rejected)}
        else:
            row = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
        f.write(json.dumps(row) + "\n")
PY
PAIRS=(--in "$WORK/pairs.jsonl" --tokenizer "$WORK/policy" --vocab-size 300)
"$PRIDE" data pairs "${PAIRS[@]}" --out "$WORK/pairs.h5"
check "pairs: prompts and responses are tokenized as TRL does (plain and chat; Jinja2)" \
  $DPO_REF check-pairs "$WORK/pairs.jsonl" "$WORK/pairs.h5" "$WORK/policy"
mpi 2 data pairs "${PAIRS[@]}" --out "$WORK/pairs_ref.h5" --reference "$WORK/reference" \
  --max-seq-len 256 --batch-size 3 >/dev/null  # the ranks score halves (checked below)

# One DPO step over every pair, only the language model trainable (its cross-attention output
# starts at zero, so the student computes the HF model), against the formula.
RUN=(--config "$REPO/configs/tiny.yaml" --set model.max_seq_len=256 --set run.log_every=1
  --set train.eval_every=0 --set train.eval_samples=8 --set train.warmup_steps=0
  --set checkpoint.every_steps=0 --set train.objective=dpo)
STEP=("${RUN[@]}" --set "data.train=[$WORK/pairs_ref.h5]" --set "data.eval=[$WORK/pairs_ref.h5]"
  --set "model.init_from=$WORK/policy" --set "model.freeze=[memory]" --set train.max_steps=1
  --set train.global_batch_size=16 --set train.micro_batch_size=16 --set train.grad_clip=0)
for loss in sigmoid:0.1 ipo:0 hinge:0; do
  "$PRIDE" train "${STEP[@]}" --set "dpo.loss=${loss%:*}" --set "dpo.label_smoothing=${loss#*:}" \
    --set dpo.beta=0.5 --set "run.dir=$WORK/step_${loss%:*}" >/dev/null
  check "dpo ${loss%:*}: loss, rewards, log-probabilities and gradient norm equal the formula (1e-5)" \
    $DPO_REF check-step "$WORK/policy" "$WORK/reference" "$WORK/pairs_ref.h5" \
    "$WORK/step_${loss%:*}/metrics.jsonl" 0.5 "${loss%:*}" "${loss#*:}" 1e-5
done

# SFT on the chosen responses, then DPO from its checkpoint: 1 rank vs 2 ranks x accumulation,
# and a run stopped on 1 rank and resumed on 2. Only the language model trains: PRIDE's memory
# parts have no use without PI, and AdamW would blow up the float noise of their zero gradients.
SMALL=("${RUN[@]}" --set "data.train=[$WORK/pairs.h5]" --set "data.eval=[$WORK/pairs.h5]"
  --set train.max_steps=4 --set train.global_batch_size=8 --set train.micro_batch_size=8
  --set train.lr=3e-3 --set "model.freeze=[memory]")
runs() {  # runs NAME ARGS...: baseline, split, and resumed runs of one objective, compared
  local name=$1
  shift
  "$PRIDE" train "${SMALL[@]}" "$@" --set "run.dir=$WORK/${name}_1" >"$WORK/$name.log"
  mpi 2 train "${SMALL[@]}" "$@" --set train.micro_batch_size=2 --set "run.dir=$WORK/${name}_2" \
    >/dev/null
  "$PRIDE" train "${SMALL[@]}" "$@" --set train.stop_at_step=2 --set "run.dir=$WORK/${name}_r" \
    >/dev/null
  mpi 2 train "${SMALL[@]}" "$@" --set "run.dir=$WORK/${name}_r" --resume auto >/dev/null
  for other in 2 r; do
    "$PRIDE" ckpt export "$WORK/${name}_$other/checkpoints" --out "$WORK/$name$other.st" >/dev/null
  done
  "$PRIDE" ckpt export "$WORK/${name}_1/checkpoints" --out "$WORK/${name}1.st" >/dev/null
  check "$name: 2 ranks x 2 micro-batches of 2 train like 1 rank x 8 (losses, weights; 1e-5)" \
    $COMPARE metrics "$WORK/${name}_1/metrics.jsonl" "$WORK/${name}_2/metrics.jsonl" --rtol 1e-5
  $COMPARE weights "$WORK/${name}1.st" "$WORK/${name}2.st" --rtol 1e-5
  check "$name: stopped on 1 rank at step 2, resumed on 2, it ends like the uninterrupted run" \
    $COMPARE metrics "$WORK/${name}_1/metrics.jsonl" "$WORK/${name}_r/metrics.jsonl" --rtol 1e-5
  $COMPARE weights "$WORK/${name}1.st" "$WORK/${name}r.st" --rtol 1e-5
}
runs sft --set train.objective=sft --set "model.init_from=$WORK/policy"
grep -q '"ce"' "$WORK/sft_1/metrics.jsonl"
runs dpo --set "model.init_from=$WORK/sft_1/checkpoints" --set dpo.beta=0.1
check "dpo from the SFT checkpoint: step 1 has policy = reference (loss log 2, rewards 0)" \
  /usr/bin/python3 -c '
import json, math, sys
first = json.loads(open(sys.argv[1]).readline())
print({k: first[k] for k in ("loss", "rewards/chosen", "rewards/margins", "logps/chosen")})
sys.exit(not (abs(first["loss"] - math.log(2)) < 1e-6 and first["rewards/chosen"] == 0))' \
  "$WORK/dpo_1/metrics.jsonl"
check "dpo logs TRL's names, in training and evaluation" /usr/bin/python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
names = ["rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
         "logps/chosen", "logps/rejected"]
sys.exit(not (all(n in lines[0] for n in names) and all("eval_" + n in lines[-1] for n in names)))' \
  "$WORK/dpo_1/metrics.jsonl"

# The reference log-probabilities precomputed by `pride data pairs --reference` (the SFT student)
# and the online reference (its frozen copy) give the same run.
"$PRIDE" data pairs "${PAIRS[@]}" --out "$WORK/pairs_sft.h5" --reference "$WORK/sft_1/checkpoints" \
  --max-seq-len 256 >/dev/null
"$PRIDE" train "${SMALL[@]}" --set "model.init_from=$WORK/sft_1/checkpoints" --set dpo.beta=0.1 \
  --set "data.train=[$WORK/pairs_sft.h5]" --set "data.eval=[$WORK/pairs_sft.h5]" \
  --set dpo.reference=data --set "run.dir=$WORK/dpo_data" >"$WORK/dpo_data.log"
grep -q "reference precomputed in the data" "$WORK/dpo_data.log"
check "dpo starts from the SFT student: at step 1 the policy scores like the stored SFT student" \
  /usr/bin/python3 -c '
import json, sys
first = json.loads(open(sys.argv[1]).readline())
print({k: first[k] for k in ("rewards/chosen", "rewards/rejected", "logps/chosen")})
sys.exit(not (abs(first["rewards/chosen"]) < 1e-5 and abs(first["rewards/rejected"]) < 1e-5))' \
  "$WORK/dpo_data/metrics.jsonl"
check "dpo: the precomputed reference trains like the online one (1e-5)" \
  $COMPARE metrics "$WORK/dpo_1/metrics.jsonl" "$WORK/dpo_data/metrics.jsonl" --rtol 1e-5

# Bad input: exit 2 naming what is wrong.
check "pride on preference pairs is refused" expect_error "holds preference pairs" \
  train "${SMALL[@]}" --set train.objective=pride --set "run.dir=$WORK/bad"
"$PRIDE" data synth --out "$WORK/dialogue.h5" --samples 16 --vocab 300 >/dev/null
check "dpo on dialogue data is refused" expect_error "needs preference pairs" \
  train "${SMALL[@]}" --set "data.train=[$WORK/dialogue.h5]" --set "data.eval=[$WORK/dialogue.h5]" \
  --set "run.dir=$WORK/bad"
check "dpo.reference=data without reference log-probabilities is refused" \
  expect_error "dpo.reference=data needs" train "${SMALL[@]}" --set dpo.reference=data \
  --set "model.init_from=$WORK/policy" --set "run.dir=$WORK/bad"
check "label smoothing with ipo is a config error" expect_error "dpo.label_smoothing" \
  train "${SMALL[@]}" --set dpo.loss=ipo --set dpo.label_smoothing=0.1 --set "run.dir=$WORK/bad"
printf '%s\n' '{"prompt": "hi", "chosen": "yes"}' >"$WORK/short.jsonl"
check "a pair without rejected names file and line" expect_error 'short.jsonl:1: no "rejected"' \
  data pairs --in "$WORK/short.jsonl" --tokenizer "$WORK/policy" --out "$WORK/bad.h5"
printf '%s\n' '{"prompt": "hi", "chosen": "a", "rejected": "b"}' \
  '{"prompt": [{"role": "user", "content": "hi"}], "chosen": "a", "rejected": "b"}' >"$WORK/mixed.jsonl"
check "mixing text and messages in one pair names the line" \
  expect_error 'mixed.jsonl:2: "prompt", "chosen" and "rejected" must all be' \
  data pairs --in "$WORK/mixed.jsonl" --tokenizer "$WORK/policy" --out "$WORK/bad.h5"
$REF make-tokenizer "$WORK/other" --merges "a n,o n" --special-config
printf '%s\n' '{"prompt": "hi", "chosen": "a", "rejected": "b"}' >"$WORK/plain.jsonl"
"$PRIDE" data pairs --in "$WORK/plain.jsonl" --tokenizer "$WORK/other" --vocab-size 300 \
  --out "$WORK/other.h5" >/dev/null
check "pairs made with another tokenizer than the student's are refused" \
  expect_error "was tokenized by" train "${SMALL[@]}" --set "model.init_from=$WORK/policy" \
  --set "data.train=[$WORK/other.h5]" --set "data.eval=[$WORK/other.h5]" --set "run.dir=$WORK/bad"
check "chat messages with --chat off need a template" expect_error "need a chat template" \
  data pairs --in "$WORK/pairs.jsonl" --tokenizer "$WORK/policy" --out "$WORK/bad.h5" --chat off
test ! -e "$WORK/bad.h5"
