#!/usr/bin/env bash
# Installs, on Debian 12 as root, whatever the build and the tests need and is not there yet.
# Idempotent: a second run installs nothing. Both README commands call it.
# Node/npm come from Debian unless some Node >= 18 with npm is installed already; the tokenizer
# test references (npm packages, pinned) go into a cache directory (scripts/install-references.sh).
# libopenblas0-openmp matters: without it Debian's LibTorch runs on the reference BLAS, ~10x slower.
# libblas-dev: cblas.h and libblas.so, which attention's CPU products call directly (cpu_gemm.h).
# python3-torch, python3-nltk and python3-jinja2: the independent references of the tests (HF
# forward, BLEU, chat templates rendered as Hugging Face renders them).
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev libopenblas0-openmp libblas-dev libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools
  libyaml-cpp-dev libfmt-dev libgtest-dev libcli11-dev nlohmann-json3-dev libxxhash-dev
  python3 python3-numpy python3-h5py python3-torch python3-nltk python3-jinja2
  libsentencepiece-dev sentencepiece libpcre2-dev libicu-dev
)
command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
"$(dirname "$0")/install-references.sh"
