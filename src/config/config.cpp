// Implements config.h: one table of fields drives parsing, range checks and the YAML dump.
#include "config/config.h"

#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <variant>

#include "util/error.h"

namespace pride {
namespace {

using FieldPtr = std::variant<int64_t*, double*, bool*, std::string*, std::vector<std::string>*,
                              std::vector<double>*>;

struct Field {
  std::string key;
  FieldPtr target;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  std::vector<std::string> choices;  // for strings; empty means any
};

// The integer keys that may also be "auto" (held as kAuto, decided at run time).
bool allows_auto(const Field& field) {
  return field.key == "train.micro_batch_size";
}

constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<Field> fields_of(Config& c) {
  return {
      {"run.dir", &c.run.dir},
      {"run.seed", &c.run.seed, 0, kInf},
      {"run.log_every", &c.run.log_every, 1, kInf},
      {"run.device", &c.run.device, -kInf, kInf, {"auto", "cpu", "cuda"}},
      {"data.train", &c.data.train},
      {"data.eval", &c.data.eval},
      {"data.prefetch_batches", &c.data.prefetch_batches, 0, 1024},
      {"data.length_aware", &c.data.length_aware},
      {"model.vocab_size", &c.model.vocab_size, 0, 1e7},
      {"model.d_model", &c.model.d_model, 8, 65536},
      {"model.n_layers", &c.model.n_layers, 1, 1024},
      {"model.n_heads", &c.model.n_heads, 1, 1024},
      {"model.n_kv_heads", &c.model.n_kv_heads, 1, 1024},
      {"model.d_ff", &c.model.d_ff, 1, 1 << 20},
      {"model.max_seq_len", &c.model.max_seq_len, 8, 1 << 20},
      {"model.memory_slots", &c.model.memory_slots, 1, 4096},
      {"model.feature_source", &c.model.feature_source, -kInf, kInf, {"pi_slots", "response"}},
      {"model.rope_theta", &c.model.rope_theta, 1, kInf},
      {"model.norm_eps", &c.model.norm_eps, 0, 1},
      {"model.init_from", &c.model.init_from},
      {"model.freeze", &c.model.freeze},
      {"model.lora.rank", &c.model.lora_rank, 0, 65536},
      {"model.lora.alpha", &c.model.lora_alpha, -kInf, kInf},
      {"model.lora.dropout", &c.model.lora_dropout, 0, 0.999},
      {"model.lora.targets", &c.model.lora_targets},
      {"model.tokenizer", &c.model.tokenizer},
      {"model.chat", &c.model.chat, -kInf, kInf, {"auto", "off"}},
      {"pi.enabled", &c.pi.enabled},
      {"pi.real_pi_start", &c.pi.real_pi_start, 0, 1},
      {"pi.real_pi_end", &c.pi.real_pi_end, 0, 1},
      {"pi.align_weight", &c.pi.align_weight, 0, kInf},
      {"train.objective", &c.train.objective, -kInf, kInf, {"pride", "sft", "dpo"}},
      {"train.max_steps", &c.train.max_steps, 1, kInf},
      {"train.stop_at_step", &c.train.stop_at_step, 0, kInf},
      {"train.global_batch_size", &c.train.global_batch_size, 1, kInf},
      {"train.micro_batch_size", &c.train.micro_batch_size, 1, kInf},
      {"train.lr", &c.train.lr, 0, 10},
      {"train.min_lr_ratio", &c.train.min_lr_ratio, 0, 1},
      {"train.warmup_steps", &c.train.warmup_steps, 0, kInf},
      {"train.weight_decay", &c.train.weight_decay, 0, 10},
      {"train.beta1", &c.train.beta1, 0, 0.999999},
      {"train.beta2", &c.train.beta2, 0, 0.999999999},
      {"train.grad_clip", &c.train.grad_clip, 0, kInf},
      {"train.eval_every", &c.train.eval_every, 0, kInf},
      {"train.eval_samples", &c.train.eval_samples, 0, kInf},
      {"train.precision", &c.train.precision, -kInf, kInf, {"fp32", "bf16"}},
      {"train.activation_checkpointing", &c.train.activation_checkpointing},
      {"train.count_ops", &c.train.count_ops},
      {"train.max_skipped_steps", &c.train.max_skipped_steps, 0, kInf},
      {"train.peak_tflops", &c.train.peak_tflops, 0, 1e6},
      {"loss.ce_weight", &c.loss.ce_weight, 0, kInf},
      {"loss.rkl_weight", &c.loss.rkl_weight, 0, kInf},
      {"loss.mmd_weight", &c.loss.mmd_weight, 0, kInf},
      {"loss.emotion_weight", &c.loss.emotion_weight, 0, kInf},
      {"loss.emotion_kd_weight", &c.loss.emotion_kd_weight, 0, kInf},
      {"loss.rkl_temperature", &c.loss.rkl_temperature, 1e-3, 1e3},
      {"loss.rkl_tail_bucket", &c.loss.rkl_tail_bucket},
      {"loss.mmd_bandwidths", &c.loss.mmd_bandwidths, 1e-6, 1e6},
      {"dpo.beta", &c.dpo.beta, 1e-6, 1e6},
      {"dpo.loss", &c.dpo.loss, -kInf, kInf, {"sigmoid", "ipo", "hinge"}},
      {"dpo.label_smoothing", &c.dpo.label_smoothing, 0, 0.5},
      {"dpo.reference", &c.dpo.reference, -kInf, kInf, {"auto", "data", "online"}},
      {"eval.max_new_tokens", &c.eval.max_new_tokens, 1, 1 << 20},
      {"eval.min_new_tokens", &c.eval.min_new_tokens, 0, 1 << 20},
      {"eval.temperature", &c.eval.temperature, 0, 100},
      {"eval.top_k", &c.eval.top_k, 0, kInf},
      {"eval.top_p", &c.eval.top_p, 1e-9, 1},
      {"eval.seed", &c.eval.seed, 0, kInf},
      {"eval.batch_size", &c.eval.batch_size, 1, kInf},
      {"checkpoint.dir", &c.checkpoint.dir},
      {"checkpoint.every_steps", &c.checkpoint.every_steps, 0, kInf},
      {"checkpoint.keep", &c.checkpoint.keep, 1, kInf},
      {"checkpoint.keep_every", &c.checkpoint.keep_every, 0, kInf},
      {"checkpoint.async", &c.checkpoint.async},
      {"dist.backend", &c.dist.backend, -kInf, kInf, {"auto", "mpi", "nccl"}},
      {"dist.bucket_mb", &c.dist.bucket_mb, 0.001, 4096},
      {"dist.bucket_order", &c.dist.bucket_order, -kInf, kInf, {"ready", "reverse"}},
      {"dist.zero", &c.dist.zero, 0, 1},
      {"dist.timeout_s", &c.dist.timeout_s, 0.1, 86400 * 7},
      {"teach.teacher", &c.teach.teacher},
      {"teach.tokenizer", &c.teach.tokenizer},
      {"teach.input", &c.teach.input},
      {"teach.out", &c.teach.out},
      {"teach.topk", &c.teach.topk, 1, 1 << 16},
      {"teach.dtype", &c.teach.dtype, -kInf, kInf, {"fp32", "bf16", "fp16"}},
      {"teach.storage", &c.teach.storage, -kInf, kInf, {"fp32", "fp16"}},
      {"teach.hidden_tokens", &c.teach.hidden_tokens},
      {"teach.batch_size", &c.teach.batch_size, 1, 1 << 16},
      {"teach.part_size", &c.teach.part_size, 1, kInf},
      {"teach.max_context_tokens", &c.teach.max_context_tokens, 1, 1 << 24},
      {"teach.max_response_tokens", &c.teach.max_response_tokens, 2, 1 << 24},
      {"teach.turn_template", &c.teach.turn_template},
      {"teach.context_template", &c.teach.context_template},
      {"teach.response_prefix", &c.teach.response_prefix},
      {"teach.score_template", &c.teach.score_template},
      {"teach.reasoning", &c.teach.reasoning},
      {"teach.reasoning_template", &c.teach.reasoning_template},
      {"teach.reasoning_max_tokens", &c.teach.reasoning_max_tokens, 1, 1 << 20},
      {"teach.reasoning_temperature", &c.teach.reasoning_temperature, 0, 100},
      {"teach.reasoning_top_p", &c.teach.reasoning_top_p, 1e-9, 1},
      {"teach.seed", &c.teach.seed, 0, kInf},
      {"teach.progress_every_s", &c.teach.progress_every_s, 0, kInf},
      {"teach.chat", &c.teach.chat, -kInf, kInf, {"auto", "off"}},
      {"teach.system_prompt", &c.teach.system_prompt},
      {"teach.score_emotions", &c.teach.score_emotions},
      {"teach.emotion_template", &c.teach.emotion_template},
      {"teach.prompt_set", &c.teach.prompt_set, -kInf, kInf, {"default", "hef"}},
      {"teach.plugin", &c.teach.plugin},
      {"teach.plugin_top_emotions", &c.teach.plugin_top_emotions, 1, 1 << 10},
      {"teach.plugin_cause_words", &c.teach.plugin_cause_words, 1, 1 << 10},
      {"teach.plugin_attribution",
       &c.teach.plugin_attribution,
       -kInf,
       kInf,
       {"gradient_x_input", "integrated_gradients"}},
      {"teach.plugin_ig_steps", &c.teach.plugin_ig_steps, 1, 1 << 12},
      {"judge.model", &c.judge.model},
      {"judge.tokenizer", &c.judge.tokenizer},
      {"judge.dtype", &c.judge.dtype, -kInf, kInf, {"fp32", "bf16", "fp16"}},
      {"judge.chat", &c.judge.chat, -kInf, kInf, {"auto", "off"}},
      {"judge.system_prompt", &c.judge.system_prompt},
      {"judge.input", &c.judge.input},
      {"judge.a", &c.judge.a},
      {"judge.b", &c.judge.b},
      {"judge.a_field", &c.judge.a_field},
      {"judge.b_field", &c.judge.b_field},
      {"judge.out", &c.judge.out},
      {"judge.template", &c.judge.template_text},
      {"judge.batch_size", &c.judge.batch_size, 1, 1 << 16},
      {"judge.bootstrap", &c.judge.bootstrap, 0, 1 << 24},
      {"judge.confidence", &c.judge.confidence, 0.5, 0.9999},
      {"judge.seed", &c.judge.seed, 0, kInf},
      {"teach.mode", &c.teach.mode, -kInf, kInf, {"targets", "respond", "improve"}},
      {"teach.response_template", &c.teach.response_template},
      {"teach.improve_set",
       &c.teach.improve_set,
       -kInf,
       kInf,
       {"feeling", "situation", "invite", "warmth"}},
      {"teach.improve_template", &c.teach.improve_template},
      {"teach.response_max_tokens", &c.teach.response_max_tokens, 1, 1 << 20},
      {"teach.response_temperature", &c.teach.response_temperature, 0, 100},
      {"teach.response_top_p", &c.teach.response_top_p, 1e-9, 1},
      {"hef.out", &c.hef.out},
      {"hef.response_template", &c.hef.response_template},
      {"hef.max_new_tokens", &c.hef.max_new_tokens, 1, 1 << 20},
      {"hef.temperature", &c.hef.temperature, 0, 100},
      {"hef.top_p", &c.hef.top_p, 1e-9, 1},
  };
}

const char* type_name(const FieldPtr& target) {
  static const char* names[] = {"an integer", "a number",          "true or false",
                                "a string",   "a list of strings", "a list of numbers"};
  return names[target.index()];
}

template <typename T>
T scalar_as(const YAML::Node& node, const Field& field, const std::string& origin) {
  if (!node.IsScalar()) fail("{}: {} must be {}", origin, field.key, type_name(field.target));
  T value;
  if (!YAML::convert<T>::decode(node, value)) {
    fail("{}: {} must be {}, got '{}'", origin, field.key, type_name(field.target), node.Scalar());
  }
  return value;
}

void check_range(double value, const Field& field, const std::string& origin) {
  if (!(value >= field.min && value <= field.max)) {
    fail("{}: {} = {} is out of range [{}, {}]", origin, field.key, value, field.min, field.max);
  }
}

std::vector<std::string> strings_of(const YAML::Node& node, const Field& field,
                                    const std::string& origin) {
  if (node.IsScalar()) return {node.Scalar()};  // a single path is a list of one
  if (!node.IsSequence()) fail("{}: {} must be {}", origin, field.key, type_name(field.target));
  std::vector<std::string> out;
  for (const auto& item : node) out.push_back(scalar_as<std::string>(item, field, origin));
  return out;
}

void assign(const Field& field, const YAML::Node& node, const std::string& origin) {
  std::visit(
      [&](auto* target) {
        using T = std::remove_pointer_t<decltype(target)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          if (allows_auto(field) && node.IsScalar() && node.Scalar() == "auto") {
            *target = kAuto;
            return;
          }
        }
        if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
          T value = scalar_as<T>(node, field, origin);
          check_range(static_cast<double>(value), field, origin);
          *target = value;
        } else if constexpr (std::is_same_v<T, bool>) {
          *target = scalar_as<bool>(node, field, origin);
        } else if constexpr (std::is_same_v<T, std::string>) {
          std::string value = node.IsNull() ? "" : scalar_as<std::string>(node, field, origin);
          if (!field.choices.empty() &&
              std::find(field.choices.begin(), field.choices.end(), value) == field.choices.end()) {
            fail("{}: {} = '{}' must be one of: {}", origin, field.key, value,
                 fmt::join(field.choices, ", "));
          }
          *target = value;
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          *target = node.IsNull() ? T{} : strings_of(node, field, origin);
        } else {
          if (!node.IsSequence())
            fail("{}: {} must be {}", origin, field.key, type_name(field.target));
          T values;
          for (const auto& item : node) {
            values.push_back(scalar_as<double>(item, field, origin));
            check_range(values.back(), field, origin);
          }
          *target = values;
        }
      },
      field.target);
}

// Walks a YAML mapping, assigning each leaf to the field of the same dotted key.
void apply_node(std::vector<Field>& fields, const YAML::Node& node, const std::string& prefix,
                const std::string& origin) {
  for (const auto& entry : node) {
    const std::string key = prefix + entry.first.as<std::string>();
    auto field =
        std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.key == key; });
    if (field != fields.end()) {
      assign(*field, entry.second, origin);
      continue;
    }
    const bool is_section = std::any_of(fields.begin(), fields.end(), [&](const Field& f) {
      return f.key.rfind(key + ".", 0) == 0;
    });
    if (!is_section) fail("{}: unknown key '{}'", origin, key);
    if (!entry.second.IsMap()) fail("{}: '{}' is a section and must be a mapping", origin, key);
    apply_node(fields, entry.second, key + ".", origin);
  }
}

YAML::Node parse_yaml(const std::string& text, const std::string& origin) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail("{}: invalid YAML at line {}: {}", origin, e.mark.line + 1, e.msg);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open config file", path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

void apply_yaml(Config& config, const std::string& yaml_text, const std::string& origin) {
  YAML::Node root = parse_yaml(yaml_text, origin);
  if (root.IsNull()) return;
  if (!root.IsMap()) fail("{}: the top level must be a mapping of sections", origin);
  auto fields = fields_of(config);
  apply_node(fields, root, "", origin);
}

namespace {

// LoRA adapts a pretrained model's decoder projections (the names PEFT's target_modules uses).
void validate_lora(const Config& c, const std::string& origin) {
  const ModelConfig& model = c.model;
  if (model.lora_rank == 0) return;
  if (model.init_from.empty()) {
    fail("{}: model.lora.rank = {} needs model.init_from (the pretrained model it adapts)", origin,
         model.lora_rank);
  }
  if (model.lora_targets.empty()) fail("{}: model.lora.targets must not be empty", origin);
  for (const auto& target : model.lora_targets) {
    if (!is_lora_target(target)) {
      fail("{}: model.lora.targets holds '{}'; the targets are {}", origin, target,
           fmt::join(kLoraTargets, ", "));
    }
  }
  // Recomputing a block in backward would draw other dropout masks than its forward did.
  if (model.lora_dropout > 0 && c.train.activation_checkpointing) {
    fail("{}: model.lora.dropout > 0 does not go with train.activation_checkpointing", origin);
  }
}

}  // namespace

void validate(const Config& c) {
  const std::string origin = "config";
  if (c.model.n_heads % c.model.n_kv_heads != 0) {
    fail("{}: model.n_heads ({}) must be a multiple of model.n_kv_heads ({})", origin,
         c.model.n_heads, c.model.n_kv_heads);
  }
  if (c.model.d_model % c.model.n_heads != 0 || (c.model.d_model / c.model.n_heads) % 2 != 0) {
    fail("{}: model.d_model ({}) must split into model.n_heads ({}) heads of even width", origin,
         c.model.d_model, c.model.n_heads);
  }
  if (c.dpo.label_smoothing > 0 && c.dpo.loss != "sigmoid") {
    fail("{}: dpo.label_smoothing ({}) applies to dpo.loss sigmoid only, not {}", origin,
         c.dpo.label_smoothing, c.dpo.loss);
  }
  // MMD^2 compares two samples of features, each of at least two rows (mmd2_unbiased).
  if (c.train.objective == "pride" && c.loss.mmd_weight > 0 && c.train.global_batch_size < 2) {
    fail(
        "{}: loss.mmd_weight > 0 needs train.global_batch_size >= 2 (MMD compares batches of "
        "features); got a global batch of {}. Set loss.mmd_weight=0 to train on single samples",
        origin, c.train.global_batch_size);
  }
  if (c.loss.mmd_bandwidths.empty()) fail("{}: loss.mmd_bandwidths must not be empty", origin);
  if (c.teach.prompt_set == "hef" && c.teach.plugin.empty()) {
    fail("{}: teach.prompt_set hef needs teach.plugin (the checkpoint whose hints it shows)",
         origin);
  }
  for (const auto& part : c.model.freeze) {
    if (part != "embeddings" && part != "decoder" && part != "lm_head" && part != "memory") {
      fail("{}: model.freeze holds '{}'; the parts are embeddings, decoder, lm_head and memory",
           origin, part);
    }
  }
  validate_lora(c, origin);
}

Config load_config(const std::vector<std::string>& files,
                   const std::vector<std::string>& overrides) {
  Config config;
  for (const auto& path : files) apply_yaml(config, read_file(path), path);
  for (const auto& item : overrides) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      fail("--set {}: expected dotted.key=value", item);
    }
    const std::string key = item.substr(0, eq);
    // Build the nested mapping {a: {b: value}} for key "a.b" and apply it like a file.
    std::string yaml = item.substr(eq + 1);
    std::string indent;
    std::string nested;
    size_t start = 0;
    while (true) {
      const auto dot = key.find('.', start);
      nested += indent + key.substr(start, dot - start) + ":";
      if (dot == std::string::npos) break;
      nested += "\n";
      indent += "  ";
      start = dot + 1;
    }
    apply_yaml(config, nested + " " + yaml + "\n", "--set " + item);
  }
  validate(config);
  return config;
}

std::string to_yaml(const Config& const_config, const std::vector<std::string>& sections) {
  Config config = const_config;  // fields_of takes mutable pointers; we only read through them
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string section;
  for (const auto& field : fields_of(config)) {
    const auto dot = field.key.find('.');
    const std::string field_section = field.key.substr(0, dot);
    if (!sections.empty() &&
        std::find(sections.begin(), sections.end(), field_section) == sections.end()) {
      continue;
    }
    if (field_section != section) {
      if (!section.empty()) out << YAML::EndMap;
      out << YAML::Key << field_section << YAML::Value << YAML::BeginMap;
      section = field_section;
    }
    out << YAML::Key << field.key.substr(dot + 1) << YAML::Value;
    std::visit(
        [&](auto* target) {
          using T = std::remove_pointer_t<decltype(target)>;
          if constexpr (std::is_same_v<T, std::vector<std::string>> ||
                        std::is_same_v<T, std::vector<double>>) {
            out << YAML::Flow << YAML::BeginSeq;
            for (const auto& v : *target) out << v;
            out << YAML::EndSeq;
          } else if constexpr (std::is_same_v<T, int64_t>) {
            if (allows_auto(field) && *target == kAuto) {
              out << "auto";
            } else {
              out << *target;
            }
          } else {
            out << *target;
          }
        },
        field.target);
  }
  if (!section.empty()) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace pride
