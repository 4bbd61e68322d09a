// Implements rank_files.h.
#include "distributed/rank_files.h"

#include <fmt/format.h>

#include <filesystem>

#include "io/file_io.h"

namespace pride {

std::string join_rank_lines(Communicator& comm, const std::string& dir, const std::string& name,
                            const std::vector<std::string>& lines) {
  namespace fs = std::filesystem;
  const WorldInfo& world = comm.world();
  const auto part = [&](int rank) {
    return (fs::path(dir) / fmt::format("{}-{}.jsonl", name, rank)).string();
  };
  fs::create_directories(dir);
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  replace_file_atomically(part(world.rank), text);
  comm.barrier();
  if (world.rank != 0) return "";
  std::string joined;
  for (int rank = 0; rank < world.world_size; ++rank) joined += read_text_file(part(rank));
  const std::string path = (fs::path(dir) / (name + ".jsonl")).string();
  replace_file_atomically(path, joined);
  for (int rank = 0; rank < world.world_size; ++rank) fs::remove(part(rank));
  return path;
}

std::pair<int64_t, int64_t> share_of(int64_t count, int rank, int world) {
  return {count * rank / world, count * (rank + 1) / world};
}

}  // namespace pride
