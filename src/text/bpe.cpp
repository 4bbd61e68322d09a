// BPE as Hugging Face's tokenizers (models/bpe/word.rs) does it: symbols in a linked list, a heap
// of candidate merges ordered by (rank, position), stale heap entries skipped when popped. Each
// merge costs O(log n), so long words (SentencePiece-style text without a pre-tokenizer) are not
// quadratic.
#include "text/bpe.h"

#include <fmt/format.h>

#include <queue>
#include <stdexcept>

#include "text/unicode.h"

namespace pride::text {
namespace {

constexpr size_t kMaxCachedWordBytes = 256;
constexpr size_t kMaxCacheEntries = 1 << 20;

uint64_t pair_key(TokenId left, TokenId right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

}  // namespace

Bpe::Bpe(BpeConfig config)
    : vocab_(std::move(config.vocab)),
      byte_fallback_(config.byte_fallback),
      fuse_unk_(config.fuse_unk),
      ignore_merges_(config.ignore_merges) {
  const auto id_of = [&](const std::string& token, size_t rank) {
    const auto it = vocab_.find(token);
    if (it == vocab_.end()) {
      throw std::invalid_argument(
          fmt::format("merges[{}]: token '{}' is not in the vocabulary", rank, token));
    }
    return it->second;
  };
  merges_.reserve(config.merges.size());
  for (size_t rank = 0; rank < config.merges.size(); ++rank) {
    const auto& [left, right] = config.merges[rank];
    const uint64_t key = pair_key(id_of(left, rank), id_of(right, rank));
    // A repeated pair keeps its first (highest-priority) rank.
    merges_.emplace(key, Merge{static_cast<int32_t>(rank), id_of(left + right, rank)});
  }
  if (config.unk_token) {
    const auto it = vocab_.find(*config.unk_token);
    if (it == vocab_.end()) {
      throw std::invalid_argument(
          fmt::format("unk_token '{}' is not in the vocabulary", *config.unk_token));
    }
    unk_id_ = it->second;
  }
  for (int byte = 0; byte < 256; ++byte) {
    const auto it = vocab_.find(fmt::format("<0x{:02X}>", byte));
    byte_ids_[byte] = it == vocab_.end() ? -1 : it->second;
  }
}

const Bpe::Merge* Bpe::find_merge(TokenId left, TokenId right) const {
  const auto it = merges_.find(pair_key(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

std::vector<Bpe::Symbol> Bpe::initial_symbols(std::string_view word) const {
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  const auto add = [&](TokenId id) {
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, -1, true});
    if (index > 0) symbols[index - 1].next = index;
  };
  bool pending_unk = false;  // an unknown run not yet added (fuse_unk joins a run into one)
  std::string character;
  for (size_t pos = 0; pos < word.size();) {
    const size_t length = utf8_length(static_cast<unsigned char>(word[pos]));
    character.assign(word.substr(pos, length));
    pos += length;
    const auto it = vocab_.find(character);
    if (it != vocab_.end()) {
      if (pending_unk) add(*unk_id_), pending_unk = false;
      add(it->second);
      continue;
    }
    if (byte_fallback_) {
      bool all_bytes = true;
      for (unsigned char byte : character) all_bytes = all_bytes && byte_ids_[byte] >= 0;
      if (all_bytes) {
        if (pending_unk) add(*unk_id_), pending_unk = false;
        for (unsigned char byte : character) add(byte_ids_[byte]);
        continue;
      }
    }
    if (!unk_id_) continue;  // no unknown token: HF drops the character
    if (pending_unk && !fuse_unk_) add(*unk_id_);
    pending_unk = true;
  }
  if (pending_unk) add(*unk_id_);
  return symbols;
}

void Bpe::merge_all(std::vector<Symbol>& symbols) const {
  struct Candidate {
    int32_t rank, pos;
    TokenId result;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  const auto push = [&](int32_t pos) {
    const int32_t next = symbols[pos].next;
    if (next < 0) return;
    if (const Merge* merge = find_merge(symbols[pos].id, symbols[next].id)) {
      queue.push({merge->rank, pos, merge->result});
    }
  };
  for (int32_t pos = 0; pos + 1 < static_cast<int32_t>(symbols.size()); ++pos) push(pos);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    const Merge* merge = find_merge(left.id, right.id);
    if (merge == nullptr || merge->result != top.result) continue;  // stale entry
    left.id = merge->result;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) push(left.prev);
    push(top.pos);
  }
}

void Bpe::encode_word(std::string_view word, std::vector<TokenId>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    const auto it = vocab_.find(std::string(word));
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  std::string key;
  if (cacheable) {
    key.assign(word);
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(key);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<Symbol> symbols = initial_symbols(word);
  merge_all(symbols);
  const size_t first = out.size();
  for (const Symbol& symbol : symbols) {
    if (symbol.alive) out.push_back(symbol.id);
  }
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_.emplace(std::move(key), std::vector<TokenId>(out.begin() + first, out.end()));
  }
}

}  // namespace pride::text
