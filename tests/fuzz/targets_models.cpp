// Fuzz targets of the LibTorch-side model readers (pride_fuzz_torch, docs/robustness.md): a
// Hugging Face model directory (config.json held against its safetensors weights, then a forward
// pass), a student checkpoint (`latest`, manifest.json and the student card in its "extra") and
// an exported student (student.json beside its weights), each loaded as `pride generate` does.
#include <fmt/format.h>
#include <torch/torch.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>

#include "checkpoints/checkpoint.h"
#include "checkpoints/manifest.h"
#include "checkpoints/protocol.h"
#include "fuzz.h"
#include "models/causal_lm.h"
#include "models/flat_state.h"
#include "models/student_init.h"

namespace pride::fuzz {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A folder to build one seed in, removed afterwards.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& what)
      : path_(fs::temp_directory_path() / fmt::format("pride-fuzz-{}-{}", what, ::getpid())) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

// Model parameters (fp32) as the bytes of a safetensors file.
std::string safetensors_bytes(torch::nn::Module& model) {
  json header = json::object();
  std::string data;
  for (const auto& item : model.named_parameters()) {
    const torch::Tensor values = item.value().detach().to(torch::kFloat).contiguous();
    const size_t bytes = static_cast<size_t>(values.numel()) * sizeof(float);
    header[item.key()] = {{"dtype", "F32"},
                          {"shape", values.sizes().vec()},
                          {"data_offsets", {data.size(), data.size() + bytes}}};
    data.append(static_cast<const char*>(values.data_ptr()), bytes);
  }
  const std::string text = header.dump();
  const uint64_t length = text.size();
  return std::string(reinterpret_cast<const char*>(&length), 8) + text + data;
}

// --- Hugging Face config.json --------------------------------------------------------------------

const std::vector<std::string> kModelTypes = {"llama", "mistral", "qwen2", "qwen3"};

// A tiny model of each type, with the optional keys its type uses.
json tiny_config(const std::string& model_type, int64_t layers) {
  json config = {{"model_type", model_type},
                 {"vocab_size", 24},
                 {"hidden_size", 8},
                 {"intermediate_size", 12},
                 {"num_hidden_layers", layers},
                 {"num_attention_heads", 2},
                 {"num_key_value_heads", 1},
                 {"rms_norm_eps", 1e-6},
                 {"rope_theta", 10000.0},
                 {"eos_token_id", json::array({2, 3})},
                 {"hidden_act", "silu"},
                 {"tie_word_embeddings", layers == 2}};
  if (model_type == "qwen3") config["head_dim"] = 4;
  if (model_type == "mistral") config["sliding_window"] = 16;
  if (model_type == "llama") {
    config["rope_scaling"] = {{"rope_type", "llama3"},
                              {"factor", 8.0},
                              {"low_freq_factor", 1.0},
                              {"high_freq_factor", 4.0},
                              {"original_max_position_embeddings", 32}};
  }
  return config;
}

// config.json and model.safetensors of variant `variant` (type, 1 or 2 layers), built once.
const Files& hf_model(size_t variant) {
  static std::map<size_t, Files> cache;
  variant %= 2 * kModelTypes.size();
  auto found = cache.find(variant);
  if (found != cache.end()) return found->second;
  const json config = tiny_config(kModelTypes[variant % kModelTypes.size()],
                                  1 + static_cast<int64_t>(variant / kModelTypes.size()));
  torch::manual_seed(1);
  CausalLM model(parse_causal_lm_config(config, "config.json"));
  Files files = {{"config.json", config.dump(2)}, {"model.safetensors", safetensors_bytes(*model)}};
  return cache.emplace(variant, std::move(files)).first->second;
}

const std::vector<std::string>& hf_config_words() {
  static const std::vector<std::string> words = {"model_type",
                                                 "vocab_size",
                                                 "hidden_size",
                                                 "intermediate_size",
                                                 "num_hidden_layers",
                                                 "num_attention_heads",
                                                 "num_key_value_heads",
                                                 "head_dim",
                                                 "rms_norm_eps",
                                                 "rope_theta",
                                                 "rope_scaling",
                                                 "rope_parameters",
                                                 "rope_type",
                                                 "type",
                                                 "llama3",
                                                 "default",
                                                 "dynamic",
                                                 "factor",
                                                 "low_freq_factor",
                                                 "high_freq_factor",
                                                 "original_max_position_embeddings",
                                                 "tie_word_embeddings",
                                                 "sliding_window",
                                                 "use_sliding_window",
                                                 "layer_types",
                                                 "full_attention",
                                                 "eos_token_id",
                                                 "hidden_act",
                                                 "silu",
                                                 "gelu",
                                                 "mlp_bias",
                                                 "attention_bias",
                                                 "partial_rotary_factor",
                                                 "llama",
                                                 "mistral",
                                                 "qwen2",
                                                 "qwen3",
                                                 "gemma"};
  return words;
}

Target hf_config_target() {
  Target target;
  target.name = "hf_config";
  target.main_file = "config.json";
  target.seed = [](Rng& rng) { return hf_model(rng.below(8)); };
  target.mutate = [](Files& files, Rng& rng) {
    // Sometimes the weights of another model: config.json must be checked against them.
    const bool other_weights = rng.chance(0.15);
    if (other_weights) files["model.safetensors"] = hf_model(rng.below(8)).at("model.safetensors");
    if (!other_weights || rng.chance(0.5))
      mutate_json(files["config.json"], rng, hf_config_words());
  };
  target.run = [](const std::string& dir) {
    CausalLM model = load_causal_lm(dir);
    const CausalLMConfig& config = model->config();
    for (const int64_t id : config.eos_token_ids) {
      check(id >= 0 && id < config.vocab_size, "an eos_token_id outside the vocabulary");
    }
    torch::NoGradGuard no_grad;
    const torch::Tensor tokens = torch::arange(5, torch::kLong).remainder(config.vocab_size);
    const torch::Tensor logits = model->forward(tokens.unsqueeze(0));
    check(logits.sizes() == torch::IntArrayRef({1, 5, config.vocab_size}), "logits of a bad shape");
    check(torch::isfinite(logits).all().item<bool>(), "non-finite logits");
  };
  return target;
}

// --- student checkpoint and exported student -------------------------------------------------

// A small student: 24 tokens, one layer of width 16, audio features, one PI source.
StudentSpec tiny_student() {
  StudentSpec spec;
  spec.model.d_model = 16;
  spec.model.n_layers = 1;
  spec.model.n_heads = 2;
  spec.model.n_kv_heads = 1;
  spec.model.d_ff = 24;
  spec.model.max_seq_len = 32;
  spec.model.memory_slots = 2;
  spec.seed = 3;
  DatasetInfo& info = spec.info;
  info.vocab_size = 24;
  info.num_emotions = 3;
  info.topk = 2;
  info.teacher_hidden = 4;
  info.audio_dim = 3;
  info.privileged_sources = {"reasoning"};
  return spec;
}

constexpr int64_t kCheckpointStep = 5;

// The checkpoint of tiny_student() at step 5, written as the trainer writes one (world size 1):
// `latest`, step_00000005/manifest.json and its shard, under `root`.
void write_student_checkpoint(const std::string& root) {
  const StudentSpec spec = tiny_student();
  Student student = make_student(spec, torch::kCPU, /*load_pretrained=*/false);
  const FlatParameters flat(*student);
  CheckpointState state;
  state.step = kCheckpointStep;
  state.config_yaml = "model:\n  d_model: 16\n";
  state.extra = {{"student", spec.to_json()}};
  state.tensors = {{"model.params", flat.all_values()}};
  for (const ParamLayout& param : flat.layout()) {
    state.params.push_back({param.name, param.shape, param.offset});
  }
  Manifest plan = plan_manifest(state, 1);
  const std::string step_dir = join(root, step_dir_name(state.step));
  fs::create_directories(temporary_dir(root, state.step));
  plan.shards[0].digest = write_own_shard(root, state, plan, 0);
  fs::rename(temporary_dir(root, state.step), step_dir);
  std::ofstream(join(step_dir, kManifestFile)) << manifest_to_json(plan).dump(2);
  std::ofstream(join(root, "latest")) << step_dir_name(state.step);
}

// Every file under `root`, by its path relative to `root`.
Files files_under(const std::string& root) {
  Files files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    files[fs::relative(entry.path(), root).string()] = read_file(entry.path().string());
  }
  return files;
}

const Files& student_checkpoint() {
  static const Files files = [] {
    ScratchDir scratch("checkpoint");
    write_student_checkpoint(scratch.path());
    return files_under(scratch.path());
  }();
  return files;
}

// What `pride ckpt export` writes: student.safetensors and student.json.
const Files& student_export() {
  static const Files files = [] {
    ScratchDir scratch("export");
    write_student_checkpoint(scratch / "checkpoints");
    const std::string checkpoint = scratch / ("checkpoints/" + step_dir_name(kCheckpointStep));
    const std::string weights = scratch / "export/student.safetensors";
    fs::create_directories(scratch / "export");
    export_safetensors(checkpoint, weights);
    write_student_card(checkpoint, weights);
    return files_under(scratch / "export");
  }();
  return files;
}

const std::vector<std::string>& student_words() {
  static const std::vector<std::string> words = {
      "format", "version", "step", "epoch", "samples_consumed", "world_size", "config_yaml",
      "extra", "student", "params", "name", "shape", "offset", "shards", "file", "bytes", "xxh64",
      "tensors", "dtype", "length", "ranges", "shard", "begin", "end", "byte_offset",
      "model.params", "float32", "bfloat16", "int64", "bool", "complex64", "shard-0-of-1.bin",
      "shard-1-of-2.bin", "pride-checkpoint", "pride-student", "model_yaml", "seed", "data",
      "vocab_size", "num_emotions", "pad_id", "bos_id", "eos_id", "topk", "teacher_hidden",
      "audio_dim", "visual_dim", "privileged_sources", "pretrained", "tokenizer", "weights",
      "emotion_labels", "tokenizer_identity", "hf-bpe:0123456789abcdef", "student.safetensors",
      "../student.safetensors", "/etc/hostname", "0123456789abcdef",
      // Whole model sections, some far larger than the weights beside them.
      "model:\n  d_model: 65536\n  n_layers: 1024\n  d_ff: 1000000\n", "model:\n  n_layers: 1024\n",
      "model:\n  vocab_size: 10000000\n  d_model: 4096\n",
      "model:\n  memory_slots: 4096\n  d_model: 8192\n", "model: [1, 2]\n", "model:\n  x: 1\n"};
  return words;
}

// A value of one `key: value` line of the card's model_yaml replaced.
void mutate_model_yaml(json& card, Rng& rng) {
  if (!card.is_object() || !card.contains("model_yaml") || !card["model_yaml"].is_string()) return;
  std::string yaml = card["model_yaml"].get<std::string>();
  std::vector<size_t> colons;
  for (size_t at = yaml.find(": "); at != std::string::npos; at = yaml.find(": ", at + 1)) {
    colons.push_back(at + 2);
  }
  if (colons.empty()) return;
  const size_t begin = rng.pick(colons);
  const size_t end = std::min(yaml.find('\n', begin), yaml.size());
  const std::vector<std::string> values = {
      "0",    "-1",  "1",    "3",       "65536",
      "1024", "1e9", "4096", "x",       "[1]",
      "{}",   "~",   "0.5",  "1000000", "99999999999999999999"};
  yaml.replace(begin, end - begin, rng.pick(values));
  card["model_yaml"] = yaml;
}

// The card's JSON (student.json, or a checkpoint manifest's extra.student) mutated.
void mutate_card_json(std::string& text, json::json_pointer card_at, Rng& rng) {
  if (rng.chance(0.3)) {
    json root = json::parse(text, nullptr, false);
    if (root.is_object() && root.contains(card_at)) {
      mutate_model_yaml(root[card_at], rng);
      text = root.dump(2);
      if (rng.chance(0.5)) return;
    }
  }
  mutate_json(text, rng, student_words());
}

// A loaded student: its step, and finite weights (a misread shard would show as garbage).
void check_student(const LoadedStudent& student) {
  check(student.step >= 0, "a negative step");
  for (const torch::Tensor& param : student.model->parameters()) {
    check(torch::isfinite(param).all().item<bool>(), "non-finite weights");
  }
}

const std::string kManifestPath = step_dir_name(kCheckpointStep) + "/" + kManifestFile;

Target checkpoint_target() {
  Target target;
  target.name = "checkpoint_manifest";
  target.main_file = kManifestPath;
  target.seed = [](Rng&) { return student_checkpoint(); };
  target.mutate = [](Files& files, Rng& rng) {
    if (rng.chance(0.08)) {  // `latest` names another place
      files["latest"] = rng.chance(0.5) ? rng.pick(interesting_strings()) : "step_00000006";
      return;
    }
    mutate_card_json(files[kManifestPath], json::json_pointer("/extra/student"), rng);
  };
  target.run = [](const std::string& dir) { check_student(load_student(dir, torch::kCPU)); };
  return target;
}

Target student_card_target() {
  Target target;
  target.name = "student_card";
  target.main_file = "student.json";
  target.seed = [](Rng&) { return student_export(); };
  target.mutate = [](Files& files, Rng& rng) {
    mutate_card_json(files["student.json"], json::json_pointer(""), rng);
  };
  target.run = [](const std::string& dir) { check_student(load_student(dir, torch::kCPU)); };
  return target;
}

}  // namespace

std::vector<Target> model_targets() {
  return {hf_config_target(), checkpoint_target(), student_card_target()};
}

}  // namespace pride::fuzz
