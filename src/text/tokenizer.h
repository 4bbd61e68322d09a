// The Tokenizer interface (text <-> token ids) and load_tokenizer(), which opens a Hugging Face
// tokenizer.json, a SentencePiece .model, or a model directory holding one of them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pride::text {

using TokenId = int32_t;

// The ids a model's special tokens have, where the tokenizer defines them.
struct SpecialTokens {
  std::optional<TokenId> bos, eos, pad, unk;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Token ids of `text`. Invalid UTF-8 in `text` is first replaced by U+FFFD (one per maximal
  // invalid subsequence, as a WHATWG TextDecoder does): the HF pipeline is defined on Unicode
  // text. `add_special`: add what the tokenizer's post-processor adds (e.g. BOS). Thread-safe.
  virtual std::vector<TokenId> encode(std::string_view text, bool add_special) const = 0;

  // The text of `ids`, special tokens included. Bytes that are not valid UTF-8 come out as
  // U+FFFD the way the tokenizer's own library does it. An id outside [0, vocab_size()) or
  // without a token is a pride::Error.
  virtual std::string decode(const std::vector<TokenId>& ids) const = 0;

  // One more than the largest id (ids are 0 .. vocab_size()-1).
  virtual int64_t vocab_size() const = 0;
  virtual const SpecialTokens& special_tokens() const = 0;

  // "<backend>:<hex>": a hash of everything that decides the ids (vocabulary, merges, added tokens,
  // normalizer, pre-tokenizer, post-processor). Equal identities tokenize alike; teacher and
  // student data must agree on it.
  virtual std::string identity() const = 0;
};

// Opens `path`: a tokenizer.json, a SentencePiece .model, or a directory holding one (the
// tokenizer.json when it holds both). A missing, malformed or unsupported file is a pride::Error
// naming the file and, for tokenizer.json, the JSON path of the field at fault.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

// The tokenizer file a model directory holds (tokenizer.json before tokenizer.model), or nullopt.
std::optional<std::string> tokenizer_file_in(const std::string& directory);

std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& json_file);
std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& model_file);

}  // namespace pride::text
