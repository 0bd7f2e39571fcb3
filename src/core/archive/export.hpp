// Evidence export: the mails saved in a date range, as the bytes their
// journaled sha256 covers, with the journal, the seals, the time-stamp
// responses, the public keys, a manifest and VERIFY.txt, which tells an
// auditor how to check all of it with sha256sum and openssl alone.
// docs/archive.md section 8 ("Evidence export") describes the directory.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "archive/config.hpp"
#include "archive/hasher.hpp"
#include "archive/journal_files.hpp"
#include "archive/record.hpp"
#include "archive/retention.hpp"
#include "common/posix_io.hpp"

namespace tresor {

// A calendar date written YYYY-MM-DD that exists (2026-02-29 does not).
bool valid_date(std::string_view d);

struct ExportOptions {
	std::string tresor_dir; // the user's journal (tresor_dir, expanded)
	std::string user;
	std::string from, to;   // YYYY-MM-DD, UTC days, both included
	// created (0700); must not exist or be an empty directory, and not
	// a symbolic link. Run by root with only the effective uid the mail
	// user's, the export creates it, and every file in it, as root.
	std::string out_dir;
	Config config;          // secret headers, seal_pubkey, tsa_ca
	// --mailbox: only the mails saved into a mailbox these patterns
	// match (as tresor_archive's: '/' for sep), by the name in their
	// record; none = every mailbox. The journal is exported whole.
	std::vector<std::string> mailbox_patterns;
	char separator = '/';
};

struct ExportMail {
	// of the save or adopt record, or of the interrupted save record
	// (docs/archive.md 3.4) of a mail whose save was interrupted
	std::uint64_t seq = 0;
	std::string event;        // save, adopt or interrupted
	std::string time;
	std::string internaldate; // of an adopted mail
	std::string mailbox;
	std::string mailbox_guid;
	std::uint32_t uidvalidity = 0;
	// 0: saved without one; found by locate() (the UID it was found
	// under afterwards)
	std::uint32_t uid = 0;
	std::string guid;
	std::string sha256;     // as journaled
	std::uint64_t size = 0;
	bool interrupted = false; // an interrupted save: it may not be stored
	std::uint64_t maybe_expunged_by = 0; // seq of an interrupted expunge
	// "" while to be exported; then exported, modified, missing,
	// unreadable, expunged/purged/deleted (removed by a journaled
	// record), or not-stored (an interrupted save that did not reach
	// the store)
	std::string status;
	std::string note;
	std::string file;       // relative path of the .eml, if written
};

class EvidenceExport {
public:
	// Reads the journal (under its lock, so the snapshot is consistent)
	// and creates out_dir. Throws std::invalid_argument for bad dates,
	// std::runtime_error when out_dir can't be made or isn't empty.
	explicit EvidenceExport(ExportOptions opts);
	~EvidenceExport();

	std::vector<ExportMail> &mails() { return mails_; }

	// The mails of the period: saved in it (their record's time), or
	// adopted with an INTERNALDATE in it (adopted later, they are the
	// period's mails all the same).
	// The mail to export that the stored mail (UID, GUID, and its sha256
	// where computed) is, among those saved without a UID: found as
	// verify finds it (SaveLocator, retention.hpp) - an interrupted save
	// by its GUID or else its sha256. Each stored mail and each save is
	// found once; nullopt for a mail found before, or not one of those.
	std::optional<std::size_t> locate(std::string_view mailbox_guid, std::uint32_t uid,
					  std::string_view guid, std::string_view sha256 = {});
	// Whether the mailbox has interrupted saves to export not found yet:
	// its mails are then worth hashing for locate().
	bool wants_hashes(std::string_view mailbox_guid) const;

	// Writes mails()[index] as mails/<seq>.eml from the stored bytes
	// (fed in any chunks).
	void begin_mail(std::size_t index);
	void write(const void *data, std::size_t size);
	// true when the written bytes have the journaled sha256 (status
	// "exported"), false otherwise ("modified"; the file stays, so the
	// auditor sees the difference).
	bool end_mail();
	// The mail couldn't be found or read: status and a sentence. A mail
	// of an interrupted save not found ("missing") is "not-stored"; one
	// an interrupted expunge may have removed is "expunged".
	void mark(std::size_t index, std::string status, std::string note);

	// Writes the journal files, seals, time stamps, keys, mails.csv,
	// VERIFY.txt and MANIFEST.sha256. Returns warnings (a sentence each):
	// mails not covered by a later seal, missing or modified mails, no
	// public key, ...
	std::vector<std::string> finish();

private:
	struct JournalCopy {
		JournalFile file;
		std::uint64_t bytes = 0; // the snapshot's length
	};
	struct SealCopy {
		std::uint64_t seq = 0;
		std::string signed_text;
		std::string signature;
		std::string key_id;
	};
	struct TsrCopy {
		std::uint64_t seq = 0;
		std::uint64_t seal_seq = 0;
		std::string der;
	};

	// Every save and interrupted save of the journal (not only those of
	// the period), so that a stored mail is found for the right one.
	struct Save {
		std::uint64_t seq = 0;
		std::size_t mail = kNoMail; // index into mails_
		bool by_uid = false;        // journaled with its UID
		bool interrupted = false;
		bool removed = false;       // expunged, purged (or replaced)
	};
	static constexpr std::size_t kNoMail = static_cast<std::size_t>(-1);
	struct Box {
		std::vector<Save> saves;
		SaveLocator locator;
	};

	void read_journal();
	void add_save(const json &rec, std::uint64_t seq, bool interrupted, bool in_period);
	Save *find_in_force(const json &rec);
	// what expunge, purge, interrupted expunge and mailbox delete
	// records do to the mails read so far
	void apply_removal(const json &rec, const std::string &event, std::uint64_t seq);
	void apply_interrupted_expunge(const json &rec, std::uint64_t seq);
	void apply_mailbox_delete(const json &rec, std::uint64_t seq);
	void settle(ExportMail &m);
	std::string verify_text(const std::vector<std::string> &key_ids) const;
	void write_out(const std::string &rel, std::string_view data);

	ExportOptions opts_;
	std::vector<ExportMail> mails_;
	std::map<std::string, Box, std::less<>> boxes_; // by mailbox GUID
	std::vector<JournalCopy> journal_;
	std::vector<SealCopy> seals_;
	std::vector<TsrCopy> tsrs_;
	std::vector<std::string> files_; // written, relative, for the manifest
	std::map<std::string, std::string> manifest_hashes_;
	std::uint64_t last_seal_head_ = 0;
	std::uint64_t first_exported_seq_ = 0, last_exported_seq_ = 0;

	Hasher hasher_;
	std::size_t current_ = 0;
	int fd_ = -1;
	Fd out_fd_; // out_dir: every file is made relative to it
	// in out_dir (0700, 0600), as CreateAsRoot says (export.cpp)
	void make_dir_at(const std::string &rel);
	int create_at(const std::string &rel);
	void write_file_at(const std::string &rel, std::string_view data);
	std::string invoice_register(const std::vector<std::string> &journal_texts) const;
	// in a mailbox --mailbox chose (every mailbox without it)
	bool chosen_mailbox(std::string_view mailbox) const;
	std::string write_error_;
};

} // namespace tresor
