// The PRIDE student: a small Llama-style decoder whose every block also cross-attends to a
// multi-source memory (audio frames, visual frames, and privileged-information slots). In
// training the PI slots come from the real privileged text (encoder) or from a predictor that sees
// only what inference has (context and frames); at evaluation only the predictor runs, so the
// student never needs PI. The features matched to the teacher's hidden states (MMD) are read from
// the PI slots by default.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.h"
#include "data/sample.h"
#include "models/decoding.h"
#include "models/layers.h"

namespace pride {

struct StudentOutput {
  torch::Tensor logits;           // [B, T, V] float32 (LogitRows::all)
  torch::Tensor response_logits;  // [N, V] float32 at Batch::response_rows (LogitRows::response)
  torch::Tensor emotion_logits;   // [B, E]
  torch::Tensor features;         // [B, H_teacher], the student side of the MMD
  torch::Tensor pi_align;         // [B] per-sample alignment loss; undefined when no PI was given
};

// Which positions' logits a forward computes: every position's (StudentOutput::logits), or only
// the response positions' (response_logits), all that the training losses read: the LM head's
// product and its [positions, vocab] output shrink to the response.
enum class LogitRows { all, response };

// Whether this forward reads batch.privileged, and which rows see the real PI slots (the others,
// and every row when real_pi_rows is undefined, see the predicted slots).
struct PiUsage {
  bool use_pi = false;
  torch::Tensor real_pi_rows;  // [B] bool
};

// A training step allocates and frees the same activation buffers every step. With glibc's
// defaults those above 128 KiB, and the freed top of a nearly empty heap, go back to the kernel at
// once, so every step page-faults them in again (measured: the tiny config's CPU step took ~2x as
// long). This keeps buffers up to 32 MiB in the heap and up to 1 GiB of freed heap for reuse.
// Once per process, called by the Student constructor; MALLOC_MMAP_THRESHOLD_ and
// MALLOC_TRIM_THRESHOLD_ in the environment take precedence. No effect off glibc or on CUDA memory.
void keep_freed_memory_for_reuse();

// The decoder's architecture: from the model.* keys, or from a pretrained model's config.json
// (model.init_from, models/student_init.h), whose blocks may have head_dim, biases, q/k norms and
// Llama 3 rope scaling.
struct StudentArch {
  int64_t vocab_size = 0, n_layers = 0;
  BlockShape block{};
  RopeConfig rope;
  std::vector<int64_t> eos_ids;  // the ids that end a generated response
  int64_t head_dim() const {
    return block.head_dim > 0 ? block.head_dim : block.d_model / block.n_heads;
  }
};

// The vocabulary is config.vocab_size if > 0, else info.vocab_size.
StudentArch arch_from_keys(const ModelConfig& config, const DatasetInfo& info);

// What the decoder blocks cross-attend to, fixed for a prompt during generation.
struct StudentMemory {
  torch::Tensor values;  // [B, M, d]
  torch::Tensor mask;    // [B, M] bool
  // Each block's keys and values of `values`, projected once for every decoding step.
  std::vector<AttentionImpl::KeyValues> projected;
};

class StudentImpl : public torch::nn::Module {
 public:
  StudentImpl(const ModelConfig& config, const DatasetInfo& info)
      : StudentImpl(config, info, arch_from_keys(config, info)) {}
  StudentImpl(const ModelConfig& config, const DatasetInfo& info, const StudentArch& arch);
  StudentOutput forward(const Batch& batch, const PiUsage& pi = {},
                        LogitRows logit_rows = LogitRows::all);
  // forward() from given token embeddings [B, T, d] (what embed() returns for batch.tokens, maybe
  // scaled): gradient-based attributions read their gradient (teacher/plugin.h).
  StudentOutput forward_embedded(const Batch& batch, const torch::Tensor& embeddings,
                                 const PiUsage& pi = {});
  torch::Tensor embed(const torch::Tensor& tokens) { return embed_tokens(tokens); }
  // Only StudentOutput::features, as forward() computes them: with feature_source pi_slots the
  // memory and the feature head alone (no decoder), with response a whole forward.
  torch::Tensor features(const Batch& batch, const PiUsage& pi = {});
  int64_t num_parameters() const;
  int64_t vocab_size() const { return arch_.vocab_size; }
  const StudentArch& arch() const { return arch_; }
  const DatasetInfo& info() const { return info_; }
  // train.activation_checkpointing: while autograd records, forward keeps only each decoder
  // block's input, and backward recomputes the block (models/checkpointing.h). Off by default.
  void set_activation_checkpointing(bool on) { activation_checkpointing_ = on; }
  // LoRA (model.lora.*, rank > 0): adapters on every decoder block's self-attention and MLP
  // projections named in lora.targets (models/layers.h, LoraAdapters), starting as a no-op.
  void add_lora(const ModelConfig& config);
  bool has_lora() const { return lora_ != nullptr; }
  // Turns every adapter off or back on: off, the student computes its base weights' output
  // exactly (DPO's online reference with LoRA: no second copy of the model).
  void set_adapters_enabled(bool on);
  // Each decoder block's frozen stacked projections in one buffer (models/layers.h): their
  // products then read the weights in place instead of concatenating a copy every forward.
  void pack_frozen_weights();

  // Incremental decoding (models/decoding.h), PI-free: the memory from inference_memory() (the
  // predictor's slots over the context and frames of `batch`, as evaluation computes them), then
  // decode() over new tokens with a KV cache in `state`; logits [B, T, V] fp32 (only the last
  // position's unless all_positions).
  StudentMemory inference_memory(const Batch& batch);
  DecodeState start_decoding(int64_t batch, int64_t capacity) const;
  torch::Tensor decode(const torch::Tensor& tokens, const torch::Tensor& valid, DecodeState& state,
                       const StudentMemory& memory, bool all_positions);

 private:
  struct Memory {
    torch::Tensor values;      // [B, M, d]
    torch::Tensor mask;        // [B, M] bool
    torch::Tensor pi_summary;  // [B, d] mean of the (normed) PI slots
    torch::Tensor pi_align;
  };

  void check_batch(const Batch& batch) const;
  StudentOutput forward_checked(const Batch& batch, const torch::Tensor& embeddings,
                                LogitRows logit_rows, const PiUsage& pi);
  Memory build_memory(const Batch& batch, const torch::Tensor& token_embeddings, const PiUsage& pi);
  torch::Tensor pi_slots(const Batch& batch, const torch::Tensor& observed,
                         const torch::Tensor& observed_mask, const PiUsage& pi,
                         torch::Tensor* pi_align);
  torch::Tensor encode_privileged(const Batch& batch);

  torch::Tensor logits_of(const torch::Tensor& hidden);
  // The rotary tables of positions 0..length-1 for activations like `like` (kept in rotary_).
  const Rotary& training_rotary(int64_t length, const torch::Tensor& like);
  // x: the positions as rows [B*T, d] (batch B)
  torch::Tensor run_layer(size_t i, const torch::Tensor& x, int64_t batch, const Rotary& rotary,
                          const AttentionImpl::KeyValues& memory, const AttentionMask& memory_mask);
  // Every block's keys and values of the memory [B, M, d], in one product.
  std::vector<AttentionImpl::KeyValues> project_memory(const torch::Tensor& memory);

  ModelConfig config_;
  DatasetInfo info_;
  StudentArch arch_;
  bool activation_checkpointing_ = false;
  Rotary rotary_;  // training_rotary's tables, for the last length, device and type asked for
  std::shared_ptr<LoraSettings> lora_;  // null without LoRA

  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  torch::nn::Linear lm_head{nullptr};
  torch::nn::Embedding source_embed{nullptr};  // memory source tags: audio, visual, PI slots
  torch::nn::Linear audio_proj{nullptr}, visual_proj{nullptr};
  RMSNorm memory_norm{nullptr};
  torch::nn::Embedding pi_source_embed{nullptr};  // one per privileged source
  Resampler pi_encoder{nullptr}, pi_predictor{nullptr};
  torch::nn::Linear emotion_head{nullptr}, feature_head{nullptr};
};
TORCH_MODULE(Student);

}  // namespace pride
