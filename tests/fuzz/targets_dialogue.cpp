// Fuzz targets of the dialogue text side: JSONL samples, the EmpatheticDialogues and MELD CSV and
// ESConv JSON converters, and HDF5 feature files (built per case from a mutated description:
// rank, dims up to 2^40, element type, group instead of dataset; sometimes damaged bytes).
#include <hdf5.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dialogue/converters.h"
#include "dialogue/dialogue.h"
#include "dialogue/features.h"
#include "fuzz.h"
#include "util/error.h"

namespace pride::fuzz {
namespace {

using dialogue::DialogueText;
using nlohmann::json;

std::string fixture(const std::string& name) {
  return read_file(std::string(PRIDE_FUZZ_SOURCE_DIR) + "/../data/dialogue/" + name);
}

// What every accepted sample must satisfy: valid, a capped context, and a JSON round trip.
void check_sample(const DialogueText& sample, bool round_trip) {
  dialogue::validate(sample, "fuzz: sample '" + sample.id + "'");
  check(sample.context.size() <= dialogue::kDefaultMaxContextTurns,
        "a sample with " + std::to_string(sample.context.size()) + " context turns");
  if (!round_trip) return;
  const DialogueText again = dialogue::parse_json_line(dialogue::to_json_line(sample), "fuzz");
  check(again.id == sample.id && again.context.size() == sample.context.size() &&
            again.response.text == sample.response.text && again.privileged == sample.privileged,
        "sample '" + sample.id + "' does not survive a JSON round trip");
}

// A converter's sink: checks each sample (the first ones round-tripped, to keep long dialogues
// fast).
dialogue::SampleSink checking_sink() {
  auto count = std::make_shared<size_t>(0);
  return [count](const DialogueText& sample) { check_sample(sample, (*count)++ < 50); };
}

const std::vector<std::string>& dialogue_words() {
  static const std::vector<std::string> words = {
      "id",         "label_set",   "emotion",      "context",      "response",
      "speaker",    "text",        "privileged",   "audio",        "visual",
      "file",       "key",         "meld-7",       "esconv-11",    "empathetic-dialogues-32",
      "joy",        "sad",         "anxiety",      "supporter",    "seeker",
      "listener",   "usr",         "sys",          "dialog",       "content",
      "annotation", "strategy",    "emotion_type", "problem_type", "situation",
      "neutral",    "sentimental", "Chandler",     "features.h5",  "/features/x/audio"};
  return words;
}

// --- JSONL ---------------------------------------------------------------------------------------

std::string jsonl_seed() {
  const json a = {{"id", "s1"},
                  {"label_set", "meld-7"},
                  {"emotion", "joy"},
                  {"context", {{{"speaker", "Ross"}, {"text", "He said, \"Pivot!\""}}}},
                  {"response", {{"speaker", "Rachel"}, {"text", "Oh my God\u2026"}}},
                  {"privileged", {{"future_summary", "Ross: Okay."}}},
                  {"audio", {{0.1, 0.2}, {0.3, 0.4}}}};
  json b = a;
  b["id"] = "s2";
  b["label_set"] = "esconv-11";
  b["emotion"] = "anxiety";
  b.erase("audio");
  b["visual"] = {{1.5}};
  return a.dump() + "\n" + b.dump() + "\n";
}

Target jsonl_target() {
  Target target;
  target.name = "dialogue_jsonl";
  target.main_file = "samples.jsonl";
  target.seed = [](Rng&) { return Files{{"samples.jsonl", jsonl_seed()}}; };
  target.mutate = [](Files& files, Rng& rng) {
    std::vector<std::string> lines = lines_of(files["samples.jsonl"]);
    if (lines.empty() || rng.chance(0.1)) {
      mutate_bytes(files["samples.jsonl"], rng);
      return;
    }
    if (rng.chance(0.1)) lines.push_back(lines[rng.below(lines.size())]);  // a duplicate id
    mutate_json(lines[rng.below(lines.size())], rng, dialogue_words());
    files["samples.jsonl"] = joined(lines);
  };
  target.run = [](const std::string& dir) {
    dialogue::FeatureLoader loader(dir);
    for (const DialogueText& sample : dialogue::read_dialogue_jsonl(dir + "/samples.jsonl")) {
      check_sample(sample, true);
      for (const auto modality : {dialogue::Modality::kAudio, dialogue::Modality::kVisual}) {
        loader.load(sample, modality);
      }
    }
  };
  return target;
}

// --- converters ----------------------------------------------------------------------------------

// A conversation of `turns` rows appended: conversion must stay linear.
std::string long_ed_conversation(size_t turns) {
  std::string rows;
  for (size_t i = 1; i <= turns; ++i) {
    rows += fmt::format("\nhit:9_conv:99,{},sad,a prompt,{},turn {} of a long talk,5|5|5_2|2|5,", i,
                        i % 2, i);
  }
  return rows;
}

std::string long_meld_dialogue(size_t utterances) {
  std::string rows;
  for (size_t i = 0; i < utterances; ++i) {
    rows += fmt::format("\n{},\"line {}, said\",Joey,joy,positive,999,{},1,1,\"0:0\",\"0:1\"", i, i,
                        utterances - 1 - i);
  }
  return rows;
}

json long_esconv_record(size_t turns) {
  json dialog = json::array();
  for (size_t i = 0; i < turns; ++i) {
    dialog.push_back({{"speaker", i % 2 ? "supporter" : "seeker"},
                      {"content", "turn " + std::to_string(i)},
                      {"annotation", {{"strategy", "Question"}}}});
  }
  return {{"emotion_type", "anxiety"},
          {"problem_type", "job"},
          {"situation", "long"},
          {"dialog", dialog}};
}

constexpr size_t kLongDialogueTurns = 3000;
constexpr double kLongDialogueChance = 0.02;

Target csv_target(const std::string& name, const std::string& fixture_name, bool meld) {
  Target target;
  target.name = name;
  target.main_file = "data.csv";
  target.seed = [fixture_name](Rng&) { return Files{{"data.csv", fixture(fixture_name)}}; };
  target.mutate = [meld](Files& files, Rng& rng) {
    std::string& csv = files["data.csv"];
    if (rng.chance(kLongDialogueChance)) {
      csv +=
          meld ? long_meld_dialogue(kLongDialogueTurns) : long_ed_conversation(kLongDialogueTurns);
      return;
    }
    mutate_csv(csv, rng, dialogue_words());
  };
  target.run = [meld](const std::string& dir) {
    const std::string path = dir + "/data.csv";
    if (meld) {
      dialogue::convert_meld(path, {}, checking_sink());
    } else {
      dialogue::convert_empathetic_dialogues(path, checking_sink());
    }
  };
  return target;
}

Target esconv_target() {
  Target target;
  target.name = "esconv";
  target.main_file = "esconv.json";
  target.seed = [](Rng&) { return Files{{"esconv.json", fixture("esconv.json")}}; };
  target.mutate = [](Files& files, Rng& rng) {
    std::string& text = files["esconv.json"];
    if (rng.chance(kLongDialogueChance)) {
      json root = json::parse(text);
      root.push_back(long_esconv_record(kLongDialogueTurns));
      text = root.dump();
      return;
    }
    mutate_json(text, rng, dialogue_words());
  };
  target.run = [](const std::string& dir) {
    dialogue::convert_esconv(dir + "/esconv.json", checking_sink());
  };
  return target;
}

// --- feature files -------------------------------------------------------------------------------

// What one modality's object in the feature file looks like.
struct DatasetSpec {
  int kind = 1;  // 0 missing, 1 dataset, 2 group
  int rank = 2;
  hsize_t dims[3] = {3, 2, 2};
  hid_t type = H5T_NATIVE_FLOAT;
  int fill = 0;  // 0 finite values, 1 a NaN, 2 values beyond float's range (as float64)
};

hsize_t interesting_dim(Rng& rng) {
  const hsize_t dims[] = {0, 1, 2, 3, 7, 64, hsize_t{1} << 20, hsize_t{1} << 31, hsize_t{1} << 40};
  return dims[rng.below(sizeof dims / sizeof dims[0])];
}

DatasetSpec random_spec(Rng& rng) {
  DatasetSpec spec;
  if (rng.chance(0.3)) return spec;  // the valid one
  spec.kind = rng.chance(0.1) ? 0 : rng.chance(0.1) ? 2 : 1;
  spec.rank = rng.chance(0.6) ? 2 : static_cast<int>(rng.below(4));
  for (hsize_t& dim : spec.dims) dim = rng.chance(0.5) ? 1 + rng.below(4) : interesting_dim(rng);
  const hid_t types[] = {H5T_NATIVE_FLOAT, H5T_NATIVE_DOUBLE, H5T_NATIVE_INT32, H5T_NATIVE_UINT8,
                         H5T_C_S1};
  spec.type = types[rng.below(5)];
  spec.fill = static_cast<int>(rng.below(3));
  return spec;
}

// Writes the dataset of `spec` (chunked when large, so that a [2^40][2^40] declaration costs
// nothing; small ones get values).
void write_dataset(hid_t file, const std::string& name, const DatasetSpec& spec) {
  hid_t link = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(link, 1);
  if (spec.kind == 2) {
    H5Gclose(H5Gcreate2(file, name.c_str(), link, H5P_DEFAULT, H5P_DEFAULT));
    H5Pclose(link);
    return;
  }
  hid_t type = H5Tcopy(spec.type);
  if (spec.type == H5T_C_S1) H5Tset_size(type, 8);
  constexpr hsize_t kCap = hsize_t{1} << 20;  // saturating: the element count, up to 2^20
  hsize_t total = 1;
  for (int i = 0; i < spec.rank; ++i) total = std::min(kCap, total * std::min(kCap, spec.dims[i]));
  const bool small = total <= 4096;
  const hsize_t max_dims[3] = {H5S_UNLIMITED, H5S_UNLIMITED, H5S_UNLIMITED};
  const hid_t space = spec.rank == 0
                          ? H5Screate(H5S_SCALAR)
                          : H5Screate_simple(spec.rank, spec.dims, small ? nullptr : max_dims);
  hid_t create = H5Pcreate(H5P_DATASET_CREATE);
  if (!small && spec.rank > 0) {
    hsize_t chunk[3] = {1, 1, 1};
    H5Pset_chunk(create, spec.rank, chunk);
  }
  hid_t dataset = H5Dcreate2(file, name.c_str(), type, space, link, create, H5P_DEFAULT);
  if (dataset >= 0 && small && total > 0 && spec.type != H5T_C_S1) {
    std::vector<double> values(total);
    for (size_t i = 0; i < values.size(); ++i) values[i] = 0.25 * static_cast<double>(i);
    if (spec.fill == 1) values[0] = std::nan("");
    if (spec.fill == 2) values[0] = 1e300;
    H5Dwrite(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  }
  if (dataset >= 0) H5Dclose(dataset);
  H5Pclose(create);
  H5Sclose(space);
  H5Tclose(type);
  H5Pclose(link);
}

// The bytes of a feature file with /features/s1/{audio,visual} as the specs say.
std::string feature_file(const DatasetSpec& audio, const DatasetSpec& visual) {
  const std::string path = std::filesystem::temp_directory_path().string() + "/pride-fuzz-" +
                           std::to_string(::getpid()) + ".h5";
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (audio.kind != 0) write_dataset(file, "/features/s1/audio", audio);
  if (visual.kind != 0) write_dataset(file, "/features/s1/visual", visual);
  H5Fclose(file);
  std::string bytes = read_file(path);
  std::filesystem::remove(path);
  return bytes;
}

std::string feature_jsonl() {
  const json sample = {{"id", "s1"},
                       {"label_set", "meld-7"},
                       {"emotion", "joy"},
                       {"context", json::array()},
                       {"response", {{"speaker", "A"}, {"text", "hi"}}},
                       {"audio", {{"file", "features.h5"}}},
                       {"visual", {{"file", "features.h5"}, {"key", "s1"}}}};
  return sample.dump() + "\n";
}

// Some cases damage the file's bytes as well: the HDF5 library must refuse them cleanly.
constexpr double kByteDamageChance = 0.15;

Target features_target() {
  Target target;
  target.name = "features_h5";
  target.main_file = "features.h5";
  target.seed = [](Rng&) {
    return Files{{"samples.jsonl", feature_jsonl()},
                 {"features.h5", feature_file(DatasetSpec{}, DatasetSpec{})}};
  };
  target.mutate = [](Files& files, Rng& rng) {
    files["features.h5"] = feature_file(random_spec(rng), random_spec(rng));
    if (rng.chance(kByteDamageChance)) mutate_bytes(files["features.h5"], rng);
  };
  target.run = [](const std::string& dir) {
    dialogue::FeatureLoader loader(dir);
    for (const DialogueText& sample : dialogue::read_dialogue_jsonl(dir + "/samples.jsonl")) {
      for (const auto modality : {dialogue::Modality::kAudio, dialogue::Modality::kVisual}) {
        const auto array = loader.load(sample, modality);
        if (!array) continue;
        check(array->frames >= 1 && array->dim >= 1 &&
                  static_cast<int64_t>(array->values.size()) == array->frames * array->dim,
              "a feature array whose shape does not match its values");
        for (const float value : array->values) check(std::isfinite(value), "a non-finite feature");
      }
    }
  };
  return target;
}

}  // namespace

std::vector<Target> dialogue_targets() {
  return {jsonl_target(), csv_target("ed_csv", "empathetic_dialogues.csv", false),
          csv_target("meld_csv", "meld.csv", true), esconv_target(), features_target()};
}

}  // namespace pride::fuzz
