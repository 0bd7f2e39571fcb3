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

#include "journal.hpp"
#include "retention_rule.hpp"

namespace tresor {

// 00:00:00 UTC on 1 January of the year after `saved`'s UTC year, plus
// the period: the first moment the mail may be purged.
Clock::time_point retention_end(Clock::time_point saved, const RetentionPeriod &period);

// "2026-11-23T09:05:00.123456Z" (journal times), "2026-11-23T09:05:00Z"
// or "2026-11-23" (midnight UTC); nullopt for anything else.
std::optional<Clock::time_point> parse_utc_time(std::string_view text);
// "2027-01-01T00:00:00Z"
std::string format_utc_seconds(Clock::time_point t);

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

// ---- the journal as purge sees it

// A save record whose mail has not been expunged or deleted since.
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
};

// Replays the whole journal under dir: live saves (also those with a
// pending purge) and the holds in force. Lines that can't be parsed are
// skipped (verify reports them).
class RetentionJournal {
public:
	explicit RetentionJournal(const std::string &dir);

	// By UID, or by GUID for a save journaled without one.
	const JournaledSave *find(std::string_view mailbox_guid, std::uint32_t uid,
				  std::string_view guid) const;
	const HoldSet &holds() const { return holds_; }
	std::uint64_t head_seq() const { return head_seq_; }

private:
	struct Box {
		std::vector<JournaledSave> mails;
		std::map<std::uint32_t, std::size_t> by_uid;
		std::multimap<std::string, std::size_t, std::less<>> uidless_by_guid;
	};
	void apply(const RecordFields &rec, std::uint64_t seq, std::string_view line);
	JournaledSave *find_mutable(std::string_view mailbox_guid, std::uint32_t uid,
				    std::string_view guid);
	void forget(std::string_view mailbox_guid, std::uint32_t uid, std::string_view guid);

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
PurgeDecision decide_purge(const RetentionJournal &journal, const RetentionRule &rule,
			   std::string_view mailbox_guid, std::uint32_t uid,
			   std::string_view guid, Clock::time_point now);

// The purge record for a mail decided Expired.
Record purge_record(const JournaledSave &save, const RetentionRule &rule,
		    Clock::time_point end, std::string_view mailbox,
		    std::string_view mailbox_guid, std::uint32_t uidvalidity,
		    std::uint32_t uid, std::string_view guid);

// ---- verify's view of purges

// Why a purge record is not a proper purge of the save it ends, or "" when
// it is: its retention must have ended at the purge record's time, under
// the rule it names, and no hold may have matched the mail then.
std::string purge_record_problem(const json &purge, std::uint64_t save_seq,
				 std::string_view save_time, std::string_view save_message_id,
				 const HoldSet &holds);

} // namespace tresor
