// Implements models/lora_export.h: the trained student's language model as a merged Hugging Face
// model or as a PEFT LoRA adapter.
#include "models/lora_export.h"

#include <torch/torch.h>

#include <filesystem>
#include <utility>
#include <vector>

#include "checkpoints/safetensors.h"
#include "io/file_io.h"
#include "models/student_init.h"
#include "util/error.h"

namespace pride {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Both layouts hold the language model alone: a student whose cross-attention adds something to
// the residual stream would compute other logits there than here.
void check_cross_attention_idle(StudentImpl& student, const std::string& checkpoint) {
  for (const auto& item : student.named_parameters()) {
    if (item.key().find(".cross_attn.o_proj.") != std::string::npos &&
        item.value().abs().max().item<double>() > 0) {
      fail(
          "{}: the student's cross-attention was trained ('{}' is not zero), which a Hugging Face "
          "model cannot hold: export its language model from a run with model.freeze: [memory]",
          checkpoint, item.key());
    }
  }
}

LoadedStudent load_for_export(const std::string& checkpoint) {
  LoadedStudent loaded = load_student(checkpoint, torch::kCPU);
  if (loaded.spec.pretrained.is_null()) {
    fail(
        "{}: the student did not start from a Hugging Face model (model.init_from), so there is "
        "no config.json for its layout",
        checkpoint);
  }
  check_cross_attention_idle(*loaded.model, checkpoint);
  return loaded;
}

double lora_scale(const ModelConfig& model) {
  return model.lora_alpha / static_cast<double>(model.lora_rank);
}

// The language model's weights under their Hugging Face names, adapters merged:
// W + scale * B A, as PEFT's merge_and_unload computes it.
NamedTensors merged_weights(StudentImpl& student, const ModelConfig& model, bool tied) {
  torch::NoGradGuard no_grad;
  auto params = student.named_parameters();
  NamedTensors out;
  for (const auto& item : params) {
    const std::string& name = item.key();
    if (is_adapter(name) || in_part(name, "memory")) continue;
    if (tied && name == "lm_head.weight") continue;  // the embedding matrix serves
    torch::Tensor value = item.value();
    const std::string layer = name.substr(0, name.rfind('.'));
    if (const auto* a = params.find(layer + ".lora_A.weight")) {
      value = value + torch::mm(*params.find(layer + ".lora_B.weight"), *a) * lora_scale(model);
    }
    out.emplace_back(name == "lm_head.weight" ? name : "model." + name, value);
  }
  return out;
}

}  // namespace

void export_merged(const std::string& checkpoint, const std::string& dir) {
  LoadedStudent loaded = load_for_export(checkpoint);
  StudentImpl& student = *loaded.model;
  json config = loaded.spec.pretrained;
  // A tied model whose LM head the student trained apart from its embeddings is no longer tied.
  bool tied = config.value("tie_word_embeddings", false);
  if (tied) {
    auto params = student.named_parameters();
    tied = torch::equal(*params.find("lm_head.weight"), *params.find("embed_tokens.weight"));
    config["tie_word_embeddings"] = tied;
  }
  config["torch_dtype"] = "float32";
  fs::create_directories(dir);
  write_safetensors(
      (fs::path(dir) / "model.safetensors").string(),
      merged_weights(student, loaded.spec.model, tied),
      {{"format", "pt"}, {"producer", "pride"}, {"step", std::to_string(loaded.step)}});
  replace_file_atomically((fs::path(dir) / "config.json").string(), config.dump(2) + "\n");
  if (!loaded.spec.tokenizer.empty() && fs::exists(loaded.spec.tokenizer)) {
    copy_tokenizer_files(loaded.spec.tokenizer, dir);
  }
}

void export_peft(const std::string& checkpoint, const std::string& dir) {
  LoadedStudent loaded = load_for_export(checkpoint);
  const ModelConfig& model = loaded.spec.model;
  if (model.lora_rank <= 0) {
    fail("{}: the student has no LoRA adapters (model.lora.rank 0); export it with --merged",
         checkpoint);
  }
  NamedTensors adapters;
  for (const auto& item : loaded.model->named_parameters()) {
    // PEFT's names: its wrapper ("base_model.model.") around the causal LM ("model.").
    if (is_adapter(item.key()))
      adapters.emplace_back("base_model.model.model." + item.key(), item.value());
  }
  const json config = {
      {"peft_type", "LORA"},
      {"task_type", "CAUSAL_LM"},
      {"base_model_name_or_path", fs::absolute(model.init_from).lexically_normal().string()},
      {"r", model.lora_rank},
      {"lora_alpha", model.lora_alpha},
      {"lora_dropout", model.lora_dropout},
      {"target_modules", model.lora_targets},
      {"bias", "none"},
      {"fan_in_fan_out", false},
      {"inference_mode", true},
      {"init_lora_weights", true},
      {"modules_to_save", nullptr},
      {"layers_to_transform", nullptr},
      {"layers_pattern", nullptr},
      {"rank_pattern", json::object()},
      {"alpha_pattern", json::object()},
      {"use_rslora", false},
      {"use_dora", false},
      {"revision", nullptr}};
  fs::create_directories(dir);
  write_safetensors(
      (fs::path(dir) / "adapter_model.safetensors").string(), adapters,
      {{"format", "pt"}, {"producer", "pride"}, {"step", std::to_string(loaded.step)}});
  replace_file_atomically((fs::path(dir) / "adapter_config.json").string(), config.dump(2) + "\n");
}

}  // namespace pride
