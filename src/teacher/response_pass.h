// `pride teach` in its response modes (teach.mode respond | improve, docs/dpo.md): the teacher
// writes each dialogue's response with the direct prompt, or rewrites the response the dialogue
// holds with one of the empathy-improvement prompts. The output is dialogue JSONL, in input order,
// that `pride teach` (PRIDE) and `pride data pairs --dialogues` (SFT, DPO) read: the response is
// the teacher's, "reference" keeps the data set's gold response and, when improving, "original" the
// response that was rewritten. Data-parallel and resumable like the targets pass: each rank takes a
// contiguous run of parts, each part is written atomically and reused by a rerun of the same
// configuration (at any world size), and rank 0 joins the parts once every rank has finished.
#pragma once

#include <torch/torch.h>

#include "config/config.h"
#include "distributed/communicator.h"

namespace pride::teacher {

// The joined output, teach.out/responses.jsonl.
inline constexpr char kResponsesFile[] = "responses.jsonl";

void run_response_pass(const Config& config, Communicator& comm, torch::Device device);

}  // namespace pride::teacher
