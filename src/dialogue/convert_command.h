// `pride data convert`: a published dialogue data set to the dialogue text format.
#pragma once

#include <CLI/CLI.hpp>

namespace pride::dialogue {

// Adds the `convert` subcommand to `data`; it runs from CLI11's callback, without MPI.
void add_convert_command(CLI::App& data);

}  // namespace pride::dialogue
