# The README's "Using it" commands run as written, in a scratch directory laid out like a checkout
# (build/pride, launch/, configs/, and the data scripts/quickstart.sh makes). Each line runs once,
# in an order where every command finds what it reads: the 4-rank launch of the tiny config first,
# then the lines that resume, evaluate, talk with, inspect and export its checkpoints, the data
# commands (the teacher pass with a tiny random teacher), and the long single-rank run last (cut to
# 100 steps).
source "$(dirname "$0")/lib/common.sh"
cd "$WORK"
mkdir -p build runs/data
ln -s "$PRIDE" build/pride
ln -s "$REPO/launch" launch
ln -s "$REPO/configs" configs
"$PRIDE" data synth --out runs/data/train.h5 --samples 4000 --seed 1 >/dev/null
"$PRIDE" data synth --out runs/data/eval.h5 --samples 512 --seed 2 >/dev/null
cp "$REPO/tests/data/dialogue/meld.csv" train_sent_emo.csv  # MELD's file name, our fixture
# configs/teach-ed.yaml's teacher and input: a tiny random teacher and the EmpatheticDialogues fixture
/usr/bin/python3 "$REPO/tests/cli/lib/hf_reference.py" make-tokenizer runs/teach-example/teacher \
  --merges "e r,t h" --special-config
/usr/bin/python3 "$REPO/tests/cli/lib/hf_reference.py" make runs/teach-example/teacher llama --vocab 259
# ... with a ChatML chat template in its tokenizer_config.json, for `pride chat render`.
/usr/bin/python3 -c 'import json, sys
path = sys.argv[1] + "/tokenizer_config.json"
config = json.load(open(path))
config["chat_template"] = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
                           "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
json.dump(config, open(path, "w"))' runs/teach-example/teacher
"$PRIDE" data convert --from empathetic-dialogues --out runs/teach-example/ed.jsonl \
  --in "$REPO/tests/data/dialogue/empathetic_dialogues.csv" >/dev/null

# The fenced block under "## Using it", without comments.
mapfile -t lines < <(awk '/^## Using it/{on=1} on&&/^```sh/{inside=1; next} inside&&/^```/{exit}
  inside{sub(/[ ]+#.*/, ""); if (length($0)) print}' "$REPO/README.md")
check "the README has its examples" test "${#lines[@]}" -ge 9
ordered=()
for pattern in "pride-launch -n 4" "--resume auto" "pride eval" "pride generate" "ckpt inspect" \
  "ckpt export" "data synth" "data inspect" "data convert" "teach --config" "chat render" "pride shard" \
  "train.max_steps=1000"; do
  for line in "${lines[@]}"; do
    [[ $line == *"$pattern"* ]] && ordered+=("$line")
  done
done
check "every README example is run" test "${#ordered[@]}" -eq "${#lines[@]}"
for line in "${ordered[@]}"; do
  # The long single-rank run is cut to 100 steps here: what the line shows (a --set override on
  # top of the config) is the same, and its other 900 steps would be a third of this test's time.
  line=${line/train.max_steps=1000/train.max_steps=100}
  echo "\$ $line"
  if ! bash -c "$line" >"$WORK/line.log" 2>&1; then
    cat "$WORK/line.log"
    echo "FAILED: README example: $line" >&2
    exit 1
  fi
  tail -n 2 "$WORK/line.log"
done
echo "ok: all ${#ordered[@]} README examples ran"
