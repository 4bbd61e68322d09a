// DistributedAdamW under 1, 2 and 4 ranks: ZeRO-1 (reduce-scatter, AdamW on this rank's slice,
// all-gather) trains like plain data parallel to 1e-6 over 20 steps with clipping on, holds
// 1/N of the optimizer state, and its full-state export/import round-trips across the layouts.
#include <gtest/gtest.h>

#include <iostream>

#include "distributed/communicator.h"
#include "training/distributed_adamw.h"

namespace pride {
namespace {

constexpr double kTestTimeoutS = 60;

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

// Trains `steps` steps on rank-dependent data; returns the final flat parameters.
torch::Tensor train(Communicator& comm, int64_t zero_stage, int steps,
                    int64_t* state_bytes = nullptr) {
  auto model = std::make_shared<Mlp>();
  FlatParameters flat(*model, comm.world_size());
  DistributedAdamW optimizer(comm, flat, options(zero_stage));
  for (int step = 0; step < steps; ++step) {
    torch::manual_seed(1000 * step + comm.rank());
    flat.zero_grad();
    optimizer.arm();
    torch::mse_loss(model->forward(torch::randn({6, 64})), torch::randn({6, 3})).backward();
    const double norm = optimizer.step(/*lr=*/0.01, /*max_norm=*/0.05);
    if (step == 0) EXPECT_GT(norm, 0.05) << "the test means to clip";
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
  EXPECT_EQ(plain_bytes, 3 * kMlpParams * 4);
  EXPECT_EQ(zero_bytes, 3 * ((kMlpParams + n - 1) / n) * 4);
  if (n > 1) EXPECT_LT(zero_bytes, plain_bytes);
  if (comm->rank() == 0) {
    std::cout << "[ memory   ] optimizer state per rank at " << n << " rank(s): plain "
              << plain_bytes << " B, ZeRO-1 " << zero_bytes << " B" << std::endl;
  }
}

TEST(DistributedAdamW, FullStateRoundTripsAcrossLayouts) {
  auto comm = make_communicator("mpi", torch::kCPU, kTestTimeoutS);
  auto model = std::make_shared<Mlp>();
  FlatParameters flat(*model, comm->world_size());
  DistributedAdamW plain(*comm, flat, options(0));
  DistributedAdamW zero(*comm, flat, options(1));
  const torch::Tensor exp_avg = torch::arange(flat.numel(), torch::kFloat);
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
