// `pride hef` (docs/hef.md): HEF as an inference mode. For each dialogue of teach.input the large
// model (teach.teacher) predicts the emotion by label scoring and writes the listener's response,
// once with the plug-in's help (teach.plugin: its emotion candidates and cause words in the HEF
// prompts) and once without; data-parallel over ranks. Out: hef.out/predictions.jsonl (one line
// per sample, in input order) and metrics.json (emotion accuracy and macro-F1 of the plug-in, the
// teacher alone and the teacher with the plug-in; BLEU, ROUGE-L, Dist-n of both responses).
#pragma once

#include <torch/types.h>

#include "config/config.h"
#include "distributed/communicator.h"

namespace pride::hef {

void run_hef(const Config& config, Communicator& comm, torch::Device device);

// HEF's built-in response prompt, with the plug-in's hints (without the plug-in, the teacher's
// direct prompt, teacher::kDirectResponseTemplate).
extern const char kHefResponseTemplate[];

}  // namespace pride::hef
