// `pride bench step`: one training step of the student timed on a fixed synthetic batch, then
// counted (operators per phase, host syncs). The shapes, loss, clip and AdamW mirror
// scripts/bench/reference_step.py, so the two JSON lines compare the C++ step with the same step
// written in Python PyTorch.
#include "training/bench_step.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <vector>

#include "data/sample.h"
#include "io/file_io.h"
#include "models/flat_state.h"
#include "models/losses.h"
#include "models/student.h"
#include "training/mfu.h"
#include "training/op_counter.h"
#include "training/synthetic_batch.h"
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
const std::vector<std::string> kPrivilegedSources = {"reasoning", "annotation", "future_summary"};

DatasetInfo bench_info(const Config& config) {
  DatasetInfo info;
  info.vocab_size = config.model.vocab_size > 0 ? config.model.vocab_size : kDefaultVocab;
  info.num_emotions = kNumEmotions;
  info.topk = kTopK;
  info.teacher_hidden = kTeacherHidden;
  info.audio_dim = kFeatureDim;
  info.visual_dim = kFeatureDim;
  info.privileged_sources = kPrivilegedSources;
  return info;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

// The student, its batch and the trainer's optimizer layout: parameters in one flat buffer,
// a global-norm clip and FlatAdamW (what `pride train` runs on one rank).
class BenchStep {
 public:
  explicit BenchStep(const Config& config)
      : config_(config),
        info_(bench_info(config)),
        student_(seeded_student(config, info_)),
        batch_(synthetic_batch(info_, {micro_batch_or_default(config.train), kContextLen,
                                       kResponseLen, kAudioFrames, kVisualFrames})),
        pi_{true, torch::arange(batch_.size()) % 2 == 0},  // real PI on the even rows
        flat_(*student_),
        adamw_(flat_, AdamWOptions{config.train.beta1, config.train.beta2, 1e-8,
                                   config.train.weight_decay}) {}

  // One step; returns its loss (the step's only other read-back is the clip's gradient norm).
  double run() {
    flat_.zero_grad();
    torch::Tensor loss;
    {
      OpPhaseScope phase(OpPhase::kForward);
      loss = single_process_loss(student_, batch_, pi_, config_);
    }
    {
      OpPhaseScope phase(OpPhase::kBackward);
      loss.backward();
    }
    {
      OpPhaseScope phase(OpPhase::kOptimizer);
      const double norm = std::sqrt(squared_norm_fp64(flat_.grads()).item<double>());
      scale_to_max_norm(flat_.grads(), norm, config_.train.grad_clip);
      adamw_.step(flat_.values(), flat_.grads(), config_.train.lr);
    }
    return loss.item<double>();
  }

  const Student& student() const { return student_; }
  const Batch& batch() const { return batch_; }
  int64_t num_parameters() const { return student_->num_parameters(); }

  // Training FLOPs per token: 6N, and attention over the step's self and memory keys.
  nlohmann::json flops_per_token() const {
    const StudentArch& arch = student_->arch();
    const int64_t memory = kAudioFrames + kVisualFrames + config_.model.memory_slots;
    const double dense = 6.0 * static_cast<double>(num_parameters());
    const double attention = attention_flops_per_token(
        arch.n_layers, arch.block.n_heads * arch.head_dim(), batch_.tokens.size(1) + memory);
    return {{"dense_6n", dense}, {"attention", attention}, {"total", dense + attention}};
  }

 private:
  static Student seeded_student(const Config& config, const DatasetInfo& info) {
    torch::manual_seed(config.run.seed);
    return Student(config.model, info);
  }

  const Config& config_;
  DatasetInfo info_;
  Student student_;
  Batch batch_;
  PiUsage pi_;
  FlatParameters flat_;
  FlatAdamW adamw_;
};

// One line per operator, in dispatch order (phase, autograd node, operator), tab-separated.
void write_op_sequence(const OpCounts& counts, const std::string& path) {
  std::string text = "phase\tnode\toperator\n";
  for (const auto& line : counts.sequence) text += line + "\n";
  replace_file_atomically(path, text);
}

// Per-phase operators and host syncs of one more step, and, when asked, the operator table.
nlohmann::json counted_step(BenchStep& bench, const StepBenchOptions& options, std::ostream& out) {
  OpCounter counter(/*record_sequence=*/!options.op_sequence.empty());
  bench.run();
  const OpCounts counts = counter.stop();
  if (options.op_table) out << counts.table(options.op_table_rows);
  if (!options.op_sequence.empty()) write_op_sequence(counts, options.op_sequence);
  return counts.summary();
}

}  // namespace

OpCounts count_step_operators(const Config& config, int64_t warmup) {
  BenchStep bench(config);
  for (int64_t i = 0; i < warmup; ++i) bench.run();
  OpCounter counter;
  bench.run();
  return counter.stop();
}

void run_step_benchmark(const Config& config, const StepBenchOptions& options, std::ostream& out) {
  if (options.warmup < 0 || options.iters < 1) {
    fail("bench step: need warmup >= 0 and iters >= 1, got {} and {}", options.warmup,
         options.iters);
  }
  BenchStep bench(config);
  std::vector<double> step_ms, cpu_ms;
  double last_loss = 0.0;
  for (int64_t i = 0; i < options.warmup + options.iters; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();
    last_loss = bench.run();
    const std::chrono::duration<double, std::milli> elapsed =
        std::chrono::steady_clock::now() - start;
    if (i < options.warmup) continue;
    step_ms.push_back(elapsed.count());
    cpu_ms.push_back(1000.0 * double(std::clock() - cpu_start) / CLOCKS_PER_SEC);
  }
  const double ms = median(step_ms);
  const Batch& batch = bench.batch();
  const int64_t tokens_per_step = batch.tokens.numel();
  nlohmann::json line = {
      {"bench", "step"},
      {"impl", "cpp"},
      {"threads", torch::get_num_threads()},
      {"num_parameters", bench.num_parameters()},
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
      {"flops_per_token", bench.flops_per_token()},
  };
  // Counted after the timed steps (the counter slows dispatch down), on the same step.
  line.update(counted_step(bench, options, out));
  out << line.dump() << std::endl;
}

}  // namespace pride
