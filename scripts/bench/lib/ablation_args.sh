# Shared by scripts/bench/ablations.sh and ablation_generation.sh (sourced, with "$@"): the binary,
# the seeds, STEPS/JOBS, and the runs' directory, which both must name alike.
pride=${1:-build/pride}
shift || true
[ $# -gt 0 ] && seeds=("$@") || seeds=(1 2 3)
steps=${STEPS:-600}
jobs=${JOBS:-$(nproc)}
work=runs/ablations-$steps${SET:+-$(echo "$SET" | tr ' =/' '_-_')}
