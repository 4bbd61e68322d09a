// The fuzz harness's small helpers, shared by both executables (pride_fuzz, pride_fuzz_torch):
// checks of accepted results, a case's files in and out of its scratch directory, target lookup.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fuzz.h"

namespace pride::fuzz {

void check(bool condition, const std::string& what) {
  if (!condition) throw CheckFailed(what);
}

const Target* find_target(const std::string& name) {
  for (const Target& target : targets()) {
    if (target.name == name) return &target;
  }
  return nullptr;
}

void write_files(const std::string& dir, const Files& files) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const auto& [name, bytes] : files) {
    const std::filesystem::path path = std::filesystem::path(dir) / name;
    std::filesystem::create_directories(path.parent_path());  // names may hold a folder
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + path.string());
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

}  // namespace pride::fuzz
