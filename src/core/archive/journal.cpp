// The writer: the lock, appending batches (chained, durable, rolled back
// when the write fails), the tail repair, and the catalog kept up to date
// after each append. Intents are journal_intent.cpp.
#include "archive/journal.hpp"

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "archive/catalog.hpp"
#include "common/posix_io.hpp"

namespace tresor {

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
	if (lock_depth_ > 0)
		write_catalog();
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
		// A commit holds the lock for 1-3 ms and nothing wakes a
		// waiter: polled often, the next commit starts right after.
		// (Dovecot's processes wait in the kernel on lock_fd() first,
		// with Dovecot's alarm as the bound, and get here holding it.)
		pause = std::min(pause * 2, microseconds(50));
	}
}

void Journal::unlock()
{
	if (lock_depth_ == 0)
		return;
	if (--lock_depth_ == 0) {
		// After an unflushed append the catalog is written by flush(),
		// outside the lock, so that the next writer need not wait for
		// it; one that comes first catches it up from the journal
		// (Catalog::after_append()), and ours is then dropped.
		if (unflushed_fd_ < 0)
			write_catalog();
		// an intent not ended by now (the append failed) is left to
		// the next holder of the lock
		intent_depth_ = 0;
		intent_checked_ = false;
		held_intent_.reset(); // another holder may replace the file
		held_head_.reset(); // others may write once it is released
		::flock(lock_fd_, LOCK_UN);
	}
}

const Journal::FilesAndHead &Journal::files_and_head()
{
	if (held_head_ && lock_depth_ > 0)
		return *held_head_;
	FilesAndHead known;
	known.files = list_journal_files(dir_);
	if (!known.files.empty())
		repair_tail(known.files.back());
	known.head = read_journal_head(known.files);
	held_head_ = std::move(known);
	return *held_head_;
}

void Journal::repair_tail(const JournalFile &f)
{
	std::uint64_t keep;
	{
		Fd fd(open_retry(f.path, O_RDONLY | O_CLOEXEC));
		if (fd.get() < 0)
			throw_errno("open(" + f.path + ")");
		std::uint64_t size = file_size(fd.get(), f.path);
		keep = end_of_complete_lines(fd.get(), size, f.path);
		if (keep == size)
			return;
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
	// the first save of the batch with a mailbox GUID and hash (of the
	// mail, of its content): a batch can be adopt's window of thousands
	std::unordered_map<std::string, std::size_t> first_in_batch[2];
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
			if (!hash)
				continue;
			// (the GUID's length first: no two pairs give one key)
			std::string key = std::to_string(rec.mailbox_guid->size()) + ':' +
					  *rec.mailbox_guid + *hash;
			if (dup == 0) {
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
			}
			// an earlier save of this batch: its seq is known later
			auto [first, fresh] = first_in_batch[content].try_emplace(std::move(key), i);
			if (dup == 0 && !fresh)
				in_batch[i][content] = first->second;
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
	if (lock_depth_ == 0)
		write_catalog(); // left by unlock()
	if (unflushed_fd_ < 0)
		return;
	Fd fd(unflushed_fd_);
	unflushed_fd_ = -1;
	if (::fdatasync(fd.get()) < 0)
		throw_errno("fdatasync(" + unflushed_path_ + ")");
}

namespace {

bool has_extra(const Record &rec, std::string_view key)
{
	for (const auto &member : rec.extra)
		if (member.first == key)
			return true;
	return false;
}

// A batch's lines as written: each chained to the one before, the first
// to the head.
struct ChainedLines {
	std::vector<std::uint64_t> seqs;
	std::vector<json> objects;
	std::vector<std::string> hashes;
	std::vector<std::size_t> ends; // offset of each line's end in `data`
	std::string data;
};

// in_batch: Journal::fill_duplicates() - the duplicate seqs it could only
// give once the earlier records of the batch had theirs.
ChainedLines chain_lines(std::vector<Record> &recs,
			 const std::vector<std::array<std::optional<std::size_t>, 2>> &in_batch,
			 const JournalPos &head, Clock::time_point now)
{
	ChainedLines lines;
	std::string prev = head.hash;
	for (std::size_t i = 0; i < recs.size(); i++) {
		std::uint64_t seq = head.seq + 1 + i;
		if (recs[i].event == "invoice" && !has_extra(recs[i], "save_seq"))
			recs[i].extra.insert(recs[i].extra.begin(),
					     {"save_seq", lines.seqs.at(i - 1)});
		if (in_batch[i][0])
			recs[i].duplicate_of = lines.seqs[*in_batch[i][0]];
		if (in_batch[i][1])
			recs[i].content_duplicate_of = lines.seqs[*in_batch[i][1]];
		json j = record_json(recs[i], seq, now, prev);
		std::string line = dump_line(j);
		prev = sha256_hex(line);
		lines.data += line;
		lines.data += '\n';
		lines.seqs.push_back(seq);
		lines.objects.push_back(std::move(j));
		lines.hashes.push_back(prev);
		lines.ends.push_back(lines.data.size());
	}
	return lines;
}

} // namespace

std::vector<std::uint64_t> Journal::write_batch(std::vector<Record> recs,
						Clock::time_point now, bool flush_now)
{
	if (recs.empty())
		return {};
	for (std::size_t i = 0; i < recs.size(); i++) {
		const Record &rec = recs[i];
		if (rec.event.empty())
			throw std::invalid_argument("journal record without an event");
		// an invoice record describes the save right before it
		if (rec.event == "invoice" && !has_extra(rec, "save_seq") &&
		    (i == 0 || recs[i - 1].event != "save" ||
		     recs[i - 1].mailbox_guid != rec.mailbox_guid ||
		     recs[i - 1].uid != rec.uid))
			throw std::invalid_argument("an invoice record must follow the "
						    "save record of its mail");
	}
	JournalLock guard(*this, kAppendLockTimeoutMs);

	const FilesAndHead &known = files_and_head();
	const std::vector<JournalFile> &files = known.files;
	const JournalPos head = known.head;
	std::vector<BatchDuplicates> in_batch = fill_duplicates(recs, head);

	int year = utc_year(now);
	JournalFile target;
	bool want_new = files.empty() || year > files.back().year;
	if (want_new)
		target = journal_file_of_year(dir_, year);
	else
		target = files.back(); // even when the clock says an earlier year

	ChainedLines lines = chain_lines(recs, in_batch, head, now);
	const std::vector<std::uint64_t> &seqs = lines.seqs;
	const std::string &data = lines.data;

	bool created = false;
	Fd fd(open_journal_file(target.path, want_new, created));

	std::uint64_t orig_size = file_size(fd.get(), target.path);
	auto rollback = [&]() {
		held_head_.reset();
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
	if (created)
		held_head_->files.push_back(target);
	held_head_->head = JournalPos{target.name, orig_size + data.size(), seqs.back(),
				      lines.hashes.back()};
	// The catalog is derived: its failures are remembered, never
	// reported as a failed append.
	try {
		std::vector<JournalPos> afters;
		afters.reserve(recs.size());
		for (std::size_t i = 0; i < recs.size(); i++)
			afters.push_back(JournalPos{target.name, orig_size + lines.ends[i], seqs[i],
						    lines.hashes[i]});
		catalog().after_append(head, afters, lines.objects);
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

void Journal::write_catalog()
{
	if (!catalog_)
		return;
	try {
		catalog_->apply_pending();
	} catch (const std::exception &e) {
		// derived data: no failure; the next holder of the lock
		// catches it up
		catalog_error_ = e.what();
	}
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

} // namespace tresor
