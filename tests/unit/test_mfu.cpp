// MFU and per-GPU throughput in metrics lines (training/mfu.h).
#include <gtest/gtest.h>

#include "training/mfu.h"

namespace pride {
namespace {

TEST(Mfu, PeakTableMatchesDeviceNamesMostSpecificFirst) {
  EXPECT_EQ(peak_bf16_tflops("NVIDIA H100 80GB HBM3"), 989);
  EXPECT_EQ(peak_bf16_tflops("NVIDIA H100 PCIe"), 756);
  EXPECT_EQ(peak_bf16_tflops("NVIDIA H200"), 989);
  EXPECT_EQ(peak_bf16_tflops("NVIDIA A100-SXM4-80GB"), 312);
  EXPECT_EQ(peak_bf16_tflops("NVIDIA A10G"), 70);
  EXPECT_EQ(peak_bf16_tflops("NVIDIA L40S"), 362);
  EXPECT_EQ(peak_bf16_tflops("NVIDIA L4"), 121);
  EXPECT_EQ(peak_bf16_tflops(""), 0);
  EXPECT_EQ(peak_bf16_tflops("Some Future Accelerator"), 0);
}

TEST(Mfu, IsSixNTokensPerSecondOverThePeak) {
  // llm.c's anchor: 124M parameters at 50% of an A100 is 0.5 * 312e12 / (6 * 124e6) tokens/s.
  const double tokens_per_s = 0.5 * 312e12 / (6 * 124e6);
  EXPECT_NEAR(model_flops_utilization(124'000'000, tokens_per_s, 312), 0.5, 1e-12);
}

TEST(Mfu, MeterWritesMfuOnlyWhenAPeakIsKnown) {
  nlohmann::json cpu_line;
  ThroughputMeter(1000, 0, /*cuda_index=*/-1).add_to(cpu_line, 4096, 2.0);
  EXPECT_DOUBLE_EQ(cpu_line["tokens_per_s_per_gpu"].get<double>(), 2048);
  EXPECT_FALSE(cpu_line.contains("mfu"));

  nlohmann::json line;
  const ThroughputMeter configured(1'000'000, /*peak_tflops=*/1.0, -1);
  configured.add_to(line, 4096, 2.0);
  EXPECT_NEAR(line["mfu"].get<double>(), 6e6 * 2048 / 1e12, 1e-15);
  EXPECT_EQ(line["peak_tflops"].get<double>(), 1.0);
}

}  // namespace
}  // namespace pride
