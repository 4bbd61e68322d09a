// Hugging Face Llama-family causal language models in LibTorch: Llama (incl. Llama 3 rope
// scaling), Mistral, Qwen2 and Qwen3, loaded from a model directory as people download it
// (config.json plus model.safetensors, or shards listed by model.safetensors.index.json). The
// decoder blocks are the ones the PRIDE student uses (models/layers.h), without cross-attention;
// parameter names are Hugging Face's, so the files load by name. Guide: docs/models.md.
#pragma once

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "models/decoding.h"
#include "models/layers.h"

namespace pride {

// The architecture, from config.json.
struct CausalLMConfig {
  std::string model_type;  // llama, mistral, qwen2, qwen3
  int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0, num_hidden_layers = 0;
  int64_t num_attention_heads = 0, num_key_value_heads = 0, head_dim = 0;
  double rms_norm_eps = 1e-6;
  RopeConfig rope;
  bool tie_word_embeddings = false;
  bool qkv_bias = false, o_bias = false, qk_norm = false;
  int64_t sliding_window = 0;  // 0: full attention
  std::vector<int64_t> eos_token_ids;

  int64_t attention_head_dim() const;  // head_dim, or hidden_size / num_attention_heads
  BlockShape block_shape() const;
};

// A pride::Error naming `path` and the field for a missing key, a wrong type, an unsupported
// model_type or an unsupported value (another rope_scaling type, mlp_bias, a sliding window on
// Qwen, another activation).
CausalLMConfig parse_causal_lm_config(const nlohmann::json& config, const std::string& path);

// The parameters a model of `config` has (a tied LM head counted once).
int64_t parameter_count(const CausalLMConfig& config);

// Before anything is allocated: the safetensors headers in `dir` must hold at least as many values
// as `config` implies, or config.json's sizes do not belong to these weights (num_hidden_layers
// 10^9, say) and the pride::Error names config.json instead of allocating terabytes.
void check_weights_hold_config(const CausalLMConfig& config, const std::string& dir);

// Hugging Face's "model." prefix: embeddings, decoder blocks and the final norm.
struct CausalLMBodyImpl : torch::nn::Module {
  explicit CausalLMBodyImpl(const CausalLMConfig& config);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
};
TORCH_MODULE(CausalLMBody);

class CausalLMImpl : public torch::nn::Module, public IncrementalDecoder {
 public:
  explicit CausalLMImpl(const CausalLMConfig& config);

  const CausalLMConfig& config() const { return config_; }
  // Logits [B, T, V] (fp32) of whole sequences; `valid` [B, T] bool marks real tokens (pads may
  // come first or last; undefined: no padding).
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& valid = {});
  // The final hidden states [B, T, H] (after the last norm, what the LM head reads) of whole
  // sequences, in the model's dtype; `valid` as in forward().
  torch::Tensor hidden_states(const torch::Tensor& tokens, const torch::Tensor& valid = {});
  // Logits [..., V] (fp32) of final hidden states [..., H].
  torch::Tensor logits(const torch::Tensor& hidden);

  int64_t vocab_size() const override { return config_.vocab_size; }
  DecodeState start(int64_t batch, int64_t capacity) const override;
  torch::Tensor forward_cached(const torch::Tensor& tokens, const torch::Tensor& valid,
                               DecodeState& state, bool all_positions) override;

 private:
  // Final hidden states of `tokens` appended to `state` (only the last position's unless
  // all_positions).
  torch::Tensor decode(const torch::Tensor& tokens, const torch::Tensor& valid, DecodeState& state,
                       bool all_positions);

  CausalLMConfig config_;
  CausalLMBody model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // absent with tie_word_embeddings
};
TORCH_MODULE(CausalLM);

// Loads `dir` (config.json and its safetensors) into a model of `dtype` on `device`. Weights in
// bf16, fp16 or fp32 are converted; each file is memory-mapped and every tensor copied once into
// its parameter. A pride::Error names the file and tensor for a missing, unexpected or misshapen
// tensor, an unknown dtype, a truncated file or a broken header or index.
CausalLM load_causal_lm(const std::string& dir, torch::ScalarType dtype = torch::kFloat,
                        torch::Device device = torch::kCPU);

}  // namespace pride
