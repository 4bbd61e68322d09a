// MPI backend of Communicator under 1, 2 and 4 ranks: all_reduce by dtype, staging of
// non-contiguous tensors, async ops, all_gather with unequal sizes, reduce_scatter and
// all_gather_into, broadcast, barrier, the
// timeout path, and backend selection in make_communicator.
#include <gtest/gtest.h>
#include "distributed/mpi_c.h"

#include <chrono>
#include <iostream>
#include <thread>

#include "distributed/bench_allreduce.h"
#include "distributed/communicator.h"
#include "distributed/mpi_communicator.h"
#include "support.h"
#include "util/error.h"

namespace pride {
namespace {

using test::kTestTimeoutS;

std::unique_ptr<Communicator> world_comm() {
  return make_communicator("mpi", torch::kCPU, kTestTimeoutS);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Runs `body`, expecting a pride::Error whose message contains every one of `parts`.
template <typename Body>
void expect_error(Body&& body, std::initializer_list<const char*> parts) {
  try {
    body();
    ADD_FAILURE() << "expected pride::Error";
  } catch (const Error& error) {
    for (const char* part : parts) {
      EXPECT_NE(std::string(error.what()).find(part), std::string::npos)
          << "message: " << error.what() << "\nmissing: " << part;
    }
  }
}

TEST(Communicator, DescribesTheWorld) {
  auto comm = world_comm();
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  EXPECT_EQ(comm->backend_name(), "mpi");
  EXPECT_EQ(comm->world_size(), size);
  EXPECT_LT(comm->world().local_rank, comm->world().local_size);
  EXPECT_LE(comm->world().local_size, comm->world_size());
  torch::Tensor ranks = comm->all_gather(torch::tensor({comm->rank()}, torch::kLong));
  EXPECT_TRUE(torch::equal(ranks, torch::arange(size, torch::kLong)));
}

// ZeRO-1's pair: reduce_scatter leaves each rank its slice of the sum (or mean), all_gather_into
// puts every rank's slice back together, in rank order.
TEST(Communicator, ReduceScatterAndAllGatherInto) {
  auto comm = world_comm();
  const int64_t n = comm->world_size();
  const torch::Tensor input = torch::arange(3 * n, torch::kFloat) * (comm->rank() + 1);
  torch::Tensor mine = torch::empty({3});
  comm->reduce_scatter(input, mine, /*average=*/false);
  const torch::Tensor slice = torch::arange(3 * n, torch::kFloat).narrow(0, 3 * comm->rank(), 3);
  EXPECT_TRUE(torch::allclose(mine, slice * static_cast<double>(n * (n + 1) / 2)));
  comm->reduce_scatter(input, mine, /*average=*/true);
  EXPECT_TRUE(torch::allclose(mine, slice * ((n + 1) / 2.0)));

  torch::Tensor whole = torch::empty({3 * n});
  comm->all_gather_into(torch::full({3}, static_cast<float>(comm->rank())), whole);
  EXPECT_TRUE(torch::equal(whole, torch::arange(n, torch::kFloat).repeat_interleave(3)));
  torch::Tensor in_place = torch::zeros({3 * n});  // own slice as the input (MPI_IN_PLACE)
  in_place.narrow(0, 3 * comm->rank(), 3).fill_(comm->rank());
  comm->all_gather_into(in_place.narrow(0, 3 * comm->rank(), 3), in_place);
  EXPECT_TRUE(torch::equal(in_place, whole));
  torch::Tensor wrong = torch::empty({3 * n + 1});
  expect_error([&] { comm->reduce_scatter(wrong, mine, false); }, {"reduce_scatter", "needs"});
}

class AllReduceByType : public testing::TestWithParam<torch::ScalarType> {};

TEST_P(AllReduceByType, SumsAndAverages) {
  auto comm = world_comm();
  const int64_t n = comm->world_size();
  const torch::Tensor base = torch::arange(6, torch::kLong);  // rank r contributes base * (r + 1)
  torch::Tensor sum = (base * (comm->rank() + 1)).to(GetParam());
  torch::Tensor average = sum.clone();
  comm->all_reduce(sum);
  comm->all_reduce(average, /*average=*/true);
  const torch::Tensor expected_sum = base * (n * (n + 1) / 2);
  EXPECT_TRUE(torch::equal(sum, expected_sum.to(GetParam())));
  const torch::Tensor expected_average = torch::isIntegralType(GetParam(), false)
                                             ? expected_sum.div(n, "trunc").to(GetParam())
                                             : (expected_sum.to(GetParam()) / n);
  EXPECT_TRUE(torch::allclose(average, expected_average)) << average;
}

INSTANTIATE_TEST_SUITE_P(Dtypes, AllReduceByType,
                         testing::Values(torch::kFloat, torch::kDouble, torch::kLong, torch::kInt,
                                         torch::kByte),
                         [](const auto& info) { return std::string(c10::toString(info.param)); });

TEST(Communicator, AllReduceWritesBackIntoNonContiguousViews) {
  auto comm = world_comm();
  torch::Tensor base = torch::ones({3, 2});
  torch::Tensor transposed = base.t();  // a view that MPI cannot use directly
  comm->all_reduce(transposed);
  EXPECT_TRUE(torch::equal(base, torch::full({3, 2}, comm->world_size(), torch::kFloat)));
}

TEST(Communicator, AsyncOpsCanBeWaitedInAnyOrder) {
  auto comm = world_comm();
  torch::Tensor first = torch::full({1000}, comm->rank() + 1.0);
  torch::Tensor second = torch::full({10}, 2.0 * comm->rank());
  auto first_op = comm->all_reduce_async(first, /*average=*/true);
  auto second_op = comm->all_reduce_async(second, /*average=*/false);
  second_op->wait();
  first_op->wait();
  const double n = comm->world_size();
  EXPECT_TRUE(torch::allclose(first, torch::full({1000}, (n + 1) / 2)));
  EXPECT_TRUE(torch::allclose(second, torch::full({10}, n * (n - 1))));
}

TEST(Communicator, RejectsUnsupportedDtypes) {
  auto comm = world_comm();
  torch::Tensor half = torch::zeros({4}, torch::kHalf);
  expect_error([&] { comm->all_reduce(half); }, {"all_reduce", "Half"});
}

TEST(Communicator, AllGatherConcatenatesUnequalSizesInRankOrder) {
  auto comm = world_comm();
  auto rows_of = [](int r) { return r + 1; };  // rank r contributes r + 1 rows of r-tagged data
  auto block_of = [&](int r) {
    return (torch::arange(rows_of(r) * 3, torch::kLong) + 100 * r).view({rows_of(r), 3});
  };
  std::vector<torch::Tensor> blocks;
  for (int r = 0; r < comm->world_size(); ++r) blocks.push_back(block_of(r));
  EXPECT_TRUE(torch::equal(comm->all_gather(block_of(comm->rank())), torch::cat(blocks)));
  // Non-contiguous input, float dtype.
  torch::Tensor columns = block_of(comm->rank()).t().contiguous().to(torch::kFloat).t();
  EXPECT_TRUE(torch::equal(comm->all_gather(columns), torch::cat(blocks).to(torch::kFloat)));
}

TEST(Communicator, AllGatherAcceptsEmptyContributions) {
  auto comm = world_comm();
  torch::Tensor local =
      torch::full({comm->rank(), 2}, comm->rank(), torch::kDouble);  // rank 0: none
  torch::Tensor gathered = comm->all_gather(local);
  const int n = comm->world_size();
  ASSERT_EQ(gathered.size(0), n * (n - 1) / 2);
  EXPECT_EQ(gathered.size(1), 2);
  if (n > 1) {
    EXPECT_EQ(gathered[0][0].item<double>(), 1.0);  // rank 1's rows come first
  }
}

TEST(Communicator, AllGatherRejectsMismatchedRowsOnEveryRank) {
  auto comm = world_comm();
  if (comm->world_size() == 1) GTEST_SKIP() << "needs two ranks";
  const bool last = comm->rank() == comm->world_size() - 1;
  torch::Tensor local = torch::zeros({2, last ? 4 : 3});
  expect_error([&] { comm->all_gather(local); }, {"all_gather", "elements per row"});
  comm->barrier();  // still in step afterwards
}

TEST(Communicator, BroadcastCopiesTheRootsTensor) {
  auto comm = world_comm();
  const int root = comm->world_size() - 1;
  torch::Tensor values = torch::full({5}, static_cast<double>(comm->rank()), torch::kDouble);
  comm->broadcast(values, root);
  EXPECT_TRUE(torch::equal(values, torch::full({5}, static_cast<double>(root), torch::kDouble)));
  torch::Tensor base = torch::full({2, 3}, comm->rank(), torch::kLong);
  torch::Tensor transposed = base.t();
  comm->broadcast(transposed, 0);
  EXPECT_TRUE(torch::equal(base, torch::zeros({2, 3}, torch::kLong)));
  expect_error([&] { comm->broadcast(values, comm->world_size()); }, {"broadcast", "root"});
}

TEST(Communicator, BarrierWaitsForTheSlowestRank) {
  auto comm = world_comm();
  if (comm->world_size() == 1) GTEST_SKIP() << "needs two ranks";
  comm->barrier();
  const auto start = std::chrono::steady_clock::now();
  if (comm->rank() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  comm->barrier();
  EXPECT_GE(seconds_since(start), 0.25);
}

// Rank 0 starts an all_reduce nobody else joins. It must fail within about its timeout, naming the
// op and the context. The op runs on a communicator of its own, so the orphaned request cannot
// match a later collective; the other ranks join it afterwards so it completes (into a buffer the
// communicator leaked on purpose) and nothing is left pending at MPI_Finalize.
TEST(Communicator, UnmatchedCollectiveTimesOutWithContext) {
  auto world = world_comm();
  if (world->world_size() == 1) GTEST_SKIP() << "needs two ranks";
  MpiCommunicator lonely(MPI_COMM_WORLD, world->rank() == 0 ? 0.5 : kTestTimeoutS);
  lonely.set_context("step 7");
  torch::Tensor values = torch::zeros({4096});
  if (world->rank() == 0) {
    const auto start = std::chrono::steady_clock::now();
    expect_error([&] { lonely.all_reduce(values); },
                 {"collective all_reduce (4096 floats)", "within 0.5 s", "at step 7"});
    const double elapsed = seconds_since(start);
    EXPECT_GE(elapsed, 0.45);
    EXPECT_LT(elapsed, 2.0);
  }
  world->barrier();
  if (world->rank() != 0) lonely.all_reduce(values);
  world->barrier();
  torch::Tensor check = torch::ones({3});
  world->all_reduce(check);  // the world communicator is unaffected
  EXPECT_TRUE(torch::equal(check, torch::full({3}, world->world_size(), torch::kFloat)));
}

TEST(Communicator, MakeCommunicatorPicksAndValidatesBackends) {
  EXPECT_EQ(make_communicator("auto", torch::kCPU, kTestTimeoutS)->backend_name(), "mpi");
  expect_error([] { make_communicator("nccl", torch::kCPU, kTestTimeoutS); }, {"nccl"});
  expect_error([] { make_communicator("gloo", torch::kCPU, kTestTimeoutS); },
               {"dist.backend", "gloo"});
  expect_error([] { make_communicator("mpi", torch::kCPU, 0); }, {"timeout_s"});
}

// Not a test: `--gtest_also_run_disabled_tests --gtest_filter='*AllReduceBenchmark*'` prints the
// figures of `pride bench allreduce` for the MPI backend.
TEST(Communicator, DISABLED_AllReduceBenchmark) {
  auto comm = world_comm();
  run_allreduce_benchmark(*comm, std::cout);
}

}  // namespace
}  // namespace pride
