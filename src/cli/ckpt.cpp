// `pride ckpt inspect DIR` and `pride ckpt export DIR --out F.safetensors | --merged DIR | --peft
// DIR`: checkpoint tools.
#include <fmt/format.h>

#include <filesystem>
#include <memory>

#include "checkpoints/checkpoint.h"
#include "cli/command.h"
#include "models/lora_export.h"
#include "models/student_init.h"
#include "util/error.h"

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

// The safetensors file and, when the checkpoint describes its student, the card beside it.
void export_student(const std::string& checkpoint, const std::string& out) {
  export_safetensors(checkpoint, out);
  fmt::print("wrote {}\n", out);
  const std::string card = write_student_card(checkpoint, out);
  if (!card.empty()) fmt::print("wrote {} (pride generate --checkpoint its directory)\n", card);
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
  auto merged = std::make_shared<std::string>();
  auto peft = std::make_shared<std::string>();
  CLI::App* export_command = table.add(
      *ckpt, "export",
      "student weights as a safetensors file, a merged Hugging Face model, or a PEFT adapter",
      Runs::kInThisProcess, [dir, out, merged, peft](const WorldInfo&) {
        const std::string checkpoint = checkpoint_path(*dir);
        if (out->empty() && merged->empty() && peft->empty()) {
          fail("pride ckpt export: give --out FILE, --merged DIR or --peft DIR");
        }
        if (!out->empty()) export_student(checkpoint, *out);
        if (!merged->empty()) {
          export_merged(checkpoint, *merged);
          fmt::print("wrote {} (a Hugging Face model, LoRA adapters merged)\n", *merged);
        }
        if (!peft->empty()) {
          export_peft(checkpoint, *peft);
          fmt::print("wrote {} (a PEFT LoRA adapter)\n", *peft);
        }
        return 0;
      });
  export_command->add_option("dir", *dir, "checkpoint directory")->required();
  export_command->add_option("--out", *out,
                             "output .safetensors file (pride's names, every weight)");
  export_command->add_option("--merged", *merged,
                             "output directory: a Hugging Face model, LoRA adapters merged");
  export_command->add_option("--peft", *peft, "output directory: a PEFT LoRA adapter");
}

}  // namespace pride::cli
