// Whole-file reads, durable and atomic writes, streaming xxh64 (see file_io.h).
#include "io/file_io.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "util/error.h"

namespace pride {
namespace {

namespace fs = std::filesystem;

// A failed write, sync or close. A full disk, an exceeded quota or an I/O error is the machine's
// fault, not the input's: a transient error, so the job can be requeued once space is freed.
[[noreturn]] void fail_io(const char* what, const std::string& path) {
  const int error = errno;
  if (error == ENOSPC || error == EDQUOT || error == EIO) {
    fail_transient("{} {}: {}", what, path, std::strerror(error));
  }
  fail("{} {}: {}", what, path, std::strerror(error));
}

// Closes the descriptor on scope exit so that every error path releases it.
class FileDescriptor {
 public:
  FileDescriptor(const std::string& path, int flags) : path_(path) {
    fd_ = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("{}: cannot open ({})", path, std::strerror(errno));
  }
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;

  void write_all(const void* data, int64_t size) {
    const char* cursor = static_cast<const char*>(data);
    while (size > 0) {
      ssize_t written = ::write(fd_, cursor, static_cast<size_t>(size));
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) fail_io("cannot write", path_);
      cursor += written;
      size -= written;
    }
  }
  // Reads up to `size` bytes; 0 at the end of the file.
  int64_t read_some(void* data, int64_t size) {
    while (true) {
      ssize_t got = ::read(fd_, data, static_cast<size_t>(size));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) fail("cannot read {}: {}", path_, std::strerror(errno));
      return got;
    }
  }
  void sync() {
    if (::fsync(fd_) != 0) fail_io("cannot fsync", path_);
  }
  void close_checked() {
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail_io("cannot close", path_);
  }

 private:
  std::string path_;
  int fd_ = -1;
};

constexpr int64_t kIoChunkBytes = 8 << 20;  // large enough for full-speed I/O, cache-friendly

struct XxhStateDeleter {
  void operator()(XXH64_state_t* state) const { XXH64_freeState(state); }
};

std::string parent_of(const std::string& path) {
  std::string parent = fs::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

}  // namespace

FileDigest write_file_durably(const std::string& path, const std::vector<ByteSpan>& pieces) {
  std::unique_ptr<XXH64_state_t, XxhStateDeleter> hash(XXH64_createState());
  XXH64_reset(hash.get(), 0);
  FileDescriptor file(path, O_WRONLY | O_CREAT | O_TRUNC);
  FileDigest digest;
  for (const ByteSpan& piece : pieces) {
    // In chunks, so that each is hashed while the write has just brought it into the cache.
    for (int64_t done = 0; done < piece.size; done += kIoChunkBytes) {
      const char* chunk = static_cast<const char*>(piece.data) + done;
      const int64_t size = std::min(kIoChunkBytes, piece.size - done);
      file.write_all(chunk, size);
      XXH64_update(hash.get(), chunk, static_cast<size_t>(size));
    }
    digest.bytes += piece.size;
  }
  file.sync();
  file.close_checked();
  digest.xxh64 = XXH64_digest(hash.get());
  return digest;
}

void replace_file_atomically(const std::string& path, const std::string& content) {
  const std::string temporary = path + ".tmp";
  write_file_durably(temporary, {{content.data(), static_cast<int64_t>(content.size())}});
  rename_durably(temporary, path);
}

void fsync_directory(const std::string& dir) {
  FileDescriptor directory(dir, O_RDONLY | O_DIRECTORY);
  directory.sync();
}

void rename_durably(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    fail("cannot rename {} to {}: {}", from, to, std::strerror(errno));
  }
  fsync_directory(parent_of(to));
}

void fsync_file(const std::string& path) {
  FileDescriptor file(path, O_RDONLY);
  file.sync();
}

void commit_file(const std::string& temporary, const std::string& path) {
  fsync_file(temporary);
  rename_durably(temporary, path);
}

void write_file_atomically(const std::string& path,
                           const std::function<void(const std::string& temporary)>& write,
                           const std::string& suffix) {
  const std::string temporary = path + suffix;
  try {
    write(temporary);
    commit_file(temporary, path);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw;
  }
}

std::string read_text_file(const std::string& path) {
  std::string text;
  read_file_in_chunks(path,
                      [&](int64_t, const char* data, int64_t size) { text.append(data, size); });
  return text;
}

int64_t file_size(const std::string& path) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  if (error) fail("{}: cannot open ({})", path, fs::exists(path) ? "unreadable" : "missing");
  return static_cast<int64_t>(size);
}

FileDigest read_file_in_chunks(const std::string& path, const ChunkConsumer& on_chunk) {
  // Small files (manifests, `latest`) get a buffer of their own size.
  const int64_t buffer_bytes = std::clamp<int64_t>(file_size(path), 1, kIoChunkBytes);
  FileDescriptor file(path, O_RDONLY);
  std::unique_ptr<XXH64_state_t, XxhStateDeleter> hash(XXH64_createState());
  XXH64_reset(hash.get(), 0);
  std::vector<char> buffer(static_cast<size_t>(buffer_bytes));
  FileDigest digest;
  while (const int64_t got = file.read_some(buffer.data(), buffer_bytes)) {
    XXH64_update(hash.get(), buffer.data(), static_cast<size_t>(got));
    if (on_chunk) on_chunk(digest.bytes, buffer.data(), got);
    digest.bytes += got;
  }
  digest.xxh64 = XXH64_digest(hash.get());
  return digest;
}

FileDigest digest_file(const std::string& path) {
  return read_file_in_chunks(path, nullptr);
}

std::string to_hex64(uint64_t value) {
  return fmt::format("{:016x}", value);
}

uint64_t from_hex64(const std::string& text, const std::string& context) {
  if (text.size() != 16 || text.find_first_not_of("0123456789abcdef") != std::string::npos) {
    fail("{}: expected 16 lowercase hex digits, got '{}'", context, text);
  }
  return std::stoull(text, nullptr, 16);
}

}  // namespace pride
