// The BPE model of a Hugging Face tokenizer.json: the vocabulary, merges by rank, byte fallback,
// unknown-token fusing and ignore_merges, applied to one pre-tokenized word at a time with a
// cache of the results per word.
#pragma once

#include <array>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/tokenizer.h"

namespace pride::text {

struct BpeConfig {
  std::unordered_map<std::string, TokenId> vocab;
  std::vector<std::pair<std::string, std::string>> merges;  // by rank, highest priority first
  std::optional<std::string> unk_token;
  bool byte_fallback = false;
  bool fuse_unk = false;
  bool ignore_merges = false;
};

class Bpe {
 public:
  // Throws std::invalid_argument naming the merge whose parts or result are not in the vocabulary.
  explicit Bpe(BpeConfig config);

  // Appends the ids of one word (a pre-token) to `out`.
  void encode_word(std::string_view word, std::vector<TokenId>& out) const;

  const std::unordered_map<std::string, TokenId>& vocab() const { return vocab_; }
  std::optional<TokenId> unk_id() const { return unk_id_; }

 private:
  struct Merge {
    int32_t rank;
    TokenId result;
  };
  struct Symbol {
    TokenId id;
    int32_t prev, next;  // neighbours in the word, -1 at the ends
    bool alive;
  };

  std::vector<Symbol> initial_symbols(std::string_view word) const;
  void merge_all(std::vector<Symbol>& symbols) const;
  const Merge* find_merge(TokenId left, TokenId right) const;

  std::unordered_map<std::string, TokenId> vocab_;
  std::unordered_map<uint64_t, Merge> merges_;  // key: left << 32 | right
  std::optional<TokenId> unk_id_;
  std::array<TokenId, 256> byte_ids_{};  // the <0xNN> tokens, -1 where missing
  bool byte_fallback_, fuse_unk_, ignore_merges_;

  // Words seen before and their ids. Bounded: cleared when full (the cache only saves time).
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<TokenId>> cache_;
};

}  // namespace pride::text
