#!/usr/bin/env bash
# Hugging Face causal LMs end to end against an independent Python forward
# (tests/cli/lib/hf_reference.py, written from the transformers definitions, sharing no code with
# pride): tiny random Llama (llama3 rope scaling, GQA, untied; and tied with attention biases in
# bf16), Mistral (sliding window shorter than the prompts, sharded with an index), Qwen2 (q/k/v
# biases, tied, fp16) and Qwen3 (q/k norms, explicit head_dim, one KV head). For each: the logits of
# a left-padded batch of prompts of different lengths equal each prompt's unpadded reference logits
# within 1e-4, and greedy generation (KV cache, batched) gives the reference's tokens. Then bad
# inputs: clear errors, exit code 2.
source "$(dirname "$0")/lib/common.sh"
REF="/usr/bin/python3 $REPO/tests/cli/lib/hf_reference.py"

cat >"$WORK/prompts.jsonl" <<'JSON'
{"prompt_ids": [7, 14, 21, 28, 35, 42, 49, 56, 63, 70, 77, 84]}
{"prompt_ids": [9]}
{"prompt_ids": [1, 5, 17, 33, 65, 99]}
{"prompt_ids": [40, 41, 42, 43, 44, 45, 46, 47, 48]}
JSON

$REF make "$WORK/llama" llama --seed 1
$REF make "$WORK/llama_tied_bf16" llama --tied --dtype BF16 --seed 2
$REF make "$WORK/mistral_sharded" mistral --shards 3 --seed 3
$REF make "$WORK/qwen2_tied_f16" qwen2 --tied --dtype F16 --seed 4
$REF make "$WORK/qwen3" qwen3 --seed 5

for model in llama llama_tied_bf16 mistral_sharded qwen2_tied_f16 qwen3; do
  dir="$WORK/$model"
  "$PRIDE" generate --model "$dir" --in "$WORK/prompts.jsonl" --dump-logits "$dir/pride_logits.jsonl"
  $REF reference "$dir" "$WORK/prompts.jsonl" 10 "$dir/ref_logits.jsonl" "$dir/ref_greedy.jsonl" \
    2>/dev/null
  check "$model: padded batch logits equal the reference within 1e-4" \
    $REF compare "$dir/pride_logits.jsonl" "$dir/ref_logits.jsonl" 1e-4
  "$PRIDE" generate --model "$dir" --in "$WORK/prompts.jsonl" --max-new-tokens 10 \
    --batch-size 4 --out "$dir/pride_greedy.jsonl"
  check "$model: greedy tokens equal the reference's" /usr/bin/python3 -c '
import json, sys
pride = [json.loads(l)["ids"] for l in open(sys.argv[1])]
ref = [json.loads(l)["ids"] for l in open(sys.argv[2])]
print("pride", pride, "\nref  ", ref)
sys.exit(pride != ref)' "$dir/pride_greedy.jsonl" "$dir/ref_greedy.jsonl"
done

# Bad input: exit code 2 and a message naming the file and the field or tensor.
bad="$WORK/bad"
reset_bad() { rm -rf "$bad" && cp -r "$WORK/llama" "$bad"; }
ids=(--prompt-ids '[1, 2, 3]')

reset_bad
sed -i 's/"model_type": "llama"/"model_type": "gpt_neox"/' "$bad/config.json"
check "unsupported model_type is named" expect_error "\"model_type\" 'gpt_neox' is not supported" generate --model "$bad" "${ids[@]}"
reset_bad
sed -i 's/"rope_type": "llama3"/"rope_type": "yarn"/' "$bad/config.json"
check "unsupported rope_scaling type is named" expect_error 'rope_scaling.rope_type' generate --model "$bad" "${ids[@]}"
reset_bad
echo '{"model_type": ' >"$bad/config.json"
check "broken config.json is named" expect_error "config.json: not valid JSON" generate --model "$bad" "${ids[@]}"
reset_bad
truncate -s -100 "$bad/model.safetensors"
check "truncated safetensors is named" expect_error "model.safetensors: truncated: tensor" generate --model "$bad" "${ids[@]}"
reset_bad
sed -i 's/"hidden_size": 64/"hidden_size": 128/' "$bad/config.json"
check "a wrong shape names the tensor" expect_error "has shape [101, 64], the model expects [101, 128]" generate --model "$bad" "${ids[@]}"
# Sizes that do not belong to the weights are refused from the headers, before any allocation
# (10^9 layers used to build layers until killed; 2^40 widths ended in a LibTorch stack trace).
set_config() {  # set_config KEY JSON-VALUE: one key of $bad/config.json
  /usr/bin/python3 -c 'import json, sys
c = json.load(open(sys.argv[1])); c[sys.argv[2]] = json.loads(sys.argv[3])
json.dump(c, open(sys.argv[1], "w"))' "$bad/config.json" "$1" "$2"
}
reset_bad
set_config num_hidden_layers 4000
check "4000 layers over 2 layers' weights are refused from the headers" \
  expect_error "config.json: implies" generate --model "$bad" "${ids[@]}"
for key in num_hidden_layers hidden_size intermediate_size vocab_size; do
  reset_bad
  set_config "$key" 1000000000000
  check "$key 10^12 is named" expect_error "\"$key\" must be a positive integer of at most" generate --model "$bad" "${ids[@]}"
done
reset_bad
set_config num_hidden_layers 1000000000  # built layers until killed before issue 19
start=$SECONDS
check "10^9 layers are named" \
  expect_error '"num_hidden_layers" must be a positive integer' generate --model "$bad" "${ids[@]}"
# At parse time, before anything is read: the seconds are pride's start-up (LibTorch) under load.
check "10^9 layers are refused at once, not after building layers" test $((SECONDS - start)) -le 60
for eos in 4294967296 '[2, 101]' -1; do
  reset_bad
  set_config eos_token_id "$eos"
  check "eos_token_id $eos is named" expect_error '"eos_token_id"' generate --model "$bad" "${ids[@]}"
done
rm -rf "$bad" && cp -r "$WORK/mistral_sharded" "$bad" && rm "$bad/model-00002-of-00003.safetensors"
check "a missing shard is named" expect_error "model-00002-of-00003.safetensors: cannot open" generate --model "$bad" "${ids[@]}"
check "an out-of-range prompt id is named" expect_error "token id 500 outside [0, 101)" \
  generate --model "$WORK/llama" --prompt-ids '[1, 500]'
check "a text prompt without a tokenizer says so" expect_error "a text prompt needs --tokenizer" \
  generate --model "$WORK/llama" --prompt "hello"

# Text in and out: a byte-level BPE tokenizer.json (256 byte tokens, two merges, <eos>) and a
# model of its vocabulary. The prompt's ids are what `pride tokenize` gives, and the output's text
# is what `pride tokenize --decode` makes of the generated ids.
$REF make-tokenizer "$WORK/tok"
$REF make "$WORK/byte_llama" llama --seed 5 --vocab 259
"$PRIDE" generate --model "$WORK/byte_llama" --tokenizer "$WORK/tok/tokenizer.json" \
  --prompt "hello there" --max-new-tokens 6 --out "$WORK/text_out.jsonl" >/dev/null
check "a text prompt goes through the tokenizer" /usr/bin/python3 -c "
import json, subprocess, sys
r = json.loads(open('$WORK/text_out.jsonl').readline())
ids = json.loads(subprocess.run(['$PRIDE', 'tokenize', '--tokenizer', '$WORK/tok/tokenizer.json'],
    input='hello there\n', capture_output=True, text=True, check=True).stdout)
assert ids[:2] == [257, 75], ids  # 'hel' merged, then 'l'
text = subprocess.run(['$PRIDE', 'tokenize', '--tokenizer', '$WORK/tok/tokenizer.json', '--decode'],
    input=json.dumps(r['ids']) + '\n', capture_output=True, text=True, check=True).stdout
print(sorted(r), len(r['ids']))
assert r['text'] == text.rstrip('\n'), (r['text'], text)
assert 1 <= len(r['ids']) <= 6
"
# A model directory that holds its tokenizer needs no --tokenizer (AutoTokenizer.from_pretrained(DIR)).
cp "$WORK/tok/tokenizer.json" "$WORK/byte_llama/"
"$PRIDE" generate --model "$WORK/byte_llama" --prompt "hello there" --max-new-tokens 6 \
  --out "$WORK/text_out_own.jsonl" >/dev/null
check "the model directory's own tokenizer is the default" cmp "$WORK/text_out.jsonl" "$WORK/text_out_own.jsonl"
