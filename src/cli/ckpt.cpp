// `pride ckpt inspect DIR` and `pride ckpt export DIR --out F.safetensors`: checkpoint tools.
#include <fmt/format.h>

#include <filesystem>
#include <memory>

#include "checkpoints/checkpoint.h"
#include "cli/command.h"
#include "models/student_init.h"

namespace pride::cli {
namespace {

// Lets the checkpoint tools take a checkpoint directory, a checkpoint root or its `latest` file.
std::string checkpoint_path(const std::string& given) {
  namespace fs = std::filesystem;
  fs::path root(given);
  if (fs::is_regular_file(root) && root.filename() == "latest") root = root.parent_path();
  if (fs::is_directory(root)) {
    if (const auto latest = read_latest(root.string())) return *latest;
  }
  return given;
}

}  // namespace

void add_ckpt_commands(CLI::App& app, CommandTable& table) {
  CLI::App* ckpt = CommandTable::add_group(app, "ckpt", "checkpoint tools");
  auto dir = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  CLI::App* inspect = table.add(*ckpt, "inspect", "manifest, sizes and full verification",
                                Runs::kInThisProcess, [dir](const WorldInfo&) {
                                  fmt::print("{}", inspect_checkpoint(checkpoint_path(*dir)));
                                  return 0;
                                });
  inspect->add_option("dir", *dir, "checkpoint directory")->required();
  CLI::App* export_command =
      table.add(*ckpt, "export", "student weights as a safetensors file", Runs::kInThisProcess,
                [dir, out](const WorldInfo&) {
                  const std::string checkpoint = checkpoint_path(*dir);
                  export_safetensors(checkpoint, *out);
                  fmt::print("wrote {}\n", *out);
                  const std::string card = write_student_card(checkpoint, *out);
                  if (!card.empty())
                    fmt::print("wrote {} (pride generate --checkpoint its directory)\n", card);
                  return 0;
                });
  export_command->add_option("dir", *dir, "checkpoint directory")->required();
  export_command->add_option("--out", *out, "output .safetensors file")->required();
}

}  // namespace pride::cli
