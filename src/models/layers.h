// Building blocks of the Llama-family decoders (the Hugging Face causal LMs and the PRIDE student):
// RMSNorm, rotary embeddings (incl. Llama 3 scaling), grouped-query attention (self or cross, with
// optional biases, q/k norms and a KV cache), the SwiGLU MLP, the decoder block with its optional
// multi-source cross-attention, the learned-query resampler of the PI encoder and predictor, and
// LoRA adapters on the decoder blocks' projections (model.lora).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pride {

// The standard deviation of the student's normal weight initialisation.
inline constexpr double kInitStd = 0.02;

// Linear layer initialised as the student expects: weight ~ N(0, 0.02), bias zero.
torch::nn::Linear init_linear(int64_t in, int64_t out, bool bias);

// layer(x) with its gradient written out: the same values, and about a third of the operators
// autograd records for aten::linear in backward (see layers.cpp, StackedLinearFunction).
torch::Tensor apply_linear(const torch::nn::Linear& layer, const torch::Tensor& x);

// What a module that stacks linear layers reading the same input keeps across steps: their
// weights, and their gradients, each as one matrix viewing the trainer's flat buffers (rebuilt
// when the buffers move; see layers.cpp, adjacent_rows).
struct StackedViews : torch::CustomClassHolder {
  torch::Tensor weights, grads;
};

// What the LoRA adapters of one model share (Hu et al. 2021, as Hugging Face PEFT computes them):
// an adapted linear layer outputs W x + scale * B A dropout(x), scale = alpha / rank. `enabled`
// false: every adapter is skipped, and the model computes its base weights' output exactly.
struct LoraSettings {
  int64_t rank = 0;
  double scale = 1.0;
  double dropout = 0.0;
  bool enabled = true;
};

// The adapters of a module's linear layers: each adapted layer carries submodules lora_A (in ->
// rank, kaiming-uniform with a = sqrt(5), PEFT's default) and lora_B (rank -> out, zero), so that
// its parameters are named "<layer>.lora_A.weight" as in a PEFT adapter file, and start as a no-op.
struct LoraAdapters {
  std::shared_ptr<const LoraSettings> settings;
  struct Pair {
    torch::nn::Linear a{nullptr}, b{nullptr};
  };
  std::map<const torch::nn::LinearImpl*, Pair> of_layer;

  // Adds an adapter to `layer` (registered on it as lora_A and lora_B).
  void add(torch::nn::Linear& layer, std::shared_ptr<const LoraSettings> shared);
  // `y`, the stacked output of `layers` for input x, plus each adapted layer's scale * B A
  // dropout(x) in its columns (when enabled; `training` turns dropout on).
  torch::Tensor added_to(torch::Tensor y, const torch::Tensor& x,
                         std::initializer_list<const torch::nn::Linear*> layers,
                         bool training) const;
};

// y = x / sqrt(mean(x^2) + eps) * weight, computed in fp32.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  // The residual sum x + branch and its norm, {sum, forward(sum)}: on LibTorch before 2.4 one
  // autograd node whose backward also adds the sum's own gradient (one operator fewer).
  std::pair<torch::Tensor, torch::Tensor> add_and_norm(const torch::Tensor& x,
                                                       const torch::Tensor& branch);

 private:
  // Whether the gradient is written out (RMSNormFunction) for inputs like x.
  bool written_out(const torch::Tensor& x) const;

  torch::Tensor weight_;
  double eps_;
  // For the written-out gradient on LibTorch before 2.4: views of the weight and its .grad kept
  // across steps (no operator per call).
  c10::intrusive_ptr<StackedViews> views_ = c10::make_intrusive<StackedViews>();
};
TORCH_MODULE(RMSNorm);

// Rotary position embedding settings: the base and, for Llama 3 ("rope_type": "llama3"), the
// rescaling of the low frequencies (factor 0: none).
struct RopeConfig {
  double theta = 10000.0;
  double llama3_factor = 0.0, low_freq_factor = 1.0, high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192.0;
};

// cos/sin tables in the Llama "rotate_half" layout: [T, head_dim] (or [B, 1, T, head_dim] for
// per-row positions), broadcast over heads.
struct Rotary {
  torch::Tensor cos, sin;
  torch::Tensor sin_signed;  // [-sin, sin] over the two halves: rotate_half's sign folded in
  // Optional (with_projection_tables): the tables for a self-attention projection as it leaves
  // its linear layer, [B or 1, T, heads + 2 kv_heads, head_dim], q and k heads rotated and v heads
  // kept (cos 1, sin 0), so that the layer rotates it whole before splitting it into heads.
  torch::Tensor projection_cos, projection_sin_signed;
  int64_t projection_heads = 0, projection_kv_heads = 0;
  // What the projection tables multiply the queries by besides rotating them (the attention
  // scale 1 / sqrt(head_dim), folded in where attention is math written out: one operator fewer
  // each way), and the scores by the rest of the scale.
  double projection_query_scale = 1.0;
};
// Positions 0..length-1.
Rotary rotary_tables(int64_t length, int64_t head_dim, double theta, const torch::Tensor& like);
// Positions [B, T] (int64), e.g. after left padding or with a KV cache.
Rotary rotary_tables_at(const torch::Tensor& positions, int64_t head_dim, const RopeConfig& rope,
                        const torch::Tensor& like);
// `rotary` (per-row tables [B or 1, 1, T, head_dim]) with the projection tables for attention
// layers of `heads` query and `kv_heads` key/value heads: built once where the tables are reused
// (the student's training tables), they spare every layer two splits and a transpose each way.
// The query heads' tables are multiplied by `query_scale` (see Rotary::projection_query_scale).
Rotary with_projection_tables(Rotary rotary, int64_t heads, int64_t kv_heads,
                              double query_scale = 1.0);
// The query_scale that folds the attention scale into the tables where that saves operators
// (attention written out, LibTorch before 2.0), else 1.
double folded_query_scale(int64_t head_dim);

// Which keys each query may attend to. Undefined `allowed`: every key, or with `causal` (square
// self-attention only) the keys at or before the query, which lets fused kernels skip the mask.
struct AttentionMask {
  AttentionMask() = default;
  AttentionMask(torch::Tensor allowed) : allowed(std::move(allowed)) {}  // NOLINT: implicit
  static AttentionMask causal_only() {
    AttentionMask mask;
    mask.causal = true;
    return mask;
  }
  torch::Tensor allowed;  // bool, broadcastable to [B, 1, Tq, Tk]; true = may attend
  bool causal = false;
  // What attention derives from `allowed`, computed once by prepared() for every layer that
  // shares the mask (undefined: derived on each call).
  torch::Tensor additive;  // 0 where allowed, a large negative floor elsewhere, scores' type
  torch::Tensor no_key;    // rows that may attend to no key (their output is zero)

  // This mask with `additive` and `no_key` for scores of `scores_type` (the queries' type).
  // `some_key_always`: the caller knows every query may attend to some key (no `no_key`, and no
  // operator to find the rows without one, nor to zero them in every layer).
  AttentionMask prepared(torch::ScalarType scores_type, bool some_key_always = false) const;
};

// One attention layer's keys and values so far, for incremental decoding: [B, kv_heads, capacity,
// head_dim] buffers allocated on first use, of which the first `length` positions are filled.
struct KVCache {
  explicit KVCache(int64_t capacity) : capacity(capacity) {}
  int64_t capacity;
  int64_t length = 0;
  torch::Tensor keys, values;
};

// How an attention layer is shaped; the defaults are the Llama layer without biases.
struct AttentionShape {
  int64_t d_model, n_heads, n_kv_heads;
  int64_t head_dim = 0;  // 0: d_model / n_heads
  bool qkv_bias = false, o_bias = false;
  bool qk_norm = false;  // Qwen3: RMSNorm over each head of q and k before the rotation
  double norm_eps = 1e-6;
};

// Multi-head attention with grouped-query K/V heads (Llama naming), by scaled-dot-product
// attention. Query rows with no admissible key output zeros. Rotary tables, when given, rotate
// queries and keys; a cache, when given, receives this call's keys and values and the queries
// attend over all the cached ones (self-attention only).
class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const AttentionShape& shape);
  AttentionImpl(int64_t d_model, int64_t n_heads, int64_t n_kv_heads)
      : AttentionImpl(AttentionShape{d_model, n_heads, n_kv_heads}) {}
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& memory,
                        const AttentionMask& mask, const Rotary* rotary = nullptr,
                        KVCache* cache = nullptr);
  // The same with the queries' positions as rows: x [batch * T, d] (self-attention: memory is x),
  // output [batch * T, d].
  torch::Tensor forward_rows(const torch::Tensor& x, int64_t batch, const torch::Tensor& memory,
                             const AttentionMask& mask, const Rotary* rotary = nullptr,
                             KVCache* cache = nullptr);
  // A memory's keys and values [B, kv_heads, M, head_dim], as cross-attention reads them.
  struct KeyValues {
    torch::Tensor keys, values;
  };
  // The keys and values of `memory` [B, M, d] for each of `layers` (of one kv_heads and head_dim):
  // one product for all of them where they have no LoRA adapters on k_proj and v_proj, instead of
  // a product, a reshape and a split per layer each way (the student's blocks all read one
  // memory). The weights are joined by a copy unless they lie back to back.
  static std::vector<KeyValues> project_memory(const std::vector<AttentionImpl*>& layers,
                                               const torch::Tensor& memory);
  // Cross-attention over a memory projected by project_memory: x [batch * T, d] -> [batch * T, d].
  torch::Tensor forward_rows(const torch::Tensor& x, int64_t batch, const KeyValues& memory,
                             const AttentionMask& mask);
  // LoRA on the projections named in `targets` among q_proj, k_proj, v_proj and o_proj.
  void add_lora(const std::vector<std::string>& targets,
                const std::shared_ptr<const LoraSettings>& settings);
  // Frozen q/k/v weights moved back to back into one buffer (see pack_frozen_rows).
  void pack_frozen_weights();
  // Whether self-attention rotates its whole projection with `rotary`'s projection tables: they
  // are there, for this layer's heads and `length` positions (with_projection_tables).
  bool rotates_whole_projection(const Rotary& rotary, int64_t length) const;

 private:
  struct Heads {
    torch::Tensor q, k, v;  // [B, heads, T, head_dim]
    double q_scale = 1.0;   // what q was multiplied by already (Rotary::projection_query_scale)
  };
  // Self-attention's queries, keys and values, rotated when rotary tables are given.
  Heads project(const torch::Tensor& x, int64_t batch, const Rotary* rotary);
  // Cross-attention's queries, with `memory`'s keys (both rotated when tables are given) and
  // values.
  Heads project_queries(const torch::Tensor& x, int64_t batch, const KeyValues& memory,
                        const Rotary* rotary);
  // The attention of `heads` (with the cache's keys and values), through o_proj.
  torch::Tensor attend(const torch::Tensor& x, int64_t batch, Heads heads,
                       const AttentionMask& mask, KVCache* cache);

  int64_t n_heads_, n_kv_heads_, head_dim_;
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};
  c10::intrusive_ptr<StackedViews> qkv_views_ = c10::make_intrusive<StackedViews>();
  c10::intrusive_ptr<StackedViews> kv_views_ = c10::make_intrusive<StackedViews>();
  LoraAdapters lora_;
};
TORCH_MODULE(Attention);

// softmax(q k^T / sqrt(d) | mask) v over [B, H, Tq, d] queries and [B, KV, Tk, d] keys/values,
// KV dividing H (grouped-query: key/value head j serves query heads j*H/KV .. (j+1)*H/KV-1).
// `q_scale`: what q was multiplied by already (the scores then take only the rest of the scale;
// 1 / sqrt(d) only where folded_query_scale says so).
torch::Tensor scaled_dot_product(const torch::Tensor& q, const torch::Tensor& k,
                                 const torch::Tensor& v, const AttentionMask& mask,
                                 double q_scale = 1.0);

// down(silu(gate(x)) * up(x)).
class SwiGLUImpl : public torch::nn::Module {
 public:
  SwiGLUImpl(int64_t d_model, int64_t d_ff);
  torch::Tensor forward(const torch::Tensor& x);
  // LoRA on the projections named in `targets` among gate_proj, up_proj and down_proj.
  void add_lora(const std::vector<std::string>& targets,
                const std::shared_ptr<const LoraSettings>& settings);
  // Frozen gate/up weights moved back to back into one buffer (see pack_frozen_rows).
  void pack_frozen_weights();

 private:
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  c10::intrusive_ptr<StackedViews> gate_up_views_ = c10::make_intrusive<StackedViews>();
  LoraAdapters lora_;
};
TORCH_MODULE(SwiGLU);

struct BlockShape {
  int64_t d_model, n_heads, n_kv_heads, d_ff;
  double norm_eps;
  int64_t head_dim = 0;  // 0: d_model / n_heads
  bool qkv_bias = false, o_bias = false, qk_norm = false;
  bool cross_attention = false;  // the PRIDE student's multi-source memory

  AttentionShape attention() const {
    return {d_model, n_heads, n_kv_heads, head_dim, qkv_bias, o_bias, qk_norm, norm_eps};
  }
};

// Pre-norm decoder block, shared by the Hugging Face causal LMs and the PRIDE student:
//   x += self_attn(norm(x)); [x += cross_attn(norm(x), memory);] x += mlp(norm(x)).
class DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit DecoderLayerImpl(const BlockShape& shape);
  torch::Tensor forward(const torch::Tensor& x, const AttentionMask& self_mask,
                        const Rotary& rotary, const torch::Tensor& memory = {},
                        const AttentionMask& memory_mask = {}, KVCache* cache = nullptr);
  // The same over the positions as rows, x [batch * T, d] -> [batch * T, d]: every linear layer
  // then reads and writes 2-D tensors, whose gradients need no reshaping (two operators fewer per
  // layer in backward). A stack of blocks passes rows from one to the next. The cross-attention
  // reads the memory as projected by this layer's cross_attention()
  // (AttentionImpl::project_memory).
  torch::Tensor forward_rows(torch::Tensor x, int64_t batch, const AttentionMask& self_mask,
                             const Rotary& rotary, const AttentionImpl::KeyValues& memory = {},
                             const AttentionMask& memory_mask = {}, KVCache* cache = nullptr);
  // The multi-source cross-attention (null without one).
  AttentionImpl* cross_attention() { return cross_attn.is_empty() ? nullptr : cross_attn.get(); }
  // LoRA on the self-attention's and the MLP's projections named in `targets` (not on the
  // cross-attention: that is PRIDE's, trained or frozen as model.freeze says).
  void add_lora(const std::vector<std::string>& targets,
                const std::shared_ptr<const LoraSettings>& settings);
  // The self-attention's and the MLP's frozen stacked weights, each stack in one buffer.
  void pack_frozen_weights();

 private:
  RMSNorm input_layernorm{nullptr};
  Attention self_attn{nullptr};
  RMSNorm cross_attn_layernorm{nullptr};  // only with cross_attention
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
