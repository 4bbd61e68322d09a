// The PRIDE training loop (training/trainer.h). One step, top to bottom:
//   1. take this rank's micro-batches for the step (read ahead by a background thread);
//   2. all-reduce the step's token and sample counts, so every loss term can be normalised by
//      global counts (this is what makes N ranks train exactly like one rank with the same batch);
//   3. per micro-batch: forward, loss terms, backward; on the last micro-batch the gradient
//      buckets are all-reduced from hooks while backward still runs;
//   4. clip, AdamW, metrics, evaluation and checkpoints at their intervals.
#include "training/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "checkpoints/checkpoint.h"
#include "data/batch.h"
#include "data/reader.h"
#include "distributed/all_gather.h"
#include "models/student.h"
#include "sharding/sampler.h"
#include "training/distributed_adamw.h"
#include "training/evaluator.h"
#include "training/flat_state.h"
#include "training/losses.h"
#include "training/metrics.h"
#include "training/mfu.h"
#include "training/preemption.h"
#include "training/prefetcher.h"
#include "training/schedule.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fault_injection.h"

namespace pride {

torch::Device choose_device(const Config& config, const WorldInfo& world) {
  const bool cuda = torch::cuda::is_available();
  if (config.run.device == "cuda" && !cuda) fail("run.device = cuda, but no CUDA device is usable");
  if (config.run.device == "cpu" || !cuda) return torch::Device(torch::kCPU);
  const int count = static_cast<int>(torch::cuda::device_count());
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(world.local_rank % count));
}

namespace {

// Sums of each loss term over this rank's part of a step, before global normalisation.
struct TermSums {
  double ce = 0, rkl = 0, emotion = 0, align = 0, mmd = 0;
};

// Global counts of a step, identical on every rank.
struct StepCounts {
  double response_tokens = 0, samples = 0, input_tokens = 0;
};

std::string checkpoint_root(const Config& config) {
  return config.checkpoint.dir.empty() ? config.run.dir + "/checkpoints" : config.checkpoint.dir;
}

// The tensor `name` of a loaded checkpoint, copied into `target` after a size check.
void copy_checkpoint_tensor(const CheckpointState& state, const std::string& name,
                            const std::string& path, torch::Tensor& target) {
  for (const auto& entry : state.tensors) {
    if (entry.name != name) continue;
    if (entry.full.numel() != target.numel()) {
      fail("{}: '{}' holds {} values but this run needs {} (different model.* settings?)", path,
           name, entry.full.numel(), target.numel());
    }
    torch::NoGradGuard no_grad;
    target.copy_(entry.full.to(target.device()).view(target.sizes()));
    return;
  }
  fail("{}: checkpoint has no tensor '{}'", path, name);
}

at::Generator cpu_generator() {
  return at::detail::getDefaultCPUGenerator();
}

DistributedAdamWOptions optimizer_options(const Config& config) {
  DistributedAdamWOptions o;
  o.adamw = {config.train.beta1, config.train.beta2, 1e-8, config.train.weight_decay};
  o.zero_stage = config.dist.zero;
  o.bucket_mb = config.dist.bucket_mb;
  o.reorder_buckets = config.dist.bucket_order == "ready";
  return o;
}

Student build_student(const Config& config, const DatasetInfo& info, const torch::Device& device) {
  torch::manual_seed(static_cast<uint64_t>(config.run.seed));
  Student model(config.model, info);
  model->to(device);
  return model;
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
        plan_(plan_options()),
        throughput_(flat_.numel(), config.train.peak_tflops,
                    device.is_cuda() ? device.index() : -1) {
    check_eval_matches_train();
  }

  int run(const TrainOptions& options) {
    const bool leader = comm_.rank() == 0;
    const int64_t start = resume(options.resume);
    const int64_t total = config_.train.max_steps;
    MetricsLog metrics(config_.run.dir + "/metrics.jsonl", leader, start > 0 ? start : -1);
    ProgressPrinter progress(leader, start, total);
    announce(progress, start);

    Prefetcher<std::vector<Batch>> batches([this](int64_t step) { return read_step(step); }, start,
                                           total,
                                           static_cast<size_t>(config_.data.prefetch_batches));
    auto window_start = Clock::now();
    double window_tokens = 0, window_padded_tokens = 0;
    for (int64_t step = start; step < total; ++step) {
      comm_.set_context(fmt::format("step {}", step + 1));
      maybe_inject_fault("step", comm_.rank(), step + 1);
      std::vector<Batch> micro = batches.next();
      for (const Batch& batch : micro) window_padded_tokens += batch.tokens.numel();
      const auto [record, stop] = train_step(step, micro);
      window_tokens += record["input_tokens"].get<double>();
      const int64_t done = step + 1;
      if (done % config_.run.log_every == 0 || done == total || stop) {
        auto line = record;
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
        auto result = evaluate(model_, eval_data_, config_, comm_, device_).to_json(done);
        metrics.write(result);
        progress.eval(result);
      }
      if (stop) {
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
    o.micro_batch = config_.train.micro_batch_size;
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

  void announce(ProgressPrinter& progress, int64_t start) const {
    progress.note(fmt::format(
        "pride train: {} rank(s), backend {}, device {} | student {:.2f}M params | train {} "
        "samples, eval {} | global batch {} = {} micro x {} rank(s) x {} accumulation | PI {}",
        comm_.world_size(), comm_.backend_name(), device_.str(),
        static_cast<double>(flat_.numel()) / 1e6, train_data_.size(), eval_data_.size(),
        config_.train.global_batch_size, config_.train.micro_batch_size, comm_.world_size(),
        plan_.accumulation_steps(), config_.pi.enabled ? "on (training only)" : "off"));
    if (start > 0) progress.note(fmt::format("resumed at step {}", start));
  }

  // Runs on the prefetch thread: reads and collates this rank's micro-batches for `step`.
  std::vector<Batch> read_step(int64_t step) const {
    std::vector<Batch> micro;
    for (const auto& indices : plan_.rank_micro_batches(step, comm_.rank())) {
      std::vector<Sample> samples;
      for (int64_t index : indices) samples.push_back(train_data_.read(index, config_.pi.enabled));
      micro.push_back(collate(samples, train_data_.info(), config_.model.max_seq_len));
    }
    return micro;
  }

  // Which rows see their real PI: a per-sample coin from (seed, step, sample), with a probability
  // that decays linearly from pi.real_pi_start to pi.real_pi_end over the run.
  PiUsage pi_usage_for(const Batch& batch, int64_t step) const {
    PiUsage usage;
    if (!config_.pi.enabled) return usage;
    usage.use_pi = true;
    const double progress =
        static_cast<double>(step) / static_cast<double>(config_.train.max_steps);
    const double p =
        config_.pi.real_pi_start + (config_.pi.real_pi_end - config_.pi.real_pi_start) * progress;
    auto rows = torch::zeros({batch.size()}, torch::kBool);
    for (int64_t b = 0; b < batch.size(); ++b) {
      const auto index = static_cast<uint64_t>(batch.indices[b]);
      rows[b] = hash_uniform(static_cast<uint64_t>(config_.run.seed), static_cast<uint64_t>(step),
                             index) < p;
    }
    usage.real_pi_rows = rows.to(device_);
    return usage;
  }

  StepCounts count_step(const std::vector<Batch>& micro) const {
    auto local = torch::zeros({3}, torch::kFloat64);
    for (const auto& batch : micro) {
      local[0] += static_cast<double>(batch.response_tokens);
      local[1] += static_cast<double>(batch.size());
      local[2] += batch.tokens.ne(train_data_.info().pad_id).sum().item<double>();
    }
    auto global = all_reduce_small(comm_, local, device_);
    return {global[0].item<double>(), global[1].item<double>(), global[2].item<double>()};
  }

  // Forward and backward of one micro-batch; adds its term sums to `sums`.
  void micro_step(const Batch& batch, int64_t step, const StepCounts& counts, bool last,
                  TermSums& sums) {
    const auto& w = config_.loss;
    const double world = comm_.world_size();
    const StudentOutput out = model_->forward(batch, pi_usage_for(batch, step));
    const auto& mask = batch.response_mask;
    const auto ce = cross_entropy_sum(out.logits, batch.targets, mask);
    const auto rkl = reverse_kl_sum(out.logits, batch.topk_ids, batch.topk_logprobs, mask,
                                    w.rkl_temperature, w.rkl_tail_bucket);
    const auto emotion = emotion_ce_sum(out.emotion_logits, batch.emotion);
    const auto align = out.pi_align.defined() ? out.pi_align.sum() : torch::zeros({}, ce.options());
    // MMD^2 over the global micro-batch: features from every rank, gathered with a gradient path.
    const auto student_features = all_gather_with_grad(comm_, out.features);
    const auto teacher_features = comm_.all_gather(batch.teacher_hidden.contiguous());
    const auto mmd = mmd2_unbiased(student_features, teacher_features, w.mmd_bandwidths);

    // Each rank's objective is world x its share of the global-batch loss, so the average over
    // ranks (what the gradient all-reduce computes) is the gradient of the global-batch loss.
    const double per_token = world / counts.response_tokens;
    const double per_sample = world / counts.samples;
    const auto objective = weighted_loss<torch::Tensor>(
        config_,
        {ce * per_token, rkl * per_token, mmd / static_cast<double>(plan_.accumulation_steps()),
         emotion * per_sample, align * per_sample});
    if (last) optimizer_.arm();
    objective.backward();

    sums.ce += ce.item<double>();
    sums.rkl += rkl.item<double>();
    sums.emotion += emotion.item<double>();
    sums.align += align.item<double>();
    sums.mmd += mmd.item<double>() / static_cast<double>(plan_.accumulation_steps());
  }

  // One optimizer step. Returns its metrics record and whether any rank asked to stop.
  std::pair<nlohmann::json, bool> train_step(int64_t step, std::vector<Batch>& micro) {
    const auto started = Clock::now();
    for (auto& batch : micro) batch = batch.to(device_);
    const StepCounts counts = count_step(micro);
    flat_.zero_grad();
    TermSums sums;
    for (size_t j = 0; j < micro.size(); ++j) {
      micro_step(micro[j], step, counts, j + 1 == micro.size(), sums);
    }
    const double lr = learning_rate_at(step, config_.train);
    const double grad_norm = optimizer_.step(lr, config_.train.grad_clip);

    // One small all-reduce gives the global loss terms and the agreed preemption flag.
    const double world = comm_.world_size();
    auto packed = torch::tensor({sums.ce, sums.rkl, sums.emotion, sums.align, sums.mmd / world,
                                 preemption_requested() ? 1.0 : 0.0},
                                torch::kFloat64);
    packed = all_reduce_small(comm_, packed, device_);
    const double ce = packed[0].item<double>() / counts.response_tokens;
    const double rkl = packed[1].item<double>() / counts.response_tokens;
    const double emotion = packed[2].item<double>() / counts.samples;
    const double align = packed[3].item<double>() / counts.samples;
    const double mmd = packed[4].item<double>();
    const double loss = weighted_loss<double>(config_, {ce, rkl, mmd, emotion, align});
    nlohmann::json record = {{"step", step + 1},
                             {"loss", loss},
                             {"ce", ce},
                             {"rkl", rkl},
                             {"mmd", mmd},
                             {"emotion_ce", emotion},
                             {"pi_align", align},
                             {"lr", lr},
                             {"grad_norm", grad_norm},
                             {"input_tokens", counts.input_tokens},
                             {"step_time_s", seconds_since(started)},
                             {"comm_exposed_s", optimizer_.comm_exposed_s()}};
    return {record, packed[5].item<double>() > 0};
  }

  CheckpointState snapshot(int64_t step) {  // a collective under ZeRO-1 (gathers the state)
    CheckpointState state;
    state.step = step;
    state.epoch = plan_.epoch_of(step);
    state.samples_consumed = step * config_.train.global_batch_size;
    state.config_yaml = to_yaml(config_);
    state.extra = {{"optimizer_step", optimizer_.step_count()},
                   {"seed", config_.run.seed},
                   {"steps_per_epoch", plan_.steps_per_epoch()}};
    auto host = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU).clone(); };
    state.tensors = {{"model.params", host(flat_.values())},
                     {"optim.exp_avg", host(optimizer_.full_exp_avg())},
                     {"optim.exp_avg_sq", host(optimizer_.full_exp_avg_sq())},
                     {"rng.torch_cpu", cpu_generator().get_state()}};
    for (const auto& slot : flat_.layout())
      state.params.push_back({slot.name, slot.shape, slot.offset});
    return state;
  }

  void save(int64_t step, bool wait) {
    const SaveOptions options{config_.checkpoint.keep, config_.checkpoint.keep_every};
    if (!config_.checkpoint.async) {
      save_checkpoint(checkpoint_root(config_), snapshot(step), comm_, options);
      return;
    }
    if (!async_)
      async_ = std::make_unique<AsyncCheckpointer>(comm_, checkpoint_root(config_), options);
    async_->save(snapshot(step));
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
    restore(resumed->state, resumed->path);
    return resumed->state.step;
  }

  void restore(const CheckpointState& state, const std::string& path) {
    if (state.step > config_.train.max_steps) {
      fail("{}: checkpoint is at step {}, past train.max_steps = {}", path, state.step,
           config_.train.max_steps);
    }
    copy_checkpoint_tensor(state, "model.params", path, flat_.values());
    torch::Tensor exp_avg = torch::empty_like(flat_.values());
    torch::Tensor exp_avg_sq = torch::empty_like(flat_.values());
    copy_checkpoint_tensor(state, "optim.exp_avg", path, exp_avg);
    copy_checkpoint_tensor(state, "optim.exp_avg_sq", path, exp_avg_sq);
    optimizer_.load_state(exp_avg, exp_avg_sq, state.extra.value("optimizer_step", state.step));
    auto generator = cpu_generator();
    torch::Tensor rng_state = generator.get_state();
    copy_checkpoint_tensor(state, "rng.torch_cpu", path, rng_state);
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(rng_state);
  }

  const Config& config_;
  Communicator& comm_;
  torch::Device device_;
  DialogueDataset train_data_, eval_data_;
  Student model_;
  FlatParameters flat_;
  DistributedAdamW optimizer_;  // gradient averaging over ranks, clipping and AdamW
  GlobalBatchPlan plan_;
  std::unique_ptr<AsyncCheckpointer> async_;
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

std::string run_checkpoint_eval(const Config& config, Communicator& comm,
                                const torch::Device& device, const std::string& checkpoint) {
  const auto eval_data = DialogueDataset::open(config.data.eval);
  Student model = build_student(config, eval_data.info(), device);
  FlatParameters flat(*model);
  const auto resumed = load_resume_point(checkpoint, comm);
  if (!resumed) fail("--checkpoint {}: no checkpoint found there", checkpoint);
  copy_checkpoint_tensor(resumed->state, "model.params", resumed->path, flat.values());
  auto result = evaluate(model, eval_data, config, comm, device).to_json(resumed->state.step);
  result["checkpoint"] = resumed->path;
  return result.dump();
}

}  // namespace pride
