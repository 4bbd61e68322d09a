// Implements teacher_pass.h: the order of the pass. Its parts are in their own files: the input
// scan (input_scan.h), the teacher and its checks (teacher_model.h), the plan of parts
// (work_plan.h), teaching a rank's parts (part_teacher.h), progress and the ranks' meetings
// (progress.h), and the output directory's fingerprint, finished check and manifest
// (teach_output.h).
#include "teacher/teacher_pass.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <optional>

#include "data/shard_manifest.h"
#include "dialogue/features.h"
#include "dialogue/label_sets.h"
#include "sharding/shard_tool.h"
#include "teacher/chat_prompts.h"
#include "teacher/input_scan.h"
#include "teacher/part_teacher.h"
#include "teacher/plugin.h"
#include "teacher/progress.h"
#include "teacher/response_pass.h"
#include "teacher/teach_output.h"
#include "teacher/teacher_model.h"
#include "teacher/work_plan.h"
#include "util/error.h"

namespace pride::teacher {
namespace {

namespace fs = std::filesystem;

void require(const std::string& value, const char* key) {
  if (value.empty())
    fail("teach: {} is required (the config's teach section, or --set {}=...)", key, key);
}

}  // namespace

void run_teach(const Config& config, Communicator& comm, torch::Device device) {
  const WorldInfo& world = comm.world();
  const TeachConfig& c = config.teach;
  require(c.teacher, "teach.teacher");
  require(c.input, "teach.input");
  require(c.out, "teach.out");
  if (c.mode != "targets") {
    run_response_pass(config, comm, device);
    return;
  }
  Teacher teacher = load_teacher(c, device);
  check_student_tokenizer(config, *teacher.tokenizer);
  dialogue::FeatureLoader features(fs::path(c.input).parent_path().string());
  const InputSummary input = scan_input(c.input, features, c.reasoning);
  const ChatTemplates chat = find_chat_templates(config);
  std::optional<EmotionPlugin> plugin;
  if (!c.plugin.empty()) {
    if (input.sources.count(kEmotionCauseSource) > 0) {
      fail("{}: the samples have a privileged source '{}' already, which teach.plugin writes",
           c.input, kEmotionCauseSource);
    }
    plugin.emplace(c, dialogue::label_set(input.label_set).labels, *teacher.tokenizer, device);
  }
  const TeachFileHeader header =
      make_header(c, teacher, input, chat, plugin ? plugin->identity() : "");

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
  const fs::path shard = fs::path(c.out) / data_shard_file_name(world.rank, world.world_size);
  Progress progress(comm, span_of(mine).size(), c.progress_every_s);
  if (stamp_of(shard.string()) != stamp(header.fingerprint, span_of(mine))) {
    PartTeacher part_teacher(config, teacher, chat, input, header, world.rank, device, progress,
                             plugin ? &*plugin : nullptr);
    std::vector<std::string> paths;
    for (const SampleRange& part : mine) {
      paths.push_back((parts_dir / part_file_name(part)).string());
      part_teacher.teach(part, paths.back());
    }
    merge_parts(paths, header, span_of(mine), shard.string());
  } else {
    progress.reused(span_of(mine).size());
  }
  progress.wait_for_all_ranks();
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
