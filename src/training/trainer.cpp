// The PRIDE training loop (training/trainer.h). One step, top to bottom:
//   1. take this rank's micro-batches for the step (read and counted ahead by a background
//      thread), and all-reduce the step's token and sample counts, so every loss term can be
//      normalised by global counts (this is what makes N ranks train exactly like one rank);
//   2. with MMD on: a features-only pass and one all-gather give MMD^2 over the whole global
//      batch and its gradient per feature row (training/global_mmd.h);
//   3. per micro-batch: forward, loss terms, backward (the MMD enters through its row gradients);
//      on the last micro-batch the gradient buckets are all-reduced from hooks during backward;
//   4. clip and AdamW (skipped, on every rank alike, when the global gradient norm is not
//      finite), metrics, evaluation and checkpoints at their intervals.
// Loss sums stay on the device; the host reads them once per step, with the preemption flag.
#include "training/trainer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>

#include "checkpoints/checkpoint.h"
#include "data/batch.h"
#include "data/format.h"
#include "data/reader.h"
#include "eval/evaluator.h"
#include "eval/generation_eval.h"
#include "models/flat_state.h"
#include "models/losses.h"
#include "models/student.h"
#include "models/student_init.h"
#include "sharding/sampler.h"
#include "training/distributed_adamw.h"
#include "training/global_mmd.h"
#include "training/metrics.h"
#include "training/mfu.h"
#include "training/micro_batch_probe.h"
#include "training/op_counter.h"
#include "training/preemption.h"
#include "training/prefetcher.h"
#include "training/schedule.h"
#include "training/trainer_state.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fault_injection.h"
#include "util/torch_compat.h"

namespace pride {

namespace {

// This rank's share of a step: its micro-batches, counted on the host while they are read.
struct StepInput {
  std::vector<Batch> micro;
  double response_tokens = 0, samples = 0, input_tokens = 0;
};

// What one optimizer step reports.
struct StepResult {
  nlohmann::json record;  // the metrics line
  bool stop = false;      // some rank was asked to stop (preemption)
};

// Order of the per-step loss sums kept on the device (train.objective pride and sft); the step's
// one read-back appends the MMD and the stop flag.
enum TermIndex : int64_t { kCe, kRkl, kEmotion, kEmotionKd, kAlign, kNumTerms };
// The same for train.objective dpo, each a sum over the pairs.
enum DpoTermIndex : int64_t {
  kDpoLoss,
  kChosenReward,
  kRejectedReward,
  kRewardAccuracy,
  kChosenLogp,
  kRejectedLogp,
  kNumDpoTerms
};

// A micro-batch's contribution: the objective to differentiate and its term sums (detached).
struct MicroLoss {
  torch::Tensor objective, sums;
};

// Global counts of a step, identical on every rank.
struct StepCounts {
  double response_tokens = 0, samples = 0, input_tokens = 0;
};

std::string checkpoint_root(const Config& config) {
  return config.checkpoint.dir.empty() ? config.run.dir + "/checkpoints" : config.checkpoint.dir;
}

DistributedAdamWOptions optimizer_options(const Config& config) {
  DistributedAdamWOptions o;
  o.adamw = {config.train.beta1, config.train.beta2, 1e-8, config.train.weight_decay};
  o.zero_stage = config.dist.zero;
  o.bucket_mb = config.dist.bucket_mb;
  o.reorder_buckets = config.dist.bucket_order == "ready";
  return o;
}

// Seeded with run.seed; model.init_from and model.freeze applied (models/student_init.h).
Student build_student(const Config& config, const DatasetInfo& info, const torch::Device& device) {
  Student student = make_student(student_spec(config.model, config.run.seed, info), device,
                                 /*load_pretrained=*/true);
  student->set_activation_checkpointing(config.train.activation_checkpointing);
  return student;
}

// dpo.reference online: a copy of `student` as this run starts it (made before the first step and
// before a resume restores its weights, without reading model.init_from again), frozen and in
// eval mode, as DPO's reference model.
Student frozen_copy(Student& student, const Config& config, const DatasetInfo& info,
                    const torch::Device& device) {
  Student copy = make_student(student_spec(config.model, config.run.seed, info), device,
                              /*load_pretrained=*/false);
  {
    torch::NoGradGuard no_grad;
    auto source = student->named_parameters();
    for (auto& item : copy->named_parameters()) item.value().copy_(*source.find(item.key()));
  }
  for (auto& parameter : copy->parameters()) parameter.set_requires_grad(false);
  copy->pack_frozen_weights();
  copy->eval();
  return copy;
}

// Whether the student with its LoRA adapters off is, throughout the run, the student it starts
// as: the adapters are all that trains, and they start as a no-op (every B zero; not so when
// model.init_from copied a trained student's adapters). Then DPO's online reference needs no
// second model. Called before the first step.
bool adapters_off_is_the_start(StudentImpl& student) {
  if (!student.has_lora()) return false;
  torch::NoGradGuard no_grad;
  for (const auto& item : student.named_parameters()) {
    const bool adapter = item.key().find(".lora_") != std::string::npos;
    if (item.value().requires_grad() && !adapter) return false;
    const bool up = item.key().find(".lora_B") != std::string::npos;
    if (up && item.value().count_nonzero().item<int64_t>() > 0) return false;
  }
  return true;
}

class Trainer {
 public:
  Trainer(const Config& config, Communicator& comm, const torch::Device& device)
      : config_(config),
        comm_(comm),
        device_(device),
        train_data_(DialogueDataset::open(config.data.train)),
        eval_data_(DialogueDataset::open(config.data.eval)),
        model_(build_student(config, train_data_.info(), device)),
        flat_(*model_, /*pad_to_multiple_of=*/comm.world_size()),
        optimizer_(comm, flat_, optimizer_options(config)),
        micro_batch_(choose_micro_batch(config, model_, train_data_.info(), device,
                                        config.train.global_batch_size / comm.world_size(),
                                        [this] { flat_.zero_grad(); })),
        plan_(plan_options()),
        throughput_(flat_.numel(), config.train.peak_tflops,
                    device.is_cuda() ? device.index() : -1) {
    check_eval_matches_train();
    check_objective_fits_data();
    check_teacher_emotions();
    // With LoRA alone training from a no-op start, the reference is the student itself with its
    // adapters off (reference_logps).
    if (online_reference() && !adapters_off_is_the_start(*model_)) {
      reference_ = frozen_copy(model_, config, train_data_.info(), device);
    }
    no_term_ = torch::zeros({}, torch::TensorOptions(torch::kFloat).device(device));
  }

  int run(const TrainOptions& options) {
    const bool leader = comm_.rank() == 0;
    const int64_t start = resume(options.resume);
    const int64_t total = config_.train.max_steps;
    MetricsLog metrics(config_.run.dir + "/metrics.jsonl", leader, start > 0 ? start : -1);
    ProgressPrinter progress(leader, start, total);
    announce(progress, start);

    Prefetcher<StepInput> inputs([this](int64_t step) { return read_step(step); }, start, total,
                                 static_cast<size_t>(config_.data.prefetch_batches));
    auto window_start = Clock::now();
    double window_tokens = 0, window_padded_tokens = 0;
    for (int64_t step = start; step < total; ++step) {
      comm_.set_context(fmt::format("step {}", step + 1));
      maybe_inject_fault("step", comm_.rank(), step + 1);
      StepInput input = inputs.next();
      for (const Batch& batch : input.micro) window_padded_tokens += batch.tokens.numel();
      const StepResult result = train_step(step, input);
      window_tokens += result.record["input_tokens"].get<double>();
      const int64_t done = step + 1;
      if (done % config_.run.log_every == 0 || done == total || result.stop) {
        auto line = result.record;
        const double seconds = std::max(1e-9, seconds_since(window_start));
        line["tokens_per_s"] = window_tokens / seconds;
        throughput_.add_to(line, window_padded_tokens, seconds);
        metrics.write(line);
        progress.step(line);
        window_start = Clock::now();
        window_tokens = window_padded_tokens = 0;
      }
      const bool eval_due = config_.train.eval_every > 0 && done % config_.train.eval_every == 0;
      if (eval_due || done == total) {
        auto evaluation = evaluate(model_, eval_data_, config_, comm_, device_).to_json(done);
        if (dpo()) evaluation.update(dpo_evaluation());
        metrics.write(evaluation);
        progress.eval(evaluation);
      }
      if (result.stop) {
        save(done, /*wait=*/true);
        progress.note(fmt::format("preempted (signal {}): saved step {}, exiting with code {}",
                                  preemption_signal(), done, kPreemptedExitCode));
        return kPreemptedExitCode;
      }
      const bool slice_ends = done == config_.train.stop_at_step;
      const int64_t every = config_.checkpoint.every_steps;
      if ((every > 0 && done % every == 0) || done == total || slice_ends) {
        save(done, done == total || slice_ends);
      }
      if (slice_ends) {
        progress.note(fmt::format("stopping after step {} (train.stop_at_step)", done));
        return 0;
      }
      if (async_) async_->poll();
    }
    return 0;
  }

 private:
  BatchPlanOptions plan_options() const {
    BatchPlanOptions o;
    o.num_samples = train_data_.size();
    o.global_batch = config_.train.global_batch_size;
    o.max_micro_batch = micro_batch_.micro_batch;
    o.world_size = comm_.world_size();
    o.seed = static_cast<uint64_t>(config_.run.seed);
    if (config_.data.length_aware) {
      o.length_of = [this](int64_t index) { return train_data_.sequence_length(index); };
    }
    return o;
  }

  void check_eval_matches_train() const {
    const auto& t = train_data_.info();
    const auto& e = eval_data_.info();
    if (t.vocab_size != e.vocab_size || t.num_emotions != e.num_emotions ||
        t.teacher_hidden != e.teacher_hidden || t.audio_dim != e.audio_dim ||
        t.visual_dim != e.visual_dim) {
      fail(
          "data.eval does not match data.train (vocab {} vs {}, emotions {} vs {}, teacher "
          "hidden {} vs {}, audio {} vs {}, visual {} vs {})",
          e.vocab_size, t.vocab_size, e.num_emotions, t.num_emotions, e.teacher_hidden,
          t.teacher_hidden, e.audio_dim, t.audio_dim, e.visual_dim, t.visual_dim);
    }
  }

  // Emotion distillation reads the teacher's emotion distributions, which only some files hold.
  void check_teacher_emotions() const {
    if (emotion_kd_on() && !train_data_.info().teacher_emotion) {
      fail(
          "loss.emotion_kd_weight = {} needs the teacher's emotion distributions ({}), which {} "
          "does not hold: teach with teach.score_emotions=true, or set loss.emotion_kd_weight=0",
          config_.loss.emotion_kd_weight, format::kTeacherEmotionLogprobs,
          fmt::join(train_data_.files(), ", "));
    }
  }

  // Which data each objective trains on: PRIDE needs the teacher's targets (dialogue data), DPO
  // needs pairs; SFT reads either (a pair's chosen response is its response).
  void check_objective_fits_data() const {
    const DatasetInfo& info = train_data_.info();
    const std::string files = fmt::format("{}", fmt::join(train_data_.files(), ", "));
    if (pride_objective() && info.preference) {
      fail(
          "train.objective=pride needs the teacher's targets of a dialogue file, but {} holds "
          "preference pairs: set train.objective=sft or dpo, or teach the dialogues with pride "
          "teach",
          files);
    }
    if (dpo() && !info.preference) {
      fail(
          "train.objective=dpo needs preference pairs (pride data pairs, docs/dpo.md), but {} is "
          "dialogue data",
          files);
    }
    if (dpo() && config_.dpo.reference == "data" && !info.reference_logps) {
      fail(
          "dpo.reference=data needs the reference log-probabilities in the data, which {} does not "
          "hold: write them with pride data pairs --reference, or set dpo.reference=online",
          files);
    }
  }

  bool pride_objective() const { return config_.train.objective == "pride"; }
  bool dpo() const { return config_.train.objective == "dpo"; }
  bool online_reference() const {
    return dpo() && (config_.dpo.reference == "online" ||
                     (config_.dpo.reference == "auto" && !train_data_.info().reference_logps));
  }
  bool mmd_on() const { return pride_objective() && config_.loss.mmd_weight > 0; }
  bool emotion_kd_on() const { return pride_objective() && config_.loss.emotion_kd_weight > 0; }
  int64_t num_terms() const { return dpo() ? int64_t{kNumDpoTerms} : int64_t{kNumTerms}; }

  void announce(ProgressPrinter& progress, int64_t start) const {
    progress.note(fmt::format(
        "pride train ({}): {} rank(s), backend {}, device {}, {} | student {:.2f}M params | train "
        "{} samples, eval {} | global batch {} = {} rank(s) x {} accumulation x micro-batch {} "
        "(cap train.micro_batch_size {}) | PI {}",
        config_.train.objective, comm_.world_size(), comm_.backend_name(), device_.str(),
        config_.train.precision, static_cast<double>(flat_.numel()) / 1e6, train_data_.size(),
        eval_data_.size(), config_.train.global_batch_size, comm_.world_size(),
        plan_.accumulation_steps(), plan_.micro_batch(),
        config_.train.micro_batch_size == kAuto ? std::string("auto")
                                                : std::to_string(config_.train.micro_batch_size),
        pi_read() ? "on (training only)" : "off"));
    if (dpo()) {
      progress.note(fmt::format("dpo: loss {}, beta {}, label smoothing {}, reference {}",
                                config_.dpo.loss, config_.dpo.beta, config_.dpo.label_smoothing,
                                !online_reference() ? "precomputed in the data"
                                : reference_
                                    ? "online (the starting weights, frozen)"
                                    : "online (the student with its LoRA adapters off: no second "
                                      "model)"));
    }
    if (!micro_batch_.how.empty()) progress.note(micro_batch_.how);
    progress.note(memory_summary());
    if (start > 0) progress.note(fmt::format("resumed at step {}", start));
  }

  // What model.freeze saves: frozen parameters hold no gradient and no optimizer state.
  std::string memory_summary() const {
    constexpr double kMiB = 1024.0 * 1024.0;
    return fmt::format(
        "trainable {} / total {} parameters (model.freeze: [{}]{}) | per rank: parameters {:.1f} "
        "MiB, gradients {:.1f} MiB, optimizer state {:.1f} MiB (dist.zero {})",
        flat_.trainable_numel(), flat_.numel(), fmt::join(config_.model.freeze, ", "),
        model_->has_lora()
            ? fmt::format("; model.lora: rank {} on [{}], the language model frozen",
                          config_.model.lora_rank, fmt::join(config_.model.lora_targets, ", "))
            : "",
        static_cast<double>(flat_.numel()) * sizeof(float) / kMiB,
        static_cast<double>(optimizer_.gradient_bytes()) / kMiB,
        static_cast<double>(optimizer_.state_bytes()) / kMiB, config_.dist.zero);
  }

  // Runs on the prefetch thread: reads, collates and counts this rank's micro-batches for `step`.
  StepInput read_step(int64_t step) const {
    StepInput input;
    for (const auto& indices : plan_.rank_micro_batches(step, comm_.rank())) {
      std::vector<Sample> samples;
      for (int64_t index : indices) samples.push_back(train_data_.read(index, pi_read()));
      const int64_t length = config_.model.max_seq_len;
      Batch collated = dpo() ? collate_pairs(samples, train_data_.info(), length)
                             : collate(samples, train_data_.info(), length);
      // Pinned here, on the prefetch thread, so the step's copy to the GPU does not block.
      input.micro.push_back(device_.is_cuda() ? collated.pinned() : std::move(collated));
      const Batch& batch = input.micro.back();
      input.response_tokens += static_cast<double>(batch.response_tokens);
      input.samples += static_cast<double>(batch.samples());
      input.input_tokens += static_cast<double>(batch.input_tokens);
    }
    return input;
  }

  // Which rows see their real PI: a per-sample coin from (seed, step, sample), with a probability
  // that decays linearly from pi.real_pi_start to pi.real_pi_end over the run.
  PiUsage pi_usage_for(const Batch& batch, int64_t step) const {
    PiUsage usage;
    if (!pi_read()) return usage;
    usage.use_pi = true;
    const double progress =
        static_cast<double>(step) / static_cast<double>(config_.train.max_steps);
    const double p =
        config_.pi.real_pi_start + (config_.pi.real_pi_end - config_.pi.real_pi_start) * progress;
    // Written through the pointer: indexing row by row dispatches two operators per sample.
    auto rows = torch::empty({batch.size()}, torch::kBool);
    bool* real = rows.data_ptr<bool>();
    for (int64_t b = 0; b < batch.size(); ++b) {
      const auto index = static_cast<uint64_t>(batch.indices[b]);
      real[b] = hash_uniform(static_cast<uint64_t>(config_.run.seed), static_cast<uint64_t>(step),
                             index) < p;
    }
    usage.real_pi_rows = rows.to(device_, /*non_blocking=*/true);
    return usage;
  }

  // MMD^2 over the global batch from a features-only pass over this rank's micro-batches.
  GlobalMmd step_mmd(const std::vector<Batch>& micro, const std::vector<PiUsage>& usage) {
    std::vector<torch::Tensor> student, teacher;
    {
      OpPhaseScope phase(OpPhase::kForward);
      torch::NoGradGuard no_grad;
      compat::AutocastGuard autocast(device_, bf16());
      for (size_t j = 0; j < micro.size(); ++j) {
        student.push_back(model_->features(micro[j], usage[j]).to(torch::kFloat));
        teacher.push_back(micro[j].teacher_hidden);
      }
    }
    OpPhaseScope phase(OpPhase::kCommunication);
    return global_mmd(comm_, student, teacher, config_.loss.mmd_bandwidths);
  }

  bool bf16() const { return config_.train.precision == "bf16"; }
  // Only PRIDE reads privileged information.
  bool pi_read() const { return pride_objective() && config_.pi.enabled; }

  StudentOutput forward(Student& model, const Batch& batch, const PiUsage& usage,
                        LogitRows logit_rows = LogitRows::all) {
    compat::AutocastGuard autocast(device_, bf16());
    return model->forward(batch, usage, logit_rows);
  }

  // Forward and backward of micro-batch j; adds its term sums to `sums` (on the device).
  void micro_step(int64_t step, const Batch& batch, const PiUsage& usage, const StepCounts& counts,
                  const GlobalMmd& mmd, size_t j, bool last, torch::Tensor& sums) {
    MicroLoss loss;
    {
      OpPhaseScope forward_phase(OpPhase::kForward);
      loss = dpo()               ? dpo_loss(batch, counts)
             : pride_objective() ? pride_loss(batch, usage, counts, mmd, j)
                                 : sft_loss(batch, counts);
    }
    // PRIDE_INJECT_FAULT=loss:<rank>:<step>:nan: a NaN gradient on one rank, as an overflow
    // would make; the all-reduce spreads it to every rank.
    if (j == 0 && fault_requested("loss", comm_.rank(), step + 1, "nan")) {
      loss.objective = loss.objective * std::numeric_limits<double>::quiet_NaN();
    }
    if (last) optimizer_.arm();
    {
      OpPhaseScope backward_phase(OpPhase::kBackward);
      loss.objective.backward();
    }
    sums += loss.sums;
  }

  // Each rank's objective is world x its share of the global-batch loss, so the average over
  // ranks (what the gradient all-reduce computes) is the gradient of the global-batch loss.
  double per_token(const StepCounts& counts) const {
    return comm_.world_size() / counts.response_tokens;
  }
  double per_sample(const StepCounts& counts) const { return comm_.world_size() / counts.samples; }

  // train.objective sft: cross-entropy on the response tokens, nothing else.
  MicroLoss sft_loss(const Batch& batch, const StepCounts& counts) {
    const StudentOutput out = forward(model_, batch, PiUsage{}, LogitRows::response);
    const auto ce = response_cross_entropy(out.response_logits, batch);
    const auto zero = torch::zeros({1}, torch::TensorOptions(torch::kFloat64).device(device_));
    const auto sums =
        torch::cat({ce.detach().to(torch::kFloat64).reshape({1}), zero.expand({kNumTerms - 1})});
    return {ce * per_token(counts), sums};
  }

  // train.objective dpo: the batch's rows are P chosen then P rejected responses (collate_pairs).
  MicroLoss dpo_loss(const Batch& batch, const StepCounts& counts) {
    const StudentOutput out = forward(model_, batch, PiUsage{}, LogitRows::response);
    auto policy = response_logps(out.response_logits, batch);
    auto reference = reference_logps(batch);
    if (config_.dpo.loss == "ipo") {  // per-token means, as TRL's IPO
      const auto lengths = batch.response_mask.sum(-1).to(policy.scalar_type());
      policy = policy / lengths;
      reference = reference / lengths;
    }
    const int64_t pairs = batch.pairs;
    const auto chosen = policy.narrow(0, 0, pairs), rejected = policy.narrow(0, pairs, pairs);
    const DpoTerms terms = dpo_terms(chosen, rejected, reference.narrow(0, 0, pairs),
                                     reference.narrow(0, pairs, pairs), config_.dpo);
    const auto loss = terms.losses.sum();
    const auto wins = terms.chosen_rewards.gt(terms.rejected_rewards).sum().to(loss.dtype());
    const auto sums =
        torch::stack({loss.detach(), terms.chosen_rewards.sum(), terms.rejected_rewards.sum(), wins,
                      chosen.detach().sum(), rejected.detach().sum()});
    return {loss * per_sample(counts), sums.to(torch::kFloat64)};
  }

  // DPO's metrics over data.eval's first train.eval_samples pairs (rank r takes pairs r, r+W,
  // ...), without gradients, named as TRL names them ("eval_rewards/accuracies", ...).
  nlohmann::json dpo_evaluation() {
    torch::NoGradGuard no_grad;
    model_->eval();
    const std::vector<int64_t> mine = eval_share(eval_data_, config_, comm_);
    auto sums = torch::zeros({kNumDpoTerms}, torch::kFloat64);
    const auto chunk = static_cast<size_t>(micro_batch_.micro_batch);
    for (size_t begin = 0; begin < mine.size(); begin += chunk) {
      std::vector<Sample> pairs;
      for (size_t i = begin; i < std::min(mine.size(), begin + chunk); ++i) {
        pairs.push_back(eval_data_.read(mine[i], /*with_privileged=*/false));
      }
      const Batch batch =
          collate_pairs(pairs, eval_data_.info(), config_.model.max_seq_len).to(device_);
      sums += dpo_loss(batch, StepCounts{1, 1, 1}).sums.cpu();
    }
    model_->train();
    sums = all_reduce_small(comm_, sums);
    nlohmann::json out;
    const double pairs = static_cast<double>(eval_total(eval_data_, config_));
    const auto record = dpo_record(sums, StepCounts{0, pairs, 0});
    for (const auto& [key, value] : record.items()) out["eval_" + key] = value;
    return out;
  }

  // The reference model's summed log-probabilities of the batch's rows: the data's, or the frozen
  // starting weights' (dpo.reference).
  torch::Tensor reference_logps(const Batch& batch) {
    if (!online_reference()) return batch.reference_logps;
    torch::NoGradGuard no_grad;
    if (reference_) return logps_of(reference_, batch);
    // LoRA alone trains, from a no-op start: with the adapters off the student is as it started.
    model_->set_adapters_enabled(false);
    const auto base = logps_of(model_, batch);
    model_->set_adapters_enabled(true);
    return base;
  }

  torch::Tensor logps_of(Student& model, const Batch& batch) {
    return response_logps(forward(model, batch, PiUsage{}, LogitRows::response).response_logits,
                          batch);
  }

  // train.objective pride: every PRIDE term (docs/method.md, "Total loss").
  MicroLoss pride_loss(const Batch& batch, const PiUsage& usage, const StepCounts& counts,
                       const GlobalMmd& mmd, size_t j) {
    const auto& w = config_.loss;
    const StudentOutput out = forward(model_, batch, usage, LogitRows::response);
    const auto [ce, rkl] =
        response_token_losses(out.response_logits, batch, w.rkl_temperature, w.rkl_tail_bucket);
    const auto emotion_logits = out.emotion_logits.to(torch::kFloat);
    const auto emotion = emotion_ce_sum(emotion_logits, batch.emotion);
    // Off, the term is a constant zero made once: no operator per step.
    const auto emotion_kd =
        emotion_kd_on() ? emotion_kd_sum(emotion_logits, batch.teacher_emotion_logprobs) : no_term_;
    const auto align = out.pi_align.defined() ? out.pi_align.to(torch::kFloat).sum()
                                              : torch::zeros({}, ce.options());
    // The MMD's gradient through this micro-batch's rows; its value is the step's, logged once.
    const auto mmd_term = mmd_on() ? mmd_surrogate(out.features, mmd.row_gradients[j])
                                   : torch::zeros({}, ce.options());

    const double world = comm_.world_size();
    const double token = per_token(counts), sample = per_sample(counts);
    auto objective = weighted_loss(config_, {ce, rkl, mmd_term, emotion, emotion_kd, align},
                                   {token, token, world, sample, sample, sample});
    return {objective,
            torch::stack({ce, rkl, emotion, emotion_kd, align}).detach().to(torch::kFloat64)};
  }

  // One optimizer step: its metrics record and whether any rank asked to stop.
  StepResult train_step(int64_t step, StepInput& input) {
    std::optional<OpCounter> counter;
    if (config_.train.count_ops) counter.emplace();
    StepResult result = run_step(step, input);
    if (counter) result.record.update(counter->stop().summary());
    return result;
  }

  StepResult run_step(int64_t step, StepInput& input) {
    const auto started = Clock::now();
    const StepCounts counts = count_step(input);
    std::vector<PiUsage> usage;
    for (auto& batch : input.micro) {
      batch = batch.to(device_, /*non_blocking=*/true);
      usage.push_back(pi_usage_for(batch, step));
    }
    flat_.zero_grad();
    const GlobalMmd mmd = mmd_on() ? step_mmd(input.micro, usage) : GlobalMmd{};
    auto sums = torch::zeros({num_terms()}, torch::TensorOptions(torch::kFloat64).device(device_));
    for (size_t j = 0; j < input.micro.size(); ++j) {
      const bool last = j + 1 == input.micro.size();
      micro_step(step, input.micro[j], usage[j], counts, mmd, j, last, sums);
    }
    // Averages, clips and applies AdamW; with a non-finite global norm (the same on every rank)
    // it applies nothing.
    const double lr = learning_rate_at(step, config_.train);
    const double grad_norm = [&] {
      OpPhaseScope phase(OpPhase::kOptimizer);
      return optimizer_.step(lr, config_.train.grad_clip);
    }();
    const bool finite = std::isfinite(grad_norm);
    if (finite) {
      consecutive_skips_ = 0;
    } else {
      skip_update(step, grad_norm);
    }

    // One small all-reduce gives the global loss sums and the agreed preemption flag.
    // MMD^2 is the same on every rank: each adds its 1/world share.
    OpPhaseScope communication(OpPhase::kCommunication);
    const double world = comm_.world_size();
    auto mmd_share = mmd_on() ? (mmd.value.to(sums.options()) / world).reshape({1})
                              : torch::zeros({1}, sums.options());
    auto flag = torch::full({1}, preemption_requested() ? 1.0 : 0.0, sums.options());
    auto packed = torch::cat({sums, mmd_share, flag}).to(comm_.device());
    comm_.all_reduce(packed);
    packed = packed.cpu();
    nlohmann::json record = {{"step", step + 1}};
    record.update(dpo() ? dpo_record(packed, counts) : pride_record(packed, counts));
    record.update({{"lr", lr},
                   {"grad_norm", finite ? grad_norm : -1.0},
                   {"skipped_steps", counters_.skipped_steps},
                   {"input_tokens", counts.input_tokens},
                   {"step_time_s", seconds_since(started)},
                   {"comm_exposed_s", optimizer_.comm_exposed_s()}});
    return {record, packed[num_terms() + 1].item<double>() > 0};
  }

  // The loss terms of a step (train.objective pride or sft) from its global sums.
  nlohmann::json pride_record(const torch::Tensor& packed, const StepCounts& counts) const {
    const double ce = packed[kCe].item<double>() / counts.response_tokens;
    if (!pride_objective()) return {{"loss", ce * config_.loss.ce_weight}, {"ce", ce}};
    const double rkl = packed[kRkl].item<double>() / counts.response_tokens;
    const double emotion = packed[kEmotion].item<double>() / counts.samples;
    const double emotion_kd = packed[kEmotionKd].item<double>() / counts.samples;
    const double align = packed[kAlign].item<double>() / counts.samples;
    const double mmd_value = packed[kNumTerms].item<double>();
    const double loss =
        weighted_loss(config_, LossTerms<double>{ce, rkl, mmd_value, emotion, emotion_kd, align});
    return {{"loss", loss},
            {"ce", ce},
            {"rkl", rkl},
            {"mmd", mmd_value},
            {"emotion_ce", emotion},
            {"emotion_kd", emotion_kd},
            {"pi_align", align}};
  }

  // The DPO metrics of a step, means over the global batch's pairs, named as TRL names them.
  nlohmann::json dpo_record(const torch::Tensor& packed, const StepCounts& counts) const {
    const auto mean = [&](DpoTermIndex i) { return packed[i].item<double>() / counts.samples; };
    return {{"loss", mean(kDpoLoss)},
            {"rewards/chosen", mean(kChosenReward)},
            {"rewards/rejected", mean(kRejectedReward)},
            {"rewards/accuracies", mean(kRewardAccuracy)},
            {"rewards/margins", mean(kChosenReward) - mean(kRejectedReward)},
            {"logps/chosen", mean(kChosenLogp)},
            {"logps/rejected", mean(kRejectedLogp)}};
  }

  // Global counts of a step, identical on every rank (one small all-reduce of host counts).
  StepCounts count_step(const StepInput& input) const {
    OpPhaseScope phase(OpPhase::kCommunication);
    auto local =
        torch::tensor({input.response_tokens, input.samples, input.input_tokens}, torch::kFloat64);
    auto global = all_reduce_small(comm_, local);
    return {global[0].item<double>(), global[1].item<double>(), global[2].item<double>()};
  }

  // A NaN/inf gradient norm (every rank sees the same): no update, counted, and the run ends after
  // train.max_skipped_steps in a row rather than writing poisoned weights into checkpoints.
  void skip_update(int64_t step, double grad_norm) {
    ++counters_.skipped_steps;
    ++consecutive_skips_;
    if (comm_.rank() == 0) {
      fmt::print(stderr, "warning: step {}: gradient norm is {}; update skipped ({} in a row)\n",
                 step + 1, grad_norm, consecutive_skips_);
    }
    if (consecutive_skips_ > config_.train.max_skipped_steps) {
      fail(
          "step {}: {} consecutive steps had a non-finite gradient norm (train.max_skipped_steps "
          "= {}); stopping before the weights are lost. Lower train.lr, check the data, or "
          "resume from the last checkpoint",
          step + 1, consecutive_skips_, config_.train.max_skipped_steps);
    }
  }

  void save(int64_t step, bool wait) {
    const SaveOptions options{config_.checkpoint.keep, config_.checkpoint.keep_every};
    auto state = snapshot_trainer(step, config_, plan_, flat_, optimizer_, counters_);
    // What `pride generate --checkpoint` and `pride ckpt export` need to rebuild the student.
    state.extra["student"] =
        student_spec(config_.model, config_.run.seed, train_data_.info()).to_json();
    if (!config_.checkpoint.async) {
      save_checkpoint(checkpoint_root(config_), state, comm_, options);
      return;
    }
    if (!async_)
      async_ = std::make_unique<AsyncCheckpointer>(comm_, checkpoint_root(config_), options);
    async_->save(std::move(state));
    if (wait) async_->wait();
  }

  // Returns the step to start from (0 for a fresh run).
  int64_t resume(const std::string& request) {
    const std::string root = checkpoint_root(config_);
    if (comm_.rank() == 0 && std::filesystem::exists(root)) clean_incomplete(root);
    comm_.barrier();
    if (request.empty()) return 0;
    const auto resumed = load_resume_point(request == "auto" ? root : request, comm_);
    if (!resumed) {
      if (request != "auto") fail("--resume {}: no checkpoint found there", request);
      return 0;
    }
    counters_ = restore_trainer(resumed->state, resumed->path, config_, flat_, optimizer_);
    return resumed->state.step;
  }

  const Config& config_;
  Communicator& comm_;
  torch::Device device_;
  DialogueDataset train_data_, eval_data_;
  Student model_;
  FlatParameters flat_;
  DistributedAdamW optimizer_;    // gradient averaging over ranks, clipping and AdamW
  MicroBatchChoice micro_batch_;  // train.micro_batch_size, probed when "auto"
  GlobalBatchPlan plan_;
  std::unique_ptr<AsyncCheckpointer> async_;
  TrainerCounters counters_;
  int64_t consecutive_skips_ = 0;
  torch::Tensor no_term_;       // a float32 zero on the device: a loss term that is off
  Student reference_{nullptr};  // dpo.reference online: the starting weights, frozen
  ThroughputMeter throughput_;  // tokens_per_s_per_gpu and mfu in metrics lines
};

}  // namespace

int run_training(const Config& config, Communicator& comm, const torch::Device& device,
                 const TrainOptions& options) {
  if (comm.rank() == 0) {
    std::filesystem::create_directories(config.run.dir);
    std::ofstream(config.run.dir + "/config.yaml") << to_yaml(config);
  }
  if (config.data.train.empty()) fail("data.train: no training data given");
  if (config.data.eval.empty()) fail("data.eval: no evaluation data given");
  install_preemption_handlers();
  Trainer trainer(config, comm, device);
  return trainer.run(options);
}

}  // namespace pride
