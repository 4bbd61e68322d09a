// `pride eval`: load a checkpoint's student and evaluate it PI-free (see checkpoint_eval.h).
#include "eval/checkpoint_eval.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "checkpoints/checkpoint.h"
#include "data/reader.h"
#include "eval/evaluator.h"
#include "eval/generation_eval.h"
#include "models/flat_state.h"
#include "models/student.h"
#include "models/student_init.h"
#include "util/error.h"

namespace pride {

std::string run_checkpoint_eval(const Config& config, Communicator& comm,
                                const torch::Device& device, const std::string& checkpoint,
                                const EvalOptions& options) {
  const auto eval_data = DialogueDataset::open(config.data.eval);
  const StudentSpec spec = student_spec(config.model, config.run.seed, eval_data.info());
  Student model = make_student(spec, device, /*load_pretrained=*/false);
  FlatParameters flat(*model);
  const auto resumed = load_resume_point(checkpoint, comm);
  if (!resumed) fail("--checkpoint {}: no checkpoint found there", checkpoint);
  load_checkpoint_params(resumed->state, resumed->path, flat);
  auto result = evaluate(model, eval_data, config, comm, device).to_json(resumed->state.step);
  result["checkpoint"] = resumed->path;
  if (options.generate) {
    const std::string dir =
        options.out_dir.empty()
            ? fmt::format("{}/eval/{}", config.run.dir, step_dir_name(resumed->state.step))
            : options.out_dir;
    if (comm.rank() == 0) std::filesystem::create_directories(dir);
    const std::string tokenizer = options.tokenizer.empty() ? spec.tokenizer : options.tokenizer;
    const auto scores =
        evaluate_generation(model, eval_data, config, comm, dir + "/responses.jsonl", tokenizer);
    if (comm.rank() == 0) {  // the scores exist on rank 0 only
      result.update(scores);
      std::ofstream(dir + "/metrics.json") << result.dump(2) << "\n";
    }
  }
  return result.dump();
}

}  // namespace pride
