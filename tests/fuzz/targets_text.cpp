// Fuzz targets of the tokenizers: tokenizer.json (+ tokenizer_config.json) and SentencePiece
// .model files (protobuf-aware mutation: pieces, trainer and normalizer specs, the charsmap).
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fuzz.h"
#include "text/hf_pipeline.h"
#include "text/tokenizer.h"
#include "util/error.h"

namespace pride::fuzz {
namespace {

using nlohmann::json;
using text::Tokenizer;

// Texts every accepted tokenizer encodes: words, runs for the patterns to backtrack over,
// added-token strings, invalid UTF-8.
const std::vector<std::string>& sample_texts() {
  static const std::vector<std::string> texts = {
      "Hello world, I'm so sad today!  \t 12345",
      "<s>hi</s> <unk> caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD",
      std::string(40, 'a') + "b " + std::string(300, ' ') + "x",
      "bad \xC3 utf8 \xFF\xFE \xED\xA0\x80",
  };
  return texts;
}

// Encodes and decodes the sample texts; ids must lie in [0, vocab_size).
void exercise(const Tokenizer& tokenizer) {
  const int64_t vocab = tokenizer.vocab_size();
  check(vocab > 0, "vocab_size " + std::to_string(vocab));
  for (const std::string& text : sample_texts()) {
    for (const bool special : {false, true}) {
      const std::vector<text::TokenId> ids = tokenizer.encode(text, special);
      for (const text::TokenId id : ids) {
        check(id >= 0 && id < vocab, "encode gave id " + std::to_string(id) + " outside the vocab");
      }
      tokenizer.decode(ids);
    }
  }
  const auto& special = tokenizer.special_tokens();
  for (const auto& id : {special.bos, special.eos, special.pad, special.unk}) {
    if (id) check(*id >= 0 && *id < vocab, "special token id " + std::to_string(*id));
  }
}

// --- tokenizer.json ------------------------------------------------------------------------------

// GPT-2 / Llama 3 style: byte-level BPE with the GPT-2 pattern and a Metaspace stage.
json byte_level_style() {
  json vocab = json::object();
  const auto& chars = text::byte_to_unicode();
  for (int byte = 0; byte < 256; ++byte) vocab[chars[byte]] = byte;
  vocab["\u0120a"] = 256;
  vocab["ab"] = 257;
  return {
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"\u0120 a", "a b"}}}},
      {"normalizer", {{"type", "Replace"}, {"pattern", {{"Regex", "\\s+"}}}, {"content", " "}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern", {{"Regex", "(?i:'s|'t)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\s+(?!\\S)|\\s+"}}},
           {"behavior", "MergedWithPrevious"},
           {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}},
      {"post_processor", {{"type", "ByteLevel"}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"added_tokens", {{{"id", 258}, {"content", "<|end|>"}, {"special", true}}}}};
}

const std::vector<std::string>& tokenizer_words() {
  static const std::vector<std::string> words = {"type",
                                                 "Sequence",
                                                 "BPE",
                                                 "Split",
                                                 "Regex",
                                                 "String",
                                                 "Replace",
                                                 "ByteLevel",
                                                 "Metaspace",
                                                 "Digits",
                                                 "Prepend",
                                                 "NFKC",
                                                 "TemplateProcessing",
                                                 "SpecialToken",
                                                 "ByteFallback",
                                                 "Fuse",
                                                 "Strip",
                                                 "Isolated",
                                                 "Removed",
                                                 "MergedWithNext",
                                                 "Contiguous",
                                                 "<s>",
                                                 "</s>",
                                                 "<unk>",
                                                 "id",
                                                 "ids",
                                                 "content",
                                                 "vocab",
                                                 "merges",
                                                 "normalizers",
                                                 "pretokenizers",
                                                 "decoders",
                                                 "processors",
                                                 "special_tokens",
                                                 "unk_token",
                                                 "bos_token",
                                                 "eos_token",
                                                 "pad_token",
                                                 "prepend_scheme",
                                                 "first",
                                                 "replacement",
                                                 "\u2581",
                                                 "(a+)+$",
                                                 "(\\s*)*$",
                                                 "((a|a?)+)+b",
                                                 "\\C",
                                                 "(?<=a)b",
                                                 "[[:alpha:]]*+",
                                                 "h i",
                                                 "a b c"};
  return words;
}

Target tokenizer_target() {
  Target target;
  target.name = "tokenizer";
  target.main_file = "tokenizer.json";
  target.seed = [](Rng& rng) {
    const json config = {{"bos_token", "<s>"},
                         {"eos_token", {{"content", "</s>"}, {"special", true}}},
                         {"pad_token", nullptr},
                         {"unk_token", "<unk>"}};
    const bool byte_level = rng.chance(0.4);
    Files files{
        {"tokenizer.json", byte_level ? byte_level_style().dump() : llama2_style_tokenizer_json()}};
    if (!byte_level) files["tokenizer_config.json"] = config.dump();
    return files;
  };
  target.mutate = [](Files& files, Rng& rng) {
    const bool config = files.count("tokenizer_config.json") && rng.chance(0.25);
    mutate_json(files[config ? "tokenizer_config.json" : "tokenizer.json"], rng, tokenizer_words());
  };
  target.run = [](const std::string& dir) { exercise(*text::load_tokenizer(dir)); };
  return target;
}

// --- SentencePiece .model: protobuf wire format
// ----------------------------------------------------

struct Field {
  uint64_t number = 0;
  int wire = 0;        // 0 varint, 1 fixed64, 2 bytes, 5 fixed32
  uint64_t value = 0;  // varint, fixed64, fixed32
  std::string bytes;   // wire 2
};

bool read_varint(const std::string& data, size_t& pos, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && pos < data.size(); shift += 7) {
    const auto byte = static_cast<unsigned char>(data[pos++]);
    value |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

void write_varint(std::string& out, uint64_t value) {
  do {
    out += static_cast<char>((value & 0x7F) | (value > 0x7F ? 0x80 : 0));
    value >>= 7;
  } while (value != 0);
}

// The fields of a message, or false when `data` is not one.
bool parse_message(const std::string& data, std::vector<Field>& fields) {
  for (size_t pos = 0; pos < data.size();) {
    uint64_t tag = 0;
    if (!read_varint(data, pos, tag)) return false;
    Field field{tag >> 3, static_cast<int>(tag & 7), 0, {}};
    if (field.wire == 0) {
      if (!read_varint(data, pos, field.value)) return false;
    } else if (field.wire == 1 || field.wire == 5) {
      const size_t size = field.wire == 1 ? 8 : 4;
      if (pos + size > data.size()) return false;
      for (size_t i = 0; i < size; ++i) {
        field.value |= static_cast<uint64_t>(static_cast<unsigned char>(data[pos + i])) << (8 * i);
      }
      pos += size;
    } else if (field.wire == 2) {
      uint64_t size = 0;
      if (!read_varint(data, pos, size) || size > data.size() - pos) return false;
      field.bytes = data.substr(pos, size);
      pos += size;
    } else {
      return false;
    }
    fields.push_back(std::move(field));
  }
  return true;
}

std::string serialize(const std::vector<Field>& fields) {
  std::string out;
  for (const Field& field : fields) {
    write_varint(out, field.number << 3 | static_cast<uint64_t>(field.wire));
    if (field.wire == 0) {
      write_varint(out, field.value);
    } else if (field.wire == 1 || field.wire == 5) {
      for (int i = 0; i < (field.wire == 1 ? 8 : 4); ++i)
        out += static_cast<char>(field.value >> (8 * i));
    } else {
      write_varint(out, field.bytes.size());
      out += field.bytes;
    }
  }
  return out;
}

uint64_t interesting_varint(Rng& rng) {
  const uint64_t values[] = {0,
                             1,
                             2,
                             3,
                             4,
                             5,
                             6,
                             127,
                             255,
                             1u << 31,
                             (1ull << 32) - 1,
                             ~0ull /* -1 as int32/int64 */,
                             1ull << 63,
                             100000000};
  return values[rng.below(sizeof values / sizeof values[0])];
}

// One change to one field of `fields`, descending into sub-messages (a piece, the trainer or
// normalizer spec) `depth` times at most.
void mutate_fields(std::vector<Field>& fields, Rng& rng, int depth) {
  if (fields.empty()) {
    fields.push_back({1 + rng.below(60), 0, interesting_varint(rng), {}});
    return;
  }
  const size_t at = rng.below(fields.size());
  Field& field = fields[at];
  if (field.wire == 2 && depth > 0 && rng.chance(0.6)) {
    std::vector<Field> inner;
    if (parse_message(field.bytes, inner)) {
      mutate_fields(inner, rng, depth - 1);
      field.bytes = serialize(inner);
      return;
    }
  }
  switch (rng.below(7)) {
    case 0:
      fields.erase(fields.begin() + static_cast<std::ptrdiff_t>(at));
      break;
    case 1:
      fields.insert(fields.begin() + static_cast<std::ptrdiff_t>(rng.below(fields.size() + 1)),
                    field);
      break;
    case 2:  // a number changed
      if (field.wire == 2) {
        field = Field{field.number, 0, interesting_varint(rng), {}};
      } else {
        field.value = field.wire == 5 ? rng.next() & 0xFFFFFFFF : interesting_varint(rng);
      }
      break;
    case 3:  // bytes damaged (the charsmap trie, a piece's text)
      if (field.wire == 2) {
        mutate_bytes(field.bytes, rng);
      } else {
        field.value ^= uint64_t{1} << rng.below(32);
      }
      break;
    case 4:
      field.number = rng.chance(0.5) ? 1 + rng.below(6) : 35 + rng.below(10);
      break;
    case 5:
      field.wire = field.wire == 2 ? 0 : 2;
      if (field.wire == 2) field.bytes = std::string(rng.below(16), 'x');
      break;
    default:  // many pieces
      if (field.number == 1 && field.wire == 2) {
        const Field copy = field;
        fields.insert(fields.end(), 1 + rng.below(2000), copy);
      }
      break;
  }
}

std::string read_corpus_file(const std::string& relative) {
  std::ifstream in(std::string(PRIDE_FUZZ_SOURCE_DIR) + "/corpus/" + relative, std::ios::binary);
  if (!in) throw std::runtime_error("missing fuzz seed " + relative);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

Target sentencepiece_target() {
  Target target;
  target.name = "sentencepiece";
  target.main_file = "tokenizer.model";
  target.seed = [](Rng& rng) {
    return Files{{"tokenizer.model",
                  read_corpus_file(rng.chance(0.5) ? "sentencepiece/bpe.model"
                                                   : "sentencepiece/unigram_charsmap.model")}};
  };
  target.mutate = [](Files& files, Rng& rng) {
    std::string& model = files["tokenizer.model"];
    std::vector<Field> fields;
    if (rng.chance(0.8) && parse_message(model, fields)) {
      const size_t mutations = 1 + rng.below(3);
      for (size_t i = 0; i < mutations; ++i) mutate_fields(fields, rng, 2);
      model = serialize(fields);
    } else {
      mutate_bytes(model, rng);
    }
  };
  target.run = [](const std::string& dir) {
    exercise(*text::load_sentencepiece_tokenizer(dir + "/tokenizer.model"));
  };
  return target;
}

}  // namespace

std::vector<Target> text_targets() {
  return {tokenizer_target(), sentencepiece_target()};
}

}  // namespace pride::fuzz
