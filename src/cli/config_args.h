// The `--config F... --set k=v...` options that train, eval, teach and bench step share, and what
// the distributed ones start from on each rank.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "config/config.h"
#include "distributed/communicator.h"
#include "distributed/device.h"

namespace pride::cli {

struct ConfigArgs {
  std::vector<std::string> files;
  std::vector<std::string> overrides;

  void add_to(CLI::App* command) {
    command->add_option("-c,--config", files, "YAML config file (repeatable; later files win)");
    command->add_option("--set", overrides, "override one key: dotted.key=value (repeatable)");
  }
  Config load() const { return load_config(files, overrides); }
};

// A rank of train, eval or teach: the config, the rank's device and its communicator.
struct Rank {
  Config config;
  torch::Device device;
  std::unique_ptr<Communicator> comm;
};

inline Rank set_up_rank(const ConfigArgs& args, const WorldInfo& world) {
  Config config = args.load();
  const torch::Device device = choose_device(config, world);
  auto comm = make_communicator(config.dist.backend, device, config.dist.timeout_s);
  return {std::move(config), device, std::move(comm)};
}

// A command that takes only --config/--set and runs `job` on every rank (teach, hef, judge).
inline void add_rank_job(CLI::App& app, CommandTable& table, const std::string& name,
                         const std::string& about, std::function<void(Rank& rank)> job) {
  auto args = std::make_shared<ConfigArgs>();
  CLI::App* command =
      table.add(app, name, about, Runs::kOnEveryRank, [args, job](const WorldInfo& world) {
        Rank rank = set_up_rank(*args, world);
        job(rank);
        return 0;
      });
  args->add_to(command);
}

}  // namespace pride::cli
