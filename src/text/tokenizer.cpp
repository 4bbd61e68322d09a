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

std::optional<std::string> tokenizer_file_in(const std::string& directory) {
  namespace fs = std::filesystem;
  for (const char* name : {"tokenizer.json", "tokenizer.model"}) {
    if (fs::is_regular_file(fs::path(directory) / name))
      return (fs::path(directory) / name).string();
  }
  return std::nullopt;
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path file(path);
  if (fs::is_directory(file)) {
    const auto found = tokenizer_file_in(path);
    if (!found) fail("{}: the directory holds neither tokenizer.json nor tokenizer.model", path);
    file = *found;
  }
  if (!fs::is_regular_file(file)) fail("{}: no such tokenizer file", path);
  if (looks_like_json(file)) return load_hf_tokenizer(file.string());
  return load_sentencepiece_tokenizer(file.string());
}

}  // namespace pride::text
