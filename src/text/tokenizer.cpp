// load_tokenizer(): picks the backend from what the path holds.
#include "text/tokenizer.h"

#include <filesystem>
#include <fstream>

#include "util/error.h"

namespace pride::text {
namespace {

// A tokenizer.json starts with '{' (after white space); a SentencePiece model is binary protobuf.
bool looks_like_json(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  char c = 0;
  while (in.get(c)) {
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return c == '{';
  }
  return false;
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path file(path);
  if (fs::is_directory(file)) {
    if (fs::is_regular_file(file / "tokenizer.json")) {
      file /= "tokenizer.json";
    } else if (fs::is_regular_file(file / "tokenizer.model")) {
      file /= "tokenizer.model";
    } else {
      fail("{}: the directory holds neither tokenizer.json nor tokenizer.model", path);
    }
  }
  if (!fs::is_regular_file(file)) fail("{}: no such tokenizer file", path);
  if (looks_like_json(file)) return load_hf_tokenizer(file.string());
  return load_sentencepiece_tokenizer(file.string());
}

}  // namespace pride::text
