// Implements training/micro_batch_probe.h.
#include "training/micro_batch_probe.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#ifdef PRIDE_WITH_NCCL  // the CUDA runtime is linked exactly when the NCCL backend is built
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#endif

#include "training/synthetic_batch.h"
#include "util/error.h"
#include "util/torch_compat.h"

namespace pride {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

#ifdef PRIDE_WITH_NCCL
// Bytes free on the current CUDA device, after handing the allocator's cache back.
double free_device_bytes() {
  c10::cuda::CUDACachingAllocator::emptyCache();
  size_t free = 0, total = 0;
  if (cudaMemGetInfo(&free, &total) != cudaSuccess)
    fail("micro-batch probe: cudaMemGetInfo failed");
  return static_cast<double>(free);
}

bool is_out_of_memory(const c10::Error& e) {
  return std::string(e.what()).find("out of memory") != std::string::npos;
}

// The device memory one forward + backward of `rows` full-length rows needs: what the caching
// allocator reserved for it (it keeps its peak reservation until emptied), or nothing when the
// device ran out.
std::optional<double> probe_bytes(const Config& config, Student& model, const DatasetInfo& info,
                                  const torch::Device& device, int64_t rows,
                                  const std::function<void()>& zero_grad) {
  const double before = free_device_bytes();
  std::optional<double> used;
  try {
    const int64_t length = config.model.max_seq_len;
    SyntheticShape shape{rows, length / 2, length - length / 2};
    const Batch batch = synthetic_batch(info, shape).to(device);
    const PiUsage pi{config.pi.enabled, torch::ones({rows}, torch::kBool).to(device)};
    torch::Tensor loss;
    {
      compat::AutocastGuard autocast(device, config.train.precision == "bf16");
      loss = single_process_loss(model, batch, pi, config);
    }
    loss.backward();
    cudaDeviceSynchronize();
    size_t free = 0, total = 0;
    cudaMemGetInfo(&free, &total);
    used = before - static_cast<double>(free);
  } catch (const c10::Error& e) {
    if (!is_out_of_memory(e)) throw;
  }
  zero_grad();
  free_device_bytes();
  return used;
}

MicroBatchChoice probe_cuda(const Config& config, Student& model, const DatasetInfo& info,
                            const torch::Device& device, int64_t per_rank,
                            const std::function<void()>& zero_grad) {
  const double budget = kProbeMemoryShare * free_device_bytes();
  auto probe = [&](int64_t rows) {
    return probe_bytes(config, model, info, device, rows, zero_grad);
  };
  const auto two = probe(2), four = probe(4);
  if (!two || *two > budget) {
    fail("train.micro_batch_size auto: 2 rows of model.max_seq_len {} do not fit in {:.1f} GiB",
         config.model.max_seq_len, budget / kGiB);
  }
  const double per_row = four ? std::max(1.0, (*four - *two) / 2) : *two;
  auto estimate = static_cast<int64_t>(2 + (budget - *two) / per_row);
  int64_t chosen = largest_divisor_at_most(per_rank, std::max<int64_t>(1, estimate));
  std::optional<double> used = probe(chosen);
  while (chosen > 1 && (!used || *used > budget)) {
    chosen = largest_divisor_at_most(per_rank, chosen - 1);
    used = probe(chosen);
  }
  return {chosen, fmt::format("train.micro_batch_size auto: {} (probe of {}-token rows: 2 rows "
                              "{:.2f} GiB, {:.2f} GiB a row, {} rows {:.2f} GiB of the {:.1f} GiB "
                              "allowed, {:.0f}% of what was free)",
                              chosen, config.model.max_seq_len, *two / kGiB, per_row / kGiB, chosen,
                              used.value_or(0) / kGiB, budget / kGiB, 100 * kProbeMemoryShare)};
}
#endif

}  // namespace

int64_t largest_divisor_at_most(int64_t per_rank, int64_t cap) {
  for (int64_t m = std::min(per_rank, cap); m > 1; --m) {
    if (per_rank % m == 0) return m;
  }
  return 1;
}

MicroBatchChoice choose_micro_batch(const Config& config, Student& model, const DatasetInfo& info,
                                    const torch::Device& device, int64_t per_rank,
                                    const std::function<void()>& zero_grad) {
  const int64_t configured = config.train.micro_batch_size;
  if (configured != kAuto) return {configured, ""};
#ifdef PRIDE_WITH_NCCL
  if (device.is_cuda()) return probe_cuda(config, model, info, device, per_rank, zero_grad);
#endif
  (void)model, (void)info, (void)zero_grad;
  const int64_t chosen = largest_divisor_at_most(per_rank, kDefaultMicroBatch);
  return {chosen, fmt::format("train.micro_batch_size auto: {} on {} (no probe off CUDA: the "
                              "rank's {} samples a step, capped at {})",
                              chosen, device.str(), per_rank, kDefaultMicroBatch)};
}

}  // namespace pride
