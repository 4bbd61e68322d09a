// Loading and checking the teacher (see teacher_model.h).
#include "teacher/teacher_model.h"

#include <algorithm>

#include <filesystem>

#include "util/error.h"

namespace pride::teacher {
namespace {

namespace fs = std::filesystem;

torch::ScalarType compute_dtype(const std::string& name) {
  return name == "bf16" ? torch::kBFloat16 : name == "fp16" ? torch::kHalf : torch::kFloat;
}

}  // namespace

Teacher load_teacher(const TeachConfig& config, torch::Device device) {
  Teacher teacher;
  teacher.tokenizer =
      text::load_tokenizer(config.tokenizer.empty() ? config.teacher : config.tokenizer);
  teacher.model = load_causal_lm(config.teacher, compute_dtype(config.dtype), device);
  const int64_t vocab = teacher.model->config().vocab_size;
  if (teacher.tokenizer->vocab_size() > vocab) {
    fail(
        "teach: the tokenizer has {} ids but the teacher {} only {} embeddings: they do not belong "
        "together",
        teacher.tokenizer->vocab_size(), config.teacher, vocab);
  }
  if (config.topk > vocab)
    fail("teach.topk = {} exceeds the teacher's vocabulary {}", config.topk, vocab);
  const auto& special = teacher.tokenizer->special_tokens();
  const auto& model_eos = teacher.model->config().eos_token_ids;
  if (special.eos) {
    teacher.eos_id = *special.eos;
  } else if (!model_eos.empty()) {
    teacher.eos_id = static_cast<int32_t>(model_eos.front());
  } else {
    fail(
        "teach: neither the tokenizer nor {}/config.json names an eos token, which ends every "
        "response",
        config.teacher);
  }
  teacher.stop_ids = model_eos;
  teacher.stop_ids.push_back(teacher.eos_id);
  return teacher;
}

GenerationOptions generation_options(const Teacher& teacher, int64_t max_new_tokens,
                                     double temperature, double top_p, uint64_t seed) {
  GenerationOptions options;
  options.max_new_tokens = max_new_tokens;
  options.temperature = temperature;
  options.top_p = top_p;
  options.seed = seed;
  options.stop_ids = teacher.stop_ids;
  options.vocab_limit = teacher.tokenizer->vocab_size();
  return options;
}

// The student's tokenizer, when the config names one (model.tokenizer, or model.init_from holding
// one), must be the teacher's: top-K ids of another vocabulary would be meaningless.
void check_student_tokenizer(const Config& config, const text::Tokenizer& teacher_tokenizer) {
  std::string path = config.model.tokenizer;
  if (path.empty() && !config.model.init_from.empty()) {
    const fs::path dir(config.model.init_from);
    if (!fs::exists(dir / "tokenizer.json") && !fs::exists(dir / "tokenizer.model")) return;
    path = config.model.init_from;
  }
  if (path.empty()) return;
  const std::string student = text::load_tokenizer(path)->identity();
  if (student != teacher_tokenizer.identity()) {
    fail(
        "teach: the student's tokenizer ({}, {}) is not the teacher's ({}, {}): the teacher's "
        "top-K ids would mean other tokens to the student. Distill between models that share a "
        "tokenizer",
        path, student,
        config.teach.tokenizer.empty() ? config.teach.teacher : config.teach.tokenizer,
        teacher_tokenizer.identity());
  }
}

std::string reply_text(const Teacher& teacher, const Generation& generation) {
  std::vector<text::TokenId> ids;
  for (int64_t token : generation.tokens) {
    const auto& stops = teacher.stop_ids;
    if (std::find(stops.begin(), stops.end(), token) != stops.end()) break;
    ids.push_back(static_cast<text::TokenId>(token));
  }
  std::string text = teacher.tokenizer->decode(ids);
  text = text.substr(0, text.find('\n'));
  const size_t first = text.find_first_not_of(" \t");
  return first == std::string::npos ? ""
                                    : text.substr(first, text.find_last_not_of(" \t") + 1 - first);
}

}  // namespace pride::teacher
