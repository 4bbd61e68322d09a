// Implements eval/text_metrics.h: corpus BLEU (nltk's arithmetic), ROUGE-L F, Dist-n.
#include "eval/text_metrics.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "io/json_file.h"
#include "util/error.h"

namespace pride {
namespace {

using NGram = std::vector<std::string>;

NGram ngram_at(const TokenSeq& tokens, size_t start, int n) {
  return NGram(tokens.begin() + start, tokens.begin() + start + n);
}

int64_t ngram_total(const TokenSeq& tokens, int n) {
  return std::max<int64_t>(0, int64_t(tokens.size()) - n + 1);
}

std::map<NGram, int64_t> ngram_counts(const TokenSeq& tokens, int n) {
  std::map<NGram, int64_t> counts;
  for (int64_t i = 0; i < ngram_total(tokens, n); ++i) ++counts[ngram_at(tokens, i, n)];
  return counts;
}

// nltk's modified_precision numerator: hypothesis n-gram counts clipped by the reference's.
int64_t clipped_matches(const TokenSeq& hypothesis, const TokenSeq& reference, int n) {
  const auto in_reference = ngram_counts(reference, n);
  int64_t matches = 0;
  for (const auto& [gram, count] : ngram_counts(hypothesis, n)) {
    auto found = in_reference.find(gram);
    if (found != in_reference.end()) matches += std::min(count, found->second);
  }
  return matches;
}

int64_t lcs_length(const TokenSeq& a, const TokenSeq& b) {
  std::vector<int64_t> previous(b.size() + 1, 0), current(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      current[j] =
          a[i - 1] == b[j - 1] ? previous[j - 1] + 1 : std::max(previous[j], current[j - 1]);
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

TokenSeq tokens_of_json(const nlohmann::json& value, const std::string& context) {
  if (value.is_string()) return words_of_text(value.get<std::string>());
  if (!value.is_array()) fail("{}: must be a list of token ids or a string", context);
  std::vector<int64_t> ids;
  for (const auto& id : value) {
    if (!id.is_number_integer()) fail("{}: holds {}, not a token id", context, id.dump());
    ids.push_back(id.get<int64_t>());
  }
  return tokens_of_ids(ids);
}

}  // namespace

std::array<double, 4> corpus_bleu(const std::vector<TokenSeq>& hypotheses,
                                  const std::vector<TokenSeq>& references) {
  if (hypotheses.size() != references.size()) {
    fail("BLEU: {} hypotheses but {} references", hypotheses.size(), references.size());
  }
  // Micro-averaged over the corpus: matches and n-gram counts summed before dividing; every
  // hypothesis adds at least 1 to each denominator (nltk's max(1, count)).
  std::array<int64_t, 4> matches{}, totals{};
  int64_t hypothesis_length = 0, reference_length = 0;
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    for (int n = 1; n <= 4; ++n) {
      matches[n - 1] += clipped_matches(hypotheses[i], references[i], n);
      totals[n - 1] += std::max<int64_t>(1, ngram_total(hypotheses[i], n));
    }
    hypothesis_length += hypotheses[i].size();
    reference_length += references[i].size();
  }
  std::array<double, 4> bleu{};
  if (matches[0] == 0) return bleu;
  const double brevity = hypothesis_length > reference_length
                             ? 1.0
                             : std::exp(1.0 - double(reference_length) / double(hypothesis_length));
  for (int order = 1; order <= 4; ++order) {
    double log_sum = 0;
    for (int n = 1; n <= order; ++n) {
      const double numerator = matches[n - 1] == 0 ? kBleuEpsilon : double(matches[n - 1]);
      log_sum += (1.0 / order) * std::log(numerator / double(totals[n - 1]));
    }
    bleu[order - 1] = brevity * std::exp(log_sum);
  }
  return bleu;
}

double rouge_l_f(const TokenSeq& hypothesis, const TokenSeq& reference, double beta) {
  const int64_t lcs = lcs_length(hypothesis, reference);
  if (lcs == 0) return 0.0;
  const double precision = double(lcs) / hypothesis.size();
  const double recall = double(lcs) / reference.size();
  const double b2 = beta * beta;
  return (1 + b2) * precision * recall / (recall + b2 * precision);
}

double distinct_n(const std::vector<TokenSeq>& responses, int n) {
  std::set<NGram> distinct;
  int64_t total = 0;
  for (const auto& tokens : responses) {
    total += ngram_total(tokens, n);
    for (int64_t i = 0; i < ngram_total(tokens, n); ++i) distinct.insert(ngram_at(tokens, i, n));
  }
  return total == 0 ? 0.0 : double(distinct.size()) / double(total);
}

TextMetrics score_responses(const std::vector<TokenSeq>& hypotheses,
                            const std::vector<TokenSeq>& references) {
  TextMetrics m;
  m.bleu = corpus_bleu(hypotheses, references);
  m.responses = int64_t(hypotheses.size());
  if (hypotheses.empty()) return m;
  double rouge = 0, length = 0;
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    rouge += rouge_l_f(hypotheses[i], references[i]);
    length += hypotheses[i].size();
  }
  m.rouge_l = rouge / hypotheses.size();
  m.avg_length = length / hypotheses.size();
  m.dist1 = distinct_n(hypotheses, 1);
  m.dist2 = distinct_n(hypotheses, 2);
  return m;
}

nlohmann::json TextMetrics::to_json() const {
  return {{"bleu1", bleu[0]}, {"bleu2", bleu[1]},      {"bleu3", bleu[2]},
          {"bleu4", bleu[3]}, {"rouge_l", rouge_l},    {"dist1", dist1},
          {"dist2", dist2},   {"avg_len", avg_length}, {"responses", responses}};
}

TokenSeq tokens_of_ids(const std::vector<int64_t>& ids) {
  TokenSeq tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) tokens.push_back(std::to_string(id));
  return tokens;
}

TokenSeq words_of_text(const std::string& text) {
  auto is_space = [](unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  auto is_word_byte = [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
  };
  TokenSeq words;
  for (size_t at = 0; at < text.size();) {
    const auto c = static_cast<unsigned char>(text[at]);
    if (is_space(c)) {
      ++at;
      continue;
    }
    size_t end = at + 1;
    if (is_word_byte(c)) {
      while (end < text.size() && is_word_byte(static_cast<unsigned char>(text[end]))) ++end;
    }
    std::string word = text.substr(at, end - at);
    for (char& ch : word) {
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    }
    words.push_back(std::move(word));
    at = end;
  }
  return words;
}

TextMetrics score_jsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open", path);
  std::vector<TokenSeq> hypotheses, references;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string context = fmt::format("{}:{}", path, number);
    const nlohmann::json record = parse_json(line, context);
    if (!record.is_object() || !record.contains("hypothesis") || !record.contains("reference")) {
      fail("{}: each line must be an object with \"hypothesis\" and \"reference\"", context);
    }
    const bool text = record.contains("hypothesis_text") && record.contains("reference_text");
    const std::string hypothesis = text ? "hypothesis_text" : "hypothesis";
    const std::string reference = text ? "reference_text" : "reference";
    hypotheses.push_back(
        tokens_of_json(record[hypothesis], fmt::format("{} \"{}\"", context, hypothesis)));
    references.push_back(
        tokens_of_json(record[reference], fmt::format("{} \"{}\"", context, reference)));
  }
  return score_responses(hypotheses, references);
}

}  // namespace pride
