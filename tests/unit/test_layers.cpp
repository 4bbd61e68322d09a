// Layers whose gradients are written out (models/layers.cpp): RMSNorm's gradient equals autograd's
// through its composite within float rounding, and linear layers that add their weight gradients
// straight into a flat gradient buffer give the gradients autograd gives, leave .grad alone under
// autograd::grad, and still run the accumulate-grad hooks; the blocks' memory projected for
// several blocks at once equals each block's own projection.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/flat_state.h"
#include "models/layers.h"
#include "util/torch_compat.h"

namespace pride {
namespace {

// ||got - want|| / ||want||, in double.
double relative_error(const torch::Tensor& got, const torch::Tensor& want) {
  const auto wide = want.to(torch::kDouble);
  return ((got.to(torch::kDouble) - wide).norm() / wide.norm()).item<double>();
}

// y = x * rsqrt(mean(x^2) + eps) * weight through autograd.
torch::Tensor composite_rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  return x * torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps) * weight;
}

// The output and gradients of autograd through the composite computed in double, in float and
// double, for 2-D and 3-D inputs, also where the input's gradient sums with a residual path's (as
// in a pre-norm block): within float rounding in float, within double rounding in double.
TEST(Layers, RmsNormGradientEqualsAutogradsInDouble) {
  torch::manual_seed(3);
  for (const auto type : {torch::kFloat, torch::kDouble}) {
    const double tolerance = type == torch::kFloat ? 2e-6 : 1e-14;
    for (const std::vector<int64_t>& shape : {std::vector<int64_t>{5, 48}, {3, 7, 48}}) {
      RMSNorm norm(48, 1e-6);
      norm->to(type);
      {
        torch::NoGradGuard no_grad;
        norm->parameters()[0].uniform_(0.5, 1.5);
      }
      const auto input = torch::randn(shape, type);
      const auto upstream = torch::randn(shape, type);
      const auto x = input.clone().requires_grad_(true);
      auto y = x + norm(x);
      y.backward(upstream);

      const auto weight =
          norm->parameters()[0].detach().to(torch::kDouble).clone().requires_grad_(true);
      const auto x_ref = input.to(torch::kDouble).clone().requires_grad_(true);
      auto y_ref = x_ref + composite_rms_norm(x_ref, weight, 1e-6);
      y_ref.backward(upstream.to(torch::kDouble));

      EXPECT_LT(relative_error(y, y_ref), tolerance) << type;
      EXPECT_LT(relative_error(x.grad(), x_ref.grad()), tolerance) << type;
      EXPECT_LT(relative_error(norm->parameters()[0].grad(), weight.grad()), tolerance) << type;
    }
  }
}

// add_and_norm, the residual sum and its norm as one node, against autograd through x + branch
// and the composite in double, where the sum's gradient and the norm's both reach x and branch
// (as in a pre-norm block: the sum goes on down the residual stream): the two outputs and the
// gradients of x, branch and the weight, 2-D and 3-D, within float rounding.
TEST(Layers, AddAndNormEqualsTheSumAndTheCompositeInDouble) {
  torch::manual_seed(12);
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{5, 48}, {3, 7, 48}}) {
    RMSNorm norm(48, 1e-6);
    {
      torch::NoGradGuard no_grad;
      norm->parameters()[0].uniform_(0.5, 1.5);
    }
    const auto inputs = std::vector<torch::Tensor>{torch::randn(shape), torch::randn(shape)};
    const auto upstream = std::vector<torch::Tensor>{torch::randn(shape), torch::randn(shape)};
    const auto x = inputs[0].clone().requires_grad_(), branch = inputs[1].clone().requires_grad_();
    auto [sum, normed] = norm->add_and_norm(x, branch);
    torch::autograd::backward({sum, normed}, upstream);

    const auto weight =
        norm->parameters()[0].detach().to(torch::kDouble).clone().requires_grad_(true);
    const auto x_ref = inputs[0].to(torch::kDouble).requires_grad_();
    const auto branch_ref = inputs[1].to(torch::kDouble).requires_grad_();
    const auto sum_ref = x_ref + branch_ref;
    const auto normed_ref = composite_rms_norm(sum_ref, weight, 1e-6);
    torch::autograd::backward({sum_ref, normed_ref},
                              {upstream[0].to(torch::kDouble), upstream[1].to(torch::kDouble)});
    EXPECT_LT(relative_error(sum, sum_ref), 2e-7);
    EXPECT_LT(relative_error(normed, normed_ref), 2e-6);
    EXPECT_LT(relative_error(x.grad(), x_ref.grad()), 2e-6);
    EXPECT_LT(relative_error(branch.grad(), branch_ref.grad()), 2e-6);
    EXPECT_LT(relative_error(norm->parameters()[0].grad(), weight.grad()), 2e-6);
  }
}

// Two decoder blocks that cross-attend to one memory, as the student's do: its keys and values
// projected for both blocks in one product (AttentionImpl::project_memory), or by each block.
struct TwoBlocksImpl : torch::nn::Module {
  TwoBlocksImpl() {
    BlockShape shape{48, 4, 2, 96, 1e-6};
    shape.cross_attention = true;
    first = register_module("first", DecoderLayer(shape));
    second = register_module("second", DecoderLayer(shape));
  }
  // x: 2 samples' 5 positions as rows [10, 48]; memory [2, 7, 48].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& memory, bool together) {
    const auto rotary = rotary_tables(5, 12, 10000.0, x);
    auto* a = first->cross_attention();
    auto* b = second->cross_attention();
    const auto kv = together ? AttentionImpl::project_memory({a, b}, memory)
                             : std::vector<AttentionImpl::KeyValues>{
                                   AttentionImpl::project_memory({a}, memory)[0],
                                   AttentionImpl::project_memory({b}, memory)[0]};
    auto h = first->forward_rows(x, 2, AttentionMask::causal_only(), rotary, kv[0]);
    return second->forward_rows(h, 2, AttentionMask::causal_only(), rotary, kv[1]);
  }
  DecoderLayer first{nullptr}, second{nullptr};
};
TORCH_MODULE(TwoBlocks);

// Two blocks with their parameters in a flat buffer: over two accumulated backward passes, the
// gradients that the written-out backward functions add straight into the buffer (the linear
// layers' one addmm_ per stack, the memory's keys and values of both blocks by one multi-tensor
// add, RMSNorm's weights by one addmm_ each) are those autograd hands back for the same
// parameters (autograd::grad, which adds nothing into .grad), every parameter's accumulate-grad
// hook runs once per pass, and autograd::grad leaves the buffer alone.
TEST(Layers, GradientsAddedIntoTheFlatBufferMatchAutograd) {
  torch::manual_seed(4);
  TwoBlocks blocks;
  FlatParameters flat(*blocks);
  flat.zero_grad();
  const auto params = blocks->parameters();
  std::vector<int> hook_runs(params.size(), 0);
  std::vector<std::unique_ptr<compat::PostAccumulateGradHook>> hooks;
  for (size_t i = 0; i < params.size(); ++i) {
    hooks.push_back(std::make_unique<compat::PostAccumulateGradHook>(
        params[i], [&hook_runs, i] { ++hook_runs[i]; }));
  }
  std::vector<torch::Tensor> expected(params.size());
  for (int pass = 0; pass < 2; ++pass) {
    const auto x = torch::randn({10, 48});
    const auto memory = torch::randn({2, 7, 48});
    const auto upstream = torch::randn({10, 48});
    const auto before = flat.grads().clone();
    const auto returned = torch::autograd::grad({blocks(x, memory, true)}, params, {upstream});
    EXPECT_TRUE(torch::equal(flat.grads(), before));
    blocks(x, memory, true).backward(upstream);
    for (size_t i = 0; i < params.size(); ++i) {
      expected[i] = pass == 0 ? returned[i] : expected[i] + returned[i];
      EXPECT_LT(relative_error(params[i].grad(), expected[i]), 1e-6) << i;
      EXPECT_EQ(hook_runs[i], pass + 1) << i;
    }
  }
}

// The memory's keys and values projected for both blocks in one product give what each block's
// own projection gives: the output, the gradients of the input and the memory, and every weight's.
TEST(Layers, MemoryProjectedForSeveralBlocksEqualsEachBlocksOwn) {
  torch::manual_seed(5);
  TwoBlocks blocks;
  const auto input = torch::randn({10, 48});
  const auto memory_values = torch::randn({2, 7, 48});
  const auto upstream = torch::randn({10, 48});
  auto run = [&](bool together) {
    blocks->zero_grad();
    const auto x = input.clone().requires_grad_();
    const auto memory = memory_values.clone().requires_grad_();
    auto out = blocks(x, memory, together);
    out.backward(upstream);
    std::vector<torch::Tensor> results{out.detach(), x.grad(), memory.grad()};
    for (const auto& p : blocks->parameters()) results.push_back(p.grad().clone());
    return results;
  };
  const auto apart = run(false);
  const auto together = run(true);
  ASSERT_EQ(apart.size(), together.size());
  for (size_t i = 0; i < apart.size(); ++i) {
    EXPECT_LT(relative_error(together[i], apart[i]), 1e-6) << i;
  }
}

// Keys and values repeated for every query head, as the layers did before attention grouped the
// query heads instead.
torch::Tensor repeated(const torch::Tensor& x, int64_t heads) {
  const int64_t rep = heads / x.size(1);
  return x.unsqueeze(2)
      .expand({x.size(0), x.size(1), rep, x.size(2), x.size(3)})
      .reshape({x.size(0), heads, x.size(2), x.size(3)});
}

// Queries, keys and values [B, heads, T, d] laid out as the attention layer makes them: q and k
// slices of one rotated tensor, v a transposed slice of the projection's output.
std::vector<torch::Tensor> layer_like_heads(int64_t heads, int64_t kv, int64_t tq, int64_t tk) {
  const auto qk = torch::randn({2, heads + kv, tq, 32});
  const auto kv_rows = torch::randn({2, tk, 2 * kv, 32});
  auto q = qk.narrow(1, 0, heads).clone().requires_grad_();
  auto k = kv_rows.narrow(2, 0, kv).transpose(1, 2).clone().requires_grad_();
  auto v = kv_rows.narrow(2, kv, kv).transpose(1, 2).clone().requires_grad_();
  return {q, k, v};
}

// The same tensors in double, as leaves of their own.
std::vector<torch::Tensor> in_double(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> wide;
  for (const auto& t : tensors) wide.push_back(t.detach().to(torch::kDouble).requires_grad_());
  return wide;
}

// Float attention within this of the double composite (values and gradients, relative norms):
// float rounding, where a query head reading the wrong key/value head is off by order 1.
constexpr double kAttentionTolerance = 2e-6;

// Grouped-query attention (each key/value head read by its query heads, no copies) gives what
// the composite attention over repeated keys and values gives in double, gradients included:
// causal, with a padding mask, and with a mask of its own for each query.
TEST(Layers, GroupedQueryAttentionEqualsRepeatedKeysAndValues) {
  torch::manual_seed(6);
  const auto allowed = torch::rand({2, 1, 1, 20}) > 0.3;
  const auto per_query = torch::rand({2, 1, 27, 20}) > 0.3;
  for (const auto& mask :
       {AttentionMask::causal_only(), AttentionMask(allowed), AttentionMask(per_query)}) {
    const int64_t tk = mask.causal ? 27 : 20;
    const auto grouped = layer_like_heads(4, 2, 27, tk);
    const auto plain = in_double(grouped);
    const auto upstream = torch::randn({2, 4, 27, 32});
    auto out = scaled_dot_product(grouped[0], grouped[1], grouped[2], mask);
    out.backward(upstream);
    const auto additive = mask.causal ? torch::Tensor() : mask.prepared(torch::kDouble).additive;
    auto expected = compat::scaled_dot_product_attention(
        plain[0], repeated(plain[1], 4), repeated(plain[2], 4), additive, mask.causal);
    expected.backward(upstream.to(torch::kDouble));
    EXPECT_LT(relative_error(out, expected), kAttentionTolerance) << mask.causal;
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_LT(relative_error(grouped[i].grad(), plain[i].grad()), kAttentionTolerance)
          << i << " " << mask.causal;
    }
  }
}

// Query rows that may attend to no key output zeros and pass no gradient, as the composite
// attention with its outputs zeroed after gives, and the other rows are the composite's.
TEST(Layers, AttentionRowsWithoutKeysMatchTheComposite) {
  torch::manual_seed(7);
  auto allowed = torch::rand({2, 1, 1, 20}) > 0.3;
  allowed[1].fill_(false);  // the second sample sees no key at all
  const auto prepared = AttentionMask(allowed).prepared(torch::kFloat);
  const auto heads = layer_like_heads(4, 2, 27, 20);
  const auto plain = in_double(heads);
  const auto upstream = torch::randn({2, 4, 27, 32});
  auto out = scaled_dot_product(heads[0], heads[1], heads[2], prepared);
  out.backward(upstream);
  const auto wide_mask = AttentionMask(allowed).prepared(torch::kDouble);
  auto expected = compat::scaled_dot_product_attention(plain[0], repeated(plain[1], 4),
                                                       repeated(plain[2], 4), wide_mask.additive,
                                                       /*causal=*/false)
                      .masked_fill(wide_mask.no_key, 0.0);
  expected.backward(upstream.to(torch::kDouble));
  EXPECT_EQ(out[1].abs().max().item<float>(), 0.0f);
  EXPECT_LT(relative_error(out, expected), kAttentionTolerance);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_LT(relative_error(heads[i].grad(), plain[i].grad()), kAttentionTolerance) << i;
    EXPECT_EQ(heads[i].grad()[1].abs().max().item<float>(), 0.0f) << i;
  }
}

// A self-attention layer of 4 query and 2 key/value heads of width 16, two samples' 9 positions
// as rows with an upstream gradient, and the rotary tables of those positions.
struct SelfAttentionCase {
  Attention attention{64, 4, 2};
  torch::Tensor input = torch::randn({2 * 9, 64});
  torch::Tensor upstream = torch::randn({2 * 9, 64});
  Rotary tables = rotary_tables_at(torch::arange(9).unsqueeze(0), 16, RopeConfig{}, input);
};

// Self-attention that rotates its whole projection with the projection tables (the student's
// training path) gives what rotating q and k after the split gives, bit for bit, gradients of
// the input and of every weight included, and within float rounding with the attention scale
// folded into the tables; tables for other head counts are not used.
TEST(Layers, ProjectionTablesRotateAsTheSplitHeadsDo) {
  torch::manual_seed(8);
  SelfAttentionCase c;
  auto run = [&](const Rotary& rotary) {
    c.attention->zero_grad();
    const auto x = c.input.clone().requires_grad_();
    auto out = c.attention->forward_rows(x, 2, x, AttentionMask::causal_only(), &rotary);
    out.backward(c.upstream);
    std::vector<torch::Tensor> results{out.detach(), x.grad()};
    for (const auto& p : c.attention->parameters()) results.push_back(p.grad().clone());
    return results;
  };
  const auto expected = run(c.tables);
  const auto whole = run(with_projection_tables(c.tables, 4, 2));
  // With the attention scale folded into the query heads' tables: within float rounding.
  const auto folded = run(with_projection_tables(c.tables, 4, 2, 1.0 / std::sqrt(16.0)));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(torch::equal(whole[i], expected[i])) << i;
    EXPECT_LT(relative_error(folded[i], expected[i]), 1e-6) << i;
  }
  EXPECT_FALSE(c.attention->rotates_whole_projection(with_projection_tables(c.tables, 4, 1), 9));
  EXPECT_TRUE(c.attention->rotates_whole_projection(with_projection_tables(c.tables, 4, 2), 9));
  EXPECT_FALSE(c.attention->rotates_whole_projection(with_projection_tables(c.tables, 4, 2), 8));
}

// Llama's rotate_half, written as Hugging Face writes it: [-x2, x1].
torch::Tensor rotate_half(const torch::Tensor& x) {
  const auto halves = x.chunk(2, -1);
  return torch::cat({-halves[1], halves[0]}, -1);
}

// Self-attention with rotary tables (the rotation's written-out gradient, and in the student's
// layout the attention scale folded into the query tables) equals a from-scratch double
// composite of the same weights: Hugging Face's rotate_half and softmax(q k^T / sqrt(d)) v, keys
// and values repeated for their query heads. Output and input gradient.
TEST(Layers, RotatedSelfAttentionEqualsTheDoubleComposite) {
  torch::manual_seed(9);
  SelfAttentionCase c;
  std::map<std::string, torch::Tensor> w;
  for (const auto& p : c.attention->named_parameters()) {
    w[p.key()] = p.value().detach().to(torch::kDouble);
  }
  const auto x_ref = c.input.to(torch::kDouble).requires_grad_();
  auto heads = [&](const char* name, int64_t count) {
    return torch::matmul(x_ref, w[name].t()).view({2, 9, count, 16}).transpose(1, 2);
  };
  const auto cos = c.tables.cos.to(torch::kDouble), sin = c.tables.sin.to(torch::kDouble);
  auto q = heads("q_proj.weight", 4), k = heads("k_proj.weight", 2), v = heads("v_proj.weight", 2);
  q = q * cos + rotate_half(q) * sin;
  k = k * cos + rotate_half(k) * sin;
  auto scores = torch::matmul(q, repeated(k, 4).transpose(-2, -1)) / 4.0;
  scores = scores.masked_fill(torch::ones({9, 9}, torch::kBool).triu(1), -INFINITY);
  auto out_ref = torch::matmul(torch::softmax(scores, -1), repeated(v, 4));
  out_ref = torch::matmul(out_ref.transpose(1, 2).reshape({18, 64}), w["o_proj.weight"].t());
  out_ref.backward(c.upstream.to(torch::kDouble));

  for (const auto& rotary : {c.tables, with_projection_tables(c.tables, 4, 2, 0.25)}) {
    const auto x = c.input.clone().requires_grad_();
    auto out = c.attention->forward_rows(x, 2, x, AttentionMask::causal_only(), &rotary);
    out.backward(c.upstream);
    EXPECT_LT(relative_error(out, out_ref), kAttentionTolerance);
    EXPECT_LT(relative_error(x.grad(), x_ref.grad()), kAttentionTolerance);
  }
}

}  // namespace
}  // namespace pride
