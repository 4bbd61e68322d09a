// Llama-family layers shared by the Hugging Face causal LMs and the PRIDE student: RMSNorm, rotary
// tables, grouped-query attention by scaled-dot-product attention, SwiGLU, the decoder block with
// its optional multi-source cross-attention, and the learned-query resampler.
#include "models/layers.h"

#include <cmath>
#include <limits>
#include <tuple>
#include <utility>

#include "util/error.h"
#include "util/torch_compat.h"

namespace pride {
namespace {

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

// theta^(-2i/head_dim) for i < head_dim/2, in fp64; with Llama 3 scaling, wavelengths beyond the
// original context are stretched by `factor`, those between the two cut-offs blended smoothly.
torch::Tensor inverse_frequencies(int64_t head_dim, const RopeConfig& rope, torch::Device device) {
  auto f64 = torch::TensorOptions().dtype(torch::kDouble).device(device);
  auto inv_freq = torch::pow(rope.theta, -torch::arange(0, head_dim, 2, f64) / double(head_dim));
  if (rope.llama3_factor == 0.0) return inv_freq;
  const double factor = rope.llama3_factor, context = rope.original_max_position_embeddings;
  const double low_wavelen = context / rope.low_freq_factor;
  const double high_wavelen = context / rope.high_freq_factor;
  auto wavelen = 2.0 * M_PI / inv_freq;
  auto scaled = torch::where(wavelen > low_wavelen, inv_freq / factor, inv_freq);
  auto smooth =
      (context / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor);
  auto blended = (1.0 - smooth) * scaled / factor + smooth * scaled;
  auto medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen);
  return torch::where(medium, blended, scaled);
}

Rotary tables_from(const torch::Tensor& freqs, const torch::Tensor& like) {
  auto angles = torch::cat({freqs, freqs}, -1);
  return {angles.cos().to(like.scalar_type()), angles.sin().to(like.scalar_type())};
}

// Writes this call's keys/values [B, kv, T, hd] after the cached ones; returns all of them.
std::pair<torch::Tensor, torch::Tensor> append_to_cache(KVCache& cache, const torch::Tensor& k,
                                                        const torch::Tensor& v) {
  const int64_t end = cache.length + k.size(2);
  if (end > cache.capacity) {
    fail("attention: KV cache of {} positions cannot take {} more after {}", cache.capacity,
         k.size(2), cache.length);
  }
  if (!cache.keys.defined()) {
    cache.keys = torch::empty({k.size(0), k.size(1), cache.capacity, k.size(3)}, k.options());
    cache.values = torch::empty_like(cache.keys);
  }
  cache.keys.narrow(2, cache.length, k.size(2)).copy_(k);
  cache.values.narrow(2, cache.length, v.size(2)).copy_(v);
  cache.length = end;
  return {cache.keys.narrow(2, 0, end), cache.values.narrow(2, 0, end)};
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
  RopeConfig rope;
  rope.theta = theta;
  auto inv_freq = inverse_frequencies(head_dim, rope, like.device());
  return tables_from(torch::outer(torch::arange(length, inv_freq.options()), inv_freq), like);
}

Rotary rotary_tables_at(const torch::Tensor& positions, int64_t head_dim, const RopeConfig& rope,
                        const torch::Tensor& like) {
  auto inv_freq = inverse_frequencies(head_dim, rope, like.device());
  auto rotary = tables_from(positions.to(torch::kDouble).unsqueeze(-1) * inv_freq, like);
  return {rotary.cos.unsqueeze(1), rotary.sin.unsqueeze(1)};  // [B, 1, T, head_dim]
}

AttentionImpl::AttentionImpl(const AttentionShape& s)
    : n_heads_(s.n_heads),
      n_kv_heads_(s.n_kv_heads),
      head_dim_(s.head_dim > 0 ? s.head_dim : (s.n_heads > 0 ? s.d_model / s.n_heads : 0)) {
  if (s.n_heads <= 0 || s.n_kv_heads <= 0 || s.n_heads % s.n_kv_heads != 0 || head_dim_ <= 0 ||
      head_dim_ % 2 != 0 || (s.head_dim == 0 && s.d_model % s.n_heads != 0)) {
    fail(
        "model: d_model={} n_heads={} n_kv_heads={} head_dim={} need an even head width "
        "(d_model / n_heads unless given) and n_heads % n_kv_heads == 0",
        s.d_model, s.n_heads, s.n_kv_heads, s.head_dim);
  }
  q_proj = register_module("q_proj", init_linear(s.d_model, n_heads_ * head_dim_, s.qkv_bias));
  k_proj = register_module("k_proj", init_linear(s.d_model, n_kv_heads_ * head_dim_, s.qkv_bias));
  v_proj = register_module("v_proj", init_linear(s.d_model, n_kv_heads_ * head_dim_, s.qkv_bias));
  o_proj = register_module("o_proj", init_linear(n_heads_ * head_dim_, s.d_model, s.o_bias));
  if (s.qk_norm) {
    q_norm = register_module("q_norm", RMSNorm(head_dim_, s.norm_eps));
    k_norm = register_module("k_norm", RMSNorm(head_dim_, s.norm_eps));
  }
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
                                     const AttentionMask& mask, const Rotary* rotary,
                                     KVCache* cache) {
  auto q = q_proj(x).view({x.size(0), x.size(1), n_heads_, head_dim_});
  auto k = k_proj(memory).view({memory.size(0), memory.size(1), n_kv_heads_, head_dim_});
  if (!q_norm.is_empty()) {
    q = q_norm(q);
    k = k_norm(k);
  }
  q = q.transpose(1, 2);
  k = k.transpose(1, 2);
  auto v = split_heads(v_proj(memory), n_kv_heads_);
  if (rotary != nullptr) {
    q = apply_rotary(q, *rotary);
    k = apply_rotary(k, *rotary);
  }
  if (cache != nullptr) std::tie(k, v) = append_to_cache(*cache, k, v);
  auto out = scaled_dot_product(q, repeat_kv(k), repeat_kv(v), mask);
  return o_proj(out.transpose(1, 2).reshape({x.size(0), x.size(1), n_heads_ * head_dim_}));
}

torch::Tensor scaled_dot_product(const torch::Tensor& q, const torch::Tensor& k,
                                 const torch::Tensor& v, const AttentionMask& mask) {
  if (!mask.allowed.defined()) {
    return compat::scaled_dot_product_attention(q, k, v, {}, mask.causal && q.size(2) > 1);
  }
  // A finite floor instead of -inf keeps rows without any admissible key NaN-free (half the
  // lowest value, so that adding a score cannot overflow); those rows are zeroed after.
  const double floor = q.scalar_type() == torch::kHalf ? -32752.0
                       : q.scalar_type() == torch::kDouble
                           ? std::numeric_limits<double>::lowest() / 2
                           : std::numeric_limits<float>::lowest() / 2;
  auto additive = torch::zeros(mask.allowed.sizes(), q.options())
                      .masked_fill(mask.allowed.logical_not(), floor);
  auto out = compat::scaled_dot_product_attention(q, k, v, additive, /*causal=*/false);
  return torch::where(mask.allowed.any(-1, /*keepdim=*/true), out, torch::zeros({}, out.options()));
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
  self_attn = register_module("self_attn", Attention(s.attention()));
  if (s.cross_attention) {
    cross_attn_layernorm = register_module("cross_attn_layernorm", RMSNorm(s.d_model, s.norm_eps));
    cross_attn = register_module("cross_attn", Attention(s.attention()));
  }
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(s.d_model, s.norm_eps));
  mlp = register_module("mlp", SwiGLU(s.d_model, s.d_ff));
}

torch::Tensor DecoderLayerImpl::forward(torch::Tensor x, const AttentionMask& self_mask,
                                        const Rotary& rotary, const torch::Tensor& memory,
                                        const AttentionMask& memory_mask, KVCache* cache) {
  auto h = input_layernorm(x);
  x = x + self_attn(h, h, self_mask, &rotary, cache);
  if (!cross_attn.is_empty()) {
    if (!memory.defined()) fail("decoder layer: the cross-attention needs a memory");
    x = x + cross_attn(cross_attn_layernorm(x), memory, memory_mask);
  }
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
