// DialogueReader / DialogueDataset: random access to samples of the dialogue format, one sample's
// rows at a time, with every offset and id checked so that a corrupt sample is a pride::Error
// naming the file and sample instead of a crash later on.
#include "data/reader.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <optional>

#include "data/format.h"
#include "data/h5.h"
#include "data/preference.h"
#include "data/ragged.h"
#include "data/shard_manifest.h"
#include "util/error.h"

namespace pride {
namespace {

using data::check_finite;
using data::check_one_dimensional;
using data::kMaxSampleValues;
using data::positive_attribute;
using data::RaggedRows;
using data::token_attribute;
using data::width_of;

std::atomic<int64_t> privileged_read_count{0};

int64_t modality_width(const h5::File& file, const std::vector<std::string>& modalities,
                       const std::string& modality) {
  if (std::find(modalities.begin(), modalities.end(), modality) == modalities.end()) return 0;
  return width_of(file.dataset(format::modality_dataset(modality)));
}

void check_modalities(const h5::File& file, const std::vector<std::string>& modalities) {
  for (const std::string& modality : modalities) {
    const auto& known = format::kKnownModalities;
    if (std::find(known.begin(), known.end(), modality) == known.end()) {
      fail("{}: attribute 'modalities' names unknown modality '{}'", file.path(), modality);
    }
  }
}

std::optional<RaggedRows> optional_modality(const h5::File& file, int64_t width,
                                            const std::string& modality) {
  if (width == 0) return std::nullopt;
  return RaggedRows(file, format::modality_dataset(modality));
}

}  // namespace

DatasetInfo read_info(const h5::File& file) {
  data::check_format(file, format::kFormatName, format::kVersion);
  DatasetInfo info;
  info.vocab_size = positive_attribute(file, format::kAttrVocabSize);
  info.num_emotions = positive_attribute(file, format::kAttrNumEmotions);
  info.pad_id = token_attribute(file, format::kAttrPadId, info.vocab_size);
  info.bos_id = token_attribute(file, format::kAttrBosId, info.vocab_size);
  info.eos_id = token_attribute(file, format::kAttrEosId, info.vocab_size);
  info.privileged_sources =
      format::split_list(file.string_attribute(format::kAttrPrivilegedSources));
  if (info.privileged_sources.empty()) {
    fail(
        "{}: attribute 'privileged_sources' lists no privileged source (at least one is "
        "required)",
        file.path());
  }
  const auto modalities = format::split_list(file.string_attribute(format::kAttrModalities));
  check_modalities(file, modalities);
  info.num_samples = file.dataset(format::kEmotion).rows();
  info.topk = width_of(file.dataset(format::kTopkIds));
  info.teacher_hidden = width_of(file.dataset(format::kTeacherHidden));
  info.audio_dim = modality_width(file, modalities, format::kAudio);
  info.visual_dim = modality_width(file, modalities, format::kVisual);
  info.teacher_emotion = file.exists(format::kTeacherEmotionLogprobs);
  if (file.has_attribute(format::kAttrTokenizer)) {
    info.tokenizer = file.string_attribute(format::kAttrTokenizer);
  }
  if (file.has_attribute(format::kAttrEmotionLabels)) {
    info.emotion_labels = format::split_list(file.string_attribute(format::kAttrEmotionLabels));
    if (static_cast<int64_t>(info.emotion_labels.size()) != info.num_emotions) {
      fail("{}: attribute '{}' names {} labels for {} emotions", file.path(),
           format::kAttrEmotionLabels, info.emotion_labels.size(), info.num_emotions);
    }
  }
  return info;
}

DatasetInfo read_info(const std::string& path) {
  return read_info(h5::File::open(path, h5::Mode::kRead));
}

std::vector<RaggedField> ragged_fields(const h5::File& file, const DatasetInfo& info) {
  const std::string response_offsets = format::offsets_of(format::kResponse);
  std::vector<RaggedField> fields = {
      {format::kContext, format::offsets_of(format::kContext)},
      {format::kResponse, response_offsets},
      {format::kTopkIds, response_offsets},
      {format::kTopkLogprobs, response_offsets},
  };
  if (file.exists(format::kTeacherHiddenTokens)) {
    fields.push_back({format::kTeacherHiddenTokens, response_offsets});
  }
  for (const std::string& source : info.privileged_sources) {
    const std::string name = format::privileged_dataset(source);
    fields.push_back({name, format::offsets_of(name)});
  }
  for (const auto& [modality, width] :
       {std::pair<std::string, int64_t>{format::kAudio, info.audio_dim},
        std::pair<std::string, int64_t>{format::kVisual, info.visual_dim}}) {
    const std::string name = format::modality_dataset(modality);
    if (width > 0) fields.push_back({name, format::offsets_of(name)});
  }
  return fields;
}

// --- DialogueReader ---------------------------------------------------------------------------

struct DialogueReader::Impl {
  std::string path;
  h5::File file;
  DatasetInfo info;
  RaggedRows context, response;
  h5::Dataset emotion, topk_ids, topk_logprobs, hidden;
  std::optional<h5::Dataset> emotion_logprobs;  // /teacher/emotion_logprobs, when present
  std::vector<std::pair<std::string, RaggedRows>> privileged;
  std::optional<RaggedRows> audio, visual;

  explicit Impl(const std::string& file_path)
      : path(file_path),
        file(h5::File::open(file_path, h5::Mode::kRead)),
        info(read_info(file)),
        context(file, format::kContext),
        response(file, format::kResponse),
        emotion(file.dataset(format::kEmotion)),
        topk_ids(file.dataset(format::kTopkIds)),
        topk_logprobs(file.dataset(format::kTopkLogprobs)),
        hidden(file.dataset(format::kTeacherHidden)),
        audio(optional_modality(file, info.audio_dim, format::kAudio)),
        visual(optional_modality(file, info.visual_dim, format::kVisual)) {
    for (const std::string& source : info.privileged_sources) {
      privileged.emplace_back(source, RaggedRows(file, format::privileged_dataset(source)));
    }
    check_one_dimensional(emotion);
    data::check_rows(hidden, info.num_samples, "one per sample");
    if (info.teacher_emotion) {
      emotion_logprobs = file.dataset(format::kTeacherEmotionLogprobs);
      data::check_rows(*emotion_logprobs, info.num_samples, "one per sample");
      if (width_of(*emotion_logprobs) != info.num_emotions) {
        fail("{}: {}: has width {}, but the file has {} emotions", path, emotion_logprobs->name(),
             width_of(*emotion_logprobs), info.num_emotions);
      }
    }
    if (width_of(topk_logprobs) != info.topk) {
      fail("{}: {}: has width {}, but {} has {}", path, topk_logprobs.name(),
           width_of(topk_logprobs), topk_ids.name(), info.topk);
    }
  }

  void check_index(int64_t index) const {
    if (index < 0 || index >= info.num_samples) {
      fail("{}: sample index {} is outside [0, {})", path, index, info.num_samples);
    }
  }

  int32_t read_emotion(int64_t index) const {
    const int32_t value = emotion.read_rows<int32_t>(index, 1).at(0);
    if (value < 0 || value >= info.num_emotions) {
      fail("{}: {}: emotion {} of sample {} is outside [0, {})", path, emotion.name(), value, index,
           info.num_emotions);
    }
    return value;
  }

  // The teacher's top-K rows of sample `index`: one per response token.
  void read_teacher(int64_t index, Sample& sample) const {
    const auto [begin, end] = response.range(index);
    if (end - begin > kMaxSampleValues / info.topk) {
      fail("{}: {}: sample {} has {} rows of {} values, more than the {} a sample may hold", path,
           topk_ids.name(), index, end - begin, info.topk, kMaxSampleValues);
    }
    for (const h5::Dataset* table : {&topk_ids, &topk_logprobs}) {
      if (end > table->rows()) {
        fail("{}: {}: sample {} needs rows [{}, {}) but the dataset has {} rows", path,
             table->name(), index, begin, end, table->rows());
      }
    }
    std::vector<int32_t> ids = topk_ids.read_rows<int32_t>(begin, end - begin);
    for (int32_t id : ids) {
      if (id < 0 || id >= info.vocab_size) {
        fail("{}: {}: token id {} of sample {} is outside [0, {})", path, topk_ids.name(), id,
             index, info.vocab_size);
      }
    }
    sample.topk_ids = torch::tensor(ids, torch::kInt64).reshape({end - begin, info.topk});
    const std::vector<float> logprobs = topk_logprobs.read_rows<float>(begin, end - begin);
    for (int64_t row = 0; row < end - begin; ++row) {
      const double mass = format::topk_mass(logprobs.data() + row * info.topk, info.topk);
      if (!(mass <= 1 + format::kTopkMassTolerance)) {
        fail(
            "{}: {}: response token {} of sample {} has top-K probabilities summing to {:.6f}, "
            "above 1",
            path, topk_logprobs.name(), row, index, mass);
      }
    }
    sample.topk_logprobs = torch::tensor(logprobs).reshape({end - begin, info.topk});
    const std::vector<float> hidden_state = hidden.read_rows<float>(index, 1);
    check_finite(hidden_state, hidden, index);
    sample.teacher_hidden = torch::tensor(hidden_state);
    if (emotion_logprobs) read_teacher_emotion(index, sample);
  }

  // The teacher's emotion distribution of sample `index`: finite log-probabilities of one
  // distribution.
  void read_teacher_emotion(int64_t index, Sample& sample) const {
    const std::vector<float> logprobs = emotion_logprobs->read_rows<float>(index, 1);
    const std::string problem = format::emotion_row_problem(logprobs.data(), info.num_emotions);
    if (!problem.empty()) {
      fail("{}: {}: sample {} {}", path, emotion_logprobs->name(), index, problem);
    }
    sample.teacher_emotion_logprobs = torch::tensor(logprobs);
  }
};

DialogueReader::DialogueReader(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}
DialogueReader::~DialogueReader() = default;
DialogueReader::DialogueReader(DialogueReader&&) noexcept = default;
DialogueReader& DialogueReader::operator=(DialogueReader&&) noexcept = default;

const DatasetInfo& DialogueReader::info() const {
  return impl_->info;
}
const std::string& DialogueReader::path() const {
  return impl_->path;
}
int64_t DialogueReader::privileged_reads() {
  return privileged_read_count.load();
}

Sample DialogueReader::read(int64_t index, bool with_privileged) const {
  const Impl& impl = *impl_;
  impl.check_index(index);
  Sample sample;
  sample.index = index;
  sample.context = impl.context.tokens(index, impl.info.vocab_size);
  sample.response = impl.response.tokens(index, impl.info.vocab_size);
  sample.emotion = impl.read_emotion(index);
  impl.read_teacher(index, sample);
  if (with_privileged) {
    for (const auto& [source, field] : impl.privileged) {
      ++privileged_read_count;
      sample.privileged[source] = field.tokens(index, impl.info.vocab_size);
    }
  }
  if (impl.audio) sample.audio = impl.audio->features(index);
  if (impl.visual) sample.visual = impl.visual->features(index);
  return sample;
}

int64_t DialogueReader::sequence_length(int64_t index) const {
  impl_->check_index(index);
  const auto [context_begin, context_end] = impl_->context.range(index);
  const auto [response_begin, response_end] = impl_->response.range(index);
  return (context_end - context_begin) + (response_end - response_begin);
}

std::shared_ptr<const SampleFile> open_sample_file(const std::string& path) {
  if (is_preference_file(path)) return std::make_shared<const PreferenceReader>(path);
  return std::make_shared<const DialogueReader>(path);
}

// --- DialogueDataset --------------------------------------------------------------------------

namespace {

// Shard directories expand to their shard files (checked against the manifest's counts).
std::vector<std::pair<std::string, int64_t>> expand(const std::string& path) {
  if (!std::filesystem::is_directory(path)) return {{path, -1}};
  const ShardManifest manifest = read_shard_manifest(path);
  std::vector<std::pair<std::string, int64_t>> files;
  for (const ShardEntry& shard : manifest.shards) {
    const std::string file = (std::filesystem::path(path) / shard.file).string();
    if (!std::filesystem::exists(file)) {
      fail("{}: shard listed in {} is missing", file, kManifestName);
    }
    files.emplace_back(file, shard.samples);
  }
  return files;
}

// Files combined into one data set must describe the same vocabulary, teacher and PI.
void check_compatible(const DatasetInfo& first, const std::string& first_path,
                      const DatasetInfo& other, const std::string& other_path) {
  auto differ = [&](const char* what, auto a, auto b) {
    if (a != b) {
      fail("{}: {} {} differs from {} in {}", other_path, what, fmt::to_string(b),
           fmt::to_string(a), first_path);
    }
  };
  differ("format", first.preference ? "preference" : "dialogue",
         other.preference ? "preference" : "dialogue");
  differ("presence of reference log-probabilities", first.reference_logps, other.reference_logps);
  differ("vocab_size", first.vocab_size, other.vocab_size);
  differ("num_emotions", first.num_emotions, other.num_emotions);
  differ("pad_id", first.pad_id, other.pad_id);
  differ("bos_id", first.bos_id, other.bos_id);
  differ("eos_id", first.eos_id, other.eos_id);
  differ("top-K width", first.topk, other.topk);
  differ("teacher hidden size", first.teacher_hidden, other.teacher_hidden);
  differ("presence of /teacher/emotion_logprobs", first.teacher_emotion, other.teacher_emotion);
  differ("audio dim", first.audio_dim, other.audio_dim);
  differ("visual dim", first.visual_dim, other.visual_dim);
  differ("privileged sources", format::join_list(first.privileged_sources),
         format::join_list(other.privileged_sources));
  differ("tokenizer", first.tokenizer, other.tokenizer);
  differ("emotion labels", format::join_list(first.emotion_labels),
         format::join_list(other.emotion_labels));
}

}  // namespace

DialogueDataset DialogueDataset::open(const std::vector<std::string>& paths) {
  if (paths.empty()) fail("no data files given");
  DialogueDataset dataset;
  int64_t total = 0;
  for (const std::string& path : paths) {
    for (const auto& [file, expected_samples] : expand(path)) {
      auto reader = open_sample_file(file);
      if (expected_samples >= 0 && reader->size() != expected_samples) {
        fail("{}: has {} samples but {} says {}", file, reader->size(), kManifestName,
             expected_samples);
      }
      if (dataset.readers_.empty()) {
        dataset.info_ = reader->info();
      } else {
        check_compatible(dataset.info_, dataset.files_.front(), reader->info(), file);
      }
      dataset.starts_.push_back(total);
      total += reader->size();
      dataset.readers_.push_back(std::move(reader));
      dataset.files_.push_back(file);
    }
  }
  dataset.info_.num_samples = total;
  return dataset;
}

std::pair<const SampleFile*, int64_t> DialogueDataset::locate(int64_t index) const {
  if (index < 0 || index >= info_.num_samples) {
    fail("sample index {} is outside [0, {}) of the data set ({} files)", index, info_.num_samples,
         files_.size());
  }
  // Last reader whose first sample is <= index (empty files are skipped naturally).
  const auto next = std::upper_bound(starts_.begin(), starts_.end(), index);
  const size_t which = static_cast<size_t>(next - starts_.begin()) - 1;
  return {readers_[which].get(), index - starts_[which]};
}

Sample DialogueDataset::read(int64_t index, bool with_privileged) const {
  const auto [reader, local] = locate(index);
  Sample sample = reader->read(local, with_privileged);
  sample.index = index;
  return sample;
}

int64_t DialogueDataset::sequence_length(int64_t index) const {
  const auto [reader, local] = locate(index);
  return reader->sequence_length(local);
}

}  // namespace pride
