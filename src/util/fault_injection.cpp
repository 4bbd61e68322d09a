// Implements util/fault_injection.h.
#include "util/fault_injection.h"

#include <csignal>
#include <cstdlib>
#include <sstream>
#include <thread>
#include <vector>

#include "util/error.h"

namespace pride {

namespace {

// The action PRIDE_INJECT_FAULT names for this point, rank and step; empty when none.
std::string requested_action(const std::string& point, int rank, int64_t step) {
  const char* spec = std::getenv("PRIDE_INJECT_FAULT");
  if (spec == nullptr || *spec == '\0') return "";
  std::vector<std::string> parts;
  std::stringstream stream(spec);
  for (std::string part; std::getline(stream, part, ':');) parts.push_back(part);
  if (parts.size() != 4) fail("PRIDE_INJECT_FAULT='{}': expected point:rank:step:action", spec);
  const bool any_step = parts[2] == "*";
  if (parts[0] != point || std::stoi(parts[1]) != rank ||
      (!any_step && std::stoll(parts[2]) != step))
    return "";
  return parts[3];
}

}  // namespace

bool fault_requested(const std::string& point, int rank, int64_t step, const std::string& action) {
  return requested_action(point, rank, step) == action;
}

void maybe_inject_fault(const std::string& point, int rank, int64_t step) {
  const std::string action = requested_action(point, rank, step);
  if (action.empty()) return;
  if (action == "throw") fail("injected fault: {} point of step {} on rank {}", point, step, rank);
  if (action == "kill") std::raise(SIGKILL);
  if (action == "hang") {
    while (true) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  fail("PRIDE_INJECT_FAULT: action '{}' at point '{}' must be throw, hang or kill", action, point);
}

}  // namespace pride
