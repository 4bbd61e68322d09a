// What `pride generate` runs: generation with a Hugging Face causal LM or a PRIDE student, one
// process, no MPI; one JSON line per prompt (models/generate_job.cpp says which fields).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/generate.h"

namespace pride {

struct GenerateJob {
  std::string model_dir, checkpoint, tokenizer, prompt, prompt_ids, in_file, out_file;
  std::string data_file, dtype = "fp32", dump_logits;
  int64_t samples = 0;  // with --data: the first this many samples; 0: all
  GenerationOptions options;
  std::vector<int64_t> stop_ids;
  int64_t batch_size = 8;
  bool no_cache = false, stats = false;
  bool chat = false;  // --in holds conversations, rendered with the model's chat template
};

// Runs `job`; bad arguments or input are a pride::Error naming the option, file or line.
void run_generate_job(const GenerateJob& job);

}  // namespace pride
