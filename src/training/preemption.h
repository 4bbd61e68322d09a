// Preemption: SIGTERM (Slurm's warning before it kills a job, or `scancel --signal`) and SIGUSR1
// (the sbatch templates' `--signal=USR1@120`) set a flag. The trainer all-reduces the flag at every
// step so all ranks stop at the same step, saves a checkpoint, and exits with
// kPreemptedExitCode; the Slurm templates requeue on that code and the requeued job resumes with
// `--resume auto`. Further signals during the save only set the flag again.
#pragma once

namespace pride {

constexpr int kPreemptedExitCode = 75;  // EX_TEMPFAIL: "try again later"

void install_preemption_handlers();
bool preemption_requested();
int preemption_signal();  // the last signal received, 0 if none

}  // namespace pride
