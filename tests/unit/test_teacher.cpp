// The teacher pass's pieces that need no teacher: the part plan (balanced, rank-count independent
// where possible), template rendering (placeholders, escapes, named errors) and the messages of
// chat-formatted prompts. The pass itself is tested end to end against an independent reference
// in tests/cli/teach.sh (and with chat templates in tests/cli/chat_prompts.sh).
#include <gtest/gtest.h>

#include "support.h"
#include "teacher/chat_prompts.h"
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

TEST(TeachChatMessages, ARequestIsTheSystemPromptWhenGivenThenTheUser) {
  using nlohmann::ordered_json;
  EXPECT_EQ(teacher::request_messages("", "Why?"),
            ordered_json::parse(R"([{"role": "user", "content": "Why?"}])"));
  EXPECT_EQ(teacher::request_messages("Be kind.", "Why?"),
            ordered_json::parse(R"([{"role": "system", "content": "Be kind."},
                                    {"role": "user", "content": "Why?"}])"));
}

TEST(TeachChatMessages, TheResponderIsTheAssistantAndSameRoleTurnsJoin) {
  dialogue::DialogueText sample;
  sample.context = {{"Ann", "old"},    {"Bob", "Hi."},  {"Ann", "Hello."},
                    {"Cy", "Me too."}, {"Bob", "Sad."}, {"Bob", "Very."}};
  sample.response = {"Ann", "Oh no."};
  EXPECT_EQ(teacher::dialogue_messages(sample, 1), nlohmann::ordered_json::parse(R"([
      {"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello."},
      {"role": "user", "content": "Me too.\nSad.\nVery."}])"));
}

}  // namespace
}  // namespace pride::test
