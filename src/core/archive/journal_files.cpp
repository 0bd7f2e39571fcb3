#include "archive/journal_files.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "archive/record.hpp"
#include "common/posix_io.hpp"

namespace tresor {

namespace {

// Position of the last '\n' in [0, before).
std::optional<std::uint64_t> find_last_newline(int fd, std::uint64_t before,
					       const std::string &path)
{
	std::string buf(kJournalReadChunk, '\0');
	std::uint64_t pos = before;
	while (pos > 0) {
		std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(pos, kJournalReadChunk));
		pos -= n;
		pread_full(fd, buf.data(), n, pos, path);
		for (std::size_t i = n; i-- > 0;) {
			if (buf[i] == '\n')
				return pos + i;
		}
	}
	return std::nullopt;
}

char last_byte(int fd, std::uint64_t size, const std::string &path)
{
	char c = 0;
	pread_full(fd, &c, 1, size - 1, path);
	return c;
}

} // namespace

int open_journal_file(const std::string &path, bool want_new, bool &created)
{
	created = false;
	int fd;
	if (want_new) {
		fd = open_retry(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0)
			created = true;
		else if (errno == EEXIST)
			fd = open_retry(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	} else {
		fd = open_retry(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	}
	if (fd < 0)
		throw_errno("open(" + path + ")");
	return fd;
}

std::string journal_dir_path(const std::string &dir)
{
	return dir + "/journal";
}

std::string intent_path(const std::string &dir)
{
	return dir + "/intent.jsonl";
}

JournalFile journal_file_of_year(const std::string &dir, int year)
{
	char name[32];
	std::snprintf(name, sizeof(name), "%04d.jsonl", year);
	return {year, name, journal_dir_path(dir) + "/" + name};
}

bool parse_journal_file_name(std::string_view name, int *year_r)
{
	if (name.size() != 10 || name.substr(4) != ".jsonl")
		return false;
	int year = 0;
	for (std::size_t i = 0; i < 4; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		year = year * 10 + (name[i] - '0');
	}
	if (year_r != nullptr)
		*year_r = year;
	return true;
}

std::vector<JournalFile> list_journal_files(const std::string &dir)
{
	std::string jdir = journal_dir_path(dir);
	std::vector<JournalFile> files;
	DIR *d = ::opendir(jdir.c_str());
	if (d == nullptr) {
		if (errno == ENOENT)
			return files;
		throw_errno("opendir(" + jdir + ")");
	}
	try {
		for (;;) {
			errno = 0;
			struct dirent *de = ::readdir(d);
			if (de == nullptr) {
				if (errno != 0)
					throw_errno("readdir(" + jdir + ")");
				break;
			}
			int year;
			if (parse_journal_file_name(de->d_name, &year))
				files.push_back({year, de->d_name, jdir + "/" + de->d_name});
		}
	} catch (...) {
		::closedir(d);
		throw;
	}
	::closedir(d);
	std::sort(files.begin(), files.end(),
		  [](const JournalFile &a, const JournalFile &b) { return a.year < b.year; });
	return files;
}

LineReader::LineReader(const std::string &path, std::uint64_t offset)
	: path_(path), offset_(offset)
{
	fd_ = open_retry(path, O_RDONLY | O_CLOEXEC);
	if (fd_ < 0)
		throw_errno("open(" + path + ")");
}

LineReader::~LineReader()
{
	if (fd_ >= 0)
		::close(fd_);
}

bool LineReader::fill()
{
	if (eof_)
		return false;
	std::uint64_t read_off = offset_; // everything before was consumed
	buf_.resize(kJournalReadChunk);
	ssize_t n;
	do
		n = ::pread(fd_, buf_.data(), buf_.size(), static_cast<off_t>(read_off));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		throw_errno("read(" + path_ + ")");
	buf_.resize(static_cast<std::size_t>(n));
	pos_ = 0;
	if (n == 0) {
		eof_ = true;
		return false;
	}
	return true;
}

bool LineReader::next(std::string &line, bool &terminated_r)
{
	line.clear();
	for (;;) {
		if (pos_ < buf_.size()) {
			const char *s = buf_.data() + pos_;
			std::size_t avail = buf_.size() - pos_;
			const void *nl = std::memchr(s, '\n', avail);
			if (nl != nullptr) {
				std::size_t len = static_cast<std::size_t>(
					static_cast<const char *>(nl) - s);
				line.append(s, len);
				pos_ += len + 1;
				offset_ += len + 1;
				terminated_r = true;
				return true;
			}
			line.append(s, avail);
			pos_ = buf_.size();
			offset_ += avail;
		}
		if (!fill()) {
			terminated_r = false;
			return !line.empty();
		}
	}
}

std::string read_line_before(int fd, std::uint64_t end, const std::string &path)
{
	std::uint64_t e = end;
	if (e > 0 && last_byte(fd, e, path) == '\n')
		e--;
	auto nl = find_last_newline(fd, e, path);
	std::uint64_t start = nl ? *nl + 1 : 0;
	std::string line(static_cast<std::size_t>(e - start), '\0');
	pread_full(fd, line.data(), line.size(), start, path);
	return line;
}

std::uint64_t end_of_complete_lines(int fd, std::uint64_t size, const std::string &path)
{
	if (size == 0 || last_byte(fd, size, path) == '\n')
		return size;
	auto nl = find_last_newline(fd, size, path);
	return nl ? *nl + 1 : 0;
}

void for_each_journal_line(const std::vector<JournalFile> &files, std::size_t first,
			   std::uint64_t offset, const JournalLineVisitor &visit)
{
	for (std::size_t k = first; k < files.size(); k++) {
		LineReader r(files[k].path, k == first ? offset : 0);
		std::string line;
		bool terminated;
		while (r.next(line, terminated)) {
			if (!terminated && k + 1 == files.size())
				break;
			visit(files[k], line, r.offset());
		}
	}
}

std::optional<std::size_t> journal_resume_point(const std::vector<JournalFile> &files,
						const JournalPos &pos)
{
	std::size_t k = 0;
	while (k < files.size() && files[k].name != pos.file)
		k++;
	if (k == files.size() || pos.offset == 0)
		return std::nullopt;
	Fd fd(open_retry(files[k].path, O_RDONLY | O_CLOEXEC));
	if (!fd)
		throw_errno("open(" + files[k].path + ")");
	if (file_size(fd.get(), files[k].path) < pos.offset ||
	    last_byte(fd.get(), pos.offset, files[k].path) != '\n' ||
	    sha256_hex(read_line_before(fd.get(), pos.offset, files[k].path)) != pos.hash)
		return std::nullopt;
	return k;
}

namespace {

// Lenient seq counting over the whole journal, up to the head: each line's
// own seq where it can be parsed, else the previous seq + 1.
std::uint64_t count_seq(const std::vector<JournalFile> &files)
{
	std::uint64_t seq = 0;
	for_each_journal_line(files, 0, 0, [&](const JournalFile &, const std::string &line,
					       std::uint64_t) {
		auto j = parse_line(line);
		auto s = j ? record_seq(*j) : std::nullopt;
		seq = s ? *s : seq + 1;
	});
	return seq;
}

} // namespace

JournalPos read_journal_head(const std::string &dir)
{
	return read_journal_head(list_journal_files(dir));
}

JournalPos read_journal_head(const std::vector<JournalFile> &files)
{
	for (std::size_t k = files.size(); k-- > 0;) {
		const JournalFile &f = files[k];
		Fd fd(open_retry(f.path, O_RDONLY | O_CLOEXEC));
		if (fd.get() < 0)
			throw_errno("open(" + f.path + ")");
		std::uint64_t end = file_size(fd.get(), f.path);
		if (k + 1 == files.size()) // an interrupted write is not part of it
			end = end_of_complete_lines(fd.get(), end, f.path);
		if (end == 0)
			continue;
		std::string line = read_line_before(fd.get(), end, f.path);
		JournalPos pos;
		pos.file = f.name;
		pos.offset = end;
		pos.hash = sha256_hex(line);
		// (read at every commit: the fast path where it can)
		RecordFields fields;
		std::optional<std::uint64_t> s;
		if (parse_record_fields(line, fields))
			s = fields.seq;
		pos.seq = s ? *s : count_seq(files);
		return pos;
	}
	return JournalPos{};
}

} // namespace tresor
