// `pride shard`: splits one dialogue file into contiguous, balanced shards that are each a valid
// file of the same format, plus the manifest.json (data/shard_manifest.h) that
// DialogueDataset::open(dir) follows to present the shards as the original index space.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/h5.h"
#include "data/sample.h"
#include "data/shard_manifest.h"

namespace pride {

// "shard-00002-of-00008.h5"
std::string data_shard_file_name(int64_t index, int64_t count);

// Every root attribute of the format, the optional ones (tokenizer, ...) when `in` has them.
void copy_attributes(const h5::File& in, h5::File& out);

// Appends samples [begin, end) of `in` (described by `info`) to `out`, creating its datasets on
// the first call; offsets continue where `out`'s end. Streams in blocks: memory is bounded.
void append_samples(const h5::File& in, const DatasetInfo& info, int64_t begin, int64_t end,
                    h5::File& out);

void write_shard_manifest(const std::string& dir, const ShardManifest& manifest);

// Cuts `in_path` into `shards` contiguous pieces whose sizes differ by at most one sample, written
// to out_dir (created if needed) with their manifest. Streams in blocks: memory is bounded.
void shard_file(const std::string& in_path, const std::string& out_dir, int64_t shards);

}  // namespace pride
