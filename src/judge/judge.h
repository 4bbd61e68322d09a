// `pride judge` (docs/judge.md): the empathy win rate of one response file against another, as the
// literature measures it, by any Hugging Face causal LM. Each pair is judged in both orders (A
// first, then B first) to cancel the judge's position bias; each verdict is read from the judge's
// next-token probabilities of the two answer labels, normalised over the two (no free text is
// parsed); a pair is won when both orders prefer it, lost when both prefer the other, and a tie
// when the orders disagree. Data-parallel over ranks; out: verdicts.jsonl (one line per pair, in
// input order) and metrics.json (win / tie / loss rates with bootstrap confidence intervals).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "dialogue/dialogue.h"
#include "distributed/communicator.h"

namespace pride::judge {

// The built-in empathy rubric; {dialogue}, {speaker}, {response_a}, {response_b}.
extern const char kEmpathyRubric[];

// A pair's verdict from P(first label) in each order: p_a_first = P(A | A shown first),
// p_a_second = P(A | A shown second). "a", "b" or "tie".
std::string verdict(double p_a_first, double p_a_second);

struct Rate {
  double value = 0, low = 0, high = 0;  // the rate and its bootstrap percentile interval
};
struct WinRates {
  int64_t pairs = 0;
  Rate win, tie, loss;  // of A against B
};

// Win / tie / loss rates of `verdicts` with `bootstrap` resamples of the pairs (seeded) giving
// the `confidence` percentile intervals; no resamples: the interval is the rate itself.
WinRates win_rates(const std::vector<std::string>& verdicts, int64_t bootstrap, double confidence,
                   uint64_t seed);

// The responses of `path` (judge.a or judge.b, named by `key`), one JSON line per dialogue: the
// string field `field`, or the first of response, hypothesis_text and text; a line with an "id"
// must name its dialogue's. Errors name the file and line.
std::vector<std::string> read_responses(const std::string& path, const std::string& field,
                                        const std::string& key,
                                        const std::vector<dialogue::DialogueText>& dialogues);

void run_judge(const Config& config, Communicator& comm, torch::Device device);

}  // namespace pride::judge
