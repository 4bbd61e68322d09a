// `pride shard --in FILE --out DIR --shards M`: a data file split into M files plus a manifest.
#include <fmt/format.h>

#include <memory>

#include "cli/command.h"
#include "sharding/shard_tool.h"

namespace pride::cli {

void add_shard_command(CLI::App& app, CommandTable& table) {
  struct Args {
    std::string in, out;
    int64_t shards = 0;
  };
  auto args = std::make_shared<Args>();
  CLI::App* command = table.add(app, "shard", "split a data file into M files plus a manifest",
                                Runs::kInThisProcess, [args](const WorldInfo&) {
                                  shard_file(args->in, args->out, args->shards);
                                  fmt::print("wrote {} shards to {}\n", args->shards, args->out);
                                  return 0;
                                });
  command->add_option("--in", args->in, "input HDF5 file")->required();
  command->add_option("--out", args->out, "output directory")->required();
  command->add_option("--shards", args->shards, "number of shards")
      ->required()
      ->check(CLI::PositiveNumber);
}

}  // namespace pride::cli
