// The Hugging Face tokenizer.json backend: added tokens, normalizer, pre-tokenizer, BPE model,
// post-processor and decoder, composed as tokenizers' TokenizerImpl::encode/decode does.
#include <xxhash.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "io/json_file.h"
#include "text/added_tokens.h"
#include "text/bpe.h"
#include "text/hf_pipeline.h"
#include "text/json_field.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

namespace pride::text {
namespace {

// What add_special puts around the tokens (TemplateProcessing's `single` template).
struct Template {
  std::vector<TokenId> prefix, suffix;
};

// Token ids are dense in every real vocabulary (Llama 3: 128,256, Gemma: 262,144); a bound far
// above those keeps a hostile id from sizing the id -> token table (docs/robustness.md).
constexpr int64_t kMaxTokenIds = int64_t{1} << 24;

// `value` as a token id, or an error naming `field` and `token`.
TokenId token_id(const nlohmann::json& value, const JsonField& field, const std::string& token) {
  // An unsigned value at or above 2^63 reads as negative here, so it is rejected too.
  if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
      value.get<int64_t>() >= kMaxTokenIds) {
    field.fail(fmt::format("id of {}: expected an integer in [0, {}), got {}", token, kMaxTokenIds,
                           shown(value)));
  }
  return static_cast<TokenId>(value.get<int64_t>());
}

BpeConfig parse_bpe(const JsonField& model) {
  const JsonField type = model["type"];
  if (type.string() != "BPE") {
    type.fail("unsupported model type '" + type.string() + "' (supported: BPE)");
  }
  if (const auto dropout = model.find("dropout"); dropout && dropout->number() > 0) {
    dropout->fail("BPE dropout is not supported (it makes encoding random)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (const auto affix = model.find(key); affix && !affix->string().empty()) {
      affix->fail("not supported (byte-level and SentencePiece-style BPE leave it empty)");
    }
  }
  BpeConfig config;
  const JsonField vocab = model["vocab"];
  if (!vocab.json().is_object()) vocab.fail("expected an object of token: id");
  config.vocab.reserve(vocab.json().size());
  for (const auto& [token, id] : vocab.json().items()) {
    config.vocab.emplace(token, token_id(id, vocab, "'" + token + "'"));
  }
  const JsonField merges = model["merges"];
  config.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const JsonField merge = merges[i];
    if (merge.json().is_array() && merge.size() == 2) {  // tokenizers >= 0.20: ["a", "b"]
      config.merges.emplace_back(merge[size_t{0}].string(), merge[size_t{1}].string());
      continue;
    }
    const std::string text = merge.string();  // older files: "a b"
    const size_t space = text.find(' ');
    if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
      merge.fail("expected \"left right\" or [\"left\", \"right\"], got '" + text + "'");
    }
    config.merges.emplace_back(text.substr(0, space), text.substr(space + 1));
  }
  if (const auto unk = model.find("unk_token")) config.unk_token = unk->string();
  config.byte_fallback = model.boolean_or("byte_fallback", false);
  config.fuse_unk = model.boolean_or("fuse_unk", false);
  config.ignore_merges = model.boolean_or("ignore_merges", false);
  return config;
}

std::vector<AddedToken> parse_added_tokens(const JsonField& list) {
  std::vector<AddedToken> tokens;
  for (size_t i = 0; i < list.size(); ++i) {
    const JsonField entry = list[i];
    AddedToken token;
    token.content = entry["content"].string();
    token.id = token_id(entry["id"].json(), entry, "added token '" + token.content + "'");
    if (token.content.empty()) entry["content"].fail("an added token may not be empty");
    token.single_word = entry.boolean_or("single_word", false);
    token.lstrip = entry.boolean_or("lstrip", false);
    token.rstrip = entry.boolean_or("rstrip", false);
    token.special = entry.boolean_or("special", false);
    token.normalized = entry.boolean_or("normalized", !token.special);
    tokens.push_back(std::move(token));
  }
  return tokens;
}

// The id -> token table: null where no token has the id.
using TokenTable = std::vector<const std::string*>;

// Appends to `template_` the ids of a post_processor (ByteLevel adds none); each must be a token
// of `tokens`.
void parse_post_processor(const JsonField& config, const TokenTable& tokens, Template& template_) {
  const JsonField type = config["type"];
  const std::string name = type.string();
  if (name == "ByteLevel") return;
  if (name == "Sequence") {
    const JsonField list = config["processors"];
    for (size_t i = 0; i < list.size(); ++i) parse_post_processor(list[i], tokens, template_);
    return;
  }
  if (name != "TemplateProcessing") {
    type.fail("unsupported post_processor type '" + name +
              "' (supported: TemplateProcessing, ByteLevel, Sequence)");
  }
  const JsonField single = config["single"];
  const JsonField specials = config["special_tokens"];
  bool after_sequence = false;
  for (size_t i = 0; i < single.size(); ++i) {
    const JsonField item = single[i];
    if (item.find("Sequence")) {
      if (after_sequence) item.fail("a single template has one sequence");
      after_sequence = true;
      continue;
    }
    const std::string name = item["SpecialToken"]["id"].string();
    const auto special = specials.find(name.c_str());
    if (!special) specials.fail("no entry for special token '" + name + "'");
    const JsonField ids = (*special)["ids"];
    auto& target = after_sequence ? template_.suffix : template_.prefix;
    for (size_t k = 0; k < ids.size(); ++k) {
      const int64_t id = ids[k].integer();
      if (id < 0 || id >= static_cast<int64_t>(tokens.size()) || tokens[id] == nullptr) {
        ids[k].fail(
            fmt::format("special token '{}': id {} is not a token of the vocabulary", name, id));
      }
      target.push_back(static_cast<TokenId>(id));
    }
  }
}

class HfTokenizer final : public Tokenizer {
 public:
  HfTokenizer(const nlohmann::json& root, const std::string& file);

  std::vector<TokenId> encode(std::string_view text, bool add_special) const override;
  std::string decode(const std::vector<TokenId>& ids) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(id_to_token_.size()); }
  const SpecialTokens& special_tokens() const override { return special_; }
  std::string identity() const override { return identity_; }

 private:
  void encode_plain(std::string text, bool at_text_start, std::vector<TokenId>& ids) const;
  void find_special_tokens(const std::string& file);
  std::optional<TokenId> id_of(const std::string& token) const;

  std::unique_ptr<Bpe> model_;
  std::vector<AddedToken> added_;
  std::unique_ptr<AddedTokenMatcher> raw_matcher_, normalized_matcher_;
  Normalizer normalizer_;
  PreTokenizer pre_tokenizer_;
  Decoder decoder_;
  Template template_;
  TokenTable id_to_token_;  // into model_'s vocabulary and added_, which never change
  SpecialTokens special_;
  std::string identity_;
};

HfTokenizer::HfTokenizer(const nlohmann::json& root, const std::string& file) {
  const JsonField top(root, "", file);
  if (!root.is_object()) top.fail("expected a JSON object");
  try {
    model_ = std::make_unique<Bpe>(parse_bpe(top["model"]));
  } catch (const std::invalid_argument& e) {
    top["model"].fail(e.what());
  }
  if (const auto normalizer = top.find("normalizer")) normalizer_ = make_normalizer(*normalizer);
  if (const auto pre = top.find("pre_tokenizer")) pre_tokenizer_ = make_pre_tokenizer(*pre);
  if (const auto decoder = top.find("decoder")) decoder_ = make_decoder(*decoder);
  if (const auto list = top.find("added_tokens")) added_ = parse_added_tokens(*list);

  // Non-normalized tokens are found in the raw text; normalized ones after normalization, in
  // their normalized spelling.
  std::vector<AddedToken> raw, normalized;
  std::vector<std::string> raw_patterns, normalized_patterns;
  for (const AddedToken& token : added_) {
    std::string pattern = token.content;
    if (token.normalized && normalizer_) normalizer_(pattern);
    (token.normalized ? normalized : raw).push_back(token);
    (token.normalized ? normalized_patterns : raw_patterns).push_back(std::move(pattern));
  }
  raw_matcher_ = std::make_unique<AddedTokenMatcher>(std::move(raw), std::move(raw_patterns));
  normalized_matcher_ =
      std::make_unique<AddedTokenMatcher>(std::move(normalized), std::move(normalized_patterns));

  // Ids were checked to lie in [0, kMaxTokenIds) when read.
  const auto place = [&](TokenId id, const std::string& token) {
    if (static_cast<size_t>(id) >= id_to_token_.size()) id_to_token_.resize(id + 1, nullptr);
    id_to_token_[id] = &token;
  };
  for (const auto& [token, id] : model_->vocab()) place(id, token);
  for (const AddedToken& token : added_) place(token.id, token.content);
  if (const auto post = top.find("post_processor")) {
    parse_post_processor(*post, id_to_token_, template_);
  }
  find_special_tokens(file);

  // Everything that decides ids and text, in nlohmann's canonical (sorted-key) form.
  std::string canonical;
  for (const char* key :
       {"model", "added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder"}) {
    canonical += key;
    canonical += root.contains(key) ? root[key].dump() : "null";
  }
  identity_ = fmt::format("hf-bpe:{:016x}", XXH3_64bits(canonical.data(), canonical.size()));
}

std::optional<TokenId> HfTokenizer::id_of(const std::string& token) const {
  for (const AddedToken& added : added_) {
    if (added.content == token) return added.id;
  }
  const auto it = model_->vocab().find(token);
  if (it == model_->vocab().end()) return std::nullopt;
  return it->second;
}

// tokenizer.json does not say which token is BOS or EOS; tokenizer_config.json beside it does.
// Without one: unk from the model, bos and eos from the post-processor's template.
void HfTokenizer::find_special_tokens(const std::string& file) {
  special_.unk = model_->unk_id();
  if (template_.prefix.size() == 1) special_.bos = template_.prefix[0];
  if (template_.suffix.size() == 1) special_.eos = template_.suffix[0];
  const auto config_file = std::filesystem::path(file).parent_path() / "tokenizer_config.json";
  if (!std::filesystem::exists(config_file)) return;
  const nlohmann::json config = read_json_file(config_file.string());
  if (!config.is_object()) fail("{}: not a JSON object", config_file.string());
  const std::string config_path = config_file.string();
  const JsonField top(config, "", config_path);
  const std::pair<const char*, std::optional<TokenId>*> keys[] = {{"bos_token", &special_.bos},
                                                                  {"eos_token", &special_.eos},
                                                                  {"pad_token", &special_.pad},
                                                                  {"unk_token", &special_.unk}};
  for (const auto& [key, target] : keys) {
    if (config.contains(key) && config[key].is_null()) target->reset();
    const auto field = top.find(key);
    if (!field) continue;
    // "<s>" or {"content": "<s>", ...} (an AddedToken as transformers saves it).
    const JsonField content = field->json().is_object() ? (*field)["content"] : *field;
    if (!content.json().is_string()) content.fail("expected a token string or {\"content\": ...}");
    *target = id_of(content.string());
    if (!*target) content.fail("'" + content.string() + "' is not a token of the vocabulary");
  }
}

void HfTokenizer::encode_plain(std::string text, bool at_text_start,
                               std::vector<TokenId>& ids) const {
  if (normalizer_) normalizer_(text);
  for (const TextPiece& piece : normalized_matcher_->split(text)) {
    if (piece.id >= 0) {
      ids.push_back(piece.id);
      continue;
    }
    std::vector<std::string> words{text.substr(piece.begin, piece.end - piece.begin)};
    if (pre_tokenizer_) pre_tokenizer_(words, at_text_start && piece.begin == 0);
    for (const std::string& word : words) model_->encode_word(word, ids);
  }
}

std::vector<TokenId> HfTokenizer::encode(std::string_view bytes, bool add_special) const {
  const std::string text = repair_utf8(bytes);
  std::vector<TokenId> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_special) ids = template_.prefix;
  for (const TextPiece& piece : raw_matcher_->split(text)) {
    if (piece.id >= 0) {
      ids.push_back(piece.id);
    } else {
      encode_plain(text.substr(piece.begin, piece.end - piece.begin), piece.begin == 0, ids);
    }
  }
  if (add_special) ids.insert(ids.end(), template_.suffix.begin(), template_.suffix.end());
  return ids;
}

std::string HfTokenizer::decode(const std::vector<TokenId>& ids) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const TokenId id : ids) {
    if (id < 0 || id >= vocab_size() || id_to_token_[id] == nullptr) {
      fail("token id {} is not in the vocabulary (0..{})", id, vocab_size() - 1);
    }
    tokens.push_back(*id_to_token_[id]);
  }
  if (!decoder_) {  // HF joins the tokens with spaces then
    std::string text;
    for (size_t i = 0; i < tokens.size(); ++i) text += (i > 0 ? " " : "") + tokens[i];
    return text;
  }
  decoder_(tokens);
  std::string text;
  for (const std::string& token : tokens) text += token;
  return text;
}

}  // namespace

std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& json_file) {
  return std::make_unique<HfTokenizer>(read_json_file(json_file), json_file);
}

}  // namespace pride::text
