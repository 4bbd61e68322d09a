// Process-wide MPI lifetime (init_world / abort_world / finalize_world) and the backend choice
// behind make_communicator.
#include "distributed/communicator.h"

#include "distributed/mpi_c.h"

#include <cstdio>
#include <cstdlib>

#include "distributed/mpi_communicator.h"
#include "util/error.h"

#ifdef PRIDE_WITH_NCCL
#include "distributed/nccl_communicator.h"
#endif

namespace pride {
namespace {

bool mpi_running() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

constexpr bool kBuiltWithNccl =
#ifdef PRIDE_WITH_NCCL
    true;
#else
    false;
#endif

}  // namespace

WorldInfo init_world(int* argc, char*** argv) {
  static WorldInfo world;
  static bool described = false;
  if (described) return world;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    // All MPI calls come from the main thread (autograd hooks of CPU backward run on it too).
    int provided = 0;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (provided < MPI_THREAD_FUNNELED) {
      fail("MPI provides thread level {}, below MPI_THREAD_FUNNELED", provided);
    }
  }
  world = describe_comm(MPI_COMM_WORLD);
  described = true;
  return world;
}

void divide_for_average(torch::Tensor& sum, int64_t world_size) {
  torch::NoGradGuard no_grad;
  if (torch::isIntegralType(sum.scalar_type(), /*includeBool=*/false)) {
    sum.div_(world_size, "trunc");
  } else {
    sum.div_(static_cast<double>(world_size));
  }
}

void abort_world(const std::string& message, int exit_code) {
  int rank = 0;
  if (mpi_running()) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "[rank %d] error: %s\n", rank, message.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  if (mpi_running()) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::exit(exit_code);
}

void finalize_world() {
  if (mpi_running()) MPI_Finalize();
}

std::unique_ptr<Communicator> make_communicator(const std::string& backend,
                                                const torch::Device& device, double timeout_s) {
  if (backend != "auto" && backend != "mpi" && backend != "nccl") {
    fail("dist.backend must be auto, mpi or nccl, got '{}'", backend);
  }
  if (!mpi_running()) fail("make_communicator: call init_world first");
  const bool use_nccl =
      backend == "nccl" || (backend == "auto" && device.is_cuda() && kBuiltWithNccl);
  if (!use_nccl) return std::make_unique<MpiCommunicator>(MPI_COMM_WORLD, timeout_s);
  if (!kBuiltWithNccl) {
    fail(
        "dist.backend=nccl, but this binary was built without NCCL (needs CUDA LibTorch and "
        "NCCL at build time); use dist.backend=mpi");
  }
  if (!device.is_cuda()) {
    fail("dist.backend=nccl needs a CUDA device, but the run uses {}", device.str());
  }
#ifdef PRIDE_WITH_NCCL
  return std::make_unique<NcclCommunicator>(device, timeout_s);
#else
  fail("unreachable: NCCL backend requested without NCCL");
#endif
}

}  // namespace pride
