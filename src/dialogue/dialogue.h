// The dialogue text format (docs/dialogue-text.md): one dialogue sample per JSON line, with its
// context turns, gold response, emotion label, named privileged text sources and optional
// audio/visual features. A strict streaming reader (every error names the file and line) and a
// writer that refuses what the reader would refuse.
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace pride::dialogue {

struct Turn {
  std::string speaker;
  std::string text;
};

// A [frames][dim] float array, row-major.
struct FeatureArray {
  int64_t frames = 0, dim = 0;
  std::vector<float> values;
};

// One modality's features of a sample: inline values, or a reference to the dataset
// /features/<key>/<modality> of an HDF5 feature file (features.h loads it).
struct Features {
  FeatureArray values;  // inline; empty when `file` is set
  std::string file;     // the feature file as written in the line (relative: to the JSONL's dir)
  std::string key;      // the group under /features/; the sample id unless the line says otherwise
  bool is_reference() const { return !file.empty(); }
};

struct DialogueText {
  std::string id;             // unique in its file; no '/' (it names an HDF5 group)
  std::string label_set;      // a name from label_sets.h, e.g. "empathetic-dialogues-32"
  std::string emotion;        // one of label_set's labels
  std::vector<Turn> context;  // oldest first; may be empty
  Turn response;              // the gold response
  std::map<std::string, std::string> privileged;  // source name -> text (training only)
  std::optional<Features> audio, visual;
  // Written by `pride teach`'s response modes (docs/dpo.md): the data set's gold response, kept as
  // the reference when `response` is the teacher's; the response an improvement rewrote.
  std::optional<std::string> reference, original;
};

// Checks a sample against the format's rules (what the reader enforces beyond JSON types);
// `where` prefixes the error ("file:line").
void validate(const DialogueText& sample, const std::string& where);

// One JSON line (no newline) of a valid sample; keys in the documented order.
std::string to_json_line(const DialogueText& sample);
// Parses one line strictly; errors start with `where`.
DialogueText parse_json_line(const std::string& line, const std::string& where);

// Streams a JSONL file of samples. Errors (unreadable file, a line that is not valid JSON, an
// unknown key, a wrong type, a missing field, an emotion outside its label set, a duplicate id)
// are pride::Errors naming the file and line.
class DialogueReader {
 public:
  explicit DialogueReader(const std::string& path);
  // The next sample into `sample`; false at the end of the file.
  bool next(DialogueText& sample);
  int64_t line_number() const { return line_number_; }  // of the sample last returned
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream in_;
  int64_t line_number_ = 0;
  std::unordered_map<std::string, int64_t> id_lines_;  // id -> line it was first seen on
};

std::vector<DialogueText> read_dialogue_jsonl(const std::string& path);

// Writes samples to `path` through a temporary file renamed into place by close(), so that an
// interrupted conversion never leaves a file that looks finished. Each sample is validated, and
// a duplicate id is an error, as in the reader.
class DialogueWriter {
 public:
  explicit DialogueWriter(const std::string& path);
  ~DialogueWriter();  // without close(): removes the temporary file
  void write(const DialogueText& sample);
  void close();
  int64_t count() const { return count_; }

 private:
  std::string path_, temporary_;
  std::ofstream out_;
  int64_t count_ = 0;
  std::unordered_map<std::string, int64_t> ids_;
};

}  // namespace pride::dialogue
