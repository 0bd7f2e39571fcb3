// Verification: the chain of the journal, and the journal against the mail
// store (what the glue observes). See docs/archive.md.
#pragma once

#include <cstdint>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "archive/journal_files.hpp"
#include "archive/record.hpp"
#include "archive/retention.hpp"
#include "archive/seal.hpp"
#include "common/sha256.hpp"
#include "common/string_arena.hpp"

namespace tresor {

enum class ProblemKind {
	Chain = 0, Modified = 1, Missing = 2, Unjournaled = 3, Seal = 4,
	Purge = 5, // a purge record for a mail that was not purgeable then
	// an archived mail expunged, or its folder deleted or renamed: the
	// archive protection was off for that removal
	Bypass = 6,
	// one mailbox GUID for two folders, or a folder whose GUID changed
	Identity = 7,
};
const char *problem_kind_name(ProblemKind kind);

// Something out of the ordinary that verify explains rather than reports:
// no problem, the exit status stays 0.
struct Note {
	std::uint64_t seq = 0;
	std::string detail;
};

// What Verifier::observe() found a mail to be (tresor.h: enum
// tresor_observation).
enum class Observation {
	Journaled = 0,   // a record accounts for it, sha256 as journaled
	Modified = 1,    // a record accounts for it, sha256 differs
	Unjournaled = 2, // in a journaled folder, no record: adopt journals it
	Other = 3,       // no record, but none is wanted or would count
};

struct Problem {
	ProblemKind kind = ProblemKind::Chain;
	std::uint64_t seq = 0;
	std::string mailbox;
	std::string mailbox_guid;
	std::uint32_t uid = 0;
	std::string detail;
};

class Verifier {
public:
	// Reads and checks the whole journal under dir, seals and time-stamp
	// responses with the given keys (seal.hpp); throws only when it can't
	// be read at all, or SealSetupError for an unusable key or CA file.
	explicit Verifier(const std::string &dir, const SealCheckSettings &seals = {});

	// (Views: the glue calls these once per mail; nothing is copied
	// unless it has to be kept.)
	bool mailbox_expected(std::string_view mailbox_guid) const;
	void mailbox_seen(std::string_view mailbox_guid, std::string_view mailbox,
			  std::uint32_t uidvalidity);
	// guid: Dovecot's GUID of the mail, matched against save records
	// that have no UID (the backend assigned it after the commit).
	Observation observe(std::string_view mailbox_guid, std::string_view mailbox,
			    std::uint32_t uid, std::string_view guid,
			    std::string_view sha256, bool journaled);
	Observation observe(std::string_view mailbox_guid, std::string_view mailbox,
			    std::uint32_t uid, std::string_view sha256, bool journaled)
	{
		return observe(mailbox_guid, mailbox, uid, std::string_view(), sha256,
			       journaled);
	}
	// An incremental verify: a mail the journal expects, saved before
	// since_seq, is accounted for by its UID (or GUID) alone, without its
	// content being read again; returns false - read and observe() it -
	// for every other mail (newer, unknown, interrupted, purge pending).
	bool observe_unread(std::string_view mailbox_guid, std::string_view mailbox,
			    std::uint32_t uid, std::string_view guid, std::uint64_t since_seq);
	// The seq of the newest seal record; 0 when there is none.
	std::uint64_t last_seal_seq() const { return last_seal_seq_; }
	// Mails accounted for by observe_unread().
	std::uint64_t unread_count() const { return unread_; }
	void finish(bool only_seen_mailboxes);

	// Sorted by kind, then seq.
	const std::vector<Problem> &problems() const;
	// The journal itself is damaged or shorter than it was (a CHAIN
	// problem, known once it was read): records appended now would cover
	// that, so doveadm tresor adopt refuses.
	bool chain_broken() const;
	// Sorted by seq; complete after finish().
	const std::vector<Note> &notes() const { return notes_; }
	std::uint64_t checked_count() const { return checked_; }
	// Lines read and the seq of the last one.
	std::uint64_t lines() const { return lines_; }
	std::uint64_t head_seq() const { return head_seq_; }
	std::size_t expected_count() const;
	// Mails still in the store although a purge record ended them (the
	// expunge after the record was interrupted): not a problem, the next
	// purge finishes them. Counted by observe().
	std::uint64_t purge_pending_count() const { return purge_pending_; }
	// Whether observe() lists an UNJOURNALED mail as a problem (by
	// default it does); adopt journals them instead, and with false
	// nothing is kept per such mail.
	void list_unjournaled(bool list) { list_unjournaled_ = list; }
	// Changes whenever the problem list changes.
	std::uint64_t generation() const { return generation_; }

private:
	// How a save record gave the mail's sha256.
	enum class HashForm : unsigned char {
		None,   // not at all: nothing to compare
		Digest, // 64 lowercase hex digits (as the plugin writes them)
		Text,   // anything else, kept as written (odd_sha256_)
	};
	// One per save record still to be accounted for: kept small (its
	// strings in text_), as a user's journal can hold hundreds of
	// thousands of them.
	struct Expected {
		std::uint64_t seq = 0;
		// seq of an "interrupted" expunge of it: it may be gone
		std::uint64_t maybe_expunged_by = 0;
		Clock::time_point saved{}; // of the save record: checks its purge
		Sha256::Digest sha256{};   // HashForm::Digest
		std::string_view mailbox;
		std::string_view guid;       // only kept for those saved without a UID
		std::string_view message_id; // matched against holds at its purge
		std::uint32_t uidvalidity = 0;
		std::uint32_t uid = 0; // 0: saved without one
		std::uint32_t observed_uid = 0;
		HashForm sha256_form = HashForm::None;
		bool saved_known : 1 = false; // `saved` read from the record's time
		bool archive : 1 = false;     // saved into an archive folder
		bool observed : 1 = false;
		bool removed : 1 = false;
		bool purged : 1 = false; // removed by a purge record
		// an "interrupted" save: it may never have reached the store
		bool interrupted : 1 = false;
	};
	// The mails a mailbox must still hold, found as SaveLocator
	// (retention.hpp) finds them.
	struct MailboxExpectation {
		// a deque: growing it moves nothing (no second copy at its peak)
		std::deque<Expected> mails;
		SaveLocator locator;
		// purged mails by the purge record's UID and GUID: one still
		// present is a pending purge, not UNJOURNALED
		std::map<std::uint32_t, std::size_t> purged_by_uid;
		std::map<std::string, std::size_t, std::less<>> purged_by_guid;
		std::size_t live = 0;

		// A mail still expected and not yet observed: by UID or GUID.
		std::optional<std::size_t> find_index(std::uint32_t uid, std::string_view guid) const;
		Expected *find(std::uint32_t uid, std::string_view guid);
		// An interrupted save by its hash.
		Expected *find_interrupted(std::string_view sha256);
		Expected *find_purged(std::uint32_t uid, std::string_view guid);
		void remove(Expected &e);
	};
	struct Seen {
		std::string mailbox;
		std::uint32_t uidvalidity = 0;
	};
	// The folder the journal gives a mailbox GUID: its name (following
	// renames) and the record that named it.
	struct FolderName {
		std::string name;
		std::uint64_t seq = 0;
	};

	// Reads the journal, checking the chain and applying each record;
	// returns the hash of the line with seq cat->seq.
	std::optional<std::string> walk_chain(const std::string &dir, SealChecker &seals,
					      const std::optional<JournalPos> &cat);
	void check_clock(std::uint64_t seq, const std::string &time, std::string &prev_time);
	// The catalog remembers how far the journal went (its position cat).
	void check_catalog_position(const JournalPos &cat,
				    const std::optional<std::string> &hash_at_cat_seq);
	void apply(const RecordFields &rec, std::uint64_t seq, std::string_view line);
	// A save or adopt record: the mail it names is expected from now on.
	void apply_save(const RecordFields &rec, std::uint64_t seq);
	void apply_purge(const RecordFields &rec, std::uint64_t seq, std::string_view line);
	void apply_interrupted(const RecordFields &rec, std::uint64_t seq, std::string_view line);
	bool same_folder(const RecordFields &rec, std::uint64_t seq);
	void bypassed(const MailboxExpectation &box, std::string_view mailbox_guid,
		      const RecordFields &rec, std::uint64_t seq, std::string what);
	void identity(std::uint64_t seq, std::string_view mailbox,
		      std::string_view mailbox_guid, std::string detail);
	void add(Problem p);
	void note(std::uint64_t seq, std::string detail);
	// A new expectation from a save (or interrupted save) record.
	Expected expect(const RecordFields &rec, std::uint64_t seq);
	// The sha256 its record gave, as written ("" for none).
	std::string journaled_sha256(const Expected &e) const;
	// Whether a mail with this sha256 (hex) is the one its record saved:
	// also when the record gave none.
	bool same_sha256(const Expected &e, std::string_view sha256) const;

	// std::less<>: looked up by string_view without a copy
	std::map<std::string, MailboxExpectation, std::less<>> expected_;
	std::map<std::string, Seen, std::less<>> seen_;
	std::map<std::string, FolderName, std::less<>> names_;
	// the strings of the expectations: folder names (interned), GUIDs,
	// Message-IDs
	StringArena text_;
	// sha256 values journaled as other text than HashForm::Digest, by seq
	std::map<std::uint64_t, std::string> odd_sha256_;
	// (mailbox GUID, folder) pairs already reported as IDENTITY
	std::set<std::pair<std::string, std::string>> identity_reported_;
	std::set<std::pair<std::string, std::uint32_t>> unexpected_;
	mutable std::vector<Problem> problems_;
	std::vector<Note> notes_;
	mutable bool sorted_ = true;
	std::uint64_t checked_ = 0;
	std::uint64_t unread_ = 0;
	std::uint64_t last_seal_seq_ = 0;
	std::uint64_t lines_ = 0;
	std::uint64_t head_seq_ = 0;
	std::uint64_t generation_ = 0;
	HoldSet holds_; // in force at the record being applied
	std::uint64_t purge_pending_ = 0;
	bool finished_ = false;
	bool list_unjournaled_ = true;
};

// Reads a journal into a Verifier on a thread of its own, so that the
// caller can read the mailboxes meanwhile (verify's two halves then take
// the time of the longer one, not of both). The thread touches nothing
// but the journal's files and runs with every signal blocked: the caller's
// handlers stay the caller's.
class BackgroundVerifier {
public:
	BackgroundVerifier(std::string dir, SealCheckSettings seals);
	~BackgroundVerifier();
	BackgroundVerifier(const BackgroundVerifier &) = delete;
	BackgroundVerifier &operator=(const BackgroundVerifier &) = delete;

	// true once get() would not wait
	bool ready() const;
	// Waits for the reading: the Verifier, or what its constructor threw.
	// Once only.
	std::unique_ptr<Verifier> get();

private:
	std::future<std::unique_ptr<Verifier>> result_;
};

} // namespace tresor
