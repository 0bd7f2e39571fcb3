// POSIX file helpers for the core: every error is an exception naming the
// file (std::system_error with the errno), EINTR is retried.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <sys/types.h>

namespace tresor {

[[noreturn]] void throw_errno(const std::string &what);
[[noreturn]] void throw_errno(const std::string &what, int err);

// Closes a file descriptor on scope exit.
class Fd {
public:
	explicit Fd(int fd = -1) : fd_(fd) {}
	~Fd() { reset(); }
	Fd(const Fd &) = delete;
	Fd &operator=(const Fd &) = delete;
	int get() const { return fd_; }
	explicit operator bool() const { return fd_ >= 0; }
	// Gives up ownership.
	int release()
	{
		int fd = fd_;
		fd_ = -1;
		return fd;
	}
	void reset(int fd = -1);

private:
	int fd_;
};

// open(2), retried on EINTR; -1 with errno on failure.
int open_retry(const std::string &path, int flags, mode_t mode = 0);
// Reads exactly size bytes at offset; a file that ends earlier throws.
void pread_full(int fd, char *buf, std::size_t size, std::uint64_t offset,
		const std::string &path);
// Writes all of data; a write that makes no progress is ENOSPC.
void write_all(int fd, std::string_view data, const std::string &path);
std::uint64_t file_size(int fd, const std::string &path);
void fsync_dir(const std::string &path);
// mkdir -p with mode 0700 for every missing component; true when the last
// component was created.
bool make_dirs(const std::string &path);
// "/a/b" -> "/a", "/a" -> "/", "a" -> ".".
std::string parent_dir(const std::string &path);
// A whole small file (a key, a certificate, a time-stamp response).
// Throws std::system_error naming the file, or std::length_error when it
// is larger than max_bytes.
std::string read_small_file(const std::string &path, std::size_t max_bytes);
// Creates (or truncates) path and writes data to it; a failed close is an
// error too.
void write_file(const std::string &path, std::string_view data, mode_t mode);
// Replaces path with data: written to path.tmp, then renamed, so that a
// reader sees the old file or the new one, never a part.
void replace_file(const std::string &path, std::string_view data, mode_t mode);

} // namespace tresor
