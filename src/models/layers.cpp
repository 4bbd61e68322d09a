// Llama-style layers of the student: RMSNorm, rotary tables, grouped-query attention, SwiGLU,
// the decoder block with multi-source cross-attention, and the learned-query resampler.
#include "models/layers.h"

#include <cmath>
#include <limits>

#include "util/error.h"

namespace pride {
namespace {

constexpr double kInitStd = 0.02;

// Attention scores and norms run in fp32 (or fp64 when the model is double, for tests).
torch::ScalarType accumulate_type(const torch::Tensor& x) {
  return x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  auto halves = x.chunk(2, -1);
  return torch::cat({-halves[1], halves[0]}, -1);
}

torch::Tensor apply_rotary(const torch::Tensor& x, const Rotary& rotary) {
  return x * rotary.cos + rotate_half(x) * rotary.sin;
}

}  // namespace

torch::nn::Linear init_linear(int64_t in, int64_t out, bool bias) {
  torch::nn::Linear layer(torch::nn::LinearOptions(in, out).bias(bias));
  torch::NoGradGuard no_grad;
  layer->weight.normal_(0.0, kInitStd);
  if (bias) layer->bias.zero_();
  return layer;
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight_ = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto wide = x.to(accumulate_type(x));
  auto normed = wide * torch::rsqrt(wide.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return normed.to(x.scalar_type()) * weight_;
}

Rotary rotary_tables(int64_t length, int64_t head_dim, double theta, const torch::Tensor& like) {
  auto f64 = torch::TensorOptions().dtype(torch::kDouble).device(like.device());
  auto inv_freq = torch::pow(theta, -torch::arange(0, head_dim, 2, f64) / double(head_dim));
  auto freqs = torch::outer(torch::arange(length, f64), inv_freq);
  auto angles = torch::cat({freqs, freqs}, -1);
  return {angles.cos().to(like.scalar_type()), angles.sin().to(like.scalar_type())};
}

AttentionImpl::AttentionImpl(int64_t d_model, int64_t n_heads, int64_t n_kv_heads)
    : n_heads_(n_heads), n_kv_heads_(n_kv_heads), head_dim_(d_model / n_heads) {
  if (n_heads <= 0 || n_kv_heads <= 0 || d_model % n_heads != 0 || n_heads % n_kv_heads != 0 ||
      head_dim_ % 2 != 0) {
    fail(
        "model: d_model={} n_heads={} n_kv_heads={} need d_model % n_heads == 0, an even head "
        "width and n_heads % n_kv_heads == 0",
        d_model, n_heads, n_kv_heads);
  }
  q_proj = register_module("q_proj", init_linear(d_model, n_heads * head_dim_, false));
  k_proj = register_module("k_proj", init_linear(d_model, n_kv_heads * head_dim_, false));
  v_proj = register_module("v_proj", init_linear(d_model, n_kv_heads * head_dim_, false));
  o_proj = register_module("o_proj", init_linear(n_heads * head_dim_, d_model, false));
}

torch::Tensor AttentionImpl::split_heads(const torch::Tensor& x, int64_t heads) const {
  return x.view({x.size(0), x.size(1), heads, head_dim_}).transpose(1, 2);
}

// [B, kv, S, hd] -> [B, heads, S, hd]: kv head j serves query heads j*rep .. (j+1)*rep-1.
torch::Tensor AttentionImpl::repeat_kv(const torch::Tensor& x) const {
  const int64_t rep = n_heads_ / n_kv_heads_;
  if (rep == 1) return x;
  return x.unsqueeze(2)
      .expand({x.size(0), n_kv_heads_, rep, x.size(2), head_dim_})
      .reshape({x.size(0), n_heads_, x.size(2), head_dim_});
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& memory,
                                     const torch::Tensor& key_mask, const Rotary* rotary) {
  auto q = split_heads(q_proj(x), n_heads_);
  auto k = split_heads(k_proj(memory), n_kv_heads_);
  auto v = split_heads(v_proj(memory), n_kv_heads_);
  if (rotary != nullptr) {
    q = apply_rotary(q, *rotary);
    k = apply_rotary(k, *rotary);
  }
  k = repeat_kv(k);
  v = repeat_kv(v);
  const auto wide = accumulate_type(x);
  // Under bf16 autocast the matmul runs in bf16; the scores are masked and normalised in `wide`.
  auto scores =
      torch::matmul(q.to(wide), k.to(wide).transpose(-2, -1)).to(wide) / std::sqrt(head_dim_);
  // A finite floor instead of -inf keeps rows without any admissible key NaN-free.
  scores = scores.masked_fill(key_mask.logical_not(), std::numeric_limits<float>::lowest());
  auto probs = torch::softmax(scores, -1);
  probs = probs.masked_fill(key_mask.any(-1, /*keepdim=*/true).logical_not(), 0.0);
  auto out = torch::matmul(probs.to(v.scalar_type()), v);
  return o_proj(out.transpose(1, 2).reshape({x.size(0), x.size(1), n_heads_ * head_dim_}));
}

SwiGLUImpl::SwiGLUImpl(int64_t d_model, int64_t d_ff) {
  gate_proj = register_module("gate_proj", init_linear(d_model, d_ff, false));
  up_proj = register_module("up_proj", init_linear(d_model, d_ff, false));
  down_proj = register_module("down_proj", init_linear(d_ff, d_model, false));
}

torch::Tensor SwiGLUImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

DecoderLayerImpl::DecoderLayerImpl(const BlockShape& s) {
  input_layernorm = register_module("input_layernorm", RMSNorm(s.d_model, s.norm_eps));
  self_attn = register_module("self_attn", Attention(s.d_model, s.n_heads, s.n_kv_heads));
  cross_attn_layernorm = register_module("cross_attn_layernorm", RMSNorm(s.d_model, s.norm_eps));
  cross_attn = register_module("cross_attn", Attention(s.d_model, s.n_heads, s.n_kv_heads));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(s.d_model, s.norm_eps));
  mlp = register_module("mlp", SwiGLU(s.d_model, s.d_ff));
}

torch::Tensor DecoderLayerImpl::forward(torch::Tensor x, const torch::Tensor& self_mask,
                                        const Rotary& rotary, const torch::Tensor& memory,
                                        const torch::Tensor& memory_mask) {
  auto h = input_layernorm(x);
  x = x + self_attn(h, h, self_mask, &rotary);
  x = x + cross_attn(cross_attn_layernorm(x), memory, memory_mask);
  return x + mlp(post_attention_layernorm(x));
}

ResamplerImpl::ResamplerImpl(const BlockShape& s, int64_t num_slots) {
  queries_ = register_parameter("queries", torch::randn({num_slots, s.d_model}) * kInitStd);
  query_norm = register_module("query_norm", RMSNorm(s.d_model, s.norm_eps));
  input_norm = register_module("input_norm", RMSNorm(s.d_model, s.norm_eps));
  attn = register_module("attn", Attention(s.d_model, s.n_heads, s.n_kv_heads));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(s.d_model, s.norm_eps));
  mlp = register_module("mlp", SwiGLU(s.d_model, s.d_ff));
}

torch::Tensor ResamplerImpl::forward(const torch::Tensor& tokens, const torch::Tensor& mask) {
  auto slots = queries_.unsqueeze(0).expand({tokens.size(0), -1, -1});
  // mask [B, L] -> [B, 1, 1, L]: every slot sees the same admissible tokens.
  slots = slots + attn(query_norm(slots), input_norm(tokens), mask.unsqueeze(1).unsqueeze(1));
  return slots + mlp(post_attention_layernorm(slots));
}

}  // namespace pride
