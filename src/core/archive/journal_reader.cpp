#include "archive/journal_reader.hpp"

#include <algorithm>
#include <cerrno>

#include <fcntl.h>
#include <unistd.h>

#include "archive/record.hpp"
#include "common/posix_io.hpp"

namespace tresor {

namespace {

const char *const field_names[] = {
	"seq",          "time",           "event",
	"mailbox",      "mailbox_guid",   "uidvalidity",
	"uid",          "guid",           "size",
	"sha256",       "imap_sha256",    "content_sha256", "message_id",
	"internaldate",
	"duplicate_of", "content_duplicate_of", "archive", "action",
	"new_mailbox",  "service",        "session",
	"reason",
	// the fields only some events have (record.extra, written before
	// prev): purge (retention.cpp), unhold, seal and tsr (seal.cpp),
	// invoice (its JSON object, invoices.hpp)
	"save_seq",     "retention_rule", "retention_end",  "hold_seq",
	"user",         "head_seq",       "head_hash",      "key_id",
	"sig",          "tsq_nonce",      "seal_seq",       "gen_time",
	"tsr",          "invoice",
	"prev",         nullptr,
};

} // namespace

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
	std::string buf(kJournalReadChunk, '\0');
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
