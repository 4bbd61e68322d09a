// The stages of a Hugging Face tokenizer.json around its model: normalizers, pre-tokenizers,
// decoders and the byte-level byte<->character mapping, each built from its JSON object. A type
// this file does not implement is an error naming the field.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "text/json_field.h"

namespace pride::text {

// Rewrites the text of one segment (between added tokens) in place.
using Normalizer = std::function<void(std::string& text)>;
// Splits and rewrites the words of one segment; `at_text_start`: the segment begins the input
// (Metaspace's prepend_scheme "first" prepends only there).
using PreTokenizer = std::function<void(std::vector<std::string>& words, bool at_text_start)>;
// Rewrites the token strings on their way back to text (HF's decode_chain); joined afterwards.
using Decoder = std::function<void(std::vector<std::string>& tokens)>;

Normalizer make_normalizer(const JsonField& config);
PreTokenizer make_pre_tokenizer(const JsonField& config);
Decoder make_decoder(const JsonField& config);

// GPT-2's reversible map from the 256 byte values to printable characters (UTF-8 encoded).
const std::vector<std::string>& byte_to_unicode();
std::string bytes_to_byte_level(std::string_view bytes);

}  // namespace pride::text
