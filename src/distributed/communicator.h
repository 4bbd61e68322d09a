// The one interface every collective goes through, with two backends:
//   MpiCommunicator  - CPU tensors, Open MPI; what CI and CPU runs use.
//   NcclCommunicator - CUDA tensors, NCCL on its own stream (built only with PRIDE_WITH_NCCL).
// Every collective is bounded by dist.timeout_s: one that does not complete in time throws
// pride::Error naming the operation and the current step, instead of hanging the job.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pride {

// Process placement, read from MPI (or the Slurm/Open MPI environment for local rank).
struct WorldInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_size = 1;
};

// A collective started without waiting; wait() blocks until it completes (or times out).
class PendingOp {
 public:
  virtual ~PendingOp() = default;
  virtual void wait() = 0;
  // Advances the operation without blocking; true once it has completed (wait() is still
  // required). MPI moves nonblocking collectives forward only inside MPI calls, so code that
  // overlaps work with a pending op polls it now and then.
  virtual bool poll() { return false; }
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual const WorldInfo& world() const = 0;
  int rank() const { return world().rank; }
  int world_size() const { return world().world_size; }
  virtual std::string backend_name() const = 0;
  // Where this backend wants its tensors (MPI: CPU, staging others through it; NCCL: its GPU).
  virtual torch::Device device() const { return torch::kCPU; }
  // Whether collectives may be started from threads other than the main one (autograd runs
  // CUDA backward on its own threads). MPI is initialized FUNNELED: main thread only.
  virtual bool any_thread_may_launch() const { return false; }

  // In-place sum over ranks; `average` divides by the world size afterwards.
  virtual void all_reduce(torch::Tensor& tensor, bool average = false) = 0;
  virtual std::unique_ptr<PendingOp> all_reduce_async(torch::Tensor& tensor, bool average) = 0;
  // Concatenates each rank's `local` along dim 0, in rank order. Every rank passes the same
  // shape, except along dim 0 where sizes may differ.
  virtual torch::Tensor all_gather(const torch::Tensor& local) = 0;
  // Sums `input` over ranks and leaves the rank-th of world_size equal contiguous slices of the
  // sum in `output` (input.numel() == world_size * output.numel(), same dtype); `average`
  // divides by the world size. ZeRO-1's gradient step.
  virtual void reduce_scatter(const torch::Tensor& input, torch::Tensor& output, bool average) = 0;
  // Fills `output` (world_size * local.numel() elements) with every rank's `local`, in rank
  // order; every rank passes the same size, so no shape exchange is needed. ZeRO-1's parameter
  // step.
  virtual void all_gather_into(const torch::Tensor& local, torch::Tensor& output) = 0;
  // Copies rank `root`'s tensor into `tensor` on every rank (same shape and dtype everywhere).
  virtual void broadcast(torch::Tensor& tensor, int root = 0) = 0;
  virtual void barrier() = 0;

  // Labels the collectives that follow in timeout messages (e.g. the training step).
  void set_context(std::string context) { context_ = std::move(context); }
  const std::string& context() const { return context_; }

 protected:
  std::string context_ = "setup";
};

// Sums a small CPU tensor (counters, metrics) over ranks and returns it on the CPU, staging it on
// the communicator's device (the NCCL backend only reduces its GPU's memory).
inline torch::Tensor all_reduce_small(Communicator& comm, const torch::Tensor& cpu) {
  torch::Tensor staged = cpu.to(comm.device()).contiguous();
  comm.all_reduce(staged);
  return staged.cpu();
}

// Divides a sum over `world_size` ranks into their average: exactly for floating types, truncating
// for integer ones (what every backend does after a sum when asked for an average).
void divide_for_average(torch::Tensor& sum, int64_t world_size);

// Starts MPI if needed and reads the process placement. Safe to call more than once.
WorldInfo init_world(int* argc, char*** argv);
// Ends the whole job from any rank after a fatal error: prints `message` prefixed with the rank,
// then MPI_Abort, so mpirun/srun stop every other rank within seconds.
[[noreturn]] void abort_world(const std::string& message, int exit_code);
// Finalizes MPI (idempotent).
void finalize_world();

// backend: "auto" (NCCL for a CUDA device, MPI otherwise), "mpi" or "nccl".
std::unique_ptr<Communicator> make_communicator(const std::string& backend,
                                                const torch::Device& device, double timeout_s);

}  // namespace pride
