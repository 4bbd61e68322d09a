// Results that every rank writes as JSON lines, joined by rank 0 in rank order: with contiguous
// shares of the samples per rank, the joined file is in sample order (pride hef, pride judge).
#pragma once

#include <string>
#include <vector>

#include "distributed/communicator.h"

namespace pride {

// Collective. Each rank's `lines` go to <dir>/<name>-<rank>.jsonl; after every rank wrote its
// part, rank 0 joins them into <dir>/<name>.jsonl (written atomically), removes the parts and
// returns that path; other ranks return "".
std::string join_rank_lines(Communicator& comm, const std::string& dir, const std::string& name,
                            const std::vector<std::string>& lines);

// The contiguous share [begin, end) of `count` items that `rank` of `world` takes.
std::pair<int64_t, int64_t> share_of(int64_t count, int rank, int world);

}  // namespace pride
