// Teaching one rank's parts: for each batch of samples, the teacher's reasoning (generation), the
// gold response scored teacher-forced (top-K and hidden states), and the part file written.
#pragma once

#include <torch/types.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "dialogue/dialogue.h"
#include "dialogue/features.h"
#include "dialogue/label_sets.h"
#include "teacher/chat_prompts.h"
#include "teacher/input_scan.h"
#include "teacher/progress.h"
#include "teacher/prompt_log.h"
#include "teacher/prompts.h"
#include "teacher/teach_file.h"
#include "teacher/teacher_model.h"
#include "teacher/work_plan.h"

namespace pride::teacher {

// Teaches one rank's parts, in order, skipping those already written with this stamp.
class PartTeacher {
 public:
  // `plugin`: teach.plugin's hints, or nullptr.
  PartTeacher(const Config& config, Teacher& teacher, const ChatTemplates& chat,
              const InputSummary& input, const TeachFileHeader& header, int rank,
              torch::Device device, Progress& progress, HintSource* plugin)
      : config_(config.teach),
        teacher_(teacher),
        header_(header),
        labels_(dialogue::label_set(input.label_set)),
        builder_(config.teach, *teacher.tokenizer, teacher.eos_id, chat, labels_.labels),
        label_ids_(builder_.label_ids()),
        plugin_(plugin),
        features_(std::filesystem::path(config.teach.input).parent_path().string()),
        reader_(config.teach.input),
        rank_(rank),
        device_(device),
        progress_(progress),
        prompt_log_(rank) {}

  // Teaches the samples of `part` into the file `path`, or skips it when `path` holds it already.
  void teach(const SampleRange& part, const std::string& path);

 private:
  void skip_to(int64_t index);
  std::vector<dialogue::DialogueText> read(int64_t end);
  void next(dialogue::DialogueText& sample);
  std::vector<TaughtSample> teach_batch(const std::vector<dialogue::DialogueText>& batch,
                                        int64_t first);
  // The teacher's reasoning for each sample: generated ids up to its stop token (kept only when
  // it is all there is, so that no sample's reasoning is empty).
  std::vector<Ids> reason(const std::vector<SamplePrompts>& prompts, int64_t first);
  // PRIDE_TEACH_PROMPTS (prompt_log.h): one line per sample taught: its index, context,
  // reasoning and scoring prompts as text.
  void log_prompts(int64_t index, const SamplePrompts& prompts, const Prompt& score);

  const TeachConfig& config_;
  Teacher& teacher_;
  const TeachFileHeader& header_;
  const dialogue::LabelSet& labels_;
  PromptBuilder builder_;
  std::vector<Ids> label_ids_;  // each emotion label as it follows the emotion prompt
  HintSource* plugin_;
  dialogue::FeatureLoader features_;
  dialogue::DialogueReader reader_;
  int64_t next_index_ = 0;
  int rank_;
  int64_t parts_written_ = 0;
  torch::Device device_;
  Progress& progress_;
  PromptLog prompt_log_;
};

}  // namespace pride::teacher
