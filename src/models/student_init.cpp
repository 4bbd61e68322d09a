// Implements models/student_init.h: the student's description, pretrained initialisation,
// freezing, and loading a trained student from a checkpoint or an export.
#include "models/student_init.h"

#include <fmt/ranges.h>

#include <cctype>
#include <filesystem>
#include <limits>
#include <numeric>
#include <set>

#include "checkpoints/checkpoint.h"
#include "checkpoints/manifest.h"
#include "checkpoints/protocol.h"
#include "checkpoints/safetensors.h"
#include "io/file_io.h"
#include "io/json_file.h"
#include "models/causal_lm.h"
#include "text/tokenizer.h"
#include "util/error.h"

namespace pride {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kCardFile[] = "student.json";
constexpr char kCardFormat[] = "pride-student";
constexpr char kParamsTensor[] = "model.params";

// A shape key takes the pretrained model's value unless it was set to something else.
template <typename T>
void adopt(T& value, T fallback, T theirs, const char* key, const char* their_key,
           const std::string& path) {
  if (value != fallback && value != theirs) {
    fail("model.{} = {} disagrees with {}: \"{}\" = {} (leave model.{} unset: init_from decides)",
         key, value, path, their_key, theirs, key);
  }
  value = theirs;
}

void adopt_shape(ModelConfig& model, const CausalLMConfig& c, const std::string& path) {
  const ModelConfig defaults;
  adopt(model.vocab_size, defaults.vocab_size, c.vocab_size, "vocab_size", "vocab_size", path);
  adopt(model.d_model, defaults.d_model, c.hidden_size, "d_model", "hidden_size", path);
  adopt(model.n_layers, defaults.n_layers, c.num_hidden_layers, "n_layers", "num_hidden_layers",
        path);
  adopt(model.n_heads, defaults.n_heads, c.num_attention_heads, "n_heads", "num_attention_heads",
        path);
  adopt(model.n_kv_heads, defaults.n_kv_heads, c.num_key_value_heads, "n_kv_heads",
        "num_key_value_heads", path);
  adopt(model.d_ff, defaults.d_ff, c.intermediate_size, "d_ff", "intermediate_size", path);
  adopt(model.rope_theta, defaults.rope_theta, c.rope.theta, "rope_theta", "rope_theta", path);
  adopt(model.norm_eps, defaults.norm_eps, c.rms_norm_eps, "norm_eps", "rms_norm_eps", path);
}

// model.tokenizer, else init_from's own tokenizer files; absolute, so that it survives a cd.
std::string tokenizer_reference(const ModelConfig& model) {
  if (!model.tokenizer.empty()) return fs::absolute(model.tokenizer).string();
  if (model.init_from.empty()) return "";
  for (const char* name : {"tokenizer.json", "tokenizer.model"}) {
    if (fs::exists(fs::path(model.init_from) / name)) return fs::absolute(model.init_from).string();
  }
  return "";
}

std::string config_json_of(const std::string& dir) {
  return (fs::path(dir) / "config.json").string();
}

// Embeddings, decoder blocks, final norm and LM head from the Hugging Face model in `dir` (its
// names without the "model." prefix are the student's); cross-attention outputs zeroed.
void copy_pretrained(StudentImpl& student, const std::string& dir) {
  CausalLM lm = load_causal_lm(dir);
  auto mine = student.named_parameters();
  torch::NoGradGuard no_grad;
  auto param = [&](const std::string& name) -> torch::Tensor& {
    auto* found = mine.find(name);
    if (found == nullptr) fail("model.init_from {}: the student has no parameter '{}'", dir, name);
    return *found;
  };
  for (const auto& item : lm->named_parameters()) {
    const std::string& name = item.key();
    param(name.rfind("model.", 0) == 0 ? name.substr(6) : name).copy_(item.value());
  }
  if (lm->config().tie_word_embeddings) param("lm_head.weight").copy_(param("embed_tokens.weight"));
  for (auto& item : mine) {
    if (item.key().find(".cross_attn.o_proj.") != std::string::npos) item.value().zero_();
  }
}

}  // namespace

bool is_adapter(const std::string& name) {
  return name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos;
}

bool in_part(const std::string& name, const std::string& part) {
  if (is_adapter(name)) return false;
  if (part == "embeddings") return name == "embed_tokens.weight";
  if (part == "lm_head") return name == "lm_head.weight";
  // What PRIDE adds to the language model: cross-attention, the memory and PI modules, the heads.
  if (part == "memory") {
    return !in_part(name, "embeddings") && !in_part(name, "lm_head") && !in_part(name, "decoder");
  }
  // The pretrained decoder: its blocks without the cross-attention PRIDE adds, and the final norm.
  return (name.rfind("layers.", 0) == 0 && name.find(".cross_attn") == std::string::npos) ||
         name == "norm.weight";
}

namespace {

// model.freeze, and with LoRA the whole language model (only its adapters train, as with PEFT).
std::vector<std::string> frozen_parts(const ModelConfig& model) {
  std::vector<std::string> parts = model.freeze;
  if (model.lora_rank > 0) parts.insert(parts.end(), {"embeddings", "decoder", "lm_head"});
  return parts;
}

void freeze(StudentImpl& student, const std::vector<std::string>& parts) {
  for (auto& item : student.named_parameters()) {
    // Heads sized by what the data lack (no emotions, no teacher: preference data) hold nothing
    // to train, and no slice of the flat buffers.
    if (item.value().numel() == 0) item.value().set_requires_grad(false);
    for (const auto& part : parts) {
      if (in_part(item.key(), part)) item.value().set_requires_grad(false);
    }
  }
}

// Copies each named tensor into the student's parameter of that name; every parameter once.
void load_parameters(StudentImpl& student,
                     const std::vector<std::pair<std::string, torch::Tensor>>& named,
                     const std::string& origin) {
  auto mine = student.named_parameters();
  std::set<std::string> loaded;
  torch::NoGradGuard no_grad;
  for (const auto& [name, value] : named) {
    auto* param = mine.find(name);
    if (param == nullptr) fail("{}: tensor '{}' is not a parameter of the student", origin, name);
    if (!param->sizes().equals(value.sizes())) {
      fail("{}: tensor '{}' has shape {}, the student's is {}", origin, name, value.sizes(),
           param->sizes());
    }
    param->copy_(value);
    loaded.insert(name);
  }
  for (const auto& item : mine) {
    if (loaded.count(item.key()) == 0) fail("{}: no tensor '{}'", origin, item.key());
  }
}

// An integer of the card (`origin` the card, `prefix` the object it is in); a float, a string or
// 2^64 - 1 is an error naming it.
int64_t card_integer(const json& object, const char* key, const std::string& origin,
                     const char* prefix) {
  const json& value = object.at(key);  // missing: a json::out_of_range naming the key
  if (!value.is_number_integer() ||
      (value.is_number_unsigned() &&
       value.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))) {
    fail("{}: \"{}{}\" must be an integer, got {}", origin, prefix, key, value.dump());
  }
  return value.get<int64_t>();
}

// The card's data shape, each value in its range: a damaged card must not size the student's
// layers (a negative width, or 2^40).
void check_dataset_info(const DatasetInfo& info, const std::string& origin) {
  constexpr int64_t kMost = int64_t{1} << 24;
  const auto in_range = [&](const char* key, int64_t value, int64_t least, int64_t most) {
    if (value < least || value > most) {
      fail("{}: \"data.{}\" must be in [{}, {}], got {}", origin, key, least, most, value);
    }
  };
  in_range("vocab_size", info.vocab_size, 1, kMost);
  in_range("num_emotions", info.num_emotions, 0, kMost);  // 0: preference data
  for (const auto& [key, id] : {std::pair<const char*, int64_t>{"pad_id", info.pad_id},
                                {"bos_id", info.bos_id},
                                {"eos_id", info.eos_id}}) {
    in_range(key, id, 0, info.vocab_size - 1);
  }
  in_range("topk", info.topk, 0, kMost);
  in_range("teacher_hidden", info.teacher_hidden, 0, kMost);
  in_range("audio_dim", info.audio_dim, 0, kMost);
  in_range("visual_dim", info.visual_dim, 0, kMost);
}

// A lower bound on the student's parameters: embeddings and LM head, each block's self- and
// cross-attention (query and output projections) and MLP, the two PI resamplers' attention and
// MLP, and the layers the data shape sizes. In double: a damaged card may multiply past 2^63.
double student_parameters_at_least(const StudentSpec& spec, const StudentArch& arch) {
  const double d = static_cast<double>(arch.block.d_model);
  const double q = static_cast<double>(arch.block.n_heads * arch.head_dim());
  const double mlp = 3.0 * d * static_cast<double>(arch.block.d_ff);
  const DatasetInfo& info = spec.info;
  return 2.0 * d * static_cast<double>(arch.vocab_size) +
         static_cast<double>(arch.n_layers) * (4.0 * d * q + mlp) + 2.0 * (2.0 * d * d + mlp) +
         d * static_cast<double>(spec.model.memory_slots + info.audio_dim + info.visual_dim +
                                 info.num_emotions + info.teacher_hidden);
}

// Before the student is built: a description implying far more parameters than the `stored`
// values of its weights (over twice, plus 2^20) does not belong to them, and is refused before
// a layer is allocated (model_yaml's n_layers 1024 over one layer's weights, say). Smaller
// differences are load_parameters' to name.
void check_weights_hold_student(const StudentSpec& spec, int64_t stored,
                                const std::string& origin) {
  const double implied = student_parameters_at_least(spec, spec.arch());
  if (implied > 2.0 * static_cast<double>(stored) + double(1 << 20)) {
    fail(
        "{}: the student description implies at least {:.0f} parameters but its weights hold {} "
        "values: the description does not belong to these weights",
        origin, implied, stored);
  }
}

// A checkpoint directory, or the one a checkpoint root's `latest` names.
fs::path checkpoint_dir(const fs::path& path) {
  if (fs::exists(path / kManifestFile)) return path;
  if (const auto latest = read_latest(path.string())) return *latest;
  fail("{}: neither a checkpoint (no {}), a checkpoint root (no latest) nor an export (no {})",
       path.string(), kManifestFile, kCardFile);
}

// The description a checkpoint's manifest carries.
StudentSpec checkpoint_spec(const fs::path& dir, const Manifest& manifest) {
  if (!manifest.extra.is_object() || !manifest.extra.contains("student")) {
    fail(
        "{}: the checkpoint carries no student description (saved by an older pride); evaluate "
        "it with pride eval --config",
        dir.string());
  }
  return StudentSpec::from_json(manifest.extra["student"], dir.string());
}

LoadedStudent load_from_checkpoint(const fs::path& dir, const torch::Device& device) {
  const Manifest manifest = read_manifest((dir / kManifestFile).string());
  LoadedStudent out{checkpoint_spec(dir, manifest), Student{nullptr}, manifest.step, dir.string()};
  size_t index = 0;
  while (index < manifest.tensors.size() && manifest.tensors[index].name != kParamsTensor) ++index;
  if (index == manifest.tensors.size() || manifest.tensors[index].dtype != "float32") {
    fail("{}: no float32 tensor '{}'", dir.string(), kParamsTensor);
  }
  check_weights_hold_student(out.spec, manifest.tensors[index].length, dir.string());
  out.model = make_student(out.spec, torch::kCPU, /*load_pretrained=*/false);
  const torch::Tensor flat = read_owned_parts(dir.string(), manifest, 0, 1)[index];
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const ParamSlice& slice : manifest.params) {
    int64_t numel = 1;
    for (int64_t size : slice.shape) numel *= size;
    named.emplace_back(slice.name, flat.narrow(0, slice.offset, numel).view(slice.shape));
  }
  load_parameters(*out.model, named, dir.string());
  return out;
}

// A relative path read from `card_path` that stays inside the card's directory: no "..", not
// absolute (`what` names the key in the error).
fs::path inside_card_dir(const std::string& relative, const std::string& card_path,
                         const char* what) {
  const fs::path path = fs::path(relative).lexically_normal();
  if (relative.empty() || path.is_absolute() || *path.begin() == "..") {
    fail("{}: \"{}\" is '{}', which is not a path inside the card's directory", card_path, what,
         relative);
  }
  return path;
}

// The description an export's card (student.json in `dir`) holds, its tokenizer made a path.
StudentSpec export_spec(const fs::path& dir, const json& card, const std::string& card_path) {
  StudentSpec spec = StudentSpec::from_json(card, card_path);
  if (!spec.tokenizer.empty() && fs::path(spec.tokenizer).is_relative()) {
    spec.tokenizer = (dir / inside_card_dir(spec.tokenizer, card_path, "tokenizer")).string();
  }
  return spec;
}

LoadedStudent load_from_export(const fs::path& dir, const torch::Device& device) {
  const std::string card_path = (dir / kCardFile).string();
  const json card = read_json_file(card_path);
  LoadedStudent out{export_spec(dir, card, card_path), Student{nullptr}, 0, ""};
  if (!card.contains("weights") || !card["weights"].is_string()) {
    fail("{}: needs \"weights\", the safetensors file's name", card_path);
  }
  out.path =
      (dir / inside_card_dir(card["weights"].get<std::string>(), card_path, "weights")).string();
  out.step = card.contains("step") ? card_integer(card, "step", card_path, "") : 0;
  if (out.step < 0) fail("{}: \"step\" must not be negative, got {}", card_path, out.step);
  const SafetensorsFile file(out.path);
  int64_t stored = 0;
  for (const auto& entry : file.entries()) {
    stored += std::accumulate(entry.shape.begin(), entry.shape.end(), int64_t{1},
                              std::multiplies<int64_t>());  // each below the file's size
  }
  check_weights_hold_student(out.spec, stored, out.path);
  out.model = make_student(out.spec, torch::kCPU, /*load_pretrained=*/false);
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& entry : file.entries()) named.emplace_back(entry.name, file.tensor(entry));
  load_parameters(*out.model, named, out.path);
  return out;
}

// Copies the tokenizer (a file, or a directory's tokenizer files) into `dir`; returns its new
// name relative to `dir`, or the reference unchanged when it is gone.
std::string copy_tokenizer(const std::string& reference, const fs::path& dir) {
  const fs::path source(reference);
  if (fs::is_regular_file(source)) {
    fs::copy_file(source, dir / source.filename(), fs::copy_options::overwrite_existing);
    return source.filename().string();
  }
  if (!fs::is_directory(source)) return reference;
  copy_tokenizer_files(reference, (dir / "tokenizer").string());
  return "tokenizer";
}

// The model section alone, as YAML: what the card needs to rebuild the student.
std::string model_yaml(const ModelConfig& model) {
  Config config;
  config.model = model;
  return to_yaml(config, {"model"});
}

}  // namespace

StudentArch StudentSpec::arch() const {
  if (pretrained.is_null()) return arch_from_keys(model, info);
  const std::string origin = config_json_of(model.init_from);
  const CausalLMConfig c = parse_causal_lm_config(pretrained, origin);
  if (c.sliding_window > 0 && c.sliding_window < model.max_seq_len) {
    fail(
        "{}: a sliding window ({}) shorter than model.max_seq_len ({}) is not supported for the "
        "student",
        origin, c.sliding_window, model.max_seq_len);
  }
  StudentArch arch;
  arch.vocab_size = c.vocab_size;
  arch.n_layers = c.num_hidden_layers;
  arch.block = c.block_shape();
  arch.rope = c.rope;
  arch.eos_ids = c.eos_token_ids.empty() ? std::vector<int64_t>{info.eos_id} : c.eos_token_ids;
  return arch;
}

namespace {

// A card's list of names ("data.<key>"): an array of strings.
std::vector<std::string> card_names(const json& names, const std::string& origin, const char* key) {
  std::vector<std::string> out;
  for (const json& name : names.is_array() ? names : json::array({nullptr})) {
    if (!name.is_string()) {
      fail("{}: \"data.{}\" must be a list of names, got {}", origin, key, names.dump());
    }
    out.push_back(name.get<std::string>());
  }
  return out;
}

}  // namespace

json StudentSpec::to_json() const {
  return {{"format", kCardFormat},
          {"version", 1},
          {"model_yaml", model_yaml(model)},
          {"seed", seed},
          {"data",
           {{"vocab_size", info.vocab_size},
            {"num_emotions", info.num_emotions},
            {"pad_id", info.pad_id},
            {"bos_id", info.bos_id},
            {"eos_id", info.eos_id},
            {"topk", info.topk},
            {"teacher_hidden", info.teacher_hidden},
            {"audio_dim", info.audio_dim},
            {"visual_dim", info.visual_dim},
            {"privileged_sources", info.privileged_sources},
            {"emotion_labels", info.emotion_labels},
            {"tokenizer_identity", info.tokenizer}}},
          {"pretrained", pretrained},
          {"tokenizer", tokenizer}};
}

StudentSpec StudentSpec::from_json(const json& card, const std::string& origin) {
  // Compared as JSON: value("format", "") throws a json::exception when it is not a string.
  if (!card.is_object() || !card.contains("format") || card["format"] != kCardFormat ||
      !card.contains("data")) {
    fail("{}: not a pride student description (\"format\": \"{}\")", origin, kCardFormat);
  }
  StudentSpec spec;
  try {
    // Cards before model_yaml held the run's whole config; its model and seed are what counts.
    const bool whole_config = !card.contains("model_yaml");
    const char* yaml_key = whole_config ? "config_yaml" : "model_yaml";
    Config config;
    if (!card.at(yaml_key).is_string()) fail("{}: \"{}\" must be a string", origin, yaml_key);
    apply_yaml(config, card.at(yaml_key).get<std::string>(), origin + " " + yaml_key);
    spec.model = config.model;
    spec.seed = whole_config ? config.run.seed : card_integer(card, "seed", origin, "");
    const json& data = card.at("data");
    if (!data.is_object()) fail("{}: \"data\" must be an object", origin);
    DatasetInfo& info = spec.info;
    info.vocab_size = card_integer(data, "vocab_size", origin, "data.");
    info.num_emotions = card_integer(data, "num_emotions", origin, "data.");
    info.pad_id = card_integer(data, "pad_id", origin, "data.");
    info.bos_id = card_integer(data, "bos_id", origin, "data.");
    info.eos_id = card_integer(data, "eos_id", origin, "data.");
    info.topk = card_integer(data, "topk", origin, "data.");
    info.teacher_hidden = card_integer(data, "teacher_hidden", origin, "data.");
    info.audio_dim = card_integer(data, "audio_dim", origin, "data.");
    info.visual_dim = card_integer(data, "visual_dim", origin, "data.");
    info.privileged_sources =
        card_names(data.at("privileged_sources"), origin, "privileged_sources");
    // Cards before HEF (docs/hef.md) have neither: no labels and no tokenizer identity known.
    if (data.contains("emotion_labels")) {
      info.emotion_labels = card_names(data["emotion_labels"], origin, "emotion_labels");
      if (!info.emotion_labels.empty() &&
          static_cast<int64_t>(info.emotion_labels.size()) != info.num_emotions) {
        fail("{}: \"data.emotion_labels\" names {} labels for {} emotions", origin,
             info.emotion_labels.size(), info.num_emotions);
      }
    }
    if (data.contains("tokenizer_identity")) {
      if (!data["tokenizer_identity"].is_string()) {
        fail("{}: \"data.tokenizer_identity\" must be a string", origin);
      }
      info.tokenizer = data["tokenizer_identity"].get<std::string>();
    }
    spec.pretrained = card.value("pretrained", json());
    if (!spec.pretrained.is_null() && !spec.pretrained.is_object()) {
      fail("{}: \"pretrained\" must be a config.json object or null", origin);
    }
    spec.tokenizer =
        card.value("tokenizer", json()).is_string() ? card["tokenizer"].get<std::string>() : "";
  } catch (const json::exception& e) {
    fail("{}: broken student description: {}", origin, e.what());
  }
  check_dataset_info(spec.info, origin);
  return spec;
}

// Data that records its tokenizer (`pride teach` does) must have been made with the student's.
void check_data_tokenizer(const DatasetInfo& info, const std::string& tokenizer) {
  if (tokenizer.empty() || info.tokenizer.empty()) return;
  const std::string identity = text::load_tokenizer(tokenizer)->identity();
  if (identity != info.tokenizer) {
    fail(
        "the data set was tokenized by {} but the student's tokenizer {} is {}: its token ids "
        "(and the teacher's top-K) would mean other tokens to the student. Teach the data with the "
        "student's tokenizer",
        info.tokenizer, tokenizer, identity);
  }
}

void copy_tokenizer_files(const std::string& reference, const std::string& dir) {
  const fs::path source(reference);
  fs::create_directories(dir);
  if (fs::is_regular_file(source)) {
    fs::copy_file(source, fs::path(dir) / source.filename(), fs::copy_options::overwrite_existing);
    return;
  }
  for (const auto& entry : fs::directory_iterator(source)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() &&
        (name.rfind("tokenizer", 0) == 0 || name == "special_tokens_map.json" ||
         name == "chat_template.jinja")) {
      fs::copy_file(entry.path(), fs::path(dir) / name, fs::copy_options::overwrite_existing);
    }
  }
}

bool is_pride_student(const std::string& path) {
  const fs::path dir(path);
  return !path.empty() && (fs::exists(dir / kCardFile) || fs::exists(dir / kManifestFile) ||
                           read_latest(path).has_value());
}

namespace {

// model.init_from naming a pride student (a checkpoint, a checkpoint root or an export: the SFT
// stage before DPO, say): its architecture, pretrained config and tokenizer, with this run's seed,
// data shape and freeze list.
// The description of the pride student at `path` (an export, a checkpoint or a checkpoint root),
// read without its weights.
StudentSpec stored_spec(const std::string& path) {
  const fs::path given(path);
  if (fs::exists(given / kCardFile)) {
    const std::string card_path = (given / kCardFile).string();
    return export_spec(given, read_json_file(card_path), card_path);
  }
  const fs::path dir = checkpoint_dir(given);
  return checkpoint_spec(dir, read_manifest((dir / kManifestFile).string()));
}

StudentSpec spec_from_student(const ModelConfig& model, int64_t seed, const DatasetInfo& info) {
  StudentSpec spec = stored_spec(model.init_from);
  const int64_t vocab_size = spec.arch().vocab_size;
  spec.seed = seed;
  spec.info = info;
  spec.model.init_from = model.init_from;
  spec.model.freeze = model.freeze;
  spec.model.lora_rank = model.lora_rank;
  spec.model.lora_alpha = model.lora_alpha;
  spec.model.lora_dropout = model.lora_dropout;
  spec.model.lora_targets = model.lora_targets;
  spec.model.chat = model.chat;
  if (!model.tokenizer.empty()) spec.tokenizer = fs::absolute(model.tokenizer).string();
  check_data_tokenizer(info, spec.tokenizer);
  if (info.vocab_size != vocab_size) {
    fail(
        "the data set's vocabulary has {} tokens but the student in model.init_from {} has {}: "
        "make the data with its tokenizer",
        info.vocab_size, model.init_from, vocab_size);
  }
  return spec;
}

// The weights of the pride student in `path` that `student` shares (every parameter of the
// decoder, embeddings and LM head; the heads and projections the data shape sizes where their
// shapes agree, the others stay as seeded).
void copy_student(StudentImpl& student, const std::string& path) {
  const LoadedStudent start = load_student(path, torch::kCPU);
  auto theirs = start.model->named_parameters();
  auto mine = student.named_parameters();
  for (const auto& item : theirs) {
    if (is_adapter(item.key()) && mine.find(item.key()) == nullptr) {
      fail(
          "model.init_from {}: its student has LoRA adapters ('{}') that this run's model.lora "
          "does not: start from its merged weights (pride ckpt export --merged DIR) instead",
          path, item.key());
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& item : student.named_parameters()) {
    const auto* source = theirs.find(item.key());
    const bool fits = source != nullptr && source->sizes().equals(item.value().sizes());
    if (fits) {
      item.value().copy_(*source);
    } else if (in_part(item.key(), "decoder") || in_part(item.key(), "embeddings") ||
               in_part(item.key(), "lm_head")) {
      fail("model.init_from {}: its student has no parameter '{}' of shape {}", path, item.key(),
           item.value().sizes());
    }
  }
}

}  // namespace

StudentSpec student_spec(const ModelConfig& model, int64_t seed, const DatasetInfo& info) {
  if (is_pride_student(model.init_from)) return spec_from_student(model, seed, info);
  StudentSpec spec{model, seed, info, json(), tokenizer_reference(model)};
  check_data_tokenizer(info, spec.tokenizer);
  const std::string& dir = model.init_from;
  if (dir.empty()) return spec;
  const std::string path = config_json_of(dir);
  if (!fs::exists(path)) fail("model.init_from: {} holds no config.json", dir);
  spec.pretrained = read_json_file(path);
  const CausalLMConfig c = parse_causal_lm_config(spec.pretrained, path);
  check_weights_hold_config(c, dir);
  adopt_shape(spec.model, c, path);
  if (info.vocab_size != c.vocab_size) {
    fail(
        "the data set's vocabulary has {} tokens but model.init_from {} has {}: make the data "
        "with that model's tokenizer",
        info.vocab_size, dir, c.vocab_size);
  }
  return spec;
}

Student make_student(const StudentSpec& spec, const torch::Device& device, bool load_pretrained) {
  torch::manual_seed(static_cast<uint64_t>(spec.seed));
  Student model(spec.model, spec.info, spec.arch());
  model->add_lora(spec.model);  // before copying: a LoRA student's adapters are copied too
  if (load_pretrained && is_pride_student(spec.model.init_from)) {
    copy_student(*model, spec.model.init_from);
  } else if (load_pretrained && !spec.pretrained.is_null()) {
    copy_pretrained(*model, spec.model.init_from);
  }
  freeze(*model, frozen_parts(spec.model));
  model->to(device);
  model->pack_frozen_weights();  // after to(): a move to another device copies each weight apart
  return model;
}

LoadedStudent load_student(const std::string& path, const torch::Device& device) {
  const fs::path given(path);
  LoadedStudent out = fs::exists(given / kCardFile)
                          ? load_from_export(given, device)
                          : load_from_checkpoint(checkpoint_dir(given), device);
  out.model->to(device);
  out.model->pack_frozen_weights();
  out.model->eval();
  return out;
}

std::string write_student_card(const std::string& checkpoint_path,
                               const std::string& weights_file) {
  const Manifest manifest = read_manifest((fs::path(checkpoint_path) / kManifestFile).string());
  if (!manifest.extra.is_object() || !manifest.extra.contains("student")) return "";
  const fs::path dir = fs::absolute(weights_file).parent_path();
  json card = manifest.extra["student"];
  if (card.value("tokenizer", json()).is_string() &&
      !card["tokenizer"].get<std::string>().empty()) {
    card["tokenizer"] = copy_tokenizer(card["tokenizer"].get<std::string>(), dir);
  }
  card["weights"] = fs::path(weights_file).filename().string();
  card["step"] = manifest.step;
  const std::string out = (dir / kCardFile).string();
  replace_file_atomically(out, card.dump(2) + "\n");
  return out;
}

}  // namespace pride
