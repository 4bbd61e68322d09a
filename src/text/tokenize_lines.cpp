// `pride tokenize`: one JSON array of ids per input line (encode) or one text line per array
// (--decode). Lines end at '\n' only, so a '\r' before it belongs to the text.
#include "text/tokenize_lines.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>

#include "io/json_file.h"
#include "text/tokenizer.h"
#include "util/error.h"

namespace pride::text {
namespace {

std::vector<TokenId> parse_ids(const std::string& line, size_t line_number, int64_t vocab_size) {
  // Not valid JSON is said like any other non-array; deep nesting stops at parse_json's limit.
  const std::string where = fmt::format("standard input line {}", line_number);
  nlohmann::json array;
  try {
    array = parse_json(line, where);
  } catch (const Error&) {
  }
  if (!array.is_array()) fail("{}: not a JSON array of token ids", where);
  std::vector<TokenId> ids;
  ids.reserve(array.size());
  for (const auto& value : array) {
    if (!value.is_number_integer()) {
      fail("standard input line {}: {} is not a token id", line_number, value.dump());
    }
    const int64_t id = value.get<int64_t>();
    if (id < 0 || id >= vocab_size) {
      fail("standard input line {}: token id {} is out of range (vocabulary size {})", line_number,
           id, vocab_size);
    }
    ids.push_back(static_cast<TokenId>(id));
  }
  return ids;
}

void append_ids(std::string& out, const std::vector<TokenId>& ids) {
  out += '[';
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    fmt::format_to(std::back_inserter(out), "{}", ids[i]);
  }
  out += "]\n";
}

}  // namespace

void run_tokenize(const TokenizeOptions& options, std::istream& in, std::ostream& out) {
  const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(options.tokenizer);
  std::string line, buffer;
  size_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (options.decode) {
      const std::vector<TokenId> ids = parse_ids(line, line_number, tokenizer->vocab_size());
      buffer += tokenizer->decode(ids);
      buffer += '\n';
    } else {
      append_ids(buffer, tokenizer->encode(line, options.add_special));
    }
    if (buffer.size() > (1 << 16)) {
      out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      buffer.clear();
    }
  }
  out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  out.flush();
}

}  // namespace pride::text
