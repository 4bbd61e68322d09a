// Implements judge.h: the pairs read and checked up front on every rank, each rank's share judged
// in batches (both orders of a batch scored as one set of prompts), the lines joined by rank 0.
#include "judge/judge.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include "chat/chat_template.h"
#include "dialogue/dialogue.h"
#include "distributed/rank_files.h"
#include "io/file_io.h"
#include "teacher/chat_prompts.h"
#include "teacher/label_scores.h"
#include "teacher/prompts.h"
#include "teacher/teacher_model.h"
#include "util/error.h"

namespace pride::judge {

const char kEmpathyRubric[] =
    "You judge which of two replies in a conversation is more empathetic.\n"
    "Conversation:\n{dialogue}\n"
    "Reply A from {speaker}: {response_a}\n"
    "Reply B from {speaker}: {response_b}\n"
    "The more empathetic reply recognises what the other person feels, reflects their situation, "
    "invites them to say more where that helps, and is warm without generic advice. Which reply "
    "is more empathetic? Answer A or B.\n"
    "Answer:";

std::string verdict(double p_a_first, double p_a_second) {
  if (p_a_first > 0.5 && p_a_second > 0.5) return "a";
  if (p_a_first < 0.5 && p_a_second < 0.5) return "b";
  return "tie";
}

WinRates win_rates(const std::vector<std::string>& verdicts, int64_t bootstrap, double confidence,
                   uint64_t seed) {
  const auto n = static_cast<int64_t>(verdicts.size());
  const auto rates_of = [&](const auto& pick) {  // pick(i): the verdict of the i-th drawn pair
    std::array<double, 3> counts{};
    for (int64_t i = 0; i < n; ++i) {
      const std::string& v = verdicts[pick(i)];
      ++counts[v == "a" ? 0 : v == "tie" ? 1 : 2];
    }
    for (double& count : counts) count /= std::max<int64_t>(1, n);
    return counts;
  };
  const auto rates = rates_of([](int64_t i) { return i; });
  std::array<std::vector<double>, 3> draws;
  std::mt19937_64 engine(seed);
  for (int64_t r = 0; r < bootstrap && n > 0; ++r) {
    std::vector<int64_t> picks(n);
    for (int64_t& pick : picks) pick = static_cast<int64_t>(engine() % static_cast<uint64_t>(n));
    const auto drawn = rates_of([&](int64_t i) { return picks[i]; });
    for (int k = 0; k < 3; ++k) draws[k].push_back(drawn[k]);
  }
  const auto interval = [&](int k) {
    Rate rate{rates[k], rates[k], rates[k]};
    if (draws[k].empty()) return rate;
    std::sort(draws[k].begin(), draws[k].end());
    const double tail = (1 - confidence) / 2;
    const auto at = [&](double q) {
      const auto index = static_cast<size_t>(std::floor(q * (draws[k].size() - 1)));
      return draws[k][std::min(index, draws[k].size() - 1)];
    };
    rate.low = at(tail);
    rate.high = at(1 - tail);
    return rate;
  };
  return {n, interval(0), interval(1), interval(2)};
}

using json = nlohmann::ordered_json;

std::vector<std::string> read_responses(const std::string& path, const std::string& field,
                                        const std::string& key,
                                        const std::vector<dialogue::DialogueText>& dialogues) {
  if (path.empty()) fail("judge: {} is required (--set {}=FILE)", key, key);
  std::ifstream in(path);
  if (!in) fail("{}: cannot read ({})", path, key);
  std::vector<std::string> responses;
  std::string text;
  for (int64_t line = 1; std::getline(in, text); ++line) {
    if (text.empty()) continue;
    const auto where = fmt::format("{}:{}", path, line);
    json row;
    try {
      row = json::parse(text);
    } catch (const json::exception& e) {
      fail("{}: not JSON: {}", where, e.what());
    }
    if (!row.is_object()) fail("{}: expected a JSON object", where);
    std::string name = field;
    for (const char* known : {"response", "hypothesis_text", "text"}) {
      if (name.empty() && row.contains(known)) name = known;
    }
    if (name.empty() || !row.contains(name) || !row[name].is_string()) {
      fail("{}: no string field '{}' (set {}_field)", where,
           field.empty() ? "response, hypothesis_text or text" : field, key);
    }
    const size_t index = responses.size();
    if (index < dialogues.size() && row.contains("id") && row["id"] != dialogues[index].id) {
      fail("{}: id {} answers another dialogue than line {} of judge.input ('{}')", where,
           row["id"].dump(), index + 1, dialogues[index].id);
    }
    responses.push_back(row[name].get<std::string>());
  }
  if (responses.size() != dialogues.size()) {
    fail("{}: {} responses for the {} dialogues of judge.input", path, responses.size(),
         dialogues.size());
  }
  return responses;
}

namespace {

// One pair: the dialogue and the two responses to it.
struct Pair {
  dialogue::DialogueText dialogue;
  std::string a, b;
};

class Judge {
 public:
  Judge(const Config& config, torch::Device device)
      : config_(config.judge), device_(device), model_(load(config.judge, device)) {
    if (config_.chat == "auto") chat_ = chat::ChatTemplate::find(tokenizer_dir());
    template_ = config_.template_text.empty() ? kEmpathyRubric : config_.template_text;
    teacher::render_template(template_, placeholders("dialogue", "speaker", "a", "b"),
                             "judge.template");
    const std::string prefix = chat_ ? "" : " ";  // the answer follows "Answer:" or the chat prompt
    for (const char* label : {"A", "B"}) {
      const auto ids = model_.tokenizer->encode(prefix + label, /*add_special=*/false);
      labels_.emplace_back(ids.begin(), ids.end());
    }
  }

  // The verdict line of each pair.
  std::vector<std::string> judge(const std::vector<Pair>& pairs, int64_t first) {
    std::vector<std::string> lines;
    for (size_t begin = 0; begin < pairs.size(); begin += config_.batch_size) {
      const size_t end = std::min(pairs.size(), begin + static_cast<size_t>(config_.batch_size));
      std::vector<teacher::Prompt> prompts;
      std::vector<std::string> names;
      for (size_t i = begin; i < end; ++i) {
        const std::string name =
            fmt::format("pair {} ('{}')", first + static_cast<int64_t>(i), pairs[i].dialogue.id);
        prompts.push_back(prompt(pairs[i], pairs[i].a, pairs[i].b));
        prompts.push_back(prompt(pairs[i], pairs[i].b, pairs[i].a));
        names.insert(names.end(), {name + " a first", name + " b first"});
      }
      std::vector<std::vector<int32_t>> ids;
      for (const auto& p : prompts) ids.push_back(p.ids);
      const auto scores = teacher::score_labels(model_.model, ids, labels_, names, device_);
      for (size_t i = begin; i < end; ++i) {
        const size_t row = 2 * (i - begin);
        const double p_a_first = std::exp(scores[row][0]);
        const double p_a_second = std::exp(scores[row + 1][1]);
        lines.push_back(json{{"pair", first + static_cast<int64_t>(i)},
                             {"id", pairs[i].dialogue.id},
                             {"a", pairs[i].a},
                             {"b", pairs[i].b},
                             {"p_a_first", p_a_first},
                             {"p_a_second", p_a_second},
                             {"verdict", verdict(p_a_first, p_a_second)},
                             {"prompt_a_first", prompts[row].text},
                             {"prompt_a_second", prompts[row + 1].text}}
                            .dump());
      }
    }
    return lines;
  }

 private:
  static teacher::Teacher load(const JudgeConfig& config, torch::Device device) {
    if (config.model.empty()) fail("judge: judge.model is required (a Hugging Face model)");
    TeachConfig as_teacher;  // the judge is loaded and checked as a teacher is
    as_teacher.teacher = config.model;
    as_teacher.tokenizer = config.tokenizer;
    as_teacher.dtype = config.dtype;
    as_teacher.topk = 1;
    return teacher::load_teacher(as_teacher, device);
  }

  std::string tokenizer_dir() const {
    return config_.tokenizer.empty() ? config_.model : config_.tokenizer;
  }

  static std::map<std::string, std::string> placeholders(const std::string& dialogue,
                                                         const std::string& speaker,
                                                         const std::string& a,
                                                         const std::string& b) {
    return {{"dialogue", dialogue}, {"speaker", speaker}, {"response_a", a}, {"response_b", b}};
  }

  teacher::Prompt prompt(const Pair& pair, const std::string& first,
                         const std::string& second) const {
    std::string dialogue;
    for (const auto& turn : pair.dialogue.context)
      dialogue += turn.speaker + ": " + turn.text + "\n";
    const std::string text = teacher::render_template(
        template_, placeholders(dialogue, pair.dialogue.response.speaker, first, second),
        "judge.template");
    const auto request =
        teacher::encode_request(chat_, config_.system_prompt, text, *model_.tokenizer);
    return {request.text, {request.ids.begin(), request.ids.end()}};
  }

  const JudgeConfig& config_;
  torch::Device device_;
  teacher::Teacher model_;
  std::optional<chat::ChatTemplate> chat_;
  std::string template_;
  std::vector<std::vector<int32_t>> labels_;
};

json rate_json(const Rate& rate) {
  return {{"rate", rate.value}, {"low", rate.low}, {"high", rate.high}};
}

}  // namespace

void run_judge(const Config& config, Communicator& comm, torch::Device device) {
  const JudgeConfig& c = config.judge;
  if (c.input.empty()) fail("judge: judge.input is required (the dialogues, JSONL)");
  if (c.out.empty()) fail("judge: judge.out is required (a directory)");
  const auto dialogues = dialogue::read_dialogue_jsonl(c.input);
  const auto a = read_responses(c.a, c.a_field, "judge.a", dialogues);
  const auto b = read_responses(c.b, c.b_field, "judge.b", dialogues);
  Judge judge(config, device);
  const WorldInfo& world = comm.world();
  const auto [begin, end] =
      share_of(static_cast<int64_t>(dialogues.size()), world.rank, world.world_size);
  std::vector<Pair> mine;
  for (int64_t i = begin; i < end; ++i) mine.push_back({dialogues[i], a[i], b[i]});
  const std::string verdicts_path =
      join_rank_lines(comm, c.out, "verdicts", judge.judge(mine, begin));
  if (world.rank != 0) return;
  std::vector<std::string> verdicts;
  std::ifstream in(verdicts_path);
  for (std::string line; std::getline(in, line);) {
    verdicts.push_back(nlohmann::json::parse(line)["verdict"]);
  }
  const WinRates rates =
      win_rates(verdicts, c.bootstrap, c.confidence, static_cast<uint64_t>(c.seed));
  const json metrics = {{"pairs", rates.pairs},
                        {"a", c.a},
                        {"b", c.b},
                        {"judge", c.model},
                        {"confidence", c.confidence},
                        {"bootstrap", c.bootstrap},
                        {"win", rate_json(rates.win)},
                        {"tie", rate_json(rates.tie)},
                        {"loss", rate_json(rates.loss)}};
  replace_file_atomically(c.out + "/metrics.json", metrics.dump(2) + "\n");
  fmt::print("judge: A wins {:.1f}% [{:.1f}, {:.1f}], ties {:.1f}%, loses {:.1f}% of {} pairs\n",
             100 * rates.win.value, 100 * rates.win.low, 100 * rates.win.high,
             100 * rates.tie.value, 100 * rates.loss.value, rates.pairs);
}

}  // namespace pride::judge
