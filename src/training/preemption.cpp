// Implements training/preemption.h with async-signal-safe handlers (they only store atomics).
#include "training/preemption.h"

#include <atomic>
#include <csignal>

namespace pride {
namespace {

std::atomic<int> last_signal{0};

extern "C" void on_preemption_signal(int signal) {
  last_signal.store(signal);
}

}  // namespace

void install_preemption_handlers() {
  struct sigaction action = {};
  action.sa_handler = on_preemption_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
}

bool preemption_requested() {
  return last_signal.load() != 0;
}
int preemption_signal() {
  return last_signal.load();
}

}  // namespace pride
