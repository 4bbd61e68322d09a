# Shared by the CLI tests (sourced, not run): arguments, a scratch directory, small data, and the
# settings of a small, fast training run. Each test is called as: bash TEST.sh PRIDE_BINARY REPO.
set -euo pipefail
PRIDE=$(realpath "$1")
REPO=$(realpath "$2")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pride-$(basename "$0" .sh).XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
COMPARE="/usr/bin/python3 $REPO/tests/cli/lib/compare_runs.py"

mpi() {  # mpi N pride-args...: N ranks of pride on this machine
  local n=$1
  shift
  mpirun --oversubscribe --bind-to none -n "$n" -x OMP_NUM_THREADS "$PRIDE" "$@"
}

make_data() {  # small train and eval sets, shared by the runs of one test; with HEF's signals
  "$PRIDE" data synth --out "$WORK/train.h5" --samples 256 --seed 11 --vocab 512 --topk 6 \
    --hidden 24 --audio-dim 8 --visual-dim 6 --teacher-emotions --cause-words >/dev/null
  "$PRIDE" data synth --out "$WORK/eval.h5" --samples 48 --seed 12 --vocab 512 --topk 6 \
    --hidden 24 --audio-dim 8 --visual-dim 6 --teacher-emotions --cause-words >/dev/null
}

# A small student with every loss term on, logging every step.
SMALL=(--config "$REPO/configs/tiny.yaml"
  --set "data.train=[$WORK/train.h5]" --set "data.eval=[$WORK/eval.h5]"
  --set model.d_model=32 --set model.n_layers=2 --set model.n_heads=4 --set model.n_kv_heads=2
  --set model.d_ff=64 --set model.memory_slots=4 --set train.global_batch_size=8
  --set train.micro_batch_size=8
  --set train.warmup_steps=2 --set train.eval_every=4 --set train.eval_samples=24
  --set run.log_every=1 --set checkpoint.every_steps=0 --set loss.emotion_kd_weight=0.5)

train_and_export() {  # train_and_export NAME RANKS [train args...]: a SMALL run, weights exported
  local name=$1 ranks=$2
  shift 2
  mpi "$ranks" train "${SMALL[@]}" --set "run.dir=$WORK/$name" "$@" >"$WORK/$name.log" 2>&1 ||
    { cat "$WORK/$name.log"; exit 1; }
  "$PRIDE" ckpt export "$WORK/$name/checkpoints/latest" --out "$WORK/$name.safetensors" >/dev/null
}

same_as() {  # same_as REFERENCE OTHER: two train_and_export runs log the same losses, end alike
  check "$2 matches $1: per-step losses" \
    $COMPARE metrics "$WORK/$1/metrics.jsonl" "$WORK/$2/metrics.jsonl" --rtol 1e-5
  check "$2 matches $1: final parameters" \
    $COMPARE weights "$WORK/$1.safetensors" "$WORK/$2.safetensors" --rtol 1e-5
}

check() {  # check "description" command...: runs the command, fails the test with the description
  local what=$1
  shift
  if ! "$@"; then
    echo "FAILED: $what" >&2
    exit 1
  fi
  echo "ok: $what"
}

# expect_error "text in the message" pride-args...: pride exits 2 (bad input) with that text on
# stderr; use under check.
expect_error() {  # expect_error "text in the message" pride-args...
  local text=$1
  shift
  local code=0
  "$PRIDE" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || code=$?
  if [[ $code -ne 2 ]] || ! grep -qF -- "$text" "$WORK/err.txt"; then
    echo "expected exit 2 and '$text', got $code: $(cat "$WORK/err.txt")" >&2
    return 1
  fi
}
