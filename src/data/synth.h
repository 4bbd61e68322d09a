// `pride data synth`: a synthetic empathetic-dialogue data set with a known generator, so that a
// student trained on it measurably learns from the teacher and gains from privileged information.
//
// Each sample has an emotion e and a latent cause c. The context, audio and visual frames carry
// only weak cues of them; the response is drawn from a Markov chain over one band of ids whose
// transitions depend on (c, e); the teacher's top-K are the chain's exact next-token log-probs
// (plus small noise) and its hidden state encodes (e, c); the privileged sources state e and c
// outright. See docs/data-format.md for the vocabulary layout.
#pragma once

#include <cstdint>
#include <string>

namespace pride {

struct SynthOptions {
  int64_t samples = 2000;
  uint64_t seed = 1;
  int64_t vocab_size = 512;
  int64_t topk = 8;
  int64_t teacher_hidden = 64;
  int64_t num_emotions = 6;
  int64_t num_causes = 8;
  int64_t audio_dim = 16;   // 0 = no audio
  int64_t visual_dim = 16;  // 0 = no visual
  // Seeds the generator's fixed tables (the 'world' the teacher knows): a train and an eval set
  // made with different --seed and the same world seed come from one distribution.
  uint64_t world_seed = 0;
  bool half_precision = false;  // float16 features, log-probs and hidden states
  // Context length in tokens, uniform in [min_context, max_context]: the defaults give short
  // dialogues for CPU runs; GPU configs ask for ~1000 to fill model.max_seq_len.
  int64_t min_context = 8;
  int64_t max_context = 24;
  // HEF's plug-in signals (docs/hef.md), each drawn from its own random stream, so that the rest
  // of the file is byte-identical with them or without:
  // the teacher's emotion distribution (/teacher/emotion_logprobs), as a large model helped by a
  // plug-in predicts it: its most likely emotion is the sample's with kTeacherEmotionAccuracy,
  // another one otherwise;
  bool teacher_emotions = false;
  // the privileged source `emotion_cause`: the context's cue words as a plug-in's attributions
  // pick them, with misses and a false positive.
  bool cause_words = false;
};

// The smallest vocabulary that fits the generator's reserved id ranges for these options.
int64_t minimum_vocab_size(const SynthOptions& options);

// Writes the data set to `path` atomically (temporary name, then rename). The same options give
// byte-identical content. Memory is bounded: samples are generated and written in blocks.
void synthesize(const std::string& path, const SynthOptions& options);

}  // namespace pride
