// The teacher pass's pieces that need no teacher: the part plan (balanced, rank-count independent
// where possible), template rendering (placeholders, escapes, named errors) and the messages of
// chat-formatted prompts. The pass itself is tested end to end against an independent reference
// in tests/cli/teach.sh (and with chat templates in tests/cli/chat_prompts.sh).
#include <gtest/gtest.h>

#include "chat/chat_template.h"
#include "support.h"
#include "teacher/chat_prompts.h"
#include "teacher/prompts.h"
#include "teacher/work_plan.h"
#include "text/tokenizer.h"

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

// One id per byte: lengths in the budget are byte counts, and decoding is exact.
class ByteTokenizer : public text::Tokenizer {
 public:
  std::vector<text::TokenId> encode(std::string_view text, bool) const override {
    return {text.begin(), text.end()};
  }
  std::string decode(const std::vector<text::TokenId>& ids) const override {
    return {ids.begin(), ids.end()};
  }
  int64_t vocab_size() const override { return 256; }
  const text::SpecialTokens& special_tokens() const override { return specials_; }
  std::string identity() const override { return "bytes"; }

 private:
  text::SpecialTokens specials_;
};

// A student context in a ChatML-like template, with a budget of `budget` bytes.
teacher::SamplePrompts chat_context(const dialogue::DialogueText& sample, int64_t budget) {
  TeachConfig config;
  config.max_context_tokens = budget;
  config.reasoning = false;
  teacher::ChatTemplates chat;
  chat.student = chat::ChatTemplate(
      "{% for m in messages %}<s>{{ m.role }}: {{ m.content }}</s>{% endfor %}"
      "{% if add_generation_prompt %}<s>assistant:{% endif %}",
      "test");
  const ByteTokenizer tokenizer;
  return teacher::PromptBuilder(config, tokenizer, 0, chat).prepare(sample);
}

TEST(TeachChatMessages, ALastTurnOverTheBudgetLosesItsStartAndTheFrameStaysWhole) {
  dialogue::DialogueText sample;
  sample.context = {{"Ann", "first"}, {"Bob", "abcdefghij-\u00e9-klmnop"}};  // é: two bytes
  sample.response = {"Ann", "Oh."};
  const std::string frame = "<s>user: </s><s>assistant:";
  const auto whole = chat_context(sample, 1000);
  EXPECT_EQ(std::string(whole.context.begin(), whole.context.end()),
            "<s>assistant: first</s><s>user: abcdefghij-\u00e9-klmnop</s><s>assistant:");

  // Room for the frame and 9 bytes: the older turn goes, then the last turn's last 9 bytes stay.
  const auto cut = chat_context(sample, static_cast<int64_t>(frame.size()) + 9);
  EXPECT_EQ(cut.first_turn, 1);
  EXPECT_EQ(std::string(cut.context.begin(), cut.context.end()),
            "<s>user: \u00e9-klmnop</s><s>assistant:");
  const auto tight = chat_context(sample, static_cast<int64_t>(frame.size()) + 8);
  EXPECT_EQ(std::string(tight.context.begin(), tight.context.end()),
            "<s>user: -klmnop</s><s>assistant:");  // half an é is not kept

  EXPECT_TRUE(contains(error_of([&] { chat_context(sample, 10); }),
                       "the chat template's frame alone is 26 tokens, over "
                       "teach.max_context_tokens 10"));
}

}  // namespace
}  // namespace pride::test
