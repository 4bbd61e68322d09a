// The output directory of `pride teach` as a whole: the run's fingerprint and the header every file
// shares, whether a finished run of it is already there, and the manifest that rank 0 writes once
// every rank's shard exists.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "distributed/communicator.h"
#include "teacher/chat_prompts.h"
#include "teacher/input_scan.h"
#include "teacher/teach_file.h"
#include "teacher/teacher_model.h"
#include "teacher/work_plan.h"

namespace pride::teacher {

inline constexpr char kPartsDir[] = "parts";  // under teach.out: the finished parts

// Everything that decides the output, hashed: the teacher's files, the tokenizer, the input's
// bytes, the teach keys that change what is written (not batch or part sizes), the chat templates
// the prompts are rendered with, the plug-in's identity, and `extra` (a response mode's keys).
std::string teach_fingerprint(const TeachConfig& config, const text::Tokenizer& tokenizer,
                              const ChatTemplates& chat, const std::string& plugin,
                              const std::string& extra = "");

// The header of every file of this run, its fingerprint included. `plugin`: the plug-in's identity
// (hef::EmotionPlugin::identity), "" without one.
TeachFileHeader make_header(const TeachConfig& config, const Teacher& teacher,
                            const InputSummary& input, const ChatTemplates& chat,
                            const std::string& plugin);

// The samples of a contiguous run of parts.
SampleRange span_of(const std::vector<SampleRange>& parts);

// True when `out` holds a finished run of this fingerprint; an error when it holds another's.
bool already_finished(const std::string& out, const std::string& fingerprint);

// Rank 0, once every rank's shard is written: the manifest, then the parts and the shards of
// earlier world sizes removed.
void write_manifest(const TeachConfig& config, const std::vector<SampleRange>& parts,
                    const WorldInfo& world, const std::string& fingerprint);

}  // namespace pride::teacher
