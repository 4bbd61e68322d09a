// `pride eval --generate`: the student answers each evaluation context PI-free (decoding options
// from eval.*, a fixed seed), and its responses are scored as the literature scores them:
// BLEU-1..4, ROUGE-L, Dist-1/2 and average length over token ids (training/text_metrics.h). Each
// rank generates for its share of the samples; rank 0 gathers the responses, scores them and writes
// one JSON line per sample.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "config/config.h"
#include "data/reader.h"
#include "distributed/communicator.h"
#include "models/generate.h"
#include "models/student.h"

namespace pride {

// The decoding options of eval.* (the seed of a batch is eval.seed plus its first sample's index).
GenerationOptions eval_generation_options(const Config& config);

// Metrics (bleu1..4, rouge_l, dist1, dist2, avg_len, responses, gen_tokens_per_s, gen_seconds) on
// rank 0, which also writes `responses_path` ({"index", "hypothesis", "reference",
// "finish_reason"} per sample, in sample order; `pride score --in` recomputes the metrics from
// it). The first train.eval_samples samples (0: all). Collective.
nlohmann::json evaluate_generation(Student& model, const DialogueDataset& data,
                                   const Config& config, Communicator& comm,
                                   const std::string& responses_path);

}  // namespace pride
