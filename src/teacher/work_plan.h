// How `pride teach` splits its samples: a grid of resumable parts of consecutive samples, each
// written atomically to its own file, and contiguous runs of parts, one per rank, each rank's
// run becoming its shard file. Parts do not depend on the rank count (unless there are fewer
// samples than ranks x part size), so a rerun at another world size still reuses finished parts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pride::teacher {

struct SampleRange {
  int64_t begin = 0, end = 0;  // samples [begin, end)
  int64_t size() const { return end - begin; }
  bool operator==(const SampleRange& other) const {
    return begin == other.begin && end == other.end;
  }
};

// Parts of `part_size` samples (the last one shorter), shrunk to samples / world when that is
// smaller, so that every rank gets at least one part. Needs samples >= world >= 1.
std::vector<SampleRange> plan_parts(int64_t samples, int64_t world, int64_t part_size);

// The contiguous run of parts that `rank` teaches (counts differ by at most one between ranks).
std::vector<SampleRange> parts_of_rank(const std::vector<SampleRange>& parts, int64_t rank,
                                       int64_t world);

// "part-000000000-000000256.h5": a part's file name, from its sample range.
std::string part_file_name(const SampleRange& part);

}  // namespace pride::teacher
