// Implements teach_file.h on the dataset writers of data/table_writer.h.
#include "teacher/teach_file.h"

#include <fmt/format.h>

#include <filesystem>

#include "data/format.h"
#include "data/h5.h"
#include "data/reader.h"
#include "data/table_writer.h"
#include "io/file_io.h"
#include "sharding/shard_tool.h"
#include "util/error.h"

namespace pride::teacher {
namespace {

namespace fs = std::filesystem;

void write_attributes(h5::File& file, const TeachFileHeader& header, const SampleRange& range) {
  file.set_attribute(format::kAttrFormat, std::string(format::kFormatName));
  file.set_attribute(format::kAttrVersion, format::kVersion);
  file.set_attribute(format::kAttrVocabSize, header.vocab_size);
  file.set_attribute(format::kAttrNumEmotions, static_cast<int64_t>(header.emotion_labels.size()));
  file.set_attribute(format::kAttrPadId, header.pad_id);
  file.set_attribute(format::kAttrBosId, header.bos_id);
  file.set_attribute(format::kAttrEosId, header.eos_id);
  std::vector<std::string> modalities;
  if (header.audio_dim > 0) modalities.push_back(format::kAudio);
  if (header.visual_dim > 0) modalities.push_back(format::kVisual);
  file.set_attribute(format::kAttrModalities, format::join_list(modalities));
  file.set_attribute(format::kAttrPrivilegedSources, format::join_list(header.privileged_sources));
  file.set_attribute(format::kAttrTokenizer, header.tokenizer);
  file.set_attribute(format::kAttrEmotionLabels, format::join_list(header.emotion_labels));
  file.set_attribute(format::kAttrTeacher, header.teacher);
  file.set_attribute(kAttrStamp, stamp(header.fingerprint, range));
}

// Writes through `path`.partial (which resumption ignores): `fill` writes the content, then the
// file is made durable and renamed into place.
template <typename Fill>
void write_atomically(const std::string& path, const TeachFileHeader& header,
                      const SampleRange& range, Fill fill) {
  write_file_atomically(
      path,
      [&](const std::string& temporary) {
        h5::File file = h5::File::open(temporary, h5::Mode::kCreate);
        write_attributes(file, header, range);
        fill(file);
      },
      ".partial");
}

// A ragged feature field of `samples` (audio or visual).
void write_features(h5::File& file, const std::string& modality, h5::ElementType type, int64_t dim,
                    const std::vector<TaughtSample>& samples,
                    dialogue::FeatureArray TaughtSample::*member) {
  RaggedWriter<float> writer(file, format::modality_dataset(modality), type, dim);
  for (const TaughtSample& sample : samples) writer.add((sample.*member).values);
  writer.flush();
}

void write_samples(h5::File& file, const TeachFileHeader& header,
                   const std::vector<TaughtSample>& samples) {
  const auto float_type = header.half ? h5::ElementType::kFloat16 : h5::ElementType::kFloat32;
  RaggedWriter<int32_t> context(file, format::kContext, h5::ElementType::kInt32, 0);
  RaggedWriter<int32_t> response(file, format::kResponse, h5::ElementType::kInt32, 0);
  TableWriter<int32_t> emotion(file, format::kEmotion, h5::ElementType::kInt32, 0);
  TableWriter<int32_t> topk_ids(file, format::kTopkIds, h5::ElementType::kInt32, header.topk);
  TableWriter<float> topk_logprobs(file, format::kTopkLogprobs, float_type, header.topk);
  TableWriter<float> hidden(file, format::kTeacherHidden, float_type, header.hidden_size);
  for (const TaughtSample& sample : samples) {
    context.add(sample.context);
    response.add(sample.response);
    emotion.add(sample.emotion);
    topk_ids.add(sample.targets.topk_ids.data(), sample.targets.topk_ids.size());
    topk_logprobs.add(sample.targets.topk_logprobs.data(), sample.targets.topk_logprobs.size());
    hidden.add(sample.targets.hidden.data(), sample.targets.hidden.size());
  }
  context.flush();
  response.flush();
  emotion.flush();
  topk_ids.flush();
  topk_logprobs.flush();
  hidden.flush();
  if (header.hidden_tokens) {
    TableWriter<float> tokens(file, format::kTeacherHiddenTokens, float_type, header.hidden_size);
    for (const TaughtSample& sample : samples) {
      tokens.add(sample.targets.hidden_tokens.data(), sample.targets.hidden_tokens.size());
    }
    tokens.flush();
  }
  if (header.emotion_logprobs) {
    const auto labels = static_cast<int64_t>(header.emotion_labels.size());
    TableWriter<float> table(file, format::kTeacherEmotionLogprobs, float_type, labels);
    for (const TaughtSample& sample : samples) table.add(sample.emotion_logprobs.data(), labels);
    table.flush();
  }
  for (const std::string& source : header.privileged_sources) {
    RaggedWriter<int32_t> writer(file, format::privileged_dataset(source), h5::ElementType::kInt32,
                                 0);
    for (const TaughtSample& sample : samples) {
      const auto found = sample.privileged.find(source);
      writer.add(found == sample.privileged.end() ? std::vector<int32_t>{} : found->second);
    }
    writer.flush();
  }
  if (header.audio_dim > 0) {
    write_features(file, format::kAudio, float_type, header.audio_dim, samples,
                   &TaughtSample::audio);
  }
  if (header.visual_dim > 0) {
    write_features(file, format::kVisual, float_type, header.visual_dim, samples,
                   &TaughtSample::visual);
  }
}

}  // namespace

std::string stamp(const std::string& fingerprint, const SampleRange& range) {
  return fmt::format("{}@{}-{}", fingerprint, range.begin, range.end);
}

void write_part(const std::string& path, const TeachFileHeader& header, const SampleRange& range,
                const std::vector<TaughtSample>& samples) {
  write_atomically(path, header, range,
                   [&](h5::File& file) { write_samples(file, header, samples); });
}

void merge_parts(const std::vector<std::string>& parts, const TeachFileHeader& header,
                 const SampleRange& range, const std::string& path) {
  write_atomically(path, header, range, [&](h5::File& file) {
    for (const std::string& part : parts) {
      const h5::File in = h5::File::open(part, h5::Mode::kRead);
      const DatasetInfo info = read_info(in);
      append_samples(in, info, 0, info.num_samples, file);
    }
  });
}

std::string stamp_of(const std::string& path) {
  try {
    const h5::File file = h5::File::open(path, h5::Mode::kRead);
    return file.has_attribute(kAttrStamp) ? file.string_attribute(kAttrStamp) : "";
  } catch (const Error&) {
    return "";
  }
}

}  // namespace pride::teacher
