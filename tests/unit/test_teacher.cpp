// The teacher pass's pieces that need no teacher: the part plan (balanced, rank-count independent
// where possible) and template rendering (placeholders, escapes, named errors). The pass itself
// is tested end to end against an independent reference in tests/cli/teach.sh.
#include <gtest/gtest.h>

#include "support.h"
#include "teacher/prompts.h"
#include "teacher/work_plan.h"

namespace pride::test {
namespace {

using teacher::SampleRange;

TEST(TeachPlan, PartsCoverEverySampleOnceAndRanksGetContiguousRuns) {
  for (int64_t samples : {5, 17, 1000, 1001}) {
    for (int64_t world : {1, 2, 3, 4}) {
      const auto parts = teacher::plan_parts(samples, world, 64);
      int64_t next = 0;
      for (int64_t rank = 0; rank < world; ++rank) {
        const auto mine = teacher::parts_of_rank(parts, rank, world);
        ASSERT_FALSE(mine.empty()) << samples << " samples, rank " << rank << " of " << world;
        for (const SampleRange& part : mine) {
          EXPECT_EQ(part.begin, next);
          EXPECT_GT(part.size(), 0);
          next = part.end;
        }
      }
      EXPECT_EQ(next, samples);
    }
  }
}

TEST(TeachPlan, PartsDoNotDependOnTheWorldSizeWhenThereAreEnoughSamples) {
  EXPECT_EQ(teacher::plan_parts(1000, 1, 64), teacher::plan_parts(1000, 4, 64));
  EXPECT_EQ(teacher::plan_parts(1000, 4, 64).back(), (SampleRange{960, 1000}));
  EXPECT_EQ(teacher::part_file_name({256, 512}), "part-000000256-000000512.h5");
}

TEST(TeachPlan, FewerSamplesThanRanksIsANamedError) {
  EXPECT_TRUE(contains(error_of([] { teacher::plan_parts(3, 4, 64); }),
                       "3 samples cannot be shared by 4 ranks"));
}

TEST(TeachPrompts, PlaceholdersAndEscapedBracesRender) {
  EXPECT_EQ(teacher::render_template("{a} says {{b}}: {a}", {{"a", "x"}}, "k"), "x says {b}: x");
}

TEST(TeachPrompts, BadTemplatesAreNamedErrors) {
  const auto render = [](const std::string& text) {
    return error_of([&] { teacher::render_template(text, {{"speaker", "s"}}, "teach.x"); });
  };
  EXPECT_TRUE(contains(render("{who}"), "teach.x: unknown placeholder {who}"));
  EXPECT_TRUE(contains(render("{who}"), "{speaker}"));  // lists what it knows
  EXPECT_TRUE(contains(render("oops {speaker"), "teach.x: unclosed"));
  EXPECT_TRUE(contains(render("a } b"), "teach.x: a lone '}'"));
}

}  // namespace
}  // namespace pride::test
