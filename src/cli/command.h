// The command table of the `pride` binary. Each command lives in its own file under src/cli/: it
// adds its parser (options only) and a function that runs it; main() parses the command line, then
// runs the one command chosen. Subsystems expose functions and never see the command line.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace pride {
struct WorldInfo;
}

namespace pride::cli {

// Where a command runs: in this one process, or on every rank of an MPI job (MPI is set up first,
// and an error on any rank ends the whole job with that rank's message).
enum class Runs { kInThisProcess, kOnEveryRank };

// Runs a command once its options are parsed; returns the exit code.
using RunCommand = std::function<int(const WorldInfo& world)>;

struct Command {
  CLI::App* parser = nullptr;
  Runs runs = Runs::kInThisProcess;
  RunCommand run;
};

class CommandTable {
 public:
  // Adds the command `name` under `parent` and returns its parser, for the command's options.
  CLI::App* add(CLI::App& parent, const std::string& name, const std::string& about, Runs runs,
                RunCommand run);
  // A group (`data`, `ckpt`, `bench`) whose subcommands are the commands; one must be chosen.
  static CLI::App* add_group(CLI::App& parent, const std::string& name, const std::string& about);
  // The command that the parsed command line names.
  const Command& chosen() const;

 private:
  std::vector<Command> commands_;
};

// Every command of `pride`, in the order `pride --help` lists them.
void add_all_commands(CLI::App& app, CommandTable& table);

// Each command file's entry point (src/cli/<name>.cpp).
void add_train_command(CLI::App& app, CommandTable& table);
void add_eval_command(CLI::App& app, CommandTable& table);
void add_teach_command(CLI::App& app, CommandTable& table);
void add_hef_command(CLI::App& app, CommandTable& table);
void add_judge_command(CLI::App& app, CommandTable& table);
void add_data_commands(CLI::App& app, CommandTable& table);  // data synth | inspect | convert
void add_shard_command(CLI::App& app, CommandTable& table);
void add_ckpt_commands(CLI::App& app, CommandTable& table);   // ckpt inspect | export
void add_bench_commands(CLI::App& app, CommandTable& table);  // bench allreduce | step
void add_score_command(CLI::App& app, CommandTable& table);
void add_tokenize_command(CLI::App& app, CommandTable& table);
void add_generate_command(CLI::App& app, CommandTable& table);
void add_chat_commands(CLI::App& app, CommandTable& table);  // chat render

}  // namespace pride::cli
