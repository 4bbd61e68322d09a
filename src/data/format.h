// Names of the datasets and attributes of the pride dialogue + teacher HDF5 format, version 1
// (docs/data-format.md), and the small helpers that derive one name from another.
#pragma once

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace pride::format {

// A teacher row's top-K probabilities are part of one distribution: their sum may not exceed 1
// by more than this (float32 rounding of stored log-probs).
inline constexpr double kTopkMassTolerance = 1e-3;

// A teacher emotion row is one distribution: its probabilities sum to 1 within this (float16
// storage rounds each log-probability to about 1e-3 relative).
inline constexpr double kEmotionMassTolerance = 1e-2;

// sum_k exp(logprobs[k]) of one teacher row, in double.
inline double topk_mass(const float* logprobs, int64_t k) {
  double mass = 0;
  for (int64_t i = 0; i < k; ++i) mass += std::exp(static_cast<double>(logprobs[i]));
  return mass;
}

// What is wrong with one sample's teacher emotion row (log-probabilities of one distribution over
// `n` emotions), or "" when nothing is.
inline std::string emotion_row_problem(const float* logprobs, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(logprobs[i])) return "holds NaN";
    if (logprobs[i] > 0) return "holds a log-probability above 0";
  }
  const double mass = topk_mass(logprobs, n);
  if (std::abs(mass - 1) > kEmotionMassTolerance) {
    return "has emotion probabilities summing to " + std::to_string(mass) + ", not 1";
  }
  return "";
}

inline constexpr char kFormatName[] = "pride-dialogue";
inline constexpr int64_t kVersion = 1;

// Root attributes.
inline constexpr char kAttrFormat[] = "format";
inline constexpr char kAttrVersion[] = "version";
inline constexpr char kAttrVocabSize[] = "vocab_size";
inline constexpr char kAttrNumEmotions[] = "num_emotions";
inline constexpr char kAttrPadId[] = "pad_id";
inline constexpr char kAttrBosId[] = "bos_id";
inline constexpr char kAttrEosId[] = "eos_id";
inline constexpr char kAttrModalities[] = "modalities";
inline constexpr char kAttrPrivilegedSources[] = "privileged_sources";
// Optional provenance, written by `pride teach`: the tokenizer's identity (text::Tokenizer::
// identity(); a student with another tokenizer must not train on the file), the emotion labels in
// class order (comma-separated) and the teacher model.
inline constexpr char kAttrTokenizer[] = "tokenizer";
inline constexpr char kAttrEmotionLabels[] = "emotion_labels";
inline constexpr char kAttrTeacher[] = "teacher";
inline constexpr const char* kOptionalStringAttributes[] = {kAttrTokenizer, kAttrEmotionLabels,
                                                            kAttrTeacher};

// Datasets. Variable-length fields are flat with an int64 "<name>_offsets" array of N+1 entries.
inline constexpr char kContext[] = "/samples/context";
inline constexpr char kResponse[] = "/samples/response";
inline constexpr char kEmotion[] = "/samples/emotion";
inline constexpr char kPrivilegedGroup[] = "/samples/privileged";
inline constexpr char kTopkIds[] = "/teacher/topk_ids";
inline constexpr char kTopkLogprobs[] = "/teacher/topk_logprobs";
inline constexpr char kTeacherHidden[] = "/teacher/hidden";
inline constexpr char kTeacherHiddenTokens[] = "/teacher/hidden_tokens";  // optional, [R, H]
// Optional, [N, E]: the teacher's emotion distribution per sample as log-probabilities (pride teach
// with teach.score_emotions, or a plug-in signal of pride data synth).
inline constexpr char kTeacherEmotionLogprobs[] = "/teacher/emotion_logprobs";

inline constexpr char kAudio[] = "audio";
inline constexpr char kVisual[] = "visual";
inline const std::vector<std::string> kKnownModalities = {kAudio, kVisual};

inline std::string offsets_of(const std::string& dataset) {
  return dataset + "_offsets";
}
inline std::string privileged_dataset(const std::string& source) {
  return std::string(kPrivilegedGroup) + "/" + source;
}
inline std::string modality_dataset(const std::string& modality) {
  return "/samples/" + modality;
}

// "a,b,c" <-> {a, b, c}; the empty string is the empty list.
inline std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

inline std::string join_list(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) text += (text.empty() ? "" : ",") + item;
  return text;
}

}  // namespace pride::format
