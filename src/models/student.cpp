// The PRIDE student (see student.h and docs/method.md): decoder stack, multi-source memory,
// PI encoder/predictor with per-sample slot selection, emotion head and response features.
#include "models/student.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "models/checkpointing.h"
#include "models/losses.h"
#include "util/error.h"
#include "util/torch_compat.h"

namespace pride {
namespace {

enum MemorySource : int64_t { kAudio = 0, kVisual = 1, kPiSlots = 2, kNumSources = 3 };

torch::nn::Embedding init_embedding(int64_t count, int64_t dim) {
  torch::nn::Embedding embedding(count, dim);
  torch::NoGradGuard no_grad;
  embedding->weight.normal_(0.0, kInitStd);
  return embedding;
}

// Mean of x [B, T, d] over the positions where mask [B, T] is true (zeros for an empty row).
torch::Tensor masked_mean(const torch::Tensor& x, const torch::Tensor& mask) {
  auto weights = mask.to(x.scalar_type()).unsqueeze(-1);
  return (x * weights).sum(1) / weights.sum(1).clamp_min(1.0);
}

// Row label for error messages: the global sample index when the batch carries it.
int64_t sample_of(const Batch& batch, int64_t row) {
  return row < int64_t(batch.indices.size()) ? batch.indices[row] : row;
}

// Shapes always; id ranges on host tensors only (on a GPU the check would stop the host every
// forward; batches there came through the reader, which validates every id).
void check_tokens(const Batch& batch, const torch::Tensor& tokens, int64_t vocab,
                  const std::string& what) {
  if (tokens.dim() != 2 || tokens.size(0) != batch.size()) {
    fail("student: {} must be [B={}, L], got {}", what, batch.size(), tokens.sizes());
  }
  if (!tokens.device().is_cpu() || ids_in_range(tokens, vocab)) return;
  auto bad = (tokens < 0) | (tokens >= vocab);
  const int64_t row = bad.any(1).nonzero()[0][0].item<int64_t>();
  fail("student: {} of sample {} holds a token id outside [0, {})", what, sample_of(batch, row),
       vocab);
}

void check_mask(const Batch& batch, const torch::Tensor& mask, const torch::Tensor& like,
                const std::string& what) {
  if (!mask.defined() || mask.scalar_type() != torch::kBool ||
      !mask.sizes().equals(like.sizes().slice(0, 2))) {
    fail("student: {} must be a bool tensor of shape {}", what, like.sizes().slice(0, 2));
  }
}

void check_frames(const Batch& batch, const torch::Tensor& frames, const torch::nn::Linear& proj,
                  const char* name) {
  if (proj.is_empty()) fail("student: batch has {} frames but the data set declares none", name);
  const int64_t dim = proj->options.in_features();
  if (frames.dim() != 3 || frames.size(0) != batch.size() || frames.size(2) != dim) {
    fail("student: {} must be [B={}, frames, {}], got {}", name, batch.size(), dim, frames.sizes());
  }
}

// The blocks' cross-attention mask [B, 1, 1, M], prepared once for all of them, for the scores'
// type: the projections' (bf16) under autocast, else the activations'. Every position may attend
// to the PI slots, which the memory always has (build_memory).
AttentionMask memory_attention_mask(const torch::Tensor& mask, const torch::Tensor& activations) {
  const bool autocast = compat::AutocastGuard::is_enabled(activations.device().type());
  return AttentionMask(mask.unsqueeze(1).unsqueeze(1))
      .prepared(autocast ? torch::kBFloat16 : activations.scalar_type(),
                /*some_key_always=*/true);
}

}  // namespace

void keep_freed_memory_for_reuse() {
#if defined(__GLIBC__)
  static const bool once = [] {
    constexpr int kMaxMmapThreshold = 32 << 20;  // glibc's ceiling for M_MMAP_THRESHOLD
    constexpr int kTrimThreshold = 1 << 30;
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) {
      mallopt(M_MMAP_THRESHOLD, kMaxMmapThreshold);
    }
    if (std::getenv("MALLOC_TRIM_THRESHOLD_") == nullptr) mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
    return true;
  }();
  (void)once;
#endif
}

StudentArch arch_from_keys(const ModelConfig& config, const DatasetInfo& info) {
  StudentArch arch;
  arch.vocab_size = config.vocab_size > 0 ? config.vocab_size : info.vocab_size;
  arch.n_layers = config.n_layers;
  arch.block = {config.d_model, config.n_heads, config.n_kv_heads, config.d_ff, config.norm_eps};
  arch.rope.theta = config.rope_theta;
  arch.eos_ids = {info.eos_id};
  return arch;
}

StudentImpl::StudentImpl(const ModelConfig& config, const DatasetInfo& info,
                         const StudentArch& arch)
    : config_(config), info_(info), arch_(arch) {
  keep_freed_memory_for_reuse();
  const int64_t vocab = arch.vocab_size;
  if (vocab <= 0) fail("model: vocab_size is 0 in both model.vocab_size and the data set");
  if (config.memory_slots <= 0) fail("model.memory_slots must be >= 1");
  if (config.feature_source != "pi_slots" && config.feature_source != "response") {
    fail("model.feature_source must be pi_slots or response, got '{}'", config.feature_source);
  }
  const int64_t d = arch.block.d_model;
  BlockShape shape = arch.block;
  shape.cross_attention = true;  // the decoder blocks read the multi-source memory

  embed_tokens = register_module("embed_tokens", init_embedding(vocab, d));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < arch.n_layers; ++i) layers->push_back(DecoderLayer(shape));
  norm = register_module("norm", RMSNorm(d, shape.norm_eps));
  lm_head = register_module("lm_head", init_linear(d, vocab, false));

  source_embed = register_module("source_embed", init_embedding(kNumSources, d));
  if (info.audio_dim > 0) {
    audio_proj = register_module("audio_proj", init_linear(info.audio_dim, d, true));
  }
  if (info.visual_dim > 0) {
    visual_proj = register_module("visual_proj", init_linear(info.visual_dim, d, true));
  }
  memory_norm = register_module("memory_norm", RMSNorm(d, shape.norm_eps));
  const int64_t pi_sources = std::max<int64_t>(1, info.privileged_sources.size());
  pi_source_embed = register_module("pi_source_embed", init_embedding(pi_sources, d));
  // The resamplers are PRIDE's own: plain attention of width d / n_heads.
  BlockShape pool{d, shape.n_heads, shape.n_kv_heads, shape.d_ff, shape.norm_eps};
  pi_encoder = register_module("pi_encoder", Resampler(pool, config.memory_slots));
  pi_predictor = register_module("pi_predictor", Resampler(pool, config.memory_slots));

  emotion_head = register_module("emotion_head", init_linear(d, info.num_emotions, true));
  feature_head = register_module("feature_head", init_linear(d, info.teacher_hidden, true));
}

void StudentImpl::add_lora(const ModelConfig& config) {
  if (config.lora_rank <= 0) return;
  lora_ = std::make_shared<LoraSettings>();
  lora_->rank = config.lora_rank;
  lora_->scale = config.lora_alpha / static_cast<double>(config.lora_rank);
  lora_->dropout = config.lora_dropout;
  for (size_t i = 0; i < layers->size(); ++i) {
    layers->ptr<DecoderLayerImpl>(i)->add_lora(config.lora_targets, lora_);
  }
}

void StudentImpl::set_adapters_enabled(bool on) {
  if (lora_) lora_->enabled = on;
}

void StudentImpl::pack_frozen_weights() {
  for (size_t i = 0; i < layers->size(); ++i)
    layers->ptr<DecoderLayerImpl>(i)->pack_frozen_weights();
}

int64_t StudentImpl::num_parameters() const {
  int64_t total = 0;
  for (const auto& p : parameters()) total += p.numel();
  return total;
}

void StudentImpl::check_batch(const Batch& batch) const {
  if (!batch.tokens.defined()) fail("student: batch has no tokens");
  check_tokens(batch, batch.tokens, arch_.vocab_size, "tokens");
  if (batch.tokens.size(1) > config_.max_seq_len) {
    fail("student: sequence length {} exceeds model.max_seq_len {} (samples {})",
         batch.tokens.size(1), config_.max_seq_len, batch.indices);
  }
  check_mask(batch, batch.context_mask, batch.tokens, "context_mask");
  check_mask(batch, batch.response_mask, batch.tokens, "response_mask");
}

StudentOutput StudentImpl::forward(const Batch& batch, const PiUsage& pi, LogitRows logit_rows) {
  check_batch(batch);
  return forward_checked(batch, embed_tokens(batch.tokens), logit_rows, pi);
}

StudentOutput StudentImpl::forward_embedded(const Batch& batch, const torch::Tensor& embeddings,
                                            const PiUsage& pi) {
  check_batch(batch);
  const auto expected =
      std::vector<int64_t>{batch.size(), batch.tokens.size(1), arch_.block.d_model};
  if (embeddings.sizes() != expected) {
    fail("student: embeddings {} do not match the batch's tokens ({})", embeddings.sizes(),
         expected);
  }
  return forward_checked(batch, embeddings, LogitRows::all, pi);
}

StudentOutput StudentImpl::forward_checked(const Batch& batch, const torch::Tensor& embedded,
                                           LogitRows logit_rows, const PiUsage& pi) {
  const int64_t rows = batch.size(), length = batch.tokens.size(1);
  Memory memory = build_memory(batch, embedded, pi);

  const AttentionMask memory_mask = memory_attention_mask(memory.mask, embedded);
  const Rotary& rotary = training_rotary(length, embedded);
  // The positions as rows [B*T, d] through the blocks and the LM head (DecoderLayer::forward_rows)
  const auto projected = project_memory(memory.values);
  auto x = embedded.reshape({-1, embedded.size(-1)});
  for (size_t i = 0; i < layers->size(); ++i) {
    x = run_layer(i, x, rows, rotary, projected[i], memory_mask);
  }
  x = norm(x);
  auto hidden = x.view({rows, length, x.size(-1)});

  StudentOutput out;
  if (logit_rows == LogitRows::response) {
    out.response_logits = logits_of(x.index_select(0, batch.response_rows_of()));
  } else {
    out.logits = logits_of(x).view({rows, length, -1});
  }
  out.emotion_logits = apply_linear(emotion_head, masked_mean(hidden, batch.context_mask));
  // The MMD only sees the distribution of these features, not which sample is which; pooled from
  // the response it pulled the states the LM head reads towards any clustering of the right shape
  // (docs/results.md), so by default it shapes the PI slots instead.
  out.features = apply_linear(feature_head, config_.feature_source == "response"
                                                ? masked_mean(hidden, batch.response_mask)
                                                : memory.pi_summary);
  out.pi_align = memory.pi_align;
  return out;
}

// Decoder block i over the whole sequence, checkpointed when so configured (the memory's keys and
// values are inputs of the block too: they need their gradients). Causal only, no padding mask:
// collate pads on the right, so no real position ever sees a pad and the pads' own outputs reach
// no loss or pooled feature. That keeps attention on the fused (flash) kernels, which take no mask.
torch::Tensor StudentImpl::run_layer(size_t i, const torch::Tensor& x, int64_t batch,
                                     const Rotary& rotary, const AttentionImpl::KeyValues& memory,
                                     const AttentionMask& memory_mask) {
  auto layer = layers->ptr<DecoderLayerImpl>(i);
  auto block = [layer, batch, rotary, memory_mask](const std::vector<torch::Tensor>& in) {
    return layer->forward_rows(in[0], batch, AttentionMask::causal_only(), rotary, {in[1], in[2]},
                               memory_mask);
  };
  if (!activation_checkpointing_) return block({x, memory.keys, memory.values});
  return checkpointed(block, {x, memory.keys, memory.values}, layer->parameters());
}

std::vector<AttentionImpl::KeyValues> StudentImpl::project_memory(const torch::Tensor& memory) {
  std::vector<AttentionImpl*> cross;
  for (size_t i = 0; i < layers->size(); ++i) {
    cross.push_back(layers->ptr<DecoderLayerImpl>(i)->cross_attention());  // every block has one
  }
  return AttentionImpl::project_memory(cross, memory);
}

// Positions 0..length-1 are the same every step: the tables are built once per length, device
// and type (about twenty operators each forward otherwise).
const Rotary& StudentImpl::training_rotary(int64_t length, const torch::Tensor& like) {
  const bool reusable = rotary_.cos.defined() && rotary_.cos.size(-2) == length &&
                        rotary_.cos.device() == like.device() &&
                        rotary_.cos.scalar_type() == like.scalar_type();
  if (!reusable) {
    const auto positions =
        torch::arange(length, torch::TensorOptions(torch::kLong).device(like.device()));
    rotary_ = with_projection_tables(
        rotary_tables_at(positions.unsqueeze(0), arch_.head_dim(), arch_.rope, like),
        arch_.block.n_heads, arch_.block.n_kv_heads, folded_query_scale(arch_.head_dim()));
  }
  return rotary_;
}

torch::Tensor StudentImpl::logits_of(const torch::Tensor& hidden) {
  auto logits = apply_linear(lm_head, hidden);
  const auto type = logits.scalar_type();
  return type == torch::kDouble || type == torch::kFloat ? logits : logits.to(torch::kFloat);
}

StudentMemory StudentImpl::inference_memory(const Batch& batch) {
  check_batch(batch);
  Memory memory = build_memory(batch, embed_tokens(batch.tokens), PiUsage{});
  return {memory.values, memory.mask, project_memory(memory.values)};
}

DecodeState StudentImpl::start_decoding(int64_t batch, int64_t capacity) const {
  return DecodeState(batch, capacity, arch_.n_layers, embed_tokens->weight.device());
}

torch::Tensor StudentImpl::decode(const torch::Tensor& tokens, const torch::Tensor& valid,
                                  DecodeState& state, const StudentMemory& memory,
                                  bool all_positions) {
  const int64_t rows = state.next_position.size(0);
  if (tokens.dim() != 2 || tokens.size(0) != rows || memory.values.size(0) != rows) {
    fail("student: decoding tokens {} and memory {} must both have {} rows", tokens.sizes(),
         memory.values.sizes(), rows);
  }
  auto x = embed_tokens(tokens);
  const DecodeStep step = advance(state, valid, tokens.size(1), /*sliding_window=*/0);
  const Rotary rotary = rotary_tables_at(step.positions, arch_.head_dim(), arch_.rope, x);
  const AttentionMask memory_mask = memory_attention_mask(memory.mask, x);
  const auto projected =
      memory.projected.size() == layers->size() ? memory.projected : project_memory(memory.values);
  const int64_t length = x.size(1);
  x = x.reshape({-1, x.size(-1)});
  for (size_t i = 0; i < layers->size(); ++i) {
    x = layers->ptr<DecoderLayerImpl>(i)->forward_rows(x, rows, step.mask, rotary, projected[i],
                                                       memory_mask, &state.layers[i]);
  }
  x = x.view({rows, length, x.size(-1)});
  if (!all_positions) x = x.narrow(1, x.size(1) - 1, 1);
  return logits_of(norm(x));
}

torch::Tensor StudentImpl::features(const Batch& batch, const PiUsage& pi) {
  if (config_.feature_source == "response") return forward(batch, pi).features;
  check_batch(batch);
  return apply_linear(feature_head, build_memory(batch, embed_tokens(batch.tokens), pi).pi_summary);
}

// Memory = [audio frames | visual frames | PI slots], each tagged with its source embedding.
StudentImpl::Memory StudentImpl::build_memory(const Batch& batch,
                                              const torch::Tensor& token_embeddings,
                                              const PiUsage& pi) {
  std::vector<torch::Tensor> values, masks;
  auto add_frames = [&](const torch::Tensor& frames, const torch::Tensor& mask,
                        torch::nn::Linear& proj, int64_t source, const char* name) {
    if (!frames.defined()) return;
    check_frames(batch, frames, proj, name);
    values.push_back(apply_linear(proj, frames.to(source_embed->weight.scalar_type())) +
                     source_embed->weight[source]);
    if (mask.defined()) check_mask(batch, mask, frames, std::string(name) + "_mask");
    masks.push_back(mask.defined() ? mask : torch::ones_like(frames.select(2, 0), torch::kBool));
  };
  add_frames(batch.audio, batch.audio_mask, audio_proj, kAudio, "audio");
  add_frames(batch.visual, batch.visual_mask, visual_proj, kVisual, "visual");

  // The predictor sees all that the student has at inference: the context tokens and the frames
  // (with the context alone, PI cost emotion accuracy: docs/results.md).
  std::vector<torch::Tensor> observed{token_embeddings}, observed_masks{batch.context_mask};
  observed.insert(observed.end(), values.begin(), values.end());
  observed_masks.insert(observed_masks.end(), masks.begin(), masks.end());
  Memory memory;
  auto slots =
      pi_slots(batch, torch::cat(observed, 1), torch::cat(observed_masks, 1), pi, &memory.pi_align);
  values.push_back(slots + source_embed->weight[kPiSlots]);
  masks.push_back(
      torch::ones({batch.size(), slots.size(1)}, batch.tokens.options().dtype(torch::kBool)));
  memory.values = memory_norm(torch::cat(values, 1));
  memory.mask = torch::cat(masks, 1);
  memory.pi_summary =
      memory.values.narrow(1, memory.values.size(1) - slots.size(1), slots.size(1)).mean(1);
  return memory;
}

// Predicted slots (from `observed`, what inference has) always; with PI, the encoded slots replace
// them on the real_pi_rows, and the predictor is pulled towards the (detached) encoding by the
// per-sample alignment loss.
torch::Tensor StudentImpl::pi_slots(const Batch& batch, const torch::Tensor& observed,
                                    const torch::Tensor& observed_mask, const PiUsage& pi,
                                    torch::Tensor* pi_align) {
  auto predicted = pi_predictor(observed, observed_mask);
  if (!pi.use_pi || batch.privileged.empty()) return predicted;
  auto encoded = encode_privileged(batch);
  *pi_align = (predicted - encoded.detach()).pow(2).mean({1, 2});
  if (!pi.real_pi_rows.defined()) return predicted;
  const auto& rows = pi.real_pi_rows;
  if (rows.scalar_type() != torch::kBool || rows.dim() != 1 || rows.size(0) != batch.size()) {
    fail("student: real_pi_rows must be a bool tensor of shape [{}], got {}", batch.size(),
         rows.sizes());
  }
  // torch::where (not indexing) keeps every encoder gradient defined, zero on predicted rows.
  return torch::where(rows.to(predicted.device()).view({-1, 1, 1}), encoded, predicted);
}

// All privileged sources' tokens, embedded and source-tagged, pooled jointly into the slots: one
// embedding of every source's ids and one of their source tags, not one of each per source.
torch::Tensor StudentImpl::encode_privileged(const Batch& batch) {
  std::vector<torch::Tensor> tokens, masks;
  std::vector<int64_t> tags;  // the source of every privileged position
  const auto& names = info_.privileged_sources;
  for (const auto& [name, ids] : batch.privileged) {
    auto found = std::find(names.begin(), names.end(), name);
    if (found == names.end()) {
      fail("student: privileged source '{}' is not one of the data set's sources [{}]", name,
           fmt::join(names, ", "));
    }
    const std::string what = "privileged source '" + name + "'";
    check_tokens(batch, ids, arch_.vocab_size, what);
    auto mask = batch.privileged_mask.find(name);
    if (mask == batch.privileged_mask.end()) fail("student: {} has no privileged_mask", what);
    check_mask(batch, mask->second, ids, what + " mask");
    tokens.push_back(ids);
    masks.push_back(mask->second);
    tags.insert(tags.end(), ids.size(1), found - names.begin());
  }
  const auto& tag_table = pi_source_embed->weight;
  auto tag_ids = torch::tensor(tags, torch::kInt64).to(tag_table.device(), /*non_blocking=*/true);
  auto embedded = embed_tokens(torch::cat(tokens, 1)) + torch::embedding(tag_table, tag_ids);
  return pi_encoder(embedded, torch::cat(masks, 1));
}

}  // namespace pride
