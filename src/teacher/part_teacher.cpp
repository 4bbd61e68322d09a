// Teaching one rank's parts (see part_teacher.h).
#include "teacher/part_teacher.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "models/generate.h"
#include "teacher/label_scores.h"
#include "teacher/teacher_targets.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fault_injection.h"

namespace pride::teacher {
namespace {

namespace fs = std::filesystem;

std::vector<std::vector<int64_t>> widen(const std::vector<Ids>& lists) {
  std::vector<std::vector<int64_t>> wide;
  for (const Ids& ids : lists) wide.emplace_back(ids.begin(), ids.end());
  return wide;
}

}  // namespace

using dialogue::DialogueText;
using dialogue::Modality;

void PartTeacher::teach(const SampleRange& part, const std::string& path) {
  const std::string existing = fs::exists(path) ? stamp_of(path) : "";
  if (existing == stamp(header_.fingerprint, part)) {
    skip_to(part.end);
    progress_.reused(part.size());
    return;
  }
  if (fs::exists(path)) {
    fail(
        "{}: made by another teach configuration (stamp '{}', this run '{}'): give teach.out a "
        "new directory, or remove the old one",
        path, existing, stamp(header_.fingerprint, part));
  }
  skip_to(part.begin);
  std::vector<TaughtSample> taught;
  for (int64_t begin = part.begin; begin < part.end; begin += config_.batch_size) {
    const std::vector<DialogueText> batch = read(std::min(part.end, begin + config_.batch_size));
    for (TaughtSample& sample : teach_batch(batch, begin)) taught.push_back(std::move(sample));
    progress_.taught(static_cast<int64_t>(batch.size()));
  }
  write_part(path, header_, part, taught);
  maybe_inject_fault("teach_part", rank_, parts_written_++);  // the resumption tests crash here
}

void PartTeacher::skip_to(int64_t index) {
  DialogueText sample;
  while (next_index_ < index) next(sample);
}

std::vector<DialogueText> PartTeacher::read(int64_t end) {
  std::vector<DialogueText> batch;
  while (next_index_ < end) next(batch.emplace_back());
  return batch;
}

void PartTeacher::next(DialogueText& sample) {
  if (!reader_.next(sample)) fail("{}: ended before sample {}", config_.input, next_index_);
  ++next_index_;
}

std::vector<TaughtSample> PartTeacher::teach_batch(const std::vector<DialogueText>& batch,
                                                   int64_t first) {
  std::vector<SamplePrompts> prompts;
  std::vector<std::string> names;
  for (const DialogueText& sample : batch) {
    names.push_back(fmt::format("'{}' ({}, sample {})", sample.id, config_.input,
                                first + static_cast<int64_t>(names.size())));
    try {  // a chat template may refuse a sample's messages (raise_exception)
      prompts.push_back(builder_.prepare(sample, plugin_));
    } catch (const Error& error) {
      fail("{}: {}", names.back(), error.what());
    }
    progress_.note(prompts.back().first_turn, prompts.back().response_cut);
  }
  const std::vector<Ids> reasoning =
      config_.reasoning ? reason(prompts, first) : std::vector<Ids>{};
  std::vector<Ids> score_prompts, responses;
  for (size_t i = 0; i < batch.size(); ++i) {
    const Prompt score =
        builder_.score_prompt(batch[i], prompts[i], reasoning.empty() ? Ids{} : reasoning[i]);
    log_prompts(first + static_cast<int64_t>(i), prompts[i], score);
    score_prompts.push_back(score.ids);
    responses.push_back(prompts[i].response);
  }
  const auto begin = Clock::now();
  std::vector<TeacherTargets> targets =
      score_responses(teacher_.model, score_prompts, responses, config_.topk, config_.hidden_tokens,
                      names, device_);
  int64_t tokens = 0;
  for (size_t i = 0; i < batch.size(); ++i) tokens += score_prompts[i].size() + responses[i].size();
  progress_.scored(tokens, seconds_since(begin));
  std::vector<std::vector<float>> emotions;
  if (config_.score_emotions) {
    std::vector<Ids> emotion_prompts;
    for (const SamplePrompts& p : prompts) emotion_prompts.push_back(p.emotion_prompt.ids);
    emotions = score_labels(teacher_.model, emotion_prompts, label_ids_, names, device_);
  }

  std::vector<TaughtSample> taught(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    TaughtSample& out = taught[i];
    out.emotion = labels_.index_of(batch[i].emotion);
    out.context = std::move(prompts[i].context);
    out.response = std::move(prompts[i].response);
    out.privileged = std::move(prompts[i].privileged);
    if (!reasoning.empty()) out.privileged[kReasoningSource] = reasoning[i];
    out.targets = std::move(targets[i]);
    if (!emotions.empty()) out.emotion_logprobs = std::move(emotions[i]);
    out.audio = features_.load(batch[i], Modality::kAudio).value_or(dialogue::FeatureArray{});
    out.visual = features_.load(batch[i], Modality::kVisual).value_or(dialogue::FeatureArray{});
  }
  return taught;
}

// The teacher's reasoning for each sample: generated ids up to its stop token (kept only when
// it is all there is, so that no sample's reasoning is empty).
std::vector<Ids> PartTeacher::reason(const std::vector<SamplePrompts>& prompts, int64_t first) {
  std::vector<Ids> inputs;
  for (const SamplePrompts& p : prompts) inputs.push_back(p.reasoning_prompt.ids);
  const GenerationOptions options =
      generation_options(teacher_, config_.reasoning_max_tokens, config_.reasoning_temperature,
                         config_.reasoning_top_p, static_cast<uint64_t>(config_.seed + first));
  const auto begin = Clock::now();
  const std::vector<Generation> generations =
      generate(*teacher_.model, widen(inputs), options, device_);
  std::vector<Ids> reasoning;
  int64_t tokens = 0;
  for (const Generation& generation : generations) {
    Ids ids(generation.tokens.begin(), generation.tokens.end());
    tokens += static_cast<int64_t>(ids.size());
    if (generation.finish_reason == "stop" && ids.size() > 1) ids.pop_back();
    reasoning.push_back(std::move(ids));
  }
  progress_.generated(tokens, seconds_since(begin));
  return reasoning;
}

void PartTeacher::log_prompts(int64_t index, const SamplePrompts& prompts, const Prompt& score) {
  if (!prompt_log_.enabled()) return;
  nlohmann::ordered_json line = {{"sample", index},
                                 {"context", prompts.context_text},
                                 {"reasoning_prompt", prompts.reasoning_prompt.text},
                                 {"score_prompt", score.text}};
  if (config_.score_emotions) line["emotion_prompt"] = prompts.emotion_prompt.text;
  if (plugin_ != nullptr) {
    line["emotion_candidates"] = prompts.hints.candidates;
    line["cause_words"] = prompts.hints.cause_words;
  }
  prompt_log_.write(line);
}

}  // namespace pride::teacher
