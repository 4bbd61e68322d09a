// The fuzz harness's CI driver (docs/robustness.md): runs N seeded cases per reader in-process,
// replays the checked-in seed corpus and regression inputs, and prints
// "fuzz <reader>: N cases, A accepted, R rejected, F failures"; exits 1 when F > 0.
//
//   pride_fuzz <reader>|all [--cases N] [--seed S] [--case K] [--save DIR] [--replay DIR]
//              [--verbose]  (prints every rejection's message too)
//   pride_fuzz --write-corpus DIR      (the seed files of every reader, for libFuzzer)
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "fuzz.h"
#include "util/error.h"

// The sanitizer runtime's death callback, only where a sanitizer is linked in (pride_fuzz_torch
// is not sanitized: LibTorch is not).
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PRIDE_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(PRIDE_SANITIZED)
#include <sanitizer/common_interface_defs.h>
#define PRIDE_HAVE_SANITIZER_HOOKS 1
#endif

namespace pride::fuzz {
namespace {

namespace fs = std::filesystem;

bool g_verbose = false;

// The case in progress, named by the crash and hang handlers (async-signal-safe: fixed buffer).
char g_current[256] = "";

void report_current() {
  const char prefix[] = "\nfuzz: died in ";
  (void)!write(2, prefix, sizeof prefix - 1);
  (void)!write(2, g_current, std::strlen(g_current));
  (void)!write(2, "\n", 1);
}

void on_hang(int) {
  report_current();
  const char text[] = "fuzz: the case ran over the watchdog (a hang)\n";
  (void)!write(2, text, sizeof text - 1);
  _exit(1);
}

void on_crash(int signal_number) {
  report_current();
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}

void install_handlers() {
  ::signal(SIGALRM, on_hang);
#ifdef PRIDE_HAVE_SANITIZER_HOOKS
  __sanitizer_set_death_callback(report_current);
#else
  ::signal(SIGSEGV, on_crash);
  ::signal(SIGABRT, on_crash);
#endif
}

enum class Outcome { kAccepted, kRejected, kFailure };

struct Tally {
  int64_t cases = 0, accepted = 0, rejected = 0, failures = 0;
  void add(Outcome outcome) {
    ++cases;
    (outcome == Outcome::kAccepted   ? accepted
     : outcome == Outcome::kRejected ? rejected
                                     : failures)++;
  }
};

// Runs one case's files through the reader and classifies the result.
Outcome run_case(const Target& target, const Files& files, const std::string& dir,
                 const std::string& label) {
  std::snprintf(g_current, sizeof g_current, "%s", label.c_str());
  write_files(dir, files);
  constexpr unsigned kWatchdogSeconds = 60;
  ::alarm(kWatchdogSeconds);
  const auto start = std::chrono::steady_clock::now();
  Outcome outcome = Outcome::kAccepted;
  std::string why;
  try {
    target.run(dir);
  } catch (const Error& e) {
    outcome = std::strlen(e.what()) > 0 ? Outcome::kRejected : Outcome::kFailure;
    if (outcome == Outcome::kFailure) why = "a pride::Error without a message";
    if (g_verbose)
      std::cout << "rejected " << label << ": " << std::string(e.what()).substr(0, 300) << "\n";
  } catch (const CheckFailed& e) {
    outcome = Outcome::kFailure;
    why = std::string("accepted, but ") + e.what();
  } catch (const std::exception& e) {
    outcome = Outcome::kFailure;
    why = std::string("exception that is not a pride::Error: ") + e.what();
  } catch (...) {
    outcome = Outcome::kFailure;
    why = "an unknown exception";
  }
  ::alarm(0);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (outcome != Outcome::kFailure && seconds > kMaxCaseSeconds) {
    outcome = Outcome::kFailure;
    why = "took " + std::to_string(seconds) + " s";
  }
  if (outcome == Outcome::kFailure) std::cout << "FAIL " << label << ": " << why << std::endl;
  return outcome;
}

// The seed of case `index` of `target`: reproducible one case at a time (--case).
uint64_t case_seed(uint64_t seed, const Target& target, int64_t index) {
  return seed * 0x9E3779B97F4A7C15ull ^ std::hash<std::string>()(target.name) ^
         static_cast<uint64_t>(index) * 0xC2B2AE3D27D4EB4Full;
}

struct Options {
  std::string reader = "all";
  int64_t cases = 500;
  uint64_t seed = 1;
  int64_t only_case = -1;
  std::string save_dir;
  std::vector<std::string> replay_dirs;
  std::string corpus_out;
};

void save_case(const Options& options, const std::string& name, const Files& files) {
  if (options.save_dir.empty()) return;
  const std::string dir = options.save_dir + "/" + name;
  write_files(dir, files);
  std::cout << "  saved to " << dir << std::endl;
}

// Generated cases: every 50th is the unmutated seed, which must be accepted.
bool fuzz_target(const Target& target, const Options& options, const std::string& scratch) {
  Tally tally;
  for (int64_t i = 0; i < options.cases; ++i) {
    if (options.only_case >= 0 && i != options.only_case) continue;
    Rng rng(case_seed(options.seed, target, i));
    Files files = target.seed(rng);
    const bool pristine = i % 50 == 0;
    if (!pristine) target.mutate(files, rng);
    const std::string label = fmt::format("{} case {} (seed {})", target.name, i, options.seed);
    Outcome outcome = run_case(target, files, scratch, label);
    if (pristine && outcome == Outcome::kRejected) {
      std::cout << "FAIL " << label << ": the unmutated seed was rejected" << std::endl;
      outcome = Outcome::kFailure;
    }
    if (outcome == Outcome::kFailure)
      save_case(options, target.name + "-case" + std::to_string(i), files);
    tally.add(outcome);
  }
  std::cout << fmt::format("fuzz {}: {} cases, {} accepted, {} rejected, {} failures", target.name,
                           tally.cases, tally.accepted, tally.rejected, tally.failures)
            << std::endl;
  return tally.failures == 0;
}

// Each file under <dir>/<reader>/ as the reader's main file (the libFuzzer way).
bool replay(const Target& target, const std::string& dir, const std::string& scratch) {
  const fs::path folder = fs::path(dir) / target.name;
  if (!fs::is_directory(folder)) return true;
  std::vector<fs::path> inputs;
  for (const auto& entry : fs::directory_iterator(folder)) inputs.push_back(entry.path());
  std::sort(inputs.begin(), inputs.end());
  Tally tally;
  for (const fs::path& input : inputs) {
    Rng rng(0);
    Files files = target.seed(rng);
    files[target.main_file] = read_file(input.string());
    tally.add(run_case(target, files, scratch, target.name + " replay " + input.string()));
  }
  std::cout << fmt::format("fuzz {} replay of {}: {} inputs, {} accepted, {} rejected, {} failures",
                           target.name, folder.string(), tally.cases, tally.accepted,
                           tally.rejected, tally.failures)
            << std::endl;
  return tally.failures == 0;
}

// The seed files of every reader, one folder each: the libFuzzer corpus.
void write_corpus(const std::string& out) {
  for (const Target& target : targets()) {
    for (uint64_t variant = 0; variant < 4; ++variant) {
      Rng rng(variant);
      const Files files = target.seed(rng);
      const fs::path folder = fs::path(out) / target.name;
      fs::create_directories(folder);
      std::ofstream(folder / ("seed-" + std::to_string(variant)), std::ios::binary)
          << files.at(target.main_file);
    }
  }
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--cases") {
      options.cases = std::stoll(value());
    } else if (arg == "--seed") {
      options.seed = std::stoull(value());
    } else if (arg == "--case") {
      options.only_case = std::stoll(value());
    } else if (arg == "--save") {
      options.save_dir = value();
    } else if (arg == "--replay") {
      options.replay_dirs.push_back(value());
    } else if (arg == "--verbose") {
      g_verbose = true;
    } else if (arg == "--write-corpus") {
      options.corpus_out = value();
    } else if (!arg.empty() && arg[0] != '-') {
      options.reader = arg;
    } else {
      throw std::invalid_argument("unknown option " + arg);
    }
  }
  if (options.only_case >= options.cases) options.cases = options.only_case + 1;
  return options;
}

int run(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  if (!options.corpus_out.empty()) {
    write_corpus(options.corpus_out);
    return 0;
  }
  install_handlers();
  const std::string scratch =
      (fs::temp_directory_path() / ("pride-fuzz-" + std::to_string(::getpid()))).string();
  bool ok = true;
  bool found = false;
  for (const Target& target : targets()) {
    if (options.reader != "all" && options.reader != target.name) continue;
    found = true;
    for (const std::string& dir : options.replay_dirs) ok = replay(target, dir, scratch) && ok;
    ok = fuzz_target(target, options, scratch) && ok;
  }
  fs::remove_all(scratch);
  if (!found) {
    std::cerr << "pride_fuzz: unknown reader '" << options.reader << "'\n";
    return 2;
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace pride::fuzz

int main(int argc, char** argv) {
  try {
    return pride::fuzz::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "pride_fuzz: " << e.what() << "\n";
    return 2;
  }
}
