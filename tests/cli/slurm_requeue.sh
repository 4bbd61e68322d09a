# The sbatch templates' requeue policy (slurm/requeue-policy.sh), with a stand-in scontrol:
# preemption (75) always requeues; a transient fault (69) requeues at most
# PRIDE_MAX_TRANSIENT_REQUEUES times; bad input (2) and bugs (1) never do.
source "$(dirname "$0")/lib/common.sh"
mkdir -p "$WORK/bin"
printf '#!/bin/sh\necho "$@" >>"%s/requeued"\n' "$WORK" >"$WORK/bin/scontrol"
chmod +x "$WORK/bin/scontrol"
export PATH="$WORK/bin:$PATH" SLURM_SUBMIT_DIR="$REPO" SLURM_JOB_ID="test$$"
trap 'rm -rf "$WORK" "$REPO/.pride-transient-requeues-$SLURM_JOB_ID"' EXIT
source "$REPO/slurm/requeue-policy.sh"
requeues() { [ -f "$WORK/requeued" ] && wc -l <"$WORK/requeued" || echo 0; }
policy() {  # policy RC: the code the template would exit with
  local code=0
  pride_requeue_policy test "$1" >/dev/null || code=$?
  echo "$code"
}

check "preemption requeues and the batch job exits 0" test "$(policy 75)" -eq 0
check "... with scontrol requeue of this job" grep -q "requeue test$$" "$WORK/requeued"
check "bad input is not requeued" test "$(policy 2)" -eq 2
check "a bug is not requeued" test "$(policy 1)" -eq 1
check "nothing requeued for them" test "$(requeues)" -eq 1
export PRIDE_MAX_TRANSIENT_REQUEUES=2
check "a transient fault requeues" test "$(policy 69)" -eq 0
check "a second one too" test "$(policy 69)" -eq 0
check "a third one gives up with the fault's code" test "$(policy 69)" -eq 69
check "two transient requeues in all" test "$(requeues)" -eq 3
check "preemption still requeues after the transient budget is spent" test "$(policy 75)" -eq 0
for template in "$REPO"/slurm/*.sbatch; do
  check "$(basename "$template") applies the policy" grep -q 'pride_requeue_policy' "$template"
done

# teach.sbatch near its time limit: USR1 to the batch shell stops the ranks (a stand-in srun that
# runs until it is signalled) and requeues the job, which exits 0.
printf '#!/bin/sh\ntrap "echo stopped >>%s/srun; exit 143" TERM\necho started >>%s/srun\nwhile :; do sleep 0.1; done\n' \
  "$WORK" "$WORK" >"$WORK/bin/srun"
chmod +x "$WORK/bin/srun"
rm -f "$WORK/requeued"
(cd "$REPO" && exec bash slurm/teach.sbatch) >"$WORK/teach.log" 2>&1 &
batch=$!
for _ in $(seq 50); do [ -f "$WORK/srun" ] && break; sleep 0.1; done
kill -USR1 "$batch"
code=0
wait "$batch" || code=$?
cat "$WORK/teach.log"
check "teach.sbatch: the signal stopped the ranks" grep -q stopped "$WORK/srun"
check "teach.sbatch: requeued for the time limit and exited 0" test "$code" -eq 0 -a "$(requeues)" -eq 1
