// The C ABI of tresor-retention.h: thin wrappers around retention.hpp and
// the journal. No exception may cross into C.
#include "archive/tresor-retention.h"

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "archive/c_api.hpp"
#include "archive/config.hpp"
#include "archive/journal.hpp"
#include "archive/retention.hpp"
#include "common/c_abi.hpp"
#include "common/text.hpp"

namespace {

using tresor::c_abi::clear_error;
using tresor::config_of;
using tresor::c_abi::guarded;

tresor::Clock::time_point from_unix(std::int64_t secs)
{
	return tresor::Clock::time_point(std::chrono::seconds(secs));
}

std::string str_or_empty(const char *s)
{
	return s != nullptr ? std::string(s) : std::string();
}
const tresor::RetentionRule &rule_or_throw(const tresor::Config &cfg, const char *mailbox,
					   char sep)
{
	if (mailbox == nullptr)
		throw std::invalid_argument("no mailbox");
	const tresor::RetentionRule *rule = cfg.retention_rule(mailbox, sep);
	if (rule == nullptr)
		throw std::invalid_argument(std::string(mailbox) +
					    " has no tresor_retention rule");
	return *rule;
}

} // namespace

// The journal stays locked from reading to writing: a hold journaled
// meanwhile would otherwise not be seen by the decisions.
struct tresor_purge {
	std::unique_ptr<tresor::Journal> journal;
	std::optional<tresor::JournalLock> lock;
	std::unique_ptr<tresor::RetentionJournal> state;
	tresor::Config config;
	tresor::Clock::time_point now;
	std::vector<tresor::Record> queued;
	// what the last tresor_purge_mail points into
	std::string saved, end, rule, sha256, hold_scope;

	~tresor_purge()
	{
		// release the lock before the journal that holds it goes
		lock.reset();
	}
};

struct tresor_holds {
	std::vector<tresor::Hold> holds;
	std::vector<std::string> scopes;
};

extern "C" {

const char *tresor_config_retention_rule(const tresor_config *cfg, const char *mailbox,
					 char sep)
{
	static thread_local std::string text;
	try {
		if (cfg == nullptr || mailbox == nullptr)
			return nullptr;
		const tresor::RetentionRule *rule = config_of(cfg).retention_rule(mailbox, sep);
		if (rule == nullptr)
			return nullptr;
		text = rule->text();
		return text.c_str();
	} catch (...) {
		return nullptr;
	}
}

int tresor_parse_utc_time(const char *text, int64_t *unix_r)
{
	try {
		if (text == nullptr)
			return -1;
		auto t = tresor::parse_utc_time(text);
		if (!t)
			return -1;
		*unix_r = std::chrono::floor<std::chrono::seconds>(*t).time_since_epoch().count();
		return 0;
	} catch (...) {
		return -1;
	}
}

/* ---------------------------------------------------------------- purge */

tresor_purge *tresor_purge_begin(const char *dir, const tresor_config *cfg, int64_t now,
				 char *err, size_t err_size)
{
	tresor_purge *result = nullptr;
	guarded(err, err_size, [&]() {
		if (dir == nullptr)
			throw std::invalid_argument("no journal directory");
		auto p = std::make_unique<tresor_purge>();
		p->config = config_of(cfg);
		p->now = from_unix(now);
		p->journal = std::make_unique<tresor::Journal>(dir);
		p->lock.emplace(*p->journal, tresor::Journal::kAppendLockTimeoutMs);
		p->state = std::make_unique<tresor::RetentionJournal>(dir);
		result = p.release();
		clear_error(err, err_size);
		return 0;
	});
	return result;
}

int tresor_purge_check_hashed(tresor_purge *p, const char *mailbox, char sep,
			      const char *mailbox_guid, uint32_t uid, const char *guid,
			      const char *sha256, tresor_purge_mail *mail_r, char *err,
			      size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (p == nullptr || mail_r == nullptr || mailbox_guid == nullptr)
			throw std::invalid_argument("tresor_purge_check: missing argument");
		const tresor::RetentionRule &rule = rule_or_throw(p->config, mailbox, sep);
		tresor::PurgeDecision d =
			tresor::decide_purge(*p->state, rule, mailbox_guid, uid, str_or_empty(guid),
					     p->now, str_or_empty(sha256));
		p->rule = rule.text();
		p->saved = d.save != nullptr ? d.save->time : "";
		p->end = d.end ? tresor::format_utc_seconds(*d.end) : "";
		p->sha256 = d.save != nullptr ? d.save->sha256 : "";
		p->hold_scope = d.hold != nullptr ? d.hold->scope() : "";
		*mail_r = tresor_purge_mail{};
		mail_r->status = static_cast<tresor_purge_status>(d.status);
		mail_r->status_name = tresor::purge_status_name(d.status);
		mail_r->save_seq = d.save != nullptr ? d.save->seq : 0;
		mail_r->saved = p->saved.c_str();
		mail_r->retention_end = p->end.c_str();
		mail_r->rule = p->rule.c_str();
		mail_r->sha256 = p->sha256.c_str();
		mail_r->purge_seq = d.save != nullptr ? d.save->purge_seq : 0;
		mail_r->hold_seq = d.hold != nullptr ? d.hold->seq : 0;
		mail_r->hold_scope = p->hold_scope.c_str();
		clear_error(err, err_size);
		return 0;
	});
}

int tresor_purge_check(tresor_purge *p, const char *mailbox, char sep,
		       const char *mailbox_guid, uint32_t uid, const char *guid,
		       tresor_purge_mail *mail_r, char *err, size_t err_size)
{
	return tresor_purge_check_hashed(p, mailbox, sep, mailbox_guid, uid, guid, nullptr,
					 mail_r, err, err_size);
}

int tresor_purge_wants_hashes(tresor_purge *p, const char *mailbox_guid)
{
	try {
		if (p == nullptr || mailbox_guid == nullptr)
			return 0;
		return p->state->has_unlocated_interrupted(mailbox_guid) ? 1 : 0;
	} catch (...) {
		return 0;
	}
}

int tresor_purge_add(tresor_purge *p, const char *mailbox, char sep,
		     const char *mailbox_guid, uint32_t uidvalidity, uint32_t uid,
		     const char *guid, const char *service, const char *session,
		     char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (p == nullptr || mailbox_guid == nullptr)
			throw std::invalid_argument("tresor_purge_add: missing argument");
		const tresor::RetentionRule &rule = rule_or_throw(p->config, mailbox, sep);
		std::string g = str_or_empty(guid);
		tresor::PurgeDecision d =
			tresor::decide_purge(*p->state, rule, mailbox_guid, uid, g, p->now);
		if (d.status != tresor::PurgeStatus::Expired)
			throw std::invalid_argument(
				"UID " + std::to_string(uid) + " in " + mailbox +
				" is not to be purged (" +
				tresor::purge_status_name(d.status) + ")");
		tresor::Record rec = tresor::purge_record(*d.save, rule, *d.end, mailbox,
							  mailbox_guid, uidvalidity, uid, g);
		if (service != nullptr)
			rec.service = service;
		if (session != nullptr)
			rec.session = session;
		p->queued.push_back(std::move(rec));
		clear_error(err, err_size);
		return 0;
	});
}

int tresor_purge_write(tresor_purge *p, uint64_t *first_seq_r, char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (p == nullptr)
			throw std::invalid_argument("tresor_purge_write: no purge");
		if (first_seq_r != nullptr)
			*first_seq_r = 0;
		if (p->queued.empty()) {
			clear_error(err, err_size);
			return 0;
		}
		std::vector<std::uint64_t> seqs =
			p->journal->append_batch(std::move(p->queued), tresor::Clock::now());
		p->queued.clear();
		if (first_seq_r != nullptr && !seqs.empty())
			*first_seq_r = seqs.front();
		clear_error(err, err_size);
		return 0;
	});
}

void tresor_purge_end(tresor_purge *p)
{
	delete p;
}

/* ---------------------------------------------------------------- holds */

int tresor_hold_add(const char *dir, const tresor_hold_spec *spec, uint64_t *seq_r,
		    char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (dir == nullptr || spec == nullptr)
			throw std::invalid_argument("tresor_hold_add: missing argument");
		std::string guid = str_or_empty(spec->mailbox_guid);
		if (spec->uid != 0 && guid.empty())
			throw std::invalid_argument("a hold by UID needs its mailbox");
		std::string message_id = str_or_empty(spec->message_id);
		if (tresor::text::has_control_char(message_id) || message_id.size() >= TRESOR_MESSAGE_ID_MAX ||
		    (spec->message_id != nullptr &&
		     tresor::normalize_message_id(message_id).empty()))
			throw std::invalid_argument("invalid Message-ID");
		tresor::Record rec;
		rec.event = "hold";
		if (spec->mailbox != nullptr && !guid.empty())
			rec.mailbox = spec->mailbox;
		if (!guid.empty())
			rec.mailbox_guid = guid;
		rec.uid = spec->uid;
		if (!message_id.empty())
			rec.message_id = message_id;
		if (spec->service != nullptr)
			rec.service = spec->service;
		if (spec->session != nullptr)
			rec.session = spec->session;
		rec.reason = spec->reason != nullptr && spec->reason[0] != '\0'
				     ? std::string(spec->reason)
				     : std::string("legal hold");
		tresor::Journal journal(dir);
		std::uint64_t seq = journal.append(rec);
		if (seq_r != nullptr)
			*seq_r = seq;
		clear_error(err, err_size);
		return 0;
	});
}

int tresor_hold_remove(const char *dir, uint64_t hold_seq, const char *reason,
		       const char *service, const char *session, uint64_t *seq_r,
		       char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (dir == nullptr)
			throw std::invalid_argument("no journal directory");
		tresor::Journal journal(dir);
		tresor::JournalLock lock(journal, tresor::Journal::kAppendLockTimeoutMs);
		tresor::RetentionJournal state(dir);
		if (state.holds().find(hold_seq) == nullptr)
			return 0;
		tresor::Record rec;
		rec.event = "unhold";
		rec.reason = reason != nullptr && reason[0] != '\0'
				     ? std::string(reason)
				     : std::string("legal hold lifted");
		if (service != nullptr)
			rec.service = service;
		if (session != nullptr)
			rec.session = session;
		rec.extra.emplace_back("hold_seq", hold_seq);
		std::uint64_t seq = journal.append(rec);
		if (seq_r != nullptr)
			*seq_r = seq;
		clear_error(err, err_size);
		return 1;
	});
}

tresor_holds *tresor_holds_read(const char *dir, char *err, size_t err_size)
{
	tresor_holds *result = nullptr;
	guarded(err, err_size, [&]() {
		if (dir == nullptr)
			throw std::invalid_argument("no journal directory");
		auto h = std::make_unique<tresor_holds>();
		tresor::RetentionJournal state(dir);
		h->holds = state.holds().active();
		for (const tresor::Hold &hold : h->holds)
			h->scopes.push_back(hold.scope());
		result = h.release();
		clear_error(err, err_size);
		return 0;
	});
	return result;
}

size_t tresor_holds_count(const tresor_holds *h)
{
	return h != nullptr ? h->holds.size() : 0;
}

int tresor_holds_get(const tresor_holds *h, size_t idx, tresor_hold_info *info_r)
{
	if (h == nullptr || info_r == nullptr || idx >= h->holds.size())
		return -1;
	const tresor::Hold &hold = h->holds[idx];
	info_r->seq = hold.seq;
	info_r->time = hold.time.c_str();
	info_r->mailbox = hold.mailbox.c_str();
	info_r->mailbox_guid = hold.mailbox_guid.c_str();
	info_r->uid = hold.uid;
	info_r->message_id = hold.message_id.c_str();
	info_r->reason = hold.reason.c_str();
	info_r->scope = h->scopes[idx].c_str();
	return 0;
}

void tresor_holds_free(tresor_holds *h)
{
	delete h;
}

} // extern "C"
