// render_lines: JSONL conversations to JSONL prompts.
#include "chat/render_lines.h"

#include <istream>
#include <ostream>

#include "io/json_file.h"
#include "util/error.h"

namespace pride::chat {
namespace {

using nlohmann::ordered_json;

bool is_blank(const std::string& line) {
  return line.find_first_not_of(" \t\r\n") == std::string::npos;
}

// A line's messages, and its tools when the line is an object that has them.
std::pair<ordered_json, std::optional<ordered_json>> parse_conversation(const std::string& line) {
  ordered_json parsed = parse_ordered_json(line, "the line");
  if (parsed.is_array()) return {parsed, std::nullopt};
  if (!parsed.is_object()) pride::fail("expected a message list or an object with \"messages\"");
  for (const auto& [key, value] : parsed.items()) {
    if (key != "messages" && key != "tools") {
      pride::fail("unknown key \"{}\" (expected \"messages\" and optional \"tools\")", key);
    }
  }
  if (!parsed.contains("messages")) pride::fail("the object has no \"messages\"");
  std::optional<ordered_json> tools;
  if (parsed.contains("tools") && !parsed["tools"].is_null()) tools = parsed["tools"];
  return {parsed["messages"], tools};
}

}  // namespace

size_t render_lines(const ChatTemplate& chat, std::istream& in, std::ostream& out,
                    const ChatRenderOptions& options, const std::string& input_name) {
  std::string line;
  size_t line_number = 0, rendered = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (is_blank(line)) continue;
    try {
      auto [messages, tools] = parse_conversation(line);
      ChatRenderOptions line_options = options;
      if (tools) line_options.tools = std::move(tools);
      const std::string prompt = chat.render(messages, line_options);
      out << ordered_json(prompt).dump(-1, ' ', false) << '\n';
      ++rendered;
    } catch (const ordered_json::exception& error) {
      pride::fail("{}:{}: {}", input_name, line_number, error.what());
    } catch (const pride::Error& error) {
      pride::fail("{}:{}: {}", input_name, line_number, error.what());
    }
  }
  return rendered;
}

std::pair<std::string, ordered_json> parse_variable(const std::string& assignment) {
  const size_t equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0) {
    pride::fail("--var {}: expected name=value", assignment);
  }
  const std::string name = assignment.substr(0, equals);
  const std::string text = assignment.substr(equals + 1);
  ordered_json value = ordered_json::parse(text, nullptr, false);
  if (value.is_discarded()) value = text;
  return {name, value};
}

}  // namespace pride::chat
