// The process around a command (see process.h).
#include "cli/process.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "distributed/communicator.h"
#include "util/error.h"

namespace pride::cli {
namespace {

// Threads per rank, unless OMP_NUM_THREADS says: torch's own default (about one per physical
// core), shared among this node's ranks. Not more: an OpenMP pool wider than its free cores spins
// at every op while other processes hold them (35x slower steps on a busy 2-core machine).
void set_thread_count(const WorldInfo& world) {
  if (std::getenv("OMP_NUM_THREADS") != nullptr) return;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int share = std::min(torch::get_num_threads(), cores) / std::max(1, world.local_size);
  torch::set_num_threads(std::max(1, share));
}

// Under srun, MPI must see the whole step: a broken PMI/PMIx wiring instead starts N one-rank
// jobs that all write the same run.dir. (A larger world is fine: mpirun inside `srun --pty bash`.)
void check_slurm_wiring(const WorldInfo& world) {
  const char* tasks = std::getenv("SLURM_STEP_NUM_TASKS");
  if (tasks == nullptr || std::atoi(tasks) <= world.world_size) return;
  fail(
      "srun started {} tasks but MPI sees a world of {} rank(s): MPI is not wired to Slurm (try "
      "srun --mpi=pmix, or check `srun --mpi=list`); refusing to start {} separate jobs",
      tasks, world.world_size, tasks);
}

}  // namespace

int run_reporting_errors(const std::function<int()>& body) {
  try {
    return body();
  } catch (const TransientError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kTransientFaultExitCode;
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kBadInputExitCode;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

int run_on_every_rank(int* argc, char*** argv, const RunCommand& run) {
  const WorldInfo world = init_world(argc, argv);
  set_thread_count(world);
  int code = 0;
  try {
    check_slurm_wiring(world);
    code = run(world);
  } catch (const TransientError& e) {
    abort_world(e.what(), kTransientFaultExitCode);
  } catch (const Error& e) {
    abort_world(e.what(), kBadInputExitCode);
  } catch (const std::exception& e) {
    abort_world(e.what(), 1);
  }
  finalize_world();
  return code;
}

}  // namespace pride::cli
