// The core of `pride chat render`: one JSON conversation per input line in, one JSON string (the
// rendered prompt) per output line out, so a user can see exactly what a model will be given.
#pragma once

#include <nlohmann/json.hpp>

#include <iosfwd>
#include <string>
#include <utility>

#include "chat/chat_template.h"

namespace pride::chat {

// Renders every non-blank line of `in`: a message list, or an object {"messages": [...],
// "tools": [...]} (tools optional; they override options.tools). Errors name `input_name` and
// the line number. Returns the number of prompts written.
size_t render_lines(const ChatTemplate& chat, std::istream& in, std::ostream& out,
                    const ChatRenderOptions& options, const std::string& input_name = "<stdin>");

// "--var name=value": the value is parsed as JSON when it is valid JSON (false, 3, "x", [..]),
// else taken as a string.
std::pair<std::string, nlohmann::ordered_json> parse_variable(const std::string& assignment);

}  // namespace pride::chat
