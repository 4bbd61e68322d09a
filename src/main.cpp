// The `pride` binary: one entry point with subcommands.
//   pride train --config F [--set k=v]... [--resume auto|PATH]  train (N ranks under mpirun/srun)
//   pride eval --config F --checkpoint DIR [--generate]          PI-free eval of a checkpoint
//   pride data synth|inspect                                     synthetic data, validation
//   pride data convert --from ED|meld|esconv --in F --out F.jsonl  data sets to dialogue text
//   pride teach --config F                                       teacher pass: JSONL -> HDF5 shards
//   pride shard --in FILE --out DIR --shards M                   split a data file across ranks
//   pride ckpt inspect|export                                    checkpoint tools
//   pride bench allreduce|step                                   communicator bandwidth, step time
//   pride tokenize --tokenizer FILE|DIR [--add-special] [--decode] text lines <-> JSON token ids
//   pride generate --model DIR | --checkpoint DIR ...            generate (HF LM or a student)
//   pride score --in FILE.jsonl                                  BLEU, ROUGE-L, Dist-n of responses
// Exit codes: 0 success, 2 bad input (a pride::Error: the message names the file, key or sample),
// 69 a transient fault (collective timeout, lost rank, full disk: the Slurm templates requeue a
// bounded number of times), 1 any other failure, 75 preempted after a checkpoint (requeued).
#include <fmt/format.h>
#include <torch/torch.h>
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "checkpoints/checkpoint.h"
#include "config/config.h"
#include "data/inspect.h"
#include "data/synth.h"
#include "dialogue/convert_command.h"
#include "distributed/bench_allreduce.h"
#include "distributed/communicator.h"
#include "models/generate_command.h"
#include "models/student_init.h"
#include "sharding/shard_tool.h"
#include "teacher/teacher_pass.h"
#include "text/tokenize_command.h"
#include "training/bench_step.h"
#include "training/text_metrics.h"
#include "training/trainer.h"
#include "util/error.h"

namespace pride {
namespace {

struct ConfigArgs {
  std::vector<std::string> files;
  std::vector<std::string> overrides;

  void add_to(CLI::App* command) {
    command->add_option("-c,--config", files, "YAML config file (repeatable; later files win)");
    command->add_option("--set", overrides, "override one key: dotted.key=value (repeatable)");
  }
};

// Threads per rank, unless OMP_NUM_THREADS says: torch's own default (about one per physical
// core), shared among this node's ranks. Not more: an OpenMP pool wider than its free cores spins
// at every op while other processes hold them (35x slower steps on a busy 2-core machine).
void set_thread_count(const WorldInfo& world) {
  if (std::getenv("OMP_NUM_THREADS") != nullptr) return;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int share = std::min(torch::get_num_threads(), cores) / std::max(1, world.local_size);
  torch::set_num_threads(std::max(1, share));
}

// Under srun, MPI must see the whole step: a broken PMI/PMIx wiring instead starts N one-rank
// jobs that all write the same run.dir. (A larger world is fine: mpirun inside `srun --pty bash`.)
void check_slurm_wiring(const WorldInfo& world) {
  const char* tasks = std::getenv("SLURM_STEP_NUM_TASKS");
  if (tasks == nullptr || std::atoi(tasks) <= world.world_size) return;
  fail(
      "srun started {} tasks but MPI sees a world of {} rank(s): MPI is not wired to Slurm (try "
      "srun --mpi=pmix, or check `srun --mpi=list`); refusing to start {} separate jobs",
      tasks, world.world_size, tasks);
}

// Runs a distributed command: MPI up, then `body`; an error on any rank ends the whole job with
// that rank's message.
int run_distributed(int* argc, char*** argv, const std::function<int(const WorldInfo&)>& body) {
  const WorldInfo world = init_world(argc, argv);
  set_thread_count(world);
  int code = 0;
  try {
    check_slurm_wiring(world);
    code = body(world);
  } catch (const TransientError& e) {
    abort_world(e.what(), kTransientFaultExitCode);
  } catch (const Error& e) {
    abort_world(e.what(), kBadInputExitCode);
  } catch (const std::exception& e) {
    abort_world(e.what(), 1);
  }
  finalize_world();
  return code;
}

// Lets the checkpoint tools take a checkpoint directory, a checkpoint root or its `latest` file.
std::string checkpoint_path(const std::string& given) {
  namespace fs = std::filesystem;
  fs::path path(given);
  if (fs::is_directory(path) && fs::exists(path / "latest")) path /= "latest";
  if (fs::is_regular_file(path) && path.filename() == "latest") {
    std::ifstream in(path);
    std::string name;
    std::getline(in, name);
    return (path.parent_path() / name).string();
  }
  return given;
}

void print_version() {
  fmt::print("pride 0.1.0 (LibTorch {}, NCCL backend {})\n", TORCH_VERSION,
#ifdef PRIDE_WITH_NCCL
             "built"
#else
             "not built"
#endif
  );
}

int run_cli(int argc, char** argv) {
  CLI::App app{"pride: privileged-information knowledge distillation trainer"};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] {
    print_version();
    return std::string();
  });

  ConfigArgs train_config;
  std::string resume;
  auto* train = app.add_subcommand("train", "train a student (start with mpirun/srun for N ranks)");
  train_config.add_to(train);
  train->add_option("--resume", resume,
                    "auto (newest valid checkpoint, if any) or a checkpoint path");

  ConfigArgs eval_config;
  std::string eval_checkpoint;
  auto* eval = app.add_subcommand("eval", "evaluate a checkpoint on data.eval without PI (JSON)");
  eval_config.add_to(eval);
  eval->add_option("--checkpoint", eval_checkpoint, "checkpoint directory or checkpoint root")
      ->required();
  EvalOptions eval_options;
  eval->add_flag("--generate", eval_options.generate,
                 "also generate responses (eval.* options) and score BLEU, ROUGE-L, Dist-n");
  eval->add_option("--out", eval_options.out_dir,
                   "with --generate: directory for metrics.json and responses.jsonl (default "
                   "<run.dir>/eval/step_<N>)");
  eval->add_option("--tokenizer", eval_options.tokenizer,
                   "with --generate: score the words of the decoded responses (tokenizer.json, "
                   ".model or a directory; default model.tokenizer or init_from's; none: ids)");

  ConfigArgs teach_config;
  auto* teach = app.add_subcommand(
      "teach",
      "teacher pass: dialogue JSONL -> training HDF5 (reasoning PI, top-K, hidden states)");
  teach_config.add_to(teach);

  auto* data = app.add_subcommand("data", "synthesize and validate data files");
  data->require_subcommand(1);
  SynthOptions synth_options;
  std::string synth_out;
  auto* synth = data->add_subcommand("synth", "write a synthetic data set (same seed, same file)");
  synth->add_option("--out", synth_out, "output HDF5 file")->required();
  synth->add_option("--samples", synth_options.samples, "number of samples")->capture_default_str();
  synth->add_option("--seed", synth_options.seed, "seed of the samples")->capture_default_str();
  synth
      ->add_option("--world-seed", synth_options.world_seed,
                   "seed of the generator's tables (keep it equal for train and eval sets)")
      ->capture_default_str();
  synth->add_option("--vocab", synth_options.vocab_size, "vocabulary size")->capture_default_str();
  synth->add_option("--topk", synth_options.topk, "teacher top-K")->capture_default_str();
  synth->add_option("--hidden", synth_options.teacher_hidden, "teacher hidden width")
      ->capture_default_str();
  synth->add_option("--emotions", synth_options.num_emotions, "emotion classes")
      ->capture_default_str();
  synth->add_option("--causes", synth_options.num_causes, "latent causes")->capture_default_str();
  synth->add_option("--audio-dim", synth_options.audio_dim, "audio feature width, 0: none")
      ->capture_default_str();
  synth->add_option("--visual-dim", synth_options.visual_dim, "visual feature width, 0: none")
      ->capture_default_str();
  synth->add_option("--min-context", synth_options.min_context, "shortest context, tokens")
      ->capture_default_str();
  synth->add_option("--max-context", synth_options.max_context, "longest context, tokens")
      ->capture_default_str();
  synth->add_flag("--half", synth_options.half_precision,
                  "store features and log-probs as float16");
  std::string inspect_path;
  auto* inspect = data->add_subcommand("inspect", "check every invariant of a data file; summary");
  inspect->add_option("file", inspect_path, "HDF5 data file")->required();
  dialogue::add_convert_command(*data);  // runs from its callback, inside the parse below

  std::string shard_in, shard_out;
  int64_t shard_count = 0;
  auto* shard = app.add_subcommand("shard", "split a data file into M files plus a manifest");
  shard->add_option("--in", shard_in, "input HDF5 file")->required();
  shard->add_option("--out", shard_out, "output directory")->required();
  shard->add_option("--shards", shard_count, "number of shards")
      ->required()
      ->check(CLI::PositiveNumber);

  auto* ckpt = app.add_subcommand("ckpt", "checkpoint tools");
  ckpt->require_subcommand(1);
  std::string ckpt_path, export_out;
  auto* ckpt_inspect = ckpt->add_subcommand("inspect", "manifest, sizes and full verification");
  ckpt_inspect->add_option("dir", ckpt_path, "checkpoint directory")->required();
  auto* ckpt_export = ckpt->add_subcommand("export", "student weights as a safetensors file");
  ckpt_export->add_option("dir", ckpt_path, "checkpoint directory")->required();
  ckpt_export->add_option("--out", export_out, "output .safetensors file")->required();

  auto* bench = app.add_subcommand("bench", "benchmarks");
  bench->require_subcommand(1);
  std::string bench_backend = "auto";
  auto* bench_allreduce = bench->add_subcommand("allreduce", "all-reduce bandwidth vs memcpy");
  bench_allreduce->add_option("--backend", bench_backend, "auto, mpi or nccl");
  ConfigArgs step_config;
  auto* bench_step = bench->add_subcommand(
      "step", "one training step's time (vs scripts/bench/reference_step.py)");
  step_config.add_to(bench_step);

  std::string score_in;
  auto* score = app.add_subcommand(
      "score", "BLEU-1..4, ROUGE-L, Dist-1/2, length of hypotheses vs references (JSON)");
  score
      ->add_option("--in", score_in,
                   "JSONL: {\"hypothesis\": H, \"reference\": R}, each ids or text, per line")
      ->required();

  text::add_tokenize_command(app);  // runs from its callback, inside the parse below
  add_generate_command(app);        // runs itself while parsing

  CLI11_PARSE(app, argc, argv);

  if (*train || *eval) {
    return run_distributed(&argc, &argv, [&](const WorldInfo& world) {
      const auto& args = *train ? train_config : eval_config;
      const Config config = load_config(args.files, args.overrides);
      const torch::Device device = choose_device(config, world);
      auto comm = make_communicator(config.dist.backend, device, config.dist.timeout_s);
      if (*train) return run_training(config, *comm, device, TrainOptions{resume});
      const std::string metrics =
          run_checkpoint_eval(config, *comm, device, eval_checkpoint, eval_options);
      if (world.rank == 0) fmt::print("{}\n", metrics);
      return 0;
    });
  }
  if (*teach) {
    return run_distributed(&argc, &argv, [&](const WorldInfo& world) {
      const Config config = load_config(teach_config.files, teach_config.overrides);
      teacher::run_teach(config, world, choose_device(config, world));
      return 0;
    });
  }
  if (*bench_allreduce) {
    return run_distributed(&argc, &argv, [&](const WorldInfo& world) {
      Config defaults;
      const torch::Device device = choose_device(defaults, world);
      auto comm = make_communicator(bench_backend, device, defaults.dist.timeout_s);
      run_allreduce_benchmark(*comm, std::cout);
      return 0;
    });
  }
  if (*bench_step) {  // single process, torch's default threads: as the Python reference runs
    run_step_benchmark(load_config(step_config.files, step_config.overrides), {}, std::cout);
    return 0;
  }
  if (*synth) {
    synthesize(synth_out, synth_options);
    fmt::print("wrote {} ({} samples, seed {})\n", synth_out, synth_options.samples,
               synth_options.seed);
  } else if (*inspect) {
    fmt::print("{}", inspect_file(inspect_path).summary());
  } else if (*shard) {
    shard_file(shard_in, shard_out, shard_count);
    fmt::print("wrote {} shards to {}\n", shard_count, shard_out);
  } else if (*score) {
    fmt::print("{}\n", score_jsonl(score_in).to_json().dump());
  } else if (*ckpt_inspect) {
    fmt::print("{}", inspect_checkpoint(checkpoint_path(ckpt_path)));
  } else if (*ckpt_export) {
    export_safetensors(checkpoint_path(ckpt_path), export_out);
    fmt::print("wrote {}\n", export_out);
    const std::string card = write_student_card(checkpoint_path(ckpt_path), export_out);
    if (!card.empty()) fmt::print("wrote {} (pride generate --checkpoint its directory)\n", card);
  }
  return 0;
}

}  // namespace
}  // namespace pride

int main(int argc, char** argv) {
  try {
    return pride::run_cli(argc, argv);
  } catch (const pride::TransientError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return pride::kTransientFaultExitCode;
  } catch (const pride::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return pride::kBadInputExitCode;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
