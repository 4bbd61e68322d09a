#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, synthesizes a training and an
# evaluation set, checks them, and trains the tiny student on them (configs/tiny.yaml).
# Metrics land in runs/tiny/metrics.jsonl, checkpoints in runs/tiny/checkpoints/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh --target pride  # the binary alone: scripts/test.sh builds the tests
mkdir -p runs/data
[ -f runs/data/train.h5 ] || build/pride data synth --out runs/data/train.h5 --samples 4000 --seed 1
[ -f runs/data/eval.h5 ] || build/pride data synth --out runs/data/eval.h5 --samples 512 --seed 2
build/pride data inspect runs/data/train.h5
build/pride train --config configs/tiny.yaml "$@"
