// ChatTemplate loading (model directory, tokenizer_config.json, .jinja file, named templates),
// HF's render variables, message validation, and the render_lines core of `pride chat render`.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/chat_template.h"
#include "chat/render_lines.h"
#include "jinja2_reference.h"
#include "util/error.h"

namespace pride::chat {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

class ChatTemplateFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = fs::temp_directory_path() /
                 ("pride_chat_template_" +
                  std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(directory_);
    fs::create_directories(directory_);
  }
  void TearDown() override { fs::remove_all(directory_); }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(directory_ / name) << text;
  }
  std::string path(const std::string& name = "") const {
    return name.empty() ? directory_.string() : (directory_ / name).string();
  }

  fs::path directory_;
};

const char* const kSimpleConfig = R"({
  "bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": "</s>",
  "chat_template": "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}{{ eos_token }}{{ tools is none }}"
})";

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const pride::Error& error) {
    return error.what();
  }
  return "(no error)";
}

TEST_F(ChatTemplateFiles, LoadsFromDirectoryConfigAndRendersHfVariables) {
  write("tokenizer_config.json", kSimpleConfig);
  const ordered_json messages = ordered_json::parse(R"([{"role": "user", "content": "hi"}])");
  ChatRenderOptions options;
  options.add_generation_prompt = true;
  const std::string expected = "<s>[user]hi[assistant]</s>True";
  EXPECT_EQ(ChatTemplate::load(path()).render(messages, options), expected);
  EXPECT_EQ(ChatTemplate::load(path("tokenizer_config.json")).render(messages, options), expected);
  options.tools = ordered_json::array();
  EXPECT_EQ(ChatTemplate::load(path()).render(messages, options),
            "<s>[user]hi[assistant]</s>False");
  EXPECT_EQ(ChatTemplate::load(path()).special_tokens().at("bos_token"), "<s>");
}

TEST_F(ChatTemplateFiles, JinjaFileBesideTheConfigWins) {
  write("tokenizer_config.json", kSimpleConfig);
  write("chat_template.jinja", "jinja:{{ messages|length }}{{ eos_token }}\n");
  const ordered_json messages = ordered_json::parse(R"([{"role": "user", "content": "hi"}])");
  EXPECT_EQ(ChatTemplate::load(path()).render(messages), "jinja:1</s>");
  EXPECT_EQ(ChatTemplate::load(path("chat_template.jinja")).render(messages), "jinja:1</s>");
  EXPECT_EQ(ChatTemplate::load(path()).origin(), path("chat_template.jinja"));
}

TEST_F(ChatTemplateFiles, NamedTemplatesPickDefaultToolUseOrTheRequestedOne) {
  write("tokenizer_config.json", R"({"chat_template": [
      {"name": "default", "template": "default"}, {"name": "tool_use", "template": "tools"},
      {"name": "rag", "template": "rag"}]})");
  const ordered_json messages = ordered_json::array();
  ChatRenderOptions with_tools;
  with_tools.tools = ordered_json::array();
  EXPECT_EQ(ChatTemplate::load(path()).render(messages), "default");
  EXPECT_EQ(ChatTemplate::load(path()).render(messages, with_tools), "tools");
  EXPECT_EQ(ChatTemplate::load(path(), "rag").render(messages, with_tools), "rag");
  EXPECT_EQ(error_of([&] { ChatTemplate::load(path(), "nope"); }),
            path("tokenizer_config.json") +
                ": no chat template named 'nope' (have: default, rag, tool_use)");
}

TEST_F(ChatTemplateFiles, FindReportsModelsWithoutTemplate) {
  EXPECT_FALSE(ChatTemplate::find(path()).has_value());
  write("tokenizer_config.json", R"({"eos_token": "</s>"})");
  EXPECT_FALSE(ChatTemplate::find(path()).has_value());
  write("tokenizer_config.json", kSimpleConfig);
  ASSERT_TRUE(ChatTemplate::find(path()).has_value());
  EXPECT_EQ(ChatTemplate::find(path())->render(ordered_json::array()), "<s></s>True");
  write("tokenizer_config.json", R"({"chat_template": "{% if %}"})");
  EXPECT_THROW(ChatTemplate::find(path()), pride::Error);
}

TEST_F(ChatTemplateFiles, ExtraVariablesOverrideSpecialTokens) {
  write("tokenizer_config.json", kSimpleConfig);
  ChatRenderOptions options;
  options.variables = {{"eos_token", "<end>"}};
  EXPECT_EQ(ChatTemplate::load(path()).render(ordered_json::array(), options), "<s><end>True");
}

TEST_F(ChatTemplateFiles, ErrorsNameTheFileAndTheMessage) {
  EXPECT_EQ(error_of([&] { ChatTemplate::load(path("nothing_here")); }),
            path("nothing_here") + ": no such file or directory");
  write("tokenizer_config.json", R"({"eos_token": "</s>"})");
  EXPECT_EQ(error_of([&] { ChatTemplate::load(path()); }),
            path("tokenizer_config.json") + ": no chat_template");
  write("tokenizer_config.json",
        R"({"chat_template": "{% for m in messages %}{{ m.content + 1 }}{% endfor %}"})");
  const ChatTemplate chat = ChatTemplate::load(path());
  EXPECT_EQ(error_of([&] { chat.render(ordered_json::parse(R"({"role": "user"})")); }),
            path("tokenizer_config.json") + ": messages must be a JSON array");
  EXPECT_EQ(error_of([&] {
              chat.render(ordered_json::parse(R"([{"role": "user"}, {"content": "x"}])"));
            }),
            path("tokenizer_config.json") + ": messages[1] needs a string \"role\"");
  EXPECT_EQ(
      error_of([&] { chat.render(ordered_json::parse(R"([{"role": "user", "content": 3}])")); }),
      path("tokenizer_config.json") +
          ": messages[0].content must be a string, null or a list of parts");
  EXPECT_EQ(
      error_of([&] { chat.render(ordered_json::parse(R"([{"role": "user", "content": "x"}])")); }),
      path("tokenizer_config.json") + ":1:37: unsupported operand type(s) for +: 'str' and 'int'");
}

TEST(ChatRenderLines, RendersOnePromptPerLine) {
  const ChatTemplate chat(
      "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
      "{% if tools %}{{ tools|length }} tools{% endif %}"
      "{% if add_generation_prompt %}<assistant>{% endif %}{{ who }}",
      "inline.jinja");
  std::istringstream in(
      "[{\"role\": \"user\", \"content\": \"h\\u00e9\\n\"}]\n"
      "\n"
      "{\"messages\": [{\"role\": \"system\", \"content\": \"s\"}], \"tools\": [{}, {}]}\n");
  std::ostringstream out;
  ChatRenderOptions options;
  options.add_generation_prompt = true;
  options.variables[parse_variable("who=\"you\"").first] = parse_variable("who=\"you\"").second;
  EXPECT_EQ(render_lines(chat, in, out, options), 2u);
  EXPECT_EQ(out.str(), "\"<user>hé\\n<assistant>you\"\n\"<system>s2 tools<assistant>you\"\n");
}

TEST(ChatRenderLines, BadLinesNameTheLineNumber) {
  const ChatTemplate chat("{{ messages|length }}", "inline.jinja");
  std::ostringstream out;
  std::istringstream not_json("[]\n{oops\n");
  EXPECT_NE(
      error_of([&] { render_lines(chat, not_json, out, {}, "in.jsonl"); }).find("in.jsonl:2: "),
      std::string::npos);
  std::istringstream bad_message("[{\"content\": \"x\"}]\n");
  EXPECT_EQ(error_of([&] { render_lines(chat, bad_message, out, {}, "in.jsonl"); }),
            "in.jsonl:1: inline.jinja: messages[0] needs a string \"role\"");
  std::istringstream unknown_key("{\"messages\": [], \"extra\": 1}\n");
  EXPECT_EQ(error_of([&] { render_lines(chat, unknown_key, out, {}, "in.jsonl"); }),
            "in.jsonl:1: unknown key \"extra\" (expected \"messages\" and optional \"tools\")");
}

TEST(ChatRenderLines, VariablesParseAsJsonOrString) {
  EXPECT_EQ(parse_variable("enable_thinking=false").second, ordered_json(false));
  EXPECT_EQ(parse_variable("n=3").second, ordered_json(3));
  EXPECT_EQ(parse_variable("date_string=26 Jul 2024").second, ordered_json("26 Jul 2024"));
  EXPECT_EQ(parse_variable("x=a=b").second, ordered_json("a=b"));
  EXPECT_EQ(parse_variable("list=[1, \"a\"]").second, ordered_json::parse("[1, \"a\"]"));
  EXPECT_EQ(error_of([] { parse_variable("novalue"); }), "--var novalue: expected name=value");
}

}  // namespace
}  // namespace pride::chat
