// Implements plugin.h: the checks that make a checkpoint a plug-in, the integrated gradients, and
// the words rebuilt from the tokenizer's pieces.
#include "teacher/plugin.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <numeric>

#include "util/error.h"

namespace pride::teacher {
namespace {

// A context-only batch of `rows` copies of `tokens` [1, T]: what inference gives the emotion head.
Batch context_batch(const torch::Tensor& tokens, int64_t rows) {
  Batch batch;
  batch.tokens = tokens.expand({rows, tokens.size(1)}).contiguous();
  batch.context_mask = torch::ones_like(batch.tokens, torch::kBool);
  batch.response_mask = torch::zeros_like(batch.tokens, torch::kBool);
  batch.indices.assign(static_cast<size_t>(rows), 0);
  return batch;
}

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}
bool is_edge_punctuation(char c) {
  return std::ispunct(static_cast<unsigned char>(c)) != 0;
}

// The decoded text of `ids` without special tokens, and each token's byte range in it (empty for
// a special token). A piece whose bytes complete an earlier piece's character takes over the
// range from where the decoded texts start to differ.
struct DecodedPieces {
  std::string text;
  std::vector<std::pair<size_t, size_t>> ranges;
};

DecodedPieces decode_pieces(const text::Tokenizer& tokenizer, const std::vector<int32_t>& ids,
                            const std::vector<int32_t>& specials) {
  DecodedPieces out;
  std::vector<text::TokenId> kept;
  for (const int32_t id : ids) {
    if (std::find(specials.begin(), specials.end(), id) != specials.end()) {
      out.ranges.emplace_back(out.text.size(), out.text.size());
      continue;
    }
    kept.push_back(id);
    std::string next = tokenizer.decode(kept);
    size_t common = 0;
    while (common < out.text.size() && common < next.size() && out.text[common] == next[common]) {
      ++common;
    }
    out.ranges.emplace_back(common, next.size());
    out.text = std::move(next);
  }
  return out;
}

// Byte ranges of the dialogue's turn texts in `text`, found in order; empty when one is missing.
std::vector<std::pair<size_t, size_t>> turn_ranges(const std::string& text,
                                                   const dialogue::DialogueText& sample) {
  std::vector<std::pair<size_t, size_t>> ranges;
  size_t from = 0;
  for (const auto& turn : sample.context) {
    if (turn.text.empty()) continue;
    const size_t at = text.find(turn.text, from);
    if (at == std::string::npos) continue;  // cut by the context budget, or dropped
    ranges.emplace_back(at, at + turn.text.size());
    from = at + turn.text.size();
  }
  return ranges;
}

// The plug-in's student; any other model is an error saying what a plug-in is.
LoadedStudent load_plugin(const std::string& path, torch::Device device) {
  if (std::filesystem::exists(std::filesystem::path(path) / "config.json")) {
    fail(
        "teach.plugin {}: a Hugging Face model has no emotion head; a plug-in is a pride student "
        "(a checkpoint of pride train, or its export) trained on the data's emotion labels",
        path);
  }
  try {
    return load_student(path, device);
  } catch (const Error& error) {
    fail("teach.plugin: {} (a plug-in is a pride student checkpoint, or its export)", error.what());
  }
}

}  // namespace

EmotionPlugin::EmotionPlugin(const TeachConfig& config, const std::vector<std::string>& labels,
                             const text::Tokenizer& tokenizer, torch::Device device)
    : config_(config),
      labels_(labels),
      tokenizer_(tokenizer),
      device_(device),
      student_(load_plugin(config.plugin, device)) {
  const DatasetInfo& info = student_.spec.info;
  if (info.num_emotions < 1) {
    fail("teach.plugin {}: the student has no emotion head to predict with", student_.path);
  }
  if (info.emotion_labels != labels) {
    fail(
        "teach.plugin {}: its emotion labels [{}] are not the data's [{}]; a plug-in must have "
        "been trained on the same label set",
        student_.path,
        info.emotion_labels.empty() ? "none recorded"
                                    : fmt::format("{}", fmt::join(info.emotion_labels, ", ")),
        fmt::join(labels, ", "));
  }
  if (!info.tokenizer.empty() && info.tokenizer != tokenizer.identity()) {
    fail("teach.plugin {}: trained with tokenizer {}, but the teacher's is {}", student_.path,
         info.tokenizer, tokenizer.identity());
  }
}

std::string EmotionPlugin::identity() const {
  return fmt::format("{}@{}|{}|{}|{}|{}", student_.path, student_.step, config_.plugin_top_emotions,
                     config_.plugin_cause_words, config_.plugin_attribution,
                     config_.plugin_ig_steps);
}

PluginReading EmotionPlugin::read(const dialogue::DialogueText& sample,
                                  const std::vector<int32_t>& context_ids) {
  PluginReading reading;
  const auto room = static_cast<size_t>(student_.spec.model.max_seq_len);
  const size_t skip = context_ids.size() > room ? context_ids.size() - room : 0;
  reading.context_ids.assign(context_ids.begin() + static_cast<ptrdiff_t>(skip), context_ids.end());
  if (reading.context_ids.empty())
    fail("teach.plugin: sample '{}' has an empty context", sample.id);
  attribute(reading);
  reading.words = words_of(sample, reading);
  std::vector<size_t> order(reading.words.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return reading.words[a].score > reading.words[b].score;
  });
  // Each word once, at its best-scoring occurrence.
  auto& chosen = reading.cause_words;
  for (size_t i = 0; i < order.size() && chosen.size() < size_t(config_.plugin_cause_words); ++i) {
    const std::string& word = reading.words[order[i]].word;
    if (std::find(chosen.begin(), chosen.end(), word) == chosen.end()) chosen.push_back(word);
  }
  return reading;
}

void EmotionPlugin::attribute(PluginReading& reading) {
  torch::AutoGradMode grad_on(true);
  Student& model = student_.model;
  const auto length = static_cast<int64_t>(reading.context_ids.size());
  const torch::Tensor tokens =
      torch::tensor(std::vector<int64_t>(reading.context_ids.begin(), reading.context_ids.end()))
          .view({1, length})
          .to(device_);
  const torch::Tensor input = model->embed(tokens).detach();  // [1, T, d]
  const int64_t steps =
      config_.plugin_attribution == "integrated_gradients" ? config_.plugin_ig_steps : 1;
  // alpha = s / steps, s = 1..steps: the last row is the input itself (the prediction's row).
  const torch::Tensor alphas =
      torch::arange(1, steps + 1, input.options()).div(static_cast<double>(steps)).view({-1, 1, 1});
  const torch::Tensor scaled = (alphas * input).detach().requires_grad_(true);
  const torch::Tensor logits = model->forward_embedded(context_batch(tokens, steps), scaled)
                                   .emotion_logits.to(torch::kFloat);
  const torch::Tensor probabilities = torch::softmax(logits[steps - 1], -1).to(torch::kCPU);
  const int64_t predicted = probabilities.argmax().item<int64_t>();
  const torch::Tensor gradient =
      torch::autograd::grad({logits.select(1, predicted).sum()}, {scaled})[0];
  const torch::Tensor scores =
      (input[0] * gradient.mean(0)).sum(-1).to(torch::kDouble).to(torch::kCPU);

  reading.probabilities.assign(probabilities.data_ptr<float>(),
                               probabilities.data_ptr<float>() + probabilities.numel());
  reading.ranked.resize(reading.probabilities.size());
  std::iota(reading.ranked.begin(), reading.ranked.end(), 0);
  std::stable_sort(reading.ranked.begin(), reading.ranked.end(), [&](int64_t a, int64_t b) {
    return reading.probabilities[a] > reading.probabilities[b];
  });
  reading.token_scores.assign(scores.data_ptr<double>(), scores.data_ptr<double>() + length);
}

std::vector<WordScore> EmotionPlugin::words_of(const dialogue::DialogueText& sample,
                                               const PluginReading& reading) const {
  const DatasetInfo& info = student_.spec.info;
  const std::vector<int32_t> specials = {static_cast<int32_t>(info.bos_id),
                                         static_cast<int32_t>(info.eos_id),
                                         static_cast<int32_t>(info.pad_id)};
  const DecodedPieces pieces = decode_pieces(tokenizer_, reading.context_ids, specials);
  const std::string& text = pieces.text;
  // Each token counts for the word holding its first non-space byte.
  std::vector<double> byte_scores(text.size() + 1, 0.0);
  for (size_t t = 0; t < pieces.ranges.size(); ++t) {
    auto [begin, end] = pieces.ranges[t];
    while (begin < end && is_space(text[begin])) ++begin;
    if (begin < end) byte_scores[begin] += reading.token_scores[t];
  }
  const auto turns = turn_ranges(text, sample);
  const auto in_turns = [&](size_t begin, size_t end) {
    if (turns.empty()) return true;  // no turn text found as it is: every word counts
    return std::any_of(turns.begin(), turns.end(),
                       [&](const auto& turn) { return begin >= turn.first && end <= turn.second; });
  };
  std::vector<WordScore> words;
  for (size_t i = 0; i < text.size();) {
    if (is_space(text[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    double score = 0;
    while (end < text.size() && !is_space(text[end])) score += byte_scores[end++];
    size_t first = i, last = end;
    while (first < last && is_edge_punctuation(text[first])) ++first;
    while (last > first && is_edge_punctuation(text[last - 1])) --last;
    if (first < last && in_turns(i, end))
      words.push_back({text.substr(first, last - first), score});
    i = end;
  }
  return words;
}

PluginHints EmotionPlugin::hints(const dialogue::DialogueText& sample,
                                 const std::vector<int32_t>& context_ids) {
  last_ = read(sample, context_ids);
  const PluginReading& reading = last_;
  PluginHints hints;
  const auto top = static_cast<size_t>(config_.plugin_top_emotions);
  for (size_t i = 0; i < reading.ranked.size(); ++i) {
    (i < top ? hints.candidates : hints.others).push_back(labels_[reading.ranked[i]]);
  }
  // The others in class order: the candidates are the plug-in's ranking, the rest a plain list.
  std::vector<std::string> others;
  for (const std::string& label : labels_) {
    if (std::find(hints.others.begin(), hints.others.end(), label) != hints.others.end()) {
      others.push_back(label);
    }
  }
  hints.others = std::move(others);
  hints.cause_words = reading.cause_words;
  return hints;
}

}  // namespace pride::teacher
