// Implements sharding/sampler.h: per-epoch permutations and the rank slicing of global batches.
#include "sharding/sampler.h"

#include <algorithm>
#include <numeric>

#include "util/error.h"

namespace pride {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

double hash_uniform(uint64_t seed, uint64_t key1, uint64_t key2) {
  const uint64_t h = splitmix64(splitmix64(splitmix64(seed) ^ key1) ^ key2);
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  uint64_t state = splitmix64(seed ^ splitmix64(static_cast<uint64_t>(epoch) + 1));
  for (int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates with a 64-bit multiply-shift bound
    state = splitmix64(state);
    const auto j = static_cast<int64_t>(
        (static_cast<unsigned __int128>(state) * static_cast<uint64_t>(i + 1)) >> 64);
    std::swap(order[i], order[j]);
  }
  return order;
}

GlobalBatchPlan::GlobalBatchPlan(BatchPlanOptions options) : options_(std::move(options)) {
  if (options_.global_batch % options_.world_size != 0) {
    fail(
        "train.global_batch_size ({}) cannot be split evenly over {} ranks: use a world size "
        "that divides it, or a global batch that is a multiple of the world size",
        options_.global_batch, options_.world_size);
  }
  if (options_.max_micro_batch < 1) fail("train.micro_batch_size must be >= 1");
  const int64_t per_rank = options_.global_batch / options_.world_size;
  micro_batch_ = std::min(per_rank, options_.max_micro_batch);
  while (per_rank % micro_batch_ != 0) --micro_batch_;
  if (options_.num_samples < options_.global_batch) {
    fail("data.train holds {} samples, fewer than one global batch (train.global_batch_size = {})",
         options_.num_samples, options_.global_batch);
  }
  accumulation_steps_ = per_rank / micro_batch_;
  steps_per_epoch_ = options_.num_samples / options_.global_batch;
}

const std::vector<int64_t>& GlobalBatchPlan::permutation(int64_t epoch) const {
  if (epoch != cached_epoch_) {
    cached_permutation_ = epoch_permutation(options_.num_samples, options_.seed, epoch);
    cached_epoch_ = epoch;
  }
  return cached_permutation_;
}

std::vector<int64_t> GlobalBatchPlan::global_batch(int64_t step) const {
  const auto& order = permutation(epoch_of(step));
  const int64_t begin = (step % steps_per_epoch_) * options_.global_batch;
  std::vector<int64_t> batch(order.begin() + begin, order.begin() + begin + options_.global_batch);
  if (options_.length_of) {
    std::vector<std::pair<int64_t, int64_t>> keyed;
    for (int64_t index : batch) keyed.emplace_back(options_.length_of(index), index);
    std::sort(keyed.begin(), keyed.end());  // ties broken by index: deterministic
    for (size_t i = 0; i < batch.size(); ++i) batch[i] = keyed[i].second;
  }
  return batch;
}

std::vector<std::vector<int64_t>> GlobalBatchPlan::rank_micro_batches(int64_t step,
                                                                      int rank) const {
  const auto batch = global_batch(step);
  const int64_t micro = micro_batch_;
  std::vector<std::vector<int64_t>> micro_batches;
  for (int64_t j = 0; j < accumulation_steps_; ++j) {
    const int64_t begin = (j * options_.world_size + rank) * micro;
    micro_batches.emplace_back(batch.begin() + begin, batch.begin() + begin + micro);
  }
  return micro_batches;
}

}  // namespace pride
