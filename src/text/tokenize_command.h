// `pride tokenize`: text lines to JSON arrays of token ids and back, on standard input/output.
#pragma once

#include <CLI/CLI.hpp>

#include <iosfwd>
#include <string>

namespace pride::text {

struct TokenizeOptions {
  std::string tokenizer;  // tokenizer.json, SentencePiece .model or a directory
  bool add_special = false;
  bool decode = false;
};

// Encodes (or with options.decode, decodes) each line of `in` to one line of `out`. Bad input
// (a line that is not a JSON array of ids, an id out of range) is a pride::Error naming the line.
void run_tokenize(const TokenizeOptions& options, std::istream& in, std::ostream& out);

// Adds the `tokenize` subcommand to `app`; it runs from CLI11's callback, without MPI.
void add_tokenize_command(CLI::App& app);

}  // namespace pride::text
