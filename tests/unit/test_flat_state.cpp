// Flat parameter/gradient buffers, the flat AdamW, clipping and the LR schedule.
#include <gtest/gtest.h>

#include <torch/torch.h>
#include <cmath>

#include "models/flat_state.h"
#include "training/schedule.h"
#include "util/error.h"

namespace pride {
namespace {

struct TwoLayer : torch::nn::Module {
  TwoLayer() {
    a = register_module("a", torch::nn::Linear(torch::nn::LinearOptions(4, 8).bias(false)));
    b = register_module("b", torch::nn::Linear(torch::nn::LinearOptions(8, 3).bias(false)));
  }
  torch::Tensor forward(const torch::Tensor& x) { return b(torch::tanh(a(x))); }
  torch::nn::Linear a{nullptr}, b{nullptr};
};

// `ours` starts from `reference`'s weights.
void copy_weights(const TwoLayer& reference, TwoLayer& ours) {
  torch::NoGradGuard no_grad;
  ours.a->weight.copy_(reference.a->weight);
  ours.b->weight.copy_(reference.b->weight);
}

// Five steps on the same random batches: LibTorch's AdamW (lr 0.01, betas 0.9/0.95, weight decay
// 0.1) over `trained` of `reference`, and FlatAdamW over `flat`, the buffers of `ours`.
void train_side_by_side(TwoLayer& reference, const std::vector<torch::Tensor>& trained,
                        TwoLayer& ours, FlatParameters& flat, FlatAdamW& adam) {
  torch::optim::AdamW torch_adam(
      trained, torch::optim::AdamWOptions(0.01).betas({0.9, 0.95}).weight_decay(0.1).eps(1e-8));
  for (int step = 0; step < 5; ++step) {
    const auto x = torch::randn({6, 4});
    torch_adam.zero_grad();
    reference.forward(x).pow(2).sum().backward();
    torch_adam.step();
    flat.zero_grad();
    ours.forward(x).pow(2).sum().backward();
    adam.step(flat.values(), flat.grads(), 0.01);
  }
}

TEST(FlatState, ParametersAndGradsAreViewsOfTheFlatBuffers) {
  torch::manual_seed(0);
  TwoLayer model;
  const auto before = model.a->weight.clone();
  FlatParameters flat(model);
  EXPECT_EQ(flat.numel(), 4 * 8 + 8 * 3);
  EXPECT_TRUE(torch::equal(model.a->weight, before));  // values preserved
  flat.values().zero_();
  EXPECT_EQ(model.a->weight.abs().sum().item<float>(), 0.0f);  // the parameter sees the buffer

  flat.values().normal_();
  model.forward(torch::randn({5, 4})).sum().backward();
  model.forward(torch::randn({5, 4})).sum().backward();  // accumulates in place
  const auto& slot = flat.layout()[1];
  EXPECT_EQ(slot.name, "b.weight");
  EXPECT_TRUE(torch::equal(flat.grads().narrow(0, slot.offset, slot.numel).view(slot.shape),
                           model.b->weight.grad()));
  EXPECT_GT(flat.grads().abs().sum().item<float>(), 0.0f);
  flat.zero_grad();
  EXPECT_EQ(model.b->weight.grad().abs().sum().item<float>(), 0.0f);
}

TEST(FlatState, AdamWMatchesLibTorchAdamW) {
  torch::manual_seed(1);
  TwoLayer reference, ours;
  copy_weights(reference, ours);
  FlatParameters flat(ours);
  FlatAdamW adam(flat, {0.9, 0.95, 1e-8, 0.1});
  train_side_by_side(reference, reference.parameters(), ours, flat, adam);
  EXPECT_TRUE(torch::allclose(ours.a->weight, reference.a->weight, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(ours.b->weight, reference.b->weight, 1e-5, 1e-6));
  EXPECT_EQ(adam.step_count(), 5);
}

// model.freeze: a frozen parameter stays out of the gradient buffer and the optimizer state (both
// count the trainable elements only), keeps its values bit for bit and gets no .grad, while the
// trainable ones follow LibTorch's AdamW over them alone; all_values() still holds every parameter.
TEST(FlatState, FrozenParametersTakeNoGradientNorOptimizerState) {
  torch::manual_seed(2);
  TwoLayer reference, ours;
  copy_weights(reference, ours);
  reference.a->weight.set_requires_grad(false);
  ours.a->weight.set_requires_grad(false);
  const torch::Tensor frozen_before = ours.a->weight.clone();
  FlatParameters flat(ours, /*pad_to_multiple_of=*/5);
  EXPECT_EQ(flat.numel(), 4 * 8 + 8 * 3);
  EXPECT_EQ(flat.trainable_numel(), 8 * 3);
  EXPECT_EQ(flat.grads().numel(), 8 * 3);
  EXPECT_EQ(flat.padded_grads().numel(), 25);
  EXPECT_EQ(flat.params().size(), 1u);
  EXPECT_EQ(flat.layout()[0].trainable_offset, -1);
  EXPECT_EQ(flat.layout()[1].offset, 32);
  EXPECT_EQ(flat.layout()[1].trainable_offset, 0);
  FlatAdamW adam(flat, {0.9, 0.95, 1e-8, 0.1});
  EXPECT_EQ(adam.exp_avg().numel(), 8 * 3);
  EXPECT_EQ(adam.exp_avg_sq().numel(), 8 * 3);

  train_side_by_side(reference, {reference.b->weight}, ours, flat, adam);
  EXPECT_TRUE(torch::equal(ours.a->weight, frozen_before));
  EXPECT_FALSE(ours.a->weight.grad().defined());
  EXPECT_TRUE(torch::allclose(ours.b->weight, reference.b->weight, 1e-5, 1e-6));

  const torch::Tensor all = flat.all_values();
  EXPECT_TRUE(
      torch::equal(all, torch::cat({frozen_before.reshape(-1), ours.b->weight.reshape(-1)})));
  flat.load_all_values(torch::arange(56, torch::kFloat));
  EXPECT_EQ(ours.a->weight[0][1].item<float>(), 1.0f);
  EXPECT_EQ(ours.b->weight[0][0].item<float>(), 32.0f);
  EXPECT_EQ(flat.values()[0].item<float>(), 32.0f);  // the trainable view sees it
  EXPECT_THROW(flat.load_all_values(torch::zeros({55})), Error);
}

// ZeRO-1's pieces: buffers padded to a multiple of the world size, and AdamW over a slice that
// reaches into the padding updating exactly as the whole-buffer AdamW does on that slice.
TEST(FlatState, PaddedBuffersAndSliceAdamW) {
  torch::manual_seed(3);
  TwoLayer model;  // 56 values
  FlatParameters flat(model, /*pad_to_multiple_of=*/5);
  EXPECT_EQ(flat.numel(), 56);
  EXPECT_EQ(flat.padded_values().numel(), 60);
  EXPECT_EQ(flat.values().data_ptr(), flat.padded_values().data_ptr());
  model.forward(torch::randn({5, 4})).sum().backward();
  EXPECT_EQ(flat.padded_grads().narrow(0, 56, 4).abs().sum().item<float>(), 0);
  const double exact = flat.grads().to(torch::kFloat64).pow(2).sum().item<double>();
  EXPECT_NEAR(squared_norm_fp64(flat.padded_grads()).item<double>(), exact, 1e-12 * exact);

  FlatAdamW whole(flat, {0.9, 0.95, 1e-8, 0.1});
  FlatAdamW slice(flat, {0.9, 0.95, 1e-8, 0.1}, /*begin=*/48, /*length=*/12);
  torch::Tensor values = flat.padded_values().clone();
  torch::Tensor slice_values = values.narrow(0, 48, 12).clone();
  torch::Tensor whole_values = values.narrow(0, 0, 56).clone();
  for (int step = 0; step < 3; ++step) {
    whole.step(whole_values, flat.grads(), 0.01);
    slice.step(slice_values, flat.padded_grads().narrow(0, 48, 12), 0.01);
  }
  EXPECT_TRUE(
      torch::allclose(slice_values.narrow(0, 0, 8), whole_values.narrow(0, 48, 8), 1e-6, 0));
  EXPECT_EQ(slice.exp_avg().numel(), 12);
}

TEST(FlatState, ClipScalesToMaxNormFromTheFloat64Norm) {
  // The optimizer's clip: the norm from squared_norm_fp64, then scale_to_max_norm.
  auto clip = [](torch::Tensor& g, double max_norm) {
    const double norm = std::sqrt(squared_norm_fp64(g).item<double>());
    scale_to_max_norm(g, norm, max_norm);
    return norm;
  };
  auto g = torch::full({4}, 2.0);
  EXPECT_DOUBLE_EQ(clip(g, 1.0), 4.0);
  EXPECT_NEAR(g.norm().item<double>(), 1.0, 1e-5);
  auto small = torch::full({4}, 0.1);
  clip(small, 1.0);
  EXPECT_NEAR(small[0].item<double>(), 0.1, 1e-7);
  auto unclipped = torch::full({4}, 2.0);
  clip(unclipped, 0.0);
  EXPECT_EQ(unclipped[0].item<double>(), 2.0);
}

TEST(Schedule, WarmupThenCosineToTheFloor) {
  TrainConfig t;
  t.lr = 1.0;
  t.min_lr_ratio = 0.1;
  t.warmup_steps = 9;
  t.max_steps = 109;
  EXPECT_NEAR(learning_rate_at(0, t), 0.1, 1e-12);
  EXPECT_NEAR(learning_rate_at(8, t), 0.9, 1e-12);
  EXPECT_NEAR(learning_rate_at(9, t), 1.0, 1e-12);
  EXPECT_NEAR(learning_rate_at(59, t), 0.55, 1e-12);
  EXPECT_NEAR(learning_rate_at(109, t), 0.1, 1e-12);
  for (int64_t s = 10; s < 109; ++s) EXPECT_LE(learning_rate_at(s, t), learning_rate_at(s - 1, t));
}

}  // namespace
}  // namespace pride
