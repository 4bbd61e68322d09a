// Implements training/mfu.h.
#include "training/mfu.h"

#include <algorithm>
#include <utility>
#include <vector>

#ifdef PRIDE_WITH_NCCL  // the CUDA runtime is linked exactly when the NCCL backend is built
#include <cuda_runtime_api.h>
#endif

namespace pride {

double peak_bf16_tflops(const std::string& device_name) {
  // Vendor datasheet figures, dense (no 2:4 sparsity). First match wins, so a name that contains
  // another (A100 contains A10, L40S contains L4) comes before it.
  static const std::vector<std::pair<std::string, double>> table = {
      {"H100 PCIe", 756}, {"H100 NVL", 835}, {"H100", 989}, {"H200", 989}, {"H800", 989},
      {"H20", 148},       {"B200", 2250},    {"A100", 312}, {"A800", 312}, {"A10G", 70},
      {"A10", 125},       {"L40S", 362},     {"L40", 181},  {"L4", 121},   {"A6000", 155},
      {"RTX 4090", 165},  {"RTX 3090", 71},  {"V100", 125},  // V100: fp16, it has no bf16
  };
  for (const auto& [key, tflops] : table) {
    if (device_name.find(key) != std::string::npos) return tflops;
  }
  return 0;
}

std::string cuda_device_name(int index) {
#ifdef PRIDE_WITH_NCCL
  cudaDeviceProp properties;
  if (index >= 0 && cudaGetDeviceProperties(&properties, index) == cudaSuccess) {
    return properties.name;
  }
#endif
  (void)index;
  return "";
}

double attention_flops_per_token(int64_t layers, int64_t width, int64_t keys) {
  return 12.0 * static_cast<double>(layers) * static_cast<double>(width) *
         static_cast<double>(keys);
}

double model_flops_utilization(int64_t num_params, double tokens_per_s, double peak_tflops) {
  return 6.0 * static_cast<double>(num_params) * tokens_per_s / (peak_tflops * 1e12);
}

ThroughputMeter::ThroughputMeter(int64_t num_params, double configured_peak_tflops, int cuda_index)
    : num_params_(num_params),
      peak_tflops_(configured_peak_tflops > 0 ? configured_peak_tflops
                                              : peak_bf16_tflops(cuda_device_name(cuda_index))) {}

void ThroughputMeter::add_to(nlohmann::json& line, double padded_tokens, double seconds) const {
  const double tokens_per_s = padded_tokens / std::max(1e-9, seconds);
  line["tokens_per_s_per_gpu"] = tokens_per_s;
  if (peak_tflops_ <= 0) return;
  line["mfu"] = model_flops_utilization(num_params_, tokens_per_s, peak_tflops_);
  line["peak_tflops"] = peak_tflops_;
}

}  // namespace pride
