// Throughput figures for metrics.jsonl: padded tokens per second per GPU and model FLOPs
// utilisation, MFU = 6 * N * tokens/s / peak FLOP/s (N parameters; 6N = forward 2N + backward 4N
// per token, attention's own FLOPs not counted, as in the PaLM and llm.c figures). Padded tokens
// count: the GPU computes them. The peak is the device's dense bf16 tensor-core rate, from a table
// by device name or given as train.peak_tflops; unknown (a CPU run) means no mfu field.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace pride {

// Dense bf16 peak of a device, TFLOP/s, matched by name (e.g. "NVIDIA H100 80GB HBM3"); 0 when
// the name is not in the table.
double peak_bf16_tflops(const std::string& device_name);

// The name CUDA reports for device `index` ("" without CUDA support or for index < 0).
std::string cuda_device_name(int index);

// Training FLOPs per token spent in attention's score and value products, which 6N leaves out:
// 12 * layers * attention width (heads x head_dim) * keys each query reads (PaLM's accounting:
// forward 4 * width * keys per layer, backward twice that; causal masking not discounted).
double attention_flops_per_token(int64_t layers, int64_t width, int64_t keys);

// 6 * num_params * tokens_per_s / (peak_tflops * 1e12).
double model_flops_utilization(int64_t num_params, double tokens_per_s, double peak_tflops);

class ThroughputMeter {
 public:
  // configured_peak_tflops > 0 wins over the table; cuda_index < 0: not on a GPU.
  ThroughputMeter(int64_t num_params, double configured_peak_tflops, int cuda_index);

  // Adds tokens_per_s_per_gpu, and mfu with peak_tflops when a peak is known, for
  // `padded_tokens` this rank processed in `seconds`.
  void add_to(nlohmann::json& line, double padded_tokens, double seconds) const;
  double peak_tflops() const { return peak_tflops_; }

 private:
  int64_t num_params_;
  double peak_tflops_;
};

}  // namespace pride
