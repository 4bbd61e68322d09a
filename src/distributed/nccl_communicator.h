// NcclCommunicator: the CUDA backend of Communicator. NCCL runs on its own CUDA stream, ordered
// against the caller's current (compute) stream with CUDA events; waits poll the completion event
// and NCCL's async error state until the timeout, then abort the NCCL communicator and throw.
// Built only with PRIDE_WITH_NCCL; nccl.h stays inside nccl_communicator.cpp.
#pragma once

#include <memory>
#include <string>

#include "distributed/communicator.h"

namespace pride {

class NcclCommunicator : public Communicator {
 public:
  // Collective over MPI_COMM_WORLD (init_world first): rank 0 creates the NCCL id and broadcasts
  // it over MPI. `device` without an index means the GPU numbered by the local rank.
  NcclCommunicator(const torch::Device& device, double timeout_s);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  const WorldInfo& world() const override;
  std::string backend_name() const override { return "nccl"; }
  torch::Device device() const override;
  bool any_thread_may_launch() const override { return true; }

  void all_reduce(torch::Tensor& tensor, bool average = false) override;
  std::unique_ptr<PendingOp> all_reduce_async(torch::Tensor& tensor, bool average) override;
  torch::Tensor all_gather(const torch::Tensor& local) override;
  void reduce_scatter(const torch::Tensor& input, torch::Tensor& output, bool average) override;
  void all_gather_into(const torch::Tensor& local, torch::Tensor& output) override;
  void broadcast(torch::Tensor& tensor, int root = 0) override;
  void barrier() override;

  struct Impl;  // opaque: NCCL state, defined in nccl_communicator.cpp

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace pride
