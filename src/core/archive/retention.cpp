#include "archive/retention.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "archive/config.hpp"
#include "archive/journal_files.hpp"
#include "common/text.hpp"

namespace tresor {

namespace {

using namespace std::chrono;

constexpr unsigned kMaxPeriodCount = 999;

// Exactly n digits at s[pos]; advances pos.
bool take_digits(std::string_view s, std::size_t &pos, std::size_t n, int &out)
{
	if (pos + n > s.size())
		return false;
	out = 0;
	for (std::size_t i = 0; i < n; i++) {
		if (!text::is_ascii_digit(s[pos + i]))
			return false;
		out = out * 10 + (s[pos + i] - '0');
	}
	pos += n;
	return true;
}

bool take_char(std::string_view s, std::size_t &pos, char c)
{
	if (pos < s.size() && s[pos] == c) {
		pos++;
		return true;
	}
	return false;
}
} // namespace

// ---------------------------------------------------------------- rules

std::string RetentionPeriod::text() const
{
	if (years != 0 && months != 0)
		return std::to_string(years) + "y" + std::to_string(months) + "m";
	if (months != 0)
		return std::to_string(months) + "m";
	return std::to_string(years) + "y";
}

std::string RetentionRule::text() const
{
	return pattern + "=" + period.text();
}

std::optional<RetentionPeriod> parse_retention_period(std::string_view text)
{
	// "m" is months, never minutes: retention is a matter of years
	if (text.size() < 2 || text.size() > 4)
		return std::nullopt;
	char unit = text.back();
	std::string_view digits = text.substr(0, text.size() - 1);
	if (digits.front() == '0' || !std::all_of(digits.begin(), digits.end(), text::is_ascii_digit))
		return std::nullopt;
	unsigned n = 0;
	for (char c : digits)
		n = n * 10 + static_cast<unsigned>(c - '0');
	if (n == 0 || n > kMaxPeriodCount)
		return std::nullopt;
	RetentionPeriod p;
	if (unit == 'y')
		p.years = n;
	else if (unit == 'm')
		p.months = n;
	else
		return std::nullopt;
	return p;
}

RetentionRule parse_retention_rule(std::string_view item)
{
	std::size_t eq = item.rfind('=');
	if (eq == std::string_view::npos)
		throw std::invalid_argument("invalid rule " + text::quoted(item) +
					    " (expected PATTERN=PERIOD, e.g. Rechnungen/*=10y)");
	std::string_view pattern = item.substr(0, eq);
	std::string_view period = item.substr(eq + 1);
	if (pattern.empty())
		throw std::invalid_argument("invalid rule " + text::quoted(item) +
					    " (the mailbox pattern before '=' is empty)");
	if (text::has_control_char(pattern))
		throw std::invalid_argument("invalid rule " + text::quoted(item) +
					    " (a mailbox pattern must not contain "
					    "control characters)");
	auto p = parse_retention_period(period);
	if (!p)
		throw std::invalid_argument("invalid retention period " + text::quoted(period) +
					    " in " + text::quoted(item) +
					    " (expected 1 to 999 years or months, e.g. "
					    "10y or 6m)");
	return RetentionRule{std::string(pattern), *p};
}

std::vector<RetentionRule> parse_retention_setting(std::string_view value)
{
	std::vector<RetentionRule> rules;
	try {
		for (const std::string &item : split_setting_list(value))
			rules.push_back(parse_retention_rule(item));
	} catch (const std::invalid_argument &e) {
		throw ConfigError(std::string("tresor_retention: ") + e.what());
	}
	return rules;
}

const RetentionRule *find_retention_rule(const std::vector<RetentionRule> &rules,
					 std::string_view mailbox, char sep)
{
	for (const RetentionRule &r : rules) {
		if (mailbox_pattern_match(r.pattern, mailbox, sep))
			return &r;
	}
	return nullptr;
}

// ---------------------------------------------------------------- time

// The days Clock can represent (its nanoseconds end in 1677 and 2262):
// converting a day outside them would overflow.
constexpr sys_days kFirstClockDay = ceil<days>(Clock::time_point::min());
constexpr sys_days kLastClockDay = floor<days>(Clock::time_point::max()) - days{1};

Clock::time_point retention_end(Clock::time_point saved, const RetentionPeriod &period)
{
	year_month_day ymd{floor<days>(saved)};
	year_month_day end = year{static_cast<int>(ymd.year()) + 1 +
				  static_cast<int>(period.years)} / January / 1;
	end += months{period.months};
	// A retention ending beyond what Clock holds (up to 999 years) never
	// ends for us.
	if (sys_days{end} > kLastClockDay)
		return Clock::time_point::max();
	return time_point_cast<Clock::duration>(sys_days{end});
}

std::optional<Clock::time_point> parse_utc_time(std::string_view s)
{
	std::size_t pos = 0;
	int y, mo, d, h = 0, mi = 0, sec = 0;
	if (!take_digits(s, pos, 4, y) || !take_char(s, pos, '-') ||
	    !take_digits(s, pos, 2, mo) || !take_char(s, pos, '-') ||
	    !take_digits(s, pos, 2, d))
		return std::nullopt;
	long long frac_us = 0;
	if (pos < s.size()) {
		if (!take_char(s, pos, 'T') || !take_digits(s, pos, 2, h) ||
		    !take_char(s, pos, ':') || !take_digits(s, pos, 2, mi) ||
		    !take_char(s, pos, ':') || !take_digits(s, pos, 2, sec))
			return std::nullopt;
		if (take_char(s, pos, '.')) {
			std::size_t start = pos;
			long long scale = 100000;
			while (pos < s.size() && text::is_ascii_digit(s[pos])) {
				frac_us += (s[pos] - '0') * scale;
				scale /= 10;
				pos++;
			}
			if (pos == start || pos - start > 9)
				return std::nullopt;
		}
		if (!take_char(s, pos, 'Z') || pos != s.size())
			return std::nullopt;
	}
	year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
			   day{static_cast<unsigned>(d)}};
	if (!ymd.ok() || h > 23 || mi > 59 || sec > 59)
		return std::nullopt;
	if (sys_days{ymd} < kFirstClockDay || sys_days{ymd} > kLastClockDay)
		return std::nullopt; // not representable
	auto t = sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} + microseconds{frac_us};
	return time_point_cast<Clock::duration>(t);
}

std::string_view normalize_message_id(std::string_view id)
{
	id = text::trim_space(id);
	if (id.size() >= 2 && id.front() == '<' && id.back() == '>')
		id = text::trim_space(id.substr(1, id.size() - 2));
	return id;
}

// ---------------------------------------------------------------- holds

std::string Hold::scope() const
{
	if (whole_user())
		return "the whole user";
	std::string box = mailbox.empty() ? "mailbox GUID " + mailbox_guid : mailbox;
	std::string out;
	if (uid != 0)
		out = "UID " + std::to_string(uid) + " in " + box;
	else if (!mailbox_guid.empty())
		out = "mailbox " + box;
	if (!message_id.empty())
		out += (out.empty() ? "" : ", ") + std::string("Message-ID ") + message_id;
	return out;
}

bool hold_matches(const Hold &hold, const HeldMailRef &mail)
{
	if (!hold.mailbox_guid.empty() && hold.mailbox_guid != mail.mailbox_guid)
		return false;
	if (hold.uid != 0 && hold.uid != mail.uid)
		return false;
	if (!hold.message_id.empty() &&
	    normalize_message_id(hold.message_id) != normalize_message_id(mail.message_id))
		return false;
	return true;
}

Hold hold_from_record(const json &rec, std::uint64_t seq)
{
	Hold h;
	h.seq = seq;
	h.time = json_string(rec, "time");
	h.mailbox = json_string(rec, "mailbox");
	h.mailbox_guid = json_string(rec, "mailbox_guid");
	h.uid = static_cast<std::uint32_t>(json_uint(rec, "uid"));
	h.message_id = json_string(rec, "message_id");
	h.reason = json_string(rec, "reason");
	if (h.mailbox_guid.empty())
		h.uid = 0; // a UID means nothing without its mailbox
	return h;
}

void HoldSet::add(Hold hold)
{
	holds_.push_back(std::move(hold));
}

bool HoldSet::remove(std::uint64_t hold_seq)
{
	auto it = std::find_if(holds_.begin(), holds_.end(),
			       [&](const Hold &h) { return h.seq == hold_seq; });
	if (it == holds_.end())
		return false;
	holds_.erase(it);
	return true;
}

const Hold *HoldSet::find(std::uint64_t hold_seq) const
{
	for (const Hold &h : holds_) {
		if (h.seq == hold_seq)
			return &h;
	}
	return nullptr;
}

const Hold *HoldSet::first_match(const HeldMailRef &mail) const
{
	for (const Hold &h : holds_) {
		if (hold_matches(h, mail))
			return &h;
	}
	return nullptr;
}

// ---------------------------------------------------------------- locator

SaveLocator::UidIndex::Entry *SaveLocator::UidIndex::find_ascending(std::uint32_t uid)
{
	auto it = std::lower_bound(ascending_.begin(), ascending_.end(), uid,
				   [](const Entry &e, std::uint32_t u) { return e.uid < u; });
	return it != ascending_.end() && it->uid == uid ? &*it : nullptr;
}

const SaveLocator::UidIndex::Entry *SaveLocator::UidIndex::find_ascending(std::uint32_t uid) const
{
	return const_cast<UidIndex *>(this)->find_ascending(uid);
}

std::optional<std::size_t> SaveLocator::UidIndex::set(std::uint32_t uid, std::size_t save)
{
	std::optional<std::size_t> old = get(uid);
	const bool fits = save < kErased; // (a larger index goes into others_)
	if (Entry *e = find_ascending(uid)) {
		if (fits) {
			e->save = static_cast<std::uint32_t>(save);
			others_.erase(uid);
			return old;
		}
		e->save = kErased;
	} else if (fits && others_.count(uid) == 0 &&
		   (ascending_.empty() || ascending_.back().uid < uid)) {
		ascending_.push_back(Entry{uid, static_cast<std::uint32_t>(save)});
		return old;
	}
	others_[uid] = save;
	return old;
}

std::optional<std::size_t> SaveLocator::UidIndex::get(std::uint32_t uid) const
{
	if (const Entry *e = find_ascending(uid); e != nullptr && e->save != kErased)
		return e->save;
	if (auto o = others_.find(uid); o != others_.end())
		return o->second;
	return std::nullopt;
}

void SaveLocator::UidIndex::erase(std::uint32_t uid)
{
	if (Entry *e = find_ascending(uid))
		e->save = kErased;
	others_.erase(uid);
}

std::optional<std::size_t> SaveLocator::add_uid(std::uint32_t uid, std::size_t save)
{
	return by_uid_.set(uid, save);
}

void SaveLocator::add_guid(std::string_view guid, std::size_t save)
{
	if (!guid.empty())
		by_guid_[std::string(guid)].push_back(save);
}

void SaveLocator::add_sha256(std::string_view sha256, std::size_t save)
{
	if (!sha256.empty())
		by_sha256_[std::string(sha256)].push_back(save);
}

void SaveLocator::forget_uid(std::uint32_t uid)
{
	by_uid_.erase(uid);
}

// ---------------------------------------------------------------- journal

RetentionJournal::RetentionJournal(const std::string &dir)
{
	std::vector<JournalFile> files = list_journal_files(dir);
	std::string line;
	RecordFields rec;
	std::uint64_t seq = 0;
	for (std::size_t k = 0; k < files.size(); k++) {
		LineReader r(files[k].path);
		bool term;
		while (r.next(line, term)) {
			if (!term && k + 1 == files.size())
				break; // an interrupted write, never acknowledged
			if (!parse_record_fields(line, rec)) {
				seq++;
				continue;
			}
			seq = rec.seq.value_or(seq + 1);
			apply(rec, seq, line);
		}
	}
	head_seq_ = seq;
}


JournaledSave *RetentionJournal::find_in_force(std::string_view mailbox_guid,
					       std::uint32_t uid, std::string_view guid)
{
	auto b = boxes_.find(mailbox_guid);
	if (b == boxes_.end())
		return nullptr;
	Box &box = b->second;
	auto idx = box.locator.find(uid, guid,
				    [&box](std::size_t i) { return box.mails[i].removed; });
	return idx ? &box.mails[*idx] : nullptr;
}

const JournaledSave *RetentionJournal::locate(std::string_view mailbox_guid,
					      std::uint32_t uid, std::string_view guid,
					      std::string_view sha256)
{
	auto b = boxes_.find(mailbox_guid);
	if (b == boxes_.end())
		return nullptr;
	Box &box = b->second;
	auto placed = box.locator.place(uid, guid, sha256,
					[&box](std::size_t i) { return box.mails[i].removed; });
	return placed ? &box.mails[placed->save] : nullptr;
}

bool RetentionJournal::has_unlocated_interrupted(std::string_view mailbox_guid) const
{
	auto b = boxes_.find(mailbox_guid);
	if (b == boxes_.end() || !b->second.locator.has_interrupted())
		return false;
	const Box &box = b->second;
	for (std::size_t i = 0; i < box.mails.size(); i++) {
		const JournaledSave &s = box.mails[i];
		if (s.interrupted && !s.removed && !box.locator.placed(i))
			return true;
	}
	return false;
}

void RetentionJournal::add_save(const RecordFields &rec, std::uint64_t seq, bool interrupted)
{
	const auto uid = interrupted ? 0u : static_cast<std::uint32_t>(rec.uid);
	if (uid == 0 && rec.guid.empty() && (!interrupted || rec.sha256.empty()))
		return; // nothing to find it by
	Box &box = boxes_[rec.mailbox_guid];
	JournaledSave s;
	s.seq = seq;
	s.time = rec.time;
	s.saved = parse_utc_time(rec.time);
	s.mailbox = rec.mailbox;
	s.uidvalidity = static_cast<std::uint32_t>(rec.uidvalidity);
	s.uid = uid;
	s.guid = rec.guid;
	s.sha256 = rec.sha256;
	s.message_id = rec.message_id;
	s.interrupted = interrupted;
	const std::size_t idx = box.mails.size();
	if (uid != 0) {
		// a UID saved again replaces the old save
		if (auto old = box.locator.add_uid(uid, idx))
			box.mails[*old].removed = true;
	} else {
		box.locator.add_guid(rec.guid, idx);
	}
	if (interrupted)
		box.locator.add_sha256(rec.sha256, idx);
	box.mails.push_back(std::move(s));
}

void RetentionJournal::apply(const RecordFields &rec, std::uint64_t seq,
			     std::string_view line)
{
	const std::string &event = rec.event;
	const auto uid = static_cast<std::uint32_t>(rec.uid);
	if (event == "hold" || event == "unhold" || event == "interrupted" ||
	    event == "purge") {
		auto j = parse_line(line);
		if (!j)
			return;
		if (event == "hold") {
			holds_.add(hold_from_record(*j, seq));
		} else if (event == "unhold") {
			holds_.remove(json_uint(*j, "hold_seq"));
		} else if (event == "interrupted") {
			// An interrupted save may be in the store: purged like
			// any other once found. An interrupted expunge may not
			// have happened: its save stays.
			if (!rec.mailbox_guid.empty() && json_string(*j, "action") == "save")
				add_save(rec, seq, true);
		} else {
			// kept: the mail may still be there until the expunge
			// is done. An interrupted save's mail found by its hash
			// is named by the purge's save_seq and sha256.
			JournaledSave *s = find_in_force(rec.mailbox_guid, uid, rec.guid);
			std::uint64_t save_seq = json_uint(*j, "save_seq");
			if (s == nullptr) {
				auto b = boxes_.find(rec.mailbox_guid);
				if (b != boxes_.end()) {
					Box &box = b->second;
					auto idx = box.locator.find_interrupted(
						rec.sha256, [&box, save_seq](std::size_t i) {
							return box.mails[i].removed ||
							       box.mails[i].seq != save_seq;
						});
					if (idx)
						s = &box.mails[*idx];
				}
			}
			if (s != nullptr && s->purge_seq == 0)
				s->purge_seq = seq;
		}
		return;
	}
	if (rec.mailbox_guid.empty())
		return;
	if (event == "save") {
		add_save(rec, seq, false);
	} else if (event == "adopt") {
		// Retention counts from the adoption (its record's time), never
		// from the INTERNALDATE: that is a claim of the mail store that
		// anyone appending a mail sets freely, and the archive holds the
		// mail only from its adoption on. An adopt record naming a mail
		// the journal already has counts for nothing (as in verify).
		if (find_in_force(rec.mailbox_guid, uid, rec.guid) == nullptr)
			add_save(rec, seq, false);
	} else if (event == "expunge") {
		if (JournaledSave *s = find_in_force(rec.mailbox_guid, uid, rec.guid)) {
			s->removed = true;
			if (s->uid != 0) {
				boxes_[rec.mailbox_guid].locator.forget_uid(s->uid);
			}
		}
	} else if (event == "delete") {
		boxes_.erase(rec.mailbox_guid);
	}
}

const char *purge_status_name(PurgeStatus status)
{
	switch (status) {
	case PurgeStatus::Expired:
		return "expired";
	case PurgeStatus::Pending:
		return "pending";
	case PurgeStatus::Retained:
		return "retained";
	case PurgeStatus::Held:
		return "held";
	case PurgeStatus::Unjournaled:
		return "unjournaled";
	}
	return "unknown";
}

PurgeDecision decide_purge(RetentionJournal &journal, const RetentionRule &rule,
			   std::string_view mailbox_guid, std::uint32_t uid,
			   std::string_view guid, Clock::time_point now, std::string_view sha256)
{
	PurgeDecision d;
	d.save = journal.locate(mailbox_guid, uid, guid, sha256);
	if (d.save == nullptr || !d.save->saved) {
		d.status = PurgeStatus::Unjournaled;
		return d;
	}
	d.end = retention_end(*d.save->saved, rule.period);
	bool pending = d.save->purge_seq != 0;
	if (!pending && now < *d.end) {
		d.status = PurgeStatus::Retained;
		return d;
	}
	// A hold also stops finishing a pending purge: the mail is kept
	// while it stands.
	d.hold = journal.holds().first_match({mailbox_guid, uid, d.save->message_id});
	if (d.hold != nullptr)
		d.status = PurgeStatus::Held;
	else
		d.status = pending ? PurgeStatus::Pending : PurgeStatus::Expired;
	return d;
}

Record purge_record(const JournaledSave &save, const RetentionRule &rule,
		    Clock::time_point end, std::string_view mailbox,
		    std::string_view mailbox_guid, std::uint32_t uidvalidity,
		    std::uint32_t uid, std::string_view guid)
{
	Record r;
	r.event = "purge";
	r.mailbox = std::string(mailbox);
	r.mailbox_guid = std::string(mailbox_guid);
	r.uidvalidity = uidvalidity;
	r.uid = uid;
	if (!guid.empty())
		r.guid = std::string(guid);
	if (!save.sha256.empty())
		r.sha256 = save.sha256;
	if (!save.message_id.empty())
		r.message_id = save.message_id;
	r.reason = "retention period ended";
	r.extra.emplace_back("save_seq", save.seq);
	r.extra.emplace_back("retention_rule", rule.text());
	r.extra.emplace_back("retention_end", format_utc_seconds(end));
	return r;
}

// ---------------------------------------------------------------- verify

std::string purge_record_problem(const json &purge, std::uint64_t save_seq,
				 std::optional<Clock::time_point> saved,
				 std::string_view save_message_id, const HoldSet &holds)
{
	std::vector<std::string> why;
	std::uint64_t named_seq = json_uint(purge, "save_seq");
	if (named_seq != save_seq) {
		why.push_back("it names save seq " + std::to_string(named_seq) +
			      ", but the mail's save record is seq " +
			      std::to_string(save_seq));
	}
	auto purged_at = parse_utc_time(json_string(purge, "time"));
	std::optional<RetentionRule> rule;
	std::string rule_text = json_string(purge, "retention_rule");
	try {
		rule = parse_retention_rule(rule_text);
	} catch (const std::invalid_argument &) {
		why.push_back("it names no valid retention rule (" + text::quoted(rule_text) + ")");
	}
	if (!purged_at || !saved) {
		why.push_back("its time or the save's time can't be read");
	} else if (rule) {
		Clock::time_point end = retention_end(*saved, rule->period);
		if (*purged_at < end) {
			why.push_back("it was written " + format_utc_seconds(*purged_at) +
				      ", but under " + rule->text() +
				      " the retention of a mail saved " + format_day(*saved) +
				      " ends " + format_utc_seconds(end));
		}
	}
	// HeldMailRef holds views: the GUID must outlive it.
	const std::string mailbox_guid = json_string(purge, "mailbox_guid");
	HeldMailRef mail{mailbox_guid, static_cast<std::uint32_t>(json_uint(purge, "uid")),
			 save_message_id};
	if (const Hold *h = holds.first_match(mail)) {
		why.push_back("hold seq " + std::to_string(h->seq) + " (" + h->scope() +
			      ") stood");
	}
	std::string out;
	for (const std::string &w : why)
		out += (out.empty() ? "" : "; ") + w;
	return out;
}

} // namespace tresor
