// Durable file primitives for checkpoints: fsync'd writes, atomic replace, whole-file xxh64.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pride {

// Size and xxh64 (seed 0) of a file's bytes.
struct FileDigest {
  int64_t bytes = 0;
  uint64_t xxh64 = 0;
};

// A run of bytes to write (not owned).
struct ByteSpan {
  const void* data = nullptr;
  int64_t size = 0;
};

// Writes `pieces` back to back into a new file at `path`, fsyncs it and returns its digest
// (hashed while writing, so the file is not read back).
FileDigest write_file_durably(const std::string& path, const std::vector<ByteSpan>& pieces);
// Replaces `path` by `content` atomically: writes <path>.tmp, fsyncs, renames, fsyncs the parent.
void replace_file_atomically(const std::string& path, const std::string& content);
// fsyncs a directory so that renames and new entries in it survive a crash.
void fsync_directory(const std::string& dir);
// Renames and fsyncs the parent directory of `to`.
void rename_durably(const std::string& from, const std::string& to);

std::string read_text_file(const std::string& path);

// Receives a file's bytes [offset, offset + size) as they are read.
using ChunkConsumer = std::function<void(int64_t offset, const char* data, int64_t size)>;
// Size of `path` in bytes, or a pride::Error naming it when missing or unreadable.
int64_t file_size(const std::string& path);
// Reads `path` front to back through one reusable buffer, passing each chunk to `on_chunk`, and
// returns the file's digest (hashed while reading: the file is read once and never held whole).
FileDigest read_file_in_chunks(const std::string& path, const ChunkConsumer& on_chunk);

// 16 lowercase hex digits, and back (pride::Error naming `context` when malformed).
std::string to_hex64(uint64_t value);
uint64_t from_hex64(const std::string& text, const std::string& context);

}  // namespace pride
