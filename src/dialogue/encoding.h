// Text repair for the published dialogue CSVs, which mix UTF-8 with Windows-1252 (MELD: bytes
// like 0x92 for ’, C1 control characters standing for them, and "â€™"-style mojibake).
#pragma once

#include <string>
#include <string_view>

namespace pride::dialogue {

// The Unicode code point of Windows-1252 byte `byte` (0x81, 0x8D, 0x8F, 0x90 and 0x9D, which
// Windows-1252 leaves undefined, map to the C1 control of the same value, as Windows does).
char32_t windows1252_code_point(unsigned char byte);

// Valid UTF-8 from mixed bytes, in three steps:
//  1. every valid UTF-8 sequence is kept and every other byte is read as Windows-1252;
//  2. a C1 control character (U+0080..U+009F, which no subtitle means) becomes the Windows-1252
//     character of that byte value: U+0092 -> ’;
//  3. mojibake, UTF-8 that was once read as Windows-1252 ("â€™", "Ã©"), is decoded back: a run
//     of characters whose Windows-1252 bytes form one multi-byte UTF-8 sequence becomes the
//     character that sequence encodes.
// Valid UTF-8 without C1 controls or mojibake comes back unchanged.
std::string decode_mixed_text(std::string_view bytes);

}  // namespace pride::dialogue
