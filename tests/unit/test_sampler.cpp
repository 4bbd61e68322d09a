// The global batch plan: determinism, coverage, rank slicing, and invariance to the world size.
#include <gtest/gtest.h>

#include <set>

#include "sharding/sampler.h"
#include "support.h"
#include "util/error.h"

namespace pride {
namespace {

using test::error_of;

BatchPlanOptions options(int64_t n, int64_t global, int64_t micro, int world, uint64_t seed = 7) {
  BatchPlanOptions o;
  o.num_samples = n;
  o.global_batch = global;
  o.max_micro_batch = micro;
  o.world_size = world;
  o.seed = seed;
  return o;
}

TEST(Sampler, PermutationIsDeterministicAndComplete) {
  const auto a = epoch_permutation(1000, 3, 0);
  EXPECT_EQ(a, epoch_permutation(1000, 3, 0));
  EXPECT_NE(a, epoch_permutation(1000, 3, 1));
  EXPECT_NE(a, epoch_permutation(1000, 4, 0));
  EXPECT_EQ(std::set<int64_t>(a.begin(), a.end()).size(), 1000u);
  EXPECT_EQ(*std::min_element(a.begin(), a.end()), 0);
  EXPECT_EQ(*std::max_element(a.begin(), a.end()), 999);
}

TEST(Sampler, PermutationIsPinned) {
  // The order is part of the resume contract: it must not change between versions or platforms.
  EXPECT_EQ(epoch_permutation(8, 1234, 0), (std::vector<int64_t>{2, 3, 7, 1, 4, 6, 0, 5}));
}

TEST(Sampler, EpochCoversEachSampleOnceAndDropsTheTail) {
  GlobalBatchPlan plan(options(103, 10, 5, 2));
  EXPECT_EQ(plan.steps_per_epoch(), 10);
  std::set<int64_t> seen;
  for (int64_t step = 0; step < plan.steps_per_epoch(); ++step) {
    for (int64_t i : plan.global_batch(step)) EXPECT_TRUE(seen.insert(i).second) << i;
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(plan.epoch_of(10), 1);
  EXPECT_NE(plan.global_batch(0), plan.global_batch(10));
}

TEST(Sampler, RanksPartitionEveryGlobalBatch) {
  for (int world : {1, 2, 4}) {
    GlobalBatchPlan plan(options(64, 8, 8 / world, world));
    for (int64_t step = 0; step < 20; ++step) {
      std::vector<int64_t> joined;
      for (int rank = 0; rank < world; ++rank) {
        for (const auto& micro : plan.rank_micro_batches(step, rank)) {
          joined.insert(joined.end(), micro.begin(), micro.end());
        }
      }
      auto global = plan.global_batch(step);
      std::sort(joined.begin(), joined.end());
      std::sort(global.begin(), global.end());
      EXPECT_EQ(joined, global) << "world " << world << " step " << step;
    }
  }
}

TEST(Sampler, GlobalSequenceDoesNotDependOnWorldSize) {
  GlobalBatchPlan one(options(50, 8, 8, 1));
  GlobalBatchPlan four(options(50, 8, 1, 4));
  GlobalBatchPlan two_accumulating(options(50, 8, 2, 2));
  EXPECT_EQ(two_accumulating.accumulation_steps(), 2);
  for (int64_t step = 0; step < 30; ++step) {
    EXPECT_EQ(one.global_batch(step), four.global_batch(step));
    EXPECT_EQ(one.global_batch(step), two_accumulating.global_batch(step));
  }
}

TEST(Sampler, MicroStepGroupsMatchAcrossWorldSizes) {
  // Micro-step j over all ranks holds the same samples for (1 rank, micro 4) and (2 ranks, micro
  // 2).
  GlobalBatchPlan one(options(40, 8, 4, 1));
  GlobalBatchPlan two(options(40, 8, 2, 2));
  for (int64_t step = 0; step < 5; ++step) {
    const auto single = one.rank_micro_batches(step, 0);
    const auto rank0 = two.rank_micro_batches(step, 0);
    const auto rank1 = two.rank_micro_batches(step, 1);
    for (size_t j = 0; j < single.size(); ++j) {
      std::vector<int64_t> joined = rank0[j];
      joined.insert(joined.end(), rank1[j].begin(), rank1[j].end());
      EXPECT_EQ(joined, single[j]);
    }
  }
}

TEST(Sampler, LengthAwareKeepsMembershipAndSortsMicroBatches) {
  auto o = options(64, 16, 4, 2);
  GlobalBatchPlan plain(o);
  o.length_of = [](int64_t i) { return (i * 37) % 11; };
  GlobalBatchPlan aware(o);
  for (int64_t step = 0; step < 8; ++step) {
    auto a = plain.global_batch(step), b = aware.global_batch(step);
    for (size_t i = 1; i < b.size(); ++i) EXPECT_LE(o.length_of(b[i - 1]), o.length_of(b[i]));
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    EXPECT_EQ(a, b);
  }
}

TEST(Sampler, MicroBatchIsTheLargestDivisorUnderTheCap) {
  struct Case {
    int64_t global, cap;
    int world;
    int64_t micro, accumulation;
  };
  // The README's example: global 16, cap 16, 4 ranks -> 4 samples per rank in one micro-batch.
  for (const Case& c : {Case{16, 16, 4, 4, 1}, Case{16, 16, 1, 16, 1}, Case{16, 3, 1, 2, 8},
                        Case{12, 5, 2, 3, 2}, Case{10, 4, 1, 2, 5}, Case{14, 4, 2, 1, 7}}) {
    GlobalBatchPlan plan(options(100, c.global, c.cap, c.world));
    EXPECT_EQ(plan.micro_batch(), c.micro) << c.global << "/" << c.world << " cap " << c.cap;
    EXPECT_EQ(plan.accumulation_steps(), c.accumulation);
    EXPECT_EQ(plan.rank_micro_batches(0, c.world - 1).size(), size_t(c.accumulation));
  }
}

TEST(Sampler, RejectsBatchesThatDoNotSplitOverRanksOrFit) {
  const auto msg = error_of([] { GlobalBatchPlan(options(100, 10, 4, 4)); });
  EXPECT_NE(msg.find("cannot be split evenly over 4 ranks"), std::string::npos) << msg;
  EXPECT_THROW(GlobalBatchPlan(options(5, 8, 4, 2)), Error);
  EXPECT_THROW(GlobalBatchPlan(options(100, 8, 0, 2)), Error);
}

TEST(Sampler, HashUniformIsStatelessAndSpread) {
  EXPECT_EQ(hash_uniform(1, 2, 3), hash_uniform(1, 2, 3));
  EXPECT_NE(hash_uniform(1, 2, 3), hash_uniform(1, 3, 2));
  double sum = 0;
  for (int i = 0; i < 10000; ++i) {
    const double u = hash_uniform(9, i, 0);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / 10000, 0.5, 0.02);
}

}  // namespace
}  // namespace pride
