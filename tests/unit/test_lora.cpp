// LoRA (models/layers.h, LoraAdapters; model.lora): adapters start as a no-op, switched off the
// layers compute their base weights' output exactly, switched on the output and the adapters'
// gradients equal those of the merged weights W + alpha/rank * B A (by autograd, in double), frozen
// base weights receive no gradient, and the student carries adapters on the decoder blocks' targets
// only (PEFT's names), which switch off to the base model exactly; frozen stacked weights are
// packed into one buffer with the same output.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "models/layers.h"
#include "models/student.h"
#include "support.h"
#include "training/synthetic_batch.h"

namespace pride {
namespace {

const std::vector<std::string> kAllTargets = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                              "gate_proj", "up_proj", "down_proj"};

BlockShape tiny_block() {
  return {16, 4, 2, 24, 1e-5};
}

std::shared_ptr<LoraSettings> settings(int64_t rank, double alpha) {
  auto s = std::make_shared<LoraSettings>();
  s->rank = rank;
  s->scale = alpha / static_cast<double>(rank);
  return s;
}

// A block in double with frozen base weights, and a causal self-attention input.
struct Block {
  DecoderLayer layer{tiny_block()};
  torch::Tensor x = torch::randn({2, 5, 16}, torch::kDouble);
  Rotary rotary = rotary_tables(5, 4, 10000.0, x);

  Block() {
    layer->to(torch::kDouble);
    for (auto& p : layer->parameters()) p.set_requires_grad(false);
  }
  torch::Tensor out() { return layer->forward(x, AttentionMask::causal_only(), rotary); }
};

// Gives every lora_B a random value (fresh, they are zero and the adapters a no-op).
void randomise_b(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters()) {
    if (item.key().find("lora_B") != std::string::npos) item.value().normal_(0.0, 0.5);
  }
}

// The block's output with its adapters off and every adapted weight W replaced by W + scale * B A,
// and by the chain rule through that sum the gradients of `loss_weights` . output with respect
// to each A (scale * B^T dW) and B (scale * dW A^T), in named_parameters() order.
std::pair<torch::Tensor, std::vector<torch::Tensor>> merged(Block& block, LoraSettings& shared,
                                                            const torch::Tensor& loss_weights) {
  auto params = block.layer->named_parameters();
  std::vector<torch::Tensor> bases, originals, as, bs;
  for (auto& item : params) {
    const std::string& name = item.key();
    const auto* a = params.find(name.substr(0, name.rfind('.')) + ".lora_A.weight");
    if (a == nullptr || name.find(".lora_") != std::string::npos) continue;
    const auto& b = *params.find(name.substr(0, name.rfind('.')) + ".lora_B.weight");
    originals.push_back(item.value().detach().clone());
    item.value().set_data(originals.back() + shared.scale * torch::mm(b, *a).detach());
    item.value().set_requires_grad(true);
    bases.push_back(item.value());
    as.push_back(a->detach());
    bs.push_back(b.detach());
  }
  shared.enabled = false;
  const auto out = block.out();
  const auto weight_grads = torch::autograd::grad({(out * loss_weights).sum()}, bases);
  std::vector<torch::Tensor> expected;
  for (size_t i = 0; i < bases.size(); ++i) {
    expected.push_back(shared.scale * torch::mm(bs[i].t(), weight_grads[i]));
    expected.push_back(shared.scale * torch::mm(weight_grads[i], as[i].t()));
    bases[i].set_requires_grad(false);
    bases[i].set_data(originals[i]);
  }
  shared.enabled = true;
  return {out.detach(), expected};
}

TEST(Lora, FreshAdaptersAreANoOp) {
  torch::manual_seed(1);
  Block block;
  const auto base = block.out();
  block.layer->add_lora(kAllTargets, settings(4, 8.0));
  EXPECT_TRUE(torch::equal(block.out(), base));
}

TEST(Lora, AdaptersOffComputeTheBaseModelExactly) {
  torch::manual_seed(2);
  Block block;
  const auto base = block.out();
  auto shared = settings(4, 8.0);
  block.layer->add_lora(kAllTargets, shared);
  randomise_b(*block.layer);
  EXPECT_FALSE(torch::allclose(block.out(), base));
  shared->enabled = false;
  EXPECT_TRUE(torch::equal(block.out(), base));
}

TEST(Lora, OutputAndAdapterGradientsEqualTheMergedWeights) {
  torch::manual_seed(3);
  for (const auto& targets : {std::vector<std::string>{"q_proj", "v_proj"}, kAllTargets}) {
    Block block;
    auto shared = settings(3, 16.0);
    block.layer->add_lora(targets, shared);
    randomise_b(*block.layer);
    std::vector<torch::Tensor> adapters;
    for (auto& item : block.layer->named_parameters()) {
      if (item.key().find(".lora_") != std::string::npos) {
        item.value().set_requires_grad(true);
        adapters.push_back(item.value());
      }
    }
    ASSERT_EQ(adapters.size(), 2 * targets.size());
    const auto weights = torch::randn({2, 5, 16}, torch::kDouble);
    const auto out = block.out();
    const auto grads = torch::autograd::grad({(out * weights).sum()}, adapters);
    const auto [merged_out, expected] = merged(block, *shared, weights);
    EXPECT_TRUE(torch::allclose(out, merged_out, 1e-10, 1e-10));
    ASSERT_EQ(expected.size(), adapters.size());
    for (size_t i = 0; i < adapters.size(); ++i) {
      EXPECT_TRUE(torch::allclose(grads[i], expected[i], 1e-9, 1e-10)) << i;
      EXPECT_GT(grads[i].abs().max().item<double>(), 0) << i;
    }
  }
}

TEST(Lora, FrozenBaseWeightsGetNoGradient) {
  torch::manual_seed(4);
  Block block;
  block.layer->add_lora(kAllTargets, settings(2, 4.0));
  randomise_b(*block.layer);
  for (auto& item : block.layer->named_parameters()) {
    item.value().set_requires_grad(item.key().find(".lora_") != std::string::npos);
  }
  block.out().pow(2).sum().backward();
  for (auto& item : block.layer->named_parameters()) {
    const bool adapter = item.key().find(".lora_") != std::string::npos;
    EXPECT_EQ(item.value().grad().defined(), adapter) << item.key();
  }
}

ModelConfig lora_config(int64_t rank) {
  ModelConfig c = test::small_student_config();
  c.lora_rank = rank;
  c.lora_targets = {"q_proj", "v_proj", "down_proj"};
  return c;
}

DatasetInfo lora_info() {
  DatasetInfo info;
  info.vocab_size = 40;
  info.num_emotions = 3;
  info.teacher_hidden = 8;
  info.audio_dim = 6;
  info.privileged_sources = {"annotation"};
  return info;
}

TEST(Lora, StudentAdaptsTheDecoderTargetsAndSwitchesThemOff) {
  torch::manual_seed(5);
  const ModelConfig config = lora_config(8);
  Student student(config, lora_info());
  student->eval();
  const Batch batch = synthetic_batch(lora_info(), SyntheticShape{2});
  const auto base = student->forward(batch).logits;
  student->add_lora(config);
  EXPECT_TRUE(student->has_lora());
  std::vector<std::string> adapters;
  for (const auto& item : student->named_parameters()) {
    if (item.key().find(".lora_") != std::string::npos) adapters.push_back(item.key());
  }
  // Two blocks x three targets x (A, B); none on the cross-attention or the PI resamplers.
  EXPECT_EQ(adapters.size(), 12u);
  EXPECT_EQ(adapters.front(), "layers.0.self_attn.q_proj.lora_A.weight");
  const auto params = student->named_parameters();
  EXPECT_EQ(params.find("layers.1.mlp.down_proj.lora_A.weight")->sizes(),
            torch::IntArrayRef({8, 64}));
  EXPECT_EQ(params.find("layers.1.mlp.down_proj.lora_B.weight")->sizes(),
            torch::IntArrayRef({32, 8}));
  EXPECT_TRUE(torch::equal(student->forward(batch).logits, base));
  randomise_b(*student);
  EXPECT_FALSE(torch::allclose(student->forward(batch).logits, base));
  student->set_adapters_enabled(false);
  EXPECT_TRUE(torch::equal(student->forward(batch).logits, base));
  student->set_adapters_enabled(true);
  EXPECT_FALSE(torch::allclose(student->forward(batch).logits, base));
}

TEST(Lora, FrozenStackedWeightsArePackedWithoutChangingTheOutput) {
  torch::manual_seed(6);
  const ModelConfig config = lora_config(4);
  Student student(config, lora_info());
  student->add_lora(config);
  randomise_b(*student);
  student->eval();
  const Batch batch = synthetic_batch(lora_info(), SyntheticShape{2});
  const auto before = student->forward(batch).logits;
  for (auto& item : student->named_parameters()) {
    item.value().set_requires_grad(item.key().find(".lora_") != std::string::npos);
  }
  student->pack_frozen_weights();
  const auto params = student->named_parameters();
  const auto& q = *params.find("layers.1.self_attn.q_proj.weight");
  const auto& k = *params.find("layers.1.self_attn.k_proj.weight");
  const auto& v = *params.find("layers.1.self_attn.v_proj.weight");
  EXPECT_TRUE(k.is_alias_of(q));
  EXPECT_EQ(k.data_ptr<float>(), q.data_ptr<float>() + q.numel());
  EXPECT_EQ(v.data_ptr<float>(), k.data_ptr<float>() + k.numel());
  EXPECT_TRUE(params.find("layers.0.mlp.up_proj.weight")
                  ->is_alias_of(*params.find("layers.0.mlp.gate_proj.weight")));
  EXPECT_TRUE(torch::equal(student->forward(batch).logits, before));
}

}  // namespace
}  // namespace pride
