// ESConv JSON -> dialogue samples: one per supporter turn. Both speaker namings of the published
// files are read: seeker/supporter (ESConv.json) and speaker/listener (FailedESConv.json).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

#include "dialogue/converters.h"
#include "dialogue/csv.h"
#include "dialogue/label_sets.h"
#include "io/json_file.h"
#include "text/json_field.h"
#include "util/error.h"

namespace pride::dialogue {
namespace {

using text::JsonField;

struct EsconvTurn {
  Turn turn;
  std::string strategy;  // supporter turns: the annotated strategy, if any
};

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string role_of(const JsonField& speaker) {
  const std::string name = lower(trim(speaker.string()));
  if (name == "seeker" || name == "speaker" || name == "usr") return "seeker";
  if (name == "supporter" || name == "listener" || name == "sys") return "supporter";
  speaker.fail("'" + name + "' is neither seeker (speaker) nor supporter (listener)");
}

EsconvTurn parse_esconv_turn(const JsonField& field) {
  EsconvTurn turn;
  turn.turn = {role_of(field["speaker"]), trim(field["content"].string())};
  if (const auto annotation = field.find("annotation")) {
    turn.strategy = trim(annotation->string_or("strategy", ""));
  }
  return turn;
}

void convert_record(const JsonField& record, int64_t index, size_t max_context_turns,
                    const SampleSink& sink, ConvertStats& stats) {
  const std::string emotion = lower(trim(record["emotion_type"].string()));
  if (label_set(kEsconv11).index_of(emotion) < 0) {
    record["emotion_type"].fail("'" + emotion + "' is not in " + kEsconv11);
  }
  const std::string situation = trim(record["situation"].string());
  const std::string problem = trim(record["problem_type"].string());
  const JsonField dialog = record["dialog"];
  std::vector<EsconvTurn> turns;
  for (size_t i = 0; i < dialog.size(); ++i) turns.push_back(parse_esconv_turn(dialog[i]));
  ++stats.dialogues;
  for (size_t i = 0; i < turns.size(); ++i) {
    if (turns[i].turn.speaker != "supporter") continue;
    if (turns[i].turn.text.empty()) {
      ++stats.skipped_empty;
      continue;
    }
    DialogueText sample;
    sample.id = fmt::format("conv{}_turn{}", index, i);
    sample.label_set = kEsconv11;
    sample.emotion = emotion;
    sample.context = context_before(turns, i, max_context_turns,
                                    [](const EsconvTurn& turn) { return turn.turn; });
    sample.response = turns[i].turn;
    if (!situation.empty()) sample.privileged["situation"] = situation;
    if (!problem.empty()) sample.privileged["problem"] = problem;
    if (!turns[i].strategy.empty()) sample.privileged["strategy"] = turns[i].strategy;
    sink(sample);
    ++stats.samples;
  }
}

}  // namespace

ConvertStats convert_esconv(const std::string& json_path, const SampleSink& sink,
                            size_t max_context_turns) {
  const nlohmann::json root = parse_json(read_text_without_bom(json_path), json_path);
  const JsonField records(root, "", json_path);
  if (!root.is_array()) records.fail("expected an array of conversations");
  ConvertStats stats;
  for (size_t i = 0; i < records.size(); ++i) {
    convert_record(records[i], static_cast<int64_t>(i), max_context_turns, sink, stats);
  }
  return stats;
}

}  // namespace pride::dialogue
