#include "archive/journal.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/catalog.hpp"
#include "common/posix_io.hpp"
#include "common/text.hpp"

namespace tresor {

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

// Position of the last '\n' in [0, before).
std::optional<std::uint64_t> find_last_newline(int fd, std::uint64_t before,
					       const std::string &path)
{
	std::string buf(kReadChunk, '\0');
	std::uint64_t pos = before;
	while (pos > 0) {
		std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(pos, kReadChunk));
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

// Lenient seq counting over the whole journal, up to the head: each line's
// own seq where it can be parsed, else the previous seq + 1.
std::uint64_t count_seq(const std::vector<JournalFile> &files)
{
	std::uint64_t seq = 0;
	for (std::size_t k = 0; k < files.size(); k++) {
		LineReader r(files[k].path);
		std::string line;
		bool term;
		while (r.next(line, term)) {
			if (!term && k + 1 == files.size())
				break; // interrupted write, not part of the journal
			auto j = parse_line(line);
			auto s = j ? record_seq(*j) : std::nullopt;
			seq = s ? *s : seq + 1;
		}
	}
	return seq;
}

const char *const field_names[] = {
	"seq",          "time",           "event",
	"mailbox",      "mailbox_guid",   "uidvalidity",
	"uid",          "guid",           "size",
	"sha256",       "imap_sha256",    "content_sha256", "message_id",
	"duplicate_of", "content_duplicate_of", "archive", "action",
	"new_mailbox",  "service",        "session",
	"reason",       "prev",           nullptr,
};

} // namespace

// Opens a year's journal file for appending; want_new creates it (created
// says whether this call did: another writer may have been first).
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
	buf_.resize(kReadChunk);
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

JournalPos read_journal_head(const std::string &dir)
{
	std::vector<JournalFile> files = list_journal_files(dir);
	for (std::size_t k = files.size(); k-- > 0;) {
		const JournalFile &f = files[k];
		Fd fd(open_retry(f.path, O_RDONLY | O_CLOEXEC));
		if (fd.get() < 0)
			throw_errno("open(" + f.path + ")");
		std::uint64_t end = file_size(fd.get(), f.path);
		if (k + 1 == files.size() && end > 0 && last_byte(fd.get(), end, f.path) != '\n') {
			auto nl = find_last_newline(fd.get(), end, f.path);
			end = nl ? *nl + 1 : 0;
		}
		if (end == 0)
			continue;
		std::string line = read_line_before(fd.get(), end, f.path);
		JournalPos pos;
		pos.file = f.name;
		pos.offset = end;
		pos.hash = sha256_hex(line);
		auto j = parse_line(line);
		auto s = j ? record_seq(*j) : std::nullopt;
		pos.seq = s ? *s : count_seq(files);
		return pos;
	}
	return JournalPos{};
}

std::string format_time(Clock::time_point t)
{
	using namespace std::chrono;
	std::int64_t us = duration_cast<microseconds>(t.time_since_epoch()).count();
	std::int64_t secs = us / 1000000;
	std::int64_t frac = us % 1000000;
	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	std::time_t tt = static_cast<std::time_t>(secs);
	struct tm tm;
	if (::gmtime_r(&tt, &tm) == nullptr)
		throw std::runtime_error("time out of range");
	char buf[64];
	std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
		      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		      tm.tm_min, tm.tm_sec, static_cast<int>(frac));
	return buf;
}

int utc_year(Clock::time_point t)
{
	std::time_t tt = Clock::to_time_t(t);
	struct tm tm;
	if (::gmtime_r(&tt, &tm) == nullptr)
		throw std::runtime_error("time out of range");
	return tm.tm_year + 1900;
}

json record_json(const Record &rec, std::uint64_t seq, Clock::time_point t,
		 const std::string &prev)
{
	json j = json::object();
	j["seq"] = seq;
	j["time"] = format_time(t);
	j["event"] = rec.event;
	auto str = [&j](const char *key, const std::optional<std::string> &v) {
		if (v)
			j[key] = *v;
	};
	auto num = [&j](const char *key, std::uint64_t v) {
		if (v != 0)
			j[key] = v;
	};
	str("mailbox", rec.mailbox);
	str("mailbox_guid", rec.mailbox_guid);
	num("uidvalidity", rec.uidvalidity);
	num("uid", rec.uid);
	str("guid", rec.guid);
	num("size", rec.size);
	str("sha256", rec.sha256);
	str("imap_sha256", rec.imap_sha256);
	str("content_sha256", rec.content_sha256);
	str("message_id", rec.message_id);
	num("duplicate_of", rec.duplicate_of);
	num("content_duplicate_of", rec.content_duplicate_of);
	num("archive", rec.archive);
	str("action", rec.action);
	str("new_mailbox", rec.new_mailbox);
	str("service", rec.service);
	str("session", rec.session);
	str("reason", rec.reason);
	for (const auto &[key, value] : rec.extra)
		j[key] = value;
	j["prev"] = prev;
	return j;
}

std::string dump_line(const json &j)
{
	return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<json> parse_line(std::string_view line)
{
	json j = json::parse(line.begin(), line.end(), nullptr, false);
	if (j.is_discarded() || !j.is_object())
		return std::nullopt;
	return j;
}

std::optional<std::uint64_t> record_seq(const json &j)
{
	auto it = j.find("seq");
	if (it == j.end())
		return std::nullopt;
	if (it->is_number_unsigned())
		return it->get<std::uint64_t>();
	if (it->is_number_integer() && it->get<std::int64_t>() >= 0)
		return static_cast<std::uint64_t>(it->get<std::int64_t>());
	return std::nullopt;
}

std::string json_string(const json &j, const char *key)
{
	auto it = j.find(key);
	if (it == j.end() || !it->is_string())
		return "";
	return it->get<std::string>();
}

std::uint64_t json_uint(const json &j, const char *key)
{
	auto it = j.find(key);
	if (it == j.end())
		return 0;
	if (it->is_number_unsigned())
		return it->get<std::uint64_t>();
	if (it->is_number_integer() && it->get<std::int64_t>() >= 0)
		return static_cast<std::uint64_t>(it->get<std::int64_t>());
	return 0;
}

// ------------------------------------------------------- record fields

namespace {

bool is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Length of the well-formed UTF-8 sequence starting at s[0] with a lead
// byte >= 0x80 (Unicode table 3-7, as the JSON parser checks it), or 0.
std::size_t utf8_sequence_length(std::string_view s)
{
	auto byte = [&s](std::size_t i) {
		return i < s.size() ? static_cast<unsigned char>(s[i]) : 0u;
	};
	auto in = [](unsigned c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
	unsigned c0 = byte(0);
	if (in(c0, 0xC2, 0xDF))
		return in(byte(1), 0x80, 0xBF) ? 2 : 0;
	if (in(c0, 0xE0, 0xEF)) {
		unsigned lo = c0 == 0xE0 ? 0xA0 : 0x80;
		unsigned hi = c0 == 0xED ? 0x9F : 0xBF;
		return in(byte(1), lo, hi) && in(byte(2), 0x80, 0xBF) ? 3 : 0;
	}
	if (in(c0, 0xF0, 0xF4)) {
		unsigned lo = c0 == 0xF0 ? 0x90 : 0x80;
		unsigned hi = c0 == 0xF4 ? 0x8F : 0xBF;
		return in(byte(1), lo, hi) && in(byte(2), 0x80, 0xBF) &&
		       in(byte(3), 0x80, 0xBF) ? 4 : 0;
	}
	return 0;
}

// The members RecordFields holds; each may be given once on the fast path.
enum class RecordMember {
	Seq, Event, Mailbox, MailboxGuid, Uidvalidity, Uid, Guid, Sha256,
	NewMailbox, Prev, Time, MessageId, Archive, Other
};

RecordMember record_member(std::string_view key)
{
	static constexpr std::pair<std::string_view, RecordMember> members[] = {
		{"seq", RecordMember::Seq},
		{"event", RecordMember::Event},
		{"mailbox", RecordMember::Mailbox},
		{"mailbox_guid", RecordMember::MailboxGuid},
		{"uidvalidity", RecordMember::Uidvalidity},
		{"uid", RecordMember::Uid},
		{"guid", RecordMember::Guid},
		{"sha256", RecordMember::Sha256},
		{"new_mailbox", RecordMember::NewMailbox},
		{"prev", RecordMember::Prev},
		{"time", RecordMember::Time},
		{"message_id", RecordMember::MessageId},
		{"archive", RecordMember::Archive},
	};
	for (const auto &[name, member] : members) {
		if (key == name)
			return member;
	}
	return RecordMember::Other;
}

// A strict reader of one flat JSON object: "{" (string ":" (string |
// unsigned integer)) ... "}" with JSON white space. Every method returns
// false for input it doesn't handle; the caller then uses the full parser.
class FlatObjectReader {
public:
	explicit FlatObjectReader(std::string_view text) : s_(text) {}

	bool read(RecordFields &f)
	{
		f.clear();
		unsigned seen = 0; // bit per RecordMember already given
		skip_space();
		if (!take('{'))
			return false;
		skip_space();
		if (!take('}')) {
			for (;;) {
				if (!string(key_))
					return false;
				skip_space();
				if (!take(':'))
					return false;
				skip_space();
				RecordMember m = record_member(key_);
				if (m != RecordMember::Other) {
					unsigned bit = 1u << static_cast<unsigned>(m);
					if ((seen & bit) != 0)
						return false; // the full parser keeps the last one
					seen |= bit;
				}
				if (!value(m, f))
					return false;
				skip_space();
				if (take('}'))
					break;
				if (!take(','))
					return false;
				skip_space();
			}
		}
		skip_space();
		return pos_ == s_.size();
	}

private:
	void skip_space()
	{
		while (pos_ < s_.size() && is_json_space(s_[pos_]))
			pos_++;
	}

	bool take(char c)
	{
		if (pos_ < s_.size() && s_[pos_] == c) {
			pos_++;
			return true;
		}
		return false;
	}

	bool value(RecordMember m, RecordFields &f)
	{
		if (pos_ >= s_.size())
			return false;
		if (s_[pos_] == '"') {
			std::string *target = &scratch_;
			switch (m) {
			case RecordMember::Event: target = &f.event; break;
			case RecordMember::Mailbox: target = &f.mailbox; break;
			case RecordMember::MailboxGuid: target = &f.mailbox_guid; break;
			case RecordMember::Guid: target = &f.guid; break;
			case RecordMember::Sha256: target = &f.sha256; break;
			case RecordMember::NewMailbox: target = &f.new_mailbox; break;
			case RecordMember::Prev: target = &f.prev; break;
			case RecordMember::Time: target = &f.time; break;
			case RecordMember::MessageId: target = &f.message_id; break;
			default: break; // a number member given as a string reads as unset
			}
			if (!string(*target))
				return false;
			if (m == RecordMember::Prev)
				f.has_prev = true;
			return true;
		}
		std::uint64_t n;
		if (!unsigned_number(n))
			return false;
		switch (m) {
		case RecordMember::Seq: f.seq = n; break;
		case RecordMember::Uidvalidity: f.uidvalidity = n; break;
		case RecordMember::Uid: f.uid = n; break;
		case RecordMember::Archive: f.archive = n; break;
		default: break; // a string member given as a number reads as ""
		}
		return true;
	}

	// At the opening quote; leaves pos_ after the closing one.
	bool string(std::string &out)
	{
		if (!take('"'))
			return false;
		out.clear();
		std::size_t run = pos_; // start of bytes not yet copied
		while (pos_ < s_.size()) {
			auto c = static_cast<unsigned char>(s_[pos_]);
			if (c == '"') {
				out.append(s_.substr(run, pos_ - run));
				pos_++;
				return true;
			}
			if (c == '\\') {
				out.append(s_.substr(run, pos_ - run));
				if (!escape(out))
					return false;
				run = pos_;
			} else if (c < 0x20) {
				return false; // control characters must be escaped
			} else if (c < 0x80) {
				pos_++;
			} else {
				std::size_t n = utf8_sequence_length(s_.substr(pos_));
				if (n == 0)
					return false;
				pos_ += n;
			}
		}
		return false; // no closing quote
	}

	// At the backslash.
	bool escape(std::string &out)
	{
		if (pos_ + 1 >= s_.size())
			return false;
		char e = s_[pos_ + 1];
		pos_ += 2;
		switch (e) {
		case '"': out += '"'; return true;
		case '\\': out += '\\'; return true;
		case '/': out += '/'; return true;
		case 'b': out += '\b'; return true;
		case 'f': out += '\f'; return true;
		case 'n': out += '\n'; return true;
		case 'r': out += '\r'; return true;
		case 't': out += '\t'; return true;
		case 'u': break;
		default: return false;
		}
		if (pos_ + 4 > s_.size())
			return false;
		unsigned cp = 0;
		for (int i = 0; i < 4; i++) {
			int d = text::hex_digit_value(s_[pos_ + i]);
			if (d < 0)
				return false;
			cp = cp * 16 + static_cast<unsigned>(d);
		}
		pos_ += 4;
		if (cp >= 0xD800 && cp <= 0xDFFF)
			return false; // surrogate pairs: left to the full parser
		if (cp < 0x80) {
			out += static_cast<char>(cp);
		} else if (cp < 0x800) {
			out += static_cast<char>(0xC0 | (cp >> 6));
			out += static_cast<char>(0x80 | (cp & 0x3F));
		} else {
			out += static_cast<char>(0xE0 | (cp >> 12));
			out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
			out += static_cast<char>(0x80 | (cp & 0x3F));
		}
		return true;
	}

	// Digits without a leading zero, fitting 64 bits, not followed by a
	// fraction or exponent (those, and negative numbers, aren't seqs or
	// UIDs anyway - the full parser decides what they mean).
	bool unsigned_number(std::uint64_t &out)
	{
		std::size_t start = pos_;
		std::uint64_t n = 0;
		while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
			auto d = static_cast<std::uint64_t>(s_[pos_] - '0');
			if (n > (UINT64_MAX - d) / 10)
				return false;
			n = n * 10 + d;
			pos_++;
		}
		std::size_t len = pos_ - start;
		if (len == 0 || (len > 1 && s_[start] == '0'))
			return false;
		if (pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E'))
			return false;
		out = n;
		return true;
	}

	std::string_view s_;
	std::size_t pos_ = 0;
	std::string key_;
	std::string scratch_; // string values of members not kept
};

} // namespace

void RecordFields::clear()
{
	seq.reset();
	event.clear();
	mailbox.clear();
	mailbox_guid.clear();
	uidvalidity = 0;
	uid = 0;
	guid.clear();
	sha256.clear();
	new_mailbox.clear();
	time.clear();
	message_id.clear();
	archive = 0;
	has_prev = false;
	prev.clear();
}

bool parse_flat_record_fields(std::string_view line, RecordFields &fields_r)
{
	return FlatObjectReader(line).read(fields_r);
}

bool parse_record_fields(std::string_view line, RecordFields &fields_r)
{
	if (parse_flat_record_fields(line, fields_r))
		return true;
	fields_r.clear();
	auto j = parse_line(line);
	if (!j)
		return false;
	fields_r.seq = record_seq(*j);
	fields_r.event = json_string(*j, "event");
	fields_r.mailbox = json_string(*j, "mailbox");
	fields_r.mailbox_guid = json_string(*j, "mailbox_guid");
	fields_r.uidvalidity = json_uint(*j, "uidvalidity");
	fields_r.uid = json_uint(*j, "uid");
	fields_r.guid = json_string(*j, "guid");
	fields_r.sha256 = json_string(*j, "sha256");
	fields_r.new_mailbox = json_string(*j, "new_mailbox");
	fields_r.time = json_string(*j, "time");
	fields_r.message_id = json_string(*j, "message_id");
	fields_r.archive = json_uint(*j, "archive");
	auto prev = j->find("prev");
	if (prev != j->end() && prev->is_string()) {
		fields_r.has_prev = true;
		fields_r.prev = prev->get<std::string>();
	}
	return true;
}

// ---------------------------------------------------------------- Journal

Journal::Journal(std::string dir) : dir_(std::move(dir))
{
	while (dir_.size() > 1 && dir_.back() == '/')
		dir_.pop_back();
	if (dir_.empty() || dir_.front() != '/')
		throw std::runtime_error("journal directory '" + dir_ +
					 "' is not an absolute path");
	journal_dir_ = journal_dir_path(dir_);
	lock_path_ = journal_dir_ + "/.lock";
	intent_path_ = intent_path(dir_);
	make_dirs(dir_);
	if (make_dirs(journal_dir_))
		fsync_dir(parent_dir(journal_dir_));
	lock_fd_ = open_retry(lock_path_, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd_ < 0)
		throw_errno("open(" + lock_path_ + ")");
}

Journal::~Journal()
{
	try {
		flush();
	} catch (...) {
		// nobody to tell: the caller that wanted it flushed did
	}
	catalog_.reset();
	if (lock_fd_ >= 0)
		::close(lock_fd_); // releases the lock
}

void Journal::lock(unsigned timeout_ms)
{
	if (lock_depth_ > 0) {
		lock_depth_++;
		return;
	}
	using namespace std::chrono;
	auto deadline = steady_clock::now() + milliseconds(timeout_ms);
	auto pause = microseconds(20);
	for (;;) {
		if (::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0) {
			lock_depth_ = 1;
			// whoever held the lock before may have died in the
			// middle of a commit
			recovery_error_.clear();
			recovered_count_ = 0;
			try {
				recovered_count_ = recover_intent();
			} catch (const std::exception &e) {
				recovery_error_ = e.what(); // the intent stays
			}
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			throw_errno("flock(" + lock_path_ + ")");
		auto now = steady_clock::now();
		if (now >= deadline) {
			throw std::runtime_error(
				"timed out after " + std::to_string(timeout_ms) +
				" ms waiting for the journal lock " + lock_path_ +
				" (another process holds it)");
		}
		auto left = duration_cast<microseconds>(deadline - now);
		std::this_thread::sleep_for(std::min(pause, left));
		pause = std::min(pause * 2, microseconds(250));
	}
}

void Journal::unlock()
{
	if (lock_depth_ == 0)
		return;
	if (--lock_depth_ == 0) {
		// an intent not ended by now (the append failed) is left to
		// the next holder of the lock
		intent_depth_ = 0;
		::flock(lock_fd_, LOCK_UN);
	}
}

void Journal::repair_tail(const JournalFile &f)
{
	std::uint64_t keep;
	{
		Fd fd(open_retry(f.path, O_RDONLY | O_CLOEXEC));
		if (fd.get() < 0)
			throw_errno("open(" + f.path + ")");
		std::uint64_t size = file_size(fd.get(), f.path);
		if (size == 0 || last_byte(fd.get(), size, f.path) == '\n')
			return;
		auto nl = find_last_newline(fd.get(), size, f.path);
		keep = nl ? *nl + 1 : 0;
	}
	// The unterminated tail is a write that was interrupted before it
	// was acknowledged: remove it.
	Fd fd(open_retry(f.path, O_WRONLY | O_CLOEXEC));
	if (fd.get() >= 0 && ::ftruncate(fd.get(), static_cast<off_t>(keep)) == 0) {
		if (::fdatasync(fd.get()) < 0)
			throw_errno("fdatasync(" + f.path + ")");
		return;
	}
	int err = errno;
	if (err != EPERM)
		throw_errno("truncate(" + f.path + ")", err);
	// An append-only file (chattr +a) can't be truncated: end the
	// fragment with a line end instead, so that it stays a (broken) line
	// of its own that verify reports.
	fd.reset(open_retry(f.path, O_WRONLY | O_APPEND | O_CLOEXEC));
	if (fd.get() < 0)
		throw_errno("open(" + f.path + ")");
	ssize_t n;
	do
		n = ::write(fd.get(), "\n", 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		throw_errno("write(" + f.path + ")");
	if (::fdatasync(fd.get()) < 0)
		throw_errno("fdatasync(" + f.path + ")");
}

std::uint64_t Journal::append(const Record &rec, Clock::time_point now)
{
	return append_batch({rec}, now).front();
}

std::vector<Journal::BatchDuplicates> Journal::fill_duplicates(std::vector<Record> &recs,
							     const JournalPos &head)
{
	std::vector<BatchDuplicates> in_batch(recs.size());
	bool synced = false;
	for (std::size_t i = 0; i < recs.size(); i++) {
		Record &rec = recs[i];
		if (rec.event != "save" || !rec.mailbox_guid)
			continue;
		for (int content = 0; content <= 1; content++) {
			std::uint64_t &dup = content ? rec.content_duplicate_of
						     : rec.duplicate_of;
			const std::optional<std::string> &hash =
				content ? rec.content_sha256 : rec.sha256;
			if (dup != 0 || !hash)
				continue;
			try {
				if (!synced) {
					catalog().sync(&head);
					synced = true;
				}
				if (auto d = catalog().find_synced(*rec.mailbox_guid,
								   *hash, content != 0))
					dup = d->seq;
			} catch (const std::exception &e) {
				catalog_error_ = e.what(); // derived data: no failure
			}
			if (dup != 0)
				continue;
			// an earlier save of this batch: its seq is known later
			for (std::size_t k = 0; k < i; k++) {
				const Record &o = recs[k];
				if (o.event == "save" && o.mailbox_guid == rec.mailbox_guid &&
				    (content ? o.content_sha256 : o.sha256) == hash) {
					in_batch[i][content] = k;
					break;
				}
			}
		}
	}
	return in_batch;
}

std::vector<std::uint64_t> Journal::append_batch(std::vector<Record> recs,
						 Clock::time_point now)
{
	return write_batch(std::move(recs), now, true);
}

std::vector<std::uint64_t> Journal::append_batch_unflushed(std::vector<Record> recs,
							   Clock::time_point now)
{
	return write_batch(std::move(recs), now, false);
}

void Journal::flush()
{
	if (unflushed_fd_ < 0)
		return;
	Fd fd(unflushed_fd_);
	unflushed_fd_ = -1;
	if (::fdatasync(fd.get()) < 0)
		throw_errno("fdatasync(" + unflushed_path_ + ")");
}

// ------------------------------------------------------- intents

namespace {

// Identifies what an intent record announced (announced = true), and the
// journal records that journaled it: a save by mailbox and GUID (or sha256
// where the GUID was only known after the commit; a journal record has
// both), an expunge by mailbox and UID.
std::vector<std::string> intent_keys(const std::string &event, const json &j,
				     bool announced)
{
	std::string box = json_string(j, "mailbox_guid");
	if (event == "save") {
		std::vector<std::string> keys;
		std::string guid = json_string(j, "guid");
		if (!guid.empty())
			keys.push_back("save/" + box + "/guid/" + guid);
		if (guid.empty() || !announced)
			keys.push_back("save/" + box + "/sha256/" + json_string(j, "sha256"));
		return keys;
	}
	if (event == "expunge")
		return {"expunge/" + box + "/" + std::to_string(json_uint(j, "uid"))};
	return {};
}

// The longest line `rec` can become once the commit has filled in its
// UIDs, duplicate seqs and GUID.
std::uint64_t max_line_size(const Record &rec, Clock::time_point now)
{
	Record r = rec;
	if (r.uid == 0)
		r.uid = UINT32_MAX;
	r.uidvalidity = UINT32_MAX;
	if (r.event == "save") {
		r.duplicate_of = UINT64_MAX;
		r.content_duplicate_of = UINT64_MAX;
	}
	if (!r.guid)
		r.guid = std::string(64, 'f');
	return dump_line(record_json(r, UINT64_MAX, now, std::string(kZeroHash))).size() + 1;
}

} // namespace

void Journal::write_intent(const std::vector<Record> &recs)
{
	if (recs.empty())
		return;
	JournalLock guard(*this, kAppendLockTimeoutMs);
	// a left-over intent must be journaled before it is replaced
	if (intent_depth_ == 0)
		recover_intent();

	Clock::time_point now = Clock::now();
	std::vector<JournalFile> files = list_journal_files(dir_);
	if (!files.empty())
		repair_tail(files.back());
	JournalPos head = read_journal_head(dir_);

	// Space for the lines, reserved in the file they will go to: a full
	// file system then refuses the commit here rather than the journal
	// write after it. (Where fallocate() is not supported, the journal
	// write may still fail; the intent then covers the mail.)
	std::uint64_t bytes = 0;
	for (const Record &rec : recs)
		bytes += max_line_size(rec, now);
	int year = utc_year(now);
	JournalFile target;
	bool created = false;
	Fd fd;
	if (files.empty() || year > files.back().year) {
		char name[32];
		std::snprintf(name, sizeof(name), "%04d.jsonl", year);
		target = {year, name, journal_dir_ + "/" + name};
		fd.reset(open_journal_file(target.path, true, created));
	} else {
		target = files.back();
		fd.reset(open_journal_file(target.path, false, created));
	}
	try {
		std::uint64_t size = file_size(fd.get(), target.path);
		int rc;
		do
			rc = ::fallocate(fd.get(), FALLOC_FL_KEEP_SIZE, static_cast<off_t>(size),
					 static_cast<off_t>(bytes));
		while (rc < 0 && errno == EINTR);
		if (rc < 0 && errno != EOPNOTSUPP && errno != ENOSYS)
			throw_errno("fallocate(" + target.path + ", " + std::to_string(bytes) +
				    " bytes)");
		if (created)
			fsync_dir(journal_dir_); // chained to before it is flushed
	} catch (...) {
		if (created) {
			fd.reset();
			::unlink(target.path.c_str());
		}
		throw;
	}

	// The intent: where the journal stood, then one line per record (a
	// nested commit's are added). Not fsynced - it protects against a
	// process dying, as the mail store's commit and the append are in
	// the page cache alike; after a crash of the machine, verify reports
	// what was lost.
	std::string data;
	if (intent_depth_ == 0) {
		json header = json::object();
		header["intent"] = 1;
		header["time"] = format_time(now);
		header["pid"] = static_cast<std::uint64_t>(::getpid());
		header["file"] = head.file;
		header["offset"] = head.offset;
		header["seq"] = head.seq;
		header["hash"] = head.hash;
		data = dump_line(header) + "\n";
	}
	for (const Record &rec : recs) {
		json j = record_json(rec, 0, now, "");
		j.erase("seq");
		j.erase("time");
		j.erase("prev");
		data += dump_line(j);
		data += '\n';
	}
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (intent_depth_ == 0 ? O_TRUNC : O_APPEND);
	Fd ifd(open_retry(intent_path_, flags, 0600));
	if (ifd.get() < 0)
		throw_errno("open(" + intent_path_ + ")");
	std::uint64_t old_size = file_size(ifd.get(), intent_path_);
	try {
		write_all(ifd.get(), data, intent_path_);
	} catch (...) {
		// nothing of this commit: a new intent goes, a nested one's
		// part is cut off again (should that fail too, its lines
		// announce what was never committed: recovered as
		// interrupted, found not stored - true)
		if (intent_depth_ == 0) {
			ifd.reset();
			::unlink(intent_path_.c_str());
		} else {
			(void)::ftruncate(ifd.get(), static_cast<off_t>(old_size));
		}
		throw;
	}
	intent_depth_++;
}

void Journal::end_intent()
{
	if (intent_depth_ == 0 || --intent_depth_ > 0)
		return;
	// Should it stay (it can't be removed), its recovery finds the
	// records journaled and adds none.
	if (::unlink(intent_path_.c_str()) < 0 && errno != ENOENT)
		throw_errno("unlink(" + intent_path_ + ")");
}

std::size_t Journal::recover_intent()
{
	JournalLock guard(*this, kAppendLockTimeoutMs);
	if (intent_depth_ > 0)
		return 0; // ours, still in progress
	struct stat st;
	if (::stat(intent_path_.c_str(), &st) < 0) {
		if (errno == ENOENT)
			return 0;
		throw_errno("stat(" + intent_path_ + ")");
	}

	std::optional<json> header;
	std::vector<json> announced;
	{
		LineReader r(intent_path_);
		std::string line;
		bool term;
		bool first = true;
		while (r.next(line, term)) {
			if (!term)
				break; // its writer died before the commit began
			auto j = parse_line(line);
			if (first) {
				first = false;
				if (j && j->contains("intent")) {
					header = std::move(j);
					continue;
				}
			}
			if (j && !intent_keys(json_string(*j, "event"), *j, true).empty())
				announced.push_back(std::move(*j));
		}
	}

	// What was journaled after the head the intent names (the whole
	// journal when that line is no longer where it was).
	std::map<std::string, unsigned> journaled;
	if (!announced.empty()) {
		std::vector<JournalFile> files = list_journal_files(dir_);
		std::size_t start = 0;
		std::uint64_t start_off = 0, after_seq = 0;
		if (header) {
			std::string file = json_string(*header, "file");
			std::uint64_t off = json_uint(*header, "offset");
			after_seq = json_uint(*header, "seq");
			std::size_t k = 0;
			while (k < files.size() && files[k].name != file)
				k++;
			if (k < files.size() && off > 0) {
				Fd fd(open_retry(files[k].path, O_RDONLY | O_CLOEXEC));
				if (fd.get() >= 0 && file_size(fd.get(), files[k].path) >= off &&
				    sha256_hex(read_line_before(fd.get(), off, files[k].path)) ==
					    json_string(*header, "hash")) {
					start = k;
					start_off = off;
				}
			}
		}
		for (std::size_t k = start; k < files.size(); k++) {
			LineReader r(files[k].path, k == start ? start_off : 0);
			std::string line;
			bool term;
			while (r.next(line, term)) {
				if (!term && k + 1 == files.size())
					break; // an interrupted write, removed before appending
				auto j = parse_line(line);
				if (!j || record_seq(*j).value_or(0) <= after_seq)
					continue;
				std::string event = json_string(*j, "event");
				if (event == "interrupted")
					event = json_string(*j, "action");
				for (const std::string &key : intent_keys(event, *j, false))
					journaled[key]++;
			}
		}
	}

	std::vector<Record> recs;
	for (const json &j : announced) {
		std::string event = json_string(j, "event");
		// (one key: the GUID, else the sha256, else the UID)
		std::string key = intent_keys(event, j, true).front();
		auto it = journaled.find(key);
		if (it != journaled.end() && it->second > 0) {
			it->second--; // each journal record accounts for one
			continue;
		}
		Record rec;
		rec.event = "interrupted";
		rec.action = event;
		auto str = [&j](const char *key) -> std::optional<std::string> {
			std::string v = json_string(j, key);
			if (v.empty())
				return std::nullopt;
			return v;
		};
		rec.mailbox = str("mailbox");
		rec.mailbox_guid = str("mailbox_guid");
		rec.uidvalidity = static_cast<std::uint32_t>(json_uint(j, "uidvalidity"));
		rec.uid = static_cast<std::uint32_t>(json_uint(j, "uid"));
		rec.guid = str("guid");
		rec.size = json_uint(j, "size");
		rec.sha256 = str("sha256");
		rec.imap_sha256 = str("imap_sha256");
		rec.content_sha256 = str("content_sha256");
		rec.message_id = str("message_id");
		rec.archive = json_uint(j, "archive") != 0 ? 1 : 0;
		rec.service = str("service");
		rec.session = str("session");
		rec.reason = event == "save"
			? "the process saving this mail ended before journaling it (it "
			  "was killed, or the journal write failed): the mail may or "
			  "may not have been stored"
			: "the process expunging this mail ended before journaling it "
			  "(it was killed, or the journal write failed): the mail may "
			  "or may not have been expunged";
		recs.push_back(std::move(rec));
	}
	std::size_t n = recs.size();
	if (!recs.empty())
		write_batch(std::move(recs), Clock::now(), true);
	if (::unlink(intent_path_.c_str()) < 0 && errno != ENOENT)
		throw_errno("unlink(" + intent_path_ + ")");
	return n;
}

std::vector<std::uint64_t> Journal::write_batch(std::vector<Record> recs,
						Clock::time_point now, bool flush_now)
{
	if (recs.empty())
		return {};
	for (const Record &rec : recs) {
		if (rec.event.empty())
			throw std::invalid_argument("journal record without an event");
	}
	JournalLock guard(*this, kAppendLockTimeoutMs);

	std::vector<JournalFile> files = list_journal_files(dir_);
	if (!files.empty())
		repair_tail(files.back());
	JournalPos head = read_journal_head(dir_);
	std::vector<BatchDuplicates> in_batch = fill_duplicates(recs, head);

	int year = utc_year(now);
	JournalFile target;
	bool want_new = files.empty() || year > files.back().year;
	if (want_new) {
		char name[32];
		std::snprintf(name, sizeof(name), "%04d.jsonl", year);
		target = {year, name, journal_dir_ + "/" + name};
	} else {
		// the newest file, even when the clock says an earlier year
		target = files.back();
	}

	// the lines, each chained to the one before
	std::vector<std::uint64_t> seqs;
	std::vector<json> objects;
	std::vector<std::string> hashes;
	std::vector<std::size_t> ends; // offset of each line's end in `data`
	std::string data;
	std::string prev = head.hash;
	for (std::size_t i = 0; i < recs.size(); i++) {
		std::uint64_t seq = head.seq + 1 + i;
		if (in_batch[i][0])
			recs[i].duplicate_of = seqs[*in_batch[i][0]];
		if (in_batch[i][1])
			recs[i].content_duplicate_of = seqs[*in_batch[i][1]];
		json j = record_json(recs[i], seq, now, prev);
		std::string line = dump_line(j);
		prev = sha256_hex(line);
		data += line;
		data += '\n';
		seqs.push_back(seq);
		objects.push_back(std::move(j));
		hashes.push_back(prev);
		ends.push_back(data.size());
	}

	bool created = false;
	Fd fd(open_journal_file(target.path, want_new, created));

	std::uint64_t orig_size = file_size(fd.get(), target.path);
	auto rollback = [&]() {
		if (created) {
			fd.reset();
			::unlink(target.path.c_str());
		} else if (::ftruncate(fd.get(), static_cast<off_t>(orig_size)) == 0) {
			(void)::fdatasync(fd.get());
		}
	};

	ssize_t n;
	do
		n = ::write(fd.get(), data.data(), data.size());
	while (n < 0 && errno == EINTR);
	if (n != static_cast<ssize_t>(data.size())) {
		int err = n < 0 ? errno : ENOSPC;
		rollback();
		throw_errno("write(" + target.path + ")", err);
	}
	// The catalog is derived: its failures are remembered, never
	// reported as a failed append.
	try {
		JournalPos before = head;
		for (std::size_t i = 0; i < recs.size(); i++) {
			JournalPos after{target.name, orig_size + ends[i], seqs[i],
					 hashes[i]};
			catalog().after_append(before, after, objects[i]);
			before = after;
		}
		catalog_error_.clear();
	} catch (const std::exception &e) {
		catalog_error_ = e.what();
	}

	// Flushing outside the lock lets concurrent writers' flushes
	// overlap. Nothing is acknowledged before its own flush returns, and
	// a later writer's flush covers the lines before its own. A failed
	// flush can't be rolled back once others may have chained to the
	// line: the caller reports the save as failed, and the line - true,
	// the mail is in the store - stays.
	// A new year's file must be durable by name before anyone can chain
	// to it, so that one is flushed under the lock.
	if (!created && !flush_now) {
		// an earlier unflushed batch went to this or an older file;
		// one fdatasync of the newest covers only that file
		if (unflushed_fd_ >= 0 && unflushed_path_ != target.path)
			flush();
		if (unflushed_fd_ < 0) {
			unflushed_fd_ = ::dup(fd.get());
			if (unflushed_fd_ < 0)
				throw_errno("dup(" + target.path + ")");
			unflushed_path_ = target.path;
		}
		return seqs;
	}
	if (!created)
		guard.release();
	if (::fdatasync(fd.get()) < 0)
		throw_errno("fdatasync(" + target.path + ")");
	if (created)
		fsync_dir(journal_dir_);
	return seqs;
}

Catalog &Journal::catalog()
{
	if (!catalog_)
		catalog_ = std::make_unique<Catalog>(dir_);
	return *catalog_;
}

std::optional<Journal::Duplicate> Journal::find_duplicate(const std::string &mailbox_guid,
							  const std::string &hash,
							  bool content)
{
	JournalLock guard(*this, kAppendLockTimeoutMs);
	auto r = catalog().find(mailbox_guid, hash, content);
	if (!r)
		return std::nullopt;
	return Duplicate{r->seq, r->uid};
}

bool Journal::mailbox_has_saves(const std::string &mailbox_guid)
{
	JournalLock guard(*this, kAppendLockTimeoutMs);
	return catalog().has_saves(mailbox_guid);
}

CatalogStats Journal::catalog_stats() const
{
	return catalog_ ? catalog_->stats() : CatalogStats{};
}

// ---------------------------------------------------------------- reading

const char *const *journal_field_names()
{
	return field_names;
}

std::size_t journal_field_count()
{
	return sizeof(field_names) / sizeof(field_names[0]) - 1;
}

JournalReader::JournalReader(const std::string &dir) : files_(list_journal_files(dir))
{
}

int JournalReader::next(std::vector<std::string> &values_r, std::string &error_r)
{
	for (;;) {
		std::string line;
		bool term;
		try {
			if (!reader_) {
				if (file_idx_ >= files_.size())
					return 0;
				line_no_ = 0;
				reader_ = std::make_unique<LineReader>(files_[file_idx_].path);
			}
			if (!reader_->next(line, term)) {
				reader_.reset();
				file_idx_++;
				continue;
			}
		} catch (...) {
			// an unreadable file: report it, go on with the next one
			reader_.reset();
			file_idx_++;
			throw;
		}
		line_no_++;
		std::string where = files_[file_idx_].name + " line " + std::to_string(line_no_);
		if (!term) {
			error_r = where + ": incomplete line (no line end: a write was "
					  "interrupted, the record was never acknowledged)";
			return -1;
		}
		auto j = parse_line(line);
		if (!j) {
			error_r = where + ": not a valid journal record (expected a JSON object)";
			return -1;
		}
		std::size_t n = journal_field_count();
		values_r.assign(n, std::string());
		for (std::size_t i = 0; i < n; i++) {
			auto it = j->find(field_names[i]);
			if (it == j->end() || it->is_null())
				continue;
			if (it->is_string())
				values_r[i] = it->get<std::string>();
			else if (it->is_number_unsigned())
				values_r[i] = std::to_string(it->get<std::uint64_t>());
			else if (it->is_number_integer())
				values_r[i] = std::to_string(it->get<std::int64_t>());
			else
				values_r[i] = dump_line(*it);
		}
		return 1;
	}
}

JournalStatus journal_status(const std::string &dir)
{
	JournalStatus st;
	std::vector<JournalFile> files = list_journal_files(dir);
	std::string buf(kReadChunk, '\0');
	for (std::size_t k = 0; k < files.size(); k++) {
		const JournalFile &f = files[k];
		st.files.push_back(f.path);
		Fd fd(open_retry(f.path, O_RDONLY | O_CLOEXEC));
		if (fd.get() < 0)
			throw_errno("open(" + f.path + ")");
		char last = '\n';
		std::uint64_t off = 0;
		for (;;) {
			ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), static_cast<off_t>(off));
			if (n < 0) {
				if (errno == EINTR)
					continue;
				throw_errno("read(" + f.path + ")");
			}
			if (n == 0)
				break;
			st.records += static_cast<std::uint64_t>(
				std::count(buf.begin(), buf.begin() + n, '\n'));
			last = buf[static_cast<std::size_t>(n) - 1];
			off += static_cast<std::uint64_t>(n);
		}
		// an unterminated end of an older file is a line of its own; of
		// the newest file it is an interrupted write
		if (last != '\n' && k + 1 < files.size())
			st.records++;
	}
	JournalPos head = read_journal_head(dir);
	st.head_seq = head.seq;
	st.head_sha256 = head.hash;
	return st;
}

} // namespace tresor
