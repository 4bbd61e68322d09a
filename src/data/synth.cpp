// The synthetic data generator (see synth.h and docs/data-format.md): fixed random tables from the
// seed, then samples generated and written block by block into extendible datasets.
#include "data/synth.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "data/format.h"
#include "data/h5.h"
#include "data/table_writer.h"
#include "io/file_io.h"
#include "util/error.h"

namespace pride {
namespace {

constexpr int64_t kCuesPerClass = 4;  // cue words per emotion and per cause
constexpr int64_t kBandWidth = 48;    // response ids, one band shared by every cause
constexpr int64_t kMinFiller = 16;
constexpr int64_t kAlternatives = 4;  // emotion-flavoured next tokens per (e, c, prev)
constexpr int64_t kMinResponse = 6, kMaxResponse = 16;  // content tokens, eos follows
constexpr int64_t kMinAudioFrames = 4, kMaxAudioFrames = 12;
constexpr int64_t kMinVisualFrames = 2, kMaxVisualFrames = 6;
constexpr int64_t kFutureSummaryLength = 4;
// Cues are weak on purpose: with strong ones every student recognises the emotion and the cause
// at once, and nothing is left for the teacher or the PI to teach (docs/results.md).
constexpr double kEmotionCueRate = 0.10, kCauseCueRate = 0.08;
constexpr double kFrameMeanScale = 0.15;  // audio/visual frame = scale * emotion mean + N(0, 1)
constexpr double kPreferredMass = 0.55, kAlternativeMass = 0.25, kBandMass = 0.20;
constexpr double kTeacherNoise = 0.1;  // std of the noise on the teacher's log-probs
constexpr double kHiddenNoise = 0.1;   // relative to the unit-norm emotion/cause vectors
constexpr float kPaddingLogprob = -30.0f;
// The plug-in signals (SynthOptions::teacher_emotions, cause_words).
constexpr double kTeacherEmotionAccuracy = 0.8;  // the teacher's top emotion is the sample's
constexpr double kTeacherEmotionMargin = 2.0;    // logit of its top emotion over the others
constexpr double kTeacherEmotionNoise = 0.5;     // std of the other emotions' logits
constexpr double kCauseWordRecall = 0.8;         // a cue word of the context is picked
constexpr int64_t kMaxCauseWords = 5;            // top-m words, a false positive included
constexpr uint64_t kTeacherEmotionStream = 0xe3071011ULL, kCauseWordStream = 0xca05e3dULL;
constexpr int64_t kBlockSamples = 1024;
constexpr int32_t kPad = 0, kBos = 1, kEos = 2;

// Bit-exact randomness on every platform: mt19937_64 is fully specified, the std::
// distributions are not, so the few distributions needed are written here.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }  // [0, 1)
  int64_t below(int64_t n) { return static_cast<int64_t>(uniform() * static_cast<double>(n)); }
  int64_t between(int64_t low, int64_t high) { return low + below(high - low + 1); }
  double normal() {                     // Box-Muller
    const double u1 = 1.0 - uniform();  // (0, 1]
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * uniform());
  }

 private:
  std::mt19937_64 engine_;
};

// Reserved id ranges of the vocabulary, in this order after pad/bos/eos.
struct Vocabulary {
  int64_t emotion_words, cause_words, emotion_annotations, cause_annotations;
  int64_t emotion_cues, cause_cues, band, filler, filler_count;

  Vocabulary(const SynthOptions& o) {
    emotion_words = 3;
    cause_words = emotion_words + o.num_emotions;
    emotion_annotations = cause_words + o.num_causes;
    cause_annotations = emotion_annotations + o.num_emotions;
    emotion_cues = cause_annotations + o.num_causes;
    cause_cues = emotion_cues + o.num_emotions * kCuesPerClass;
    band = cause_cues + o.num_causes * kCuesPerClass;
    filler = band + kBandWidth;
    filler_count = o.vocab_size - filler;
  }
  int32_t emotion_cue(int64_t e, Rng& rng) const {
    return static_cast<int32_t>(emotion_cues + e * kCuesPerClass + rng.below(kCuesPerClass));
  }
  int32_t cause_cue(int64_t c, Rng& rng) const {
    return static_cast<int32_t>(cause_cues + c * kCuesPerClass + rng.below(kCuesPerClass));
  }
  int32_t filler_word(Rng& rng) const {
    return static_cast<int32_t>(filler + rng.below(filler_count));
  }
  // One band for every cause, so that a response shows its cause only in which token follows
  // which: knowing the cause in advance (the PI) then helps at every position, not just the first.
  int32_t band_token(int64_t offset) const { return static_cast<int32_t>(band + offset); }
};

std::vector<float> random_vector(Rng& rng, int64_t size, double scale) {
  std::vector<float> v(static_cast<size_t>(size));
  for (float& x : v) x = static_cast<float>(rng.normal() * scale);
  return v;
}

std::vector<std::vector<float>> random_vectors(Rng& rng, int64_t count, int64_t size,
                                               double scale) {
  std::vector<std::vector<float>> vectors;
  for (int64_t i = 0; i < count; ++i) vectors.push_back(random_vector(rng, size, scale));
  return vectors;
}

// The fixed tables of the generator; they depend on the world seed only, never on the sample
// seed or count.
struct Tables {
  // Indexed by cause, then "previous token slot": 0 = bos, 1 + k = band token k.
  std::vector<std::vector<int64_t>> preferred;
  // alternatives[(e * causes + c) * (kBandWidth + 1) + slot] = kAlternatives band offsets.
  std::vector<std::vector<int64_t>> alternatives;
  std::vector<std::vector<float>> audio_means, visual_means;  // per emotion
  std::vector<std::vector<float>> emotion_hidden, cause_hidden;

  Tables(const SynthOptions& o, Rng& rng) {
    for (int64_t c = 0; c < o.num_causes; ++c) {
      preferred.emplace_back();
      for (int64_t slot = 0; slot <= kBandWidth; ++slot)
        preferred[c].push_back(rng.below(kBandWidth));
    }
    for (int64_t i = 0; i < o.num_emotions * o.num_causes * (kBandWidth + 1); ++i) {
      alternatives.emplace_back();
      for (int64_t a = 0; a < kAlternatives; ++a) alternatives[i].push_back(rng.below(kBandWidth));
    }
    audio_means = random_vectors(rng, o.num_emotions, o.audio_dim, 1.0);
    visual_means = random_vectors(rng, o.num_emotions, o.visual_dim, 1.0);
    const double unit = 1.0 / std::sqrt(static_cast<double>(o.teacher_hidden));
    emotion_hidden = random_vectors(rng, o.num_emotions, o.teacher_hidden, unit);
    cause_hidden = random_vectors(rng, o.num_causes, o.teacher_hidden, unit);
  }
};

// The response generator p(next | prev, c, e) and its stopping rule.
class ResponseModel {
 public:
  ResponseModel(const SynthOptions& options, const Vocabulary& vocab, const Tables& tables)
      : options_(options), vocab_(vocab), tables_(tables) {}

  // Probability of each band offset after `slot`, for cause c and emotion e.
  std::vector<double> band_distribution(int64_t e, int64_t c, int64_t slot) const {
    std::vector<double> p(kBandWidth, kBandMass / kBandWidth);
    p[tables_.preferred[c][slot]] += kPreferredMass;
    for (int64_t offset : alternatives(e, c, slot)) p[offset] += kAlternativeMass / kAlternatives;
    return p;
  }

  // P(eos | j content tokens so far) when the length is uniform in [kMinResponse, kMaxResponse].
  static double stop_probability(int64_t j) {
    return j < kMinResponse ? 0.0 : 1.0 / static_cast<double>(kMaxResponse - j + 1);
  }

  int64_t sample_offset(int64_t e, int64_t c, int64_t slot, Rng& rng) const {
    const std::vector<double> p = band_distribution(e, c, slot);
    double u = rng.uniform();
    for (int64_t k = 0; k < kBandWidth; ++k) {
      if ((u -= p[k]) < 0) return k;
    }
    return kBandWidth - 1;
  }

  // The teacher's row for predicting content position j after `slot`: the top-K of the exact
  // next-token distribution (band and eos), noised, sorted descending, padded to K.
  void teacher_row(int64_t e, int64_t c, int64_t slot, int64_t j, Rng& rng, int32_t* ids,
                   float* logprobs) const {
    const double stop = stop_probability(j);
    std::vector<std::pair<double, int32_t>> candidates;
    if (stop < 1.0) {
      const std::vector<double> p = band_distribution(e, c, slot);
      for (int64_t k = 0; k < kBandWidth; ++k) {
        candidates.emplace_back(std::log(p[k] * (1.0 - stop)), vocab_.band_token(k));
      }
    }
    if (stop > 0.0) candidates.emplace_back(std::log(stop), kEos);
    double mass = 0;
    for (auto& candidate : candidates) {
      candidate.first = std::min(0.0, candidate.first + kTeacherNoise * rng.normal());
      mass += std::exp(candidate.first);
    }
    // Noise can lift the total above 1; a teacher's top-K never holds more than all the mass.
    if (mass > 1) {
      for (auto& candidate : candidates) candidate.first -= std::log(mass);
    }
    std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    pad_candidates(candidates);
    for (int64_t k = 0; k < options_.topk; ++k) {
      ids[k] = candidates[k].second;
      logprobs[k] = static_cast<float>(candidates[k].first);
    }
  }

 private:
  const std::vector<int64_t>& alternatives(int64_t e, int64_t c, int64_t slot) const {
    return tables_.alternatives[(e * options_.num_causes + c) * (kBandWidth + 1) + slot];
  }

  // Fewer ids with mass than K: fill with distinct filler ids at a negligible log-prob.
  void pad_candidates(std::vector<std::pair<double, int32_t>>& candidates) const {
    for (int64_t id = vocab_.filler; static_cast<int64_t>(candidates.size()) < options_.topk;
         ++id) {
      candidates.emplace_back(kPaddingLogprob, static_cast<int32_t>(id));
    }
  }

  const SynthOptions& options_;
  const Vocabulary& vocab_;
  const Tables& tables_;
};

const std::vector<std::string> kSources = {"reasoning", "annotation", "future_summary"};
constexpr char kCauseSource[] = "emotion_cause";

std::vector<std::string> privileged_sources(const SynthOptions& options) {
  std::vector<std::string> sources = kSources;
  if (options.cause_words) sources.push_back(kCauseSource);
  return sources;
}

// Generates samples one at a time and writes them through the dataset writers.
class Synthesizer {
 public:
  Synthesizer(h5::File& file, const SynthOptions& options)
      : options_(options),
        vocab_(options),
        table_rng_(options.world_seed ^ 0x5eed7ab1e5ULL),
        tables_(options, table_rng_),
        model_(options, vocab_, tables_),
        rng_(options.seed),
        float_type_(options.half_precision ? h5::ElementType::kFloat16 : h5::ElementType::kFloat32),
        context_(file, format::kContext, h5::ElementType::kInt32, 0),
        response_(file, format::kResponse, h5::ElementType::kInt32, 0),
        emotion_(file, format::kEmotion, h5::ElementType::kInt32, 0),
        topk_ids_(file, format::kTopkIds, h5::ElementType::kInt32, options.topk),
        topk_logprobs_(file, format::kTopkLogprobs, float_type_, options.topk),
        hidden_(file, format::kTeacherHidden, float_type_, options.teacher_hidden),
        teacher_emotion_rng_(options.seed ^ kTeacherEmotionStream),
        cause_rng_(options.seed ^ kCauseWordStream) {
    for (const std::string& source : privileged_sources(options)) {
      privileged_.emplace_back(file, format::privileged_dataset(source), h5::ElementType::kInt32,
                               0);
    }
    if (options.audio_dim > 0) {
      audio_.emplace_back(file, format::modality_dataset(format::kAudio), float_type_,
                          options.audio_dim);
    }
    if (options.visual_dim > 0) {
      visual_.emplace_back(file, format::modality_dataset(format::kVisual), float_type_,
                           options.visual_dim);
    }
    if (options.teacher_emotions) {
      teacher_emotions_.emplace_back(file, format::kTeacherEmotionLogprobs, float_type_,
                                     options.num_emotions);
    }
  }

  void run() {
    for (int64_t i = 0; i < options_.samples; ++i) {
      add_sample();
      if ((i + 1) % kBlockSamples == 0 || i + 1 == options_.samples) flush();
    }
    if (options_.samples == 0) flush();
  }

 private:
  void add_sample() {
    const int64_t e = rng_.below(options_.num_emotions);
    const int64_t c = rng_.below(options_.num_causes);
    emotion_.add(static_cast<int32_t>(e));
    const std::vector<int32_t> context = make_context(e, c);
    context_.add(context);
    const std::vector<int32_t> response = make_response(e, c);
    response_.add(response);
    add_hidden(e, c);
    add_privileged(e, c, response);
    if (options_.cause_words) privileged_[kSources.size()].add(cause_words(context));
    if (options_.teacher_emotions) {
      const std::vector<float> row = teacher_emotion(e);
      teacher_emotions_.front().add(row.data(), options_.num_emotions);
    }
    for (auto& audio : audio_) {
      audio.add(make_frames(tables_.audio_means[e], kMinAudioFrames, kMaxAudioFrames));
    }
    for (auto& visual : visual_) {
      visual.add(make_frames(tables_.visual_means[e], kMinVisualFrames, kMaxVisualFrames));
    }
  }

  std::vector<int32_t> make_context(int64_t e, int64_t c) {
    std::vector<int32_t> context(
        static_cast<size_t>(rng_.between(options_.min_context, options_.max_context)));
    for (int32_t& token : context) {
      const double u = rng_.uniform();
      token = u < kEmotionCueRate                   ? vocab_.emotion_cue(e, rng_)
              : u < kEmotionCueRate + kCauseCueRate ? vocab_.cause_cue(c, rng_)
                                                    : vocab_.filler_word(rng_);
    }
    return context;
  }

  // Content tokens then eos; writes one teacher row per response token on the way.
  std::vector<int32_t> make_response(int64_t e, int64_t c) {
    const int64_t length = rng_.between(kMinResponse, kMaxResponse);
    std::vector<int32_t> response;
    std::vector<int32_t> ids(options_.topk);
    std::vector<float> logprobs(options_.topk);
    int64_t slot = 0;  // bos
    for (int64_t j = 0; j <= length; ++j) {
      model_.teacher_row(e, c, slot, j, rng_, ids.data(), logprobs.data());
      topk_ids_.add(ids.data(), options_.topk);
      topk_logprobs_.add(logprobs.data(), options_.topk);
      if (j == length) break;
      const int64_t offset = model_.sample_offset(e, c, slot, rng_);
      response.push_back(vocab_.band_token(offset));
      slot = 1 + offset;
    }
    response.push_back(kEos);
    return response;
  }

  void add_hidden(int64_t e, int64_t c) {
    const double noise = kHiddenNoise / std::sqrt(static_cast<double>(options_.teacher_hidden));
    for (int64_t h = 0; h < options_.teacher_hidden; ++h) {
      hidden_.add(static_cast<float>(tables_.emotion_hidden[e][h] + tables_.cause_hidden[c][h] +
                                     noise * rng_.normal()));
    }
  }

  void add_privileged(int64_t e, int64_t c, const std::vector<int32_t>& response) {
    // reasoning: states the feeling (with cues), then the situation (with cues).
    privileged_[0].add({static_cast<int32_t>(vocab_.emotion_words + e), vocab_.emotion_cue(e, rng_),
                        vocab_.emotion_cue(e, rng_), static_cast<int32_t>(vocab_.cause_words + c),
                        vocab_.cause_cue(c, rng_), vocab_.cause_cue(c, rng_)});
    privileged_[1].add({static_cast<int32_t>(vocab_.emotion_annotations + e),
                        static_cast<int32_t>(vocab_.cause_annotations + c),
                        vocab_.filler_word(rng_), vocab_.filler_word(rng_)});
    privileged_[2].add(
        std::vector<int32_t>(response.begin(), response.begin() + kFutureSummaryLength));
  }

  // A large model's emotion distribution with a plug-in's help: right with kTeacherEmotionAccuracy.
  std::vector<float> teacher_emotion(int64_t e) {
    Rng& rng = teacher_emotion_rng_;
    const int64_t emotions = options_.num_emotions;
    int64_t top = e;
    if (emotions > 1 && rng.uniform() >= kTeacherEmotionAccuracy) {
      top = (e + 1 + rng.below(emotions - 1)) % emotions;  // any other emotion
    }
    std::vector<double> logits(emotions);
    for (int64_t k = 0; k < emotions; ++k) logits[k] = kTeacherEmotionNoise * rng.normal();
    logits[top] += kTeacherEmotionMargin;
    double total = 0;
    for (double logit : logits) total += std::exp(logit);
    std::vector<float> logprobs;
    for (double logit : logits) logprobs.push_back(static_cast<float>(logit - std::log(total)));
    return logprobs;
  }

  // The words a plug-in's attributions pick from the context: its cue words (each kept with
  // kCauseWordRecall, in context order), then one filler word as a false positive.
  std::vector<int32_t> cause_words(const std::vector<int32_t>& context) {
    Rng& rng = cause_rng_;
    std::vector<int32_t> words;
    for (const int32_t token : context) {
      const bool cue = token >= vocab_.emotion_cues && token < vocab_.band;
      if (cue && rng.uniform() < kCauseWordRecall &&
          static_cast<int64_t>(words.size()) < kMaxCauseWords - 1) {
        words.push_back(token);
      }
    }
    words.push_back(context[rng.below(static_cast<int64_t>(context.size()))]);
    return words;
  }

  std::vector<float> make_frames(const std::vector<float>& mean, int64_t min_frames,
                                 int64_t max_frames) {
    const int64_t frames = rng_.between(min_frames, max_frames);
    std::vector<float> values;
    for (int64_t f = 0; f < frames; ++f) {
      for (float m : mean)
        values.push_back(static_cast<float>(kFrameMeanScale * m + rng_.normal()));
    }
    return values;
  }

  void flush() {
    context_.flush();
    response_.flush();
    emotion_.flush();
    topk_ids_.flush();
    topk_logprobs_.flush();
    hidden_.flush();
    for (auto& source : privileged_) source.flush();
    for (auto& audio : audio_) audio.flush();
    for (auto& visual : visual_) visual.flush();
    for (auto& table : teacher_emotions_) table.flush();
  }

  const SynthOptions& options_;
  Vocabulary vocab_;
  Rng table_rng_;
  Tables tables_;
  ResponseModel model_;
  Rng rng_;
  h5::ElementType float_type_;
  RaggedWriter<int32_t> context_, response_;
  TableWriter<int32_t> emotion_;
  TableWriter<int32_t> topk_ids_;
  TableWriter<float> topk_logprobs_, hidden_;
  std::vector<RaggedWriter<int32_t>> privileged_;
  std::vector<RaggedWriter<float>> audio_, visual_;   // zero or one each
  std::vector<TableWriter<float>> teacher_emotions_;  // zero or one
  Rng teacher_emotion_rng_, cause_rng_;               // the plug-in signals' own streams
};

void check_options(const SynthOptions& o) {
  auto positive = [](const char* name, int64_t value) {
    if (value <= 0) fail("synth: {} must be positive, got {}", name, value);
  };
  positive("num_emotions", o.num_emotions);
  positive("num_causes", o.num_causes);
  positive("topk", o.topk);
  positive("teacher_hidden", o.teacher_hidden);
  if (o.samples < 0) fail("synth: samples must be >= 0, got {}", o.samples);
  if (o.audio_dim < 0 || o.visual_dim < 0) fail("synth: modality dims must be >= 0");
  if (o.min_context < 1 || o.max_context < o.min_context) {
    fail("synth: context lengths need 1 <= min_context <= max_context, got {} and {}",
         o.min_context, o.max_context);
  }
  if (o.vocab_size < minimum_vocab_size(o)) {
    fail("synth: vocab_size {} is too small for {} emotions and {} causes (need >= {})",
         o.vocab_size, o.num_emotions, o.num_causes, minimum_vocab_size(o));
  }
  // Rows with less mass than K ids are padded with distinct filler ids.
  const int64_t fillers = Vocabulary(o).filler_count;
  if (o.topk > fillers) fail("synth: topk {} exceeds the {} filler ids", o.topk, fillers);
}

void write_attributes(h5::File& file, const SynthOptions& o) {
  file.set_attribute(format::kAttrFormat, std::string(format::kFormatName));
  file.set_attribute(format::kAttrVersion, format::kVersion);
  file.set_attribute(format::kAttrVocabSize, o.vocab_size);
  file.set_attribute(format::kAttrNumEmotions, o.num_emotions);
  file.set_attribute(format::kAttrPadId, int64_t{kPad});
  file.set_attribute(format::kAttrBosId, int64_t{kBos});
  file.set_attribute(format::kAttrEosId, int64_t{kEos});
  std::vector<std::string> modalities;
  if (o.audio_dim > 0) modalities.push_back(format::kAudio);
  if (o.visual_dim > 0) modalities.push_back(format::kVisual);
  file.set_attribute(format::kAttrModalities, format::join_list(modalities));
  file.set_attribute(format::kAttrPrivilegedSources, format::join_list(privileged_sources(o)));
}

}  // namespace

int64_t minimum_vocab_size(const SynthOptions& options) {
  SynthOptions empty = options;
  empty.vocab_size = 0;
  return Vocabulary(empty).filler + kMinFiller;
}

void synthesize(const std::string& path, const SynthOptions& options) {
  check_options(options);
  write_file_atomically(path, [&](const std::string& temporary) {
    h5::File file = h5::File::open(temporary, h5::Mode::kCreate);
    write_attributes(file, options);
    Synthesizer(file, options).run();
  });
}

}  // namespace pride
