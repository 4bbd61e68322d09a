// Seeds shared by the fuzz targets of both executables: a valid tokenizer.json in the Llama 2
// (SentencePiece-converted) style, for the tokenizer target and the readers that need a tokenizer.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "fuzz.h"

namespace pride::fuzz {
namespace {

using json = nlohmann::json;

json byte_fallback_vocab() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"\u2581", 3},
                {"h", 4},     {"i", 5},   {"hi", 6},   {"\u2581hi", 7}};
  for (int byte = 0; byte < 256; ++byte) vocab[fmt::format("<0x{:02X}>", byte)] = 8 + byte;
  return vocab;
}

// Llama 2 style: Prepend + Replace normalizer, byte fallback, TemplateProcessing, decoder chain,
// plus a Split pre-tokenizer so that a regex is always there to mutate.
json sentencepiece_style() {
  return {{"normalizer",
           {{"type", "Sequence"},
            {"normalizers",
             {{{"type", "Prepend"}, {"prepend", "\u2581"}},
              {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}},
              {{"type", "NFC"}}}}}},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers",
             {{{"type", "Split"},
               {"pattern", {{"Regex", "\\p{N}{1,3}|[^\\s\\p{N}]+|\\s+"}}},
               {"behavior", "Isolated"},
               {"invert", false}},
              {{"type", "Digits"}, {"individual_digits", true}}}}}},
          {"post_processor",
           {{"type", "TemplateProcessing"},
            {"single",
             {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
              {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}}},
            {"special_tokens",
             {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}},
              {"</s>", {{"id", "</s>"}, {"ids", {2}}, {"tokens", {"</s>"}}}}}}}},
          {"decoder",
           {{"type", "Sequence"},
            {"decoders",
             {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
              {{"type", "ByteFallback"}},
              {{"type", "Fuse"}},
              {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
          {"model",
           {{"type", "BPE"},
            {"vocab", byte_fallback_vocab()},
            {"merges", {"h i", "\u2581 hi"}},
            {"unk_token", "<unk>"},
            {"byte_fallback", true},
            {"fuse_unk", true},
            {"dropout", nullptr}}},
          {"added_tokens",
           {{{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
            {{"id", 2}, {"content", "</s>"}, {"special", true}, {"normalized", false}},
            {{"id", 300}, {"content", "<m>"}, {"lstrip", true}, {"rstrip", true}},
            {{"id", 301}, {"content", "cat"}, {"single_word", true}, {"normalized", true}}}}};
}

}  // namespace

std::string llama2_style_tokenizer_json() {
  return sentencepiece_style().dump();
}

}  // namespace pride::fuzz
