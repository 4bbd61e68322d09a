// Random-access readers of the dialogue format (docs/data-format.md): one file (DialogueReader)
// or several files / a shard directory presented as one index space (DialogueDataset).
// Reads touch only the requested sample's rows (hyperslabs), so memory does not grow with the
// file. All HDF5 access is serialized by h5::lock(), so readers may be used from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/sample.h"

namespace pride {

namespace h5 {
class File;
}

// Attributes and shapes of a file; checks the format name and version and that every required
// attribute and dataset is present with the right type.
DatasetInfo read_info(const std::string& path);
DatasetInfo read_info(const h5::File& file);

// A flat dataset whose rows for sample i are offsets[i] .. offsets[i+1].
struct RaggedField {
  std::string data;
  std::string offsets;
};
// Every ragged field of a file: context, response, privileged sources, modalities, and the
// teacher's per-response-token datasets (keyed by the response offsets).
std::vector<RaggedField> ragged_fields(const h5::File& file, const DatasetInfo& info);

// One file of samples, of either training format: the dialogue format (DialogueReader) or the
// preference format (PreferenceReader, data/preference.h).
class SampleFile {
 public:
  virtual ~SampleFile() = default;
  virtual const DatasetInfo& info() const = 0;
  virtual const std::string& path() const = 0;
  int64_t size() const { return info().num_samples; }
  // with_privileged = false never touches /samples/privileged (evaluation must not see PI).
  virtual Sample read(int64_t index, bool with_privileged) const = 0;
  // The tokens of the longest row the sample makes (context + response).
  virtual int64_t sequence_length(int64_t index) const = 0;
};

// The reader of `path`'s format (its root attribute "format").
std::shared_ptr<const SampleFile> open_sample_file(const std::string& path);

class DialogueReader : public SampleFile {
 public:
  explicit DialogueReader(const std::string& path);
  ~DialogueReader() override;
  DialogueReader(DialogueReader&&) noexcept;
  DialogueReader& operator=(DialogueReader&&) noexcept;

  const DatasetInfo& info() const override;
  const std::string& path() const override;
  Sample read(int64_t index, bool with_privileged) const override;
  int64_t sequence_length(int64_t index) const override;  // context + response tokens

  // Number of privileged datasets read so far by any reader in this process (tests use it to
  // prove that evaluation never reads PI).
  static int64_t privileged_reads();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class DialogueDataset {
 public:
  // Each path is a file or a shard directory written by `pride shard` (its manifest.json), of
  // the dialogue or the preference format. All files must agree on format, vocabulary, K, H,
  // emotions, sources and modalities.
  static DialogueDataset open(const std::vector<std::string>& paths);

  const DatasetInfo& info() const { return info_; }  // num_samples is the total
  int64_t size() const { return info_.num_samples; }
  const std::vector<std::string>& files() const { return files_; }

  // Sample::index is the global index.
  Sample read(int64_t index, bool with_privileged) const;
  int64_t sequence_length(int64_t index) const;

 private:
  // The reader holding global `index`, and the index inside it.
  std::pair<const SampleFile*, int64_t> locate(int64_t index) const;

  std::vector<std::shared_ptr<const SampleFile>> readers_;
  std::vector<int64_t> starts_;  // global index of each reader's first sample
  std::vector<std::string> files_;
  DatasetInfo info_;
};

}  // namespace pride
