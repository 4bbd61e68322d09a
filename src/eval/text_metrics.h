// Generation metrics as the empathetic-dialogue papers report them, over token sequences (token ids
// written as decimal strings for id data, the words of words_of_text() for decoded text):
//   - corpus BLEU-1..4 exactly as nltk 3.8's corpus_bleu with SmoothingFunction().method1
//     (epsilon 0.1) and one reference per hypothesis,
//   - ROUGE-L F (LCS-based, beta 1.2 as in pycocoevalcap), per response then averaged,
//   - Dist-1/Dist-2: distinct n-grams over all responses / all n-grams,
//   - the average response length in tokens.
// Exact definitions: docs/evaluation.md. No LibTorch here: it builds in seconds.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace pride {

using TokenSeq = std::vector<std::string>;

constexpr double kRougeBeta = 1.2;
constexpr double kBleuEpsilon = 0.1;  // nltk's SmoothingFunction().method1 default

// BLEU-n for n = 1..4 (weights 1/n on each order up to n). hypotheses[i] is scored against
// references[i]; both lists have the same length (else a pride::Error).
std::array<double, 4> corpus_bleu(const std::vector<TokenSeq>& hypotheses,
                                  const std::vector<TokenSeq>& references);

// (1 + b^2) P R / (R + b^2 P) with P = LCS / |hyp|, R = LCS / |ref|; 0 when the LCS is empty.
double rouge_l_f(const TokenSeq& hypothesis, const TokenSeq& reference, double beta = kRougeBeta);

// Distinct n-grams over all responses / n-grams over all responses (0 when there are none).
double distinct_n(const std::vector<TokenSeq>& responses, int n);

struct TextMetrics {
  std::array<double, 4> bleu{};
  double rouge_l = 0, dist1 = 0, dist2 = 0, avg_length = 0;
  int64_t responses = 0;
  nlohmann::json to_json() const;  // bleu1..bleu4, rouge_l, dist1, dist2, avg_len, responses
};

TextMetrics score_responses(const std::vector<TokenSeq>& hypotheses,
                            const std::vector<TokenSeq>& references);

// Token ids as metric tokens (their decimal strings).
TokenSeq tokens_of_ids(const std::vector<int64_t>& ids);
// The words of decoded text, a simple word_tokenize: ASCII letters lowercased; a word is a maximal
// run of ASCII letters, digits, '_' and bytes >= 0x80 (so UTF-8 characters stay inside words);
// every other byte but whitespace (space, \t \n \v \f \r) is a token of its own (punctuation):
// "I'm SO sad..." -> i ' m so sad . . .
TokenSeq words_of_text(const std::string& text);

// Scores a JSONL file of {"hypothesis": H, "reference": R} lines, H and R each a list of token ids
// or a string (its words_of_text); a line that also holds "hypothesis_text" and "reference_text"
// (eval --generate with a tokenizer) is scored on those. Errors name the file and line. Backs
// `pride score`.
TextMetrics score_jsonl(const std::string& path);

}  // namespace pride
