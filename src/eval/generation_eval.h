// `pride eval --generate`: the student answers each evaluation context PI-free (decoding options
// from eval.*, a fixed seed), and its responses are scored as the literature scores them:
// BLEU-1..4, ROUGE-L, Dist-1/2 and average length (eval/text_metrics.h), over the words of the
// decoded text when a tokenizer is given, else over token ids. Each rank generates for its share
// of the samples; rank 0 gathers the responses, scores them and writes one JSON line per sample.
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

// Metrics (bleu1..4, rouge_l, dist1, dist2, avg_len, responses, gen_tokens_per_s, gen_seconds,
// scored_on: "words" or "token_ids") on rank 0, which also writes `responses_path` ({"index",
// "hypothesis", "reference", "finish_reason"} per sample, ids, in sample order, plus
// "hypothesis_text" and "reference_text" with a tokenizer; `pride score --in` recomputes the
// metrics from it). The first train.eval_samples samples (0: all). `tokenizer`: a tokenizer file
// or directory (text/tokenizer.h) whose text of the ids, special tokens left out, is scored; "":
// score the ids. Collective.
nlohmann::json evaluate_generation(Student& model, const DialogueDataset& data,
                                   const Config& config, Communicator& comm,
                                   const std::string& responses_path,
                                   const std::string& tokenizer = "");

}  // namespace pride
