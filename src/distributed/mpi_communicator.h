// MpiCommunicator: the CPU backend of Communicator over Open MPI nonblocking collectives.
// Every collective is started nonblocking and then polled with MPI_Test until it completes or
// the timeout passes, so a dead or diverged rank turns into a pride::Error instead of a hang.
// Tensors that are not contiguous CPU tensors are staged through a contiguous CPU copy.
#pragma once

#include "distributed/mpi_c.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "distributed/communicator.h"

namespace pride {

// Rank, size and node-local placement of the processes in `comm` (collective over `comm`).
WorldInfo describe_comm(MPI_Comm comm);

class MpiCommunicator : public Communicator {
 public:
  // Duplicates `parent` so that this communicator's collectives never match anyone else's.
  // Collective over `parent`: every rank must construct it.
  MpiCommunicator(MPI_Comm parent, double timeout_s);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  const WorldInfo& world() const override { return world_; }
  std::string backend_name() const override { return "mpi"; }

  void all_reduce(torch::Tensor& tensor, bool average = false) override;
  std::unique_ptr<PendingOp> all_reduce_async(torch::Tensor& tensor, bool average) override;
  torch::Tensor all_gather(const torch::Tensor& local) override;
  void reduce_scatter(const torch::Tensor& input, torch::Tensor& output, bool average) override;
  void all_gather_into(const torch::Tensor& local, torch::Tensor& output) override;
  void broadcast(torch::Tensor& tensor, int root = 0) override;
  void barrier() override;

  // Dim-0 size of every rank's `local`, after checking that all ranks agree on dtype, rank and
  // elements per row (a mismatch throws on every rank alike). all_gather's first step.
  std::vector<int64_t> gather_row_counts(const torch::Tensor& local);

  double timeout_s() const { return timeout_s_; }
  MPI_Comm comm() const { return comm_; }

 private:
  class Op;
  // Starts a nonblocking collective via `start_fn`; `buffers` (and anything else the request
  // reads or writes) stay alive until it completes, then `on_complete` runs once in wait().
  std::unique_ptr<Op> start(std::string description, std::vector<torch::Tensor> buffers,
                            const std::function<int(MPI_Request*)>& start_fn,
                            std::function<void()> on_complete = {});

  MPI_Comm comm_ = MPI_COMM_NULL;
  WorldInfo world_;
  double timeout_s_;
};

}  // namespace pride
