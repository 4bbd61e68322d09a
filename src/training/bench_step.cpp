// `pride bench step`: one training step of the student timed on a fixed synthetic batch. The
// shapes, loss and optimizer mirror scripts/bench/reference_step.py exactly, so the two JSON lines
// compare the C++ step with the same step written in Python PyTorch.
#include "training/bench_step.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <vector>

#include "data/sample.h"
#include "models/student.h"
#include "models/losses.h"
#include "util/error.h"

namespace pride {
namespace {

// The tiny config's data shapes (synthetic data set defaults, collated dialogues).
constexpr int64_t kDefaultVocab = 512;
constexpr int64_t kContextLen = 16;
constexpr int64_t kResponseLen = 11;
constexpr int64_t kTopK = 8;
constexpr int64_t kTeacherHidden = 64;
constexpr int64_t kNumEmotions = 6;
constexpr int64_t kFeatureDim = 16;
constexpr int64_t kAudioFrames = 8;
constexpr int64_t kVisualFrames = 4;
constexpr int64_t kFirstWordId = 3;  // after pad, bos, eos
constexpr double kTeacherTopKMass = 0.9;
const std::vector<std::pair<std::string, int64_t>> kPrivilegedSources = {
    {"reasoning", 6}, {"annotation", 4}, {"future_summary", 4}};

DatasetInfo bench_info(const Config& config) {
  DatasetInfo info;
  info.vocab_size = config.model.vocab_size > 0 ? config.model.vocab_size : kDefaultVocab;
  info.num_emotions = kNumEmotions;
  info.topk = kTopK;
  info.teacher_hidden = kTeacherHidden;
  info.audio_dim = kFeatureDim;
  info.visual_dim = kFeatureDim;
  for (const auto& source : kPrivilegedSources) info.privileged_sources.push_back(source.first);
  return info;
}

torch::Tensor random_words(int64_t rows, int64_t length, int64_t vocab) {
  return torch::randint(kFirstWordId, vocab, {rows, length}, torch::kInt64);
}

torch::Tensor all_true(int64_t rows, int64_t length) {
  return torch::ones({rows, length}, torch::kBool);
}

// Every row: 16 context tokens then 11 response tokens, no padding. Position t predicts t + 1,
// so positions 15..25 carry CE/RKL; the teacher's top-K at a position are the gold id and the 7
// ids after it, holding 90% of the teacher's mass.
Batch bench_batch(const DatasetInfo& info, int64_t rows) {
  const int64_t length = kContextLen + kResponseLen;
  const auto position = torch::arange(length, torch::kInt64);
  Batch batch;
  batch.tokens = random_words(rows, length, info.vocab_size);
  batch.context_mask = (position < kContextLen).expand({rows, length}).contiguous();
  batch.response_mask =
      ((position >= kContextLen - 1) & (position < length - 1)).expand({rows, length}).contiguous();
  auto next = torch::roll(batch.tokens, -1, 1);
  batch.targets = torch::where(batch.response_mask, next, torch::full_like(next, info.pad_id));
  batch.emotion = torch::randint(0, info.num_emotions, {rows}, torch::kInt64);
  auto ids = (batch.targets.unsqueeze(-1) + torch::arange(kTopK, torch::kInt64)) % info.vocab_size;
  auto on_response = batch.response_mask.unsqueeze(-1);
  batch.topk_ids = ids * on_response;
  auto logprobs =
      torch::log_softmax(torch::randn({rows, length, kTopK}), -1) + std::log(kTeacherTopKMass);
  batch.topk_logprobs = logprobs * on_response;
  batch.teacher_hidden = torch::randn({rows, kTeacherHidden});
  batch.audio = torch::randn({rows, kAudioFrames, kFeatureDim});
  batch.audio_mask = all_true(rows, kAudioFrames);
  batch.visual = torch::randn({rows, kVisualFrames, kFeatureDim});
  batch.visual_mask = all_true(rows, kVisualFrames);
  for (const auto& [name, tokens] : kPrivilegedSources) {
    batch.privileged[name] = random_words(rows, tokens, info.vocab_size);
    batch.privileged_mask[name] = all_true(rows, tokens);
  }
  batch.response_tokens = batch.response_mask.sum().item<int64_t>();
  for (int64_t row = 0; row < rows; ++row) batch.indices.push_back(row);
  return batch;
}

// The trainer's objective for one process holding the whole global batch (docs/method.md).
torch::Tensor training_loss(Student& student, const Batch& batch, const PiUsage& pi,
                            const Config& config) {
  const auto out = student->forward(batch, pi);
  const double tokens = double(batch.response_tokens), samples = double(batch.size());
  const auto& loss = config.loss;
  auto ce = cross_entropy_sum(out.logits, batch.targets, batch.response_mask);
  auto rkl = reverse_kl_sum(out.logits, batch.topk_ids, batch.topk_logprobs, batch.response_mask,
                            loss.rkl_temperature, loss.rkl_tail_bucket);
  auto mmd = mmd2_unbiased(out.features, batch.teacher_hidden, loss.mmd_bandwidths);
  auto emotion = emotion_ce_sum(out.emotion_logits, batch.emotion);
  return weighted_loss<torch::Tensor>(
      config, {ce / tokens, rkl / tokens, mmd, emotion / samples, out.pi_align.sum() / samples});
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

}  // namespace

void run_step_benchmark(const Config& config, const StepBenchOptions& options, std::ostream& out) {
  if (options.warmup < 0 || options.iters < 1) {
    fail("bench step: need warmup >= 0 and iters >= 1, got {} and {}", options.warmup,
         options.iters);
  }
  torch::manual_seed(config.run.seed);
  const DatasetInfo info = bench_info(config);
  Student student(config.model, info);
  const Batch batch = bench_batch(info, config.train.micro_batch_size);
  PiUsage pi{true, torch::arange(batch.size()) % 2 == 0};  // real PI on the even rows
  const auto& train = config.train;
  torch::optim::AdamW optimizer(student->parameters(), torch::optim::AdamWOptions(train.lr)
                                                           .betas({train.beta1, train.beta2})
                                                           .weight_decay(train.weight_decay));

  std::vector<double> step_ms, cpu_ms;
  double last_loss = 0.0;
  for (int64_t i = 0; i < options.warmup + options.iters; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();
    optimizer.zero_grad();
    auto loss = training_loss(student, batch, pi, config);
    loss.backward();
    optimizer.step();
    last_loss = loss.item<double>();
    const std::chrono::duration<double, std::milli> elapsed =
        std::chrono::steady_clock::now() - start;
    if (i < options.warmup) continue;
    step_ms.push_back(elapsed.count());
    cpu_ms.push_back(1000.0 * double(std::clock() - cpu_start) / CLOCKS_PER_SEC);
  }
  const double ms = median(step_ms);
  const int64_t tokens_per_step = batch.tokens.numel();
  const nlohmann::json line = {
      {"bench", "step"},
      {"impl", "cpp"},
      {"threads", torch::get_num_threads()},
      {"num_parameters", student->num_parameters()},
      {"batch", batch.size()},
      {"seq_len", batch.tokens.size(1)},
      {"tokens_per_step", tokens_per_step},
      {"warmup", options.warmup},
      {"iters", options.iters},
      {"step_ms_median", ms},
      {"step_ms_min", *std::min_element(step_ms.begin(), step_ms.end())},
      {"tokens_per_s", tokens_per_step / (ms / 1000.0)},
      {"cpu_ms_median", median(cpu_ms)},
      {"final_loss", last_loss},
  };
  out << line.dump() << std::endl;
}

}  // namespace pride
