// Progress of the teacher pass, and where its ranks meet.
#pragma once

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>

#include "distributed/communicator.h"
#include "util/clock.h"

namespace pride::teacher {

// Rank 0's view of the run: counts, rates and an ETA, printed every teach.progress_every_s. It is
// also where the ranks meet: after every batch, and once a rank's shard is written, until every
// rank's is, they sum two counters in one small all-reduce. A lost or stuck rank therefore ends
// the job after dist.timeout_s, as a training collective does, and rank 0 writes the manifest
// only once every shard exists, without watching the file system.
class Progress {
 public:
  Progress(Communicator& comm, int64_t mine, double every_s)
      : comm_(comm), world_(comm.world()), mine_(mine), every_s_(every_s) {}

  void reused(int64_t samples) { reused_ += samples; }
  void scored(int64_t tokens, double seconds) { scored_tokens_ += tokens, score_s_ += seconds; }
  void generated(int64_t tokens, double seconds) {
    generated_tokens_ += tokens, generate_s_ += seconds;
  }
  void taught(int64_t samples) {
    taught_ += samples;
    meet(/*finished=*/false);
    if (world_.rank == 0 && seconds_since(last_print_) >= every_s_) print();
  }
  // Called once this rank's shard is written; returns when every rank's is.
  void wait_for_all_ranks() {
    comm_.set_context("teach: waiting for every rank's shard");
    while (meet(/*finished=*/true) < world_.world_size) {
    }
  }
  void note(int64_t dropped_turns, bool response_cut) {
    shortened_contexts_ += dropped_turns > 0, cut_responses_ += response_cut;
  }

  void print() {
    last_print_ = Clock::now();
    const double elapsed = seconds_since(start_);
    const double rate = taught_ / std::max(elapsed, 1e-9);
    const int64_t left = mine_ - reused_ - taught_;
    fmt::print(
        "teach: rank 0: {}/{} samples ({} reused), {:.1f} samples/s, scoring {:.0f} tokens/s, "
        "reasoning {:.1f} tokens/s, ETA {:.0f} s\n",
        reused_ + taught_, mine_, reused_, rate, scored_tokens_ / std::max(score_s_, 1e-9),
        generated_tokens_ / std::max(generate_s_, 1e-9), rate > 0 ? left / rate : 0.0);
    std::fflush(stdout);
  }

  // One JSON line per rank: what the benchmark adds up.
  std::string stats() const {
    return nlohmann::json{{"rank", world_.rank},
                          {"samples", mine_},
                          {"reused", reused_},
                          {"taught", taught_},
                          {"seconds", seconds_since(start_)},
                          {"scored_tokens", scored_tokens_},
                          {"score_s", score_s_},
                          {"generated_tokens", generated_tokens_},
                          {"generate_s", generate_s_},
                          {"shortened_contexts", shortened_contexts_},
                          {"cut_responses", cut_responses_}}
        .dump();
  }

 private:
  // One meeting of all ranks; returns how many of them have finished.
  int64_t meet(bool finished) {
    comm_.set_context("teach: after a batch");
    const torch::Tensor sums = all_reduce_small(comm_, torch::tensor({finished ? 1.0 : 0.0}));
    return std::llround(sums.item<double>());
  }

  Communicator& comm_;
  WorldInfo world_;
  int64_t mine_;
  double every_s_;
  Clock::time_point start_ = Clock::now(), last_print_ = Clock::now();
  int64_t reused_ = 0, taught_ = 0, scored_tokens_ = 0, generated_tokens_ = 0;
  double score_s_ = 0, generate_s_ = 0;
  int64_t shortened_contexts_ = 0, cut_responses_ = 0;
};

}  // namespace pride::teacher
