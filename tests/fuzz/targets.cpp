// The fuzz harness's registry of targets and its small helpers (see fuzz.h).
#include <hdf5.h>

#include <filesystem>
#include <fstream>

#include "fuzz.h"

namespace pride::fuzz {

void check(bool condition, const std::string& what) {
  if (!condition) throw CheckFailed(what);
}

const std::vector<Target>& targets() {
  static const std::vector<Target> all = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // the readers report HDF5 errors themselves
    std::vector<Target> list;
    for (auto group : {text_targets(), dialogue_targets(), data_targets()}) {
      list.insert(list.end(), group.begin(), group.end());
    }
    return list;
  }();
  return all;
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
    std::ofstream out(std::filesystem::path(dir) / name, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + dir + "/" + name);
  }
}

}  // namespace pride::fuzz
