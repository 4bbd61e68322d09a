// `pride chat render --template DIR|tokenizer_config.json|FILE.jinja [--add-generation-prompt]
// [--var name=value]...`: one JSON message list (or {"messages", "tools"}) per line on standard
// input, each rendered with the model's chat template, as one JSON string per line on standard
// output: what a teacher or student is given (docs/chat-templates.md).
#include <iostream>
#include <memory>

#include "chat/chat_template.h"
#include "chat/render_lines.h"
#include "cli/command.h"

namespace pride::cli {

void add_chat_commands(CLI::App& app, CommandTable& table) {
  struct Args {
    std::string template_path, template_name;
    bool add_generation_prompt = false;
    std::vector<std::string> variables;
  };
  CLI::App* chat = CommandTable::add_group(app, "chat", "chat templates (tokenizer_config.json)");
  auto args = std::make_shared<Args>();
  CLI::App* render =
      table.add(*chat, "render", "message lists on stdin to prompts (JSON strings) on stdout",
                Runs::kInThisProcess, [args](const WorldInfo&) {
                  const auto chat_template =
                      chat::ChatTemplate::load(args->template_path, args->template_name);
                  chat::ChatRenderOptions options;
                  options.add_generation_prompt = args->add_generation_prompt;
                  for (const std::string& assignment : args->variables) {
                    auto [name, value] = chat::parse_variable(assignment);
                    options.variables[name] = std::move(value);
                  }
                  std::ios::sync_with_stdio(false);
                  chat::render_lines(chat_template, std::cin, std::cout, options);
                  return 0;
                });
  render
      ->add_option("--template", args->template_path,
                   "a model directory, its tokenizer_config.json, or a .jinja file")
      ->required();
  render->add_option("--name", args->template_name,
                     "which of several named templates (default: \"default\")");
  render->add_flag("--add-generation-prompt", args->add_generation_prompt,
                   "end with the assistant's turn opening, as for generation");
  render->add_option("--var", args->variables,
                     "a template variable, name=value (JSON when it parses, else a string); "
                     "repeatable, e.g. --var enable_thinking=false");
}

}  // namespace pride::cli
