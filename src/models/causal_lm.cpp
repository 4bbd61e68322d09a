// Hugging Face causal LMs: config.json parsing, the model on the shared decoder blocks, and
// loading from (sharded) safetensors through memory-mapped files.
#include "models/causal_lm.h"

#include <fmt/ranges.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include "checkpoints/safetensors.h"
#include "io/file_io.h"
#include "io/json_file.h"
#include "util/error.h"

namespace pride {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kConfigFile[] = "config.json";
constexpr char kSingleFile[] = "model.safetensors";
constexpr char kIndexFile[] = "model.safetensors.index.json";
const std::set<std::string> kModelTypes = {"llama", "mistral", "qwen2", "qwen3"};

// Bounds on config.json's sizes, far above any published model's (vocabularies reach 2^18, widths
// 2^15, layers 2^7), so that every product of them fits in 64 bits.
constexpr int64_t kMaxConfigSize = int64_t{1} << 24;  // vocab_size, widths
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxHeads = 4096;
// Values a config.json may imply beyond twice what its weights hold before it is refused unread.
constexpr int64_t kAllocationSlack = int64_t{1} << 20;

// Typed access to a JSON object's fields; every error names the file and the field.
class Fields {
 public:
  Fields(const json& object, std::string path, std::string prefix = "")
      : object_(object), path_(std::move(path)), prefix_(std::move(prefix)) {}

  bool has(const char* key) const { return object_.contains(key) && !object_[key].is_null(); }
  const json& at(const char* key) const {
    if (!has(key)) fail("{}: missing \"{}{}\"", path_, prefix_, key);
    return object_[key];
  }
  // A positive integer of at most `most`: the bound keeps a hostile or mistyped config.json from
  // sizing tensors (and products of sizes) beyond anything real.
  int64_t positive(const char* key, int64_t most = kMaxConfigSize) const {
    const json& value = at(key);
    const bool in_range = value.is_number_unsigned() || value.is_number_integer();
    if (!in_range || value.get<int64_t>() <= 0 || value.get<int64_t>() > most ||
        (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(most))) {
      fail("{}: \"{}{}\" must be a positive integer of at most {}, got {}", path_, prefix_, key,
           most, value.dump());
    }
    return value.get<int64_t>();
  }
  int64_t positive_or(const char* key, int64_t fallback, int64_t most = kMaxConfigSize) const {
    return has(key) ? positive(key, most) : fallback;
  }
  double number_or(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    if (!object_[key].is_number()) fail("{}: \"{}{}\" must be a number", path_, prefix_, key);
    return object_[key].get<double>();
  }
  // A finite number above 0 (rope_theta, rms_norm_eps, rope factors): 0, a negative or an
  // infinite one makes every logit NaN.
  double positive_number_or(const char* key, double fallback) const {
    const double value = number_or(key, fallback);
    if (!(value > 0) || !std::isfinite(value)) {
      fail("{}: \"{}{}\" must be a finite number above 0, got {}", path_, prefix_, key,
           object_[key].dump());
    }
    return value;
  }
  bool flag_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!object_[key].is_boolean()) fail("{}: \"{}{}\" must be true or false", path_, prefix_, key);
    return object_[key].get<bool>();
  }
  std::string text_or(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!object_[key].is_string()) fail("{}: \"{}{}\" must be a string", path_, prefix_, key);
    return object_[key].get<std::string>();
  }
  [[noreturn]] void unsupported(const char* key, const std::string& why) const {
    fail("{}: \"{}{}\" = {} is not supported ({})", path_, prefix_, key, object_[key].dump(), why);
  }

 private:
  const json& object_;
  std::string path_, prefix_;
};

// rope_theta and rope_scaling (or the newer rope_parameters, which holds both).
RopeConfig parse_rope(const Fields& config, const std::string& path) {
  RopeConfig rope;
  const char* scaling_key = config.has("rope_parameters") ? "rope_parameters" : "rope_scaling";
  rope.theta = config.positive_number_or("rope_theta", 10000.0);
  if (!config.has(scaling_key)) return rope;
  const json& scaling_json = config.at(scaling_key);
  if (!scaling_json.is_object()) fail("{}: \"{}\" must be an object or null", path, scaling_key);
  const Fields scaling(scaling_json, path, std::string(scaling_key) + ".");
  rope.theta = scaling.positive_number_or("rope_theta", rope.theta);
  const char* type_key = scaling.has("rope_type") ? "rope_type" : "type";
  const std::string type = scaling.text_or(type_key, "default");
  if (type == "default") return rope;
  if (type != "llama3") scaling.unsupported(type_key, "only \"default\" and \"llama3\"");
  rope.llama3_factor = scaling.positive_number_or("factor", 1.0);
  rope.low_freq_factor = scaling.positive_number_or("low_freq_factor", 1.0);
  rope.high_freq_factor = scaling.positive_number_or("high_freq_factor", 1.0);
  rope.original_max_position_embeddings = scaling.positive("original_max_position_embeddings");
  if (rope.llama3_factor <= 0 || rope.low_freq_factor <= 0 ||
      rope.high_freq_factor <= rope.low_freq_factor) {
    fail("{}: {} llama3 needs factor > 0 and high_freq_factor > low_freq_factor > 0", path,
         scaling_key);
  }
  return rope;
}

// Mistral's sliding_window (null: none); Qwen's only when use_sliding_window, which pride rejects.
int64_t parse_sliding_window(const Fields& config, const json& raw, const std::string& type) {
  if (type == "mistral") return config.positive_or("sliding_window", 0);
  if (type == "qwen2" || type == "qwen3") {
    if (config.flag_or("use_sliding_window", false)) {
      config.unsupported("use_sliding_window", "Qwen's per-layer sliding window");
    }
  }
  if (config.has("layer_types")) {
    for (const auto& layer : raw["layer_types"]) {
      if (layer != "full_attention") config.unsupported("layer_types", "full_attention only");
    }
  }
  return 0;
}

// eos_token_id: an id or a list of ids, each a token of the vocabulary.
std::vector<int64_t> parse_eos(const Fields& config, const json& raw, int64_t vocab_size) {
  if (!config.has("eos_token_id")) return {};
  const json& eos = raw["eos_token_id"];
  std::vector<int64_t> ids;
  for (const json& id : eos.is_array() ? eos : json::array({eos})) {
    if (!id.is_number_integer()) config.unsupported("eos_token_id", "an id or a list of ids");
    const bool in_vocabulary = id.is_number_unsigned()
                                   ? id.get<uint64_t>() < uint64_t(vocab_size)
                                   : id.get<int64_t>() >= 0 && id.get<int64_t>() < vocab_size;
    if (!in_vocabulary) {
      config.unsupported("eos_token_id",
                         fmt::format("ids must be tokens of the vocabulary, [0, {})", vocab_size));
    }
    ids.push_back(id.get<int64_t>());
  }
  return ids;
}

// The attention's shape, checked here so that the error names config.json and its keys (the
// layers' own check names neither).
void check_heads(const CausalLMConfig& c, const std::string& path) {
  const int64_t head = c.attention_head_dim();
  if (c.num_attention_heads % c.num_key_value_heads != 0 || head <= 0 || head % 2 != 0 ||
      (c.head_dim == 0 && c.hidden_size % c.num_attention_heads != 0)) {
    fail(
        "{}: \"hidden_size\" {}, \"num_attention_heads\" {}, \"num_key_value_heads\" {}, "
        "\"head_dim\" {}: the heads need an even width (head_dim, or hidden_size split evenly) "
        "and num_key_value_heads must divide num_attention_heads",
        path, c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim);
  }
}

}  // namespace

CausalLMConfig parse_causal_lm_config(const json& raw, const std::string& path) {
  if (!raw.is_object()) fail("{}: not a JSON object", path);
  const Fields config(raw, path);
  CausalLMConfig c;
  c.model_type = config.text_or("model_type", "");
  if (kModelTypes.count(c.model_type) == 0) {
    fail("{}: \"model_type\" '{}' is not supported (pride loads {})", path, c.model_type,
         fmt::join(kModelTypes, ", "));
  }
  c.vocab_size = config.positive("vocab_size");
  c.hidden_size = config.positive("hidden_size");
  c.intermediate_size = config.positive("intermediate_size");
  c.num_hidden_layers = config.positive("num_hidden_layers", kMaxLayers);
  c.num_attention_heads = config.positive("num_attention_heads", kMaxHeads);
  c.num_key_value_heads =
      config.positive_or("num_key_value_heads", c.num_attention_heads, c.num_attention_heads);
  // Qwen3's config class defaults head_dim to 128; the others to hidden_size / heads.
  c.head_dim = config.positive_or("head_dim", c.model_type == "qwen3" ? 128 : 0);
  c.rms_norm_eps = config.positive_number_or("rms_norm_eps", 1e-6);
  check_heads(c, path);
  c.rope = parse_rope(config, path);
  c.tie_word_embeddings = config.flag_or("tie_word_embeddings", false);
  c.sliding_window = parse_sliding_window(config, raw, c.model_type);
  c.eos_token_ids = parse_eos(config, raw, c.vocab_size);
  if (config.text_or("hidden_act", "silu") != "silu") config.unsupported("hidden_act", "silu only");
  if (config.flag_or("mlp_bias", false)) config.unsupported("mlp_bias", "bias-free MLPs only");
  if (config.number_or("partial_rotary_factor", 1.0) != 1.0) {
    config.unsupported("partial_rotary_factor", "full rotary only");
  }
  const bool attention_bias = config.flag_or("attention_bias", false);
  if (c.model_type == "qwen2") {
    c.qkv_bias = true;  // Qwen2 always has q/k/v biases and no o_proj bias
  } else if (c.model_type != "mistral") {
    c.qkv_bias = c.o_bias = attention_bias;
  }
  c.qk_norm = c.model_type == "qwen3";
  return c;
}

int64_t parameter_count(const CausalLMConfig& c) {
  // In 128 bits, saturated at 2^63 - 1: config.json's bounds keep each size below 2^24, but the
  // product of layers, widths and heads can pass 2^63.
  using Wide = __int128;
  const Wide h = c.hidden_size, head = c.attention_head_dim();
  const Wide q = c.num_attention_heads * head, kv = c.num_key_value_heads * head;
  Wide block = h * q + 2 * h * kv + q * h + 3 * h * c.intermediate_size + 2 * h;
  if (c.qkv_bias) block += q + 2 * kv;
  if (c.o_bias) block += h;
  if (c.qk_norm) block += 2 * head;
  const Wide embeddings = Wide(c.vocab_size) * h;
  const Wide total =
      embeddings + c.num_hidden_layers * block + h + (c.tie_word_embeddings ? 0 : embeddings);
  const Wide most = std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(std::min(total, most));
}

int64_t CausalLMConfig::attention_head_dim() const {
  return head_dim > 0 ? head_dim : hidden_size / num_attention_heads;
}

BlockShape CausalLMConfig::block_shape() const {
  BlockShape shape{hidden_size, num_attention_heads, num_key_value_heads, intermediate_size,
                   rms_norm_eps};
  shape.head_dim = head_dim;
  shape.qkv_bias = qkv_bias;
  shape.o_bias = o_bias;
  shape.qk_norm = qk_norm;
  return shape;
}

CausalLMBodyImpl::CausalLMBodyImpl(const CausalLMConfig& config) {
  embed_tokens =
      register_module("embed_tokens", torch::nn::Embedding(config.vocab_size, config.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    layers->push_back(DecoderLayer(config.block_shape()));
  }
  norm = register_module("norm", RMSNorm(config.hidden_size, config.rms_norm_eps));
}

CausalLMImpl::CausalLMImpl(const CausalLMConfig& config) : config_(config) {
  model = register_module("model", CausalLMBody(config));
  if (!config.tie_word_embeddings) {
    lm_head = register_module("lm_head", init_linear(config.hidden_size, config.vocab_size, false));
  }
}

torch::Tensor CausalLMImpl::forward(const torch::Tensor& tokens, const torch::Tensor& valid) {
  return logits(hidden_states(tokens, valid));
}

torch::Tensor CausalLMImpl::hidden_states(const torch::Tensor& tokens, const torch::Tensor& valid) {
  DecodeState state = start(tokens.size(0), tokens.size(1));
  return decode(tokens, valid, state, /*all_positions=*/true);
}

torch::Tensor CausalLMImpl::logits(const torch::Tensor& hidden) {
  auto logits =
      lm_head.is_empty() ? torch::matmul(hidden, model->embed_tokens->weight.t()) : lm_head(hidden);
  return logits.scalar_type() == torch::kDouble ? logits : logits.to(torch::kFloat);
}

DecodeState CausalLMImpl::start(int64_t batch, int64_t capacity) const {
  return DecodeState(batch, capacity, config_.num_hidden_layers,
                     model->embed_tokens->weight.device());
}

torch::Tensor CausalLMImpl::forward_cached(const torch::Tensor& tokens, const torch::Tensor& valid,
                                           DecodeState& state, bool all_positions) {
  return logits(decode(tokens, valid, state, all_positions));
}

torch::Tensor CausalLMImpl::decode(const torch::Tensor& tokens, const torch::Tensor& valid,
                                   DecodeState& state, bool all_positions) {
  if (tokens.dim() != 2 || tokens.size(0) != state.next_position.size(0)) {
    fail("causal LM: tokens must be [B={}, T], got {}", state.next_position.size(0),
         tokens.sizes());
  }
  auto x = model->embed_tokens(tokens);
  const DecodeStep step = advance(state, valid, tokens.size(1), config_.sliding_window);
  const Rotary rotary =
      rotary_tables_at(step.positions, config_.attention_head_dim(), config_.rope, x);
  for (size_t i = 0; i < model->layers->size(); ++i) {
    x = (*model->layers)[i]->as<DecoderLayer>()->forward(x, step.mask, rotary, {}, {},
                                                         &state.layers[i]);
  }
  if (!all_positions) x = x.narrow(1, x.size(1) - 1, 1);
  return model->norm(x);
}

namespace {

// name -> file (relative to the model directory) for every stored tensor.
std::map<std::string, std::string> weight_files(const fs::path& dir) {
  if (fs::exists(dir / kSingleFile)) return {{"", kSingleFile}};
  const fs::path index_path = dir / kIndexFile;
  if (!fs::exists(index_path)) {
    fail("{}: holds neither {} nor {}", dir.string(), kSingleFile, kIndexFile);
  }
  const json index = read_json_file(index_path.string());
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    fail("{}: needs a \"weight_map\" object (tensor name -> file)", index_path.string());
  }
  std::map<std::string, std::string> files;
  for (const auto& [name, file] : index["weight_map"].items()) {
    if (!file.is_string() || fs::path(file.get<std::string>()).has_parent_path()) {
      fail("{}: weight_map[\"{}\"] must name a file in the directory", index_path.string(), name);
    }
    files[name] = file.get<std::string>();
  }
  return files;
}

// Tensors a file may hold that the model has no parameter for.
bool ignorable(const std::string& name, const CausalLMConfig& config) {
  const std::string inv_freq = "rotary_emb.inv_freq";  // a buffer older exports saved
  return (name.size() >= inv_freq.size() &&
          name.compare(name.size() - inv_freq.size(), inv_freq.size(), inv_freq) == 0) ||
         (name == "lm_head.weight" && config.tie_word_embeddings);
}

}  // namespace

void check_weights_hold_config(const CausalLMConfig& config, const std::string& dir) {
  std::set<std::string> shards;
  for (const auto& [name, file] : weight_files(dir)) shards.insert(file);
  // Two tensors every model has, whose shapes name the mismatched key in the loader's own words.
  const int64_t h = config.hidden_size;
  const std::map<std::string, std::vector<int64_t>> telltales = {
      {"model.embed_tokens.weight", {config.vocab_size, h}},
      {"model.layers.0.mlp.gate_proj.weight", {config.intermediate_size, h}}};
  int64_t stored = 0;
  for (const std::string& shard : shards) {
    const SafetensorsFile file((fs::path(dir) / shard).string());
    for (const SafetensorsEntry& entry : file.entries()) {
      const auto telltale = telltales.find(entry.name);
      if (telltale != telltales.end() && entry.shape != telltale->second) {
        fail("{}: tensor '{}' has shape [{}], the model expects [{}]", file.path(), entry.name,
             fmt::join(entry.shape, ", "), fmt::join(telltale->second, ", "));
      }
      int64_t values = 1;
      for (int64_t dim : entry.shape) values *= dim;
      stored += values;
    }
  }
  // Only a config that would allocate far more than its weights can fill is refused here; a
  // smaller difference (a tensor missing, a shape off) is left to the loader, which names the
  // tensor.
  const int64_t implied = parameter_count(config);
  if (implied > 2 * stored + kAllocationSlack) {
    fail(
        "{}: implies {} parameters but the weights beside it hold {} values: vocab_size, "
        "hidden_size, intermediate_size, num_hidden_layers or the head counts do not belong to "
        "these weights",
        (fs::path(dir) / kConfigFile).string(), implied, stored);
  }
}

CausalLM load_causal_lm(const std::string& dir_name, torch::ScalarType dtype,
                        torch::Device device) {
  const fs::path dir(dir_name);
  const fs::path config_path = dir / kConfigFile;
  if (!fs::exists(config_path)) fail("{}: no {}", dir_name, kConfigFile);
  const CausalLMConfig config =
      parse_causal_lm_config(read_json_file(config_path.string()), config_path.string());
  check_weights_hold_config(config, dir_name);
  CausalLM model(config);
  model->to(device, dtype);
  std::map<std::string, torch::Tensor> params;
  for (const auto& item : model->named_parameters()) params[item.key()] = item.value();

  // Shards in turn; one mapping at a time, each tensor copied (and converted) into its parameter.
  const auto files = weight_files(dir);
  std::set<std::string> shard_names;
  for (const auto& [name, file] : files) shard_names.insert(file);
  std::set<std::string> loaded;
  torch::NoGradGuard no_grad;
  for (const std::string& shard : shard_names) {
    const SafetensorsFile file((dir / shard).string());
    for (const SafetensorsEntry& entry : file.entries()) {
      if (ignorable(entry.name, model->config())) continue;
      auto param = params.find(entry.name);
      if (param == params.end()) {
        fail("{}: unexpected tensor '{}': a {} model with this config.json has no such parameter",
             file.path(), entry.name, model->config().model_type);
      }
      if (!param->second.sizes().equals(entry.shape)) {
        fail("{}: tensor '{}' has shape [{}], the model expects {}", file.path(), entry.name,
             fmt::join(entry.shape, ", "), param->second.sizes());
      }
      param->second.copy_(file.tensor(entry));
      loaded.insert(entry.name);
    }
  }
  for (const auto& [name, param] : params) {
    if (loaded.count(name) != 0) continue;
    const bool single = files.count("") != 0;
    if (!single && files.count(name) != 0) {
      fail("{}: {} lists tensor '{}' in {}, which does not hold it", dir_name, kIndexFile, name,
           files.at(name));
    }
    fail("{}: missing tensor '{}' (needed by a {} model with this config.json)",
         (dir / (single ? kSingleFile : kIndexFile)).string(), name, model->config().model_type);
  }
  model->eval();
  return model;
}

}  // namespace pride
