// Implements hef_run.h: each rank answers its contiguous share of the samples into its own file;
// rank 0 joins the files in rank order (input order) and computes the metrics from the joined file.
#include "hef/hef_run.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <memory>

#include "dialogue/dialogue.h"
#include "dialogue/features.h"
#include "dialogue/label_sets.h"
#include "distributed/rank_files.h"
#include "eval/text_metrics.h"
#include "io/file_io.h"
#include "models/generate.h"
#include "teacher/chat_prompts.h"
#include "teacher/input_scan.h"
#include "teacher/label_scores.h"
#include "teacher/plugin.h"
#include "teacher/prompts.h"
#include "teacher/teacher_model.h"
#include "util/error.h"

namespace pride::hef {

const char kHefResponseTemplate[] =
    "{dialogue}\n"
    "An emotion expert suggests the other person feels, most likely first: "
    "{emotion_candidates}; the words that caused it: {cause_words}. Write {speaker}'s next "
    "reply: one or two empathetic sentences that recognise that feeling.\n"
    "{speaker}:";

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using teacher::Ids;

// One way of asking the teacher: with the plug-in's hints (HEF) or without.
struct Arm {
  TeachConfig config;
  std::unique_ptr<teacher::PromptBuilder> builder;
  std::string response_template;
};

Arm make_arm(const Config& config, const teacher::Teacher& teacher,
             const teacher::ChatTemplates& chat, const std::vector<std::string>& labels,
             bool with_plugin) {
  Arm arm{config.teach, nullptr, ""};
  arm.config.reasoning = false;
  arm.config.score_emotions = true;
  if (with_plugin) {
    arm.config.prompt_set = "hef";
    arm.response_template =
        config.hef.response_template.empty() ? kHefResponseTemplate : config.hef.response_template;
  } else {  // the built-in plain prompts: the user's templates may name the plug-in's hints
    arm.config.plugin.clear();
    arm.config.prompt_set = "default";
    arm.config.emotion_template.clear();
    arm.response_template = teacher::kDirectResponseTemplate;
  }
  arm.builder = std::make_unique<teacher::PromptBuilder>(arm.config, *teacher.tokenizer,
                                                         teacher.eos_id, chat, labels);
  arm.builder->check_request_template(arm.response_template, "hef.response_template");
  return arm;
}

void require(const std::string& value, const char* key) {
  if (value.empty()) fail("hef: {} is required (--set {}=...)", key, key);
}

class HefRank {
 public:
  HefRank(const Config& config, torch::Device device)
      : config_(config),
        device_(device),
        teacher_(teacher::load_teacher(config.teach, device)),
        chat_(teacher::find_chat_templates(config)),
        features_(fs::path(config.teach.input).parent_path().string()),
        input_(teacher::scan_input(config.teach.input, features_, /*reasoning=*/false)),
        labels_(dialogue::label_set(input_.label_set).labels),
        plugin_(config.teach, labels_, *teacher_.tokenizer, device),
        without_(make_arm(config, teacher_, chat_, labels_, false)),
        with_(make_arm(config, teacher_, chat_, labels_, true)),
        label_ids_(with_.builder->label_ids()) {}

  int64_t samples() const { return input_.samples; }

  // The JSON line of each sample of [begin, end).
  std::vector<std::string> answer(int64_t begin, int64_t end) {
    dialogue::DialogueReader reader(config_.teach.input);
    dialogue::DialogueText sample;
    for (int64_t i = 0; i < begin; ++i) reader.next(sample);
    std::vector<std::string> lines;
    std::vector<dialogue::DialogueText> batch;
    for (int64_t i = begin; i < end; ++i) {
      if (!reader.next(batch.emplace_back())) fail("{}: ended before sample {}", reader.path(), i);
      if (static_cast<int64_t>(batch.size()) == config_.teach.batch_size || i + 1 == end) {
        for (const json& line : answer_batch(batch, i + 1 - static_cast<int64_t>(batch.size()))) {
          lines.push_back(line.dump());
        }
        batch.clear();
      }
    }
    return lines;
  }

 private:
  std::vector<json> answer_batch(const std::vector<dialogue::DialogueText>& batch, int64_t first) {
    std::vector<teacher::SamplePrompts> plain, helped;
    std::vector<json> lines;
    std::vector<std::string> names;
    for (size_t i = 0; i < batch.size(); ++i) {
      names.push_back(fmt::format("'{}' ({}, sample {})", batch[i].id, config_.teach.input,
                                  first + static_cast<int64_t>(i)));
      plain.push_back(without_.builder->prepare(batch[i]));
      helped.push_back(with_.builder->prepare(batch[i], &plugin_));
      lines.push_back(start_line(batch[i], first + static_cast<int64_t>(i)));
    }
    add_emotions(plain, names, "teacher", lines);
    add_emotions(helped, names, "teacher_with_plugin", lines);
    add_responses(without_, batch, plain, "response_without_plugin", lines);
    add_responses(with_, batch, helped, "response", lines);
    return lines;
  }

  json start_line(const dialogue::DialogueText& sample, int64_t index) const {
    const teacher::PluginReading& reading = plugin_.last_reading();
    json words = json::array();
    for (const teacher::WordScore& word : reading.words) words.push_back({word.word, word.score});
    return {{"sample", index},
            {"id", sample.id},
            {"gold_emotion", sample.emotion},
            {"reference", sample.response.text},
            {"plugin",
             {{"emotion", labels_[reading.ranked.front()]},
              {"probabilities", reading.probabilities},
              {"cause_words", reading.cause_words},
              {"words", words},
              {"context_ids", reading.context_ids},
              {"token_scores", reading.token_scores}}}};
  }

  void add_emotions(const std::vector<teacher::SamplePrompts>& prompts,
                    const std::vector<std::string>& names, const char* key,
                    std::vector<json>& lines) {
    std::vector<Ids> emotion_prompts;
    for (const auto& p : prompts) emotion_prompts.push_back(p.emotion_prompt.ids);
    const auto scores =
        teacher::score_labels(teacher_.model, emotion_prompts, label_ids_, names, device_);
    for (size_t i = 0; i < lines.size(); ++i) {
      const auto best = std::max_element(scores[i].begin(), scores[i].end()) - scores[i].begin();
      lines[i][key] = {{"emotion", labels_[best]}, {"emotion_logprobs", scores[i]}};
    }
  }

  void add_responses(const Arm& arm, const std::vector<dialogue::DialogueText>& batch,
                     const std::vector<teacher::SamplePrompts>& prompts, const char* key,
                     std::vector<json>& lines) {
    std::vector<std::vector<int64_t>> inputs;
    for (size_t i = 0; i < batch.size(); ++i) {
      const Ids ids =
          arm.builder->request(arm.response_template, "hef.response_template", batch[i], prompts[i])
              .ids;
      inputs.emplace_back(ids.begin(), ids.end());
    }
    const GenerationOptions options =
        teacher::generation_options(teacher_, config_.hef.max_new_tokens, config_.hef.temperature,
                                    config_.hef.top_p, static_cast<uint64_t>(config_.teach.seed));
    const auto generations = generate(*teacher_.model, inputs, options, device_);
    for (size_t i = 0; i < lines.size(); ++i) {
      lines[i][key] = teacher::reply_text(teacher_, generations[i]);
    }
  }

  const Config& config_;
  torch::Device device_;
  teacher::Teacher teacher_;
  teacher::ChatTemplates chat_;
  dialogue::FeatureLoader features_;
  teacher::InputSummary input_;
  std::vector<std::string> labels_;
  teacher::EmotionPlugin plugin_;
  Arm without_, with_;
  std::vector<Ids> label_ids_;
};

// Accuracy and macro-F1 (over the labels that occur as gold or predicted, as scikit-learn's
// f1_score(average="macro") counts them) of `predicted` against `gold`.
json emotion_scores(const std::vector<std::string>& gold,
                    const std::vector<std::string>& predicted) {
  std::map<std::string, std::array<int64_t, 3>> counts;  // label -> true pos, false pos, false neg
  int64_t correct = 0;
  for (size_t i = 0; i < gold.size(); ++i) {
    if (gold[i] == predicted[i]) {
      ++correct;
      ++counts[gold[i]][0];
    } else {
      ++counts[predicted[i]][1];
      ++counts[gold[i]][2];
    }
  }
  double f1_sum = 0;
  for (const auto& [label, c] : counts) {
    const double denominator = 2.0 * c[0] + c[1] + c[2];
    f1_sum += denominator > 0 ? 2.0 * c[0] / denominator : 0.0;
  }
  const auto n = static_cast<double>(gold.size());
  return {{"accuracy", n > 0 ? correct / n : 0.0},
          {"macro_f1", counts.empty() ? 0.0 : f1_sum / static_cast<double>(counts.size())}};
}

json metrics_of(const std::string& predictions) {
  std::vector<std::string> gold, plugin, alone, helped;
  std::vector<TokenSeq> references, plain, with_plugin;
  std::ifstream in(predictions);
  for (std::string text; std::getline(in, text);) {
    const auto line = nlohmann::json::parse(text);
    gold.push_back(line["gold_emotion"]);
    plugin.push_back(line["plugin"]["emotion"]);
    alone.push_back(line["teacher"]["emotion"]);
    helped.push_back(line["teacher_with_plugin"]["emotion"]);
    references.push_back(words_of_text(line["reference"]));
    plain.push_back(words_of_text(line["response_without_plugin"]));
    with_plugin.push_back(words_of_text(line["response"]));
  }
  return {{"samples", gold.size()},
          {"emotion",
           {{"plugin", emotion_scores(gold, plugin)},
            {"teacher", emotion_scores(gold, alone)},
            {"teacher_with_plugin", emotion_scores(gold, helped)}}},
          {"generation",
           {{"response_without_plugin", score_responses(plain, references).to_json()},
            {"response", score_responses(with_plugin, references).to_json()}}}};
}

}  // namespace

void run_hef(const Config& config, Communicator& comm, torch::Device device) {
  require(config.teach.teacher, "teach.teacher");
  require(config.teach.input, "teach.input");
  require(config.teach.plugin, "teach.plugin");
  require(config.hef.out, "hef.out");
  const WorldInfo& world = comm.world();
  HefRank rank(config, device);
  const auto [begin, end] = share_of(rank.samples(), world.rank, world.world_size);
  const std::string predictions =
      join_rank_lines(comm, config.hef.out, "predictions", rank.answer(begin, end));
  if (world.rank != 0) return;
  const json metrics = metrics_of(predictions);
  replace_file_atomically((fs::path(config.hef.out) / "metrics.json").string(),
                          metrics.dump(2) + "\n");
  fmt::print("{}\n", metrics.dump(2));
}

}  // namespace pride::hef
