// GoogleTest main for the MPI suites: every rank runs every test (collectives must match), only
// rank 0 prints the usual report, other ranks print just their failures, and every rank exits
// with the same code: non-zero if any test failed on any rank.
#include <gtest/gtest.h>
#include "distributed/mpi_c.h"

#include <cstdio>

#include "distributed/communicator.h"

namespace {

// Replaces the default printer on ranks other than 0: failures only, tagged with the rank.
class FailurePrinter : public testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}

  void OnTestPartResult(const testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_,
                 result.file_name() ? result.file_name() : "?", result.line_number(),
                 result.message());
    std::fflush(stderr);
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  const pride::WorldInfo world = pride::init_world(&argc, &argv);
  testing::InitGoogleTest(&argc, argv);
  if (world.rank != 0) {
    testing::TestEventListeners& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailurePrinter(world.rank));
  }
  const int local_result = RUN_ALL_TESTS() == 0 ? 0 : 1;
  int any_failed = 0;
  MPI_Allreduce(&local_result, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (world.rank == 0 && any_failed && !local_result) {
    std::fprintf(stderr, "FAILED: tests failed on other ranks (see [rank N] messages)\n");
  }
  pride::finalize_world();
  return any_failed;
}
