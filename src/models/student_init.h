// The student a run builds, and how it is found again: its description (StudentSpec: the model
// config and seed, the data set's shape, the pretrained model's config.json, the tokenizer),
// pretrained initialisation from a Hugging Face directory (model.init_from), freezing
// (model.freeze), and loading a trained student for generation from a checkpoint or from `pride
// ckpt export`'s output, both of which carry the description. Guide: docs/evaluation.md.
#pragma once

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "config/config.h"
#include "data/sample.h"
#include "models/student.h"

namespace pride {

struct StudentSpec {
  ModelConfig model;  // effective; with init_from, it holds the pretrained model's shape
  int64_t seed = 0;   // of the initial weights (run.seed)
  DatasetInfo info;
  nlohmann::json pretrained;  // model.init_from's config.json; null without init_from
  std::string tokenizer;      // tokenizer reference (absolute path), "" when none is known

  StudentArch arch() const;
  nlohmann::json to_json() const;  // the "student.json" card
  // `origin` names the card in errors.
  static StudentSpec from_json(const nlohmann::json& card, const std::string& origin);
};

// Whether `path` holds a pride student (a checkpoint, a checkpoint root or an export) rather than
// a Hugging Face model: model.init_from takes either.
bool is_pride_student(const std::string& path);

// The description of the student `model` (seeded with `seed`) builds for data of shape `info`. With
// model.init_from, reads its config.json: a model.* shape key set to a value other than its default
// and the model's is an error naming both, and data with another vocabulary size is rejected.
StudentSpec student_spec(const ModelConfig& model, int64_t seed, const DatasetInfo& info);

// The student, seeded with spec.seed, on `device`. With init_from naming a pride student and
// load_pretrained: that student's weights (the heads the data shape sizes where they fit). With
// a Hugging Face init_from and load_pretrained: embeddings,
// decoder blocks, final norm and LM head (a tied model's embedding matrix, copied) from the model's
// weights, and every cross-attention output projection zeroed, so it starts out computing the
// pretrained LM's logits. The parts in model.freeze stop requiring gradients.
Student make_student(const StudentSpec& spec, const torch::Device& device, bool load_pretrained);

// Which model.freeze part ("embeddings", "decoder", "lm_head", "memory") the student's parameter
// `name` belongs to; LoRA adapters belong to none.
bool in_part(const std::string& name, const std::string& part);
// Whether `name` is a LoRA adapter's parameter ("layers.0.self_attn.q_proj.lora_A.weight").
bool is_adapter(const std::string& name);

struct LoadedStudent {
  StudentSpec spec;
  Student model{nullptr};
  int64_t step = 0;
  std::string path;  // the checkpoint or weights file it came from
};

// A trained student from a checkpoint directory, a checkpoint root (its `latest`), or a directory
// written by `pride ckpt export` (student.json beside the weights); in eval mode.
LoadedStudent load_student(const std::string& path, const torch::Device& device);

// Copies the tokenizer (a file, or a directory's tokenizer files) into the directory `dir`.
void copy_tokenizer_files(const std::string& reference, const std::string& dir);

// For `pride ckpt export`: writes student.json (with "weights": the weights file's name) and a copy
// of the tokenizer next to `weights_file`. Returns what it wrote ("" for a checkpoint without a
// description, saved before pride recorded one).
std::string write_student_card(const std::string& checkpoint_path, const std::string& weights_file);

}  // namespace pride
