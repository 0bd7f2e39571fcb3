// Intents: Journal::write_intent() before the mail store commits,
// end_intent() after the append, recover_intent() for one left behind.
#include "archive/journal.hpp"

#include <cerrno>
#include <map>

#include <fcntl.h>
#include <unistd.h>

#include "common/posix_io.hpp"

namespace tresor {

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
	// a left-over intent must be journaled before it is replaced (done
	// once per hold of the lock: lock() tried it)
	if (intent_depth_ == 0)
		recover_intent();

	Clock::time_point now = Clock::now();
	const std::vector<JournalFile> files = files_and_head().files;
	const JournalPos head = files_and_head().head;

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
		target = journal_file_of_year(dir_, year);
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
		if (created) {
			fsync_dir(journal_dir_); // chained to before it is flushed
			held_head_.reset(); // one more file: listed again
		}
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
	// A new intent overwrites the last one in place. Neither created and
	// removed (an inode allocation under the lock) nor cut to nothing
	// (ext4 then writes the file out when it is closed, as it does for
	// a file replaced by truncating it): a shorter intent is padded with
	// line ends, which recovery skips. The last one is overwritten whole
	// by the first page of the write, which a killed process can't leave
	// half done; a larger one (adopt's windows) is cut first, so that no
	// line of it can be read with a new one cut short.
	Fd scratch;
	int ifd = intent_fd(true, scratch);
	std::uint64_t old_size = file_size(ifd, intent_path_);
	try {
		constexpr std::uint64_t kPage = 4096;
		if (intent_depth_ == 0 && old_size > kPage) {
			if (::ftruncate(ifd, 0) < 0)
				throw_errno("ftruncate(" + intent_path_ + ")");
		} else if (intent_depth_ == 0 && old_size > data.size()) {
			data.append(old_size - data.size(), '\n');
		}
		// a new intent from the start, a nested one's lines after
		// the last
		off_t at = intent_depth_ == 0 ? 0 : static_cast<off_t>(old_size);
		if (::lseek(ifd, at, SEEK_SET) < 0)
			throw_errno("lseek(" + intent_path_ + ")");
		write_all(ifd, data, intent_path_);
	} catch (...) {
		// nothing of this commit: a new intent goes, a nested one's
		// part is cut off again (should that fail too, its lines
		// announce what was never committed: recovered as
		// interrupted, found not stored - true)
		if (intent_depth_ == 0) {
			if (::ftruncate(ifd, 0) < 0) {
				held_intent_.reset();
				::unlink(intent_path_.c_str());
			}
		} else {
			(void)::ftruncate(ifd, static_cast<off_t>(old_size));
		}
		throw;
	}
	intent_depth_++;
}

void Journal::end_intent()
{
	if (intent_depth_ == 0 || --intent_depth_ > 0)
		return;
	// Should it stay (it can't be marked), its recovery finds the
	// records journaled and adds none.
	try {
		mark_intent_ended();
	} catch (...) {
		intent_checked_ = false; // the next write_intent() recovers it
		throw;
	}
}

int Journal::intent_fd(bool create, Fd &scratch)
{
	if (held_intent_ && lock_depth_ > 0)
		return held_intent_.get();
	Fd fd(open_retry(intent_path_, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600));
	if (!fd) {
		if (errno == ENOENT && !create)
			return -1;
		throw_errno("open(" + intent_path_ + ")");
	}
	Fd &keep = lock_depth_ > 0 ? held_intent_ : scratch;
	keep.reset(fd.release());
	return keep.get();
}

// An intent is pending while its file begins with its header's "{"; the
// end overwrites that byte (one byte in place: see write_intent()). An
// empty or missing file announces nothing either.
constexpr char kEndedIntentMark = '#';

bool Journal::intent_pending()
{
	Fd scratch;
	int fd = intent_fd(false, scratch);
	if (fd < 0)
		return false;
	char first;
	ssize_t n;
	do
		n = ::pread(fd, &first, 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		throw_errno("read(" + intent_path_ + ")");
	return n == 1 && first != kEndedIntentMark;
}

void Journal::mark_intent_ended()
{
	Fd scratch;
	int fd = intent_fd(false, scratch);
	if (fd < 0)
		return;
	ssize_t n;
	do
		n = ::pwrite(fd, &kEndedIntentMark, 1, 0);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		throw_errno("write(" + intent_path_ + ")", n < 0 ? errno : ENOSPC);
}

namespace {

// An intent left behind: its header line (where the journal stood), and
// the records it announced.
struct LeftIntent {
	std::optional<json> header;
	std::vector<json> announced;
};

LeftIntent read_left_intent(const std::string &path)
{
	LeftIntent intent;
	LineReader r(path);
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
				intent.header = std::move(j);
				continue;
			}
		}
		if (j && !intent_keys(json_string(*j, "event"), *j, true).empty())
			intent.announced.push_back(std::move(*j));
	}
	return intent;
}

// The intent keys of what was journaled after the head the intent header
// names (the whole journal when that line is no longer where it was),
// with how many records journaled each.
std::map<std::string, unsigned> journaled_after(const std::string &dir,
						const std::optional<json> &header)
{
	std::map<std::string, unsigned> journaled;
	std::vector<JournalFile> files = list_journal_files(dir);
	std::size_t start = 0;
	std::uint64_t start_off = 0, after_seq = 0;
	if (header) {
		JournalPos pos;
		pos.file = json_string(*header, "file");
		pos.offset = json_uint(*header, "offset");
		pos.hash = json_string(*header, "hash");
		after_seq = json_uint(*header, "seq");
		if (std::optional<std::size_t> k = journal_resume_point(files, pos)) {
			start = *k;
			start_off = pos.offset;
		}
	}
	for_each_journal_line(files, start, start_off,
			      [&](const JournalFile &, const std::string &line, std::uint64_t) {
		auto j = parse_line(line);
		if (!j || record_seq(*j).value_or(0) <= after_seq)
			return;
		std::string event = json_string(*j, "event");
		if (event == "interrupted")
			event = json_string(*j, "action");
		for (const std::string &key : intent_keys(event, *j, false))
			journaled[key]++;
	});
	return journaled;
}

// The "interrupted" record of an announced save or expunge that the
// journal lacks.
Record interrupted_record(const json &j, const std::string &event)
{
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
	return rec;
}

} // namespace

std::size_t Journal::recover_intent()
{
	JournalLock guard(*this, kAppendLockTimeoutMs);
	if (intent_depth_ > 0)
		return 0; // ours, still in progress
	if (intent_checked_)
		return 0; // checked in this hold, and ended since if ours
	if (!intent_pending()) {
		intent_checked_ = true;
		return 0;
	}

	LeftIntent intent = read_left_intent(intent_path_);
	std::map<std::string, unsigned> journaled;
	if (!intent.announced.empty())
		journaled = journaled_after(dir_, intent.header);
	std::vector<Record> recs;
	for (const json &j : intent.announced) {
		std::string event = json_string(j, "event");
		// (one key: the GUID, else the sha256, else the UID)
		std::string key = intent_keys(event, j, true).front();
		auto it = journaled.find(key);
		if (it != journaled.end() && it->second > 0) {
			it->second--; // each journal record accounts for one
			continue;
		}
		recs.push_back(interrupted_record(j, event));
	}
	std::size_t n = recs.size();
	if (!recs.empty())
		write_batch(std::move(recs), Clock::now(), true);
	mark_intent_ended();
	intent_checked_ = true;
	return n;
}

} // namespace tresor
