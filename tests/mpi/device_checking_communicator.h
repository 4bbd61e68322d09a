// A Communicator wrapper for the MPI suites that records every tensor handed to a collective on a
// device other than the communicator's own: the one source of truth for where collective tensors
// live (NCCL rejects any other device; on the GPU machine these suites run with NCCL).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "distributed/communicator.h"

namespace pride {

class DeviceCheckingCommunicator : public Communicator {
 public:
  explicit DeviceCheckingCommunicator(std::unique_ptr<Communicator> inner)
      : inner_(std::move(inner)) {}
  const WorldInfo& world() const override { return inner_->world(); }
  std::string backend_name() const override { return inner_->backend_name(); }
  torch::Device device() const override { return inner_->device(); }
  bool any_thread_may_launch() const override { return inner_->any_thread_may_launch(); }
  void all_reduce(torch::Tensor& t, bool average) override {
    check(t, "all_reduce");
    inner_->all_reduce(t, average);
  }
  std::unique_ptr<PendingOp> all_reduce_async(torch::Tensor& t, bool average) override {
    check(t, "all_reduce_async");
    return inner_->all_reduce_async(t, average);
  }
  torch::Tensor all_gather(const torch::Tensor& t) override {
    check(t, "all_gather");
    return inner_->all_gather(t);
  }
  void reduce_scatter(const torch::Tensor& input, torch::Tensor& output, bool average) override {
    check(input, "reduce_scatter");
    check(output, "reduce_scatter");
    inner_->reduce_scatter(input, output, average);
  }
  void all_gather_into(const torch::Tensor& local, torch::Tensor& output) override {
    check(local, "all_gather_into");
    check(output, "all_gather_into");
    inner_->all_gather_into(local, output);
  }
  void broadcast(torch::Tensor& t, int root) override {
    check(t, "broadcast");
    inner_->broadcast(t, root);
  }
  void barrier() override { inner_->barrier(); }

  std::vector<std::string> violations;

 private:
  void check(const torch::Tensor& t, const std::string& op) {
    if (t.device() != device()) violations.push_back(op + " got " + t.device().str());
  }
  std::unique_ptr<Communicator> inner_;
};

inline std::unique_ptr<DeviceCheckingCommunicator> checked_comm(double timeout_s) {
  const torch::Device device =
      torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  return std::make_unique<DeviceCheckingCommunicator>(make_communicator("auto", device, timeout_s));
}

}  // namespace pride
