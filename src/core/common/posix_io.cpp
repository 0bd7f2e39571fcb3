#include "common/posix_io.hpp"

#include <cerrno>
#include <stdexcept>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tresor {

void throw_errno(const std::string &what)
{
	throw_errno(what, errno);
}

void throw_errno(const std::string &what, int err)
{
	throw std::system_error(err, std::generic_category(), what);
}

void Fd::reset(int fd)
{
	if (fd_ >= 0)
		::close(fd_);
	fd_ = fd;
}

int open_retry(const std::string &path, int flags, mode_t mode)
{
	int fd;
	do
		fd = ::open(path.c_str(), flags, mode);
	while (fd < 0 && errno == EINTR);
	return fd;
}

void pread_full(int fd, char *buf, std::size_t size, std::uint64_t offset,
		const std::string &path)
{
	while (size > 0) {
		ssize_t n = ::pread(fd, buf, size, static_cast<off_t>(offset));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			throw_errno("pread(" + path + ")");
		}
		if (n == 0)
			throw std::runtime_error("pread(" + path +
						 "): unexpected end of file (file shrank?)");
		buf += n;
		size -= static_cast<std::size_t>(n);
		offset += static_cast<std::uint64_t>(n);
	}
}

void write_all(int fd, std::string_view data, const std::string &path)
{
	while (!data.empty()) {
		ssize_t n = ::write(fd, data.data(), data.size());
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			throw_errno("write(" + path + ")", n < 0 ? errno : ENOSPC);
		data.remove_prefix(static_cast<std::size_t>(n));
	}
}

std::uint64_t file_size(int fd, const std::string &path)
{
	struct stat st;
	if (::fstat(fd, &st) < 0)
		throw_errno("fstat(" + path + ")");
	return static_cast<std::uint64_t>(st.st_size);
}

void fsync_dir(const std::string &path)
{
	Fd fd(open_retry(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!fd)
		throw_errno("open(" + path + ")");
	if (::fsync(fd.get()) < 0)
		throw_errno("fsync(" + path + ")");
}

bool make_dirs(const std::string &path)
{
	bool created = false;
	std::size_t pos = 0;
	while (pos != std::string::npos) {
		pos = path.find('/', pos + 1);
		std::string prefix = path.substr(0, pos);
		if (prefix.empty())
			continue;
		if (::mkdir(prefix.c_str(), 0700) == 0) {
			created = true;
			continue;
		}
		if (errno != EEXIST)
			throw_errno("mkdir(" + prefix + ")");
		created = false;
		struct stat st;
		if (::stat(prefix.c_str(), &st) < 0)
			throw_errno("stat(" + prefix + ")");
		if (!S_ISDIR(st.st_mode))
			throw std::runtime_error(prefix + ": not a directory");
	}
	return created;
}

std::string parent_dir(const std::string &path)
{
	std::size_t p = path.find_last_of('/');
	if (p == std::string::npos)
		return ".";
	if (p == 0)
		return "/";
	return path.substr(0, p);
}

std::string read_small_file(const std::string &path, std::size_t max_bytes)
{
	Fd fd(open_retry(path, O_RDONLY | O_CLOEXEC));
	if (!fd)
		throw_errno("open(" + path + ")");
	std::string data;
	char buf[8192];
	for (;;) {
		ssize_t n = ::read(fd.get(), buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			throw_errno("read(" + path + ")");
		if (n == 0)
			break;
		data.append(buf, static_cast<std::size_t>(n));
		if (data.size() > max_bytes) {
			throw std::length_error(path + " is larger than " +
						std::to_string(max_bytes) + " bytes");
		}
	}
	return data;
}

void write_file(const std::string &path, std::string_view data, mode_t mode)
{
	Fd fd(open_retry(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
	if (!fd)
		throw_errno("open(" + path + ")");
	write_all(fd.get(), data, path);
	if (::close(fd.release()) < 0)
		throw_errno("close(" + path + ")");
}

void replace_file(const std::string &path, std::string_view data, mode_t mode)
{
	std::string tmp = path + ".tmp";
	try {
		write_file(tmp, data, mode);
	} catch (...) {
		::unlink(tmp.c_str());
		throw;
	}
	if (::rename(tmp.c_str(), path.c_str()) < 0) {
		int err = errno;
		::unlink(tmp.c_str());
		throw_errno("write(" + path + ")", err);
	}
}

} // namespace tresor
