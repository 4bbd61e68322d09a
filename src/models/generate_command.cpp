// `pride generate --model DIR [--tokenizer FILE] (--prompt TEXT | --prompt-ids JSON | --in
// prompts.jsonl) [--out out.jsonl] ...`: loads a Hugging Face model directory and generates for
// each prompt, one JSON line per prompt ({"index", "ids", "finish_reason"}, and "text" with a
// tokenizer). Hidden `--dump-logits FILE` writes the logits of one padded forward over all prompts
// instead (the independent Python reference compares them).
#include "models/generate_command.h"

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/causal_lm.h"
#include "models/generate.h"
#include "util/error.h"
#if __has_include("text/tokenizer.h")
#include "text/tokenizer.h"
#endif

namespace pride {
namespace {

using nlohmann::json;

struct GenerateArgs {
  std::string model_dir, tokenizer, prompt, prompt_ids, in_file, out_file, dtype = "fp32";
  std::string dump_logits;
  GenerationOptions options;
  std::vector<int64_t> stop_ids;
  int64_t batch_size = 8;
  bool no_cache = false, stats = false;
};

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

json parse_json(const std::string& text, const std::string& context) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", context, e.what());
  }
}

// What generate needs from a tokenizer: text to ids (special tokens added, as Hugging Face does by
// default), ids to text, and the end-of-sequence id.
struct TextCodec {
  std::function<std::vector<int64_t>(const std::string&)> encode;
  std::function<std::string(const std::vector<int64_t>&)> decode;
  std::optional<int64_t> eos;
};

#if __has_include("text/tokenizer.h")
TextCodec load_codec(const std::string& path) {
  std::shared_ptr<const text::Tokenizer> tokenizer = text::load_tokenizer(path);
  TextCodec codec;
  codec.encode = [tokenizer](const std::string& prompt) {
    const auto ids = tokenizer->encode(prompt, /*add_special=*/true);
    return std::vector<int64_t>(ids.begin(), ids.end());
  };
  codec.decode = [tokenizer](const std::vector<int64_t>& ids) {
    return tokenizer->decode(std::vector<text::TokenId>(ids.begin(), ids.end()));
  };
  if (tokenizer->special_tokens().eos) codec.eos = *tokenizer->special_tokens().eos;
  return codec;
}
#else
// TODO(text): the tokenizer library (src/text/, branch `text`) compiles the version above in.
TextCodec load_codec(const std::string& path) {
  fail(
      "generate: --tokenizer {} needs the tokenizer library, which this build lacks; give token "
      "ids with --prompt-ids or {{\"prompt_ids\": [...]}} lines",
      path);
}
#endif

// Token ids of a text prompt; `context` names it in errors.
std::vector<int64_t> encode(const std::optional<TextCodec>& codec, const std::string& prompt,
                            const std::string& context) {
  if (!codec) fail("{}: a text prompt needs --tokenizer (or give prompt_ids)", context);
  return codec->encode(prompt);
}

std::vector<std::vector<int64_t>> read_prompts(const GenerateArgs& args,
                                               const std::optional<TextCodec>& codec) {
  const int given = !args.prompt.empty() + !args.prompt_ids.empty() + !args.in_file.empty();
  if (given != 1) fail("generate: give exactly one of --prompt, --prompt-ids and --in");
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
void dump_logits(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                 std::ostream& out) {
  torch::NoGradGuard no_grad;
  auto [tokens, valid] = left_pad(prompts, 0, torch::kCPU);
  const auto logits = model->forward(tokens, valid).to(torch::kDouble).contiguous();
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

GenerationOptions options_for(const GenerateArgs& args, const CausalLM& model,
                              const std::optional<TextCodec>& codec) {
  GenerationOptions options = args.options;
  options.use_cache = !args.no_cache;
  options.stop_ids = model->config().eos_token_ids;
  options.stop_ids.insert(options.stop_ids.end(), args.stop_ids.begin(), args.stop_ids.end());
  if (codec && codec->eos) options.stop_ids.push_back(*codec->eos);
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

void run_generate(const GenerateArgs& args) {
  std::optional<TextCodec> codec;
  if (!args.tokenizer.empty()) codec = load_codec(args.tokenizer);
  const auto prompts = read_prompts(args, codec);
  CausalLM model = load_causal_lm(args.model_dir, dtype_of(args.dtype));
  if (!args.dump_logits.empty()) {
    std::ofstream logits(args.dump_logits);
    if (!logits) fail("{}: cannot write", args.dump_logits);
    return dump_logits(model, prompts, logits);
  }
  std::ofstream file;
  if (!args.out_file.empty()) {
    file.open(args.out_file);
    if (!file) fail("{}: cannot write", args.out_file);
  }
  std::ostream& out = args.out_file.empty() ? std::cout : file;
  const GenerationOptions options = options_for(args, model, codec);
  int64_t generated = 0;
  const auto begin = std::chrono::steady_clock::now();
  for (size_t first = 0; first < prompts.size(); first += args.batch_size) {
    const size_t last = std::min(prompts.size(), first + size_t(args.batch_size));
    const std::vector<std::vector<int64_t>> batch(prompts.begin() + first, prompts.begin() + last);
    const auto results = generate(*model, batch, options);
    for (size_t i = 0; i < results.size(); ++i) {
      generated += results[i].tokens.size();
      out << output_line(first + i, results[i], codec).dump() << "\n";
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  if (args.stats) {
    std::cerr << json{{"generated_tokens", generated},
                      {"seconds", seconds},
                      {"tokens_per_s", generated / std::max(seconds, 1e-9)},
                      {"use_cache", options.use_cache},
                      {"threads", torch::get_num_threads()}}
                     .dump()
              << "\n";
  }
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  auto* command = app.add_subcommand("generate", "generate with a Hugging Face causal LM");
  command->add_option("--model", args->model_dir, "model directory (config.json, safetensors)")
      ->required();
  command->add_option("--tokenizer", args->tokenizer, "tokenizer.json, .model or directory");
  command->add_option("--prompt", args->prompt, "one prompt text (needs --tokenizer)");
  command->add_option("--prompt-ids", args->prompt_ids, "one prompt as a JSON array of ids");
  command->add_option("--in", args->in_file,
                      "JSONL prompts: {\"prompt\": TEXT} or {\"prompt_ids\": [...]} per line");
  command->add_option("--out", args->out_file, "JSONL output (default: standard output)");
  auto& options = args->options;
  command->add_option("--max-new-tokens", options.max_new_tokens)->capture_default_str();
  command->add_option("--temperature", options.temperature, "0: greedy")->capture_default_str();
  command->add_option("--top-k", options.top_k, "0: no top-k cut")->capture_default_str();
  command->add_option("--top-p", options.top_p)->capture_default_str();
  command->add_option("--seed", options.seed)->capture_default_str();
  command->add_option("--stop-ids", args->stop_ids, "ids that end a row besides config eos");
  command->add_option("--batch-size", args->batch_size)
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command->add_option("--dtype", args->dtype, "fp32, bf16 or fp16")->capture_default_str();
  command->add_flag("--no-cache", args->no_cache, "recompute the prefix each step (for checks)");
  command->add_flag("--stats", args->stats, "print generated tokens/s to standard error");
  command->add_option("--dump-logits", args->dump_logits)->group("");  // test hook
  command->callback([args] { run_generate(*args); });
}

}  // namespace pride
