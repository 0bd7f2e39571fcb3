#include "archive/verify.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "archive/catalog.hpp"
#include "archive/journal_files.hpp"
#include "common/text.hpp"
#include "common/threads.hpp"

namespace tresor {

namespace {

using tresor::text::iequals;
std::string mail_name(std::uint32_t uid, std::string_view mailbox,
		      std::string_view guid = {})
{
	std::string which = uid != 0 ? "UID " + std::to_string(uid)
				     : "the mail with GUID " + std::string(guid);
	return which + " in " +
	       std::string(mailbox.empty() ? std::string_view("(unnamed mailbox)") : mailbox);
}

// "1 hour 5 minutes", "3.2 seconds": how far the clock went back.
std::string describe_duration(std::chrono::microseconds d)
{
	auto us = d.count();
	if (us < 60 * 1000000LL) {
		char buf[32];
		std::snprintf(buf, sizeof(buf), "%.6g second%s", us / 1e6,
			      us == 1000000 ? "" : "s");
		return buf;
	}
	long long secs = us / 1000000;
	struct Unit {
		long long secs;
		const char *name;
	};
	static const Unit units[] = {{86400, "day"}, {3600, "hour"}, {60, "minute"},
				     {1, "second"}};
	std::vector<std::string> parts;
	for (const Unit &u : units) {
		long long n = secs / u.secs;
		secs %= u.secs;
		if (n > 0 && parts.size() < 2)
			parts.push_back(std::to_string(n) + " " + u.name + (n == 1 ? "" : "s"));
	}
	return text::join(parts, " ");
}

// Lowercase hex of a digest into out, reusing its buffer.
void hex_digest(const Sha256::Digest &d, std::string &out)
{
	static const char digits[] = "0123456789abcdef";
	out.resize(d.size() * 2);
	for (std::size_t i = 0; i < d.size(); i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 0x0f];
	}
}

} // namespace

const char *problem_kind_name(ProblemKind kind)
{
	switch (kind) {
	case ProblemKind::Chain:
		return "CHAIN";
	case ProblemKind::Modified:
		return "MODIFIED";
	case ProblemKind::Missing:
		return "MISSING";
	case ProblemKind::Unjournaled:
		return "UNJOURNALED";
	case ProblemKind::Seal:
		return "SEAL";
	case ProblemKind::Purge:
		return "PURGE";
	case ProblemKind::Bypass:
		return "BYPASS";
	case ProblemKind::Identity:
		return "IDENTITY";
	}
	return "UNKNOWN";
}

Verifier::Verifier(const std::string &dir, const SealCheckSettings &seal_settings)
{
	SealChecker seals(seal_settings);
	// The catalog's position first: it can then only be behind the
	// journal we read, never legitimately ahead of it.
	std::optional<JournalPos> cat = Catalog::peek_position(dir);
	std::optional<std::string> hash_at_cat_seq = walk_chain(dir, seals, cat);
	for (SealProblem &sp : seals.finish()) {
		Problem p;
		p.kind = ProblemKind::Seal;
		p.seq = sp.seq;
		p.detail = std::move(sp.detail);
		add(std::move(p));
	}
	if (cat)
		check_catalog_position(*cat, hash_at_cat_seq);
}

std::optional<std::string> Verifier::walk_chain(const std::string &dir, SealChecker &seals,
						const std::optional<JournalPos> &cat)
{
	std::optional<std::string> hash_at_cat_seq;
	std::vector<JournalFile> files = list_journal_files(dir);
	std::uint64_t prev_seq = 0;
	std::string prev_hash(kZeroHash);
	// reused for every line: no allocation per line once they are warm
	std::string line, hash;
	RecordFields rec;
	Sha256 line_sha;
	std::string prev_time; // of the previous record that had one
	for (std::size_t k = 0; k < files.size(); k++) {
		const bool last_file = k + 1 == files.size();
		LineReader r(files[k].path);
		bool term;
		std::uint64_t line_no = 0;
		while (r.next(line, term)) {
			line_no++;
			lines_++;
			line_sha.update(line);
			hex_digest(line_sha.finish(), hash);
			const bool parsed = parse_record_fields(line, rec);
			std::uint64_t seq = prev_seq + 1;
			const bool has_seq = parsed && rec.seq.has_value();
			if (has_seq)
				seq = *rec.seq;
			std::vector<std::string> reasons;
			if (!parsed) {
				reasons.push_back("not a valid journal record (not a JSON object)");
			} else if (!has_seq) {
				reasons.push_back("not a valid journal record (seq is missing or "
						  "not a number)");
			} else if (seq != prev_seq + 1) {
				reasons.push_back("seq " + std::to_string(seq) + " where " +
						  std::to_string(prev_seq + 1) + " was expected");
			}
			if (parsed) {
				if (!rec.has_prev) {
					reasons.push_back("prev is missing");
				} else if (rec.prev != prev_hash) {
					reasons.push_back(
						"prev does not match the hash of the previous line "
						"(a line was removed, inserted, reordered or edited)");
				}
			}
			if (!term) {
				reasons.push_back(last_file
					? "the last line is incomplete (no line end: a write was "
					  "interrupted, the record was never acknowledged)"
					: "the last line of the file has no line end");
			}
			if (!reasons.empty()) {
				Problem p;
				p.kind = ProblemKind::Chain;
				p.seq = seq;
				if (parsed) {
					p.mailbox = rec.mailbox;
					p.mailbox_guid = rec.mailbox_guid;
					p.uid = static_cast<std::uint32_t>(rec.uid);
				}
				p.detail = files[k].name + " line " + std::to_string(line_no) +
					   ": " + text::join(reasons, "; ");
				add(std::move(p));
			}
			if (parsed && (term || !last_file))
				apply(rec, seq, line);
			if (parsed && !rec.time.empty())
				check_clock(seq, rec.time, prev_time);
			// seals: prev_hash is still the previous line's hash here
			seals.line(seq, prev_hash, reasons.empty(),
				   parsed ? std::string_view(rec.event) : std::string_view(),
				   line);
			prev_seq = seq;
			prev_hash.swap(hash);
			if (cat && seq == cat->seq)
				hash_at_cat_seq = prev_hash;
		}
	}
	head_seq_ = prev_seq;
	return hash_at_cat_seq;
}

// The records' times come from the clock of the machine that wrote them;
// set back (by hand, NTP, a restored VM), it makes a record older than
// the one before. The chain, not the time, orders the journal:
// explained, not a problem. (Journal times compare as text; parsed only
// when they seem to go back.)
void Verifier::check_clock(std::uint64_t seq, const std::string &time, std::string &prev_time)
{
	if (!prev_time.empty() && time < prev_time) {
		auto t = parse_utc_time(time);
		auto t_prev = parse_utc_time(prev_time);
		if (t && t_prev && *t < *t_prev) {
			note(seq, "seq " + std::to_string(seq) + " was written at " + time + ", " +
				     describe_duration(
					     // in µs: centuries apart overflow nanoseconds
					     std::chrono::floor<std::chrono::microseconds>(*t_prev) -
					     std::chrono::floor<std::chrono::microseconds>(*t)) +
				     " earlier than the record before it (" + prev_time +
				     "): the clock went back between the two. The chain "
				     "is intact; the journal's order, not the time, is "
				     "the order in which records were written");
		}
	}
	prev_time = time;
}

bool Verifier::chain_broken() const
{
	return std::any_of(problems_.begin(), problems_.end(),
			   [](const Problem &p) { return p.kind == ProblemKind::Chain; });
}

void Verifier::check_catalog_position(const JournalPos &cat,
				      const std::optional<std::string> &hash_at_cat_seq)
{
	// Removing the last lines leaves no gap in the chain: the catalog
	// remembers how far the journal went.
	if (cat.seq > 0) {
		Problem p;
		p.kind = ProblemKind::Chain;
		p.seq = cat.seq;
		if (cat.seq > head_seq_) {
			std::uint64_t n = cat.seq - head_seq_;
			p.detail = "the journal ends at seq " + std::to_string(head_seq_) +
				   ", but the catalog had already recorded seq " +
				   std::to_string(cat.seq) + ": the last " + std::to_string(n) +
				   (n == 1 ? " record was" : " records were") +
				   " removed from the end of the journal (or it was "
				   "replaced by an older copy)";
			add(std::move(p));
		} else if (hash_at_cat_seq && *hash_at_cat_seq != cat.hash) {
			p.detail = "the line with seq " + std::to_string(cat.seq) +
				   " differs from the one the catalog recorded when it "
				   "was written (sha256 " + cat.hash + ", now " +
				   *hash_at_cat_seq + "): it was edited afterwards";
			add(std::move(p));
		}
	}
}

std::optional<std::size_t> Verifier::MailboxExpectation::find_index(std::uint32_t uid,
								     std::string_view guid) const
{
	return locator.find(uid, guid, [this](std::size_t i) {
		return mails[i].removed || mails[i].observed;
	});
}

Verifier::Expected *Verifier::MailboxExpectation::find(std::uint32_t uid,
							std::string_view guid)
{
	auto idx = find_index(uid, guid);
	return idx ? &mails[*idx] : nullptr;
}

Verifier::Expected *Verifier::MailboxExpectation::find_interrupted(std::string_view sha256)
{
	auto idx = locator.find_interrupted(sha256, [this](std::size_t i) {
		return mails[i].removed || mails[i].observed;
	});
	return idx ? &mails[*idx] : nullptr;
}

Verifier::Expected *Verifier::MailboxExpectation::find_purged(std::uint32_t uid,
							       std::string_view guid)
{
	if (uid != 0) {
		auto u = purged_by_uid.find(uid);
		if (u != purged_by_uid.end())
			return &mails[u->second];
	}
	if (!guid.empty()) {
		auto g = purged_by_guid.find(guid);
		if (g != purged_by_guid.end())
			return &mails[g->second];
	}
	return nullptr;
}

void Verifier::MailboxExpectation::remove(Expected &e)
{
	if (e.removed)
		return;
	e.removed = true;
	live--;
	if (e.uid != 0)
		locator.forget_uid(e.uid);
}

void Verifier::apply(const RecordFields &rec, std::uint64_t seq, std::string_view line)
{
	// holds are replayed so that each purge is checked against those
	// in force when it was written
	if (rec.event == "hold" || rec.event == "unhold") {
		if (auto j = parse_line(line)) {
			if (rec.event == "hold")
				holds_.add(hold_from_record(*j, seq));
			else
				holds_.remove(json_uint(*j, "hold_seq"));
		}
		return;
	}
	if (rec.event == "seal") {
		last_seal_seq_ = seq;
		return;
	}
	if (rec.event == "purge") {
		apply_purge(rec, seq, line);
		return;
	}
	if (rec.event == "interrupted") {
		apply_interrupted(rec, seq, line);
		return;
	}
	const std::string &mailbox_guid = rec.mailbox_guid;
	if (mailbox_guid.empty())
		return;
	if (!same_folder(rec, seq))
		return;
	const auto uid = static_cast<std::uint32_t>(rec.uid);
	const std::string &guid = rec.guid;
	const std::string &event = rec.event;
	if (event == "save" || event == "adopt") {
		apply_save(rec, seq);
	} else if (event == "expunge") {
		auto g = expected_.find(mailbox_guid);
		if (g == expected_.end())
			return;
		if (Expected *e = g->second.find(uid, guid)) {
			if (e->archive) {
				Problem p;
				p.kind = ProblemKind::Bypass;
				p.seq = seq;
				p.mailbox = rec.mailbox;
				p.mailbox_guid = mailbox_guid;
				p.uid = e->uid;
				p.detail = mail_name(e->uid, rec.mailbox, e->guid) +
					   ", saved into an archive folder (seq " +
					   std::to_string(e->seq) + "), was expunged at seq " +
					   std::to_string(seq) + ": the archive protection was "
					   "off for it (a setting overridden, or the plugin "
					   "not loaded); only a purge may remove archived mail";
				add(std::move(p));
			}
			g->second.remove(*e);
		}
		if (g->second.live == 0 && g->second.purged_by_uid.empty() &&
		    g->second.purged_by_guid.empty())
			expected_.erase(g);
	} else if (event == "delete") {
		auto g = expected_.find(mailbox_guid);
		if (g != expected_.end()) {
			bypassed(g->second, mailbox_guid, rec, seq, "deleted");
			expected_.erase(g);
		}
	} else if (event == "rename") {
		const std::string &new_name = rec.new_mailbox;
		auto g = expected_.find(mailbox_guid);
		if (!new_name.empty() && g != expected_.end()) {
			bypassed(g->second, mailbox_guid, rec, seq,
				 "renamed to " + new_name);
			std::string_view name = text_.intern(new_name);
			for (Expected &e : g->second.mails)
				e.mailbox = name;
		}
	}
}

void Verifier::apply_save(const RecordFields &rec, std::uint64_t seq)
{
	const auto uid = static_cast<std::uint32_t>(rec.uid);
	const std::string &guid = rec.guid;
	if (uid == 0 && guid.empty())
		return; // nothing to find it by; never written by the plugin
	auto g = expected_.find(rec.mailbox_guid);
	if (g == expected_.end())
		g = expected_.emplace(rec.mailbox_guid, MailboxExpectation()).first;
	MailboxExpectation &box = g->second;
	if (rec.event == "adopt") {
		// An adopt record journals a mail no record accounts for; one
		// naming a mail the journal already has must not replace its
		// save (that would launder a change of it): it counts for
		// nothing. doveadm tresor adopt never writes one.
		const Expected *known = box.find(uid, guid);
		if (known == nullptr)
			known = box.find_purged(uid, guid); // a pending purge
		if (known != nullptr) {
			note(seq, "seq " + std::to_string(seq) + " adopts " +
					  mail_name(uid, rec.mailbox, guid) +
					  ", which the journal already accounts for (seq " +
					  std::to_string(known->seq) + "): the adopt record "
					  "counts for nothing");
			return;
		}
	}
	Expected e = expect(rec, seq);
	e.uidvalidity = static_cast<std::uint32_t>(rec.uidvalidity);
	e.uid = uid;
	e.archive = rec.archive != 0;
	if (uid != 0) {
		// a UID saved again replaces the old expectation
		if (auto old = box.locator.add_uid(uid, box.mails.size())) {
			box.remove(box.mails[*old]);
			box.locator.add_uid(uid, box.mails.size());
		}
	} else {
		e.guid = text_.keep(guid);
		box.locator.add_guid(guid, box.mails.size());
	}
	box.mails.push_back(e);
	box.live++;
}

Verifier::Expected Verifier::expect(const RecordFields &rec, std::uint64_t seq)
{
	Expected e;
	e.seq = seq;
	e.mailbox = text_.intern(rec.mailbox);
	if (rec.sha256.empty()) {
		e.sha256_form = HashForm::None;
	} else if (sha256_from_lowercase_hex(rec.sha256, e.sha256)) {
		e.sha256_form = HashForm::Digest;
	} else {
		e.sha256_form = HashForm::Text;
		odd_sha256_[seq] = rec.sha256;
	}
	if (auto t = parse_utc_time(rec.time)) {
		e.saved = *t;
		e.saved_known = true;
	}
	e.message_id = text_.keep(rec.message_id);
	return e;
}

std::string Verifier::journaled_sha256(const Expected &e) const
{
	switch (e.sha256_form) {
	case HashForm::None:
		break;
	case HashForm::Digest:
		return to_hex(e.sha256.data(), e.sha256.size());
	case HashForm::Text:
		if (auto t = odd_sha256_.find(e.seq); t != odd_sha256_.end())
			return t->second;
		break;
	}
	return std::string();
}

bool Verifier::same_sha256(const Expected &e, std::string_view sha256) const
{
	if (e.sha256_form == HashForm::None)
		return true;
	if (e.sha256_form == HashForm::Digest) {
		// hex as the mail store's side gives it, in either case
		Sha256::Digest d;
		return sha256_from_lowercase_hex(sha256, d) ? d == e.sha256
							     : iequals(journaled_sha256(e), sha256);
	}
	return iequals(journaled_sha256(e), sha256);
}

// A folder is its GUID under the name the journal gives it (following
// its renames). A record that names another folder under a known GUID
// comes from a second folder given that GUID (doveadm mailbox create -g,
// mailbox update --mailbox-guid): it is reported and counts for nothing,
// so that it can neither stand in for nor cancel the first folder's mails.
bool Verifier::same_folder(const RecordFields &rec, std::uint64_t seq)
{
	if (rec.mailbox.empty())
		return true;
	auto [it, fresh] = names_.try_emplace(rec.mailbox_guid,
					      FolderName{rec.mailbox, seq});
	if (!fresh && it->second.name != rec.mailbox) {
		identity(seq, rec.mailbox, rec.mailbox_guid,
			 "seq " + std::to_string(seq) + " (" + rec.event + " in " +
				 rec.mailbox + ") has the mailbox GUID " +
				 rec.mailbox_guid + ", which the journal gives to the "
				 "folder " + it->second.name + " (seq " +
				 std::to_string(it->second.seq) + "): two folders with "
				 "one GUID; the record is not counted for " +
				 it->second.name);
		return false;
	}
	if (rec.event == "rename" && !rec.new_mailbox.empty())
		it->second = FolderName{rec.new_mailbox, seq};
	else if (rec.event == "delete")
		names_.erase(it);
	return true;
}

// A delete or rename that took archived mails with it.
void Verifier::bypassed(const MailboxExpectation &box, std::string_view mailbox_guid,
			const RecordFields &rec, std::uint64_t seq, std::string what)
{
	std::size_t archived = 0;
	for (const Expected &e : box.mails) {
		if (e.archive && !e.removed)
			archived++;
	}
	if (archived == 0)
		return;
	Problem p;
	p.kind = ProblemKind::Bypass;
	p.seq = seq;
	p.mailbox = rec.mailbox;
	p.mailbox_guid = mailbox_guid;
	p.detail = "the folder " + rec.mailbox + ", holding " + std::to_string(archived) +
		   (archived == 1 ? " mail" : " mails") + " saved into an archive "
		   "folder, was " + what + " at seq " + std::to_string(seq) +
		   ": the archive protection was off for it (a setting "
		   "overridden, or the plugin not loaded)";
	add(std::move(p));
}

void Verifier::identity(std::uint64_t seq, std::string_view mailbox,
			std::string_view mailbox_guid, std::string detail)
{
	Problem p;
	p.kind = ProblemKind::Identity;
	p.seq = seq;
	p.mailbox = mailbox;
	p.mailbox_guid = mailbox_guid;
	p.detail = std::move(detail);
	add(std::move(p));
}

// A purge ends its save like an expunge, but must have been allowed: the
// retention it names ended and no hold matched (retention.hpp).
void Verifier::apply_purge(const RecordFields &rec, std::uint64_t seq, std::string_view line)
{
	const auto uid = static_cast<std::uint32_t>(rec.uid);
	Problem p;
	p.kind = ProblemKind::Purge;
	p.seq = seq;
	p.mailbox = rec.mailbox;
	p.mailbox_guid = rec.mailbox_guid;
	p.uid = uid;
	auto j = parse_line(line);
	auto g = expected_.find(rec.mailbox_guid);
	std::optional<std::size_t> idx;
	if (g != expected_.end())
		idx = g->second.find_index(uid, rec.guid);
	if (j && g != expected_.end() && (!idx || g->second.mails[*idx].removed)) {
		// the mail of an interrupted save found by its hash: the purge
		// names it by save_seq and sha256 (its UID and GUID are the
		// store's)
		std::uint64_t save_seq = json_uint(*j, "save_seq");
		MailboxExpectation &box = g->second;
		if (auto i = box.locator.find_interrupted(rec.sha256, [&box, save_seq](std::size_t i) {
			    return box.mails[i].removed || box.mails[i].seq != save_seq;
		    }))
			idx = i;
	}
	Expected *e = idx ? &g->second.mails[*idx] : nullptr;
	if (!j || e == nullptr || e->removed) {
		p.detail = "the purge record for " + mail_name(uid, rec.mailbox, rec.guid) +
			   " ends no save record that was still in force";
		add(std::move(p));
		return;
	}
	std::string why = purge_record_problem(
		*j, e->seq, e->saved_known ? std::optional<Clock::time_point>(e->saved) : std::nullopt,
		e->message_id, holds_);
	if (!why.empty()) {
		p.detail = mail_name(uid, rec.mailbox) + " (saved as seq " +
			   std::to_string(e->seq) + ") was purged although it was not "
			   "purgeable: " + why;
		add(std::move(p));
	}
	MailboxExpectation &box = g->second;
	box.remove(*e);
	e->purged = true;
	if (uid != 0)
		box.purged_by_uid[uid] = *idx;
	if (!rec.guid.empty())
		box.purged_by_guid[rec.guid] = *idx;
}

// A save or expunge whose process ended between the mail store's commit
// and the journal append (the next writer journaled it from the intent
// the process left): it may or may not have happened, and either is
// right. A save is found by its GUID (or sha256 where the GUID was not
// known before the commit); it is checked like any other once found.
void Verifier::apply_interrupted(const RecordFields &rec, std::uint64_t seq,
				 std::string_view line)
{
	auto j = parse_line(line);
	std::string action = j ? json_string(*j, "action") : std::string();
	if (rec.mailbox_guid.empty())
		return;
	if (action == "save") {
		if (rec.guid.empty() && rec.sha256.empty())
			return; // nothing to find it by
		auto g = expected_.find(rec.mailbox_guid);
		if (g == expected_.end())
			g = expected_.emplace(rec.mailbox_guid, MailboxExpectation()).first;
		MailboxExpectation &box = g->second;
		Expected e = expect(rec, seq);
		e.interrupted = true;
		std::size_t idx = box.mails.size();
		e.guid = text_.keep(rec.guid);
		box.locator.add_guid(rec.guid, idx);
		box.locator.add_sha256(rec.sha256, idx);
		box.mails.push_back(e);
		box.live++;
	} else if (action == "expunge") {
		auto g = expected_.find(rec.mailbox_guid);
		if (g == expected_.end())
			return;
		Expected *e = g->second.find(static_cast<std::uint32_t>(rec.uid), rec.guid);
		if (e != nullptr && !e->removed && e->maybe_expunged_by == 0)
			e->maybe_expunged_by = seq;
	}
}

void Verifier::note(std::uint64_t seq, std::string detail)
{
	notes_.push_back(Note{seq, std::move(detail)});
}

void Verifier::add(Problem p)
{
	problems_.push_back(std::move(p));
	sorted_ = false;
	generation_++;
}

bool Verifier::mailbox_expected(std::string_view mailbox_guid) const
{
	auto g = expected_.find(mailbox_guid);
	return g != expected_.end() && g->second.live > 0;
}

std::size_t Verifier::expected_count() const
{
	std::size_t n = 0;
	for (const auto &[guid, box] : expected_)
		n += box.live;
	return n;
}

void Verifier::mailbox_seen(std::string_view mailbox_guid, std::string_view mailbox,
			    std::uint32_t uidvalidity)
{
	auto s = seen_.find(mailbox_guid);
	if (!identity_reported_.emplace(std::string(mailbox_guid), std::string(mailbox)).second)
		return; // examined again (verify's second look at a busy folder)
	const std::string guid(mailbox_guid);
	auto n = names_.find(mailbox_guid);
	if (n != names_.end() && n->second.name != mailbox) {
		identity(n->second.seq, mailbox, mailbox_guid,
			 "the folder " + std::string(mailbox) + " has the mailbox GUID " +
				 guid + ", which the journal gives to the folder " +
				 n->second.name + " (seq " + std::to_string(n->second.seq) +
				 "): the GUID was given to a second folder (doveadm "
				 "mailbox create -g or mailbox update --mailbox-guid); "
				 "the records of " + n->second.name + " count for nothing in " +
				 std::string(mailbox));
	} else if (s != seen_.end() && s->second.mailbox != mailbox) {
		identity(0, mailbox, mailbox_guid,
			 "the folders " + s->second.mailbox + " and " + std::string(mailbox) +
				 " have the same mailbox GUID " + guid);
	}
	for (const auto &[other, folder] : names_) {
		if (folder.name == mailbox && other != mailbox_guid) {
			identity(folder.seq, mailbox, mailbox_guid,
				 "the folder " + std::string(mailbox) + " has the mailbox GUID " +
					 guid + ", but the journal knows it with the GUID " +
					 other + " (seq " + std::to_string(folder.seq) +
					 ") and no delete or rename of that one: its GUID "
					 "was changed");
			break;
		}
	}
	if (s == seen_.end())
		seen_.emplace(guid, Seen{std::string(mailbox), uidvalidity});
	else if (n == names_.end() || n->second.name == mailbox)
		s->second = Seen{std::string(mailbox), uidvalidity};
}

bool Verifier::observe_unread(std::string_view mailbox_guid, std::string_view mailbox,
			      std::uint32_t uid, std::string_view guid, std::uint64_t since_seq)
{
	auto n = names_.find(mailbox_guid);
	if (n != names_.end() && n->second.name != mailbox)
		return false; // not the folder the records are about
	auto g = expected_.find(mailbox_guid);
	if (g == expected_.end())
		return false;
	Expected *e = g->second.find(uid, guid);
	if (e == nullptr || e->removed || e->observed || e->seq >= since_seq)
		return false;
	e->observed = true;
	e->observed_uid = uid;
	unread_++;
	return true;
}

Observation Verifier::observe(std::string_view mailbox_guid, std::string_view mailbox,
			      std::uint32_t uid, std::string_view guid,
			      std::string_view sha256, bool journaled)
{
	// only the folder the journal gives this GUID to is accounted for
	// by its records (same_folder())
	auto n = names_.find(mailbox_guid);
	const bool own_folder = n == names_.end() || n->second.name == mailbox;
	auto g = own_folder ? expected_.find(mailbox_guid) : expected_.end();
	if (g != expected_.end()) {
		if (Expected *e = g->second.find(uid, guid); e != nullptr && !e->removed) {
			Expected &x = *e;
			if (x.observed)
				return Observation::Journaled;
			x.observed = true;
			x.observed_uid = uid;
			checked_++;
			if (!same_sha256(x, sha256)) {
				Problem p;
				p.kind = ProblemKind::Modified;
				p.seq = x.seq;
				p.mailbox = x.mailbox.empty() ? mailbox : x.mailbox;
				p.mailbox_guid = mailbox_guid;
				p.uid = uid;
				p.detail = mail_name(uid, p.mailbox) +
					   " was changed: the journal recorded sha256 " +
					   journaled_sha256(x) + " when it was saved (seq " +
					   std::to_string(x.seq) + "), the stored mail now has ";
				p.detail += sha256;
				add(std::move(p));
				return Observation::Modified;
			}
			return Observation::Journaled;
		}
	}
	if (g != expected_.end()) {
		// an interrupted save that reached the store, known by its hash
		if (Expected *x = g->second.find_interrupted(sha256)) {
			x->observed = true;
			x->observed_uid = uid;
			checked_++;
			return Observation::Journaled;
		}
	}
	if (g != expected_.end()) {
		// still there after its purge record: the purge is pending
		if (Expected *e = g->second.find_purged(uid, guid); e != nullptr) {
			if (e->observed)
				return Observation::Journaled;
			e->observed = true;
			checked_++;
			purge_pending_++;
			if (!same_sha256(*e, sha256)) {
				Problem p;
				p.kind = ProblemKind::Modified;
				p.seq = e->seq;
				p.mailbox = e->mailbox.empty() ? mailbox : e->mailbox;
				p.mailbox_guid = mailbox_guid;
				p.uid = uid;
				p.detail = mail_name(uid, p.mailbox) +
					   " (purge pending) was changed: the journal recorded "
					   "sha256 " + journaled_sha256(*e) + " when it was saved (seq " +
					   std::to_string(e->seq) + "), the stored mail now has ";
				p.detail += sha256;
				add(std::move(p));
				return Observation::Modified;
			}
			return Observation::Journaled;
		}
	}
	if (!journaled)
		return Observation::Other;
	// a record in a folder whose GUID the journal gives to another one
	// would count for nothing (same_folder())
	const Observation unjournaled = own_folder ? Observation::Unjournaled
						   : Observation::Other;
	if (!list_unjournaled_)
		return unjournaled;
	if (!unexpected_.emplace(std::string(mailbox_guid), uid).second)
		return unjournaled;
	Problem p;
	p.kind = ProblemKind::Unjournaled;
	p.mailbox = mailbox;
	p.mailbox_guid = mailbox_guid;
	p.uid = uid;
	p.detail = mail_name(uid, p.mailbox) +
		   " is in a journaled folder but has no save record in the journal";
	add(std::move(p));
	return unjournaled;
}

void Verifier::finish(bool only_seen_mailboxes)
{
	if (finished_)
		return;
	finished_ = true;
	for (const auto &[guid, box] : expected_) {
		auto seen = seen_.find(guid);
		if (only_seen_mailboxes && seen == seen_.end())
			continue;
		for (const Expected &x : box.mails) {
			if (x.removed)
				continue;
			const std::string name(x.mailbox.empty() ? std::string_view("(unnamed mailbox)")
								 : x.mailbox);
			if (x.interrupted) {
				note(x.seq, x.observed
					? "seq " + std::to_string(x.seq) + ": the interrupted save " +
						  "did reach the store: it is UID " +
						  std::to_string(x.observed_uid) + " in " + name
					: "seq " + std::to_string(x.seq) + ": the interrupted save " +
						  "to " + name + (x.message_id.empty() ? std::string()
									       : " (Message-ID " + std::string(x.message_id) + ")") +
						  " did not reach the store; nothing is missing");
			}
			if (x.maybe_expunged_by != 0) {
				std::string which = mail_name(x.observed ? x.observed_uid : x.uid, name, x.guid);
				note(x.maybe_expunged_by,
				     "seq " + std::to_string(x.maybe_expunged_by) + ": the interrupted "
				     "expunge of " + which + (x.observed ? " did not happen: the mail is still there"
								 : " did happen: the mail is gone"));
			}
			if (x.observed || x.interrupted || x.maybe_expunged_by != 0)
				continue;
			Problem p;
			p.kind = ProblemKind::Missing;
			p.seq = x.seq;
			p.mailbox = x.mailbox;
			p.mailbox_guid = guid;
			p.uid = x.uid;
			const std::string sha256 = journaled_sha256(x);
			std::string what = mail_name(x.uid, x.mailbox, x.guid) + " (saved as seq " +
					   std::to_string(x.seq) +
					   (sha256.empty() ? "" : ", sha256 " + sha256) + ")";
			if (seen == seen_.end()) {
				p.detail = what + " is gone: the mailbox with GUID " + guid +
					   " was not found, and no delete of it was journaled";
			} else {
				p.detail = what + " is no longer in the mailbox, and no "
						  "expunge or delete of it was journaled";
				if (x.uidvalidity != 0 && seen->second.uidvalidity != 0 &&
				    x.uidvalidity != seen->second.uidvalidity) {
					p.detail += " (the mailbox's UIDVALIDITY changed from " +
						    std::to_string(x.uidvalidity) + " to " +
						    std::to_string(seen->second.uidvalidity) +
						    ": its UIDs were renumbered)";
				}
			}
			add(std::move(p));
		}
	}
	std::stable_sort(notes_.begin(), notes_.end(),
			 [](const Note &a, const Note &b) { return a.seq < b.seq; });
}

const std::vector<Problem> &Verifier::problems() const
{
	if (!sorted_) {
		std::stable_sort(problems_.begin(), problems_.end(),
				 [](const Problem &a, const Problem &b) {
					 if (a.kind != b.kind)
						 return a.kind < b.kind;
					 if (a.seq != b.seq)
						 return a.seq < b.seq;
					 if (a.mailbox_guid != b.mailbox_guid)
						 return a.mailbox_guid < b.mailbox_guid;
					 return a.uid < b.uid;
				 });
		sorted_ = true;
	}
	return problems_;
}

BackgroundVerifier::BackgroundVerifier(std::string dir, SealCheckSettings seals)
{
	result_ = threads::with_signals_blocked([&] {
		return std::async(std::launch::async,
				  [dir = std::move(dir), seals = std::move(seals)]() {
					  return std::make_unique<Verifier>(dir, seals);
				  });
	});
}

BackgroundVerifier::~BackgroundVerifier()
{
	// std::future of std::async waits in its destructor: the thread never
	// outlives what it reads into
}

bool BackgroundVerifier::ready() const
{
	return result_.valid() &&
	       result_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

std::unique_ptr<Verifier> BackgroundVerifier::get()
{
	if (!result_.valid())
		throw std::logic_error("BackgroundVerifier::get() called twice");
	return result_.get();
}

} // namespace tresor
