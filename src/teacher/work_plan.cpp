// Implements work_plan.h.
#include "teacher/work_plan.h"

#include <fmt/format.h>

#include <algorithm>

#include "util/error.h"

namespace pride::teacher {

std::vector<SampleRange> plan_parts(int64_t samples, int64_t world, int64_t part_size) {
  if (world < 1 || part_size < 1)
    fail("teach: world {} and part size {} must be >= 1", world, part_size);
  if (samples < world) {
    fail("teach: {} samples cannot be shared by {} ranks (each rank needs at least one)", samples,
         world);
  }
  const int64_t size = std::min(part_size, samples / world);
  std::vector<SampleRange> parts;
  for (int64_t begin = 0; begin < samples; begin += size) {
    parts.push_back({begin, std::min(samples, begin + size)});
  }
  return parts;
}

std::vector<SampleRange> parts_of_rank(const std::vector<SampleRange>& parts, int64_t rank,
                                       int64_t world) {
  const auto count = static_cast<int64_t>(parts.size());
  return {parts.begin() + count * rank / world, parts.begin() + count * (rank + 1) / world};
}

std::string part_file_name(const SampleRange& part) {
  return fmt::format("part-{:09d}-{:09d}.h5", part.begin, part.end);
}

}  // namespace pride::teacher
