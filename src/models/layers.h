// Building blocks of the Llama-style student: RMSNorm, rotary embeddings, grouped-query
// attention (self or cross), the SwiGLU MLP, the decoder block with its multi-source
// cross-attention, and the learned-query resampler used by the PI encoder and predictor.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace pride {

// Linear layer initialised as the student expects: weight ~ N(0, 0.02), bias zero.
torch::nn::Linear init_linear(int64_t in, int64_t out, bool bias);

// y = x / sqrt(mean(x^2) + eps) * weight, computed in fp32.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::Tensor weight_;
  double eps_;
};
TORCH_MODULE(RMSNorm);

// cos/sin tables [T, head_dim] for positions 0..T-1 (Llama "rotate_half" layout).
struct Rotary {
  torch::Tensor cos, sin;
};
Rotary rotary_tables(int64_t length, int64_t head_dim, double theta, const torch::Tensor& like);

// Multi-head attention with grouped-query K/V heads, no biases (Llama naming).
// `key_mask` is bool and broadcastable to [B, 1, Tq, Tk]; true = may attend. Query rows with no
// admissible key output zeros. Rotary tables, when given, rotate queries and keys.
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t d_model, int64_t n_heads, int64_t n_kv_heads);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& memory,
                        const torch::Tensor& key_mask, const Rotary* rotary = nullptr);

 private:
  torch::Tensor split_heads(const torch::Tensor& x, int64_t heads) const;
  torch::Tensor repeat_kv(const torch::Tensor& x) const;

  int64_t n_heads_, n_kv_heads_, head_dim_;
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
};
TORCH_MODULE(Attention);

// down(silu(gate(x)) * up(x)).
class SwiGLUImpl : public torch::nn::Module {
 public:
  SwiGLUImpl(int64_t d_model, int64_t d_ff);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(SwiGLU);

struct BlockShape {
  int64_t d_model, n_heads, n_kv_heads, d_ff;
  double norm_eps;
};

// Pre-norm block: x += self_attn(norm(x)); x += cross_attn(norm(x), memory); x += mlp(norm(x)).
class DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit DecoderLayerImpl(const BlockShape& shape);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& self_mask, const Rotary& rotary,
                        const torch::Tensor& memory, const torch::Tensor& memory_mask);

 private:
  RMSNorm input_layernorm{nullptr};
  Attention self_attn{nullptr};
  RMSNorm cross_attn_layernorm{nullptr};
  Attention cross_attn{nullptr};
  RMSNorm post_attention_layernorm{nullptr};
  SwiGLU mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

// Learned-query attention pool ("resampler"): `num_slots` queries attend over a masked token
// sequence [B, L, d], then a SwiGLU MLP, both residual: output [B, num_slots, d].
class ResamplerImpl : public torch::nn::Module {
 public:
  ResamplerImpl(const BlockShape& shape, int64_t num_slots);
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& mask);

 private:
  torch::Tensor queries_;
  RMSNorm query_norm{nullptr}, input_norm{nullptr};
  Attention attn{nullptr};
  RMSNorm post_attention_layernorm{nullptr};
  SwiGLU mlp{nullptr};
};
TORCH_MODULE(Resampler);

}  // namespace pride
