// The process around a command: exit codes for errors, and MPI for commands that run on every rank.
#pragma once

#include <functional>

#include "cli/command.h"

namespace pride::cli {

// Runs `body` and returns its exit code; an exception becomes its message on standard error and
// exit code 2 (pride::Error: bad input), 69 (pride::TransientError) or 1 (anything else).
int run_reporting_errors(const std::function<int()>& body);

// Brings MPI up, sets the threads per rank, and runs `run` on this rank; an error on any rank ends
// the whole job with that rank's message and exit code.
int run_on_every_rank(int* argc, char*** argv, const RunCommand& run);

}  // namespace pride::cli
