// DistributedAdamW under 1, 2 and 4 ranks: ZeRO-1 (reduce-scatter, AdamW on this rank's slice,
// all-gather) trains like plain data parallel to 1e-6 over 20 steps with clipping on, holds
// 1/N of the optimizer state, and its full-state export/import round-trips across the layouts;
// frozen parameters take no gradient memory, optimizer state or communication in either layout.
#include <gtest/gtest.h>

#include <iostream>
#include <map>

#include "device_checking_communicator.h"
#include "distributed/communicator.h"
#include "support.h"
#include "training/distributed_adamw.h"

namespace pride {
namespace {

using test::kTestTimeoutS;

// Three layers whose parameter count (64*96 + 96 + 96*48 + 48 + 48*3 + 3 = 11043) is odd, so at
// 2 and 4 ranks the last rank's slice reaches into the padding.
constexpr int64_t kMlpParams = 11043;
struct Mlp : torch::nn::Module {
  Mlp() {
    torch::manual_seed(7);
    a = register_module("a", torch::nn::Linear(64, 96));
    b = register_module("b", torch::nn::Linear(96, 48));
    c = register_module("c", torch::nn::Linear(48, 3));
  }
  torch::Tensor forward(const torch::Tensor& x) { return c(torch::tanh(b(torch::tanh(a(x))))); }
  torch::nn::Linear a{nullptr}, b{nullptr}, c{nullptr};
};

DistributedAdamWOptions options(int64_t zero_stage) {
  DistributedAdamWOptions o;
  o.adamw = {0.9, 0.95, 1e-8, 0.1};
  o.zero_stage = zero_stage;
  o.bucket_mb = 1e-4;  // several buckets for the plain layout
  return o;
}

// Trains `steps` steps on rank-dependent data; returns the final flat parameters (with
// freeze_a: the first layer frozen, and the trainable ones only).
torch::Tensor train(Communicator& comm, int64_t zero_stage, int steps,
                    int64_t* state_bytes = nullptr, bool freeze_a = false) {
  auto model = std::make_shared<Mlp>();
  if (freeze_a) {
    for (auto& p : model->a->parameters()) p.set_requires_grad(false);
  }
  FlatParameters flat(*model, comm.world_size());
  DistributedAdamW optimizer(comm, flat, options(zero_stage));
  for (int step = 0; step < steps; ++step) {
    torch::manual_seed(1000 * step + comm.rank());
    flat.zero_grad();
    optimizer.arm();
    torch::mse_loss(model->forward(torch::randn({6, 64})), torch::randn({6, 3})).backward();
    const double norm = optimizer.step(/*lr=*/0.01, /*max_norm=*/0.05);
    if (step == 0) {
      EXPECT_GT(norm, 0.05) << "the test means to clip";
    }
  }
  if (state_bytes) *state_bytes = optimizer.state_bytes();
  return flat.values().clone();
}

TEST(DistributedAdamW, ZeroOneTrainsLikePlainDataParallel) {
  auto comm = make_communicator("mpi", torch::kCPU, kTestTimeoutS);
  int64_t plain_bytes = 0, zero_bytes = 0;
  const torch::Tensor plain = train(*comm, 0, 20, &plain_bytes);
  const torch::Tensor zero = train(*comm, 1, 20, &zero_bytes);
  const double relative = ((zero - plain).norm() / plain.norm()).item<double>();
  EXPECT_LT(relative, 1e-6);
  // Every rank ends with the same parameters (the all-gather rebuilt them everywhere).
  const torch::Tensor everyone = comm->all_gather(zero.unsqueeze(0));
  for (int r = 0; r < comm->world_size(); ++r) EXPECT_TRUE(torch::equal(everyone[r], zero));
  const int64_t n = comm->world_size();
  EXPECT_EQ(plain_bytes, 2 * kMlpParams * 4);
  EXPECT_EQ(zero_bytes, 2 * ((kMlpParams + n - 1) / n) * 4);
  if (n > 1) {
    EXPECT_LT(zero_bytes, plain_bytes);
  }
  if (comm->rank() == 0) {
    std::cout << "[ memory   ] optimizer state per rank at " << n << " rank(s): plain "
              << plain_bytes << " B, ZeRO-1 " << zero_bytes << " B" << std::endl;
  }
}

// Counts the elements each collective is handed (its input), by operation.
class CountingCommunicator : public DeviceCheckingCommunicator {
 public:
  using DeviceCheckingCommunicator::DeviceCheckingCommunicator;
  void all_reduce(torch::Tensor& t, bool average) override {
    elements["all_reduce"] += t.numel();
    DeviceCheckingCommunicator::all_reduce(t, average);
  }
  std::unique_ptr<PendingOp> all_reduce_async(torch::Tensor& t, bool average) override {
    elements["all_reduce_async"] += t.numel();
    return DeviceCheckingCommunicator::all_reduce_async(t, average);
  }
  void reduce_scatter(const torch::Tensor& input, torch::Tensor& output, bool average) override {
    elements["reduce_scatter"] += input.numel();
    DeviceCheckingCommunicator::reduce_scatter(input, output, average);
  }
  void all_gather_into(const torch::Tensor& local, torch::Tensor& output) override {
    elements["all_gather_into"] += output.numel();
    DeviceCheckingCommunicator::all_gather_into(local, output);
  }
  std::map<std::string, int64_t> elements;
};

// model.freeze: with the first layer (64*96 + 96 values) frozen, the gradient buffer, the AdamW
// moments and every gradient/parameter collective count the trainable elements only, the frozen
// layer keeps its initial values bit for bit on every rank, and ZeRO-1 still matches plain.
TEST(DistributedAdamW, FrozenParametersTakeNoStateNorCommunication) {
  constexpr int64_t kFrozen = 64 * 96 + 96, kTrainable = kMlpParams - kFrozen;
  CountingCommunicator comm(make_communicator("mpi", torch::kCPU, kTestTimeoutS));
  const int64_t n = comm.world_size();
  const int64_t padded = (kTrainable + n - 1) / n * n;
  constexpr int kSteps = 6;
  int64_t plain_bytes = 0, zero_bytes = 0;
  const torch::Tensor plain = train(comm, 0, kSteps, &plain_bytes, /*freeze_a=*/true);
  EXPECT_EQ(comm.elements["all_reduce_async"], kSteps * kTrainable);
  EXPECT_EQ(plain_bytes, 2 * kTrainable * 4);
  comm.elements.clear();
  const torch::Tensor zero = train(comm, 1, kSteps, &zero_bytes, /*freeze_a=*/true);
  EXPECT_EQ(comm.elements["reduce_scatter"], kSteps * padded);
  EXPECT_EQ(comm.elements["all_gather_into"], kSteps * padded);
  EXPECT_EQ(comm.elements["all_reduce"], kSteps);  // the squared norm
  EXPECT_EQ(zero_bytes, 2 * (padded / n) * 4);
  EXPECT_TRUE(comm.violations.empty());
  EXPECT_EQ(plain.numel(), kTrainable);
  EXPECT_LT(((zero - plain).norm() / plain.norm()).item<double>(), 1e-6);

  auto model = std::make_shared<Mlp>();  // the same seed: the initial values
  for (auto& p : model->a->parameters()) p.set_requires_grad(false);
  FlatParameters flat(*model, n);
  DistributedAdamW optimizer(comm, flat, options(1));
  EXPECT_EQ(optimizer.gradient_bytes(), (padded + padded / n) * 4);
  const torch::Tensor frozen_before = flat.all_values().narrow(0, 0, kFrozen).clone();
  for (int step = 0; step < 3; ++step) {
    torch::manual_seed(step + 100 * comm.rank());
    flat.zero_grad();
    torch::mse_loss(model->forward(torch::randn({6, 64})), torch::randn({6, 3})).backward();
    optimizer.step(/*lr=*/0.01, /*max_norm=*/0);
  }
  EXPECT_TRUE(torch::equal(flat.all_values().narrow(0, 0, kFrozen), frozen_before));
  EXPECT_FALSE(model->a->weight.grad().defined());
}

TEST(DistributedAdamW, FullStateRoundTripsAcrossLayouts) {
  auto comm = make_communicator("mpi", torch::kCPU, kTestTimeoutS);
  auto model = std::make_shared<Mlp>();
  FlatParameters flat(*model, comm->world_size());
  DistributedAdamW plain(*comm, flat, options(0));
  DistributedAdamW zero(*comm, flat, options(1));
  const torch::Tensor exp_avg = torch::arange(flat.trainable_numel(), torch::kFloat);
  const torch::Tensor exp_avg_sq = exp_avg * 2;
  zero.load_state(exp_avg, exp_avg_sq, 5);
  EXPECT_TRUE(torch::equal(zero.full_exp_avg(), exp_avg));
  EXPECT_TRUE(torch::equal(zero.full_exp_avg_sq(), exp_avg_sq));
  EXPECT_EQ(zero.step_count(), 5);
  plain.load_state(zero.full_exp_avg(), zero.full_exp_avg_sq(), zero.step_count());
  EXPECT_TRUE(torch::equal(plain.full_exp_avg(), exp_avg));
}

}  // namespace
}  // namespace pride
