// `pride teach --config F`: the teacher pass (dialogue JSONL -> training HDF5) on every rank.
#include "cli/config_args.h"
#include "teacher/teacher_pass.h"

namespace pride::cli {

void add_teach_command(CLI::App& app, CommandTable& table) {
  add_rank_job(app, table, "teach",
               "teacher pass: dialogue JSONL -> training HDF5 (reasoning PI, top-K, hidden states)",
               [](Rank& rank) { teacher::run_teach(rank.config, *rank.comm, rank.device); });
}

}  // namespace pride::cli
