// Tokenizer unit tests on tiny hand-written tokenizer.json files: merge priority (both merge
// encodings), byte-level and SentencePiece-style BPE, byte fallback, added tokens and their flags,
// the post-processor, decoding invalid UTF-8, and errors that name the file and field.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "text/hf_pipeline.h"
#include "text/regex.h"
#include "text/tokenizer.h"
#include "text/unicode.h"
#include "util/error.h"

namespace pride::text {
namespace {

using nlohmann::json;
using Ids = std::vector<TokenId>;

class TokenizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pride-text-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const auto path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  std::unique_ptr<Tokenizer> load(const json& config) {
    return load_tokenizer(write("tokenizer.json", config.dump()));
  }
  // The pride::Error message of loading `config`.
  std::string load_error(const json& config) {
    try {
      load(config);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }

  std::filesystem::path dir_;
};

// Byte-level BPE over the 256 byte characters (ids 0..255) plus `extra` merged tokens.
json byte_level(const std::vector<std::string>& merged, const json& merges) {
  json vocab = json::object();
  const auto& chars = byte_to_unicode();
  for (int byte = 0; byte < 256; ++byte) vocab[chars[byte]] = byte;
  for (size_t i = 0; i < merged.size(); ++i) vocab[merged[i]] = 256 + static_cast<int>(i);
  return {
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"added_tokens", json::array()}};
}

// SentencePiece-style BPE (Llama 2): Prepend + Replace normalizer, byte fallback, the decoder
// chain.
json sentencepiece_style() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"\u2581", 3},
                {"h", 4},     {"i", 5},   {"hi", 6},   {"\u2581hi", 7}};
  for (int byte = 0; byte < 256; ++byte) vocab[fmt::format("<0x{:02X}>", byte)] = 8 + byte;
  return {{"normalizer",
           {{"type", "Sequence"},
            {"normalizers",
             {{{"type", "Prepend"}, {"prepend", "\u2581"}},
              {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}}},
          {"post_processor",
           {{"type", "TemplateProcessing"},
            {"single",
             {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
            {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
          {"decoder",
           {{"type", "Sequence"},
            {"decoders",
             {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
              {{"type", "ByteFallback"}},
              {{"type", "Fuse"}},
              {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
          {"model",
           {{"type", "BPE"},
            {"vocab", vocab},
            {"merges", {"h i", "\u2581 hi"}},
            {"unk_token", "<unk>"},
            {"byte_fallback", true},
            {"fuse_unk", true}}},
          {"added_tokens",
           {{{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
            {{"id", 2}, {"content", "</s>"}, {"special", true}, {"normalized", false}}}}};
}

TEST_F(TokenizerTest, MergesApplyByRankNotByPosition) {
  // "abc": rank 0 joins b+c first, so "ab" (rank 1) never forms; then a+bc (rank 2).
  const auto tokenizer = load(byte_level({"bc", "ab", "abc"}, {"b c", "a b", "a bc"}));
  EXPECT_EQ(tokenizer->encode("abc", false), (Ids{258}));
  EXPECT_EQ(tokenizer->encode("abd", false), (Ids{257, 'd'}));
  // The same merges as pairs (tokenizers >= 0.20 writes them so) give the same ids.
  const auto pairs = load(byte_level(
      {"bc", "ab", "abc"},
      json::array({json::array({"b", "c"}), json::array({"a", "b"}), json::array({"a", "bc"})})));
  EXPECT_EQ(pairs->encode("abc abd", false), tokenizer->encode("abc abd", false));
}

TEST_F(TokenizerTest, EqualRanksMergeLeftmostFirst) {
  const auto tokenizer = load(byte_level({"aa"}, {"a a"}));
  EXPECT_EQ(tokenizer->encode("aaa", false), (Ids{256, 'a'}));
  EXPECT_EQ(tokenizer->encode("aaaa", false), (Ids{256, 256}));
}

TEST_F(TokenizerTest, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  json config = byte_level({"ab", "abc", "bc"}, {"a b", "b c"});  // "abc" has no merge path
  EXPECT_EQ(load(config)->encode("abc", false), (Ids{256, 'c'}));
  config["model"]["ignore_merges"] = true;
  EXPECT_EQ(load(config)->encode("abc", false), (Ids{257}));
}

TEST_F(TokenizerTest, ByteLevelSplitsWordsAndMapsSpaces) {
  // "Ġ" stands for the space byte; the GPT-2 pattern keeps the space with the following word.
  const auto tokenizer = load(byte_level({"\u0120a"}, {"\u0120 a"}));
  EXPECT_EQ(tokenizer->encode("a a", false), (Ids{'a', 256}));
  EXPECT_EQ(tokenizer->decode({'a', 256}), "a a");
  EXPECT_EQ(tokenizer->vocab_size(), 257);
}

TEST_F(TokenizerTest, ByteLevelDecodeRepairsInvalidUtf8) {
  const auto tokenizer = load(byte_level({}, json::array()));
  EXPECT_EQ(tokenizer->encode("\u20ac", false), (Ids{0xE2, 0x82, 0xAC}));
  EXPECT_EQ(tokenizer->decode({0xE2, 0x82}), "\uFFFD");  // a cut sequence: one U+FFFD
  EXPECT_EQ(tokenizer->decode({0xE2, 'x', 0xFF}), "\uFFFDx\uFFFD");
  EXPECT_EQ(tokenizer->decode({0xE2, 0x82, 0xAC}), "\u20ac");
}

TEST_F(TokenizerTest, InvalidUtf8InputIsEncodedAsReplacementCharacters) {
  const auto tokenizer = load(byte_level({}, json::array()));
  EXPECT_EQ(tokenizer->encode(std::string("a\xE2\x82z", 4), false),
            tokenizer->encode("a\uFFFDz", false));
  EXPECT_EQ(repair_utf8(std::string("\xF0\x9F\x98", 3)), "\uFFFD");
  EXPECT_EQ(repair_utf8(std::string("\xC0\xAF", 2)), "\uFFFD\uFFFD");  // overlong: 2 bad bytes
  EXPECT_EQ(repair_utf8(std::string("\xED\xA0\x80", 3)), "\uFFFD\uFFFD\uFFFD");  // surrogate
}

TEST_F(TokenizerTest, SentencePieceStyleByteFallbackAndDecoderChain) {
  const auto tokenizer = load(sentencepiece_style());
  EXPECT_EQ(tokenizer->encode("hi hi", false), (Ids{7, 7}));
  // "é" is not in the vocabulary: its two UTF-8 bytes as <0xC3> <0xA9>.
  EXPECT_EQ(tokenizer->encode("hi é", false), (Ids{7, 3, 8 + 0xC3, 8 + 0xA9}));
  EXPECT_EQ(tokenizer->decode({7, 3, 8 + 0xC3, 8 + 0xA9}), "hi é");
  // A byte run that is not UTF-8 decodes to one U+FFFD per byte token.
  EXPECT_EQ(tokenizer->decode({7, 8 + 0xC3}), "hi\uFFFD");
  EXPECT_EQ(tokenizer->decode({8 + 0xE2, 8 + 0x82}), "\uFFFD\uFFFD");
  EXPECT_EQ(tokenizer->special_tokens().unk, 0);
}

TEST_F(TokenizerTest, AddSpecialFollowsThePostProcessor) {
  const auto tokenizer = load(sentencepiece_style());
  EXPECT_EQ(tokenizer->encode("hi", true), (Ids{1, 7}));
  EXPECT_EQ(tokenizer->encode("hi", false), (Ids{7}));
  EXPECT_EQ(tokenizer->special_tokens().bos, 1);
  EXPECT_EQ(load(byte_level({}, json::array()))->encode("a", true), (Ids{'a'}));
}

TEST_F(TokenizerTest, AddedTokensAreMatchedBeforeNormalization) {
  const auto tokenizer = load(sentencepiece_style());
  // Each side of "</s>" is normalized on its own: both get the prepended "▁".
  EXPECT_EQ(tokenizer->encode("hi</s>hi", false), (Ids{7, 2, 7}));
  EXPECT_EQ(tokenizer->decode({1, 7, 2}), "<s> hi</s>");
}

TEST_F(TokenizerTest, AddedTokenFlagsStripAndSingleWord) {
  json config = byte_level({}, json::array());
  config["added_tokens"] = {
      {{"id", 300}, {"content", "<m>"}, {"lstrip", true}, {"rstrip", true}, {"special", true}},
      {{"id", 301}, {"content", "cat"}, {"single_word", true}, {"normalized", false}},
      {{"id", 302}, {"content", "<mm>"}, {"special", true}}};
  const auto tokenizer = load(config);
  EXPECT_EQ(tokenizer->encode("a  <m>  b", false), (Ids{'a', 300, 'b'}));
  EXPECT_EQ(tokenizer->encode("<mm>", false), (Ids{302}));  // longest match wins
  EXPECT_EQ(tokenizer->encode("cat", false), (Ids{301}));
  EXPECT_EQ(tokenizer->encode("cats", false), (Ids{'c', 'a', 't', 's'}));
  EXPECT_EQ(tokenizer->vocab_size(), 303);
  EXPECT_THROW(tokenizer->decode({299}), Error);  // a hole between the vocabulary and the tokens
}

TEST_F(TokenizerTest, DecodeRejectsIdsOutOfRange) {
  const auto tokenizer = load(byte_level({}, json::array()));
  EXPECT_THROW(tokenizer->decode({256}), Error);
  EXPECT_THROW(tokenizer->decode({-1}), Error);
}

TEST_F(TokenizerTest, ErrorsNameTheFileAndTheField) {
  json config = sentencepiece_style();
  config["decoder"]["decoders"][1]["type"] = "CTC";
  std::string message = load_error(config);
  EXPECT_NE(message.find("tokenizer.json"), std::string::npos) << message;
  EXPECT_NE(message.find("decoder.decoders[1].type: unsupported decoder type 'CTC'"),
            std::string::npos)
      << message;

  config = sentencepiece_style();
  config["model"]["type"] = "WordPiece";
  EXPECT_NE(load_error(config).find("model.type: unsupported model type 'WordPiece'"),
            std::string::npos);
  config = sentencepiece_style();
  config["normalizer"]["normalizers"][0]["type"] = "Lowercase";
  EXPECT_NE(load_error(config).find("normalizer.normalizers[0].type"), std::string::npos);
  config = byte_level({}, json::array());
  config["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_NE(load_error(config).find("pre_tokenizer.type"), std::string::npos);
  config = byte_level({}, {"a b"});  // "ab" is not in the vocabulary
  EXPECT_NE(load_error(config).find("merges[0]: token 'ab' is not in the vocabulary"),
            std::string::npos);
  config = byte_level({}, json::array());
  config.erase("model");
  EXPECT_NE(load_error(config).find("model: missing"), std::string::npos);
  EXPECT_THROW(load_tokenizer(write("tokenizer.json", "{\"model\": ")), Error);
  EXPECT_THROW(load_tokenizer((dir_ / "absent.json").string()), Error);
}

TEST_F(TokenizerTest, DirectoriesPreferTokenizerJson) {
  write("tokenizer.json", byte_level({}, json::array()).dump());
  write("tokenizer.model", "not a model");
  EXPECT_EQ(load_tokenizer(dir_.string())->vocab_size(), 256);
  std::filesystem::remove(dir_ / "tokenizer.json");
  EXPECT_THROW(load_tokenizer(dir_.string()), Error);  // the .model is not a SentencePiece model
}

TEST_F(TokenizerTest, IdentityChangesWithWhatDecidesIds) {
  const std::string a = load(byte_level({"ab"}, {"a b"}))->identity();
  EXPECT_EQ(a, load(byte_level({"ab"}, {"a b"}))->identity());
  EXPECT_NE(a, load(byte_level({"ab"}, json::array()))->identity());
  EXPECT_EQ(a.rfind("hf-bpe:", 0), 0u);
}

TEST_F(TokenizerTest, TokenizerConfigNamesTheSpecialTokens) {
  write("tokenizer_config.json",
        R"({"bos_token": "<s>", "eos_token": {"content": "</s>"}, "pad_token": null})");
  const auto tokenizer = load(sentencepiece_style());
  EXPECT_EQ(tokenizer->special_tokens().bos, 1);
  EXPECT_EQ(tokenizer->special_tokens().eos, 2);
  EXPECT_FALSE(tokenizer->special_tokens().pad);
}

// --- hostile files (issue 19): each an error naming the file and the field, never a crash -----

TEST_F(TokenizerTest, HostileTokenIdsAreErrorsNamingTheToken) {
  for (const json& id : {json(-1), json(4294967295u), json(int64_t{1} << 31), json(2000000000),
                         json(uint64_t{1} << 63), json(1.5), json("7")}) {
    json config = byte_level({}, json::array());
    config["model"]["vocab"]["zz"] = id;
    const std::string message = load_error(config);
    EXPECT_NE(message.find("tokenizer.json: model.vocab: id of 'zz'"), std::string::npos)
        << id << ": " << message;
    config = byte_level({}, json::array());
    config["added_tokens"] = {{{"id", id}, {"content", "<x>"}}};
    EXPECT_NE(load_error(config).find("added_tokens[0]: id of added token '<x>'"),
              std::string::npos)
        << id << ": " << load_error(config);
  }
}

TEST_F(TokenizerTest, PostProcessorIdsMustBeTokens) {
  for (const json& id : {json(-1), json(100000), json(4294967296u), json(int64_t{1} << 40)}) {
    json config = sentencepiece_style();
    config["post_processor"]["special_tokens"]["<s>"]["ids"] = {id};
    EXPECT_NE(load_error(config).find("post_processor.special_tokens.<s>.ids[0]"),
              std::string::npos)
        << load_error(config);
  }
  json config = sentencepiece_style();  // the suffix too
  config["post_processor"]["single"].push_back({{"SpecialToken", {{"id", "</s>"}}}});
  config["post_processor"]["special_tokens"]["</s>"] = {{"id", "</s>"}, {"ids", {300}}};
  EXPECT_NE(load_error(config).find("special token '</s>': id 300 is not a token"),
            std::string::npos);
}

TEST_F(TokenizerTest, TokenizerConfigSpecialsMustBeTokensOfTheRightType) {
  write("tokenizer_config.json", R"({"eos_token": "<nope>"})");
  EXPECT_NE(load_error(sentencepiece_style()).find("tokenizer_config.json: eos_token: '<nope>'"),
            std::string::npos);
  write("tokenizer_config.json", R"({"bos_token": 1})");
  EXPECT_NE(load_error(sentencepiece_style()).find("bos_token: expected a token string"),
            std::string::npos);
  write("tokenizer_config.json", R"({"pad_token": {"content": 5}})");
  EXPECT_NE(load_error(sentencepiece_style()).find("pad_token.content: expected a token string"),
            std::string::npos);
}

TEST_F(TokenizerTest, WrongTypesNameTheKey) {
  json config = sentencepiece_style();
  config["model"]["dropout"] = "x";
  EXPECT_NE(load_error(config).find("model.dropout: expected a number"), std::string::npos);
  config = sentencepiece_style();
  config["model"]["vocab"] = json::array();
  EXPECT_NE(load_error(config).find("model.vocab: expected an object"), std::string::npos);
}

TEST_F(TokenizerTest, CatastrophicBacktrackingIsAnErrorNamingTheFile) {
  json config = byte_level({}, json::array());
  config["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"Regex", "(a+)+$"}}}, {"behavior", "Isolated"}};
  const auto tokenizer = load(config);
  const std::string text = std::string(40, 'a') + "b";  // 2^40 ways to fail without a limit
  std::string message;
  try {
    tokenizer->encode(text, false);
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("tokenizer.json: pre_tokenizer.pattern: pattern '(a+)+$' gave up"),
            std::string::npos)
      << message;
  config["pre_tokenizer"]["pattern"]["Regex"] = "a\\Cb";  // \C could cut a character in two
  EXPECT_NE(load_error(config).find("does not compile"), std::string::npos);
}

TEST_F(TokenizerTest, RunawayStagesAreErrors) {
  // 40 Replace normalizers that each double the text would make 2^40 bytes.
  json doubling = json::array();
  for (int i = 0; i < 40; ++i) {
    doubling.push_back({{"type", "Replace"}, {"pattern", {{"String", "a"}}}, {"content", "aa"}});
  }
  json config = byte_level({}, json::array());
  config["normalizer"] = {{"type", "Sequence"}, {"normalizers", doubling}};
  std::string message;
  try {
    load(config)->encode("aaaa", false);
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("tokenizer.json: normalizer: turns a text of 4 bytes into"),
            std::string::npos)
      << message;
  // One Replace with a huge content is refused before the result is built.
  config["normalizer"] = {
      {"type", "Replace"}, {"pattern", {{"String", "a"}}}, {"content", std::string(100000, 'b')}};
  EXPECT_THROW(load(config)->encode("aaaa", false), Error);
}

TEST_F(TokenizerTest, DeeplyNestedSequencesAreRefusedAtParseTime) {
  json normalizer = {{"type", "NFC"}};
  for (int i = 0; i < 1000; ++i) {  // 2000 levels of JSON: far over the 256 allowed
    normalizer = {{"type", "Sequence"}, {"normalizers", json::array({std::move(normalizer)})}};
  }
  json config = byte_level({}, json::array());
  config["normalizer"] = std::move(normalizer);
  EXPECT_NE(load_error(config).find("nested"), std::string::npos);
}

TEST(RegexTest, WhiteSpaceIsUnicodeWhiteSpaceAsInOniguruma) {
  const Regex space(oniguruma_to_pcre2(R"(\s+|[^\s\p{L}]+)"), false);
  const auto spans = space.matches("a\u0085\u3000b!");  // NEL and the ideographic space
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0], (Span{1, 6}));
  EXPECT_EQ(spans[1], (Span{7, 8}));
}

}  // namespace
}  // namespace pride::text
