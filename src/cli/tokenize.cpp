// `pride tokenize --tokenizer FILE|DIR [--add-special] [--decode]`: text lines on standard input to
// JSON arrays of token ids on standard output, or back.
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "text/tokenize_lines.h"

namespace pride::cli {

void add_tokenize_command(CLI::App& app, CommandTable& table) {
  auto options = std::make_shared<text::TokenizeOptions>();
  CLI::App* command =
      table.add(app, "tokenize",
                "text lines on stdin to JSON arrays of token ids on stdout (or back: --decode)",
                Runs::kInThisProcess, [options](const WorldInfo&) {
                  std::ios::sync_with_stdio(false);
                  text::run_tokenize(*options, std::cin, std::cout);
                  return 0;
                });
  command
      ->add_option("--tokenizer", options->tokenizer,
                   "tokenizer.json, SentencePiece .model, or a directory holding one")
      ->required();
  command->add_flag("--add-special", options->add_special,
                    "add the special tokens the tokenizer's post-processor adds (e.g. BOS)");
  command->add_flag("--decode", options->decode, "read arrays of ids, print their text");
}

}  // namespace pride::cli
