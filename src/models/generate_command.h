// `pride generate`: text generation with a Hugging Face causal LM (a single process, no MPI).
#pragma once

#include <CLI/CLI.hpp>

namespace pride {

// Adds the `generate` subcommand to `app`; it runs as the command line is parsed.
void add_generate_command(CLI::App& app);

}  // namespace pride
