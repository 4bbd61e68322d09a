// `pride score --in FILE.jsonl`: BLEU-1..4, ROUGE-L, Dist-1/2 of hypotheses against references.
#include <fmt/format.h>

#include <memory>

#include "cli/command.h"
#include "eval/text_metrics.h"

namespace pride::cli {

void add_score_command(CLI::App& app, CommandTable& table) {
  auto in = std::make_shared<std::string>();
  CLI::App* command = table.add(
      app, "score", "BLEU-1..4, ROUGE-L, Dist-1/2, length of hypotheses vs references (JSON)",
      Runs::kInThisProcess, [in](const WorldInfo&) {
        fmt::print("{}\n", score_jsonl(*in).to_json().dump());
        return 0;
      });
  command
      ->add_option("--in", *in,
                   "JSONL: {\"hypothesis\": H, \"reference\": R}, each ids or text, per line")
      ->required();
}

}  // namespace pride::cli
