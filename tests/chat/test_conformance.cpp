// Conformance against Python's jinja2 configured as Hugging Face configures it: every template in
// tests/chat/templates (published formats of Llama 3.2, Qwen2.5, Qwen3, Mistral v0.3, Gemma 2/3,
// and a ChatML template with macros) x every conversation in conversations.json x
// add_generation_prompt on/off x the variable sets renders byte-identically, or fails in both.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "chat/chat_template.h"
#include "jinja2_reference.h"
#include "util/error.h"

namespace pride::chat {
namespace {

using nlohmann::ordered_json;
using testing::ReferenceResult;

struct Outcome {
  bool ok = false;
  std::string text;  // the prompt, or the error
};

Outcome render_with_pride(const std::string& directory, const ordered_json& chat_case) {
  try {
    ChatRenderOptions options;
    options.add_generation_prompt = chat_case["add_generation_prompt"].get<bool>();
    if (!chat_case["tools"].is_null()) options.tools = chat_case["tools"];
    options.variables = chat_case["variables"];
    return {true, ChatTemplate::load(directory).render(chat_case["messages"], options)};
  } catch (const pride::Error& error) {
    return {false, error.what()};
  }
}

ordered_json read_json(const std::string& path) {
  std::ifstream in(path);
  return ordered_json::parse(in);
}

TEST(ChatConformance, PublishedTemplatesMatchJinja2) {
  const std::string python = testing::find_jinja2_python();
  if (python.empty()) GTEST_SKIP() << "python3 with jinja2 not found (set PRIDE_PYTHON)";
  const ordered_json fixtures = read_json(testing::source_path("tests/chat/conversations.json"));
  std::vector<std::string> directories;
  for (const auto& entry :
       std::filesystem::directory_iterator(testing::source_path("tests/chat/templates"))) {
    directories.push_back(entry.path().string());
  }
  std::sort(directories.begin(), directories.end());
  ASSERT_GE(directories.size(), 6u);

  ordered_json cases = ordered_json::array();
  std::vector<std::string> labels, case_directories;
  for (const std::string& directory : directories) {
    for (const auto& conversation : fixtures["conversations"]) {
      for (bool generation_prompt : {false, true}) {
        for (const auto& variables : fixtures["variable_sets"]) {
          cases.push_back({{"kind", "chat"},
                           {"tokenizer_config", directory + "/tokenizer_config.json"},
                           {"messages", conversation["messages"]},
                           {"tools", conversation.value("tools", ordered_json())},
                           {"add_generation_prompt", generation_prompt},
                           {"variables", variables}});
          labels.push_back(std::filesystem::path(directory).filename().string() + " x " +
                           conversation["name"].get<std::string>() +
                           (generation_prompt ? " +generation prompt " : " ") + variables.dump());
          case_directories.push_back(directory);
        }
      }
    }
  }
  const std::vector<ReferenceResult> expected = testing::render_with_jinja2(python, cases);
  std::map<std::string, std::pair<int, int>> rendered_and_failed;  // per template
  for (size_t i = 0; i < cases.size(); ++i) {
    const Outcome actual = render_with_pride(case_directories[i], cases[i]);
    const std::string name = std::filesystem::path(case_directories[i]).filename().string();
    (expected[i].ok ? rendered_and_failed[name].first : rendered_and_failed[name].second)++;
    if (expected[i].ok) {
      EXPECT_TRUE(actual.ok) << labels[i] << "\njinja2 rendered, pride failed: " << actual.text;
      if (actual.ok) EXPECT_EQ(actual.text, expected[i].output) << labels[i];
    } else {
      EXPECT_FALSE(actual.ok) << labels[i] << "\njinja2 failed (" << expected[i].error
                              << "), pride rendered:\n"
                              << actual.text;
    }
  }
  for (const auto& [name, counts] : rendered_and_failed) {
    std::cout << "[ conformance ] " << name << ": " << counts.first << " rendered identically, "
              << counts.second << " errors in both\n";
    // Most cases must render: a template that mostly raises would prove little.
    EXPECT_GE(counts.first, counts.second) << name;
  }
  std::cout << "[ conformance ] " << directories.size() << " templates x "
            << fixtures["conversations"].size() << " conversations x 2 x "
            << fixtures["variable_sets"].size() << " variable sets = " << cases.size()
            << " cases\n";
}

}  // namespace
}  // namespace pride::chat
