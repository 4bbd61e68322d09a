// `pride bench allreduce`: all-reduce bandwidth of the active backend next to a local memcpy.
#pragma once

#include <ostream>

#include "distributed/communicator.h"

namespace pride {

// Collective over `comm`. For float32 tensors of 4 KiB .. 64 MiB (powers of 4) times an in-place
// all_reduce and a same-size tensor copy on comm.device(); rank 0 writes one table row per size
// (latency, algbw = bytes / time, busbw = algbw * 2(n-1)/n, memcpy bandwidth) to `out`.
void run_allreduce_benchmark(Communicator& comm, std::ostream& out);

}  // namespace pride
