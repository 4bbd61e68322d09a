// inspect_file(): validates every invariant of the format by streaming each dataset in blocks of
// rows, mapping rows back to samples through the offsets so errors can name the sample.
#include "data/inspect.h"

#include <cmath>
#include <optional>
#include <set>

#include "data/format.h"
#include "data/h5.h"
#include "data/reader.h"
#include "util/error.h"

namespace pride {
namespace {

constexpr int64_t kBlockValues = 1 << 20;  // values per streamed read (4-8 MiB)
constexpr float kLogprobTolerance = 1e-3f;

// Maps non-decreasing flat row numbers to the sample that owns them, reading offsets in blocks.
class SampleCursor {
 public:
  SampleCursor(const h5::Dataset& offsets, int64_t samples)
      : offsets_(offsets), samples_(samples) {}

  int64_t sample_of(int64_t row) {
    while (sample_ < samples_ && offset(sample_ + 1) <= row) ++sample_;
    return sample_;
  }

 private:
  int64_t offset(int64_t i) {
    if (i < first_ || i >= first_ + static_cast<int64_t>(block_.size())) {
      first_ = i;
      block_ = offsets_.read_rows<int64_t>(i, std::min(kBlockValues, samples_ + 1 - i));
    }
    return block_[i - first_];
  }

  const h5::Dataset& offsets_;
  int64_t samples_, sample_ = 0, first_ = 0;
  std::vector<int64_t> block_;
};

// Calls visit(sample, values, cols) for every row of `data`, in blocks; `offsets` (may be null
// for per-sample tables) maps rows to samples.
template <typename T, typename Visit>
void scan_rows(const h5::Dataset& data, const h5::Dataset* offsets, int64_t samples, Visit visit) {
  const int64_t cols = data.cols(), rows = data.rows();
  const int64_t block_rows = std::max<int64_t>(1, kBlockValues / std::max<int64_t>(1, cols));
  std::optional<SampleCursor> cursor;
  if (offsets) cursor.emplace(*offsets, samples);
  for (int64_t start = 0; start < rows; start += block_rows) {
    const int64_t count = std::min(block_rows, rows - start);
    const std::vector<T> values = data.read_rows<T>(start, count);
    for (int64_t r = 0; r < count; ++r) {
      const int64_t sample = cursor ? cursor->sample_of(start + r) : start + r;
      visit(sample, &values[r * cols], cols);
    }
  }
}

class Inspector {
 public:
  explicit Inspector(const std::string& path)
      : file_(h5::File::open(path, h5::Mode::kRead)), info_(read_info(file_)) {}

  InspectReport run() {
    check_per_sample_tables();
    for (const RaggedField& field : ragged_fields(file_, info_)) check_ragged(field);
    InspectReport report;
    report.path = file_.path();
    report.info = info_;
    report.context_tokens = flat_end(format::offsets_of(format::kContext));
    report.response_tokens = flat_end(format::offsets_of(format::kResponse));
    const double n = std::max<int64_t>(1, info_.num_samples);
    report.mean_context_len = report.context_tokens / n;
    report.mean_response_len = report.response_tokens / n;
    report.half_precision =
        file_.dataset(format::kTopkLogprobs).element_type() == h5::ElementType::kFloat16;
    return report;
  }

 private:
  [[noreturn]] void fail_in(const h5::Dataset& data, const std::string& what) const {
    fail("{}: {}: {}", file_.path(), data.name(), what);
  }

  void expect_shape(const h5::Dataset& data, int64_t rows, int64_t cols, const char* why) const {
    const std::vector<int64_t> shape = data.shape();
    if (shape[0] != rows)
      fail_in(data, fmt::format("has {} rows, expected {} ({})", shape[0], rows, why));
    const int64_t width = shape.size() == 2 ? shape[1] : 0;
    if (width != cols) {
      fail_in(data, fmt::format("has width {}, expected {}",
                                width == 0 ? "none (1-D)" : std::to_string(width),
                                cols == 0 ? "1-D" : std::to_string(cols)));
    }
  }

  void check_per_sample_tables() {
    const h5::Dataset emotion = file_.dataset(format::kEmotion);
    expect_shape(emotion, info_.num_samples, 0, "one per sample");
    if (!emotion.is_integer()) fail_in(emotion, "must hold integers");
    scan_rows<int64_t>(
        emotion, nullptr, info_.num_samples, [&](int64_t sample, const int64_t* v, int64_t) {
          if (*v < 0 || *v >= info_.num_emotions) {
            fail_in(emotion, fmt::format("emotion {} of sample {} is outside [0, {})", *v, sample,
                                         info_.num_emotions));
          }
        });
    const h5::Dataset hidden = file_.dataset(format::kTeacherHidden);
    expect_shape(hidden, info_.num_samples, info_.teacher_hidden, "one per sample");
    check_finite(hidden, nullptr);
    if (info_.teacher_emotion) check_teacher_emotions();
  }

  // Offsets: 1-D, N+1 entries, start at 0, non-decreasing, end at the flat dataset's length.
  void check_teacher_emotions() {
    const h5::Dataset emotions = file_.dataset(format::kTeacherEmotionLogprobs);
    expect_shape(emotions, info_.num_samples, info_.num_emotions, "one per sample");
    if (!emotions.is_float()) fail_in(emotions, "must hold floating-point values");
    scan_rows<float>(emotions, nullptr, info_.num_samples,
                     [&](int64_t sample, const float* v, int64_t cols) {
                       const std::string problem = format::emotion_row_problem(v, cols);
                       if (!problem.empty())
                         fail_in(emotions, fmt::format("sample {} {}", sample, problem));
                     });
  }

  void check_offsets(const h5::Dataset& offsets, const h5::Dataset& data) {
    if (!checked_offsets_.insert(offsets.name()).second) return;
    expect_shape(offsets, info_.num_samples + 1, 0, "number of samples + 1");
    if (!offsets.is_integer()) fail_in(offsets, "must hold integers");
    const int64_t flat_rows = data.rows();
    int64_t previous = 0;
    scan_rows<int64_t>(
        offsets, nullptr, info_.num_samples + 1, [&](int64_t i, const int64_t* v, int64_t) {
          if (i == 0 && *v != 0) fail_in(offsets, fmt::format("must start at 0, found {}", *v));
          if (*v < previous) {
            fail_in(offsets,
                    fmt::format("decreases at sample {} ({} after {})", i - 1, *v, previous));
          }
          if (*v > flat_rows) {
            fail_in(offsets, fmt::format("offset {} of sample {} is past the end of {} ({} rows)",
                                         *v, std::max<int64_t>(0, i - 1), data.name(), flat_rows));
          }
          previous = *v;
        });
    if (previous != flat_rows) {
      fail_in(offsets,
              fmt::format("ends at {} but {} has {} rows", previous, data.name(), flat_rows));
    }
  }

  int64_t flat_end(const std::string& offsets_name) const {
    const h5::Dataset offsets = file_.dataset(offsets_name);
    return offsets.read_rows<int64_t>(info_.num_samples, 1).at(0);
  }

  void check_ragged(const RaggedField& field) {
    const h5::Dataset data = file_.dataset(field.data);
    const h5::Dataset offsets = file_.dataset(field.offsets);
    check_offsets(offsets, data);
    const int64_t width = expected_width(field.data);
    expect_shape(data, flat_end(field.offsets), width, (field.offsets + "[N]").c_str());
    if (field.data == format::kTopkLogprobs) return check_logprobs(data, offsets);
    if (width == 0 || field.data == format::kTopkIds) return check_ids(data, offsets);
    check_finite(data, &offsets);
  }

  int64_t expected_width(const std::string& name) const {
    if (name == format::kTopkIds || name == format::kTopkLogprobs) return info_.topk;
    if (name == format::kTeacherHiddenTokens) return info_.teacher_hidden;
    if (name == format::modality_dataset(format::kAudio)) return info_.audio_dim;
    if (name == format::modality_dataset(format::kVisual)) return info_.visual_dim;
    return 0;  // token lists
  }

  void check_ids(const h5::Dataset& data, const h5::Dataset& offsets) {
    if (!data.is_integer()) fail_in(data, "must hold integer token ids");
    scan_rows<int64_t>(
        data, &offsets, info_.num_samples, [&](int64_t sample, const int64_t* v, int64_t cols) {
          for (int64_t k = 0; k < cols; ++k) {
            if (v[k] < 0 || v[k] >= info_.vocab_size) {
              fail_in(data, fmt::format("token id {} of sample {} is outside [0, {})", v[k], sample,
                                        info_.vocab_size));
            }
          }
        });
  }

  void check_finite(const h5::Dataset& data, const h5::Dataset* offsets) {
    if (!data.is_float()) fail_in(data, "must hold floating-point values");
    scan_rows<float>(
        data, offsets, info_.num_samples, [&](int64_t sample, const float* v, int64_t cols) {
          for (int64_t k = 0; k < cols; ++k) {
            if (!std::isfinite(v[k])) {
              fail_in(data, fmt::format("non-finite value {} in sample {}", v[k], sample));
            }
          }
        });
  }

  // Finite, <= 0 (log-probabilities), sorted descending, and of total probability <= 1 per row.
  void check_logprobs(const h5::Dataset& data, const h5::Dataset& offsets) {
    if (!data.is_float()) fail_in(data, "must hold floating-point values");
    scan_rows<float>(
        data, &offsets, info_.num_samples, [&](int64_t sample, const float* v, int64_t cols) {
          for (int64_t k = 0; k < cols; ++k) {
            if (!std::isfinite(v[k]) || v[k] > kLogprobTolerance) {
              fail_in(data, fmt::format("log-prob {} of sample {} is not a finite value <= 0", v[k],
                                        sample));
            }
            if (k > 0 && v[k] > v[k - 1] + kLogprobTolerance) {
              fail_in(data, fmt::format("a row of sample {} is not sorted descending", sample));
            }
          }
          const double mass = format::topk_mass(v, cols);
          if (mass > 1 + format::kTopkMassTolerance) {
            fail_in(data,
                    fmt::format("a row of sample {} has top-K probabilities summing to {:.6f} "
                                "(> 1)",
                                sample, mass));
          }
        });
  }

  h5::File file_;
  DatasetInfo info_;
  std::set<std::string> checked_offsets_;
};

std::string modalities_text(const DatasetInfo& info) {
  std::string text;
  if (info.audio_dim > 0) text += fmt::format("audio (dim {})", info.audio_dim);
  if (info.visual_dim > 0)
    text += fmt::format("{}visual (dim {})", text.empty() ? "" : ", ", info.visual_dim);
  return text.empty() ? "none" : text;
}

}  // namespace

std::string InspectReport::summary() const {
  return fmt::format(
      "file: {}\nformat: {} v{} (valid)\nsamples: {}\nvocab_size: {}  emotions: {}  "
      "pad/bos/eos: {}/{}/{}\ncontext tokens: {} (mean {:.2f} per sample)\n"
      "response tokens: {} (mean {:.2f} per sample)\nteacher: top-K {}, hidden {}, {}{}\n"
      "privileged sources: {}\nmodalities: {}\n",
      path, format::kFormatName, format::kVersion, info.num_samples, info.vocab_size,
      info.num_emotions, info.pad_id, info.bos_id, info.eos_id, context_tokens, mean_context_len,
      response_tokens, mean_response_len, info.topk, info.teacher_hidden,
      half_precision ? "float16" : "float32", info.teacher_emotion ? ", emotion distributions" : "",
      format::join_list(info.privileged_sources), modalities_text(info));
}

InspectReport inspect_file(const std::string& path) {
  return Inspector(path).run();
}

}  // namespace pride
