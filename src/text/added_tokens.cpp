// Added-token matching as tokenizers' AddedVocabulary::find_matches does it (an Aho-Corasick
// leftmost-longest scan there; a first-byte index here, as added tokens are few).
#include "text/added_tokens.h"

#include <algorithm>

#include "text/unicode.h"

namespace pride::text {

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens,
                                     std::vector<std::string> patterns)
    : tokens_(std::move(tokens)), patterns_(std::move(patterns)) {
  for (size_t i = 0; i < patterns_.size(); ++i) {
    if (patterns_[i].empty()) continue;
    by_first_byte_[static_cast<unsigned char>(patterns_[i][0])].push_back(static_cast<int>(i));
  }
  for (auto& candidates : by_first_byte_) {
    std::stable_sort(candidates.begin(), candidates.end(),
                     [&](int a, int b) { return patterns_[a].size() > patterns_[b].size(); });
  }
}

int AddedTokenMatcher::longest_at(std::string_view text, size_t pos) const {
  for (int index : by_first_byte_[static_cast<unsigned char>(text[pos])]) {
    if (text.compare(pos, patterns_[index].size(), patterns_[index]) == 0) return index;
  }
  return -1;
}

// A single_word token must not touch a word character on either side.
bool AddedTokenMatcher::is_single_word(std::string_view text, size_t begin, size_t end) const {
  if (begin > 0 && is_alphanumeric(last_code_point(text, begin))) return false;
  size_t pos = end;
  return end >= text.size() || !is_alphanumeric(next_code_point(text, pos));
}

std::vector<TextPiece> AddedTokenMatcher::split(std::string_view text) const {
  std::vector<TextPiece> pieces;
  size_t plain_start = 0;  // where the text not yet assigned to a piece begins
  size_t pos = 0;
  while (pos < text.size()) {
    const int index = longest_at(text, pos);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[index];
    size_t begin = pos, end = pos + patterns_[index].size();
    pos = end;
    if (token.single_word && !is_single_word(text, begin, end)) continue;
    if (token.lstrip) {  // swallow the white space before it, back to the previous piece
      size_t char_start = 0;
      while (begin > plain_start && is_white_space(last_code_point(text, begin, &char_start))) {
        begin = char_start;
      }
    }
    if (token.rstrip) {
      for (size_t next = end; end < text.size() && is_white_space(next_code_point(text, next));) {
        end = next;
      }
      pos = end;
    }
    if (plain_start < begin) pieces.push_back({plain_start, begin, -1});
    pieces.push_back({begin, end, token.id});
    plain_start = end;
  }
  if (plain_start < text.size()) pieces.push_back({plain_start, text.size(), -1});
  return pieces;
}

}  // namespace pride::text
