// The teach output directory: fingerprint, header, finished check, manifest (see teach_output.h).
#include "teacher/teach_output.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "data/format.h"
#include "data/shard_manifest.h"
#include "dialogue/label_sets.h"
#include "sharding/shard_tool.h"
#include "teacher/prompts.h"
#include "util/error.h"

namespace pride::teacher {

namespace fs = std::filesystem;

std::string teach_fingerprint(const TeachConfig& c, const text::Tokenizer& tokenizer,
                              const ChatTemplates& chat, const std::string& plugin,
                              const std::string& extra) {
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
  if (chat.teacher || chat.student) {  // without chat, the fingerprint of earlier releases
    text << "\n" << c.system_prompt << "\n" << chat.identity();
  }
  // HEF's keys and plug-in; without them, the fingerprint of earlier releases.
  if (c.score_emotions || !plugin.empty()) {
    text << "\n"
         << c.score_emotions << "|" << c.emotion_template << "|" << c.prompt_set << "|" << plugin;
  }
  if (!extra.empty()) text << "\n" << extra;
  const std::string bytes = text.str();
  return fmt::format("{:016x}", XXH64(bytes.data(), bytes.size(), 0));
}

TeachFileHeader make_header(const TeachConfig& config, const Teacher& teacher,
                            const InputSummary& input, const ChatTemplates& chat,
                            const std::string& plugin) {
  TeachFileHeader header;
  header.vocab_size = teacher.model->config().vocab_size;
  const auto& special = teacher.tokenizer->special_tokens();
  header.eos_id = teacher.eos_id;
  header.pad_id = special.pad.value_or(teacher.eos_id);
  header.bos_id = special.bos.value_or(teacher.eos_id);
  header.emotion_labels = dialogue::label_set(input.label_set).labels;
  header.privileged_sources.assign(input.sources.begin(), input.sources.end());
  if (config.reasoning) header.privileged_sources.push_back(kReasoningSource);
  if (!plugin.empty()) header.privileged_sources.push_back(kEmotionCauseSource);
  std::sort(header.privileged_sources.begin(), header.privileged_sources.end());
  header.tokenizer = teacher.tokenizer->identity();
  header.teacher = fs::path(config.teacher).lexically_normal().filename().string();
  header.fingerprint = teach_fingerprint(config, *teacher.tokenizer, chat, plugin);
  header.topk = config.topk;
  header.hidden_size = teacher.model->config().hidden_size;
  header.audio_dim = input.audio_dim;
  header.visual_dim = input.visual_dim;
  header.half = config.storage == "fp16";
  header.hidden_tokens = config.hidden_tokens;
  header.emotion_logprobs = config.score_emotions;
  return header;
}

SampleRange span_of(const std::vector<SampleRange>& parts) {
  return {parts.front().begin, parts.back().end};
}

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

void write_manifest(const TeachConfig& config, const std::vector<SampleRange>& parts,
                    const WorldInfo& world, const std::string& fingerprint) {
  const fs::path out(config.out);
  ShardManifest manifest{format::kFormatName, format::kVersion, config.input, parts.back().end, {}};
  std::set<std::string> names;
  for (int r = 0; r < world.world_size; ++r) {
    const std::string name = data_shard_file_name(r, world.world_size);
    const SampleRange range = span_of(parts_of_rank(parts, r, world.world_size));
    if (stamp_of((out / name).string()) != stamp(fingerprint, range)) {
      fail("{}: rank {} reported its shard written, but it is missing or from another run",
           (out / name).string(), r);
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

}  // namespace pride::teacher
