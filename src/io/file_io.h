// The file-I/O module below everything: whole-file reads, durable and atomic writes (fsync of the
// file, rename, fsync of its directory) and a streaming xxh64. Checkpoints, manifests, the teacher
// pass, the shard tool, synthetic data and the dialogue writer all write through it.
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
// fsyncs a file that was written and closed by someone else (HDF5, a stream).
void fsync_file(const std::string& path);
// Makes the finished file `temporary` durable and visible as `path`: fsync, rename, fsync the
// directory.
void commit_file(const std::string& temporary, const std::string& path);
// For files a library writes by path (HDF5): `write` creates the whole file at the temporary path
// it is given (`path` + `suffix`) and closes it, then commit_file. When `write` throws, the
// temporary file is removed and `path` is left as it was.
void write_file_atomically(const std::string& path,
                           const std::function<void(const std::string& temporary)>& write,
                           const std::string& suffix = ".tmp");

// The whole file; pride::Error naming it when missing or unreadable.
std::string read_text_file(const std::string& path);

// Receives a file's bytes [offset, offset + size) as they are read.
using ChunkConsumer = std::function<void(int64_t offset, const char* data, int64_t size)>;
// Size of `path` in bytes, or a pride::Error naming it when missing or unreadable.
int64_t file_size(const std::string& path);
// Reads `path` front to back through one reusable buffer, passing each chunk to `on_chunk`, and
// returns the file's digest (hashed while reading: the file is read once and never held whole).
FileDigest read_file_in_chunks(const std::string& path, const ChunkConsumer& on_chunk);
// The digest of a file's bytes, streamed.
FileDigest digest_file(const std::string& path);

// 16 lowercase hex digits, and back (pride::Error naming `context` when malformed).
std::string to_hex64(uint64_t value);
uint64_t from_hex64(const std::string& text, const std::string& context);

}  // namespace pride
