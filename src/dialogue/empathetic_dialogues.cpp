// EmpatheticDialogues CSV -> dialogue samples. The file quotes nothing and writes commas as
// "_comma_", but some rows hold raw commas anyway, which split them into extra fields; the
// fields are put back together as described in docs/dialogue-text.md.
#include <sstream>
#include <unordered_map>

#include "dialogue/converters.h"
#include "dialogue/csv.h"
#include "dialogue/encoding.h"
#include "dialogue/label_sets.h"
#include "util/error.h"

namespace pride::dialogue {
namespace {

constexpr const char* kHeader = "conv_id,utterance_idx,context,prompt,speaker_idx,utterance";

struct Row {
  std::string conv_id;
  int64_t utterance_idx = 0;
  std::string emotion, prompt, utterance;
  int64_t line = 0;
};

// The field's text with "_comma_" turned back into ',' (in one pass: replacing in place would be
// quadratic in a field of many of them).
std::string clean(const std::string& field) {
  constexpr std::string_view kComma = "_comma_";
  const std::string text = decode_mixed_text(field);
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  for (size_t at = text.find(kComma); at != std::string::npos; at = text.find(kComma, pos)) {
    out.append(text, pos, at - pos);
    out += ',';
    pos = at + kComma.size();
  }
  out.append(text, pos, std::string::npos);
  return trim(out);
}

std::string join(const std::vector<std::string>& fields, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) out += (i > begin ? "," : "") + fields[i];
  return out;
}

// selfeval looks like "5|5|5_2|2|5": digits, '|' and '_' with at least one '|'.
bool looks_like_selfeval(const std::string& field) {
  return field.find('|') != std::string::npos &&
         field.find_first_not_of("0123456789|_") == std::string::npos;
}

// One row from its fields: speaker_idx is the first integer field from the 5th on (so a prompt
// split by raw commas is joined back), selfeval the first field after the utterance that looks
// like one, else the second to last (so an utterance split by raw commas is joined back; fields
// after selfeval and tags are ignored).
Row parse_row(const std::vector<std::string>& f, const std::string& where) {
  const size_t n = f.size();
  if (n < 8) fail("{}: {} fields, expected at least 8 ({},selfeval,tags)", where, n, kHeader);
  size_t speaker = 4;
  while (speaker + 4 <= n && parse_index(f[speaker]) < 0) ++speaker;
  if (speaker + 4 > n) fail("{}: no integer speaker_idx field after the prompt", where);
  size_t selfeval = speaker + 2;
  while (selfeval < n - 2 && !looks_like_selfeval(f[selfeval])) ++selfeval;
  if (!looks_like_selfeval(f[selfeval])) selfeval = n - 2;
  Row row;
  row.conv_id = trim(f[0]);
  row.utterance_idx = parse_index(f[1]);
  if (row.conv_id.empty()) fail("{}: empty conv_id", where);
  if (row.utterance_idx < 1) fail("{}: utterance_idx '{}' is not a positive integer", where, f[1]);
  row.emotion = trim(f[2]);
  if (label_set(kEmpatheticDialogues32).index_of(row.emotion) < 0) {
    fail("{}: context: emotion '{}' is not in {}", where, row.emotion, kEmpatheticDialogues32);
  }
  row.prompt = clean(join(f, 3, speaker));
  row.utterance = clean(join(f, speaker + 1, selfeval));
  return row;
}

Turn turn_of(const Row& row) {
  return Turn{row.utterance_idx % 2 == 1 ? "speaker" : "listener", row.utterance};
}

// The samples of one conversation: one per listener (even) turn.
void emit_conversation(const std::vector<Row>& rows, size_t max_context_turns,
                       const SampleSink& sink, ConvertStats& stats) {
  ++stats.dialogues;
  for (size_t i = 1; i < rows.size(); i += 2) {
    if (rows[i].utterance.empty()) {
      ++stats.skipped_empty;
      continue;
    }
    DialogueText sample;
    sample.id = rows[i].conv_id + "_utt" + std::to_string(rows[i].utterance_idx);
    sample.label_set = kEmpatheticDialogues32;
    sample.emotion = rows[i].emotion;
    sample.context = context_before(rows, i, max_context_turns, turn_of);
    sample.response = turn_of(rows[i]);
    if (!rows[i].prompt.empty()) sample.privileged["situation"] = rows[i].prompt;
    sink(sample);
    ++stats.samples;
  }
}

}  // namespace

ConvertStats convert_empathetic_dialogues(const std::string& csv_path, const SampleSink& sink,
                                          size_t max_context_turns) {
  std::istringstream in(read_text_without_bom(csv_path));
  std::string line;
  std::getline(in, line);
  if (line.rfind(kHeader, 0) != 0) {
    fail("{}:1: not an EmpatheticDialogues CSV: the header must start with '{}'", csv_path,
         kHeader);
  }
  ConvertStats stats;
  std::vector<Row> conversation;
  std::unordered_map<std::string, int64_t> finished;  // conv_id -> its first line
  int64_t line_number = 1;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty() || line == "\r") continue;
    const std::string where = fmt::format("{}:{}", csv_path, line_number);
    Row row = parse_row(split_commas(line), where);
    row.line = line_number;
    if (!conversation.empty() && conversation.front().conv_id != row.conv_id) {
      finished.emplace(conversation.front().conv_id, conversation.front().line);
      emit_conversation(conversation, max_context_turns, sink, stats);
      conversation.clear();
    }
    if (const auto it = finished.find(row.conv_id); it != finished.end()) {
      fail("{}: conversation {} appears again (it began on line {})", where, row.conv_id,
           it->second);
    }
    const int64_t expected = static_cast<int64_t>(conversation.size()) + 1;
    if (row.utterance_idx != expected) {
      fail("{}: utterance_idx {} in conversation {}, expected {}", where, row.utterance_idx,
           row.conv_id, expected);
    }
    conversation.push_back(std::move(row));
  }
  if (!conversation.empty()) emit_conversation(conversation, max_context_turns, sink, stats);
  return stats;
}

}  // namespace pride::dialogue
