# slurm/requeue-policy.sh: what the sbatch templates do with pride's exit code (sourced by them).
#   75  preempted or near the time limit, after a checkpoint: requeue (every time)
#   69  a transient fault (collective timeout, lost rank, full disk): requeue at most
#       PRIDE_MAX_TRANSIENT_REQUEUES times (default 3) per job, counted in a file beside the log
#   2   bad input, 1 a bug, anything else: no requeue; the job fails with pride's code
# The requeued job resumes from the newest checkpoint (--resume auto).

# pride_requeue_policy NAME RC: requeues when the policy says so; returns the code to exit with.
pride_requeue_policy() {
  local name=$1 rc=$2
  local counter="${SLURM_SUBMIT_DIR:-.}/.pride-transient-requeues-${SLURM_JOB_ID}"
  local limit=${PRIDE_MAX_TRANSIENT_REQUEUES:-3}
  if ((rc == 75)); then
    echo "$name: preempted after a checkpoint; requeueing job ${SLURM_JOB_ID}"
  elif ((rc == 69)); then
    local used
    used=$(cat "$counter" 2>/dev/null || echo 0)
    if ((used >= limit)); then
      echo "$name: transient fault again after $used requeue(s) (PRIDE_MAX_TRANSIENT_REQUEUES=$limit); giving up"
      return "$rc"
    fi
    echo $((used + 1)) >"$counter"
    echo "$name: transient fault (exit 69); requeue $((used + 1)) of $limit for job ${SLURM_JOB_ID}"
  else
    echo "$name: pride exited with ${rc} at $(date)"
    return "$rc"
  fi
  scontrol requeue "$SLURM_JOB_ID" || echo "$name: scontrol requeue failed (already requeued?)"
  return 0
}
