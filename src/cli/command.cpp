// The command table (see command.h).
#include "cli/command.h"

#include "util/error.h"

namespace pride::cli {

CLI::App* CommandTable::add(CLI::App& parent, const std::string& name, const std::string& about,
                            Runs runs, RunCommand run) {
  CLI::App* parser = parent.add_subcommand(name, about);
  commands_.push_back({parser, runs, std::move(run)});
  return parser;
}

CLI::App* CommandTable::add_group(CLI::App& parent, const std::string& name,
                                  const std::string& about) {
  CLI::App* group = parent.add_subcommand(name, about);
  group->require_subcommand(1);
  return group;
}

const Command& CommandTable::chosen() const {
  for (const Command& command : commands_) {
    if (command.parser->parsed()) return command;
  }
  fail("no command given (pride --help lists them)");
}

void add_all_commands(CLI::App& app, CommandTable& table) {
  using AddCommands = void (*)(CLI::App&, CommandTable&);
  static constexpr AddCommands kCommands[] = {
      add_train_command, add_eval_command,  add_teach_command,    add_hef_command,
      add_data_commands, add_shard_command, add_ckpt_commands,    add_bench_commands,
      add_judge_command, add_score_command, add_tokenize_command, add_generate_command,
      add_chat_commands};
  for (AddCommands add : kCommands) add(app, table);
}

}  // namespace pride::cli
