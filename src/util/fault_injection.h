// Fault injection for the failure tests: the environment variable
//   PRIDE_INJECT_FAULT=<point>:<rank>:<step>:<action>      (<step> may be * for every step)
// makes rank <rank> fail at <point> ("step" at the start of a training step, "save" after its
// checkpoint shard is written and before the checkpoint is published; "teach_part" after `pride
// teach` wrote a part, <step> counting the rank's parts from 0) of step <step>, with
// <action>: "throw" (a pride::Error, as bad data would), "hang" (stops answering, as a stuck node
// would) or "kill" (SIGKILL, as the OOM killer would). Unset in normal runs: one getenv per call.
#pragma once

#include <cstdint>
#include <string>

namespace pride {

void maybe_inject_fault(const std::string& point, int rank, int64_t step);

// Whether PRIDE_INJECT_FAULT asks for `action` at this point, rank and step.
bool fault_requested(const std::string& point, int rank, int64_t step, const std::string& action);

}  // namespace pride
