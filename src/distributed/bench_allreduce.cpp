// run_allreduce_benchmark: nccl-tests style algbw/busbw figures for Communicator::all_reduce,
// with a plain memcpy of the same size as the local-memory reference.
#include "distributed/bench_allreduce.h"

#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <string>

#include <fmt/format.h>

namespace pride {
namespace {

// Same on every rank (derived from the size only), as collectives must match.
int iterations_for(int64_t bytes) {
  return static_cast<int>(std::clamp<int64_t>((256LL << 20) / bytes, 3, 200));
}

std::string human_bytes(int64_t bytes) {
  if (bytes >= (1LL << 20)) return fmt::format("{} MiB", bytes >> 20);
  return fmt::format("{} KiB", bytes >> 10);
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

// Seconds per call of `body`, after one warm-up call.
template <typename Body>
double seconds_per_call(const torch::Device& device, int iterations, Body&& body) {
  body();
  synchronize(device);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) body();
  synchronize(device);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
         iterations;
}

}  // namespace

void run_allreduce_benchmark(Communicator& comm, std::ostream& out) {
  const torch::Device device = comm.device();
  const int n = comm.world_size();
  if (comm.rank() == 0) {
    out << fmt::format("all_reduce benchmark: backend {}, {} ranks, float32, in place\n",
                       comm.backend_name(), n)
        << fmt::format("{:>8} {:>6} {:>13} {:>11} {:>11} {:>11} {:>12}\n", "size", "iters",
                       "allreduce_us", "algbw_GB/s", "busbw_GB/s", "memcpy_us", "memcpy_GB/s");
  }
  for (int64_t bytes = 4 << 10; bytes <= (64LL << 20); bytes *= 4) {
    const int iterations = iterations_for(bytes);
    torch::Tensor data = torch::zeros({bytes / 4}, torch::TensorOptions().device(device));
    torch::Tensor copy = torch::empty_like(data);
    comm.barrier();
    double allreduce_s = seconds_per_call(device, iterations, [&] { comm.all_reduce(data); });
    double memcpy_s = seconds_per_call(device, iterations, [&] { copy.copy_(data); });
    // Ranks finish at slightly different times; report the mean over ranks.
    torch::Tensor timings = torch::tensor({allreduce_s, memcpy_s}, torch::kDouble).to(device);
    comm.all_reduce(timings, /*average=*/true);
    timings = timings.cpu();
    allreduce_s = timings[0].item<double>();
    memcpy_s = timings[1].item<double>();
    const double algbw = bytes / allreduce_s / 1e9;
    const double busbw = algbw * 2.0 * (n - 1) / n;
    if (comm.rank() == 0) {
      out << fmt::format("{:>8} {:>6} {:>13.1f} {:>11.3f} {:>11.3f} {:>11.1f} {:>12.3f}\n",
                         human_bytes(bytes), iterations, allreduce_s * 1e6, algbw, busbw,
                         memcpy_s * 1e6, bytes / memcpy_s / 1e9);
    }
  }
  out.flush();
}

}  // namespace pride
