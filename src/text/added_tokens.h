// Hugging Face's added tokens (special and not): found in the text before any normalization or
// BPE, leftmost-longest, honouring single_word, lstrip and rstrip.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"

namespace pride::text {

struct AddedToken {
  std::string content;
  TokenId id = 0;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

// A piece of text: either an added token (id >= 0) or plain text to tokenize (id == -1).
struct TextPiece {
  size_t begin, end;
  TokenId id;
};

class AddedTokenMatcher {
 public:
  // `patterns[i]` is the text that stands for `tokens[i]` (its content, normalized for tokens
  // matched after normalization).
  AddedTokenMatcher(std::vector<AddedToken> tokens, std::vector<std::string> patterns);
  bool empty() const { return tokens_.empty(); }

  // Cuts `text` into added tokens and the plain text between them (empty pieces left out).
  std::vector<TextPiece> split(std::string_view text) const;

 private:
  // The longest token starting at `pos`, or -1.
  int longest_at(std::string_view text, size_t pos) const;
  bool is_single_word(std::string_view text, size_t begin, size_t end) const;

  std::vector<AddedToken> tokens_;
  std::vector<std::string> patterns_;
  std::array<std::vector<int>, 256> by_first_byte_;  // token indices, longest pattern first
};

}  // namespace pride::text
