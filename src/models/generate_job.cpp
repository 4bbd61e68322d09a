// What `pride generate` runs: (--model DIR | --checkpoint DIR) [--tokenizer FILE] (--prompt TEXT |
// --prompt-ids JSON | --in prompts.jsonl | --data FILE.h5) [--out out.jsonl] ...`: loads a Hugging
// Face model directory, or a PRIDE student (a checkpoint or an export, models/student_init.h), and
// generates for each prompt, one JSON line per prompt ({"index", "ids", "finish_reason"}, "text"
// with a tokenizer). The student runs PI-free; with --data its prompts are the data set's contexts,
// with their audio/visual frames ("sample" and "reference" ids added); with --chat, --in holds
// conversations rendered with the model's chat template. Hidden `--dump-logits FILE`
// writes the logits of one padded forward over all prompts instead (the independent Python
// reference compares them).
#include "models/generate_job.h"

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "chat/render_lines.h"
#include "data/batch.h"
#include "data/reader.h"
#include "io/json_file.h"
#include "models/causal_lm.h"
#include "models/generate.h"
#include "models/student_generation.h"
#include "models/student_init.h"
#include "text/tokenizer.h"
#include "util/error.h"

namespace pride {
namespace {

using nlohmann::json;

std::vector<int64_t> ids_from(const json& value, const std::string& context) {
  if (!value.is_array()) fail("{}: prompt_ids must be a JSON array of token ids", context);
  std::vector<int64_t> ids;
  for (const json& id : value) {
    if (!id.is_number_integer())
      fail("{}: prompt_ids holds {}, not a token id", context, id.dump());
    ids.push_back(id.get<int64_t>());
  }
  return ids;
}

// What generate needs from a tokenizer: text to ids (special tokens added, as Hugging Face does by
// default), ids to text, and the end-of-sequence id.
struct TextCodec {
  std::function<std::vector<int64_t>(const std::string&, bool add_special)> encode;
  std::function<std::string(const std::vector<int64_t>&)> decode;
  std::optional<int64_t> eos;
  int64_t vocab_size = 0;  // ids at or above it are not tokens (a model's padding rows)
};

TextCodec load_codec(const std::string& path) {
  std::shared_ptr<const text::Tokenizer> tokenizer = text::load_tokenizer(path);
  TextCodec codec;
  codec.encode = [tokenizer](const std::string& prompt, bool add_special) {
    const auto ids = tokenizer->encode(prompt, add_special);
    return std::vector<int64_t>(ids.begin(), ids.end());
  };
  codec.decode = [tokenizer](const std::vector<int64_t>& ids) {
    return tokenizer->decode(std::vector<text::TokenId>(ids.begin(), ids.end()));
  };
  if (tokenizer->special_tokens().eos) codec.eos = *tokenizer->special_tokens().eos;
  codec.vocab_size = tokenizer->vocab_size();
  return codec;
}

// Token ids of a text prompt; `context` names it in errors.
std::vector<int64_t> encode(const std::optional<TextCodec>& codec, const std::string& prompt,
                            const std::string& context) {
  if (!codec) fail("{}: a text prompt needs --tokenizer (or give prompt_ids)", context);
  return codec->encode(prompt, /*add_special=*/true);
}

// --chat: each line of --in a conversation (a message list, or {"messages": [...]}) rendered with
// the chat template found at `template_path` (a model directory, or a tokenizer file in one) and
// the generation prompt, then encoded as apply_chat_template(tokenize=True) encodes it: the
// template writes the special tokens it wants (BOS included), so none are added.
std::vector<std::vector<int64_t>> read_chat_prompts(const GenerateJob& args,
                                                    const std::string& template_path,
                                                    const std::optional<TextCodec>& codec) {
  if (args.in_file.empty() || !args.prompt.empty() || !args.prompt_ids.empty()) {
    fail("generate --chat: give the conversations as --in FILE (a JSON message list per line)");
  }
  if (!codec) fail("generate --chat: the model has no tokenizer (give --tokenizer)");
  const auto chat_template = chat::ChatTemplate::find(template_path);
  if (!chat_template) {
    fail(
        "generate --chat: {} has no chat template (tokenizer_config.json has no chat_template, "
        "and there is no chat_template.jinja)",
        template_path);
  }
  std::ifstream in(args.in_file);
  if (!in) fail("{}: cannot open", args.in_file);
  chat::ChatRenderOptions options;
  options.add_generation_prompt = true;
  std::stringstream rendered;
  chat::render_lines(*chat_template, in, rendered, options, args.in_file);
  std::vector<std::vector<int64_t>> prompts;
  for (std::string line; std::getline(rendered, line);) {
    prompts.push_back(codec->encode(json::parse(line).get<std::string>(), /*add_special=*/false));
  }
  if (prompts.empty()) fail("{}: no conversations", args.in_file);
  return prompts;
}

std::vector<std::vector<int64_t>> read_prompts(const GenerateJob& args,
                                               const std::optional<TextCodec>& codec) {
  const int given = !args.prompt.empty() + !args.prompt_ids.empty() + !args.in_file.empty();
  if (given != 1) fail("generate: give exactly one of --prompt, --prompt-ids, --in and --data");
  if (!args.prompt.empty()) return {encode(codec, args.prompt, "--prompt")};
  if (!args.prompt_ids.empty()) {
    return {ids_from(parse_json(args.prompt_ids, "--prompt-ids"), "--prompt-ids")};
  }
  std::ifstream in(args.in_file);
  if (!in) fail("{}: cannot open", args.in_file);
  std::vector<std::vector<int64_t>> prompts;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string context = fmt::format("{}:{}", args.in_file, number);
    const json record = parse_json(line, context);
    if (record.is_object() && record.contains("prompt_ids")) {
      prompts.push_back(ids_from(record["prompt_ids"], context));
    } else if (record.is_object() && record.contains("prompt") && record["prompt"].is_string()) {
      prompts.push_back(encode(codec, record["prompt"].get<std::string>(), context));
    } else {
      fail("{}: each line must be an object with \"prompt\" (text) or \"prompt_ids\"", context);
    }
  }
  if (prompts.empty()) fail("{}: no prompts", args.in_file);
  return prompts;
}

torch::ScalarType dtype_of(const std::string& name) {
  if (name == "fp32") return torch::kFloat;
  if (name == "bf16") return torch::kBFloat16;
  if (name == "fp16") return torch::kHalf;
  fail("generate: --dtype must be fp32, bf16 or fp16, got '{}'", name);
}

// Logits of every real position of every prompt, from one left-padded batch.
void dump_logits(IncrementalDecoder& model, const std::vector<std::vector<int64_t>>& prompts,
                 const std::string& path) {
  std::ofstream out(path);
  if (!out) fail("{}: cannot write", path);
  torch::NoGradGuard no_grad;
  auto [tokens, valid] = left_pad(prompts, 0, torch::kCPU);
  DecodeState state = model.start(tokens.size(0), tokens.size(1));
  const auto logits = model.forward_cached(tokens, valid, state, /*all_positions=*/true)
                          .to(torch::kDouble)
                          .contiguous();
  for (size_t row = 0; row < prompts.size(); ++row) {
    const int64_t n = prompts[row].size();
    const auto mine = logits[row].narrow(0, tokens.size(1) - n, n).contiguous();
    const double* values = mine.data_ptr<double>();
    json rows = json::array();
    for (int64_t t = 0; t < n; ++t) {
      rows.push_back(
          std::vector<double>(values + t * mine.size(1), values + (t + 1) * mine.size(1)));
    }
    out << json{{"index", row}, {"logits", rows}}.dump() << "\n";
  }
}

// --stop-ids, the tokenizer's eos and `eos_ids` (the model's).
GenerationOptions options_for(const GenerateJob& args, const std::vector<int64_t>& eos_ids,
                              const std::optional<TextCodec>& codec) {
  GenerationOptions options = args.options;
  options.use_cache = !args.no_cache;
  options.stop_ids = eos_ids;
  options.stop_ids.insert(options.stop_ids.end(), args.stop_ids.begin(), args.stop_ids.end());
  if (codec && codec->eos) options.stop_ids.push_back(*codec->eos);
  if (codec) options.vocab_limit = codec->vocab_size;
  return options;
}

json output_line(size_t index, const Generation& result, const std::optional<TextCodec>& codec) {
  json line = {{"index", index}, {"ids", result.tokens}, {"finish_reason", result.finish_reason}};
  if (codec) {  // the text without the stop token
    const size_t kept = result.tokens.size() - (result.finish_reason == "stop" ? 1 : 0);
    line["text"] = codec->decode({result.tokens.begin(), result.tokens.begin() + kept});
  }
  return line;
}

// Generates for `count` prompts, args.batch_size at a time (`generate_range(first, last)`), and
// writes one JSON line each (`annotate` adds fields); with --stats, tokens/s to standard error.
void write_generations(const GenerateJob& args, size_t count, const std::optional<TextCodec>& codec,
                       const std::function<std::vector<Generation>(size_t, size_t)>& generate_range,
                       const std::function<void(size_t, json&)>& annotate) {
  std::ofstream file;
  if (!args.out_file.empty()) {
    file.open(args.out_file);
    if (!file) fail("{}: cannot write", args.out_file);
  }
  std::ostream& out = args.out_file.empty() ? std::cout : file;
  int64_t generated = 0;
  const auto begin = std::chrono::steady_clock::now();
  for (size_t first = 0; first < count; first += args.batch_size) {
    const size_t last = std::min(count, first + size_t(args.batch_size));
    const auto results = generate_range(first, last);
    for (size_t i = 0; i < results.size(); ++i) {
      generated += results[i].tokens.size();
      json line = output_line(first + i, results[i], codec);
      annotate(first + i, line);
      out << line.dump() << "\n";
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  if (args.stats) {
    std::cerr << json{{"generated_tokens", generated},
                      {"seconds", seconds},
                      {"tokens_per_s", generated / std::max(seconds, 1e-9)},
                      {"use_cache", !args.no_cache},
                      {"threads", torch::get_num_threads()}}
                     .dump()
              << "\n";
  }
}

void run_hf_generate(const GenerateJob& args) {
  std::optional<TextCodec> codec;
  if (!args.tokenizer.empty()) {
    codec = load_codec(args.tokenizer);
  } else if (text::tokenizer_file_in(args.model_dir)) {  // as AutoTokenizer.from_pretrained(DIR)
    codec = load_codec(args.model_dir);
  }
  const auto prompts =
      args.chat
          ? read_chat_prompts(args, args.tokenizer.empty() ? args.model_dir : args.tokenizer, codec)
          : read_prompts(args, codec);
  CausalLM model = load_causal_lm(args.model_dir, dtype_of(args.dtype));
  if (!args.dump_logits.empty()) return dump_logits(*model, prompts, args.dump_logits);
  const GenerationOptions options = options_for(args, model->config().eos_token_ids, codec);
  write_generations(
      args, prompts.size(), codec,
      [&](size_t first, size_t last) {
        const std::vector<std::vector<int64_t>> batch(prompts.begin() + first,
                                                      prompts.begin() + last);
        return generate(*model, batch, options);
      },
      [](size_t, json&) {});
}

// The student on the contexts (and frames) of the first --samples samples of --data.
void run_student_on_data(const GenerateJob& args, LoadedStudent& student,
                         const std::optional<TextCodec>& codec) {
  const auto data = DialogueDataset::open({args.data_file});
  const DatasetInfo& mine = student.spec.info;
  const DatasetInfo& theirs = data.info();
  if (mine.vocab_size != theirs.vocab_size || mine.audio_dim != theirs.audio_dim ||
      mine.visual_dim != theirs.visual_dim) {
    fail("{}: vocabulary {}, audio {}, visual {} do not match the student's {}, {}, {}",
         args.data_file, theirs.vocab_size, theirs.audio_dim, theirs.visual_dim, mine.vocab_size,
         mine.audio_dim, mine.visual_dim);
  }
  const int64_t count = args.samples > 0 ? std::min(args.samples, data.size()) : data.size();
  const int64_t max_seq_len = student.spec.model.max_seq_len;
  const GenerationOptions options = options_for(args, {}, codec);
  std::vector<Sample> samples;
  write_generations(
      args, count, codec,
      [&](size_t first, size_t last) {
        samples.clear();
        for (size_t i = first; i < last; ++i) samples.push_back(data.read(i, false));
        return generate_responses(student.model, collate(samples, theirs, max_seq_len), options,
                                  max_seq_len);
      },
      [&](size_t index, json& line) {
        const Sample& sample = samples[index % args.batch_size];
        line["sample"] = sample.index;
        line["reference"] = std::vector<int64_t>(sample.response.begin(), sample.response.end());
      });
}

void run_student_generate(const GenerateJob& args) {
  LoadedStudent student = load_student(args.checkpoint, torch::kCPU);
  const std::string tokenizer = !args.tokenizer.empty() ? args.tokenizer : student.spec.tokenizer;
  std::optional<TextCodec> codec;
  if (!tokenizer.empty()) codec = load_codec(tokenizer);
  if (!args.data_file.empty()) {
    if (!args.prompt.empty() || !args.prompt_ids.empty() || !args.in_file.empty()) {
      fail("generate: give exactly one of --prompt, --prompt-ids, --in and --data");
    }
    if (args.chat) fail("generate: --data holds rendered contexts already; drop --chat");
    return run_student_on_data(args, student, codec);
  }
  const auto prompts =
      args.chat ? read_chat_prompts(args, tokenizer, codec) : read_prompts(args, codec);
  const int64_t pad = student.spec.info.pad_id;
  if (!args.dump_logits.empty()) {
    StudentDecoder decoder(student.model,
                           student.model->inference_memory(prompt_batch(prompts, pad)));
    return dump_logits(decoder, prompts, args.dump_logits);
  }
  const GenerationOptions options = options_for(args, {}, codec);
  const int64_t max_seq_len = student.spec.model.max_seq_len;
  write_generations(
      args, prompts.size(), codec,
      [&](size_t first, size_t last) {
        const std::vector<std::vector<int64_t>> batch(prompts.begin() + first,
                                                      prompts.begin() + last);
        return generate_responses(student.model, prompt_batch(batch, pad), options, max_seq_len);
      },
      [](size_t, json&) {});
}

}  // namespace

void run_generate_job(const GenerateJob& args) {
  if (args.model_dir.empty() == args.checkpoint.empty()) {
    fail(
        "generate: give exactly one of --model (a Hugging Face model) and --checkpoint (a "
        "student)");
  }
  if (!args.data_file.empty() && args.checkpoint.empty()) {
    fail("generate: --data gives a student the data set's contexts; it needs --checkpoint");
  }
  if (!args.model_dir.empty()) return run_hf_generate(args);
  run_student_generate(args);
}

}  // namespace pride
