// `pride generate (--model DIR | --checkpoint DIR) [--tokenizer FILE] (--prompt TEXT | --prompt-ids
// JSON | --in prompts.jsonl [--chat] | --data FILE.h5) [--out out.jsonl] ...`: the options; what
// runs is models/generate_job.h.
#include <memory>

#include "cli/command.h"
#include "models/generate_job.h"

namespace pride::cli {

void add_generate_command(CLI::App& app, CommandTable& table) {
  auto args = std::make_shared<GenerateJob>();
  CLI::App* command =
      table.add(app, "generate", "generate with a Hugging Face causal LM or a PRIDE student",
                Runs::kInThisProcess, [args](const WorldInfo&) {
                  run_generate_job(*args);
                  return 0;
                });
  command->add_option("--model", args->model_dir, "model directory (config.json, safetensors)");
  command->add_option(
      "--checkpoint", args->checkpoint,
      "a student: checkpoint directory or root, or a `pride ckpt export` directory");
  command->add_option("--data", args->data_file,
                      "with --checkpoint: prompts are this HDF5 data set's contexts and frames");
  command->add_option("--samples", args->samples, "with --data: the first N samples (0: all)")
      ->capture_default_str();
  command->add_option("--tokenizer", args->tokenizer,
                      "tokenizer.json, .model or directory (default: the model directory's own)");
  command->add_option("--prompt", args->prompt, "one prompt text (needs a tokenizer)");
  command->add_option("--prompt-ids", args->prompt_ids, "one prompt as a JSON array of ids");
  command->add_option("--in", args->in_file,
                      "JSONL prompts: {\"prompt\": TEXT} or {\"prompt_ids\": [...]} per line");
  command->add_flag("--chat", args->chat,
                    "--in holds conversations (a JSON message list, or {\"messages\": [...]}, "
                    "per line), rendered with the model's chat template and the generation prompt");
  command->add_option("--out", args->out_file, "JSONL output (default: standard output)");
  auto& options = args->options;
  command->add_option("--max-new-tokens", options.max_new_tokens)->capture_default_str();
  command->add_option("--min-new-tokens", options.min_new_tokens, "no stop id before this many")
      ->capture_default_str();
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
}

}  // namespace pride::cli
