// Which device a rank computes on (see device.h).
#include "distributed/device.h"

#include <torch/cuda.h>

#include "util/error.h"

namespace pride {

torch::Device choose_device(const Config& config, const WorldInfo& world) {
  const bool cuda = torch::cuda::is_available();
  if (config.run.device == "cuda" && !cuda) fail("run.device = cuda, but no CUDA device is usable");
  if (config.run.device == "cpu" || !cuda) return torch::Device(torch::kCPU);
  const int count = static_cast<int>(torch::cuda::device_count());
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(world.local_rank % count));
}

}  // namespace pride
