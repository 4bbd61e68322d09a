// MELD CSV -> dialogue samples: RFC 4180 records, text decoded from MELD's UTF-8/Windows-1252 mix,
// grouped into dialogues by Dialogue_ID and ordered by Utterance_ID; features, when a feature
// file is given, referenced per utterance.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "dialogue/converters.h"
#include "dialogue/csv.h"
#include "dialogue/encoding.h"
#include "dialogue/features.h"
#include "dialogue/label_sets.h"
#include "util/error.h"

namespace pride::dialogue {
namespace {

constexpr size_t kFutureUtterances = 3;

struct Utterance {
  int64_t utterance_id = 0;
  Turn turn;
  std::string emotion;
  int64_t line = 0;
};

// Column positions of the fields the converter needs, from the header.
struct Columns {
  size_t count = 0;
  size_t utterance, speaker, emotion, dialogue_id, utterance_id;
};

Columns find_columns(const std::vector<std::string>& header, const std::string& file) {
  const auto column = [&](const char* name) {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) fail("{}:1: not a MELD CSV: the header has no '{}' column", file, name);
    return static_cast<size_t>(it - header.begin());
  };
  return Columns{header.size(),     column("Utterance"),   column("Speaker"),
                 column("Emotion"), column("Dialogue_ID"), column("Utterance_ID")};
}

int64_t index_field(const std::string& field, const char* name, const std::string& where) {
  const int64_t value = parse_index(trim(field));
  if (value < 0) fail("{}: {} '{}' is not a non-negative integer", where, name, field);
  return value;
}

std::string future_summary(const std::vector<Utterance>& dialogue, size_t i) {
  std::string summary;
  for (size_t k = i + 1; k < dialogue.size() && k <= i + kFutureUtterances; ++k) {
    if (!summary.empty()) summary += '\n';
    summary += dialogue[k].turn.speaker + ": " + dialogue[k].turn.text;
  }
  return summary;
}

// Refers the sample to its features in the feature file, when the file has them; each
// modality's width must agree across the file.
class FeatureReferences {
 public:
  explicit FeatureReferences(const MeldFeatures& features) : features_(features), loader_(".") {}

  void attach(DialogueText& sample, ConvertStats& stats) {
    if (features_.path.empty()) return;
    const bool audio = attach(sample, Modality::kAudio, sample.audio);
    const bool visual = attach(sample, Modality::kVisual, sample.visual);
    if (!audio && !visual) ++stats.without_features;
  }

 private:
  bool attach(const DialogueText& sample, Modality modality, std::optional<Features>& slot) {
    const auto shape = loader_.shape(features_.path, sample.id, modality);
    if (!shape) return false;
    int64_t& dim = modality == Modality::kAudio ? audio_dim_ : visual_dim_;
    if (dim == 0) dim = shape->second;
    if (shape->second != dim) {
      fail("{}: {}: width {}, but earlier {} features are {} wide", features_.path,
           feature_dataset(sample.id, modality), shape->second, modality_name(modality), dim);
    }
    slot.emplace();
    slot->file = features_.reference;
    return true;
  }

  MeldFeatures features_;
  FeatureLoader loader_;
  int64_t audio_dim_ = 0, visual_dim_ = 0;
};

}  // namespace

ConvertStats convert_meld(const std::string& csv_path, const MeldFeatures& features,
                          const SampleSink& sink, size_t max_context_turns) {
  const std::string text = read_text_without_bom(csv_path);
  CsvReader reader(text, csv_path);
  std::vector<std::string> fields;
  if (!reader.next(fields)) fail("{}: empty file, expected a MELD CSV", csv_path);
  const Columns columns = find_columns(fields, csv_path);
  const LabelSet& labels = label_set(kMeld7);

  std::vector<int64_t> dialogue_order;
  std::unordered_map<int64_t, std::vector<Utterance>> dialogues;
  while (reader.next(fields)) {
    const std::string where = fmt::format("{}:{}", csv_path, reader.record_line());
    if (fields.size() != columns.count) {
      fail("{}: {} fields, but the header has {}", where, fields.size(), columns.count);
    }
    Utterance utterance;
    utterance.line = reader.record_line();
    utterance.utterance_id = index_field(fields[columns.utterance_id], "Utterance_ID", where);
    utterance.turn = {trim(decode_mixed_text(fields[columns.speaker])),
                      trim(decode_mixed_text(fields[columns.utterance]))};
    utterance.emotion = trim(fields[columns.emotion]);
    if (labels.index_of(utterance.emotion) < 0) {
      fail("{}: Emotion '{}' is not in {}", where, utterance.emotion, kMeld7);
    }
    if (utterance.turn.speaker.empty()) fail("{}: empty Speaker", where);
    const int64_t dialogue_id = index_field(fields[columns.dialogue_id], "Dialogue_ID", where);
    auto [it, is_new] = dialogues.try_emplace(dialogue_id);
    if (is_new) dialogue_order.push_back(dialogue_id);
    it->second.push_back(std::move(utterance));
  }

  ConvertStats stats;
  FeatureReferences references(features);
  for (const int64_t dialogue_id : dialogue_order) {
    std::vector<Utterance>& dialogue = dialogues[dialogue_id];
    std::stable_sort(dialogue.begin(), dialogue.end(),
                     [](const auto& a, const auto& b) { return a.utterance_id < b.utterance_id; });
    for (size_t i = 1; i < dialogue.size(); ++i) {
      if (dialogue[i].utterance_id == dialogue[i - 1].utterance_id) {
        fail("{}:{}: Dialogue_ID {} Utterance_ID {} again (first on line {})", csv_path,
             dialogue[i].line, dialogue_id, dialogue[i].utterance_id, dialogue[i - 1].line);
      }
    }
    ++stats.dialogues;
    for (size_t i = 0; i < dialogue.size(); ++i) {
      if (dialogue[i].turn.text.empty()) {
        ++stats.skipped_empty;
        continue;
      }
      DialogueText sample;
      sample.id = fmt::format("dia{}_utt{}", dialogue_id, dialogue[i].utterance_id);
      sample.label_set = kMeld7;
      sample.emotion = dialogue[i].emotion;
      sample.context = context_before(dialogue, i, max_context_turns,
                                      [](const Utterance& utterance) { return utterance.turn; });
      sample.response = dialogue[i].turn;
      const std::string future = future_summary(dialogue, i);
      if (!future.empty()) sample.privileged["future_summary"] = future;
      references.attach(sample, stats);
      sink(sample);
      ++stats.samples;
    }
  }
  return stats;
}

}  // namespace pride::dialogue
