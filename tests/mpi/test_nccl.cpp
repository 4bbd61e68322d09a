// NCCL backend of Communicator and GradientSynchronizer on CUDA tensors. Skipped (on every rank
// alike) unless the build has NCCL and each local rank has its own GPU.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <iostream>

#include "distributed/bench_allreduce.h"
#include "distributed/communicator.h"
#include "distributed/grad_sync.h"

namespace pride {
namespace {

#ifdef PRIDE_WITH_NCCL
constexpr bool kBuiltWithNccl = true;
#else
constexpr bool kBuiltWithNccl = false;
#endif

// The GPU communicator, or null where this machine cannot run it.
std::unique_ptr<Communicator> gpu_comm() {
  const WorldInfo world = init_world(nullptr, nullptr);
  if (!kBuiltWithNccl || !torch::cuda::is_available() ||
      static_cast<int>(torch::cuda::device_count()) < world.local_size) {
    return nullptr;
  }
  return make_communicator("auto", torch::Device(torch::kCUDA, world.local_rank), 60);
}

#define SKIP_WITHOUT_GPUS(comm) \
  if (!(comm)) GTEST_SKIP() << "needs an NCCL build and one GPU per local rank"

TEST(Nccl, AllReduceSumsAveragesAndWritesBack) {
  auto comm = gpu_comm();
  SKIP_WITHOUT_GPUS(comm);
  EXPECT_EQ(comm->backend_name(), "nccl");
  const auto cuda = torch::TensorOptions().device(comm->device());
  const double n = comm->world_size();
  torch::Tensor floats = torch::full({1000}, comm->rank() + 1.0, cuda);
  comm->all_reduce(floats, /*average=*/true);
  EXPECT_TRUE(torch::allclose(floats.cpu(), torch::full({1000}, (n + 1) / 2)));
  torch::Tensor longs = torch::full({3}, comm->rank() + 1, cuda.dtype(torch::kLong));
  comm->all_reduce(longs);
  EXPECT_EQ(longs.sum().item<int64_t>(), 3 * n * (n + 1) / 2);
  torch::Tensor base = torch::ones({3, 2}, cuda);
  torch::Tensor transposed = base.t();
  comm->all_reduce(transposed);
  EXPECT_TRUE(torch::equal(base.cpu(), torch::full({3, 2}, n)));
}

TEST(Nccl, AllGatherBroadcastBarrier) {
  auto comm = gpu_comm();
  SKIP_WITHOUT_GPUS(comm);
  const auto cuda = torch::TensorOptions().device(comm->device());
  std::vector<torch::Tensor> blocks;
  for (int r = 0; r < comm->world_size(); ++r) blocks.push_back(torch::full({r + 1, 2}, r));
  torch::Tensor gathered = comm->all_gather(blocks[comm->rank()].to(comm->device()));
  EXPECT_TRUE(torch::equal(gathered.cpu(), torch::cat(blocks)));
  torch::Tensor values = torch::full({4}, comm->rank(), cuda);
  comm->broadcast(values, comm->world_size() - 1);
  EXPECT_TRUE(torch::equal(values.cpu(), torch::full({4}, comm->world_size() - 1)));
  comm->barrier();
}

TEST(Nccl, ReduceScatterAndAllGatherInto) {
  auto comm = gpu_comm();
  SKIP_WITHOUT_GPUS(comm);
  const auto cuda = torch::TensorOptions().device(comm->device());
  const int64_t n = comm->world_size();
  const torch::Tensor input = torch::arange(3 * n, cuda.dtype(torch::kFloat)) * (comm->rank() + 1);
  torch::Tensor mine = torch::empty({3}, cuda);
  comm->reduce_scatter(input, mine, /*average=*/true);
  const torch::Tensor slice = torch::arange(3 * n, torch::kFloat).narrow(0, 3 * comm->rank(), 3);
  EXPECT_TRUE(torch::allclose(mine.cpu(), slice * ((n + 1) / 2.0)));
  torch::Tensor whole = torch::empty({3 * n}, cuda);
  comm->all_gather_into(torch::full({3}, static_cast<float>(comm->rank()), cuda), whole);
  EXPECT_TRUE(torch::equal(whole.cpu(), torch::arange(n, torch::kFloat).repeat_interleave(3)));
  torch::Tensor in_place = torch::zeros({3 * n}, cuda);  // own slice as the input
  in_place.narrow(0, 3 * comm->rank(), 3).fill_(comm->rank());
  comm->all_gather_into(in_place.narrow(0, 3 * comm->rank(), 3), in_place);
  EXPECT_TRUE(torch::equal(in_place.cpu(), whole.cpu()));
}

TEST(Nccl, GradSyncLaunchesFromBackwardThreads) {
  auto comm = gpu_comm();
  SKIP_WITHOUT_GPUS(comm);
  torch::manual_seed(3);
  torch::nn::Sequential net(torch::nn::Linear(8, 16), torch::nn::Tanh(), torch::nn::Linear(16, 4));
  net->to(comm->device());
  std::vector<torch::Tensor> params = net->parameters();
  torch::Tensor flat = GradientSynchronizer::attach_flat_grad(params);
  GradientSynchronizer sync(*comm, params, flat, /*bucket_mb=*/1e-6);
  torch::manual_seed(10 + comm->rank());
  torch::Tensor x = torch::randn({5, 8}).to(comm->device());
  auto backward = [&] { net->forward(x).pow(2).sum().backward(); };
  backward();
  torch::Tensor expected = comm->all_gather(flat.unsqueeze(0)).mean(0);
  flat.zero_();
  sync.arm();
  backward();
  sync.finish();
  EXPECT_TRUE(torch::allclose(flat, expected, 1e-5, 1e-6));
  EXPECT_EQ(sync.stats().backward_overlap_launches, sync.num_buckets());
  torch::Tensor local = torch::randn({2, 3}, torch::TensorOptions().device(comm->device()));
  EXPECT_EQ(comm->all_gather(local).size(0), 2 * comm->world_size());
}

TEST(Nccl, DISABLED_AllReduceBenchmark) {
  auto comm = gpu_comm();
  SKIP_WITHOUT_GPUS(comm);
  run_allreduce_benchmark(*comm, std::cout);
}

}  // namespace
}  // namespace pride
