#include "fts/fts_index.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <system_error>
#include <thread>
#include <unordered_set>

#include <fcntl.h>
#include <unistd.h>


#include <xapian.h>

#include "common/posix_io.hpp"
#include "common/text.hpp"
#include "common/threads.hpp"

namespace tresor::fts {

namespace {

namespace fs = std::filesystem;

// Term prefixes. Single upper-case letters, so allterms_begin(prefix) walks
// exactly one field.
constexpr char kBody = 'B';
constexpr char kAttachment = 'A';
constexpr char kHtml = 'W';
constexpr char kHeader = 'X';     // X<NAME>:<run>
constexpr char kHeaderName = 'N'; // N<NAME>: (TEXT also matches header names)
constexpr char kMimeHeader = 'M';
const std::string kIncomplete = "Z";

const std::string kMetaFormat = "tresor.format";
const std::string kMetaUidvalidity = "tresor.uidvalidity";
const std::string kMetaLastUid = "tresor.last_uid";
// UIDs of expunged mails: the database has no termlist (it would double
// its size), so postings can't be removed one mail at a time; they are
// filtered out of results and dropped when the index is rebuilt.
const std::string kMetaExpunged = "tresor.expunged";
// document count at the last compaction (auto-compaction policy)
const std::string kMetaCompactedCount = "tresor.compacted_count";
// The vocabulary file: every term of the database, one per line, in a
// file of the database's directory, which searches scan with memmem
// instead of walking Xapian's term list (40-70 times faster: the term
// list grows with the mail, and a search scans all of it). Kept once the
// database is large (OpenOptions::vocabulary_from_documents). The writer
// appends the new terms of each commit before the commit. The value,
// "<revision> <bytes> <file name>", is committed with them: the file's
// first <bytes> bytes are the terms of database revision <revision>. A
// database at another revision was committed to without the file (an
// older version of this code, Xapian committing in a destructor): its
// readers scan the term list, its next writer writes the file afresh.
const std::string kMetaVocabulary = "tresor.vocabulary";
constexpr const char *kVocabularyPrefix = "vocabulary-";
// read in pieces of this size: a search's memory doesn't grow with it
constexpr std::size_t kVocabularyChunk = 1 << 20;
// 2: no termlist, short header codes, HTML runs only when not in the body
const std::string kFormat = "2";

// Short codes for frequent header names in X terms (lower case, so they
// can't collide with a header name, which arrives upper case): the name
// is stored in every one of a header's terms.
struct HeaderCode {
	const char *name;
	const char *code;
};
constexpr HeaderCode kHeaderCodes[] = {
	{"SUBJECT", "s"},        {"FROM", "f"},
	{"TO", "t"},             {"CC", "c"},
	{"BCC", "b"},            {"REPLY-TO", "rt"},
	{"SENDER", "se"},        {"MESSAGE-ID", "i"},
	{"IN-REPLY-TO", "ir"},   {"REFERENCES", "rf"},
	{"DATE", "d"},           {"RECEIVED", "rc"},
	{"RETURN-PATH", "rp"},   {"DELIVERED-TO", "dt"},
	{"CONTENT-TYPE", "ct"},  {"CONTENT-TRANSFER-ENCODING", "ce"},
	{"CONTENT-DISPOSITION", "cd"}, {"MIME-VERSION", "mv"},
	{"DKIM-SIGNATURE", "dk"}, {"AUTHENTICATION-RESULTS", "ar"},
	{"ARC-SEAL", "as"},      {"ARC-MESSAGE-SIGNATURE", "am"},
	{"ARC-AUTHENTICATION-RESULTS", "aa"}, {"RECEIVED-SPF", "sp"},
	{"X-MAILER", "xm"},      {"USER-AGENT", "ua"},
	{"LIST-ID", "li"},       {"LIST-UNSUBSCRIBE", "lu"},
};

// Rebuilding (dropping expunged mails) inverts the postings of this many
// UIDs at a time.
constexpr std::uint32_t kRebuildChunk = 20000;

// Xapian's "stub database" file (one line "glass db-<id>") naming the
// current database directory; claimed with link() when an index is
// created, swapped atomically by compact() and when an index starts afresh.
constexpr const char *kStubName = "index";
constexpr const char *kDbPrefix = "db-";
// Present while a writer commits without fsync (Xapian's DB_NO_SYNC: an
// fdatasync per table and commit was 5 % of indexing time); holds the boot
// id. The writer syncs every file and removes it when it closes. Left by a
// killed process it is harmless (its commits are in the page cache); left
// from an earlier boot the index may lack blocks its version file names,
// so it is rebuilt.
constexpr const char *kUnsyncedName = "unsynced";
// How often a reader starts again when writers commit (glass keeps one
// older revision readable) or replace the database while it reads: each
// attempt reads the newest revision, so only writers committing faster
// than one search keep it from an answer.
constexpr int kReadAttempts = 100;

// Header names longer than this, or with odd bytes, are not indexed by
// name (the document becomes "maybe" for every search instead).
constexpr std::size_t kMaxHeaderName = 64;

enum State : std::uint8_t { kNo = 0, kMaybe = 1, kYes = 2 };

std::uint32_t parse_uint(const std::string &s)
{
	std::uint64_t v = 0;
	for (char c : s) {
		if (c < '0' || c > '9')
			return 0;
		v = v * 10 + static_cast<unsigned>(c - '0');
		if (v > UINT32_MAX)
			return 0;
	}
	return static_cast<std::uint32_t>(v);
}

bool valid_header_name(std::string_view name)
{
	if (name.empty() || name.size() > kMaxHeaderName)
		return false;
	for (unsigned char c : name) {
		if (c <= ' ' || c >= 0x7f || c == ':')
			return false;
	}
	return true;
}

// "X<code>:" - the term prefix of a top-level header
std::string header_prefix(std::string_view upper_name)
{
	for (const auto &hc : kHeaderCodes) {
		if (upper_name == hc.name)
			return std::string(1, kHeader) + hc.code + ":";
	}
	return std::string(1, kHeader) + std::string(upper_name) + ":";
}

// Sorted, merged UID ranges as "1-5,9" (metadata), and back.
std::string format_ranges(const std::vector<Range> &ranges)
{
	std::string out;
	for (auto r : ranges) {
		if (!out.empty())
			out += ',';
		out += std::to_string(r.first);
		if (r.last != r.first)
			out += '-' + std::to_string(r.last);
	}
	return out;
}

std::vector<Range> parse_ranges(const std::string &text)
{
	std::vector<Range> out;
	std::size_t i = 0;
	while (i < text.size()) {
		std::size_t end = text.find(',', i);
		if (end == std::string::npos)
			end = text.size();
		std::string item = text.substr(i, end - i);
		std::size_t dash = item.find('-');
		std::uint32_t a = parse_uint(item.substr(0, dash));
		std::uint32_t b = dash == std::string::npos ? a : parse_uint(item.substr(dash + 1));
		if (a == 0 || b < a)
			throw CorruptIndex("bad expunged-UID list in the index metadata");
		out.push_back({a, b});
		i = end + 1;
	}
	return out;
}

bool in_ranges(const std::vector<Range> &ranges, std::uint32_t uid)
{
	auto it = std::upper_bound(ranges.begin(), ranges.end(), uid,
				   [](std::uint32_t u, const Range &r) { return u < r.first; });
	return it != ranges.begin() && std::prev(it)->last >= uid;
}

void add_to_ranges(std::vector<Range> &ranges, std::uint32_t uid)
{
	if (in_ranges(ranges, uid))
		return;
	ranges.push_back({uid, uid});
	std::sort(ranges.begin(), ranges.end(),
		  [](const Range &a, const Range &b) { return a.first < b.first; });
	std::vector<Range> merged;
	for (auto r : ranges) {
		if (!merged.empty() && merged.back().last + 1 >= r.first)
			merged.back().last = std::max(merged.back().last, r.last);
		else
			merged.push_back(r);
	}
	ranges = std::move(merged);
}

std::uint64_t range_count(const std::vector<Range> &ranges)
{
	std::uint64_t n = 0;
	for (auto r : ranges)
		n += std::uint64_t(r.last) - r.first + 1;
	return n;
}

std::string read_stub_target(const fs::path &stub)
{
	std::ifstream in(stub);
	std::string backend, target;
	if (!(in >> backend >> target) || backend != "glass" || target.find('/') != std::string::npos)
		return {};
	return target;
}

// A name never used before, for a database directory ("db-<id>") or a
// vocabulary file.
std::string new_name(const char *prefix)
{
	std::random_device random;
	char id[17];
	std::snprintf(id, sizeof(id), "%08x%08x", random(), random());
	return prefix + std::string(id);
}

// A database directory name never used before: a process still writing to
// a removed database (an indexer mid-batch while another process removed
// the index as damaged) then finds its directory gone instead of writing
// its version file over the tables of the database that replaced it.
std::string new_target()
{
	return new_name(kDbPrefix);
}

// A small file written whole at path, which is then renamed or linked
// into place.
void write_small_file(const fs::path &path, const std::string &content)
{
	std::ofstream out(path, std::ios::trunc);
	out << content;
	out.flush();
	if (!out)
		throw IndexError("cannot write " + path.string());
}

// The stub file naming target, written beside the stub under a name no
// other process uses.
fs::path write_stub_tmp(const fs::path &dir, const std::string &target)
{
	fs::path tmp = dir / (std::string(kStubName) + "." + target + ".tmp");
	write_small_file(tmp, "glass " + target + "\n");
	return tmp;
}

void write_stub(const fs::path &dir, const std::string &target)
{
	fs::rename(write_stub_tmp(dir, target), dir / kStubName);
}

// Makes target the index's database unless another process created one
// first (false). Atomic: link() fails when the stub exists.
bool claim_stub(const fs::path &dir, const std::string &target)
{
	fs::path tmp = write_stub_tmp(dir, target);
	std::error_code ec;
	fs::create_hard_link(tmp, dir / kStubName, ec);
	std::error_code ignored;
	fs::remove(tmp, ignored);
	if (ec == std::errc::file_exists)
		return false;
	if (ec)
		throw IndexError("cannot create " + (dir / kStubName).string() + ": " + ec.message());
	return true;
}

// The kernel's id of this boot; "" if unknown (then every commit syncs).
// Read once: it can't change while this process runs.
const std::string &current_boot_id()
{
	static const std::string id = [] {
		std::ifstream in("/proc/sys/kernel/random/boot_id");
		std::string read;
		in >> read;
		return read;
	}();
	return id;
}

// fsync, or fdatasync for a file's data, of the file or directory at path.
void sync_path(const fs::path &path, bool data_only)
{
	int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		throw IndexError("cannot open " + path.string() + " to sync it: " +
				 std::strerror(errno));
	int ret = data_only ? ::fdatasync(fd) : ::fsync(fd);
	int err = errno;
	::close(fd);
	if (ret < 0)
		throw IndexError("cannot sync " + path.string() + ": " + std::strerror(err));
}

// Xapian::Error is not polymorphic: tell its kinds by get_type().
[[noreturn]] void rethrow_xapian(const Xapian::Error &e, const std::string &dir)
{
	const std::string type = e.get_type();
	std::string what = type + ": " + e.get_msg() + " (" + dir + ")";
	if (type == "DatabaseLockError")
		throw IndexBusy(what);
	if (type == "DatabaseCorruptError" || type == "DatabaseOpeningError" ||
	    type == "DatabaseNotFoundError" || type == "DatabaseVersionError" ||
	    type == "DatabaseError" || type == "SerialisationError")
		throw CorruptIndex(what);
	throw IndexError(what);
}

void append_range(std::vector<Range> &out, std::uint32_t uid)
{
	if (!out.empty() && out.back().last + 1 == uid)
		out.back().last = uid;
	else
		out.push_back({uid, uid});
}

// A set of terms, for the distinct terms of a batch: an open-addressing
// table of offsets into one buffer. Adding a term allocates nothing once
// the buffers have grown, and clear() keeps them (one std::string per
// term in a std::unordered_set cost a malloc and free each, and an
// indexing run adds millions).
class TermSet {
  public:
	// true when term was not in the set yet
	bool insert(std::string_view term)
	{
		if (slots_.empty() || (count_ + 1) * 2 > slots_.size())
			grow();
		const std::uint64_t hash = std::hash<std::string_view>{}(term);
		Slot &slot = slots_[find(term, hash)];
		if (slot.offset != kEmpty)
			return false;
		if (bytes_.size() + term.size() > std::numeric_limits<std::uint32_t>::max() - 1)
			throw IndexError("too many distinct terms in one commit");
		slot = {hash, static_cast<std::uint32_t>(bytes_.size()),
			static_cast<std::uint32_t>(term.size())};
		bytes_.append(term);
		count_++;
		return true;
	}
	bool contains(std::string_view term) const
	{
		return !slots_.empty() &&
		       slots_[find(term, std::hash<std::string_view>{}(term))].offset != kEmpty;
	}
	std::size_t size() const { return count_; }
	// Empties the set, keeping its memory.
	void clear()
	{
		std::fill(slots_.begin(), slots_.end(), Slot{});
		bytes_.clear();
		count_ = 0;
	}
	// The terms, sorted (valid until the set changes).
	std::vector<std::string_view> sorted() const
	{
		std::vector<std::string_view> out;
		out.reserve(count_);
		for (const Slot &slot : slots_)
			if (slot.offset != kEmpty)
				out.push_back(view(slot));
		std::sort(out.begin(), out.end());
		return out;
	}
	void swap(TermSet &other) noexcept
	{
		slots_.swap(other.slots_);
		bytes_.swap(other.bytes_);
		std::swap(count_, other.count_);
	}

  private:
	static constexpr std::uint32_t kEmpty = std::numeric_limits<std::uint32_t>::max();
	struct Slot {
		std::uint64_t hash = 0;
		std::uint32_t offset = kEmpty;
		std::uint32_t length = 0;
	};
	std::string_view view(const Slot &slot) const
	{
		return std::string_view(bytes_).substr(slot.offset, slot.length);
	}
	// the slot holding term, or the empty one where it would go
	std::size_t find(std::string_view term, std::uint64_t hash) const
	{
		const std::size_t mask = slots_.size() - 1;
		for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
			const Slot &slot = slots_[i];
			if (slot.offset == kEmpty || (slot.hash == hash && view(slot) == term))
				return i;
		}
	}
	void grow()
	{
		std::vector<Slot> old(slots_.empty() ? 1 << 14 : slots_.size() * 2);
		old.swap(slots_);
		for (const Slot &slot : old)
			if (slot.offset != kEmpty)
				slots_[find(view(slot), slot.hash)] = slot;
	}
	std::vector<Slot> slots_;
	std::string bytes_;
	std::size_t count_ = 0;
};

// What kMetaVocabulary says; nullopt when it is missing or not ours.
struct VocabularyRef {
	Xapian::rev revision = 0;
	std::uint64_t size = 0;
	std::string name;
};

std::optional<VocabularyRef> parse_vocabulary_ref(const std::string &value)
{
	std::istringstream in(value);
	VocabularyRef ref;
	if (!(in >> ref.revision >> ref.size >> ref.name) ||
	    ref.name.rfind(kVocabularyPrefix, 0) != 0 || ref.name.find('/') != std::string::npos)
		return std::nullopt;
	return ref;
}

std::string format_vocabulary_ref(Xapian::rev revision, std::uint64_t size,
				  const std::string &name)
{
	return std::to_string(revision) + " " + std::to_string(size) + " " + name;
}

// A vocabulary open for reading, the terms of one database revision: the
// file (fd, size, path), or the term list held in memory in the same form
// (in_memory; see remembered_term_list()).
struct VocabularyFile {
	Fd fd;
	std::uint64_t size = 0;
	std::string path;
	std::shared_ptr<const std::string> in_memory;
};

// The vocabulary of the revision db has open; nullptr when there is none
// for it (then the term list is scanned).
std::unique_ptr<VocabularyFile> open_vocabulary(const Xapian::Database &db,
						const fs::path &db_dir)
{
	auto ref = parse_vocabulary_ref(db.get_metadata(kMetaVocabulary));
	if (!ref || ref->revision != db.get_revision())
		return nullptr;
	auto file = std::make_unique<VocabularyFile>();
	file->path = (db_dir / ref->name).string();
	file->fd.reset(open_retry(file->path, O_RDONLY | O_CLOEXEC));
	// (gone: replaced by a writer since, for a newer revision)
	if (!file->fd || file_size(file->fd.get(), file->path) < ref->size)
		return nullptr;
	file->size = ref->size;
	return file;
}

// A folder below tresor_fts_vocabulary_from mails has no vocabulary file:
// every key of every search walks Xapian's term list (about 490,000 terms,
// 40-60 ms for a TEXT key, at 20,000 business mails). A search process
// keeps the term list of the folder it searched last in memory, in the
// vocabulary file's form, for as long as that folder's database stays at
// the same revision: an IMAP client searching again (a quick filter, a
// search as you type) then scans memory. At most max_bytes
// (OpenOptions::remembered_term_list_max); one folder per process.
// nullptr for a larger term list.
std::unique_ptr<VocabularyFile> remembered_term_list(const Xapian::Database &db,
						     const std::string &db_dir,
						     std::size_t max_bytes)
{
	struct Remembered {
		std::string db_dir;
		Xapian::rev revision = 0;
		bool too_large = false;
		std::size_t max_bytes = 0;
		std::shared_ptr<const std::string> lines;
	};
	if (max_bytes == 0)
		return nullptr;
	static std::mutex lock;
	// (never destroyed: no order to keep with other objects at exit)
	static auto *remembered = new Remembered;
	std::lock_guard<std::mutex> guard(lock);
	const Xapian::rev revision = db.get_revision();
	if (remembered->db_dir != db_dir || remembered->revision != revision ||
	    remembered->max_bytes != max_bytes) {
		*remembered = Remembered{}; // the last folder's memory first
		auto lines = std::make_shared<std::string>();
		bool too_large = false;
		for (auto t = db.allterms_begin(); t != db.allterms_end(); ++t) {
			const std::string &term = *t;
			if (lines->size() + term.size() + 1 > max_bytes) {
				too_large = true;
				break;
			}
			lines->append(term);
			lines->push_back('\n');
		}
		remembered->db_dir = db_dir;
		remembered->revision = revision;
		remembered->too_large = too_large;
		remembered->max_bytes = max_bytes;
		if (!too_large)
			remembered->lines = std::move(lines);
	}
	if (remembered->too_large)
		return nullptr;
	auto vocab = std::make_unique<VocabularyFile>();
	vocab->in_memory = remembered->lines;
	vocab->size = vocab->in_memory->size();
	return vocab;
}

// Calls found(term) for each of the lines (terms) that contains needle
// (which holds no line break).
template <class Found>
void scan_lines(std::string_view lines, std::string_view needle, Found &found)
{
	for (std::size_t at = 0; at < lines.size();) {
		const void *hit =
			memmem(lines.data() + at, lines.size() - at, needle.data(), needle.size());
		if (hit == nullptr)
			break;
		const auto pos =
			static_cast<std::size_t>(static_cast<const char *>(hit) - lines.data());
		std::size_t begin = lines.rfind('\n', pos);
		begin = begin == std::string_view::npos ? 0 : begin + 1;
		std::size_t end = lines.find('\n', pos);
		if (end == std::string_view::npos)
			end = lines.size();
		found(lines.substr(begin, end - begin));
		at = end + 1;
	}
}

// scan_lines() over the whole vocabulary, a file read a piece at a time.
template <class Found>
void scan_vocabulary(const VocabularyFile &vocab, std::string_view needle, Found &&found)
{
	if (vocab.in_memory) {
		scan_lines(*vocab.in_memory, needle, found);
		return;
	}
	std::string buf;
	std::uint64_t offset = 0;
	std::size_t carry = 0; // the start of a line the last piece cut off
	while (offset < vocab.size) {
		const auto want = static_cast<std::size_t>(
			std::min<std::uint64_t>(kVocabularyChunk, vocab.size - offset));
		buf.resize(carry + want);
		pread_full(vocab.fd.get(), buf.data() + carry, want, offset, vocab.path);
		offset += want;
		const std::string_view piece(buf);
		std::size_t complete = piece.size();
		if (offset < vocab.size) {
			const std::size_t nl = piece.rfind('\n');
			complete = nl == std::string_view::npos ? 0 : nl + 1;
		}
		scan_lines(piece.substr(0, complete), needle, found);
		carry = piece.size() - complete;
		std::memmove(buf.data(), buf.data() + complete, carry);
	}
}

} // namespace

bool worth_extracting(std::string_view content_type, std::string_view head)
{
	auto starts = [&](std::string_view s, std::string_view p) {
		return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
	};
	if (starts(head, "%PDF-") || starts(head, std::string_view("PK\x03\x04", 4)))
		return true;
	std::string_view trimmed = head;
	if (starts(trimmed, "\xEF\xBB\xBF"))
		trimmed.remove_prefix(3);
	while (!trimmed.empty() && (trimmed.front() == ' ' || trimmed.front() == '\t' ||
				    trimmed.front() == '\r' || trimmed.front() == '\n'))
		trimmed.remove_prefix(1);
	if (starts(trimmed, "<?xml") || starts(trimmed, "<"))
		return true;
	// Types the helper reads as plain text.
	return starts(content_type, "application/json") || starts(content_type, "application/csv") ||
	       starts(content_type, "application/x-csv");
}

namespace {

// A mail's terms as they are cut from its text, until the writer turns
// them into a Xapian document: each term followed by a NUL, which
// RunSplitter never leaves inside a run.
struct CollectedDocument {
	std::uint32_t uid = 0;
	std::string terms;
	// Runs of text/html parts: HTML usually repeats the text/plain
	// alternative, so they are kept only where the body lacks them (they
	// only ever answer "maybe"), which the document's own terms tell.
	std::string html_runs;

	void add(std::string_view prefix, std::string_view run)
	{
		terms.append(prefix);
		terms.append(run);
		terms.push_back('\0');
	}
	void add_html(std::string_view run)
	{
		html_runs.append(run);
		html_runs.push_back('\0');
	}
	std::size_t bytes() const { return terms.size() + html_runs.size(); }
};

template <class F> void for_each_packed(std::string_view packed, F &&f)
{
	while (!packed.empty()) {
		const std::size_t end = packed.find('\0');
		f(packed.substr(0, end));
		packed.remove_prefix(end == std::string_view::npos ? packed.size() : end + 1);
	}
}

// What the writer does, in this order.
struct WriterJob {
	bool commit = false; // else: write doc
	CollectedDocument doc;
};

// Xapian's share of indexing - each document's term map, its inversion
// into the postings, the commits: about half of an indexing process's
// time - on a thread of its own, while the caller's thread has Dovecot
// parse the next mails and cuts them into terms. Jobs run in the order
// they came. At most kMaxQueuedBytes of documents wait; push() waits
// beyond (the thread holds at most as much again, the jobs it took). The
// first job that throws stops the rest: every later push() and drain()
// throws its exception. The thread calls nothing of Dovecot's and runs
// with every signal blocked (threads.hpp).
class BackgroundWriter {
  public:
	static constexpr std::size_t kMaxQueuedBytes = 8u << 20;

	explicit BackgroundWriter(std::function<void(WriterJob &)> run) : run_(std::move(run))
	{
		thread_ = threads::with_signals_blocked([this] { return std::thread([this] { loop(); }); });
	}
	// Stops after the jobs in hand; the others are dropped.
	~BackgroundWriter()
	{
		{
			std::lock_guard<std::mutex> guard(lock_);
			stop_ = true;
		}
		wake_.notify_one();
		thread_.join();
	}
	BackgroundWriter(const BackgroundWriter &) = delete;
	BackgroundWriter &operator=(const BackgroundWriter &) = delete;

	void push(WriterJob &&job)
	{
		const std::size_t bytes = job.doc.bytes();
		std::unique_lock<std::mutex> held(lock_);
		room_.wait(held, [&] {
			return failure_ || queued_bytes_ == 0 || queued_bytes_ + bytes <= kMaxQueuedBytes;
		});
		if (failure_)
			std::rethrow_exception(failure_);
		queue_.push_back(std::move(job));
		queued_bytes_ += bytes;
		if (waiting_)
			wake_.notify_one();
	}

	// Returns once every job pushed has run; throws the first failure.
	void drain()
	{
		std::unique_lock<std::mutex> held(lock_);
		idle_.wait(held, [&] { return failure_ || (queue_.empty() && !busy_); });
		if (failure_)
			std::rethrow_exception(failure_);
	}

  private:
	void loop()
	{
		std::unique_lock<std::mutex> held(lock_);
		for (;;) {
			waiting_ = true;
			wake_.wait(held, [&] { return stop_ || !queue_.empty(); });
			waiting_ = false;
			if (stop_)
				return;
			std::deque<WriterJob> taken;
			taken.swap(queue_);
			queued_bytes_ = 0;
			busy_ = true;
			held.unlock();
			room_.notify_one();
			std::exception_ptr failure;
			try {
				for (WriterJob &job : taken) {
					run_(job);
					if (stop_)
						break;
				}
			} catch (...) {
				failure = std::current_exception();
			}
			taken.clear();
			held.lock();
			busy_ = false;
			if (failure) {
				failure_ = failure;
				queue_.clear();
				queued_bytes_ = 0;
				room_.notify_all();
			}
			idle_.notify_all();
		}
	}
	std::function<void(WriterJob &)> run_;
	std::mutex lock_;
	std::condition_variable wake_; // the thread: jobs, or stop
	std::condition_variable room_; // push(): the queue has room
	std::condition_variable idle_; // drain(): all done
	std::deque<WriterJob> queue_;
	std::size_t queued_bytes_ = 0;
	bool waiting_ = false;
	bool busy_ = false;
	// (set under lock_, so that the thread's wait sees it; read without
	// it between jobs)
	std::atomic<bool> stop_{false};
	std::exception_ptr failure_;
	std::thread thread_;
};

bool has_document(const Xapian::Database &db, std::uint32_t uid)
{
	if (uid > db.get_lastdocid())
		return false;
	try {
		(void)db.get_doclength(uid);
		return true;
	} catch (const Xapian::DocNotFoundError &) {
		return false;
	}
}

} // namespace

struct Index::Impl {
	fs::path dir;
	OpenOptions opts;
	std::string db_target; // "db-<id>" the stub named when we opened
	std::unique_ptr<Xapian::Database> db;
	Xapian::WritableDatabase *wdb = nullptr; // == db.get() when writable
	bool exists = false;
	std::uint32_t uidvalidity = 0;
	std::uint32_t last_uid = 0;
	std::uint32_t pending_last_uid = 0;
	bool behind_caller = false; // builds_on(): last_uid stays
	// The database was removed or replaced under this writer: it is never
	// destroyed. Xapian 1.4 commits again in the destructor, and after a
	// commit that failed it then reads freed memory; the lock it keeps is
	// on a database no one uses any more.
	bool abandoned = false;
	std::vector<Range> expunged;
	bool expunged_dirty = false;

	// --- the caller's thread: the document being cut into terms
	std::optional<CollectedDocument> doc;
	Field cur_field = Field::body;
	std::string cur_prefix;
	bool field_open = false;
	RunSplitter splitter;
	// ended, waiting for attachment text (hold_document)
	std::map<std::uint32_t, CollectedDocument> held;

	// --- the writer's state below (and the database, last_uid, expunged
	// above): used on the background writer's thread when there is one
	// (OpenOptions::background_writer); the caller's thread touches it
	// only after drain().
	// Whether a UID above the last committed one has a document is known
	// from what this writer wrote since: Xapian answers a missing document
	// with an exception, and exceptions are slow where Dovecot's libunwind
	// unwinds them (one per held document cost more than its indexing).
	Xapian::docid committed_lastdocid = 0;
	std::unordered_set<std::uint32_t> written;

	// --- the writer's vocabulary file (kMetaVocabulary)
	std::string vocab_name;
	std::uint64_t vocab_size = 0; // with what the next commit adds
	Fd vocab_fd;                  // open for appending
	// the distinct terms of the documents written since the last commit,
	// and those of the commit before (which the database has since: they
	// need no look-up when they come again)
	TermSet batch_terms;
	TermSet committed_terms;

	void note_terms(const Xapian::Document &document)
	{
		if (vocab_name.empty())
			return;
		for (auto t = document.termlist_begin(); t != document.termlist_end(); ++t)
			batch_terms.insert(*t);
	}

	// The batch's terms the last committed revision lacks, one per line.
	// Looked up in sorted order, in a reader of that revision: neighbours
	// share B-tree blocks (about 0.3 us a term, against 2 us in the order
	// they come, in the writer).
	std::string new_terms()
	{
		std::string lines;
		if (batch_terms.size() == 0)
			return lines;
		Xapian::Database before((dir / db_target).string(), Xapian::DB_BACKEND_GLASS);
		std::string term;
		for (std::string_view candidate : batch_terms.sorted()) {
			if (committed_terms.contains(candidate))
				continue;
			term.assign(candidate);
			if (!before.term_exists(term)) {
				lines += term;
				lines += '\n';
			}
		}
		return lines;
	}

	// Before each commit of w: the new terms into the vocabulary file,
	// and the metadata naming what the commit's revision has of it.
	void prepare_commit(Xapian::WritableDatabase &w)
	{
		if (!vocab_name.empty()) {
			const std::string path = (dir / db_target / vocab_name).string();
			const std::string lines = new_terms();
			if (!lines.empty()) {
				write_all(vocab_fd.get(), lines, path);
				vocab_size += lines.size();
			}
			// committed with fsync: so is the vocabulary
			if (boot_id.empty() && ::fdatasync(vocab_fd.get()) < 0)
				throw_errno("fdatasync " + path);
			w.set_metadata(kMetaVocabulary,
				       format_vocabulary_ref(w.get_revision() + 1, vocab_size, vocab_name));
		}
		committed_terms.swap(batch_terms);
		batch_terms.clear();
	}

	// A vocabulary file in db_dir with every term of w, and the metadata
	// naming it for w's next commit. Not yet the writer's: see
	// attach_vocabulary().
	static void write_vocabulary(Xapian::WritableDatabase &w, const fs::path &db_dir)
	{
		const std::string name = new_name(kVocabularyPrefix);
		const std::string path = (db_dir / name).string();
		Fd fd(open_retry(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
		if (!fd)
			throw_errno("cannot create " + path);
		std::uint64_t size = 0;
		std::string lines;
		for (auto t = w.allterms_begin(); t != w.allterms_end(); ++t) {
			lines += *t;
			lines += '\n';
			if (lines.size() >= kVocabularyChunk) {
				write_all(fd.get(), lines, path);
				size += lines.size();
				lines.clear();
			}
		}
		write_all(fd.get(), lines, path);
		size += lines.size();
		w.set_metadata(kMetaVocabulary,
			       format_vocabulary_ref(w.get_revision() + 1, size, name));
	}

	// The writer takes the vocabulary file its database names for
	// appending, cut to what the database's revision has of it (a writer
	// killed while appending leaves more). A database that had one, but
	// not for its revision, or that has grown large enough, gets one
	// written afresh (and committed).
	void attach_vocabulary()
	{
		const fs::path db_dir = dir / db_target;
		// (a compaction drops the terms of expunged mails)
		committed_terms.clear();
		batch_terms.clear();
		for (int attempt = 0;; attempt++) {
			vocab_name.clear();
			vocab_fd.reset();
			auto ref = parse_vocabulary_ref(wdb->get_metadata(kMetaVocabulary));
			if (ref && ref->revision == wdb->get_revision()) {
				const std::string path = (db_dir / ref->name).string();
				vocab_fd.reset(open_retry(path, O_WRONLY | O_APPEND | O_CLOEXEC));
				const std::uint64_t size =
					vocab_fd ? file_size(vocab_fd.get(), path) : 0;
				if (vocab_fd && size >= ref->size) {
					if (size > ref->size &&
					    ::ftruncate(vocab_fd.get(), static_cast<off_t>(ref->size)) < 0)
						throw_errno("ftruncate " + path);
					vocab_name = ref->name;
					vocab_size = ref->size;
					break;
				}
			}
			if (!ref && wdb->get_doccount() < opts.vocabulary_from_documents)
				break; // none yet
			if (attempt > 0)
				throw IndexError("the vocabulary file written in " + db_dir.string() +
						 " is not the database's");
			write_vocabulary(*wdb, db_dir);
			before_commit();
			wdb->commit();
			mark_committed();
		}
		// left by writers that wrote one afresh and died, or replaced
		std::error_code ec;
		std::vector<fs::path> stale;
		for (const auto &entry : fs::directory_iterator(db_dir, ec)) {
			const std::string name = entry.path().filename().string();
			if (name.rfind(kVocabularyPrefix, 0) == 0 && name != vocab_name)
				stale.push_back(entry.path());
		}
		for (const auto &path : stale)
			fs::remove(path, ec);
	}

	void mark_committed()
	{
		committed_lastdocid = wdb->get_lastdocid();
		written.clear();
	}

	bool document_exists(std::uint32_t uid) const
	{
		if (uid > committed_lastdocid)
			return written.count(uid) != 0;
		return has_document(*wdb, uid);
	}

	void check_writable() const
	{
		if (wdb == nullptr)
			throw IndexError("fts index opened read-only");
	}

	void emit(std::string_view run)
	{
		if (run.size() < RunSplitter::kMinIndexed)
			return;
		if (cur_field == Field::html)
			doc->add_html(run);
		else
			doc->add(cur_prefix, run);
	}

	// Hands a complete document to the writer.
	void write_or_queue(CollectedDocument &&document)
	{
		if (!opts.background_writer) {
			write_document(document);
			return;
		}
		if (!background)
			background = std::make_unique<BackgroundWriter>(
				[this](WriterJob &job) { run_job(job); });
		background->push(WriterJob{false, std::move(document)});
	}
	// Before the caller's thread reads or changes the writer's state:
	// waits for the writer's jobs, and throws the first one's failure.
	void drain()
	{
		if (background)
			background->drain();
	}
	// drain() for what can't fail (the accessors): a failure is thrown by
	// the next call that can.
	void wait_for_writer() noexcept
	{
		try {
			drain();
		} catch (...) {
		}
	}
	void run_job(WriterJob &job)
	{
		if (job.commit)
			commit_written();
		else
			write_document(job.doc);
	}

	Xapian::Document build_document(const CollectedDocument &collected) const;
	void write_document(const CollectedDocument &collected);
	// the writer's half of commit()
	void commit_written();

	void close_field()
	{
		if (!field_open)
			return;
		splitter.finish([&](std::string_view r) { emit(r); });
		field_open = false;
	}

	void read_meta()
	{
		uidvalidity = parse_uint(db->get_metadata(kMetaUidvalidity));
		last_uid = parse_uint(db->get_metadata(kMetaLastUid));
		expunged = parse_ranges(db->get_metadata(kMetaExpunged));
		if (uidvalidity != opts.uidvalidity)
			last_uid = 0;
	}

	std::string current_stub_target() const
	{
		std::error_code ec;
		fs::path stub = dir / kStubName;
		return fs::exists(stub, ec) ? read_stub_target(stub) : "";
	}

	// Refuses to commit into a database the stub no longer names: the
	// index was removed as damaged, or replaced, by another process.
	void check_still_current()
	{
		if (current_stub_target() == db_target)
			return;
		abandoned = true;
		throw CorruptIndex("fts index " + dir.string() +
				   " was removed or replaced by another process; "
				   "these mails are indexed again later");
	}

	static int create_flags()
	{
		return Xapian::DB_CREATE_OR_OVERWRITE | Xapian::DB_BACKEND_GLASS |
		       Xapian::DB_NO_TERMLIST;
	}

	// --- commits without fsync (kUnsyncedName)
	std::string boot_id; // "" when read-only or unknown: Xapian syncs
	int sync_flags() const { return boot_id.empty() ? 0 : Xapian::DB_NO_SYNC; }

	// Before any commit: the marker exists and is on disk.
	void before_commit()
	{
		if (boot_id.empty())
			return;
		std::error_code ec;
		const fs::path marker = dir / kUnsyncedName;
		if (fs::exists(marker, ec))
			return;
		// (several writers may find no marker at once)
		const fs::path tmp = dir / (std::string(kUnsyncedName) + "." + new_target() + ".tmp");
		write_small_file(tmp, boot_id + "\n");
		sync_path(tmp, false);
		fs::rename(tmp, marker, ec);
		if (ec)
			throw IndexError("cannot create " + marker.string() + ": " + ec.message());
		sync_path(dir, false);
	}

	// After the last commit: every file of the database on disk, then the
	// marker removed.
	void sync_and_clear()
	{
		std::error_code ec;
		const fs::path marker = dir / kUnsyncedName;
		if (boot_id.empty() || db_target.empty() || !fs::exists(marker, ec))
			return;
		const fs::path db_dir = dir / db_target;
		std::vector<fs::path> files;
		for (const auto &entry : fs::directory_iterator(db_dir, ec))
			if (entry.is_regular_file() && entry.path().filename() != "iamglass")
				files.push_back(entry.path());
		for (const auto &file : files)
			sync_path(file, true);
		// the version file last: it names blocks now on disk
		sync_path(db_dir / "iamglass", true);
		sync_path(db_dir, false);
		fs::remove(marker, ec);
		sync_path(dir, false);
	}

	// An index a writer updated without sync before the machine restarted.
	// Read in one step: a writer removes the marker when it has synced,
	// at any moment, and a marker gone is an index on disk.
	void check_synced() const
	{
		const fs::path marker = dir / kUnsyncedName;
		std::string content;
		try {
			content = read_small_file(marker.string(), 4096);
		} catch (const std::system_error &e) {
			if (e.code() == std::errc::no_such_file_or_directory)
				return;
			throw IndexError("cannot read " + marker.string() + ": " + e.code().message());
		} catch (const std::length_error &) {
			// not a marker this code wrote: treated as one from another boot
		}
		std::istringstream in(content);
		std::string written_at_boot;
		in >> written_at_boot;
		const std::string &now = current_boot_id();
		if (written_at_boot.empty() || now.empty() || written_at_boot != now)
			throw CorruptIndex("updated without fsync before the machine restarted "
					   "(" + marker.string() + ")");
	}

	void init_meta(Xapian::WritableDatabase &w) const
	{
		w.set_metadata(kMetaFormat, kFormat);
		w.set_metadata(kMetaUidvalidity, std::to_string(opts.uidvalidity));
		w.set_metadata(kMetaLastUid, "0");
	}

	// Makes new_db (holding its lock) the current database: the stub is
	// switched atomically, then the old one is released and removed, with
	// any database a crashed process left unclaimed.
	void switch_to(std::unique_ptr<Xapian::WritableDatabase> new_db, const std::string &target)
	{
		std::error_code ec;
		if (current_stub_target() != db_target) {
			// removed (as damaged) or replaced meanwhile: ours is stale
			new_db.reset();
			fs::remove_all(dir / target, ec);
			throw CorruptIndex("fts index " + dir.string() +
					   " was removed or replaced by another process");
		}
		write_stub(dir, target);
		std::string old = db_target;
		db.reset();
		wdb = nullptr;
		if (!old.empty() && old != target)
			fs::remove_all(dir / old, ec);
		std::vector<fs::path> unclaimed;
		for (const auto &entry : fs::directory_iterator(dir, ec)) {
			std::string name = entry.path().filename().string();
			if (name.rfind(kDbPrefix, 0) == 0 && name != target)
				unclaimed.push_back(entry.path());
		}
		for (const auto &path : unclaimed)
			fs::remove_all(path, ec);
		wdb = new_db.get();
		db = std::move(new_db);
		db_target = target;
		mark_committed();
	}

	// An empty database in place of the current one (UIDVALIDITY change,
	// old format). Keeps the lock throughout.
	void start_afresh()
	{
		std::string next = new_target();
		auto fresh = std::make_unique<Xapian::WritableDatabase>((dir / next).string(),
									create_flags() | sync_flags());
		init_meta(*fresh);
		before_commit();
		fresh->commit();
		switch_to(std::move(fresh), next);
		expunged.clear();
		expunged_dirty = false;
	}

	// A reader whose database another process replaced (a compaction),
	// removed, or committed over twice while it read: reads the current
	// one (true); false when what it read is still current (damage).
	bool read_again_after(const Xapian::Error &e)
	{
		if (wdb != nullptr)
			return false;
		if (e.get_type() == std::string("DatabaseModifiedError") &&
		    current_stub_target() == db_target) {
			try {
				db->reopen();
				read_meta();
				return true;
			} catch (const Xapian::Error &again) {
				// committed over again: the next attempt reopens
				if (again.get_type() == std::string("DatabaseModifiedError"))
					return true;
				// gone meanwhile: open what the stub names now
			}
		}
		if (current_stub_target() == db_target)
			return false;
		db.reset();
		db_target.clear();
		exists = false;
		last_uid = 0;
		expunged.clear();
		open_for_reading();
		return true;
	}

	// Index::open's steps
	void open_for_reading();
	void open_for_writing(std::string &notice);
	void start_afresh_if_outdated(std::string &notice);

	// Last, so that it stops first: its jobs use the members above.
	std::unique_ptr<BackgroundWriter> background;
};

namespace {

// An abandoned database (Impl::abandoned) stays open, and reachable, for
// the rest of the process: never destroyed, not even at exit.
void keep_abandoned(std::unique_ptr<Xapian::Database> db)
{
	static std::mutex lock;
	static auto *kept = new std::vector<std::unique_ptr<Xapian::Database>>;
	std::lock_guard<std::mutex> guard(lock);
	kept->push_back(std::move(db));
}

} // namespace

Index::Index(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Index::~Index()
{
	// (what it had not written yet is indexed again by the next writer)
	if (impl_)
		impl_->background.reset();
	if (impl_ && impl_->abandoned) {
		keep_abandoned(std::move(impl_->db));
		return;
	}
	if (impl_ && impl_->wdb != nullptr) {
		// Uncommitted documents may be committed by Xapian here; last_uid
		// was not raised for them, so their mails are indexed again (and
		// the documents found there already).
		try {
			impl_->db.reset();
			impl_->sync_and_clear();
		} catch (...) {
			// the marker stays: after a restart the index is rebuilt
		}
	}
}

// Opens the database the stub names, if any, for reading; one another
// process replaces while we open it (a compaction) is followed.
void Index::Impl::open_for_reading()
{
	const fs::path stub = dir / kStubName;
	std::error_code ec;
	for (int attempt = 0;; attempt++) {
		std::string target = current_stub_target();
		if (target.empty()) {
			if (fs::exists(stub, ec))
				throw CorruptIndex("unreadable stub file " + stub.string());
			return;
		}
		check_synced();
		try {
			db = std::make_unique<Xapian::Database>((dir / target).string(),
								Xapian::DB_BACKEND_GLASS);
			db_target = target;
			exists = true;
			read_meta();
			return;
		} catch (const Xapian::Error &e) {
			// replaced under us by a compaction, or committed over
			// twice while its metadata was read: open the newest
			if (attempt < kReadAttempts &&
			    (current_stub_target() != target ||
			     e.get_type() == std::string("DatabaseModifiedError"))) {
				db.reset();
				exists = false;
				continue;
			}
			rethrow_xapian(e, dir.string());
		}
	}
}

// Opens the database the stub names for writing, or creates the index;
// waits up to opts.lock_timeout_ms for another writer's lock.
void Index::Impl::open_for_writing(std::string &notice)
{
	const fs::path stub = dir / kStubName;
	std::error_code ec;
	check_synced();
	boot_id = current_boot_id();
	auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opts.lock_timeout_ms);
	unsigned sleep_ms = 10;
	for (;;) {
		std::string target = current_stub_target();
		if (target.empty() && fs::exists(stub, ec))
			throw CorruptIndex("unreadable stub file " + stub.string());
		const bool fresh = target.empty();
		if (fresh) {
			// (again after a concurrent removal)
			fs::create_directories(dir, ec);
			if (ec)
				throw IndexError("cannot create " + dir.string() + ": " +
						 ec.message());
		}
		try {
			std::unique_ptr<Xapian::WritableDatabase> new_wdb;
			if (fresh) {
				// built complete (metadata committed) before the stub
				// names it, so a reader never sees it half made
				target = new_target();
				new_wdb = std::make_unique<Xapian::WritableDatabase>(
					(dir / target).string(), create_flags() | sync_flags());
				init_meta(*new_wdb);
				before_commit();
				new_wdb->commit();
				if (!claim_stub(dir, target)) {
					// another process created the index first: use its
					new_wdb.reset();
					fs::remove_all(dir / target, ec);
					continue;
				}
				notice = "no index yet (new mailbox, or the index was removed): "
					 "building it";
			} else {
				new_wdb = std::make_unique<Xapian::WritableDatabase>(
					(dir / target).string(),
					Xapian::DB_OPEN | Xapian::DB_BACKEND_GLASS |
						Xapian::DB_NO_TERMLIST | sync_flags());
				// another process may have switched databases while we
				// waited for the lock
				if (current_stub_target() != target)
					continue;
			}
			db_target = target;
			wdb = new_wdb.get();
			db = std::move(new_wdb);
			exists = true;
			return;
		} catch (const Xapian::DatabaseLockError &) {
			if (std::chrono::steady_clock::now() >= deadline)
				throw IndexBusy("fts index " + dir.string() +
						" is locked by another process");
			std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
			sleep_ms = std::min(sleep_ms * 2, 200u);
		} catch (const Xapian::Error &e) {
			if (!fresh && current_stub_target() != target)
				continue;
			rethrow_xapian(e, dir.string());
		}
	}
}

// An index of another format or UIDVALIDITY is started afresh (the notice
// says why); one without metadata gets it.
void Index::Impl::start_afresh_if_outdated(std::string &notice)
{
	try {
		std::string format = wdb->get_metadata(kMetaFormat);
		std::uint32_t stored_validity = parse_uint(wdb->get_metadata(kMetaUidvalidity));
		bool empty = wdb->get_doccount() == 0 && format.empty();
		if (!empty && (format != kFormat || stored_validity != opts.uidvalidity)) {
			notice = format != kFormat
				? "index format " + (format.empty() ? std::string("unknown") : format) +
					  " replaced: index started afresh"
				: "UIDVALIDITY changed from " + std::to_string(stored_validity) + " to " +
					  std::to_string(opts.uidvalidity) + ": index started afresh";
			start_afresh();
		} else if (format.empty()) {
			init_meta(*wdb);
			before_commit();
			wdb->commit();
		}
		mark_committed();
		read_meta();
		attach_vocabulary();
	} catch (const Xapian::Error &e) {
		rethrow_xapian(e, dir.string());
	}
}

std::unique_ptr<Index> Index::open(const std::string &dir_str, const OpenOptions &opts,
				   std::string &notice)
{
	auto impl = std::make_unique<Impl>();
	impl->dir = dir_str;
	impl->opts = opts;
	if (opts.writable) {
		impl->open_for_writing(notice);
		impl->start_afresh_if_outdated(notice);
	} else {
		impl->open_for_reading();
	}
	return std::unique_ptr<Index>(new Index(std::move(impl)));
}

bool Index::exists() const { return impl_->exists; }
std::uint32_t Index::last_uid() const
{
	impl_->wait_for_writer();
	return impl_->last_uid;
}
std::uint32_t Index::uidvalidity() const { return impl_->uidvalidity; }

std::uint32_t Index::document_count() const
{
	impl_->drain();
	if (!impl_->db)
		return 0;
	try {
		std::uint64_t n = impl_->db->get_doccount();
		std::uint64_t gone = range_count(impl_->expunged);
		return static_cast<std::uint32_t>(n > gone ? n - gone : 0);
	} catch (const Xapian::Error &e) {
		rethrow_xapian(e, impl_->dir.string());
	}
}

void Index::begin_document(std::uint32_t uid)
{
	Impl &m = *impl_;
	m.check_writable();
	if (uid == 0)
		throw IndexError("UID 0 cannot be indexed");
	if (m.doc)
		end_document();
	m.doc.emplace();
	m.doc->uid = uid;
	m.field_open = false;
}

void Index::add_text(Field field, std::string_view header_name, std::string_view text)
{
	Impl &m = *impl_;
	if (!m.doc)
		throw IndexError("add_text outside a document");
	std::string prefix;
	std::string name_term;
	switch (field) {
	case Field::body:
		prefix = kBody;
		break;
	case Field::attachment:
		prefix = kAttachment;
		break;
	case Field::html:
		prefix = kHtml;
		break;
	case Field::header:
	case Field::mime_header: {
		if (!valid_header_name(header_name)) {
			m.doc->add(kIncomplete, "");
			return;
		}
		std::string name = text::ascii_uppercase(header_name);
		if (field == Field::header) {
			prefix = header_prefix(name);
			name_term = std::string(1, kHeaderName) + name + ":";
		} else {
			prefix = std::string(1, kMimeHeader);
			name_term = prefix + name + ":";
		}
		break;
	}
	}
	if (!m.field_open || m.cur_field != field || m.cur_prefix != prefix) {
		m.close_field();
		m.cur_field = field;
		m.cur_prefix = std::move(prefix);
		m.field_open = true;
		if (!name_term.empty())
			m.doc->add(name_term, "");
	}
	m.splitter.feed(text, [&](std::string_view r) { m.emit(r); });
}

void Index::end_field()
{
	impl_->close_field();
}

void Index::mark_incomplete()
{
	if (!impl_->doc)
		throw IndexError("mark_incomplete outside a document");
	impl_->doc->add(kIncomplete, "");
}

Xapian::Document Index::Impl::build_document(const CollectedDocument &collected) const
{
	Xapian::Document document;
	std::string term;
	for_each_packed(collected.terms, [&](std::string_view t) {
		term.assign(t);
		document.add_boolean_term(term);
	});
	if (collected.html_runs.empty())
		return document;
	// one walk over the document's terms, in order (a document's
	// skip_to() steps through them one by one)
	std::vector<std::string_view> html_runs;
	for_each_packed(collected.html_runs, [&](std::string_view r) { html_runs.push_back(r); });
	std::sort(html_runs.begin(), html_runs.end());
	html_runs.erase(std::unique(html_runs.begin(), html_runs.end()), html_runs.end());
	std::string body_term(1, kBody);
	Xapian::TermIterator t = document.termlist_begin();
	const Xapian::TermIterator end = document.termlist_end();
	std::vector<std::string> html_only;
	for (std::string_view run : html_runs) {
		body_term.resize(1);
		body_term += run;
		t.skip_to(body_term);
		if (t == end || *t != body_term)
			html_only.push_back(std::string(1, kHtml).append(run));
	}
	// (added after the walk: adding terms would end the iteration)
	for (const auto &html_term : html_only)
		document.add_boolean_term(html_term);
	return document;
}

// Without a termlist a document can't be replaced; one indexed already
// (by an earlier run, or below a rescan's last_uid), or expunged, is kept
// as it is.
void Index::Impl::write_document(const CollectedDocument &collected)
{
	const std::uint32_t uid = collected.uid;
	if (!in_ranges(expunged, uid)) {
		try {
			if (!document_exists(uid)) {
				const Xapian::Document document = build_document(collected);
				note_terms(document);
				wdb->replace_document(uid, document);
				written.insert(uid);
			}
		} catch (const Xapian::Error &e) {
			rethrow_xapian(e, dir.string());
		}
	}
	pending_last_uid = std::max(pending_last_uid, uid);
}

void Index::end_document()
{
	Impl &m = *impl_;
	if (!m.doc)
		return;
	m.close_field();
	CollectedDocument doc = std::move(*m.doc);
	m.doc.reset();
	m.write_or_queue(std::move(doc));
}

void Index::hold_document()
{
	Impl &m = *impl_;
	if (!m.doc)
		throw IndexError("hold_document outside a document");
	m.close_field();
	const std::uint32_t uid = m.doc->uid;
	m.held[uid] = std::move(*m.doc);
	m.doc.reset();
}

void Index::add_held_text(std::uint32_t uid, std::string_view attachment_text)
{
	Impl &m = *impl_;
	auto it = m.held.find(uid);
	if (it == m.held.end())
		throw IndexError("no held document for UID " + std::to_string(uid));
	CollectedDocument &doc = it->second;
	const std::string_view prefix(&kAttachment, 1);
	auto add = [&](std::string_view run) {
		if (run.size() >= RunSplitter::kMinIndexed)
			doc.add(prefix, run);
	};
	RunSplitter splitter;
	splitter.feed(attachment_text, add);
	splitter.finish(add);
}

void Index::release_document(std::uint32_t uid)
{
	Impl &m = *impl_;
	auto it = m.held.find(uid);
	if (it == m.held.end())
		throw IndexError("no held document for UID " + std::to_string(uid));
	CollectedDocument doc = std::move(it->second);
	m.held.erase(it);
	m.write_or_queue(std::move(doc));
}

void Index::expunge(std::uint32_t uid)
{
	Impl &m = *impl_;
	m.check_writable();
	m.drain();
	try {
		if (!m.document_exists(uid) || in_ranges(m.expunged, uid))
			return; // never indexed, or expunged twice
	} catch (const Xapian::Error &e) {
		rethrow_xapian(e, m.dir.string());
	}
	add_to_ranges(m.expunged, uid);
	m.expunged_dirty = true;
}

void Index::commit()
{
	commit_in_background();
	impl_->drain();
}

void Index::commit_in_background()
{
	Impl &m = *impl_;
	m.check_writable();
	end_document();
	if (!m.held.empty())
		throw IndexError("commit while UID " + std::to_string(m.held.begin()->first) +
				 " still waits for its attachment text");
	if (m.background)
		m.background->push(WriterJob{true, {}});
	else
		m.commit_written(); // no thread (none wanted, or nothing written yet)
}

void Index::Impl::commit_written()
{
	try {
		std::uint32_t stored = parse_uint(wdb->get_metadata(kMetaLastUid));
		std::uint32_t last = behind_caller ? stored : std::max(stored, pending_last_uid);
		if (last != stored)
			wdb->set_metadata(kMetaLastUid, std::to_string(last));
		if (expunged_dirty) {
			// another writer may have added some since we opened: merge
			for (auto r : parse_ranges(wdb->get_metadata(kMetaExpunged)))
				for (std::uint32_t u = r.first; u <= r.last && u != 0; u++)
					add_to_ranges(expunged, u);
			wdb->set_metadata(kMetaExpunged, format_ranges(expunged));
		}
		check_still_current();
		prepare_commit(*wdb);
		before_commit();
		wdb->commit();
		mark_committed();
		last_uid = last;
		pending_last_uid = 0;
		expunged_dirty = false;
		if (vocab_name.empty() && wdb->get_doccount() >= opts.vocabulary_from_documents)
			attach_vocabulary(); // grown large enough for one
	} catch (const Xapian::Error &e) {
		check_still_current(); // (removed while Xapian committed)
		rethrow_xapian(e, dir.string());
	}
}

bool Index::builds_on(std::uint32_t caller_last_uid)
{
	Impl &m = *impl_;
	m.check_writable();
	m.drain();
	if (m.last_uid < caller_last_uid)
		m.behind_caller = true;
	return m.behind_caller;
}

std::uint32_t Index::reconcile(const std::vector<std::uint32_t> &existing)
{
	Impl &m = *impl_;
	m.check_writable();
	end_document();
	m.drain();
	try {
		std::vector<std::uint32_t> indexed;
		for (auto it = m.wdb->postlist_begin(""); it != m.wdb->postlist_end(""); ++it) {
			if (!in_ranges(m.expunged, *it))
				indexed.push_back(*it);
		}
		std::vector<std::uint32_t> stale;
		std::set_difference(indexed.begin(), indexed.end(), existing.begin(), existing.end(),
				    std::back_inserter(stale));
		for (auto uid : stale)
			add_to_ranges(m.expunged, uid);
		m.expunged_dirty = m.expunged_dirty || !stale.empty();
		// The first existing UID at or below last_uid that is not indexed.
		std::uint32_t last = parse_uint(m.wdb->get_metadata(kMetaLastUid));
		std::uint32_t new_last = last;
		for (auto uid : existing) {
			if (uid > last)
				break;
			if (!std::binary_search(indexed.begin(), indexed.end(), uid)) {
				new_last = uid - 1;
				break;
			}
		}
		if (m.expunged_dirty)
			m.wdb->set_metadata(kMetaExpunged, format_ranges(m.expunged));
		m.wdb->set_metadata(kMetaLastUid, std::to_string(new_last));
		m.check_still_current();
		m.prepare_commit(*m.wdb);
		m.before_commit();
		m.wdb->commit();
		m.mark_committed();
		m.expunged_dirty = false;
		m.last_uid = new_last;
		return new_last;
	} catch (const Xapian::Error &e) {
		m.check_still_current();
		rethrow_xapian(e, m.dir.string());
	}
}

namespace {

// A copy of src without the documents of the expunged UIDs: without a
// termlist the postings are inverted back into documents, a chunk of
// UIDs at a time, so memory stays bounded by the vocabulary.
void copy_without(const Xapian::Database &src, Xapian::WritableDatabase &dest,
		  const std::vector<Range> &expunged)
{
	std::vector<std::string> terms;
	for (auto t = src.allterms_begin(); t != src.allterms_end(); ++t)
		terms.push_back(*t);
	const std::uint32_t last = src.get_lastdocid();
	for (std::uint64_t lo = 1; lo <= last; lo += kRebuildChunk) {
		const std::uint32_t hi = static_cast<std::uint32_t>(
			std::min<std::uint64_t>(lo + kRebuildChunk - 1, last));
		std::vector<std::vector<std::uint32_t>> doc_terms(hi - lo + 1);
		std::vector<bool> present(hi - lo + 1, false);
		for (auto p = src.postlist_begin(""); p != src.postlist_end(""); ++p) {
			if (*p >= lo && *p <= hi && !in_ranges(expunged, *p))
				present[*p - lo] = true;
		}
		for (std::uint32_t ti = 0; ti < terms.size(); ti++) {
			auto p = src.postlist_begin(terms[ti]);
			p.skip_to(static_cast<Xapian::docid>(lo));
			for (; p != src.postlist_end(terms[ti]) && *p <= hi; ++p) {
				if (present[*p - lo])
					doc_terms[*p - lo].push_back(ti);
			}
		}
		for (std::uint32_t i = 0; i < doc_terms.size(); i++) {
			if (!present[i])
				continue;
			Xapian::Document doc;
			for (auto ti : doc_terms[i])
				doc.add_boolean_term(terms[ti]);
			dest.replace_document(static_cast<Xapian::docid>(lo + i), doc);
		}
		dest.commit();
	}
	for (const auto &key : {kMetaFormat, kMetaUidvalidity, kMetaLastUid})
		dest.set_metadata(key, src.get_metadata(key));
	dest.commit();
}

} // namespace

void Index::compact()
{
	Impl &m = *impl_;
	m.check_writable();
	commit();
	const std::string next = new_target();
	const fs::path tmp = m.dir / (next + ".tmp");
	std::error_code ec;
	try {
		if (!m.expunged.empty()) {
			Xapian::WritableDatabase rebuilt(tmp.string(), Impl::create_flags());
			copy_without(*m.wdb, rebuilt, m.expunged);
			rebuilt.close();
			Xapian::Database(tmp.string()).compact((m.dir / next).string(),
							       Xapian::DBCOMPACT_NO_RENUMBER);
			fs::remove_all(tmp, ec);
		} else {
			m.wdb->compact((m.dir / next).string(), Xapian::DBCOMPACT_NO_RENUMBER);
		}
		auto compacted = std::make_unique<Xapian::WritableDatabase>(
			(m.dir / next).string(),
			Xapian::DB_OPEN | Xapian::DB_BACKEND_GLASS | Xapian::DB_NO_TERMLIST |
				m.sync_flags());
		compacted->set_metadata(kMetaExpunged, "");
		compacted->set_metadata(kMetaCompactedCount,
					std::to_string(compacted->get_doccount()));
		// (without the terms of the expunged mails' postings)
		if (!m.vocab_name.empty())
			Impl::write_vocabulary(*compacted, m.dir / next);
		m.before_commit();
		compacted->commit();
		m.switch_to(std::move(compacted), next);
		m.attach_vocabulary();
		m.expunged.clear();
	} catch (const Xapian::Error &e) {
		fs::remove_all(tmp, ec);
		fs::remove_all(m.dir / next, ec);
		rethrow_xapian(e, m.dir.string());
	}
}

bool Index::compact_if_worthwhile()
{
	Impl &m = *impl_;
	m.check_writable();
	m.drain();
	std::uint64_t docs, at_last, gone;
	try {
		docs = m.wdb->get_doccount();
		at_last = parse_uint(m.wdb->get_metadata(kMetaCompactedCount));
		gone = range_count(m.expunged);
	} catch (const Xapian::Error &e) {
		rethrow_xapian(e, m.dir.string());
	}
	// A freshly grown index is mostly B-tree slack from the batched
	// commits; many expunged mails are dead postings every search scans.
	bool grown = docs >= at_last + 1000 && docs >= at_last + at_last / 2;
	bool dead = gone >= 100 && gone * 4 >= docs;
	if (!grown && !dead)
		return false;
	compact();
	return true;
}

void Index::remove(const std::string &dir)
{
	for (int attempt = 0;; attempt++) {
		std::error_code ec;
		fs::remove_all(dir, ec);
		if (!ec)
			return;
		// Another process removing the same damaged index took an entry
		// away under us (what it removed is gone either way), or a writer
		// of the removed database added one. Each attempt removes some
		// entries, so this ends.
		bool raced = ec == std::errc::no_such_file_or_directory ||
			     ec == std::errc::directory_not_empty;
		if (!raced || attempt >= 1000)
			throw IndexError("cannot remove " + dir + ": " + ec.message());
		std::this_thread::yield();
	}
}

namespace {

struct Scan {
	std::string prefix;   // term prefix of the field
	bool definite;        // hits are sure matches (else "maybe")
	bool skip_header_name; // X<NAME>: terms of any header: skip to ':'
};

std::vector<Scan> scans_for(const Key &key)
{
	switch (key.type) {
	case KeyType::body:
		return {{std::string(1, kBody), true, false},
			{std::string(1, kAttachment), true, false},
			{std::string(1, kHtml), false, false}};
	case KeyType::text:
		return {{std::string(1, kBody), true, false},
			{std::string(1, kAttachment), true, false},
			{std::string(1, kHeaderName), true, false},
			{std::string(1, kMimeHeader), true, false},
			{std::string(1, kHeader), true, true},
			{std::string(1, kHtml), false, false}};
	case KeyType::header:
	case KeyType::header_approx:
		return {{header_prefix(text::ascii_uppercase(key.header_name)),
			 key.type == KeyType::header, false}};
	}
	return {};
}

std::vector<std::string_view> split_runs(std::string_view value)
{
	std::vector<std::string_view> out;
	std::size_t i = 0;
	while (i < value.size()) {
		while (i < value.size() && RunSplitter::is_separator(value[i]))
			i++;
		std::size_t start = i;
		while (i < value.size() && !RunSplitter::is_separator(value[i]))
			i++;
		if (i > start)
			out.push_back(value.substr(start, i - start));
	}
	return out;
}

bool contains(std::string_view hay, std::string_view needle)
{
	if (needle.empty())
		return true;
	return hay.size() >= needle.size() &&
	       memmem(hay.data(), hay.size(), needle.data(), needle.size()) != nullptr;
}

// The run a term of scan's field holds; nullopt for a term of another field.
std::optional<std::string_view> run_of(const Scan &scan, std::string_view term)
{
	if (term.compare(0, scan.prefix.size(), scan.prefix) != 0)
		return std::nullopt;
	std::string_view run = term.substr(scan.prefix.size());
	if (scan.skip_header_name) {
		auto colon = run.find(':');
		if (colon == std::string_view::npos)
			return std::nullopt;
		run.remove_prefix(colon + 1);
	}
	return run;
}

// Raises the documents of term in hits (indexed by UID, up to last_uid)
// to state.
void mark_postings(const Xapian::Database &db, const std::string &term,
		   std::vector<std::uint8_t> &hits, std::uint8_t state)
{
	for (auto p = db.postlist_begin(term); p != db.postlist_end(term); ++p) {
		Xapian::docid uid = *p;
		if (uid < hits.size() && hits[uid] < state)
			hits[uid] = state;
	}
}

// Marks in hits the documents having a term of scan's field that contains
// needle, walking Xapian's term list; state is the value to raise to.
void scan_terms(const Xapian::Database &db, const Scan &scan, std::string_view needle,
		std::vector<std::uint8_t> &hits, std::uint8_t state)
{
	for (auto t = db.allterms_begin(scan.prefix); t != db.allterms_end(scan.prefix); ++t) {
		const std::string &term = *t;
		auto run = run_of(scan, term);
		if (run && contains(*run, needle))
			mark_postings(db, term, hits, state);
	}
}

// Marks in hits the documents having a term of one of scans' fields that
// contains needle: as definite or maybe as the scan says (by_scan), or
// all as kYes. With a vocabulary, one pass over it for all the scans.
void mark_matches(const Xapian::Database &db, const VocabularyFile *vocab,
		  const std::vector<Scan> &scans, std::string_view needle,
		  std::vector<std::uint8_t> &hits, bool by_scan)
{
	auto state_of = [&](const Scan &scan) {
		return (!by_scan || scan.definite) ? kYes : kMaybe;
	};
	if (vocab == nullptr) {
		for (const Scan &scan : scans)
			scan_terms(db, scan, needle, hits, state_of(scan));
		return;
	}
	scan_vocabulary(*vocab, needle, [&](std::string_view term) {
		for (const Scan &scan : scans) {
			auto run = run_of(scan, term);
			if (run && contains(*run, needle))
				mark_postings(db, std::string(term), hits, state_of(scan));
		}
	});
}

} // namespace

std::optional<Result> Index::lookup(std::vector<Key> &keys, bool and_args,
				    std::uint32_t assumed_last_uid)
{
	Impl &m = *impl_;
	m.drain();
	for (int attempt = 0;; attempt++) {
		const std::uint32_t last = m.last_uid;
		std::vector<std::uint8_t> combined;
		bool any = false;
		try {
			std::vector<std::uint8_t> incomplete(std::size_t(last) + 1, kNo);
			if (m.db)
				scan_terms(*m.db, {kIncomplete, true, false}, "", incomplete, kYes);
			// (a writer's uncommitted terms are in no vocabulary yet)
			std::unique_ptr<VocabularyFile> vocab;
			if (m.db && m.wdb == nullptr) {
				vocab = open_vocabulary(*m.db, m.dir / m.db_target);
				if (!vocab)
					vocab = remembered_term_list(*m.db,
								     (m.dir / m.db_target).string(),
								     m.opts.remembered_term_list_max);
			}

			for (Key &key : keys) {
				key.handled = false;
				auto runs = split_runs(key.value);
				// only runs long enough to be indexed tell anything
				std::erase_if(runs, [](std::string_view r) {
					return r.size() < RunSplitter::kMinIndexed;
				});
				if (runs.empty())
					continue; // Dovecot answers it (e.g. HEADER name "", "ab")
				bool exact = runs.size() == 1 && runs[0].size() == key.value.size() &&
					     key.value.size() <= RunSplitter::kMaxExact &&
					     key.type != KeyType::header_approx;
				std::vector<std::uint8_t> st(std::size_t(last) + 1, kNo);
				if (m.db) {
					auto scans = scans_for(key);
					if (exact) {
						mark_matches(*m.db, vocab.get(), scans, runs[0], st, true);
					} else {
						// Every run must occur in some term; Dovecot confirms.
						std::vector<std::uint8_t> all(std::size_t(last) + 1, kYes);
						for (auto run : runs) {
							auto needle = run.substr(0, RunSplitter::kMaxExact);
							std::vector<std::uint8_t> hit(std::size_t(last) + 1, kNo);
							mark_matches(*m.db, vocab.get(), scans, needle, hit, false);
							for (std::size_t u = 0; u <= last; u++)
								all[u] = std::min(all[u], hit[u]);
						}
						for (std::size_t u = 0; u <= last; u++)
							st[u] = all[u] == kYes ? kMaybe : kNo;
					}
				}
				for (std::size_t u = 0; u <= last; u++) {
					if (incomplete[u] == kYes)
						st[u] = kMaybe;
					if (key.negated)
						st[u] = static_cast<std::uint8_t>(kYes - st[u]);
				}
				key.handled = true;
				if (!any) {
					combined = std::move(st);
					any = true;
				} else {
					for (std::size_t u = 0; u <= last; u++)
						combined[u] = and_args ? std::min(combined[u], st[u])
								       : std::max(combined[u], st[u]);
				}
			}
		} catch (const Xapian::Error &e) {
			if (attempt < kReadAttempts && m.read_again_after(e))
				continue;
			if (e.get_type() == std::string("DatabaseModifiedError"))
				throw IndexError("index changed during the search: " + e.get_msg());
			rethrow_xapian(e, m.dir.string());
		}
		if (!any)
			return std::nullopt;
		Result r;
		for (std::uint32_t u = 1; u <= last; u++) {
			if (combined[u] != kNo && in_ranges(m.expunged, u))
				continue;
			if (combined[u] == kYes)
				append_range(r.definite, u);
			else if (combined[u] == kMaybe)
				append_range(r.maybe, u);
		}
		if (assumed_last_uid > last)
			r.maybe.push_back({last + 1, assumed_last_uid});
		return r;
	}
}

} // namespace tresor::fts
