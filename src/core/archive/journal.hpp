// The journal: the append-only record of what happened to the mails of
// one user, and the evidence verify and the auditor check (docs/archive.md).
//
// It lives in dir/journal/YYYY.jsonl, one file per UTC year, one JSON
// object per line (record.hpp). Each line carries the next seq and, as
// its last member "prev", the SHA-256 of the line before it, so that the
// lines form one hash chain across the files: changing, removing or
// inserting a line breaks every link after it, and a seal that signs one
// line's hash fixes everything up to it.
//
// Writing a batch appends its lines with one write() and makes them
// durable with one fdatasync(); a tail left unterminated by an
// interrupted write was never acknowledged and is cut off (or, in an
// append-only file, terminated) before the next append.
//
// The mail store commits before its records can be appended. An intent
// (dir/intent.jsonl, write_intent()) names the journal head and the
// records of the commit in progress; a process killed between the commit
// and the append leaves it behind, and whoever takes the lock next
// journals what it announced but the journal lacks as "interrupted"
// records (recover_intent()).
//
// One flock() on dir/journal/.lock orders all writers (several processes
// of one user); it is reentrant within a Journal. The catalog
// (catalog.hpp) is derived from the journal for duplicate look-up: it is
// updated after each append, may fail or be deleted without harm, and is
// rebuilt from the files - it reads the journal, never this writer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "archive/journal_files.hpp"
#include "archive/record.hpp"
#include "common/posix_io.hpp"

namespace tresor {

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
	// The descriptor lock() flocks: a caller that waited for the lock on
	// it (flock blocks there, bounded by the caller's own alarm) gets it
	// from lock() without polling.
	int lock_fd() const { return lock_fd_; }

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
	// is pending. Throws on failure. Called after unlock(), it first
	// writes the catalog, which unlock() leaves to it after an
	// unflushed append.
	void flush();

	// ---- a commit of the mail store in progress
	// Under the lock, before the mail store commits what these records
	// (saves without their UIDs, expunges) describe: reserves the
	// journal space their lines will need (fallocate, where the file
	// system has it) and adds them to intent_path(). Throws when either
	// fails - the commit must then not happen, as it could not be
	// journaled. end_intent() after the records were appended, or when
	// the commit failed; intents nest (a commit within a commit), and
	// the last end marks the file ended (in place: a file created and
	// removed per commit costs an inode allocation under the lock). An
	// intent left behind - by a process killed between the commit and
	// the append, or by an append that failed - is journaled by the
	// next lock() as "interrupted"
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
	// The journal's files (the newest one's tail repaired) and head.
	struct FilesAndHead {
		std::vector<JournalFile> files;
		JournalPos head;
	};
	// Read once per hold of the lock: nobody else writes while this
	// object holds it, and write_batch() keeps it up to date. (A commit
	// reads it for its intent and again for its append.)
	const FilesAndHead &files_and_head();
	bool intent_pending();
	void mark_intent_ended();
	// The intent file, opened once per hold of the lock and kept until
	// unlock(); outside a hold owned by scratch. -1 when it is missing
	// and create is false.
	int intent_fd(bool create, Fd &scratch);
	std::vector<std::uint64_t> write_batch(std::vector<Record> recs,
					       Clock::time_point now, bool flush_now);
	// per record: the batch index of the earlier save it duplicates by
	// sha256 [0] and content_sha256 [1], when that is in the same batch
	using BatchDuplicates = std::array<std::optional<std::size_t>, 2>;
	std::vector<BatchDuplicates> fill_duplicates(std::vector<Record> &recs,
						     const JournalPos &head);
	Catalog &catalog();
	// Writes what this hold of the lock appended into the catalog, before
	// the lock is released; a failure is remembered, never thrown.
	void write_catalog();

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
	bool intent_checked_ = false; // recover_intent() done in this hold
	Fd held_intent_;	      // intent_fd(); closed by unlock()
	std::string recovery_error_;
	std::uint64_t recovered_count_ = 0;
	std::optional<FilesAndHead> held_head_; // files_and_head(); reset by unlock()
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

} // namespace tresor
