// Implements response_pass.h.
#include "teacher/response_pass.h"

#include <fmt/format.h>

#include <filesystem>

#include "dialogue/dialogue.h"
#include "dialogue/features.h"
#include "io/file_io.h"
#include "models/generate.h"
#include "teacher/chat_prompts.h"
#include "teacher/input_scan.h"
#include "teacher/progress.h"
#include "teacher/prompt_log.h"
#include "teacher/prompts.h"
#include "teacher/teach_output.h"
#include "teacher/teacher_model.h"
#include "teacher/work_plan.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fault_injection.h"

namespace pride::teacher {
namespace {

namespace fs = std::filesystem;
using dialogue::DialogueText;

// Where the run's fingerprint is kept: a part is reused only by a run of the same configuration.
constexpr char kRunFile[] = "response-run.json";

bool improving(const TeachConfig& c) {
  return c.mode == "improve";
}

// The prompt template of the mode, and the config key that names it in errors.
std::pair<std::string, std::string> mode_template(const TeachConfig& c) {
  if (improving(c)) {
    if (!c.improve_template.empty()) return {c.improve_template, "teach.improve_template"};
    return {improve_template(c.improve_set), "teach.improve_set"};
  }
  return {c.response_template.empty() ? kDirectResponseTemplate : c.response_template,
          "teach.response_template"};
}

std::string part_name(const SampleRange& part) {
  return fmt::format("responses-{:09d}-{:09d}.jsonl", part.begin, part.end);
}

// One rank's parts: reads its samples in order, asks the teacher in batches, writes each part.
class PartResponder {
 public:
  PartResponder(const Config& config, Teacher& teacher, const ChatTemplates& chat, int rank,
                torch::Device device, Progress& progress)
      : config_(config.teach),
        teacher_(teacher),
        builder_(config.teach, *teacher.tokenizer, teacher.eos_id, chat),
        reader_(config.teach.input),
        rank_(rank),
        device_(device),
        progress_(progress),
        prompt_log_(rank) {
    std::tie(template_, template_key_) = mode_template(config_);
    builder_.check_request_template(template_, template_key_,
                                    improving(config_)
                                        ? std::vector<std::string>{"emotion", "response"}
                                        : std::vector<std::string>{"emotion"});
  }

  void respond(const SampleRange& part, const std::string& path) {
    if (fs::exists(path)) {
      skip_to(part.end);
      progress_.reused(part.size());
      return;
    }
    skip_to(part.begin);
    std::string lines;
    for (int64_t begin = part.begin; begin < part.end; begin += config_.batch_size) {
      std::vector<DialogueText> batch;
      while (next_index_ < std::min(part.end, begin + config_.batch_size))
        next(batch.emplace_back());
      for (const DialogueText& sample : answer(batch, begin)) {
        lines += dialogue::to_json_line(sample) + "\n";
      }
      progress_.taught(static_cast<int64_t>(batch.size()));
    }
    replace_file_atomically(path, lines);
    maybe_inject_fault("teach_part", rank_, parts_written_++);  // the resumption tests crash here
  }

  int64_t kept_inputs() const { return kept_inputs_; }

 private:
  // The batch with the teacher's responses; the gold response kept as the reference and, when
  // improving, the rewritten one as the original. An empty generation keeps the input's response
  // (counted and reported: a sample needs a response).
  std::vector<DialogueText> answer(const std::vector<DialogueText>& batch, int64_t first) {
    std::vector<std::vector<int64_t>> prompts;
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto where = fmt::format("'{}' ({}, sample {})", batch[i].id, config_.input,
                                     first + static_cast<int64_t>(i));
      try {  // a chat template may refuse a sample's messages (raise_exception)
        const SamplePrompts fitted = builder_.prepare(batch[i]);
        const Prompt prompt = builder_.request(template_, template_key_, batch[i], fitted);
        prompts.emplace_back(prompt.ids.begin(), prompt.ids.end());
        prompt_log_.write({{"sample", first + static_cast<int64_t>(i)}, {"prompt", prompt.text}});
      } catch (const Error& error) {
        fail("{}: {}", where, error.what());
      }
    }
    const GenerationOptions options =
        generation_options(teacher_, config_.response_max_tokens, config_.response_temperature,
                           config_.response_top_p, static_cast<uint64_t>(config_.seed + first));
    const auto started = Clock::now();
    const std::vector<Generation> generations =
        generate(*teacher_.model, prompts, options, device_);
    std::vector<DialogueText> out = batch;
    int64_t tokens = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      tokens += static_cast<int64_t>(generations[i].tokens.size());
      DialogueText& sample = out[i];
      if (!sample.reference) sample.reference = sample.response.text;
      if (improving(config_)) sample.original = sample.response.text;
      const std::string text = reply_text(teacher_, generations[i]);
      if (text.empty()) {
        ++kept_inputs_;
      } else {
        sample.response.text = text;
      }
    }
    progress_.generated(tokens, seconds_since(started));
    return out;
  }

  void skip_to(int64_t index) {
    DialogueText sample;
    while (next_index_ < index) next(sample);
  }

  void next(DialogueText& sample) {
    if (!reader_.next(sample)) fail("{}: ended before sample {}", config_.input, next_index_);
    ++next_index_;
  }

  const TeachConfig& config_;
  Teacher& teacher_;
  PromptBuilder builder_;
  dialogue::DialogueReader reader_;
  int rank_;
  torch::Device device_;
  Progress& progress_;
  PromptLog prompt_log_;  // PRIDE_TEACH_PROMPTS
  std::string template_, template_key_;
  int64_t next_index_ = 0, parts_written_ = 0, kept_inputs_ = 0;
};

// Records this run's fingerprint (what decides the responses: the teacher, the input, the prompts
// and the generation settings) in teach.out; a directory holding another run's parts is an error,
// not a mix.
void check_run(const Config& config, const Teacher& teacher, const ChatTemplates& chat,
               const fs::path& out, const WorldInfo& world, Communicator& comm) {
  const TeachConfig& c = config.teach;
  const auto [text, key] = mode_template(c);
  const std::string fingerprint =
      teach_fingerprint(c, *teacher.tokenizer, chat, "",
                        fmt::format("{}|{}|{}|{}|{}|{}", c.mode, key, text, c.response_max_tokens,
                                    c.response_temperature, c.response_top_p));
  const std::string run = nlohmann::json{{"mode", c.mode}, {"fingerprint", fingerprint}}.dump();
  const fs::path run_file = out / kRunFile;
  if (fs::exists(run_file) && read_text_file(run_file.string()) != run) {
    fail(
        "{}: holds the responses of another teach configuration ({}): give teach.out a new "
        "directory, or remove the old one",
        out.string(), read_text_file(run_file.string()));
  }
  comm.barrier();  // every rank has read it before rank 0 may write it
  if (world.rank == 0 && !fs::exists(run_file)) replace_file_atomically(run_file.string(), run);
}

// Rank 0, once every rank's parts exist: the parts joined in input order.
void join_parts(const std::vector<SampleRange>& parts, const fs::path& parts_dir,
                const fs::path& out) {
  std::string joined;
  for (const SampleRange& part : parts)
    joined += read_text_file((parts_dir / part_name(part)).string());
  replace_file_atomically(out.string(), joined);
}

}  // namespace

void run_response_pass(const Config& config, Communicator& comm, torch::Device device) {
  const WorldInfo& world = comm.world();
  const TeachConfig& c = config.teach;
  Teacher teacher = load_teacher(c, device);
  dialogue::FeatureLoader features(fs::path(c.input).parent_path().string());
  const InputSummary input = scan_input(c.input, features, /*reasoning=*/false);
  const ChatTemplates chat = find_chat_templates(config);
  const fs::path out(c.out), parts_dir = out / kPartsDir;
  std::error_code error;
  fs::create_directories(parts_dir, error);
  if (!fs::is_directory(parts_dir)) fail("{}: cannot create the directory", parts_dir.string());
  check_run(config, teacher, chat, out, world, comm);

  const auto parts = plan_parts(input.samples, world.world_size, c.part_size);
  const auto mine = parts_of_rank(parts, world.rank, world.world_size);
  if (world.rank == 0) {
    fmt::print("teach ({}): {} samples, {} parts of up to {} on {} rank(s)\n", c.mode,
               input.samples, parts.size(), parts.front().size(), world.world_size);
    std::fflush(stdout);
  }
  Progress progress(comm, span_of(mine).size(), c.progress_every_s);
  PartResponder responder(config, teacher, chat, world.rank, device, progress);
  for (const SampleRange& part : mine)
    responder.respond(part, (parts_dir / part_name(part)).string());
  progress.wait_for_all_ranks();
  if (responder.kept_inputs() > 0) {
    fmt::print(
        stderr,
        "warning: teach ({}): rank {}: the teacher wrote nothing for {} sample(s); they keep "
        "their input response\n",
        c.mode, world.rank, responder.kept_inputs());
  }
  if (world.rank == 0) {
    progress.print();
    join_parts(parts, parts_dir, out / kResponsesFile);
    fmt::print("teach: wrote {} ({} samples)\n", (out / kResponsesFile).string(), input.samples);
  }
}

}  // namespace pride::teacher
