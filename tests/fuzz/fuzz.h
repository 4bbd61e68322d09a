// The fuzz harness's common parts (docs/robustness.md): a seeded random source, the files of one
// case, and a Target per reader: a valid seed, a structure-aware mutator and the reader to run.
// A case is accepted (the reader returned and its result passed the target's checks), rejected
// (a pride::Error with a message) or a failure (anything else: another exception, a failed check,
// a case over kMaxCaseSeconds; a crash or sanitizer report ends the process).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace pride::fuzz {

constexpr double kMaxCaseSeconds = 3.0;

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  uint64_t next() { return engine_(); }
  // Uniform in [0, n); n > 0.
  size_t below(size_t n) { return static_cast<size_t>(engine_() % n); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(engine_) < p; }
  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[below(items.size())];
  }

 private:
  std::mt19937_64 engine_;
};

// File name -> bytes: what one case writes into its scratch directory.
using Files = std::map<std::string, std::string>;

struct Target {
  std::string name;       // "tokenizer", "esconv", ...
  std::string main_file;  // the file mutated (and the one a libFuzzer input replaces)
  // The valid files a case starts from (some targets pick among several).
  std::function<Files(Rng&)> seed;
  // Mutates a copy of the seed in place.
  std::function<void(Files&, Rng&)> mutate;
  // Runs the reader on the files in `dir`; throws on rejection, and throws CheckFailed when an
  // accepted result breaks what the reader promises.
  std::function<void(const std::string& dir)> run;
};

// An accepted result that is wrong (silent garbage): always a failure.
struct CheckFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};
void check(bool condition, const std::string& what);

// Every target of this executable: each one links its own registry (targets.cpp for pride_fuzz,
// targets_torch.cpp for pride_fuzz_torch).
const std::vector<Target>& targets();
std::vector<Target> text_targets();        // targets_text.cpp
std::vector<Target> dialogue_targets();    // targets_dialogue.cpp
std::vector<Target> data_targets();        // targets_data.cpp
std::vector<Target> model_targets();       // targets_models.cpp (LibTorch)
std::vector<Target> data_file_targets();   // targets_data_file.cpp (LibTorch)
std::vector<Target> judge_targets();       // targets_judge.cpp (LibTorch)
std::vector<Target> preference_targets();  // targets_preference.cpp (LibTorch)
const Target* find_target(const std::string& name);

// A valid Llama 2 style tokenizer.json (byte fallback, <s> and </s>; tokenizer_seeds.cpp).
std::string llama2_style_tokenizer_json();

// Writes `files` into `dir` (created if needed; files of an earlier case removed); a name may
// hold a folder ("step_00000005/manifest.json").
void write_files(const std::string& dir, const Files& files);
std::string read_file(const std::string& path);

// --- mutators (mutators.cpp) ---------------------------------------------------------------------

// Byte-level damage: flips, inserted or deleted runs, truncation, invalid UTF-8.
void mutate_bytes(std::string& bytes, Rng& rng);
// Structure-aware JSON damage: parses `text` (leaving bytes-only damage when it does not parse),
// changes types, puts in huge/negative numbers (2^31, 2^63, 2^64-1, -1), deep nesting, deletes
// and duplicates keys and elements, long strings, unicode and the `words` of this format, then
// serializes; sometimes byte damage on top.
void mutate_json(std::string& text, Rng& rng, const std::vector<std::string>& words);
// Line- and field-level damage of a CSV: lines deleted, doubled, swapped; fields replaced by
// interesting values, commas and quotes inserted; sometimes byte damage.
void mutate_csv(std::string& text, Rng& rng, const std::vector<std::string>& words);

// JSONL text as lines (no trailing empty line), and back.
std::vector<std::string> lines_of(const std::string& text);
std::string joined(const std::vector<std::string>& lines);
// A JSON Lines file's damage: 10% byte damage; else a line doubled (10%) or dropped (10%), and one
// line mutated as JSON with `words` (judge responses, preference pairs).
void mutate_json_lines(std::string& text, Rng& rng, const std::vector<std::string>& words);

// Interesting scalars shared by the mutators.
const std::vector<std::string>& interesting_strings();

}  // namespace pride::fuzz
