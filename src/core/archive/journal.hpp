// The hash-chained journal: dir/journal/YYYY.jsonl, one JSON object per
// line, each carrying the SHA-256 of the line before it. See docs/archive.md.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/posix_io.hpp"
#include "common/sha256.hpp"

namespace tresor {

using Clock = std::chrono::system_clock;
using json = nlohmann::ordered_json;

// One event; unset strings and zero numbers are left out of the line.
struct Record {
	std::string event;
	std::optional<std::string> mailbox;
	std::optional<std::string> mailbox_guid;
	std::uint32_t uidvalidity = 0;
	std::uint32_t uid = 0;
	std::optional<std::string> guid;
	std::uint64_t size = 0;
	std::optional<std::string> sha256;
	std::optional<std::string> imap_sha256;
	std::optional<std::string> content_sha256;
	std::optional<std::string> message_id;
	std::uint64_t duplicate_of = 0;
	std::uint64_t content_duplicate_of = 0;
	std::uint32_t archive = 0; // save into an archive folder: 1
	std::optional<std::string> action;
	std::optional<std::string> new_mailbox;
	std::optional<std::string> service;
	std::optional<std::string> session;
	std::optional<std::string> reason;
	// Members of seal and tsr records (docs/archive.md section 4), written
	// in this order after reason and before prev.
	std::vector<std::pair<std::string, json>> extra;
};

// ---- helpers shared by the journal, the catalog and verify

std::string journal_dir_path(const std::string &dir);
// dir/intent.jsonl: the records of the commit in progress (Journal::write_intent()).
std::string intent_path(const std::string &dir);

struct JournalFile {
	int year = 0;
	std::string name; // "2026.jsonl"
	std::string path;
};
// Files named YYYY.jsonl in dir/journal, oldest year first. A missing
// journal directory gives an empty list.
std::vector<JournalFile> list_journal_files(const std::string &dir);
bool parse_journal_file_name(std::string_view name, int *year_r);

// Reads a file line by line from a byte offset.
class LineReader {
public:
	LineReader(const std::string &path, std::uint64_t offset = 0);
	~LineReader();
	LineReader(const LineReader &) = delete;
	LineReader &operator=(const LineReader &) = delete;

	// The next line without its '\n'; terminated_r tells whether it had
	// one. False at the end of the file.
	bool next(std::string &line, bool &terminated_r);
	// Byte offset just after the line last returned.
	std::uint64_t offset() const { return offset_; }

private:
	bool fill();
	std::string path_;
	int fd_ = -1;
	std::string buf_;
	std::size_t pos_ = 0;
	bool eof_ = false;
	std::uint64_t offset_ = 0;
};

// The line ending at byte `end` of fd (its '\n' at end-1, if any, is not
// part of it). Reads backwards from `end` only as far as needed.
std::string read_line_before(int fd, std::uint64_t end, const std::string &path);

// A position in the journal: just after the line with this seq and hash.
// The empty journal is {"" , 0, 0, 64 zeros}.
struct JournalPos {
	std::string file;
	std::uint64_t offset = 0;
	std::uint64_t seq = 0;
	std::string hash = std::string(kZeroHash);

	bool operator==(const JournalPos &) const = default;
};

// The head: the last line of the journal (an unterminated tail of the
// newest file, i.e. an interrupted write, is not part of it). seq is that
// line's seq; when the line can't be parsed, it is counted from the last
// parseable line before it.
JournalPos read_journal_head(const std::string &dir);

// "2026-11-23T09:05:00.123456Z"
std::string format_time(Clock::time_point t);
int utc_year(Clock::time_point t);

// The JSON object of a record (keys in the documented order).
json record_json(const Record &rec, std::uint64_t seq, Clock::time_point t,
		 const std::string &prev);
// One journal line (without "\n"); invalid UTF-8 is replaced by U+FFFD.
std::string dump_line(const json &j);
// Parses a line; nullopt unless it is a JSON object.
std::optional<json> parse_line(std::string_view line);
// The seq of a parsed record, when it is a non-negative integer.
std::optional<std::uint64_t> record_seq(const json &j);
// A string member, or "" when absent or not a string.
std::string json_string(const json &j, const char *key);
// An unsigned member, or 0.
std::uint64_t json_uint(const json &j, const char *key);

// The members of a record that verify reads, with the meaning record_seq(),
// json_string() and json_uint() give them. Kept between lines so that
// reading a journal doesn't allocate per line.
struct RecordFields {
	std::optional<std::uint64_t> seq;
	std::string event;
	std::string mailbox;
	std::string mailbox_guid;
	std::uint64_t uidvalidity = 0;
	std::uint64_t uid = 0;
	std::string guid;
	std::string sha256;
	std::string new_mailbox;
	std::string time;       // purge decisions and verify's purge check
	std::string message_id; // hold matching
	std::uint64_t archive = 0; // a save into an archive folder: 1
	bool has_prev = false; // present and a string
	std::string prev;

	void clear();
};

// Reads a line into fields_r; false unless it is a JSON object (as
// parse_line()). A flat object of strings and unsigned integers - every
// line the journal writes - takes a fast path that doesn't build a JSON
// tree; anything else goes through parse_line(), so the result is the same.
bool parse_record_fields(std::string_view line, RecordFields &fields_r);
// The fast path alone: false for anything it doesn't handle, valid or not
// (nested values, true/false/null, negative or fractional numbers,
// surrogate escapes, a member of RecordFields given twice, and everything
// that isn't JSON). It accepts nothing that parse_line() rejects.
bool parse_flat_record_fields(std::string_view line, RecordFields &fields_r);

// ---- the append side

class Catalog;
struct CatalogStats;

class Journal {
public:
	static constexpr unsigned kAppendLockTimeoutMs = 30000;

	// Creates dir and dir/journal (0700) when missing; dir must be
	// absolute. Throws std::runtime_error.
	explicit Journal(std::string dir);
	~Journal();
	Journal(const Journal &) = delete;
	Journal &operator=(const Journal &) = delete;

	// Reentrant exclusive lock on dir/journal/.lock.
	void lock(unsigned timeout_ms);
	void unlock();
	unsigned lock_depth() const { return lock_depth_; }

	// Appends one record at time `now`; returns its seq. Throws, and
	// leaves the journal as it was, when the line couldn't be made
	// durable. A catalog failure does not make it fail.
	std::uint64_t append(const Record &rec, Clock::time_point now);
	std::uint64_t append(const Record &rec) { return append(rec, Clock::now()); }
	// Appends records in order with one write and one fdatasync: all of
	// them or none. Returns their seqs. A save record whose duplicate_of
	// (content_duplicate_of) is 0 gets the seq of the earliest live save
	// of the same sha256 (content_sha256) in the same mailbox, earlier
	// records of the batch included.
	std::vector<std::uint64_t> append_batch(std::vector<Record> recs,
						Clock::time_point now);
	// The same, but the lines are made durable only by flush(): for a
	// caller that holds the lock across more work and flushes after
	// releasing it, so that concurrent writers' flushes overlap.
	// (A new year's file is still flushed at once.)
	std::vector<std::uint64_t> append_batch_unflushed(std::vector<Record> recs,
							  Clock::time_point now);
	// fdatasync()s what append_batch_unflushed() wrote; no-op if nothing
	// is pending. Throws on failure.
	void flush();

	// ---- a commit of the mail store in progress
	// Under the lock, before the mail store commits what these records
	// (saves without their UIDs, expunges) describe: reserves the
	// journal space their lines will need (fallocate, where the file
	// system has it) and adds them to intent_path(). Throws when either
	// fails - the commit must then not happen, as it could not be
	// journaled. end_intent() after the records were appended, or when
	// the commit failed; intents nest (a commit within a commit), and
	// the file goes with the last end. An intent left behind - by a
	// process killed between the commit and the append, or by an append
	// that failed - is journaled by the next lock() as "interrupted"
	// records: the mail may or may not be in the store, and verify
	// accepts either (docs/auditor.md).
	void write_intent(const std::vector<Record> &recs);
	void end_intent();
	// Journals a left-over intent (taking the lock); returns the number
	// of interrupted records written. Throws, keeping the intent, when
	// they can't be written.
	std::size_t recover_intent();
	// What the last lock() did with a left-over intent: the number of
	// interrupted records it journaled, and why it could not ("" if it
	// could, or there was none).
	std::uint64_t last_recovered_count() const { return recovered_count_; }
	const std::string &last_recovery_error() const { return recovery_error_; }

	struct Duplicate {
		std::uint64_t seq = 0;
		std::uint32_t uid = 0;
	};
	// The earliest live save in mailbox_guid with this sha256 (content =
	// false) or content_sha256 (content = true).
	std::optional<Duplicate> find_duplicate(const std::string &mailbox_guid,
						const std::string &hash, bool content);

	// Whether the journal accounts live mails to this mailbox GUID.
	bool mailbox_has_saves(const std::string &mailbox_guid);

	const std::string &dir() const { return dir_; }
	// The last catalog error swallowed by append(), "" if none.
	const std::string &last_catalog_error() const { return catalog_error_; }
	CatalogStats catalog_stats() const;

private:
	void repair_tail(const JournalFile &f);
	std::vector<std::uint64_t> write_batch(std::vector<Record> recs,
					       Clock::time_point now, bool flush_now);
	// per record: the batch index of the earlier save it duplicates by
	// sha256 [0] and content_sha256 [1], when that is in the same batch
	using BatchDuplicates = std::array<std::optional<std::size_t>, 2>;
	std::vector<BatchDuplicates> fill_duplicates(std::vector<Record> &recs,
						     const JournalPos &head);
	Catalog &catalog();

	std::string dir_;
	std::string journal_dir_;
	std::string lock_path_;
	int lock_fd_ = -1;
	unsigned lock_depth_ = 0;
	std::unique_ptr<Catalog> catalog_;
	int unflushed_fd_ = -1; // the file append_batch_unflushed() wrote
	std::string unflushed_path_;
	std::string catalog_error_;
	std::string intent_path_;
	unsigned intent_depth_ = 0; // write_intent()s of this object not ended
	std::string recovery_error_;
	std::uint64_t recovered_count_ = 0;
};

// RAII reentrant lock.
class JournalLock {
public:
	JournalLock(Journal &j, unsigned timeout_ms) : j_(j) { j_.lock(timeout_ms); }
	~JournalLock() { release(); }
	JournalLock(const JournalLock &) = delete;
	JournalLock &operator=(const JournalLock &) = delete;
	// Gives up this level of the lock before the end of the scope.
	void release()
	{
		if (held_) {
			held_ = false;
			j_.unlock();
		}
	}

private:
	Journal &j_;
	bool held_ = true;
};

// ---- the read side

// "seq", "time", "event", ..., "prev", NULL-terminated.
const char *const *journal_field_names();
std::size_t journal_field_count();

class JournalReader {
public:
	explicit JournalReader(const std::string &dir);
	// 1: values_r holds one string per field name; 0: end; -1: a line that
	// can't be parsed (error_r says where); the next call goes on.
	int next(std::vector<std::string> &values_r, std::string &error_r);

private:
	std::vector<JournalFile> files_;
	std::size_t file_idx_ = 0;
	std::unique_ptr<LineReader> reader_;
	std::uint64_t line_no_ = 0;
};

struct JournalStatus {
	std::uint64_t records = 0;
	std::uint64_t head_seq = 0;
	std::string head_sha256 = std::string(kZeroHash);
	std::vector<std::string> files;
};
JournalStatus journal_status(const std::string &dir);

} // namespace tresor
