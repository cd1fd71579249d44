#pragma once
// Whole-file reads and crash-safe writes.
//
// write_file_atomically: the new content goes to a temporary file in the same directory, is
// flushed to disk (fsync), then renamed over the target, and the directory entry is synced. A crash
// or kill at any point leaves either the old file or the new one, never a half-written one.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/std.h>

#include "error.hpp"

namespace tailor {

namespace detail {

inline std::string errno_text(int err) { return std::strerror(err); }

// Closes a file descriptor on scope exit.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

inline void write_all(int fd, const void* data, std::size_t size, const std::filesystem::path& path) {
  auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw error(failure_code::io_error, fmt::format("cannot write {}: {}", path, errno_text(errno)));
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

inline void fsync_directory(const std::filesystem::path& dir) {
  fd_guard d{::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd >= 0) ::fsync(d.fd);  // best effort: some file systems do not support it on directories
}

inline std::filesystem::path temporary_sibling(const std::filesystem::path& target) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return target.parent_path() / fmt::format(".{}.tmp-{}-{:x}", target.filename().string(), ::getpid(), rng());
}

}  // namespace detail

// Reads a whole file. Throws error{io_error} naming the file when it is missing or unreadable.
inline std::vector<std::uint8_t> read_file(const std::filesystem::path& path) {
  detail::fd_guard f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0)
    throw error(failure_code::io_error, fmt::format("cannot open {}: {}", path, detail::errno_text(errno)));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode))
    throw error(failure_code::io_error, fmt::format("{} is not a regular file", path));
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(f.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw error(failure_code::io_error, fmt::format("cannot read {}: {}", path, detail::errno_text(errno)));
    if (n == 0) break;  // the file shrank while we read it
    done += static_cast<std::size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

// How write_file_atomically treats an existing target.
enum class overwrite { allow, forbid };

// Writes `bytes` to `path` atomically (temp file + fsync + rename + directory fsync).
// With overwrite::forbid the final step is link(2), which fails atomically if `path` exists:
// two processes creating the same object cannot both succeed. Throws error{already_exists} then.
inline void write_file_atomically(const std::filesystem::path& path, std::span<const std::uint8_t> bytes,
                                  overwrite mode = overwrite::allow) {
  const auto tmp = detail::temporary_sibling(path);
  {
    detail::fd_guard f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)};
    if (f.fd < 0)
      throw error(failure_code::io_error, fmt::format("cannot create {}: {}", tmp, detail::errno_text(errno)));
    try {
      detail::write_all(f.fd, bytes.data(), bytes.size(), tmp);
      if (::fsync(f.fd) != 0)
        throw error(failure_code::io_error, fmt::format("cannot flush {}: {}", tmp, detail::errno_text(errno)));
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
  }
  if (mode == overwrite::forbid) {
    int rc = ::link(tmp.c_str(), path.c_str());
    int err = errno;
    ::unlink(tmp.c_str());
    if (rc != 0) {
      if (err == EEXIST) throw error(failure_code::already_exists, fmt::format("{} already exists", path));
      throw error(failure_code::io_error, fmt::format("cannot create {}: {}", path, detail::errno_text(err)));
    }
  } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw error(failure_code::io_error, fmt::format("cannot replace {}: {}", path, detail::errno_text(err)));
  }
  detail::fsync_directory(path.parent_path());
}

inline void write_file_atomically(const std::filesystem::path& path, std::string_view text,
                                  overwrite mode = overwrite::allow) {
  write_file_atomically(path, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), mode);
}

}  // namespace tailor
