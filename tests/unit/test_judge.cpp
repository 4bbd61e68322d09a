// pride judge's arithmetic (judge/judge.h): the both-orders verdict rule and the win rates with
// their bootstrap intervals. The end-to-end path and the judge's probabilities: tests/cli/judge.sh.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "judge/judge.h"

namespace pride::judge {
namespace {

TEST(JudgeVerdict, BothOrdersMustAgree) {
  EXPECT_EQ(verdict(0.9, 0.6), "a");
  EXPECT_EQ(verdict(0.1, 0.4), "b");
  EXPECT_EQ(verdict(0.9, 0.2), "tie");  // A wins only when shown first: position bias
  EXPECT_EQ(verdict(0.3, 0.8), "tie");
  EXPECT_EQ(verdict(0.5, 0.9), "tie");  // exactly even in one order decides nothing
}

TEST(JudgeWinRates, CountsAndIntervals) {
  std::vector<std::string> verdicts;
  for (int i = 0; i < 60; ++i) verdicts.push_back(i % 3 == 0 ? "b" : i % 3 == 1 ? "a" : "tie");
  verdicts.resize(90, "a");  // 50 wins, 20 ties, 20 losses
  const WinRates rates = win_rates(verdicts, 2000, 0.95, 7);
  EXPECT_EQ(rates.pairs, 90);
  EXPECT_DOUBLE_EQ(rates.win.value, 50.0 / 90);
  EXPECT_DOUBLE_EQ(rates.tie.value, 20.0 / 90);
  EXPECT_DOUBLE_EQ(rates.loss.value, 20.0 / 90);
  for (const Rate& rate : {rates.win, rates.tie, rates.loss}) {
    EXPECT_LT(rate.low, rate.value);
    EXPECT_GT(rate.high, rate.value);
  }
  // The binomial standard error of 50/90 is 0.052: a 95% interval is about +-0.10.
  EXPECT_NEAR(rates.win.high - rates.win.low, 2 * 1.96 * 0.0524, 0.03);
  const WinRates again = win_rates(verdicts, 2000, 0.95, 7);
  EXPECT_EQ(again.win.low, rates.win.low);  // seeded
  EXPECT_EQ(again.win.high, rates.win.high);
}

TEST(JudgeWinRates, NoResamplesGiveThePointEstimate) {
  const WinRates rates = win_rates({"a", "b"}, 0, 0.95, 1);
  EXPECT_EQ(rates.win.low, 0.5);
  EXPECT_EQ(rates.win.high, 0.5);
  EXPECT_EQ(win_rates({}, 100, 0.95, 1).pairs, 0);
}

}  // namespace
}  // namespace pride::judge
