// Implements training/trainer_state.h.
#include "training/trainer_state.h"

#include <ATen/CPUGeneratorImpl.h>

#include "util/error.h"

namespace pride {
namespace {

at::Generator cpu_generator() {
  return at::detail::getDefaultCPUGenerator();
}

torch::Tensor host_copy(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU).clone();
}

}  // namespace

CheckpointState snapshot_trainer(int64_t step, const Config& config, const GlobalBatchPlan& plan,
                                 const FlatParameters& flat, DistributedAdamW& optimizer,
                                 const TrainerCounters& counters) {
  CheckpointState state;
  state.step = step;
  state.epoch = plan.epoch_of(step);
  state.samples_consumed = step * config.train.global_batch_size;
  state.config_yaml = to_yaml(config);
  state.extra = {{"optimizer_step", optimizer.step_count()},
                 {"seed", config.run.seed},
                 {"steps_per_epoch", plan.steps_per_epoch()},
                 {"skipped_steps", counters.skipped_steps}};
  state.tensors = {{"model.params", flat.all_values()},
                   {"optim.exp_avg", host_copy(optimizer.full_exp_avg())},
                   {"optim.exp_avg_sq", host_copy(optimizer.full_exp_avg_sq())},
                   {"rng.torch_cpu", cpu_generator().get_state()}};
  for (const auto& slot : flat.layout())
    state.params.push_back({slot.name, slot.shape, slot.offset});
  return state;
}

TrainerCounters restore_trainer(const CheckpointState& state, const std::string& path,
                                const Config& config, FlatParameters& flat,
                                DistributedAdamW& optimizer) {
  if (state.step > config.train.max_steps) {
    fail("{}: checkpoint is at step {}, past train.max_steps = {}", path, state.step,
         config.train.max_steps);
  }
  load_checkpoint_params(state, path, flat);
  // Full tensors whatever the world size or ZeRO stage at save; the optimizer keeps its part.
  // They cover the trainable elements only: a run resumed with another model.freeze fails here.
  torch::Tensor exp_avg = torch::empty_like(flat.values());
  torch::Tensor exp_avg_sq = torch::empty_like(flat.values());
  copy_checkpoint_tensor(state, "optim.exp_avg", path, exp_avg);
  copy_checkpoint_tensor(state, "optim.exp_avg_sq", path, exp_avg_sq);
  optimizer.load_state(exp_avg, exp_avg_sq, state.extra.value("optimizer_step", state.step));
  auto generator = cpu_generator();
  torch::Tensor rng_state = generator.get_state();
  copy_checkpoint_tensor(state, "rng.torch_cpu", path, rng_state);
  {
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(rng_state);
  }
  return {state.extra.value("skipped_steps", int64_t{0})};
}

}  // namespace pride
