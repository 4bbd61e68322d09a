// What a run reports: metrics.jsonl (one JSON object per logged step or evaluation) and a console
// progress line (step/total, loss terms, throughput, ETA). Rank 0 only; other ranks hold a
// disabled instance so call sites need no rank checks.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <string>

#include "util/clock.h"

namespace pride {

class MetricsLog {
 public:
  // resume_step >= 0: keep only the existing lines with step <= resume_step (a resumed run
  // rewrites what came after its checkpoint); -1: start a new file.
  MetricsLog(const std::string& path, bool enabled, int64_t resume_step);
  void write(const nlohmann::json& record);

 private:
  std::ofstream out_;
  bool enabled_;
};

class ProgressPrinter {
 public:
  ProgressPrinter(bool enabled, int64_t first_step, int64_t total_steps);
  void step(const nlohmann::json&
                record);  // needs step, loss, ce, rkl, mmd, emotion_ce, lr, tokens_per_s
  void eval(const nlohmann::json& record);
  void note(const std::string& line);

 private:
  bool enabled_;
  int64_t first_step_, total_steps_;
  Clock::time_point start_ = Clock::now();
};

std::string format_duration(double seconds);

}  // namespace pride
