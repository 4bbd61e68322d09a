// Implements pairs.h. Tokenization follows TRL's DPOTrainer: a plain-text prompt is encoded with
// the tokenizer's special tokens (BOS) and each response without them, followed by EOS; chat
// messages are rendered with the template, the prompt with the generation prompt, each response
// as the rendered conversation's text after the prompt's.
#include "preference/pairs.h"

#include <fmt/format.h>

#include <fstream>
#include <optional>

#include "chat/chat_template.h"
#include "data/batch.h"
#include "data/preference.h"
#include "dialogue/dialogue.h"
#include "distributed/rank_files.h"
#include "io/json_file.h"
#include "judge/judge.h"
#include "models/losses.h"
#include "models/student_init.h"
#include "teacher/chat_prompts.h"
#include "teacher/prompts.h"
#include "text/tokenizer.h"
#include "util/error.h"

namespace pride::preference {
namespace {

using nlohmann::ordered_json;

std::vector<int32_t> as_ids(const std::vector<text::TokenId>& ids) {
  return {ids.begin(), ids.end()};
}

class PairTokenizer {
 public:
  explicit PairTokenizer(const PairsOptions& options)
      : tokenizer_(text::load_tokenizer(options.tokenizer)), vocab_size_(options.vocab_size) {
    if (vocab_size_ == 0) vocab_size_ = tokenizer_->vocab_size();
    if (vocab_size_ < tokenizer_->vocab_size()) {
      fail("--vocab-size {} is smaller than the tokenizer's {} ids", vocab_size_,
           tokenizer_->vocab_size());
    }
    const auto& special = tokenizer_->special_tokens();
    if (!special.eos) fail("{}: the tokenizer has no end-of-sequence token", options.tokenizer);
    eos_ = *special.eos;
    if (options.chat == "auto") templates_.student = chat::ChatTemplate::find(options.tokenizer);
    // Dialogues are rendered as `pride teach` renders the student's context and response.
    teach_.max_context_tokens = options.max_context_tokens;
    teach_.max_response_tokens = options.max_response_tokens;
    builder_.emplace(teach_, *tokenizer_, eos_, templates_);
  }

  PreferenceHeader header() const {
    const auto& special = tokenizer_->special_tokens();
    PreferenceHeader header;
    header.vocab_size = vocab_size_;
    header.eos_id = eos_;
    header.bos_id = special.bos.value_or(eos_);
    header.pad_id = special.pad.value_or(eos_);
    header.tokenizer = tokenizer_->identity();
    return header;
  }

  // One JSONL record (`where`: file and line, for errors).
  TokenizedPair tokenize(const ordered_json& row, const std::string& where, bool& chat) const {
    if (!row.is_object()) fail("{}: expected a JSON object", where);
    for (const char* key : {"prompt", "chosen", "rejected"}) {
      if (!row.contains(key)) fail("{}: no \"{}\"", where, key);
    }
    const bool text = row["prompt"].is_string();
    for (const char* key : {"prompt", "chosen", "rejected"}) {
      if (row[key].is_string() != text || (!text && !row[key].is_array())) {
        fail(
            "{}: \"prompt\", \"chosen\" and \"rejected\" must all be strings or all lists of "
            "chat messages (\"{}\" is {})",
            where, key, row[key].type_name());
      }
    }
    chat = !text;
    return text ? plain(row) : conversational(row, where);
  }

  // A dialogue and a second response to it: the context as pride teach gives it to the student,
  // the dialogue's response chosen, `rejected` rejected (each with the response prefix and eos).
  TokenizedPair tokenize(const dialogue::DialogueText& sample, const std::string& rejected) const {
    const teacher::SamplePrompts chosen = builder_->prepare(sample);
    dialogue::DialogueText other = sample;
    other.response.text = rejected;
    return {chosen.context, chosen.response, builder_->prepare(other).response};
  }

 private:
  TokenizedPair plain(const ordered_json& row) const {
    TokenizedPair pair;
    pair.prompt = as_ids(tokenizer_->encode(row["prompt"].get<std::string>(), true));
    pair.chosen = response(row["chosen"].get<std::string>());
    pair.rejected = response(row["rejected"].get<std::string>());
    return pair;
  }

  std::vector<int32_t> response(const std::string& text) const {
    std::vector<int32_t> ids = as_ids(tokenizer_->encode(text, false));
    ids.push_back(eos_);
    return ids;
  }

  TokenizedPair conversational(const ordered_json& row, const std::string& where) const {
    if (!templates_.student) {
      fail("{}: chat messages need a chat template, and the tokenizer has none (or --chat off)",
           where);
    }
    chat::validate_messages(row["prompt"], where + ": prompt");
    const teacher::ChatPrompt prompt =
        teacher::encode_chat(*templates_.student, row["prompt"], *tokenizer_);
    TokenizedPair pair;
    pair.prompt = as_ids(prompt.ids);
    pair.chosen = continuation(row["prompt"], row["chosen"], prompt.text, where + ": chosen");
    pair.rejected = continuation(row["prompt"], row["rejected"], prompt.text, where + ": rejected");
    return pair;
  }

  // The tokens of `reply` after the prompt: the whole conversation rendered, minus the prompt's
  // rendering (which must be its beginning).
  std::vector<int32_t> continuation(const ordered_json& prompt, const ordered_json& reply,
                                    const std::string& prompt_text,
                                    const std::string& where) const {
    ordered_json messages = prompt;
    for (const auto& message : reply) messages.push_back(message);
    chat::validate_messages(messages, where);
    const std::string whole = templates_.student->render(messages);
    if (whole.compare(0, prompt_text.size(), prompt_text) != 0) {
      fail(
          "{}: the chat template renders the conversation with another beginning than the "
          "prompt with its generation prompt, so the response cannot be cut from it",
          where);
    }
    return as_ids(tokenizer_->encode(whole.substr(prompt_text.size()), false));
  }

  std::unique_ptr<text::Tokenizer> tokenizer_;
  int64_t vocab_size_ = 0;
  int32_t eos_ = 0;
  TeachConfig teach_;
  teacher::ChatTemplates templates_;
  std::optional<teacher::PromptBuilder> builder_;
};

// The reference model's summed log-probabilities of each pair's two responses, the rows cut to
// max_seq_len as collate_pairs cuts them in training: this rank scores its contiguous share on
// `device`, and a sum over the ranks (every other slot zero) gives every rank all of them.
void score_reference(const PairsOptions& options, const PreferenceHeader& header,
                     std::vector<TokenizedPair>& pairs, Communicator* comm, torch::Device device) {
  DatasetInfo info;
  info.preference = true;
  info.vocab_size = header.vocab_size;
  info.pad_id = header.pad_id;
  info.bos_id = header.bos_id;
  info.eos_id = header.eos_id;
  ModelConfig model;
  model.init_from = options.reference;
  model.max_seq_len = options.max_seq_len;
  Student reference = make_student(student_spec(model, 0, info), device, true);
  reference->eval();
  torch::NoGradGuard no_grad;
  const auto count = static_cast<int64_t>(pairs.size());
  const auto [first, end] = comm ? share_of(count, comm->rank(), comm->world_size())
                                 : std::pair<int64_t, int64_t>{0, count};
  std::vector<double> logps(2 * pairs.size(), 0.0);
  for (int64_t begin = first; begin < end; begin += options.batch_size) {
    std::vector<Sample> samples;
    for (int64_t i = begin; i < std::min(end, begin + options.batch_size); ++i) {
      samples.push_back(pair_sample(i, pairs[i].prompt, pairs[i].chosen, pairs[i].rejected));
    }
    const Batch batch = collate_pairs(samples, info, options.max_seq_len).to(device);
    const StudentOutput out = reference->forward(batch, PiUsage{}, LogitRows::response);
    const torch::Tensor rows = response_logps(out.response_logits, batch).cpu().contiguous();
    const float* values = rows.data_ptr<float>();
    for (int64_t j = 0; j < batch.pairs; ++j) {
      logps[2 * (begin + j)] = values[j];
      logps[2 * (begin + j) + 1] = values[batch.pairs + j];
    }
  }
  torch::Tensor all = torch::tensor(logps, torch::kFloat64);
  if (comm) all = all_reduce_small(*comm, all);
  for (size_t i = 0; i < pairs.size(); ++i) {
    pairs[i].reference_chosen = static_cast<float>(all[2 * i].item<double>());
    pairs[i].reference_rejected = static_cast<float>(all[2 * i + 1].item<double>());
  }
}

std::vector<TokenizedPair> trl_pairs(const PairsOptions& options, const PairTokenizer& tokenizer,
                                     PairsStats& stats) {
  std::ifstream in(options.input);
  if (!in) fail("{}: cannot read the preference pairs", options.input);
  std::vector<TokenizedPair> pairs;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", options.input, number);
    bool chat = false;
    pairs.push_back(tokenizer.tokenize(parse_ordered_json(line, where), where, chat));
    stats.chat_pairs += chat ? 1 : 0;
  }
  return pairs;
}

std::vector<TokenizedPair> dialogue_pairs(const PairsOptions& options,
                                          const PairTokenizer& tokenizer) {
  const auto dialogues = dialogue::read_dialogue_jsonl(options.input);
  std::vector<std::string> rejected;
  if (!options.rejected_file.empty()) {
    rejected = judge::read_responses(options.rejected_file, "", "--rejected", dialogues);
  }
  std::vector<TokenizedPair> pairs;
  for (size_t i = 0; i < dialogues.size(); ++i) {
    const dialogue::DialogueText& sample = dialogues[i];
    if (rejected.empty() && !sample.original) {
      fail(
          "{}: sample '{}' (line {}) has no \"original\" response to reject: improve it with "
          "pride teach (teach.mode improve), or give --rejected",
          options.input, sample.id, i + 1);
    }
    const std::string& other = rejected.empty() ? *sample.original : rejected[i];
    try {
      pairs.push_back(tokenizer.tokenize(sample, other));
    } catch (const Error& error) {
      fail("{}: sample '{}' (line {}): {}", options.input, sample.id, i + 1, error.what());
    }
  }
  return pairs;
}

}  // namespace

PairsStats write_pairs(const PairsOptions& options, Communicator* comm, torch::Device device) {
  const PairTokenizer tokenizer(options);
  PairsStats stats;
  std::vector<TokenizedPair> pairs = options.from == "dialogues"
                                         ? dialogue_pairs(options, tokenizer)
                                         : trl_pairs(options, tokenizer, stats);
  if (pairs.empty()) fail("{}: holds no preference pairs", options.input);
  PreferenceHeader header = tokenizer.header();
  if (!options.reference.empty()) {
    score_reference(options, header, pairs, comm, device);
    header.reference = options.reference;
  }
  if (!comm || comm->rank() == 0) write_preference_file(options.output, header, pairs);
  if (comm) comm->barrier();
  stats.pairs = static_cast<int64_t>(pairs.size());
  return stats;
}

}  // namespace pride::preference
