// Typed run configuration: YAML files merged in order, then `--set dotted.key=value` overrides.
// Every key is registered once (config.cpp) with its type and valid range, so that loading,
// validation and writing the effective config all come from one table. An unknown key, a value of
// the wrong type or out of range is a pride::Error naming the dotted key and the file.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace pride {

// The value of an integer key written "auto" (train.micro_batch_size): decided at run time.
inline constexpr int64_t kAuto = 0;
// What a micro-batch of "auto" means where nothing probes the device (evaluation, benchmarks).
inline constexpr int64_t kDefaultMicroBatch = 16;

struct RunConfig {
  std::string dir = "runs/tiny";  // metrics.jsonl and config.yaml go here
  int64_t seed = 1234;
  int64_t log_every = 10;       // steps between metrics lines
  std::string device = "auto";  // auto (CUDA of the local rank when present, else CPU) | cpu | cuda
};

struct DataConfig {
  std::vector<std::string> train;  // one file, several files, or a directory of shards
  std::vector<std::string> eval;
  int64_t prefetch_batches = 4;  // bound on batches read ahead by the background reader
  bool length_aware = false;     // group similar lengths inside each global batch
};

// The projections of a decoder block that model.lora.targets may name (PEFT's module names).
inline constexpr std::array<const char*, 7> kLoraTargets = {
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
inline bool is_lora_target(const std::string& name) {
  return std::find(kLoraTargets.begin(), kLoraTargets.end(), name) != kLoraTargets.end();
}

struct ModelConfig {
  int64_t vocab_size = 0;  // 0: taken from the training data
  int64_t d_model = 128;
  int64_t n_layers = 2;
  int64_t n_heads = 4;
  int64_t n_kv_heads = 2;  // grouped-query attention: n_heads must be a multiple
  int64_t d_ff = 344;      // SwiGLU hidden width
  int64_t max_seq_len = 256;
  int64_t memory_slots = 8;  // latent slots that stand in for the privileged information
  // What the feature head (the student side of the MMD) pools: "pi_slots", the PI memory slots
  // (encoded or predicted), or "response", the final hidden states over the response. See
  // docs/method.md for why pi_slots is the default.
  std::string feature_source = "pi_slots";
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
  // A Hugging Face model directory (docs/evaluation.md): the decoder, embeddings and LM head start
  // from its weights and the shape and vocabulary are its own; a shape key above left at its
  // default takes the model's value, one set to another value is an error.
  std::string init_from = "";
  // Parts not trained: embeddings, decoder, lm_head, and memory (what PRIDE adds to the LM:
  // cross-attention, the memory and PI modules, the emotion and feature heads).
  std::vector<std::string> freeze;
  // LoRA (docs/models.md, "LoRA"): low-rank adapters on the decoder blocks' projections named in
  // lora.targets, y = W x + alpha / rank * B A dropout(x), A [rank, in] (kaiming-uniform, as PEFT),
  // B [out, rank] zero. With rank > 0 (needs init_from) only the adapters of the language model
  // train: embeddings, decoder and LM head are frozen; the memory parts follow model.freeze.
  int64_t lora_rank = 0;  // 0: no adapters
  double lora_alpha = 16.0;
  double lora_dropout = 0.0;
  std::vector<std::string> lora_targets = {"q_proj", "v_proj"};
  // The tokenizer that goes with the student's vocabulary (tokenizer.json, .model or a directory),
  // recorded with its checkpoints for `pride generate`; empty: init_from's, when it has one.
  std::string tokenizer = "";
  // auto: when init_from has a chat template, `pride teach` renders the student's context as the
  // dialogue's messages in it (docs/chat-templates.md), as `pride generate --chat` prompts it.
  std::string chat = "auto";
};

// How the student learns from privileged information (PI) and runs without it.
struct PrivilegedConfig {
  bool enabled = true;         // false: the "no PI" ablation, PI is never read
  double real_pi_start = 1.0;  // probability that a training sample sees its real PI memory ...
  double real_pi_end = 0.0;    // ... decayed linearly to this by train.max_steps
  double align_weight = 1.0;   // weight of the latent-slot alignment to the encoded PI
};

struct TrainConfig {
  // What the student learns (docs/dpo.md): "pride", the PRIDE distillation from the teacher's
  // targets; "sft", cross-entropy on the response tokens only; "dpo", direct preference
  // optimization on preference pairs (dpo.*).
  std::string objective = "pride";
  int64_t max_steps = 300;
  int64_t stop_at_step = 0;  // > 0: end this run after that step with a checkpoint (time slices)
  int64_t global_batch_size = 16;
  // Per rank and forward/backward, a memory cap: each rank trains global / world samples a step, in
  // the fewest micro-batches of at most this many (the largest divisor that fits; printed at
  // start). "auto" (kAuto): the largest that fits the device, probed at start
  // (training/micro_batch_probe.h).
  int64_t micro_batch_size = 16;
  double lr = 3e-3;
  double min_lr_ratio = 0.1;  // cosine decays to lr * min_lr_ratio
  int64_t warmup_steps = 20;
  double weight_decay = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double grad_clip = 1.0;      // global-norm clip; 0 disables
  int64_t eval_every = 100;    // 0: evaluate only at the end
  int64_t eval_samples = 256;  // 0: the whole eval set
  // fp32, or bf16 autocast for forward and backward (fp32 master weights, loss terms and MMD).
  std::string precision = "fp32";
  // Keep only each decoder block's input for backward and recompute the block there: less
  // activation memory for about one more forward's time (docs/performance.md).
  bool activation_checkpointing = false;
  // Count each step's ATen operators per phase and its host syncs into metrics.jsonl ("ops",
  // "host_syncs"; training/op_counter.h). Off: no observer is registered at all.
  bool count_ops = false;
  // A step whose global gradient norm is NaN/inf applies no update; this many in a row end the run.
  int64_t max_skipped_steps = 3;
  double peak_tflops = 0;  // device peak for the mfu metric; 0: from the device name (none on CPU)
};

// train.micro_batch_size, or kDefaultMicroBatch for "auto" where no probe decides it.
inline int64_t micro_batch_or_default(const TrainConfig& train) {
  return train.micro_batch_size == kAuto ? kDefaultMicroBatch : train.micro_batch_size;
}

struct LossConfig {
  double ce_weight = 1.0;
  double rkl_weight = 1.0;
  double mmd_weight = 1.0;
  double emotion_weight = 0.5;
  // KL(teacher || student) on the emotion distribution; > 0 needs /teacher/emotion_logprobs.
  double emotion_kd_weight = 0.0;
  double rkl_temperature = 1.0;
  bool rkl_tail_bucket = true;  // add a (K+1)-th bucket for the mass outside the teacher's top-K
  std::vector<double> mmd_bandwidths = {0.25, 0.5, 1.0, 2.0, 4.0};  // times the mean sq. distance
};

// train.objective dpo (docs/dpo.md), as TRL's DPOTrainer defines it.
struct DpoConfig {
  double beta = 0.1;
  std::string loss = "sigmoid";  // sigmoid | ipo | hinge
  double label_smoothing = 0.0;  // sigmoid only: the conservative DPO's assumed label noise
  // Where the reference model's log-probabilities come from: "data", the preference file's
  // (precomputed); "online", a frozen copy of the student as it starts (model.init_from); "auto",
  // the data's when it has them, else online.
  std::string reference = "auto";
};

// `pride eval --generate`: PI-free generation for BLEU, ROUGE-L, Dist-n (docs/evaluation.md).
struct EvalConfig {
  int64_t max_new_tokens = 32;
  int64_t min_new_tokens = 0;  // no eos before this many tokens
  double temperature = 0.0;    // 0: greedy
  int64_t top_k = 0;
  double top_p = 1.0;
  int64_t seed = 1234;
  int64_t batch_size = 16;  // prompts generated together on a rank
};

struct CheckpointConfig {
  std::string dir = "";     // empty: <run.dir>/checkpoints
  int64_t every_steps = 0;  // 0: only at the end and on preemption
  int64_t keep = 3;
  int64_t keep_every = 0;  // also keep every keep_every-th step; 0: none
  bool async = false;
};

struct DistConfig {
  std::string backend = "auto";  // auto | mpi | nccl
  double bucket_mb = 25.0;
  // Gradient buckets: "ready", in the order gradients became ready on the first step (as DDP);
  // "reverse", the reverse parameter order throughout.
  std::string bucket_order = "ready";
  // 1: ZeRO-1, each rank keeps AdamW state for its 1/N of the parameters (reduce-scatter
  // gradients, all-gather parameters); 0: every rank keeps all of it.
  int64_t zero = 0;
  double timeout_s = 300.0;
};

// `pride teach` (docs/teacher.md): a Hugging Face teacher turns dialogue text (JSONL) into the
// training HDF5: its reasoning as the privileged source `reasoning`, its top-K log-probabilities
// and hidden states over the gold responses. Templates take {placeholders}, listed in
// docs/teacher.md.
struct TeachConfig {
  std::string teacher = "";    // HF model directory (config.json, *.safetensors)
  std::string tokenizer = "";  // tokenizer.json, .model or a directory; empty: the teacher's dir
  std::string input = "";      // dialogue samples, JSONL (pride data convert)
  std::string out = "";        // output directory: one HDF5 file per rank and manifest.json
  int64_t topk = 20;
  std::string dtype = "fp32";         // teacher compute: fp32 | bf16 | fp16
  std::string storage = "fp32";       // stored log-probs, hidden states, features: fp32 | fp16
  bool hidden_tokens = false;         // also store per-response-token hidden states [R, H]
  int64_t batch_size = 8;             // samples scored (and reasoned about) together
  int64_t part_size = 256;            // samples per resumable part
  int64_t max_context_tokens = 768;   // the oldest turns are dropped to fit
  int64_t max_response_tokens = 128;  // longer gold responses are cut (the eos is kept)
  std::string turn_template = "{speaker}: {text}\n";
  std::string context_template = "{dialogue}{speaker}:";  // what the student sees
  std::string response_prefix = " ";    // put before the response text (a space after "name:")
  std::string score_template = "";      // the teacher's prompt when scoring; empty: the context
  bool reasoning = true;                // generate the empathy-reasoning PI
  std::string reasoning_template = "";  // empty: the built-in step-by-step prompt
  int64_t reasoning_max_tokens = 128;
  double reasoning_temperature = 0.0;  // 0: greedy
  double reasoning_top_p = 1.0;
  int64_t seed = 1234;
  double progress_every_s = 10;
  // auto: when the teacher's tokenizer_config.json has a chat template, the reasoning and scoring
  // prompts are messages (system_prompt, then the rendered text template as the user's) rendered
  // in it (docs/chat-templates.md); off: the text templates as they are.
  std::string chat = "auto";
  std::string system_prompt = "";  // empty: no system message
  // HEF (docs/hef.md). score_emotions: every emotion label's text is scored after
  // emotion_template and the distribution stored as /teacher/emotion_logprobs.
  bool score_emotions = false;
  std::string emotion_template = "";   // empty: the built-in one of prompt_set
  std::string prompt_set = "default";  // default | hef (needs plugin): the built-in templates
  std::string plugin = "";             // a pride checkpoint with an emotion head: the plug-in
  int64_t plugin_top_emotions = 3;     // k: {emotion_candidates}
  int64_t plugin_cause_words = 5;      // m: {cause_words} and the emotion_cause source
  std::string plugin_attribution = "gradient_x_input";  // | integrated_gradients
  int64_t plugin_ig_steps = 16;                         // integrated gradients' Riemann steps
  // What the pass writes (docs/dpo.md): "targets", the training HDF5 above; "respond", dialogue
  // JSONL whose responses the teacher wrote (response_template), the gold one kept as
  // "reference"; "improve", the input's responses rewritten by the teacher with an empathy-
  // improvement prompt (improve_set, or improve_template), the rewritten one kept as "original".
  std::string mode = "targets";
  std::string response_template = "";   // empty: the built-in direct prompt
  std::string improve_set = "feeling";  // feeling | situation | invite | warmth
  std::string improve_template = "";    // non-empty: this prompt instead of improve_set's
  int64_t response_max_tokens = 64;
  double response_temperature = 0.0;  // 0: greedy
  double response_top_p = 1.0;
};

// `pride hef` (docs/hef.md): the large model's emotion and response with and without the plug-in;
// the teacher, input, plug-in and prompts are teach.*'s.
struct HefConfig {
  std::string out = "";                // predictions.jsonl and metrics.json
  std::string response_template = "";  // empty: the built-in one (with the plug-in's hints)
  int64_t max_new_tokens = 64;
  double temperature = 0.0;  // 0: greedy
  double top_p = 1.0;
};

// `pride judge` (docs/judge.md): pairwise empathy judgments by a Hugging Face causal LM.
struct JudgeConfig {
  std::string model = "";      // the judge: a Hugging Face model directory
  std::string tokenizer = "";  // empty: the model's directory
  std::string dtype = "fp32";
  std::string chat = "auto";       // auto: the judge's chat template when it has one
  std::string system_prompt = "";  // its chat prompts' system message; empty: none
  std::string input = "";          // the dialogues (JSONL), one per pair, in order
  std::string a = "", b = "";      // the two response files (JSONL), line i answers dialogue i
  std::string a_field = "", b_field = "";  // empty: "response", "hypothesis_text" or "text"
  std::string out = "";                    // verdicts.jsonl and metrics.json
  std::string template_text = "";          // judge.template; empty: the built-in empathy rubric
  int64_t batch_size = 8;
  int64_t bootstrap = 1000;  // resamples of the confidence intervals
  double confidence = 0.95;
  int64_t seed = 1234;
};

struct Config {
  RunConfig run;
  DataConfig data;
  ModelConfig model;
  PrivilegedConfig pi;
  TrainConfig train;
  LossConfig loss;
  DpoConfig dpo;
  EvalConfig eval;
  CheckpointConfig checkpoint;
  DistConfig dist;
  TeachConfig teach;
  HefConfig hef;
  JudgeConfig judge;
};

// Loads `files` in order (later keys override earlier ones), then applies `overrides`
// ("dotted.key=value", value in YAML syntax), then checks cross-key constraints.
Config load_config(const std::vector<std::string>& files,
                   const std::vector<std::string>& overrides);

// Applies one YAML document to `config`; `origin` names the source in error messages.
void apply_yaml(Config& config, const std::string& yaml_text, const std::string& origin);

// Checks constraints that involve several keys (e.g. n_heads % n_kv_heads).
void validate(const Config& config);

// The effective configuration as YAML, every key present; with `sections`, only those sections.
std::string to_yaml(const Config& config, const std::vector<std::string>& sections = {});

}  // namespace pride
