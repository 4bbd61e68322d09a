// Text lines to JSON arrays of token ids and back, line by line (`pride tokenize`).
#pragma once

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

}  // namespace pride::text
