// The dialogue text format: validation, one sample <-> one JSON line, the streaming reader and
// the writer.
#include "dialogue/dialogue.h"

#include <nlohmann/json.hpp>

#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <initializer_list>

#include "dialogue/label_sets.h"
#include "io/file_io.h"
#include "io/json_file.h"
#include "text/json_field.h"
#include "text/unicode.h"
#include "util/error.h"

namespace pride::dialogue {
namespace {

using nlohmann::json;
using OrderedJson = nlohmann::ordered_json;  // keys in the documented order
using text::JsonField;

bool is_valid_name(const std::string& name) {
  if (name.empty()) return false;
  for (const char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

// Ids name HDF5 groups (/features/<id>) and appear in messages: no '/', no control characters.
bool is_valid_id(const std::string& id) {
  if (id.empty() || id == "." || id == "..") return false;
  for (const char c : id) {
    if (c == '/' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return text::is_valid_utf8(id);
}

void require_only(const JsonField& object, std::initializer_list<const char*> keys) {
  if (!object.json().is_object())
    object.fail("expected an object, got " + text::shown(object.json()));
  for (const auto& item : object.json().items()) {
    if (std::find_if(keys.begin(), keys.end(), [&](const char* k) { return item.key() == k; }) ==
        keys.end()) {
      std::string known;
      for (const char* k : keys) known += known.empty() ? k : std::string(", ") + k;
      object.fail(fmt::format("unknown key '{}' (known: {})", item.key(), known));
    }
  }
}

Turn parse_turn(const JsonField& field) {
  require_only(field, {"speaker", "text"});
  return Turn{field["speaker"].string(), field["text"].string()};
}

Features parse_features(const JsonField& field) {
  Features features;
  if (field.json().is_object()) {
    require_only(field, {"file", "key"});
    features.file = field["file"].string();
    if (features.file.empty()) field["file"].fail("empty (a feature file path)");
    if (const auto key = field.find("key")) features.key = key->string();
    return features;
  }
  FeatureArray& array = features.values;
  array.frames = static_cast<int64_t>(field.size());
  for (size_t t = 0; t < field.size(); ++t) {
    const JsonField frame = field[t];
    if (t == 0) array.dim = static_cast<int64_t>(frame.size());
    if (static_cast<int64_t>(frame.size()) != array.dim) {
      frame.fail(fmt::format("{} values, but frame 0 has {}", frame.size(), array.dim));
    }
    for (size_t d = 0; d < frame.size(); ++d) {
      const json& value = frame.json()[d];
      // Beyond float's range the conversion would be undefined, not infinite.
      if (!value.is_number() || !(std::fabs(value.get<double>()) <= FLT_MAX)) {
        frame[d].fail("expected a number within float32 range, got " + text::shown(value));
      }
      array.values.push_back(static_cast<float>(value.get<double>()));
    }
  }
  return features;
}

void validate_turn(const Turn& turn, const std::string& where, const std::string& field) {
  if (turn.speaker.empty()) fail("{}: {}.speaker: empty", where, field);
  if (!text::is_valid_utf8(turn.speaker) || !text::is_valid_utf8(turn.text)) {
    fail("{}: {}: not valid UTF-8", where, field);
  }
}

void validate_features(const Features& features, const std::string& where, const char* field) {
  if (features.is_reference()) {
    if (!features.key.empty() && !is_valid_id(features.key)) {
      fail("{}: {}.key: '{}' cannot name an HDF5 group (empty, '/' or a control character)", where,
           field, features.key);
    }
    return;
  }
  const FeatureArray& array = features.values;
  if (array.frames < 1 || array.dim < 1) {
    fail("{}: {}: expected [frames][dim] with at least one frame and one value", where, field);
  }
  if (static_cast<int64_t>(array.values.size()) != array.frames * array.dim) {
    fail("{}: {}: {} values for {} frames of {}", where, field, array.values.size(), array.frames,
         array.dim);
  }
  for (const float value : array.values) {
    if (!std::isfinite(value)) fail("{}: {}: a value is not finite", where, field);
  }
}

OrderedJson features_json(const Features& features) {
  if (features.is_reference()) {
    OrderedJson reference = {{"file", features.file}};
    if (!features.key.empty()) reference["key"] = features.key;
    return reference;
  }
  OrderedJson frames = OrderedJson::array();
  const FeatureArray& array = features.values;
  for (int64_t t = 0; t < array.frames; ++t) {
    frames.push_back(std::vector<float>(array.values.begin() + t * array.dim,
                                        array.values.begin() + (t + 1) * array.dim));
  }
  return frames;
}

OrderedJson turn_json(const Turn& turn) {
  OrderedJson out;
  out["speaker"] = turn.speaker;
  out["text"] = turn.text;
  return out;
}

// Records `id` as seen on `line`; a second sighting is an error naming both.
void claim_id(std::unordered_map<std::string, int64_t>& ids, const std::string& id, int64_t line,
              const std::string& where, const char* unit) {
  const auto [it, inserted] = ids.emplace(id, line);
  if (!inserted) fail("{}: duplicate id '{}' (first at {} {})", where, id, unit, it->second);
}

}  // namespace

void validate(const DialogueText& sample, const std::string& where) {
  if (!is_valid_id(sample.id)) {
    fail("{}: id: '{}' is not a valid id (empty, '/' or a control character)", where, sample.id);
  }
  const LabelSet& set = [&]() -> const LabelSet& {
    try {
      return label_set(sample.label_set);
    } catch (const Error& e) {
      fail("{}: label_set: {}", where, e.what());
    }
  }();
  if (set.index_of(sample.emotion) < 0) {
    fail("{}: emotion: '{}' is not in label set {} ({})", where, sample.emotion, set.name,
         fmt::join(set.labels, ", "));
  }
  for (size_t i = 0; i < sample.context.size(); ++i) {
    validate_turn(sample.context[i], where, fmt::format("context[{}]", i));
  }
  validate_turn(sample.response, where, "response");
  if (sample.response.text.empty()) fail("{}: response.text: empty", where);
  for (const auto& [name, text] : sample.privileged) {
    if (!is_valid_name(name)) {
      fail("{}: privileged: source name '{}' is not [A-Za-z0-9_.-]+", where, name);
    }
    if (!text::is_valid_utf8(text)) fail("{}: privileged.{}: not valid UTF-8", where, name);
  }
  if (sample.audio) validate_features(*sample.audio, where, "audio");
  if (sample.visual) validate_features(*sample.visual, where, "visual");
  for (const auto& [field, text] :
       {std::pair{"reference", &sample.reference}, std::pair{"original", &sample.original}}) {
    if (*text && !text::is_valid_utf8(**text)) fail("{}: {}: not valid UTF-8", where, field);
  }
}

std::string to_json_line(const DialogueText& sample) {
  OrderedJson out;
  out["id"] = sample.id;
  out["label_set"] = sample.label_set;
  out["emotion"] = sample.emotion;
  out["context"] = OrderedJson::array();
  for (const Turn& turn : sample.context) out["context"].push_back(turn_json(turn));
  out["response"] = turn_json(sample.response);
  out["privileged"] = sample.privileged;
  if (sample.audio) out["audio"] = features_json(*sample.audio);
  if (sample.visual) out["visual"] = features_json(*sample.visual);
  if (sample.reference) out["reference"] = *sample.reference;
  if (sample.original) out["original"] = *sample.original;
  return out.dump();
}

DialogueText parse_json_line(const std::string& line, const std::string& where) {
  const json value = parse_json(line, where);
  const JsonField root(value, "", where);
  require_only(root, {"id", "label_set", "emotion", "context", "response", "privileged", "audio",
                      "visual", "reference", "original"});
  DialogueText sample;
  sample.id = root["id"].string();
  sample.label_set = root["label_set"].string();
  sample.emotion = root["emotion"].string();
  const JsonField context = root["context"];
  for (size_t i = 0; i < context.size(); ++i) sample.context.push_back(parse_turn(context[i]));
  sample.response = parse_turn(root["response"]);
  if (const auto privileged = root.find("privileged")) {
    if (!privileged->json().is_object()) privileged->fail("expected an object of texts");
    for (const auto& item : privileged->json().items()) {
      sample.privileged[item.key()] = (*privileged)[item.key().c_str()].string();
    }
  }
  if (const auto audio = root.find("audio")) sample.audio = parse_features(*audio);
  if (const auto visual = root.find("visual")) sample.visual = parse_features(*visual);
  if (const auto reference = root.find("reference")) sample.reference = reference->string();
  if (const auto original = root.find("original")) sample.original = original->string();
  validate(sample, where);
  return sample;
}

DialogueReader::DialogueReader(const std::string& path) : path_(path), in_(path) {
  if (!in_) fail("{}: cannot open the dialogue file", path);
}

bool DialogueReader::next(DialogueText& sample) {
  std::string line;
  if (!std::getline(in_, line)) {
    if (in_.bad()) fail("{}: read error after line {}", path_, line_number_);
    return false;
  }
  ++line_number_;
  const std::string where = fmt::format("{}:{}", path_, line_number_);
  if (line.empty()) fail("{}: empty line (one sample per line)", where);
  sample = parse_json_line(line, where);
  claim_id(id_lines_, sample.id, line_number_, where, "line");
  return true;
}

std::vector<DialogueText> read_dialogue_jsonl(const std::string& path) {
  DialogueReader reader(path);
  std::vector<DialogueText> samples;
  DialogueText sample;
  while (reader.next(sample)) samples.push_back(std::move(sample));
  return samples;
}

DialogueWriter::DialogueWriter(const std::string& path)
    : path_(path), temporary_(path + ".partial") {
  out_.open(temporary_, std::ios::binary | std::ios::trunc);
  if (!out_) fail("{}: cannot create the output file", temporary_);
}

DialogueWriter::~DialogueWriter() {
  if (out_.is_open()) {
    out_.close();
    std::remove(temporary_.c_str());
  }
}

void DialogueWriter::write(const DialogueText& sample) {
  const std::string where = fmt::format("{}: sample {} (id '{}')", path_, count_ + 1, sample.id);
  validate(sample, where);
  claim_id(ids_, sample.id, count_ + 1, where, "sample");
  out_ << to_json_line(sample) << '\n';
  ++count_;
}

void DialogueWriter::close() {
  out_.close();
  if (!out_) fail("{}: write failed (disk full?)", temporary_);
  commit_file(temporary_, path_);
}

}  // namespace pride::dialogue
