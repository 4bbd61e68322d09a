// The preference format's writer and reader (data/preference.h).
#include "data/preference.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "data/h5.h"
#include "data/ragged.h"
#include "data/table_writer.h"
#include "io/file_io.h"
#include "util/error.h"

namespace pride::preference {

void write_preference_file(const std::string& path, const PreferenceHeader& header,
                           const std::vector<TokenizedPair>& pairs) {
  for (size_t i = 0; i < pairs.size(); ++i) {
    const TokenizedPair& pair = pairs[i];
    for (const auto* ids : {&pair.prompt, &pair.chosen, &pair.rejected}) {
      for (int32_t id : *ids) {
        if (id < 0 || id >= header.vocab_size) {
          fail("{}: pair {}: token id {} is outside [0, {})", path, i, id, header.vocab_size);
        }
      }
    }
    if (pair.chosen.empty() || pair.rejected.empty()) {
      fail("{}: pair {}: the {} response has no tokens", path, i,
           pair.chosen.empty() ? "chosen" : "rejected");
    }
  }
  write_file_atomically(path, [&](const std::string& temporary) {
    h5::File file = h5::File::open(temporary, h5::Mode::kCreate);
    file.set_attribute("format", std::string(kFormatName));
    file.set_attribute("version", kVersion);
    file.set_attribute("vocab_size", header.vocab_size);
    file.set_attribute("pad_id", header.pad_id);
    file.set_attribute("bos_id", header.bos_id);
    file.set_attribute("eos_id", header.eos_id);
    file.set_attribute("tokenizer", header.tokenizer);
    if (!header.reference.empty()) file.set_attribute(kAttrReference, header.reference);
    RaggedWriter<int32_t> prompt(file, kPrompt, h5::ElementType::kInt32, 0);
    RaggedWriter<int32_t> chosen(file, kChosen, h5::ElementType::kInt32, 0);
    RaggedWriter<int32_t> rejected(file, kRejected, h5::ElementType::kInt32, 0);
    for (const TokenizedPair& pair : pairs) {
      prompt.add(pair.prompt);
      chosen.add(pair.chosen);
      rejected.add(pair.rejected);
    }
    prompt.flush();
    chosen.flush();
    rejected.flush();
    if (header.reference.empty()) return;
    TableWriter<float> chosen_logps(file, kReferenceChosen, h5::ElementType::kFloat32, 0);
    TableWriter<float> rejected_logps(file, kReferenceRejected, h5::ElementType::kFloat32, 0);
    for (const TokenizedPair& pair : pairs) {
      chosen_logps.add(pair.reference_chosen);
      rejected_logps.add(pair.reference_rejected);
    }
    chosen_logps.flush();
    rejected_logps.flush();
  });
}

}  // namespace pride::preference

namespace pride {

using namespace preference;

bool is_preference_file(const std::string& path) {
  try {
    const h5::File file = h5::File::open(path, h5::Mode::kRead);
    return file.has_attribute("format") && file.string_attribute("format") == kFormatName;
  } catch (const Error&) {
    return false;
  }
}

struct PreferenceReader::Impl {
  std::string path;
  h5::File file;
  DatasetInfo info;
  std::string reference;
  data::RaggedRows prompt, chosen, rejected;
  std::optional<h5::Dataset> reference_chosen, reference_rejected;

  explicit Impl(const std::string& file_path)
      : path(file_path),
        file(h5::File::open(file_path, h5::Mode::kRead)),
        info(read_header(file)),
        prompt(file, kPrompt),
        chosen(file, kChosen),
        rejected(file, kRejected) {
    info.num_samples = prompt.offsets.rows() - 1;
    if (info.num_samples < 0) fail("{}: {}_offsets is empty (N+1 entries expected)", path, kPrompt);
    for (const data::RaggedRows* field : {&chosen, &rejected}) {
      data::check_rows(field->offsets, info.num_samples + 1, "one more than the pairs");
    }
    const bool has_chosen = file.exists(kReferenceChosen);
    if (has_chosen != file.exists(kReferenceRejected)) {
      fail("{}: holds one of {} and {} without the other", path, kReferenceChosen,
           kReferenceRejected);
    }
    if (has_chosen) {
      reference_chosen = file.dataset(kReferenceChosen);
      reference_rejected = file.dataset(kReferenceRejected);
      for (const h5::Dataset* table : {&*reference_chosen, &*reference_rejected}) {
        data::check_one_dimensional(*table);
        data::check_rows(*table, info.num_samples, "one per pair");
      }
      info.reference_logps = true;
      reference = file.has_attribute(kAttrReference) ? file.string_attribute(kAttrReference) : "";
    }
  }

  static DatasetInfo read_header(const h5::File& file) {
    data::check_format(file, kFormatName, kVersion);
    DatasetInfo info;
    info.preference = true;
    info.vocab_size = data::positive_attribute(file, "vocab_size");
    info.pad_id = data::token_attribute(file, "pad_id", info.vocab_size);
    info.bos_id = data::token_attribute(file, "bos_id", info.vocab_size);
    info.eos_id = data::token_attribute(file, "eos_id", info.vocab_size);
    if (file.has_attribute("tokenizer")) info.tokenizer = file.string_attribute("tokenizer");
    return info;
  }

  void check_index(int64_t index) const {
    if (index < 0 || index >= info.num_samples) {
      fail("{}: pair index {} is outside [0, {})", path, index, info.num_samples);
    }
  }

  std::vector<int32_t> response(const data::RaggedRows& field, int64_t index) const {
    std::vector<int32_t> ids = field.tokens(index, info.vocab_size);
    if (ids.empty()) fail("{}: {}: pair {} has an empty response", path, field.data.name(), index);
    return ids;
  }

  float reference_logp(const h5::Dataset& table, int64_t index) const {
    const float value = table.read_rows<float>(index, 1).at(0);
    if (!std::isfinite(value) || value > 0) {
      fail("{}: {}: pair {} has log-probability {}, not a finite value <= 0", path, table.name(),
           index, value);
    }
    return value;
  }
};

PreferenceReader::PreferenceReader(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}
PreferenceReader::~PreferenceReader() = default;

const DatasetInfo& PreferenceReader::info() const {
  return impl_->info;
}
const std::string& PreferenceReader::path() const {
  return impl_->path;
}
const std::string& PreferenceReader::reference() const {
  return impl_->reference;
}

Sample pair_sample(int64_t index, std::vector<int32_t> prompt, std::vector<int32_t> chosen,
                   std::vector<int32_t> rejected) {
  Sample sample;
  sample.index = index;
  sample.context = std::move(prompt);
  sample.response = std::move(chosen);
  sample.rejected = std::move(rejected);
  const auto rows = static_cast<int64_t>(sample.response.size());
  sample.topk_ids = torch::zeros({rows, 0}, torch::kInt64);
  sample.topk_logprobs = torch::zeros({rows, 0});
  sample.teacher_hidden = torch::zeros({0});
  return sample;
}

Sample PreferenceReader::read(int64_t index, bool /*with_privileged*/) const {
  const Impl& impl = *impl_;
  impl.check_index(index);
  Sample sample =
      pair_sample(index, impl.prompt.tokens(index, impl.info.vocab_size),
                  impl.response(impl.chosen, index), impl.response(impl.rejected, index));
  if (impl.reference_chosen) {
    sample.reference_logps = torch::tensor({impl.reference_logp(*impl.reference_chosen, index),
                                            impl.reference_logp(*impl.reference_rejected, index)});
  }
  return sample;
}

int64_t PreferenceReader::sequence_length(int64_t index) const {
  impl_->check_index(index);
  const auto length = [&](const data::RaggedRows& field) {
    const auto [begin, end] = field.range(index);
    return end - begin;
  };
  return length(impl_->prompt) + std::max(length(impl_->chosen), length(impl_->rejected));
}

}  // namespace pride
