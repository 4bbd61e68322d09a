// libFuzzer entry point for long runs outside CI (built with -DPRIDE_LIBFUZZER=ON and clang):
// the input replaces the main file of the reader named by PRIDE_FUZZ_TARGET, beside that
// reader's other seed files. A pride::Error is a clean rejection; anything else (an exception,
// a crash, a sanitizer report) is what libFuzzer reports.
//
//   PRIDE_FUZZ_TARGET=tokenizer build/tests/fuzz/pride_libfuzzer tests/fuzz/corpus/tokenizer
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "fuzz.h"
#include "util/error.h"

namespace {

const pride::fuzz::Target& target() {
  static const pride::fuzz::Target* chosen = [] {
    const char* name = std::getenv("PRIDE_FUZZ_TARGET");
    const pride::fuzz::Target* found = name ? pride::fuzz::find_target(name) : nullptr;
    if (found == nullptr) {
      std::fprintf(stderr, "set PRIDE_FUZZ_TARGET to a reader of tests/fuzz (e.g. tokenizer)\n");
      std::abort();
    }
    return found;
  }();
  return *chosen;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir =
      (std::filesystem::temp_directory_path() / ("pride-libfuzzer-" + std::to_string(::getpid())))
          .string();
  static const pride::fuzz::Files seed = [] {
    pride::fuzz::Rng rng(0);
    return target().seed(rng);
  }();
  pride::fuzz::Files files = seed;
  files[target().main_file] = std::string(reinterpret_cast<const char*>(data), size);
  pride::fuzz::write_files(dir, files);
  try {
    target().run(dir);
  } catch (const pride::Error& e) {
    if (e.what()[0] == '\0') std::abort();  // a rejection must say why
  }
  return 0;
}
