// Implements eval/generation_eval.h.
#include "eval/generation_eval.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <optional>
#include <set>

#include "data/batch.h"
#include "eval/text_metrics.h"
#include "models/student_generation.h"
#include "text/tokenizer.h"
#include "util/clock.h"
#include "util/error.h"

namespace pride {
namespace {

struct Response {
  int64_t index = 0;
  bool stopped = false;
  std::vector<int64_t> hypothesis, reference;
  std::string hypothesis_text, reference_text;  // with a tokenizer
};

// A response's text for scoring: the tokenizer's decoding of its ids without the special ones
// (the tokenizer's bos, eos, pad and unk, the data set's pad, bos and eos) and without ids past
// the tokenizer's vocabulary (a model's padding rows), as skip_special_tokens decodes.
class ResponseDecoder {
 public:
  ResponseDecoder(const std::string& path, const DatasetInfo& info)
      : tokenizer_(text::load_tokenizer(path)), path_(path) {
    const auto& special = tokenizer_->special_tokens();
    for (const auto& id : {special.bos, special.eos, special.pad, special.unk}) {
      if (id) skipped_.insert(*id);
    }
    skipped_.insert({info.pad_id, info.bos_id, info.eos_id});
  }

  std::string decode(const std::vector<int64_t>& ids) const {
    std::vector<text::TokenId> kept;
    for (const int64_t id : ids) {
      if (id >= 0 && id < tokenizer_->vocab_size() && skipped_.count(id) == 0) {
        kept.push_back(static_cast<text::TokenId>(id));
      }
    }
    try {
      return tokenizer_->decode(kept);
    } catch (const Error& e) {
      fail("--tokenizer {}: {}", path_, e.what());
    }
  }

 private:
  std::unique_ptr<text::Tokenizer> tokenizer_;
  std::string path_;
  std::set<int64_t> skipped_;
};

// The gold response without its closing eos (a hypothesis never holds its stop token).
std::vector<int64_t> reference_of(const Sample& sample, int64_t eos_id) {
  std::vector<int64_t> ids(sample.response.begin(), sample.response.end());
  if (!ids.empty() && ids.back() == eos_id) ids.pop_back();
  return ids;
}

// [index, stopped, n_hyp, n_ref, hyp..., ref...] per response, for one all_gather.
torch::Tensor pack(const std::vector<Response>& responses) {
  std::vector<int64_t> flat;
  for (const auto& r : responses) {
    flat.insert(flat.end(), {r.index, int64_t(r.stopped), int64_t(r.hypothesis.size()),
                             int64_t(r.reference.size())});
    flat.insert(flat.end(), r.hypothesis.begin(), r.hypothesis.end());
    flat.insert(flat.end(), r.reference.begin(), r.reference.end());
  }
  return torch::tensor(flat, torch::kLong);
}

std::vector<Response> unpack(const torch::Tensor& packed) {
  const auto host = packed.cpu().contiguous();
  const int64_t* data = host.data_ptr<int64_t>();
  std::vector<Response> out;
  for (int64_t at = 0; at < host.numel();) {
    Response r;
    r.index = data[at];
    r.stopped = data[at + 1] != 0;
    const int64_t n_hyp = data[at + 2], n_ref = data[at + 3];
    at += 4;
    r.hypothesis.assign(data + at, data + at + n_hyp);
    r.reference.assign(data + at + n_hyp, data + at + n_hyp + n_ref);
    at += n_hyp + n_ref;
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.index < b.index; });
  return out;
}

void write_responses(const std::vector<Response>& responses, bool text, const std::string& path) {
  std::ofstream out(path);
  if (!out) fail("{}: cannot write", path);
  for (const auto& r : responses) {
    nlohmann::json line = {{"index", r.index},
                           {"hypothesis", r.hypothesis},
                           {"reference", r.reference},
                           {"finish_reason", r.stopped ? "stop" : "length"}};
    if (text) {
      line["hypothesis_text"] = r.hypothesis_text;
      line["reference_text"] = r.reference_text;
    }
    out << line.dump() << "\n";
  }
}

}  // namespace

GenerationOptions eval_generation_options(const Config& config) {
  GenerationOptions options;
  options.max_new_tokens = config.eval.max_new_tokens;
  options.min_new_tokens = config.eval.min_new_tokens;
  options.temperature = config.eval.temperature;
  options.top_k = config.eval.top_k;
  options.top_p = config.eval.top_p;
  options.seed = static_cast<uint64_t>(config.eval.seed);
  return options;
}

nlohmann::json evaluate_generation(Student& model, const DialogueDataset& data,
                                   const Config& config, Communicator& comm,
                                   const std::string& responses_path,
                                   const std::string& tokenizer) {
  // Loaded on every rank before generating, so that a bad file fails them all alike.
  std::optional<ResponseDecoder> decoder;
  if (!tokenizer.empty()) decoder.emplace(tokenizer, data.info());
  const int64_t total = config.train.eval_samples > 0
                            ? std::min(config.train.eval_samples, data.size())
                            : data.size();
  std::vector<int64_t> mine;
  for (int64_t i = comm.rank(); i < total; i += comm.world_size()) mine.push_back(i);

  const auto started = Clock::now();
  std::vector<Response> responses;
  double generated_tokens = 0;
  const auto batch_size = static_cast<size_t>(config.eval.batch_size);
  for (size_t begin = 0; begin < mine.size(); begin += batch_size) {
    std::vector<Sample> samples;
    for (size_t i = begin; i < std::min(mine.size(), begin + batch_size); ++i) {
      samples.push_back(data.read(mine[i], /*with_privileged=*/false));
    }
    GenerationOptions options = eval_generation_options(config);
    options.seed += static_cast<uint64_t>(mine[begin]);
    const Batch batch = collate(samples, data.info(), config.model.max_seq_len);
    const auto generations = generate_responses(model, batch, options, config.model.max_seq_len);
    for (size_t row = 0; row < samples.size(); ++row) {
      const Generation& g = generations[row];
      generated_tokens += g.tokens.size();
      responses.push_back({samples[row].index, g.finish_reason == "stop", response_tokens(g),
                           reference_of(samples[row], data.info().eos_id)});
    }
  }
  auto counts = all_reduce_small(comm, torch::tensor({generated_tokens}, torch::kFloat64));
  auto gathered = unpack(comm.all_gather(pack(responses).to(comm.device())));
  const double seconds = seconds_since(started);
  if (comm.rank() != 0) return {};

  std::vector<TokenSeq> hypotheses, references;
  for (auto& r : gathered) {
    if (decoder) {
      r.hypothesis_text = decoder->decode(r.hypothesis);
      r.reference_text = decoder->decode(r.reference);
    }
    hypotheses.push_back(decoder ? words_of_text(r.hypothesis_text) : tokens_of_ids(r.hypothesis));
    references.push_back(decoder ? words_of_text(r.reference_text) : tokens_of_ids(r.reference));
  }
  write_responses(gathered, decoder.has_value(), responses_path);
  auto metrics = score_responses(hypotheses, references).to_json();
  metrics["scored_on"] = decoder ? "words" : "token_ids";
  if (decoder) metrics["tokenizer"] = tokenizer;
  metrics["gen_seconds"] = seconds;
  metrics["gen_tokens_per_s"] = counts[0].item<double>() / std::max(seconds, 1e-9);
  metrics["responses_file"] = responses_path;
  return metrics;
}

}  // namespace pride
