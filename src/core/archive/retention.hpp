// Retention and legal holds: when a mail in an archive folder may be
// purged (tresor_retention, counted from the end of the calendar year of
// its save, §147 Abs. 4 AO), and which holds keep it. See docs/archive.md
// section "Retention, holds and purge".
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "archive/record.hpp"
#include "archive/retention_rule.hpp"
#include "common/utc_time.hpp" // format_utc_seconds

namespace tresor {

// 00:00:00 UTC on 1 January of the year after `saved`'s UTC year, plus
// the period: the first moment the mail may be purged.
Clock::time_point retention_end(Clock::time_point saved, const RetentionPeriod &period);

// "2026-11-23T09:05:00.123456Z" (journal times), "2026-11-23T09:05:00Z"
// or "2026-11-23" (midnight UTC); nullopt for anything else.
std::optional<Clock::time_point> parse_utc_time(std::string_view text);

// Message-IDs compare without surrounding white space and angle brackets.
std::string_view normalize_message_id(std::string_view id);

// ---- legal holds

// A hold record: it keeps every mail it matches from being purged until
// an unhold record names its seq. Selectors that are set must all match;
// none set holds the whole user.
struct Hold {
	std::uint64_t seq = 0;
	std::string time;
	std::string mailbox;      // for display; matched by mailbox_guid
	std::string mailbox_guid;
	std::uint32_t uid = 0;    // only with mailbox_guid
	std::string message_id;
	std::string reason;

	bool whole_user() const
	{
		return mailbox_guid.empty() && uid == 0 && message_id.empty();
	}
	// "the whole user", "mailbox Rechnungen", "UID 4 in Rechnungen", ...
	std::string scope() const;
};

// What a hold is matched against.
struct HeldMailRef {
	std::string_view mailbox_guid;
	std::uint32_t uid = 0;
	std::string_view message_id;
};

bool hold_matches(const Hold &hold, const HeldMailRef &mail);
// The hold of a parsed hold record.
Hold hold_from_record(const json &rec, std::uint64_t seq);

// The holds in force, from replaying hold and unhold records in order.
class HoldSet {
public:
	void add(Hold hold);
	// false when no hold with this seq is in force
	bool remove(std::uint64_t hold_seq);
	const Hold *find(std::uint64_t hold_seq) const;
	// The oldest hold in force that matches, or nullptr.
	const Hold *first_match(const HeldMailRef &mail) const;
	const std::vector<Hold> &active() const { return holds_; }

private:
	std::vector<Hold> holds_; // by seq
};

// ---- finding a save record's mail in the store (verify, export, purge)

// Which journaled save a mail of one mailbox belongs to, as verify, export
// and purge all find it: a save by its UID; a save journaled without one
// (the backend assigned it after the commit) by the mail's GUID; an
// `interrupted` save (docs/archive.md 3.4) by the GUID it was given or -
// as that is lost when the process died before the GUID reached
// dovecot-uidlist, and unknown when the backend gives it at the commit -
// by its sha256. It holds indexes into the caller's list of saves; the
// caller says which of them can no longer be found (removed, or already
// found for another mail).
class SaveLocator {
public:
	// A save with a UID; returns the save of that UID it replaces (the
	// UID saved again), if any.
	std::optional<std::size_t> add_uid(std::uint32_t uid, std::size_t save);
	// A save without a UID, or an interrupted save with a GUID.
	void add_guid(std::string_view guid, std::size_t save);
	// An interrupted save, also by its hash.
	void add_sha256(std::string_view sha256, std::size_t save);
	void forget_uid(std::uint32_t uid);

	// The save of the stored mail with this UID and GUID: by UID, else
	// the first by GUID that `gone(index)` does not rule out.
	template <class Gone>
	std::optional<std::size_t> find(std::uint32_t uid, std::string_view guid,
					Gone gone) const
	{
		if (uid != 0) {
			if (auto save = by_uid_.get(uid))
				return save;
		}
		return first(by_guid_, guid, gone);
	}
	// The first interrupted save with this sha256 that `gone` does not
	// rule out: for a mail find() did not place.
	template <class Gone>
	std::optional<std::size_t> find_interrupted(std::string_view sha256, Gone gone) const
	{
		return first(by_sha256_, sha256, gone);
	}
	// Whether find_interrupted() can find anything at all (is a mail's
	// sha256 worth computing).
	bool has_interrupted() const { return !by_sha256_.empty(); }

	struct Placement {
		std::size_t save;
		bool again; // this UID was placed before
	};
	// The save of the stored mail with this UID, GUID and (for an
	// interrupted save without GUID) sha256: find(), else
	// find_interrupted(), never one `removed(index)` rules out nor one
	// placed for another UID, so a second copy of an interrupted save's
	// bytes is not taken for it. Remembers the placement of a UID (not 0).
	template <class Removed>
	std::optional<Placement> place(std::uint32_t uid, std::string_view guid,
				       std::string_view sha256, Removed removed)
	{
		if (uid != 0) {
			auto p = placed_by_uid_.find(uid);
			if (p != placed_by_uid_.end())
				return Placement{p->second, true};
		}
		auto gone = [&](std::size_t i) {
			if (removed(i))
				return true;
			auto u = uid_of_placed_.find(i);
			return u != uid_of_placed_.end() && u->second != uid;
		};
		auto idx = find(uid, guid, gone);
		if (!idx)
			idx = find_interrupted(sha256, gone);
		if (!idx)
			return std::nullopt;
		if (uid != 0) {
			placed_by_uid_[uid] = *idx;
			uid_of_placed_[*idx] = uid;
		}
		return Placement{*idx, false};
	}
	// Whether place() gave this save to a stored mail.
	bool placed(std::size_t save) const { return uid_of_placed_.count(save) > 0; }

private:
	using Index = std::map<std::string, std::vector<std::size_t>, std::less<>>;
	template <class Gone>
	static std::optional<std::size_t> first(const Index &index, std::string_view key,
						Gone gone)
	{
		if (key.empty())
			return std::nullopt;
		auto it = index.find(key);
		if (it != index.end()) {
			for (std::size_t i : it->second) {
				if (!gone(i))
					return i;
			}
		}
		return std::nullopt;
	}

	// Save indexes by UID, as compact as a journal of hundreds of
	// thousands of saves needs: a mailbox hands out UIDs in ascending
	// order, so nearly all are appended to a sorted array (8 bytes
	// each, not a tree node's 64); the few others go into a map.
	class UidIndex {
	public:
		// Sets the save of uid; returns the one it replaces.
		std::optional<std::size_t> set(std::uint32_t uid, std::size_t save);
		std::optional<std::size_t> get(std::uint32_t uid) const;
		void erase(std::uint32_t uid);

	private:
		static constexpr std::uint32_t kErased = UINT32_MAX;
		struct Entry {
			std::uint32_t uid;
			std::uint32_t save; // kErased: none any more
		};
		Entry *find_ascending(std::uint32_t uid);
		const Entry *find_ascending(std::uint32_t uid) const;
		std::vector<Entry> ascending_;
		std::map<std::uint32_t, std::size_t> others_;
	};

	UidIndex by_uid_;
	Index by_guid_, by_sha256_;
	std::map<std::uint32_t, std::size_t> placed_by_uid_;
	std::map<std::size_t, std::uint32_t> uid_of_placed_;
};

// ---- the journal as purge sees it

// A save record whose mail has not been expunged or deleted since (or an
// interrupted save, which may never have reached the store).
struct JournaledSave {
	std::uint64_t seq = 0;
	std::string time;
	std::optional<Clock::time_point> saved; // nullopt: time unreadable
	std::string mailbox;
	std::uint32_t uidvalidity = 0;
	std::uint32_t uid = 0; // 0: journaled without one
	std::string guid;
	std::string sha256;
	std::string message_id;
	std::uint64_t size = 0;
	// seq of a purge record for it: the purge is pending as long as the
	// mail is still in the store
	std::uint64_t purge_seq = 0;
	bool interrupted = false; // an "interrupted" save record
	bool removed = false;     // expunged (or its mailbox deleted)
};

// Replays the whole journal under dir: live saves (also those with a
// pending purge) and the holds in force. Lines that can't be parsed are
// skipped (verify reports them).
class RetentionJournal {
public:
	explicit RetentionJournal(const std::string &dir);

	// The save of the stored mail (UID, GUID and, where given, its
	// sha256) as SaveLocator finds it; each save is found for one mail
	// only (the first asking), so a second copy of an interrupted save's
	// bytes is not taken for it. Asking again for the same UID gives the
	// same save. nullptr: unjournaled.
	const JournaledSave *locate(std::string_view mailbox_guid, std::uint32_t uid,
				    std::string_view guid, std::string_view sha256 = {});
	// Whether this mailbox has interrupted saves not yet located: its
	// unjournaled mails are then worth hashing for locate().
	bool has_unlocated_interrupted(std::string_view mailbox_guid) const;
	const HoldSet &holds() const { return holds_; }
	std::uint64_t head_seq() const { return head_seq_; }

private:
	struct Box {
		std::vector<JournaledSave> mails;
		SaveLocator locator;
	};
	void apply(const RecordFields &rec, std::uint64_t seq, std::string_view line);
	// A save still in force, by UID or GUID (replaying the journal).
	JournaledSave *find_in_force(std::string_view mailbox_guid, std::uint32_t uid,
				     std::string_view guid);
	void add_save(const RecordFields &rec, std::uint64_t seq, bool interrupted);

	std::map<std::string, Box, std::less<>> boxes_;
	HoldSet holds_;
	std::uint64_t head_seq_ = 0;
};

enum class PurgeStatus {
	Expired,     // retention ended, no hold: to be purged
	Pending,     // a purge record exists, the mail is still there
	Retained,    // retention not ended yet
	Held,        // retention ended (or purge pending), but a hold stands
	Unjournaled, // no save record (or no readable time): never purged
};
const char *purge_status_name(PurgeStatus status);

struct PurgeDecision {
	PurgeStatus status = PurgeStatus::Unjournaled;
	const JournaledSave *save = nullptr;
	std::optional<Clock::time_point> end; // when retention ends / ended
	const Hold *hold = nullptr;
};

// What purge does with one mail of a folder under `rule` at time `now`.
// sha256: the mail's, where computed (it finds an interrupted save whose
// GUID is not the mail's; RetentionJournal::locate()).
PurgeDecision decide_purge(RetentionJournal &journal, const RetentionRule &rule,
			   std::string_view mailbox_guid, std::uint32_t uid,
			   std::string_view guid, Clock::time_point now,
			   std::string_view sha256 = {});

// The purge record for a mail decided Expired.
Record purge_record(const JournaledSave &save, const RetentionRule &rule,
		    Clock::time_point end, std::string_view mailbox,
		    std::string_view mailbox_guid, std::uint32_t uidvalidity,
		    std::uint32_t uid, std::string_view guid);

// ---- verify's view of purges

// Why a purge record is not a proper purge of the save it ends, or "" when
// it is: its retention must have ended at the purge record's time, under
// the rule it names, and no hold may have matched the mail then. saved:
// the time of the save record, nullopt where it can't be read.
std::string purge_record_problem(const json &purge, std::uint64_t save_seq,
				 std::optional<Clock::time_point> saved,
				 std::string_view save_message_id, const HoldSet &holds);

} // namespace tresor
