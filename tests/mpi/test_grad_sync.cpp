// GradientSynchronizer under 1, 2 and 4 ranks: the flat buffer ends up as the average of the
// per-rank gradients whatever the bucket size, buckets launch from autograd hooks during
// backward, micro-batches accumulate locally, unused parameters do not hang the step, and after
// the first step the buckets follow the order in which gradients became ready.
#include <gtest/gtest.h>

#include <algorithm>

#include "distributed/communicator.h"
#include "distributed/grad_sync.h"
#include "support.h"
#include "util/error.h"

namespace pride {
namespace {

using test::kTestTimeoutS;
constexpr double kOneBucketMb = 25;     // the whole model fits in one bucket
constexpr double kTinyBucketMb = 1e-6;  // every parameter its own bucket

// A small MLP, identical on every rank, with its grads attached to one flat buffer. With
// `unused_layer`, a Linear that forward never touches sits in the middle of the parameter list;
// with `last_layer_first`, the last Linear's params open the list (so the flat layout is not the
// reverse of the order backward finishes them in).
struct Net {
  explicit Net(bool unused_layer = false, bool last_layer_first = false) {
    torch::manual_seed(1234);
    layers = torch::nn::Sequential(torch::nn::Linear(8, 16), torch::nn::Tanh(),
                                   torch::nn::Linear(16, 16), torch::nn::Tanh(),
                                   torch::nn::Linear(16, 4));
    params = layers->parameters();
    if (unused_layer) {
      unused = torch::nn::Linear(16, 16);
      std::vector<torch::Tensor> extra = unused->parameters();
      params.insert(params.begin() + 2, extra.begin(), extra.end());
    }
    if (last_layer_first) std::rotate(params.begin(), params.end() - 2, params.end());
    flat_grad = GradientSynchronizer::attach_flat_grad(params);
  }

  // Backward of a rank- and micro-batch-dependent loss (accumulates into flat_grad).
  void backward(int rank, int micro_batch) {
    torch::manual_seed(100 + rank + 17 * micro_batch);
    torch::Tensor x = torch::randn({5, 8});
    torch::Tensor y = torch::randn({5, 4});
    torch::mse_loss(layers->forward(x), y).backward();
  }

  torch::nn::Sequential layers;
  torch::nn::Linear unused{nullptr};
  std::vector<torch::Tensor> params;
  torch::Tensor flat_grad;
};

// The average over ranks of each rank's own `local` gradients, computed independently of the
// synchronizer (gather everything, average locally).
torch::Tensor average_over_ranks(Communicator& comm, const torch::Tensor& local) {
  return comm.all_gather(local.unsqueeze(0)).mean(0);
}

// This rank's gradient summed over `micro_batches` backward passes, without any communication.
torch::Tensor local_gradient(Net& net, int rank, int micro_batches) {
  for (int micro = 0; micro < micro_batches; ++micro) net.backward(rank, micro);
  torch::Tensor local = net.flat_grad.clone();
  net.flat_grad.zero_();
  return local;
}

void expect_close(const torch::Tensor& actual, const torch::Tensor& expected) {
  EXPECT_TRUE(torch::allclose(actual, expected, /*rtol=*/1e-5, /*atol=*/1e-7))
      << "max abs difference " << (actual - expected).abs().max().item<float>();
}

class GradSyncBuckets : public testing::TestWithParam<double> {};

TEST_P(GradSyncBuckets, AveragesGradientsOverRanksWithOverlap) {
  auto comm = make_communicator("mpi", torch::kCPU, kTestTimeoutS);
  Net net;
  GradientSynchronizer sync(*comm, net.params, net.flat_grad, GetParam());
  const torch::Tensor expected =
      average_over_ranks(*comm, local_gradient(net, comm->rank(), 1));  // hooks unarmed: no comm

  sync.arm();
  net.backward(comm->rank(), 0);
  sync.finish();
  expect_close(net.flat_grad, expected);
  EXPECT_EQ(sync.num_buckets(), GetParam() == kOneBucketMb ? 1 : 6);
  // Every parameter is used, so every bucket completes, and launches, inside backward.
  EXPECT_EQ(sync.stats().backward_overlap_launches, sync.num_buckets());
  EXPECT_GE(sync.stats().comm_exposed_s, 0.0);
}

INSTANTIATE_TEST_SUITE_P(BucketSizes, GradSyncBuckets, testing::Values(kOneBucketMb, kTinyBucketMb),
                         [](const auto& info) {
                           return info.param == kOneBucketMb ? "One" : "PerParam";
                         });

TEST(GradSync, BucketSizeDoesNotChangeTheResult) {
  auto comm = make_communicator("mpi", torch::kCPU, kTestTimeoutS);
  Net net;
  GradientSynchronizer one_bucket(*comm, net.params, net.flat_grad, kOneBucketMb);
  GradientSynchronizer many_buckets(*comm, net.params, net.flat_grad, kTinyBucketMb);
  std::vector<torch::Tensor> results;
  for (GradientSynchronizer* sync : {&one_bucket, &many_buckets}) {
    sync->arm();  // the other synchronizer's hooks stay unarmed and must not interfere
    net.backward(comm->rank(), 0);
    sync->finish();
    results.push_back(net.flat_grad.clone());
    net.flat_grad.zero_();
  }
  EXPECT_TRUE(torch::allclose(results[0], results[1], /*rtol=*/1e-6, /*atol=*/1e-8));
}

TEST(GradSync, MicroBatchesAccumulateLocallyAndSyncOnTheLast) {
  auto comm = make_communicator("mpi", torch::kCPU, kTestTimeoutS);
  Net net;
  GradientSynchronizer sync(*comm, net.params, net.flat_grad, kTinyBucketMb);
  const torch::Tensor first_two = local_gradient(net, comm->rank(), 2);
  const torch::Tensor expected = average_over_ranks(*comm, local_gradient(net, comm->rank(), 3));

  net.backward(comm->rank(), 0);
  net.backward(comm->rank(), 1);
  expect_close(net.flat_grad, first_two);  // still this rank's own sum: nothing communicated
  sync.arm();
  net.backward(comm->rank(), 2);
  sync.finish();
  expect_close(net.flat_grad, expected);
}

TEST(GradSync, UnusedParameterDoesNotHang) {
  auto comm = make_communicator("mpi", torch::kCPU, kTestTimeoutS);
  Net net(/*unused_layer=*/true);
  for (double bucket_mb : {kOneBucketMb, kTinyBucketMb}) {
    GradientSynchronizer sync(*comm, net.params, net.flat_grad, bucket_mb);
    const torch::Tensor expected = average_over_ranks(*comm, local_gradient(net, comm->rank(), 1));
    sync.arm();
    net.backward(comm->rank(), 0);
    sync.finish();
    expect_close(net.flat_grad, expected);
    EXPECT_EQ(net.unused->weight.grad().abs().sum().item<float>(), 0.0f);
    // Buckets from the unused one on wait for finish(): in-order launch keeps ranks in step.
    EXPECT_LT(sync.stats().backward_overlap_launches, sync.num_buckets());
    net.flat_grad.zero_();
  }
}

class GradSyncReadyOrder : public testing::TestWithParam<double> {};

// Flat layout [L3.w, L3.b, L1.w, L1.b, L2.w, L2.b]; backward finishes L3, then L2, then L1.
TEST_P(GradSyncReadyOrder, RebuildsBucketsInReadyOrderWithUnchangedResults) {
  auto comm = make_communicator("mpi", torch::kCPU, kTestTimeoutS);
  Net net(/*unused_layer=*/false, /*last_layer_first=*/true);
  GradientSynchronizer sync(*comm, net.params, net.flat_grad, GetParam());
  for (int step = 0; step < 3; ++step) {
    const torch::Tensor expected =
        average_over_ranks(*comm, local_gradient(net, comm->rank() + 7 * step, 1));
    sync.arm();
    net.backward(comm->rank() + 7 * step, 0);
    sync.finish();
    expect_close(net.flat_grad, expected);
    net.flat_grad.zero_();
  }
  std::vector<int64_t> order;
  for (const auto& bucket : sync.bucket_params())
    order.insert(order.end(), bucket.begin(), bucket.end());
  const std::vector<int64_t> layer_of = {3, 3, 1, 1, 2, 2};
  std::vector<int64_t> layers;
  for (int64_t i : order) layers.push_back(layer_of[i]);
  EXPECT_EQ(layers, (std::vector<int64_t>{3, 3, 2, 2, 1, 1}));
  // Every rank holds the same buckets (rank 0's order), or the collectives would not match.
  const torch::Tensor mine = torch::tensor(order, torch::kInt64);
  const torch::Tensor all = comm->all_gather(mine.unsqueeze(0));
  for (int r = 0; r < comm->world_size(); ++r) EXPECT_TRUE(torch::equal(all[r], mine));
}

// Per param; two layers per bucket (the first bucket, L3 and L2, spans two ranges of the flat
// buffer); everything in one.
INSTANTIATE_TEST_SUITE_P(BucketSizes, GradSyncReadyOrder,
                         testing::Values(kTinyBucketMb, 0.00115, kOneBucketMb));

TEST(GradSync, KeepsTheReverseOrderWhenAskedTo) {
  auto comm = make_communicator("mpi", torch::kCPU, kTestTimeoutS);
  Net net(/*unused_layer=*/false, /*last_layer_first=*/true);
  GradientSynchronizer sync(*comm, net.params, net.flat_grad, kTinyBucketMb,
                            /*reorder_by_readiness=*/false);
  sync.arm();
  net.backward(comm->rank(), 0);
  sync.finish();
  std::vector<size_t> order;
  for (const auto& bucket : sync.bucket_params()) order.push_back(bucket.at(0));
  EXPECT_EQ(order, (std::vector<size_t>{5, 4, 3, 2, 1, 0}));
}

TEST(GradSync, RejectsGradsThatAreNotViewsOfTheFlatBuffer) {
  auto comm = make_communicator("mpi", torch::kCPU, kTestTimeoutS);
  Net net;
  GradientSynchronizer sync(*comm, net.params, net.flat_grad, kOneBucketMb);
  net.params[3].mutable_grad() = torch::Tensor();  // e.g. zero_grad(set_to_none)
  EXPECT_THROW(sync.arm(), Error);
  EXPECT_THROW(GradientSynchronizer(*comm, net.params, net.flat_grad.narrow(0, 0, 10), 1.0), Error);
}

TEST(GradSync, ArmTwiceIsAnError) {
  auto comm = make_communicator("mpi", torch::kCPU, kTestTimeoutS);
  Net net;
  GradientSynchronizer sync(*comm, net.params, net.flat_grad, kOneBucketMb);
  sync.arm();
  EXPECT_THROW(sync.arm(), Error);
  sync.finish();  // still completes the step (collectively)
}

}  // namespace
}  // namespace pride
