// PI-free evaluation: it never reads a privileged dataset, and its figures do not depend on the
// number of ranks (sums are all-reduced).
#include <gtest/gtest.h>

#include <filesystem>

#include "data/reader.h"
#include "data/synth.h"
#include "distributed/mpi_c.h"
#include "distributed/mpi_communicator.h"
#include "eval/evaluator.h"

namespace pride {
namespace {

std::string shared_eval_file(MpiCommunicator& comm) {
  const std::string path =
      ::testing::TempDir() + "pride_eval_" + std::to_string(comm.world_size()) + ".h5";
  if (comm.rank() == 0) {
    SynthOptions options;
    options.samples = 40;
    options.seed = 5;
    synthesize(path, options);
  }
  comm.barrier();
  return path;
}

TEST(Evaluator, NeverReadsPrivilegedInformationAndAgreesAcrossRanks) {
  MpiCommunicator world(MPI_COMM_WORLD, 60);
  MpiCommunicator self(MPI_COMM_SELF, 60);
  const std::string path = shared_eval_file(world);
  Config config;
  config.model.d_model = 32;
  config.model.d_ff = 64;
  config.model.memory_slots = 4;
  config.train.micro_batch_size = 4;
  config.train.eval_samples = 0;
  const auto data = DialogueDataset::open({path});
  torch::manual_seed(3);
  Student model(config.model, data.info());

  const int64_t pi_reads_before = DialogueReader::privileged_reads();
  const EvalResult all_ranks = evaluate(model, data, config, world, torch::kCPU);
  EXPECT_EQ(DialogueReader::privileged_reads(), pi_reads_before);
  EXPECT_EQ(all_ranks.samples, 40);
  EXPECT_GT(all_ranks.tokens, 0);
  EXPECT_GT(all_ranks.ce, 0.0);
  EXPECT_GE(all_ranks.emotion_acc, 0.0);
  EXPECT_LE(all_ranks.emotion_acc, 1.0);

  const EvalResult one_rank = evaluate(model, data, config, self, torch::kCPU);
  EXPECT_NEAR(all_ranks.ce, one_rank.ce, 1e-5 * one_rank.ce);
  EXPECT_NEAR(all_ranks.rkl, one_rank.rkl, 1e-5 * std::max(1.0, one_rank.rkl));
  EXPECT_DOUBLE_EQ(all_ranks.emotion_acc, one_rank.emotion_acc);
  EXPECT_EQ(all_ranks.tokens, one_rank.tokens);
}

}  // namespace
}  // namespace pride
