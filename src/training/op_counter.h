// Counts the ATen operators a training step dispatches, by phase (forward, backward, optimizer,
// communication), and the host synchronisations among them. On a GPU every top-level operator
// is at least one kernel launch paid in host time, so this count, not the arithmetic, bounds a
// step of a small model (docs/performance.md, "Operators per step").
//
// An operator is counted when it is dispatched outside any other operator ("top-level"): the
// operators a composite one calls internally run inside the same launch budget and are not
// counted again (`dispatches` counts them too: every operator at any depth, the host's dispatch
// work). Operators run by autograd's backward nodes are top-level in their node. Only the
// thread that started the counter, and autograd's backward threads, are counted (not the
// prefetcher's collation nor the checkpoint writer).
//
// Host synchronisations are counted at any depth: reading a value back (aten::_local_scalar_dense,
// which item() calls; aten::equal), operators whose output shape depends on the data (nonzero,
// masked_select, unique) and copies from a device to the host. On the CPU the input checks that
// only run on host tensors (token-id and label ranges) count too: a GPU run skips them.
//
// It observes through ATen's RecordFunction callbacks, registered only while an OpCounter is
// alive: with none, nothing is registered and dispatch costs what it always did.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pride {

enum class OpPhase : int { kOther = 0, kForward, kBackward, kOptimizer, kCommunication, kCount };

inline constexpr int kNumOpPhases = static_cast<int>(OpPhase::kCount);

const char* op_phase_name(OpPhase phase);

// What a counter saw.
struct OpCounts {
  using PerPhase = std::array<int64_t, kNumOpPhases>;
  std::map<std::string, PerPhase> by_operator;  // top-level operators
  PerPhase ops{};                               // their totals per phase
  PerPhase host_syncs{};
  std::map<std::string, int64_t> sync_operators;  // which operators synchronised, how often
  // Every operator dispatched, at any depth: a composite (matmul, einsum) counts with what it
  // dispatches inside it, so this shows what merging operators into composites hides.
  PerPhase dispatches{};
  // With OpCounter(/*record_sequence=*/true): every top-level operator in dispatch order, as
  // "phase<TAB>autograd node (backward only)<TAB>operator": what attributes a count to the code.
  std::vector<std::string> sequence;

  int64_t total_ops() const;
  int64_t total_host_syncs() const;
  int64_t total_dispatches() const;
  // {"forward": n, ..., "total": n} for ops, host_syncs and dispatches, and host_sync_operators
  // {name: n}.
  nlohmann::json summary() const;
  // The `limit` most frequent operators, one line each: name, per-phase counts, total.
  std::string table(size_t limit) const;
};

// Counts from construction until stop() (or destruction). One counter at a time per process.
class OpCounter {
 public:
  explicit OpCounter(bool record_sequence = false);
  ~OpCounter();
  OpCounter(const OpCounter&) = delete;
  OpCounter& operator=(const OpCounter&) = delete;

  // Stops counting (idempotent) and returns what was counted.
  OpCounts stop();

 private:
  uint64_t handle_ = 0;
  bool running_ = false;
};

// Attributes the operators dispatched in its scope to `phase` (restores the previous phase on
// exit). Costs an atomic store when no counter runs.
class OpPhaseScope {
 public:
  explicit OpPhaseScope(OpPhase phase);
  ~OpPhaseScope();
  OpPhaseScope(const OpPhaseScope&) = delete;
  OpPhaseScope& operator=(const OpPhaseScope&) = delete;

 private:
  OpPhase previous_;
};

}  // namespace pride
