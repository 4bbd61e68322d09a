// Implements training/op_counter.h with a global RecordFunction callback on operator and
// backward-node scopes.
#include "training/op_counter.h"

#include <ATen/record_function.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "util/error.h"

namespace pride {
namespace {

std::atomic<int> g_phase{static_cast<int>(OpPhase::kOther)};

// What the running counter has seen, and whose operators it counts.
struct CounterState {
  std::mutex mutex;
  std::thread::id owner;
  std::atomic<bool> record_sequence{false};  // read by the callbacks without the lock
  OpCounts counts;
  // Every operator at any depth, per phase: counted without the lock (most are nested ones, which
  // need nothing else), moved into counts.dispatches when the counter stops.
  std::array<std::atomic<int64_t>, kNumOpPhases> dispatches{};
};
// Never freed: a callback still running on another thread as the counter stops may read it.
CounterState g_state;
std::atomic<bool> g_active{false};

// Per thread: how deep inside operators and inside backward nodes the dispatch is.
thread_local int t_operator_depth = 0;
thread_local int t_backward_depth = 0;
// The autograd nodes being run on this thread, innermost last (kept only to record a sequence).
thread_local std::vector<std::string> t_nodes;

bool is_host_sync(const at::RecordFunction& fn) {
  static const char* const kReadBacks[] = {"aten::_local_scalar_dense",
                                           "aten::equal",
                                           "aten::nonzero",
                                           "aten::masked_select",
                                           "aten::_unique",
                                           "aten::_unique2",
                                           "aten::unique_dim",
                                           "aten::unique_consecutive"};
  const char* name = fn.name();
  for (const char* sync : kReadBacks) {
    if (std::strcmp(name, sync) == 0) return true;
  }
  if (std::strcmp(name, "aten::copy_") != 0) return false;
  const auto inputs = fn.inputs();  // copy_(self, src): to the host from a device
  return inputs.size() >= 2 && inputs[0].isTensor() && inputs[1].isTensor() &&
         inputs[0].toTensor().is_cpu() && !inputs[1].toTensor().is_cpu();
}

void record_operator(const at::RecordFunction& fn, bool top_level) {
  const bool counted_thread = t_backward_depth > 0 || std::this_thread::get_id() == g_state.owner;
  if (!counted_thread) return;
  const int phase = g_phase.load(std::memory_order_relaxed);
  g_state.dispatches[phase].fetch_add(1, std::memory_order_relaxed);
  const bool sync = is_host_sync(fn);
  if (!top_level && !sync) return;
  std::lock_guard<std::mutex> lock(g_state.mutex);
  OpCounts& counts = g_state.counts;
  if (top_level) {
    auto& per_phase = counts.by_operator[fn.name()];
    ++per_phase[phase];
    ++counts.ops[phase];
    if (g_state.record_sequence) {
      counts.sequence.push_back(fmt::format("{}\t{}\t{}", op_phase_name(OpPhase(phase)),
                                            t_nodes.empty() ? "" : t_nodes.back(), fn.name()));
    }
  }
  if (sync) {
    ++counts.host_syncs[phase];
    ++counts.sync_operators[fn.name()];
  }
}

// Autograd's backward nodes, and the engine's wrappers around them ("autograd::engine::
// evaluate_function: ...", recorded as a function): not operators, and the operators they run
// are top-level.
bool is_backward_node(const at::RecordFunction& fn) {
  return fn.scope() == at::RecordScope::BACKWARD_FUNCTION ||
         std::strncmp(fn.name(), "autograd::", 10) == 0;
}

std::unique_ptr<at::ObserverContext> on_enter(const at::RecordFunction& fn) {
  if (is_backward_node(fn)) {
    ++t_backward_depth;
    if (fn.scope() == at::RecordScope::BACKWARD_FUNCTION && g_state.record_sequence) {
      t_nodes.emplace_back(fn.name());
    }
    return nullptr;
  }
  if (g_active.load(std::memory_order_relaxed)) record_operator(fn, t_operator_depth == 0);
  ++t_operator_depth;
  return nullptr;
}

void on_exit(const at::RecordFunction& fn, at::ObserverContext*) {
  const bool node = is_backward_node(fn);
  int& depth = node ? t_backward_depth : t_operator_depth;
  depth = std::max(0, depth - 1);
  if (node && fn.scope() == at::RecordScope::BACKWARD_FUNCTION && !t_nodes.empty()) {
    t_nodes.pop_back();
  }
}

std::string per_phase_cells(const OpCounts::PerPhase& counts) {
  std::string cells;
  for (int64_t n : counts) cells += fmt::format(" {:>9}", n);
  return cells;
}

int64_t sum_of(const OpCounts::PerPhase& counts) {
  int64_t total = 0;
  for (int64_t n : counts) total += n;
  return total;
}

}  // namespace

const char* op_phase_name(OpPhase phase) {
  static const char* const kNames[] = {"other", "forward", "backward", "optimizer",
                                       "communication"};
  return kNames[static_cast<int>(phase)];
}

int64_t OpCounts::total_ops() const {
  return sum_of(ops);
}

int64_t OpCounts::total_host_syncs() const {
  return sum_of(host_syncs);
}

int64_t OpCounts::total_dispatches() const {
  return sum_of(dispatches);
}

nlohmann::json OpCounts::summary() const {
  auto by_phase = [](const PerPhase& counts) {
    nlohmann::json json = nlohmann::json::object();
    for (int p = 0; p < kNumOpPhases; ++p) json[op_phase_name(static_cast<OpPhase>(p))] = counts[p];
    json["total"] = sum_of(counts);
    return json;
  };
  return {{"ops", by_phase(ops)},
          {"host_syncs", by_phase(host_syncs)},
          {"host_sync_operators", sync_operators},
          {"dispatches", by_phase(dispatches)}};
}

std::string OpCounts::table(size_t limit) const {
  std::vector<std::pair<std::string, PerPhase>> rows(by_operator.begin(), by_operator.end());
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return sum_of(a.second) > sum_of(b.second);
  });
  std::string text = fmt::format("{:<40}", "operator");
  for (int p = 0; p < kNumOpPhases; ++p) {
    text += fmt::format(" {:>9}", op_phase_name(static_cast<OpPhase>(p)));
  }
  text += fmt::format(" {:>9}\n", "total");
  for (size_t i = 0; i < rows.size() && i < limit; ++i) {
    text += fmt::format("{:<40}{} {:>9}\n", rows[i].first, per_phase_cells(rows[i].second),
                        sum_of(rows[i].second));
  }
  text += fmt::format("{:<40}{} {:>9}\n", "all operators", per_phase_cells(ops), total_ops());
  text += fmt::format("{:<40}{} {:>9}\n", "host syncs", per_phase_cells(host_syncs),
                      total_host_syncs());
  text += fmt::format("{:<40}{} {:>9}\n", "dispatches at any depth", per_phase_cells(dispatches),
                      total_dispatches());
  return text;
}

OpCounter::OpCounter(bool record_sequence) {
  if (g_active.exchange(true)) fail("op counter: another counter is already running");
  {
    std::lock_guard<std::mutex> lock(g_state.mutex);
    g_state.counts = OpCounts{};
    for (auto& count : g_state.dispatches) count.store(0);
    g_state.owner = std::this_thread::get_id();
    g_state.record_sequence = record_sequence;
  }
  t_operator_depth = t_backward_depth = 0;
  t_nodes.clear();
  handle_ = at::addGlobalCallback(
      at::RecordFunctionCallback(on_enter, on_exit)
          .needsInputs(true)
          .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
  running_ = true;
}

OpCounter::~OpCounter() {
  stop();
}

OpCounts OpCounter::stop() {
  if (!running_) return {};
  running_ = false;
  at::removeCallback(handle_);
  OpCounts counts;
  {
    std::lock_guard<std::mutex> lock(g_state.mutex);
    counts = std::move(g_state.counts);
    for (int p = 0; p < kNumOpPhases; ++p) counts.dispatches[p] = g_state.dispatches[p].load();
  }
  g_active.store(false);
  return counts;
}

OpPhaseScope::OpPhaseScope(OpPhase phase)
    : previous_(static_cast<OpPhase>(g_phase.exchange(static_cast<int>(phase)))) {}

OpPhaseScope::~OpPhaseScope() {
  g_phase.store(static_cast<int>(previous_));
}

}  // namespace pride
