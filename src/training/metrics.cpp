// Implements training/metrics.h.
#include "training/metrics.h"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <vector>

#include "util/error.h"

namespace pride {

namespace {

// Lines of an existing metrics file whose step is <= last_step (unparseable lines are dropped).
std::vector<std::string> lines_up_to(const std::string& path, int64_t last_step) {
  std::vector<std::string> kept;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    const auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!record.is_object() || !record.contains("step")) continue;
    const auto& step = record["step"];
    if (step.is_number_integer() && step.get<int64_t>() <= last_step) kept.push_back(line);
  }
  return kept;
}

}  // namespace

MetricsLog::MetricsLog(const std::string& path, bool enabled, int64_t resume_step)
    : enabled_(enabled) {
  if (!enabled_) return;
  const auto kept = resume_step >= 0 ? lines_up_to(path, resume_step) : std::vector<std::string>{};
  out_.open(path, std::ios::trunc);
  if (!out_) fail("{}: cannot write metrics file", path);
  for (const auto& line : kept) out_ << line << '\n';
  out_.flush();
}

void MetricsLog::write(const nlohmann::json& record) {
  if (!enabled_) return;
  out_ << record.dump() << '\n';
  out_.flush();
}

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s / 60) % 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

ProgressPrinter::ProgressPrinter(bool enabled, int64_t first_step, int64_t total_steps)
    : enabled_(enabled), first_step_(first_step), total_steps_(total_steps) {}

void ProgressPrinter::step(const nlohmann::json& r) {
  if (!enabled_) return;
  const int64_t step = r["step"];
  const double elapsed = seconds_since(start_);
  const double done = static_cast<double>(step - first_step_);
  const double eta = done > 0 ? elapsed / done * static_cast<double>(total_steps_ - step) : 0.0;
  // The objective's terms that the record holds (train.objective pride, sft or dpo).
  std::string terms;
  for (const auto& [key, label] : {std::pair<const char*, const char*>{"ce", "ce"},
                                   {"rkl", "rkl"},
                                   {"mmd", "mmd"},
                                   {"emotion_ce", "emo"},
                                   {"rewards/accuracies", "acc"},
                                   {"rewards/margins", "margin"}}) {
    if (r.contains(key))
      terms += fmt::format("{}{} {:.4f}", terms.empty() ? "" : " ", label, r[key].get<double>());
  }
  fmt::print(
      "step {:>{}}/{} | loss {:.4f} | {} | lr {:.2e} | grad {:.2f} | {:.0f} tok/s | eta {}\n", step,
      std::to_string(total_steps_).size(), total_steps_, r["loss"].get<double>(), terms,
      r["lr"].get<double>(), r["grad_norm"].get<double>(), r["tokens_per_s"].get<double>(),
      format_duration(eta));
  std::fflush(stdout);
}

void ProgressPrinter::eval(const nlohmann::json& r) {
  if (!enabled_) return;
  std::string line =
      fmt::format("eval @ step {} | ce {:.4f} | ppl {:.2f}", r["step"].get<int64_t>(),
                  r["eval_ce"].get<double>(), r["eval_ppl"].get<double>());
  for (const auto& [key, label] : {std::pair<const char*, const char*>{"eval_rkl", "rkl"},
                                   {"eval_emotion_acc", "emotion acc"},
                                   {"eval_rewards/accuracies", "reward acc"},
                                   {"eval_rewards/margins", "margin"}}) {
    if (r.contains(key)) line += fmt::format(" | {} {:.4f}", label, r[key].get<double>());
  }
  fmt::print("{} (no PI)\n", line);
  std::fflush(stdout);
}

void ProgressPrinter::note(const std::string& line) {
  if (!enabled_) return;
  fmt::print("{}\n", line);
  std::fflush(stdout);
}

}  // namespace pride
