// Implements teacher_pass.h: the input scan, the teacher and its checks, the loop over this
// rank's parts, progress, and the manifest.
#include "teacher/teacher_pass.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <xxhash.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "data/format.h"
#include "data/shard_manifest.h"
#include "dialogue/features.h"
#include "dialogue/label_sets.h"
#include "models/causal_lm.h"
#include "models/generate.h"
#include "sharding/shard_tool.h"
#include "teacher/prompts.h"
#include "teacher/teach_file.h"
#include "teacher/teacher_targets.h"
#include "teacher/work_plan.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fault_injection.h"

namespace pride::teacher {
namespace {

namespace fs = std::filesystem;
using dialogue::DialogueText;
using dialogue::Modality;

constexpr char kReasoningSource[] = "reasoning";
constexpr char kPartsDir[] = "parts";

// What the pass learns from one read of the input before teaching.
struct InputSummary {
  int64_t samples = 0;
  std::string label_set;
  std::set<std::string> sources;  // the converters' privileged sources
  int64_t audio_dim = 0, visual_dim = 0;
};

// The width of a sample's features of `modality`, 0 when it has none.
int64_t feature_dim(const DialogueText& sample, Modality modality,
                    dialogue::FeatureLoader& features, const std::string& where) {
  const auto& entry = modality == Modality::kAudio ? sample.audio : sample.visual;
  if (!entry) return 0;
  if (!entry->is_reference()) return entry->values.dim;
  const std::string& key = entry->key.empty() ? sample.id : entry->key;
  const auto shape = features.shape(entry->file, key, modality);
  if (!shape) {
    fail("{}: {} has no dataset {}", where, entry->file, dialogue::feature_dataset(key, modality));
  }
  return shape->second;
}

void note_dim(int64_t& dim, int64_t sample_dim, const std::string& where, const char* modality) {
  if (sample_dim == 0) return;
  if (dim != 0 && dim != sample_dim) {
    fail("{}: {} features are {} wide, earlier samples' {}", where, modality, sample_dim, dim);
  }
  dim = sample_dim;
}

InputSummary scan_input(const std::string& path, dialogue::FeatureLoader& features,
                        bool reasoning) {
  dialogue::DialogueReader reader(path);
  DialogueText sample;
  InputSummary summary;
  while (reader.next(sample)) {
    const std::string where = fmt::format("{}:{}", path, reader.line_number());
    if (summary.samples == 0) summary.label_set = sample.label_set;
    if (sample.label_set != summary.label_set) {
      fail("{}: label set '{}' differs from the first sample's '{}' (one run, one label set)",
           where, sample.label_set, summary.label_set);
    }
    for (const auto& [name, text] : sample.privileged) {
      if (reasoning && name == kReasoningSource) {
        fail(
            "{}: the sample already has a privileged source 'reasoning', which the teacher "
            "writes; rename it, or set teach.reasoning=false",
            where);
      }
      summary.sources.insert(name);
    }
    if (!reasoning && sample.privileged.empty()) {
      fail(
          "{}: sample '{}' has no privileged text and teach.reasoning is off: it would give the "
          "student no privileged information",
          where, sample.id);
    }
    note_dim(summary.audio_dim, feature_dim(sample, Modality::kAudio, features, where), where,
             "audio");
    note_dim(summary.visual_dim, feature_dim(sample, Modality::kVisual, features, where), where,
             "visual");
    ++summary.samples;
  }
  if (summary.samples == 0) fail("{}: holds no samples", path);
  return summary;
}

struct Teacher {
  std::unique_ptr<text::Tokenizer> tokenizer;
  CausalLM model{nullptr};
  int32_t eos_id = 0;
  std::vector<int64_t> stop_ids;
};

torch::ScalarType compute_dtype(const std::string& name) {
  return name == "bf16" ? torch::kBFloat16 : name == "fp16" ? torch::kHalf : torch::kFloat;
}

Teacher load_teacher(const TeachConfig& config, torch::Device device) {
  Teacher teacher;
  teacher.tokenizer =
      text::load_tokenizer(config.tokenizer.empty() ? config.teacher : config.tokenizer);
  teacher.model = load_causal_lm(config.teacher, compute_dtype(config.dtype), device);
  const int64_t vocab = teacher.model->config().vocab_size;
  if (teacher.tokenizer->vocab_size() > vocab) {
    fail(
        "teach: the tokenizer has {} ids but the teacher {} only {} embeddings: they do not belong "
        "together",
        teacher.tokenizer->vocab_size(), config.teacher, vocab);
  }
  if (config.topk > vocab)
    fail("teach.topk = {} exceeds the teacher's vocabulary {}", config.topk, vocab);
  const auto& special = teacher.tokenizer->special_tokens();
  const auto& model_eos = teacher.model->config().eos_token_ids;
  if (special.eos) {
    teacher.eos_id = *special.eos;
  } else if (!model_eos.empty()) {
    teacher.eos_id = static_cast<int32_t>(model_eos.front());
  } else {
    fail(
        "teach: neither the tokenizer nor {}/config.json names an eos token, which ends every "
        "response",
        config.teacher);
  }
  teacher.stop_ids = model_eos;
  teacher.stop_ids.push_back(teacher.eos_id);
  return teacher;
}

// The student's tokenizer, when the config names one (model.tokenizer, or model.init_from holding
// one), must be the teacher's: top-K ids of another vocabulary would be meaningless.
void check_student_tokenizer(const Config& config, const text::Tokenizer& teacher_tokenizer) {
  std::string path = config.model.tokenizer;
  if (path.empty() && !config.model.init_from.empty()) {
    const fs::path dir(config.model.init_from);
    if (!fs::exists(dir / "tokenizer.json") && !fs::exists(dir / "tokenizer.model")) return;
    path = config.model.init_from;
  }
  if (path.empty()) return;
  const std::string student = text::load_tokenizer(path)->identity();
  if (student != teacher_tokenizer.identity()) {
    fail(
        "teach: the student's tokenizer ({}, {}) is not the teacher's ({}, {}): the teacher's "
        "top-K ids would mean other tokens to the student. Distill between models that share a "
        "tokenizer",
        path, student,
        config.teach.tokenizer.empty() ? config.teach.teacher : config.teach.tokenizer,
        teacher_tokenizer.identity());
  }
}

// Everything that decides the output, hashed: the teacher's files, the tokenizer, the input's
// bytes and the teach keys that change what is written (not batch or part sizes).
std::string fingerprint(const TeachConfig& c, const text::Tokenizer& tokenizer) {
  std::ostringstream text;
  text << std::ifstream(fs::path(c.teacher) / "config.json").rdbuf() << "\n";
  std::set<std::string> weights;  // name and size of every weight file, in order
  for (const auto& entry : fs::directory_iterator(c.teacher)) {
    if (entry.path().extension() == ".safetensors") {
      weights.insert(fmt::format("{}:{}", entry.path().filename().string(), entry.file_size()));
    }
  }
  for (const auto& weight : weights) text << weight << "\n";
  text << tokenizer.identity() << "\n" << file_xxh64(c.input) << "\n";
  text << fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", c.topk, c.dtype, c.storage,
                      c.hidden_tokens, c.max_context_tokens, c.max_response_tokens, c.turn_template,
                      c.context_template, c.response_prefix, c.score_template, c.reasoning,
                      c.reasoning_template, c.reasoning_max_tokens, c.reasoning_temperature,
                      c.reasoning_top_p, c.seed);
  const std::string bytes = text.str();
  return fmt::format("{:016x}", XXH64(bytes.data(), bytes.size(), 0));
}

// Rank 0's view of the run: counts, rates and an ETA, printed every teach.progress_every_s.
class Progress {
 public:
  Progress(const WorldInfo& world, int64_t mine, double every_s)
      : world_(world), mine_(mine), every_s_(every_s) {}

  void reused(int64_t samples) { reused_ += samples; }
  void scored(int64_t tokens, double seconds) { scored_tokens_ += tokens, score_s_ += seconds; }
  void generated(int64_t tokens, double seconds) {
    generated_tokens_ += tokens, generate_s_ += seconds;
  }
  void taught(int64_t samples) {
    taught_ += samples;
    if (world_.rank == 0 && seconds_since(last_print_) >= every_s_) print();
  }
  void note(int64_t dropped_turns, bool response_cut) {
    shortened_contexts_ += dropped_turns > 0, cut_responses_ += response_cut;
  }

  void print() {
    last_print_ = Clock::now();
    const double elapsed = seconds_since(start_);
    const double rate = taught_ / std::max(elapsed, 1e-9);
    const int64_t left = mine_ - reused_ - taught_;
    fmt::print(
        "teach: rank 0: {}/{} samples ({} reused), {:.1f} samples/s, scoring {:.0f} tokens/s, "
        "reasoning {:.1f} tokens/s, ETA {:.0f} s\n",
        reused_ + taught_, mine_, reused_, rate, scored_tokens_ / std::max(score_s_, 1e-9),
        generated_tokens_ / std::max(generate_s_, 1e-9), rate > 0 ? left / rate : 0.0);
    std::fflush(stdout);
  }

  // One JSON line per rank: what the benchmark adds up.
  std::string stats() const {
    return nlohmann::json{{"rank", world_.rank},
                          {"samples", mine_},
                          {"reused", reused_},
                          {"taught", taught_},
                          {"seconds", seconds_since(start_)},
                          {"scored_tokens", scored_tokens_},
                          {"score_s", score_s_},
                          {"generated_tokens", generated_tokens_},
                          {"generate_s", generate_s_},
                          {"shortened_contexts", shortened_contexts_},
                          {"cut_responses", cut_responses_}}
        .dump();
  }

 private:
  WorldInfo world_;
  int64_t mine_;
  double every_s_;
  Clock::time_point start_ = Clock::now(), last_print_ = Clock::now();
  int64_t reused_ = 0, taught_ = 0, scored_tokens_ = 0, generated_tokens_ = 0;
  double score_s_ = 0, generate_s_ = 0;
  int64_t shortened_contexts_ = 0, cut_responses_ = 0;
};

std::vector<std::vector<int64_t>> widen(const std::vector<Ids>& lists) {
  std::vector<std::vector<int64_t>> wide;
  for (const Ids& ids : lists) wide.emplace_back(ids.begin(), ids.end());
  return wide;
}

// Teaches one rank's parts, in order, skipping those already written with this stamp.
class PartTeacher {
 public:
  PartTeacher(const Config& config, Teacher& teacher, const InputSummary& input,
              const TeachFileHeader& header, int rank, torch::Device device, Progress& progress)
      : config_(config.teach),
        teacher_(teacher),
        header_(header),
        labels_(dialogue::label_set(input.label_set)),
        builder_(config.teach, *teacher.tokenizer, teacher.eos_id),
        features_(fs::path(config.teach.input).parent_path().string()),
        reader_(config.teach.input),
        rank_(rank),
        device_(device),
        progress_(progress) {}

  void teach(const SampleRange& part, const std::string& path) {
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

 private:
  void skip_to(int64_t index) {
    DialogueText sample;
    while (next_index_ < index) next(sample);
  }

  std::vector<DialogueText> read(int64_t end) {
    std::vector<DialogueText> batch;
    while (next_index_ < end) next(batch.emplace_back());
    return batch;
  }

  void next(DialogueText& sample) {
    if (!reader_.next(sample)) fail("{}: ended before sample {}", config_.input, next_index_);
    ++next_index_;
  }

  std::vector<TaughtSample> teach_batch(const std::vector<DialogueText>& batch, int64_t first) {
    std::vector<SamplePrompts> prompts;
    std::vector<std::string> names;
    for (const DialogueText& sample : batch) {
      prompts.push_back(builder_.prepare(sample));
      progress_.note(prompts.back().first_turn, prompts.back().response_cut);
      names.push_back(fmt::format("'{}' ({}, sample {})", sample.id, config_.input,
                                  first + static_cast<int64_t>(names.size())));
    }
    const std::vector<Ids> reasoning =
        config_.reasoning ? reason(prompts, first) : std::vector<Ids>{};
    std::vector<Ids> score_prompts, responses;
    for (size_t i = 0; i < batch.size(); ++i) {
      score_prompts.push_back(
          builder_.score_prompt(batch[i], prompts[i], reasoning.empty() ? Ids{} : reasoning[i]));
      responses.push_back(prompts[i].response);
    }
    const auto begin = Clock::now();
    std::vector<TeacherTargets> targets =
        score_responses(teacher_.model, score_prompts, responses, config_.topk,
                        config_.hidden_tokens, names, device_);
    int64_t tokens = 0;
    for (size_t i = 0; i < batch.size(); ++i)
      tokens += score_prompts[i].size() + responses[i].size();
    progress_.scored(tokens, seconds_since(begin));

    std::vector<TaughtSample> taught(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      TaughtSample& out = taught[i];
      out.emotion = labels_.index_of(batch[i].emotion);
      out.context = std::move(prompts[i].context);
      out.response = std::move(prompts[i].response);
      out.privileged = std::move(prompts[i].privileged);
      if (!reasoning.empty()) out.privileged[kReasoningSource] = reasoning[i];
      out.targets = std::move(targets[i]);
      out.audio = features_.load(batch[i], Modality::kAudio).value_or(dialogue::FeatureArray{});
      out.visual = features_.load(batch[i], Modality::kVisual).value_or(dialogue::FeatureArray{});
    }
    return taught;
  }

  // The teacher's reasoning for each sample: generated ids up to its stop token (kept only when
  // it is all there is, so that no sample's reasoning is empty).
  std::vector<Ids> reason(const std::vector<SamplePrompts>& prompts, int64_t first) {
    std::vector<Ids> inputs;
    for (const SamplePrompts& p : prompts) inputs.push_back(p.reasoning_prompt);
    GenerationOptions options;
    options.max_new_tokens = config_.reasoning_max_tokens;
    options.temperature = config_.reasoning_temperature;
    options.top_p = config_.reasoning_top_p;
    options.seed = static_cast<uint64_t>(config_.seed + first);
    options.stop_ids = teacher_.stop_ids;
    options.vocab_limit = teacher_.tokenizer->vocab_size();
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

  const TeachConfig& config_;
  Teacher& teacher_;
  const TeachFileHeader& header_;
  const dialogue::LabelSet& labels_;
  PromptBuilder builder_;
  dialogue::FeatureLoader features_;
  dialogue::DialogueReader reader_;
  int64_t next_index_ = 0;
  int rank_;
  int64_t parts_written_ = 0;
  torch::Device device_;
  Progress& progress_;
};

TeachFileHeader make_header(const TeachConfig& config, const Teacher& teacher,
                            const InputSummary& input) {
  TeachFileHeader header;
  header.vocab_size = teacher.model->config().vocab_size;
  const auto& special = teacher.tokenizer->special_tokens();
  header.eos_id = teacher.eos_id;
  header.pad_id = special.pad.value_or(teacher.eos_id);
  header.bos_id = special.bos.value_or(teacher.eos_id);
  header.emotion_labels = dialogue::label_set(input.label_set).labels;
  header.privileged_sources.assign(input.sources.begin(), input.sources.end());
  if (config.reasoning) header.privileged_sources.push_back(kReasoningSource);
  std::sort(header.privileged_sources.begin(), header.privileged_sources.end());
  header.tokenizer = teacher.tokenizer->identity();
  header.teacher = fs::path(config.teacher).lexically_normal().filename().string();
  header.fingerprint = fingerprint(config, *teacher.tokenizer);
  header.topk = config.topk;
  header.hidden_size = teacher.model->config().hidden_size;
  header.audio_dim = input.audio_dim;
  header.visual_dim = input.visual_dim;
  header.half = config.storage == "fp16";
  header.hidden_tokens = config.hidden_tokens;
  return header;
}

SampleRange span_of(const std::vector<SampleRange>& parts) {
  return {parts.front().begin, parts.back().end};
}

// True when `out` holds a finished run of this fingerprint; an error when it holds another's.
bool already_finished(const std::string& out, const std::string& fingerprint) {
  if (!fs::exists(fs::path(out) / kManifestName)) return false;
  const ShardManifest manifest = read_shard_manifest(out);
  for (const ShardEntry& shard : manifest.shards) {
    const std::string path = (fs::path(out) / shard.file).string();
    const SampleRange range{shard.first_sample, shard.first_sample + shard.samples};
    if (stamp_of(path) != stamp(fingerprint, range)) {
      fail(
          "{}: holds a finished teach run of another configuration or input ({} is not stamped "
          "'{}'): give teach.out a new directory, or remove the old one",
          out, path, stamp(fingerprint, range));
    }
  }
  return true;
}

// Rank 0, its own shard done: waits for every rank's shard, then writes the manifest and removes
// the parts and shards of earlier world sizes.
void write_manifest(const TeachConfig& config, const std::vector<SampleRange>& parts,
                    const WorldInfo& world, const std::string& fingerprint) {
  const fs::path out(config.out);
  ShardManifest manifest{format::kFormatName, format::kVersion, config.input, parts.back().end, {}};
  std::set<std::string> names;
  for (int r = 0; r < world.world_size; ++r) {
    const std::string name = shard_file_name(r, world.world_size);
    const SampleRange range = span_of(parts_of_rank(parts, r, world.world_size));
    const auto waiting_since = Clock::now();
    bool said = false;
    while (stamp_of((out / name).string()) != stamp(fingerprint, range)) {
      if (!said && seconds_since(waiting_since) > 30) {
        fmt::print("teach: rank 0: waiting for rank {} to finish {}\n", r, name);
        std::fflush(stdout);
        said = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    manifest.shards.push_back({name, range.size(), range.begin, file_xxh64((out / name).string())});
    names.insert(name);
  }
  write_shard_manifest(out.string(), manifest);
  fs::remove_all(out / kPartsDir);
  for (const auto& entry : fs::directory_iterator(out)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("shard-", 0) == 0 && names.count(name) == 0) fs::remove(entry.path());
  }
}

void require(const std::string& value, const char* key) {
  if (value.empty())
    fail("teach: {} is required (the config's teach section, or --set {}=...)", key, key);
}

}  // namespace

void run_teach(const Config& config, const WorldInfo& world, torch::Device device) {
  const TeachConfig& c = config.teach;
  require(c.teacher, "teach.teacher");
  require(c.input, "teach.input");
  require(c.out, "teach.out");
  Teacher teacher = load_teacher(c, device);
  check_student_tokenizer(config, *teacher.tokenizer);
  dialogue::FeatureLoader features(fs::path(c.input).parent_path().string());
  const InputSummary input = scan_input(c.input, features, c.reasoning);
  const TeachFileHeader header = make_header(c, teacher, input);

  if (already_finished(c.out, header.fingerprint)) {
    if (world.rank == 0) fmt::print("teach: {} already holds this run's finished output\n", c.out);
    return;
  }
  const fs::path parts_dir = fs::path(c.out) / kPartsDir;
  std::error_code error;
  fs::create_directories(parts_dir, error);
  if (!fs::is_directory(parts_dir)) fail("{}: cannot create the directory", parts_dir.string());

  const auto parts = plan_parts(input.samples, world.world_size, c.part_size);
  const auto mine = parts_of_rank(parts, world.rank, world.world_size);
  if (world.rank == 0) {
    fmt::print(
        "teach: {} samples ({}), {} parts of up to {} on {} rank(s); privileged sources: {}\n",
        input.samples, input.label_set, parts.size(), parts.front().size(), world.world_size,
        fmt::join(header.privileged_sources, ", "));
    std::fflush(stdout);
  }
  const fs::path shard = fs::path(c.out) / shard_file_name(world.rank, world.world_size);
  Progress progress(world, span_of(mine).size(), c.progress_every_s);
  if (stamp_of(shard.string()) != stamp(header.fingerprint, span_of(mine))) {
    PartTeacher part_teacher(config, teacher, input, header, world.rank, device, progress);
    std::vector<std::string> paths;
    for (const SampleRange& part : mine) {
      paths.push_back((parts_dir / part_file_name(part)).string());
      part_teacher.teach(part, paths.back());
    }
    merge_parts(paths, header, span_of(mine), shard.string());
  } else {
    progress.reused(span_of(mine).size());
  }
  if (world.rank == 0) progress.print();
  fmt::print("teach-stats {}\n", progress.stats());
  std::fflush(stdout);
  if (world.rank == 0) {
    write_manifest(c, parts, world, header.fingerprint);
    fmt::print("teach: wrote {} ({} samples in {} shard(s))\n",
               (fs::path(c.out) / kManifestName).string(), input.samples, world.world_size);
  }
}

}  // namespace pride::teacher
