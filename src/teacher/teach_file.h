// The files `pride teach` writes, all in the dialogue format of docs/data-format.md: a part (the
// taught samples of one SampleRange, the unit of resumption) and a rank's shard (its parts
// concatenated). Both are written under a temporary name and renamed when complete, and both
// carry the run's fingerprint, so that a file from another configuration is never taken for
// finished work.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dialogue/dialogue.h"
#include "teacher/teacher_targets.h"
#include "teacher/work_plan.h"

namespace pride::teacher {

// The root attribute that stamps a file with the fingerprint of the teach configuration that made
// it and its sample range: "<fingerprint>@<begin>-<end>".
inline constexpr char kAttrStamp[] = "teach_stamp";
// The privileged source that holds the teacher's reasoning.
inline constexpr char kReasoningSource[] = "reasoning";
std::string stamp(const std::string& fingerprint, const SampleRange& range);

// What every file of one teach run shares: the root attributes and the dataset widths.
struct TeachFileHeader {
  int64_t vocab_size = 0, pad_id = 0, bos_id = 0, eos_id = 0;
  std::vector<std::string> emotion_labels;
  std::vector<std::string> privileged_sources;  // sorted
  std::string tokenizer, teacher;
  std::string fingerprint;  // of the teach configuration, see stamp()
  int64_t topk = 0, hidden_size = 0;
  int64_t audio_dim = 0, visual_dim = 0;  // 0: the modality is absent
  bool half = false;                      // fp16 floats
  bool hidden_tokens = false;
  bool emotion_logprobs = false;  // /teacher/emotion_logprobs (teach.score_emotions)
};

// One sample, taught: everything its rows in the file hold.
struct TaughtSample {
  int32_t emotion = 0;
  std::vector<int32_t> context, response;
  std::map<std::string, std::vector<int32_t>> privileged;  // missing sources are written empty
  dialogue::FeatureArray audio, visual;                    // frames 0 when the sample has none
  TeacherTargets targets;
  std::vector<float> emotion_logprobs;  // [E] when the header says so
};

// Writes the samples of `range` as a complete file at `path` (via `path`.partial).
void write_part(const std::string& path, const TeachFileHeader& header, const SampleRange& range,
                const std::vector<TaughtSample>& samples);

// Concatenates `parts` (in order), together the samples of `range`, into `path` (via .partial).
void merge_parts(const std::vector<std::string>& parts, const TeachFileHeader& header,
                 const SampleRange& range, const std::string& path);

// The stamp `path` carries, "" when it has none or is not a readable HDF5 file.
std::string stamp_of(const std::string& path);

}  // namespace pride::teacher
