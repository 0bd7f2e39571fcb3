// The C ABI of tresor.h: thin wrappers around the C++ core. No exception
// may cross into C: every entry point catches everything.
#include "archive/tresor.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "archive/c_api.hpp"
#include "archive/config.hpp"
#include "archive/hash_pipeline.hpp"
#include "archive/hasher.hpp"
#include "archive/invoices.hpp"
#include "archive/journal.hpp"
#include "archive/journal_reader.hpp"
#include "archive/retention.hpp"
#include "archive/verify.hpp"
#include "common/c_abi.hpp"

struct tresor_config {
	tresor::Config c;
};

struct tresor_hasher {
	std::optional<tresor::Hasher> h;
	bool failed = false;
	bool finished = false;
	tresor_hash_result result{};
};

struct tresor_hash_pipeline {
	tresor_hash_pipeline(const tresor::Config &cfg, tresor::Hasher::Hashes hashes)
		: p(cfg, hashes)
	{
	}
	tresor::HashPipeline p;
};

struct tresor_journal {
	std::unique_ptr<tresor::Journal> j;
};

struct tresor_journal_reader {
	std::unique_ptr<tresor::JournalReader> r;
	std::vector<std::string> values;
	std::vector<const char *> ptrs;
};

struct tresor_verify {
	std::unique_ptr<tresor::Verifier> v;
	mutable std::vector<tresor_problem> views;
	mutable std::uint64_t views_generation = ~std::uint64_t(0);
	mutable std::vector<tresor_note> note_views;
};

namespace {

using tresor::c_abi::clear_error;
using tresor::c_abi::guarded;
using tresor::c_abi::copy_out;
using tresor::c_abi::new_handle;
using tresor::c_abi::set_error;

std::optional<std::string> opt(const char *s)
{
	if (s == nullptr)
		return std::nullopt;
	return std::string(s);
}

tresor::Record to_record(const tresor_record *rec)
{
	tresor::Record r;
	if (rec->event == nullptr || rec->event[0] == '\0')
		throw std::invalid_argument("journal record without an event");
	r.event = rec->event;
	r.mailbox = opt(rec->mailbox);
	r.mailbox_guid = opt(rec->mailbox_guid);
	r.uidvalidity = rec->uidvalidity;
	r.uid = rec->uid;
	r.guid = opt(rec->guid);
	r.size = rec->size;
	r.sha256 = opt(rec->sha256);
	r.imap_sha256 = opt(rec->imap_sha256);
	r.content_sha256 = opt(rec->content_sha256);
	r.message_id = opt(rec->message_id);
	r.internaldate = opt(rec->internaldate);
	r.duplicate_of = rec->duplicate_of;
	r.content_duplicate_of = rec->content_duplicate_of;
	r.archive = rec->archive != 0 ? 1 : 0;
	r.action = opt(rec->action);
	r.new_mailbox = opt(rec->new_mailbox);
	r.service = opt(rec->service);
	r.session = opt(rec->session);
	r.reason = opt(rec->reason);
	if (rec->invoice != nullptr) {
		tresor::json fields = tresor::json::object();
		for (const char *const *kv = rec->invoice; kv[0] != nullptr; kv += 2) {
			if (kv[1] == nullptr)
				throw std::invalid_argument("invoice field without a value");
			fields[kv[0]] = kv[1];
		}
		r.extra.emplace_back("invoice", std::move(fields));
	}
	return r;
}

tresor::SealCheckSettings seal_settings(const tresor_config *cfg, const char *user)
{
	tresor::SealCheckSettings seals;
	seals.user = user != nullptr ? user : "";
	if (cfg != nullptr) {
		seals.pubkey_file = cfg->c.seal_pubkey;
		seals.tsa_ca_file = cfg->c.tsa_ca;
	}
	return seals;
}

// make() builds the Verifier; a key or CA file that can't be used sets
// *config_error_r
template <class F>
tresor_verify *new_verify(int *config_error_r, char *err, size_t err_size, F &&make)
{
	if (config_error_r != nullptr)
		*config_error_r = 0;
	return new_handle(err, err_size, [&]() {
		auto p = std::make_unique<tresor_verify>();
		try {
			p->v = make();
		} catch (const tresor::SealSetupError &) {
			if (config_error_r != nullptr)
				*config_error_r = 1;
			throw;
		}
		return p;
	});
}

} // namespace

const tresor::Config &tresor::config_of(const tresor_config *cfg)
{
	static const tresor::Config defaults;
	return cfg != nullptr ? cfg->c : defaults;
}

extern "C" {

/* ---------------------------------------------------------------- config */

tresor_config *tresor_config_new(void)
{
	try {
		return new tresor_config();
	} catch (...) {
		return nullptr;
	}
}

void tresor_config_free(tresor_config *cfg)
{
	delete cfg;
}

const char *const *tresor_config_setting_names(void)
{
	return tresor::Config::setting_names();
}

int tresor_config_set(tresor_config *cfg, const char *name, const char *value,
		      char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (cfg == nullptr || name == nullptr)
			throw std::invalid_argument("tresor_config_set: no config or no name");
		if (value == nullptr)
			throw std::invalid_argument(std::string(name) + ": no value");
		cfg->c.set(name, value);
		clear_error(err, err_size);
		return 0;
	});
}

const char *tresor_config_dir(const tresor_config *cfg)
{
	return cfg != nullptr ? cfg->c.dir.c_str() : "~/tresor";
}

enum tresor_journal_scope tresor_config_journal_scope(const tresor_config *cfg)
{
	if (cfg != nullptr && cfg->c.journal == tresor::JournalScope::Archive)
		return TRESOR_JOURNAL_ARCHIVE;
	return TRESOR_JOURNAL_ALL;
}

enum tresor_duplicate_policy tresor_config_duplicates(const tresor_config *cfg)
{
	if (cfg != nullptr && cfg->c.duplicates == tresor::DuplicatePolicy::Drop)
		return TRESOR_DUPLICATES_DROP;
	return TRESOR_DUPLICATES_KEEP;
}

enum tresor_duplicate_policy tresor_config_content_duplicates(const tresor_config *cfg)
{
	if (cfg != nullptr && cfg->c.content_duplicates == tresor::DuplicatePolicy::Drop)
		return TRESOR_DUPLICATES_DROP;
	return TRESOR_DUPLICATES_KEEP;
}

const char *tresor_config_seal_key(const tresor_config *cfg)
{
	return cfg != nullptr ? cfg->c.seal_key.c_str() : "";
}

const char *tresor_config_seal_pubkey(const tresor_config *cfg)
{
	return cfg != nullptr ? cfg->c.seal_pubkey.c_str() : "";
}

const char *tresor_config_tsa_ca(const tresor_config *cfg)
{
	return cfg != nullptr ? cfg->c.tsa_ca.c_str() : "";
}

int tresor_config_is_archive(const tresor_config *cfg, const char *mailbox, char sep)
{
	try {
		return cfg != nullptr && mailbox != nullptr && cfg->c.is_archive(mailbox, sep);
	} catch (...) {
		return 0;
	}
}

int tresor_config_has_archive_children(const tresor_config *cfg, const char *mailbox,
				       char sep)
{
	try {
		return cfg != nullptr && mailbox != nullptr &&
		       cfg->c.has_archive_children(mailbox, sep);
	} catch (...) {
		return 0;
	}
}

int tresor_config_is_journaled(const tresor_config *cfg, const char *mailbox, char sep)
{
	try {
		if (cfg == nullptr)
			return 1; // the default scope is "all"
		return mailbox != nullptr && cfg->c.is_journaled(mailbox, sep);
	} catch (...) {
		return 0;
	}
}

/* ---------------------------------------------------------------- hasher */

namespace {

void copy_hash_result(const tresor::HashResult &r, tresor_hash_result *out)
{
	copy_out(out->sha256, sizeof(out->sha256), r.sha256);
	copy_out(out->content_sha256, sizeof(out->content_sha256), r.content_sha256);
	out->size = r.size;
	copy_out(out->message_id, sizeof(out->message_id), r.message_id);
	copy_out(out->imap_sha256, sizeof(out->imap_sha256), r.imap_sha256);
}

tresor_hasher *new_hasher(const tresor_config *cfg, tresor::Hasher::Hashes hashes)
{
	tresor_hasher *h = nullptr;
	try {
		h = new tresor_hasher();
		if (cfg != nullptr)
			h->h.emplace(cfg->c, hashes);
		else
			h->h.emplace(tresor::Config{}, hashes);
		return h;
	} catch (...) {
		delete h;
		return nullptr;
	}
}

} // namespace

tresor_hasher *tresor_hasher_new(const tresor_config *cfg)
{
	return new_hasher(cfg, tresor::Hasher::Hashes::Both);
}

tresor_hasher *tresor_hasher_new_sha256_only(const tresor_config *cfg)
{
	return new_hasher(cfg, tresor::Hasher::Hashes::Sha256Only);
}

void tresor_hasher_update(tresor_hasher *h, const void *data, size_t size)
{
	if (h == nullptr || h->failed || h->finished || (data == nullptr && size > 0))
		return;
	try {
		h->h->update(data, size);
	} catch (...) {
		h->failed = true;
	}
}

int tresor_hasher_finish(tresor_hasher *h, tresor_hash_result *result_r)
{
	if (result_r == nullptr)
		return -1;
	std::memset(result_r, 0, sizeof(*result_r));
	if (h == nullptr)
		return -1;
	if (!h->finished) {
		h->finished = true;
		if (!h->failed) {
			try {
				copy_hash_result(h->h->finish(), &h->result);
			} catch (...) {
				h->failed = true;
			}
		}
		if (h->failed)
			std::memset(&h->result, 0, sizeof(h->result));
	}
	*result_r = h->result;
	return h->failed ? -1 : 0;
}

void tresor_hasher_reset(tresor_hasher *h)
{
	if (h == nullptr)
		return;
	try {
		h->h->reset();
		h->failed = false;
	} catch (...) {
		h->failed = true; // finish() then reports it
	}
	h->finished = false;
	std::memset(&h->result, 0, sizeof(h->result));
}

void tresor_hasher_free(tresor_hasher *h)
{
	delete h;
}

/* ----------------------------------------------------- hash pipeline */

tresor_hash_pipeline *tresor_hash_pipeline_new_sha256_only(const tresor_config *cfg, char *err,
							   size_t err_size)
{
	return new_handle(err, err_size, [&]() {
		return std::make_unique<tresor_hash_pipeline>(
			cfg != nullptr ? cfg->c : tresor::Config{},
			tresor::Hasher::Hashes::Sha256Only);
	});
}

int tresor_hash_pipeline_begin(tresor_hash_pipeline *p, uint64_t tag, char *err,
			       size_t err_size)
{
	return guarded(err, err_size, [&]() {
		p->p.begin(tag);
		return 0;
	});
}

int tresor_hash_pipeline_append(tresor_hash_pipeline *p, const void *data, size_t size,
				char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		p->p.append(data, size);
		return 0;
	});
}

int tresor_hash_pipeline_end(tresor_hash_pipeline *p, char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		p->p.end();
		return 0;
	});
}

void tresor_hash_pipeline_cancel(tresor_hash_pipeline *p)
{
	try {
		p->p.cancel();
	} catch (...) {
		// the thread failed: the next call says so
	}
}

int tresor_hash_pipeline_next(tresor_hash_pipeline *p, int wait, uint64_t *tag_r, int *hashed_r,
			      tresor_hash_result *result_r, char *err, size_t err_size)
{
	*hashed_r = 0;
	return guarded(err, err_size, [&]() {
		tresor::HashPipeline::Result r;
		if (!p->p.next(r, wait != 0))
			return 0;
		*tag_r = r.tag;
		// (not for every call: the result is 1.2 KB, most calls find none)
		std::memset(result_r, 0, sizeof(*result_r));
		if (r.ok) {
			copy_hash_result(r.hashes, result_r);
			*hashed_r = 1;
		}
		return 1;
	});
}

size_t tresor_hash_pipeline_pending(const tresor_hash_pipeline *p)
{
	return p->p.pending();
}

void tresor_hash_pipeline_free(tresor_hash_pipeline *p)
{
	delete p;
}

/* ----------------------------------------------------------- journal */

tresor_journal *tresor_journal_open(const char *dir, char *err, size_t err_size)
{
	return new_handle(err, err_size, [&]() {
		if (dir == nullptr)
			throw std::invalid_argument("no journal directory");
		auto p = std::make_unique<tresor_journal>();
		p->j = std::make_unique<tresor::Journal>(dir);
		return p;
	});
}

void tresor_journal_close(tresor_journal *j)
{
	try {
		delete j;
	} catch (...) {
	}
}

int tresor_journal_lock(tresor_journal *j, unsigned int timeout_ms, char *err,
			size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (j == nullptr)
			throw std::invalid_argument("no journal");
		j->j->lock(timeout_ms);
		clear_error(err, err_size);
		return 0;
	});
}

void tresor_journal_unlock(tresor_journal *j)
{
	if (j != nullptr)
		j->j->unlock();
}

int tresor_journal_lock_fd(const tresor_journal *j)
{
	return j == nullptr ? -1 : j->j->lock_fd();
}

int tresor_journal_append(tresor_journal *j, const tresor_record *rec, uint64_t *seq_r,
			  char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (j == nullptr || rec == nullptr)
			throw std::invalid_argument("no journal or no record");
		std::uint64_t seq = j->j->append(to_record(rec));
		if (seq_r != nullptr)
			*seq_r = seq;
		clear_error(err, err_size);
		return 0;
	});
}

static int append_batch(tresor_journal *j, const tresor_record *recs,
			size_t count, uint64_t *seqs_r, bool flush,
			char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (j == nullptr || (recs == nullptr && count > 0))
			throw std::invalid_argument("no journal or no records");
		std::vector<tresor::Record> batch;
		batch.reserve(count);
		for (size_t i = 0; i < count; i++)
			batch.push_back(to_record(&recs[i]));
		std::vector<std::uint64_t> seqs = flush ?
			j->j->append_batch(std::move(batch), tresor::Clock::now()) :
			j->j->append_batch_unflushed(std::move(batch),
						     tresor::Clock::now());
		if (seqs_r != nullptr)
			std::copy(seqs.begin(), seqs.end(), seqs_r);
		clear_error(err, err_size);
		return 0;
	});
}

int tresor_journal_append_batch(tresor_journal *j, const tresor_record *recs,
				size_t count, uint64_t *seqs_r, char *err,
				size_t err_size)
{
	return append_batch(j, recs, count, seqs_r, true, err, err_size);
}

int tresor_journal_append_batch_unflushed(tresor_journal *j,
					  const tresor_record *recs,
					  size_t count, uint64_t *seqs_r,
					  char *err, size_t err_size)
{
	return append_batch(j, recs, count, seqs_r, false, err, err_size);
}

int tresor_journal_flush(tresor_journal *j, char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (j == nullptr)
			throw std::invalid_argument("no journal");
		j->j->flush();
		clear_error(err, err_size);
		return 0;
	});
}

int tresor_journal_write_intent(tresor_journal *j, const tresor_record *recs,
				size_t count, char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (j == nullptr || (recs == nullptr && count > 0))
			throw std::invalid_argument("no journal or no records");
		std::vector<tresor::Record> batch;
		batch.reserve(count);
		for (size_t i = 0; i < count; i++)
			batch.push_back(to_record(&recs[i]));
		j->j->write_intent(batch);
		clear_error(err, err_size);
		return 0;
	});
}

int tresor_journal_end_intent(tresor_journal *j, char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (j == nullptr)
			throw std::invalid_argument("no journal");
		j->j->end_intent();
		clear_error(err, err_size);
		return 0;
	});
}

const char *tresor_journal_last_recovery(const tresor_journal *j, uint64_t *recovered_r)
{
	if (recovered_r != nullptr)
		*recovered_r = j == nullptr ? 0 : j->j->last_recovered_count();
	return j == nullptr ? "" : j->j->last_recovery_error().c_str();
}

int tresor_journal_find_duplicate(tresor_journal *j, const char *mailbox_guid,
				  const char *hash, int content, uint64_t *seq_r,
				  uint32_t *uid_r, char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (j == nullptr || mailbox_guid == nullptr || hash == nullptr)
			throw std::invalid_argument("find_duplicate: no journal, mailbox GUID or hash");
		auto d = j->j->find_duplicate(mailbox_guid, hash, content != 0);
		clear_error(err, err_size);
		if (!d)
			return 0;
		if (seq_r != nullptr)
			*seq_r = d->seq;
		if (uid_r != nullptr)
			*uid_r = d->uid;
		return 1;
	});
}

int tresor_journal_mailbox_has_saves(tresor_journal *j, const char *mailbox_guid,
				     char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (j == nullptr || mailbox_guid == nullptr)
			throw std::invalid_argument("mailbox_has_saves: no journal or mailbox GUID");
		bool known = j->j->mailbox_has_saves(mailbox_guid);
		clear_error(err, err_size);
		return known ? 1 : 0;
	});
}

void tresor_format_utc_time(int64_t unix_time, char buf[TRESOR_UTC_TIME_SIZE])
{
	buf[0] = '\0';
	try {
		using namespace std::chrono;
		// what Clock (nanoseconds) can hold
		constexpr std::int64_t limit =
			duration_cast<seconds>(tresor::Clock::duration::max()).count() - 1;
		if (unix_time > limit || unix_time < -limit)
			return;
		std::string t = tresor::format_utc_seconds(
			tresor::Clock::time_point(duration_cast<tresor::Clock::duration>(
				seconds(unix_time))));
		std::snprintf(buf, TRESOR_UTC_TIME_SIZE, "%s", t.c_str());
	} catch (...) {
		buf[0] = '\0';
	}
}

/* ------------------------------------------------------- journal reading */

const char *const *tresor_journal_field_names(void)
{
	return tresor::journal_field_names();
}

tresor_journal_reader *tresor_journal_reader_open(const char *dir, char *err,
						  size_t err_size)
{
	return new_handle(err, err_size, [&]() {
		if (dir == nullptr)
			throw std::invalid_argument("no journal directory");
		auto p = std::make_unique<tresor_journal_reader>();
		p->r = std::make_unique<tresor::JournalReader>(dir);
		return p;
	});
}

int tresor_journal_reader_next(tresor_journal_reader *r, const char *const **values_r,
			       char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (r == nullptr)
			throw std::invalid_argument("no journal reader");
		std::string error;
		int rc = r->r->next(r->values, error);
		if (rc < 0) {
			set_error(err, err_size, error.c_str());
			return -1;
		}
		if (rc == 0) {
			clear_error(err, err_size);
			return 0;
		}
		r->ptrs.clear();
		for (const std::string &v : r->values)
			r->ptrs.push_back(v.c_str());
		r->ptrs.push_back(nullptr);
		if (values_r != nullptr)
			*values_r = r->ptrs.data();
		clear_error(err, err_size);
		return 1;
	});
}

void tresor_journal_reader_free(tresor_journal_reader *r)
{
	delete r;
}

int tresor_journal_get_status(const char *dir, tresor_journal_status *st_r, char *err,
			      size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (dir == nullptr || st_r == nullptr)
			throw std::invalid_argument("no journal directory or no status");
		tresor::JournalStatus st = tresor::journal_status(dir);
		std::memset(st_r, 0, sizeof(*st_r));
		st_r->records = st.records;
		st_r->head_seq = st.head_seq;
		copy_out(st_r->head_sha256, sizeof(st_r->head_sha256), st.head_sha256);
		std::string files;
		for (const std::string &f : st.files) {
			std::string next = files.empty() ? f : files + " " + f;
			if (next.size() >= sizeof(st_r->files)) {
				if (files.size() + 4 < sizeof(st_r->files))
					files += " ...";
				break;
			}
			files = std::move(next);
		}
		copy_out(st_r->files, sizeof(st_r->files), files);
		clear_error(err, err_size);
		return 0;
	});
}

int tresor_journal_head(const char *dir, uint64_t *seq_r,
			char sha256_r[TRESOR_SHA256_HEX_SIZE], char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (dir == nullptr || seq_r == nullptr || sha256_r == nullptr)
			throw std::invalid_argument("no journal directory or no result");
		tresor::JournalPos head = tresor::read_journal_head(dir);
		*seq_r = head.seq;
		copy_out(sha256_r, TRESOR_SHA256_HEX_SIZE, head.hash);
		clear_error(err, err_size);
		return 0;
	});
}

/* ---------------------------------------------------------------- verify */

tresor_verify *tresor_verify_new(const char *dir, char *err, size_t err_size)
{
	return new_handle(err, err_size, [&]() {
		if (dir == nullptr)
			throw std::invalid_argument("no journal directory");
		auto p = std::make_unique<tresor_verify>();
		p->v = std::make_unique<tresor::Verifier>(dir);
		return p;
	});
}

tresor_verify *tresor_verify_new_with_seals(const char *dir, const tresor_config *cfg,
					    const char *user, int *config_error_r,
					    char *err, size_t err_size)
{
	return new_verify(config_error_r, err, err_size, [&]() {
		if (dir == nullptr)
			throw std::invalid_argument("no journal directory");
		return std::make_unique<tresor::Verifier>(dir, seal_settings(cfg, user));
	});
}

struct tresor_verify_loader {
	std::unique_ptr<tresor::BackgroundVerifier> b;
};

tresor_verify_loader *tresor_verify_load_begin(const char *dir, const tresor_config *cfg,
					       const char *user, char *err, size_t err_size)
{
	return new_handle(err, err_size, [&]() {
		if (dir == nullptr)
			throw std::invalid_argument("no journal directory");
		auto p = std::make_unique<tresor_verify_loader>();
		p->b = std::make_unique<tresor::BackgroundVerifier>(dir,
								    seal_settings(cfg, user));
		return p;
	});
}

int tresor_verify_load_ready(const tresor_verify_loader *loader)
{
	return loader != nullptr && loader->b->ready() ? 1 : 0;
}

tresor_verify *tresor_verify_load_end(tresor_verify_loader *loader, int *config_error_r,
				      char *err, size_t err_size)
{
	std::unique_ptr<tresor_verify_loader> owned(loader);
	return new_verify(config_error_r, err, err_size, [&]() {
		if (!owned)
			throw std::invalid_argument("no journal being read");
		return owned->b->get();
	});
}

void tresor_verify_list_unjournaled(tresor_verify *v, int list)
{
	if (v != nullptr)
		v->v->list_unjournaled(list != 0);
}

int tresor_verify_chain_broken(const tresor_verify *v)
{
	// (unknown counts as broken: adopt then refuses)
	try {
		return v == nullptr || v->v->chain_broken() ? 1 : 0;
	} catch (...) {
		return 1;
	}
}

int tresor_verify_mailbox_expected(const tresor_verify *v, const char *mailbox_guid)
{
	try {
		return v != nullptr && mailbox_guid != nullptr &&
		       v->v->mailbox_expected(mailbox_guid);
	} catch (...) {
		return 0;
	}
}

void tresor_verify_mailbox_seen(tresor_verify *v, const char *mailbox_guid,
				const char *mailbox, uint32_t uidvalidity)
{
	if (v == nullptr || mailbox_guid == nullptr)
		return;
	try {
		v->v->mailbox_seen(mailbox_guid, mailbox != nullptr ? mailbox : std::string_view(),
				   uidvalidity);
	} catch (...) {
	}
}

enum tresor_observation tresor_verify_observe(tresor_verify *v, const char *mailbox_guid,
						const char *mailbox, uint32_t uid,
						const char *guid, const char *sha256,
						int journaled)
{
	if (v == nullptr || mailbox_guid == nullptr)
		return TRESOR_OBSERVED_OTHER;
	try {
		// views: no copies of the strings per mail
		auto view = [](const char *s) {
			return s != nullptr ? std::string_view(s) : std::string_view();
		};
		tresor::Observation o = v->v->observe(mailbox_guid, view(mailbox), uid, view(guid),
						      view(sha256), journaled != 0);
		static_assert(static_cast<int>(tresor::Observation::Unjournaled) ==
			      TRESOR_OBSERVED_UNJOURNALED);
		return static_cast<enum tresor_observation>(o);
	} catch (...) {
		// (out of memory) never taken for unjournaled
		return TRESOR_OBSERVED_OTHER;
	}
}

void tresor_verify_finish(tresor_verify *v, int only_seen_mailboxes)
{
	if (v == nullptr)
		return;
	try {
		v->v->finish(only_seen_mailboxes != 0);
	} catch (...) {
	}
}

static const std::vector<tresor_problem> *problem_views(const tresor_verify *v)
{
	const std::vector<tresor::Problem> &ps = v->v->problems();
	if (v->views_generation != v->v->generation()) {
		v->views.clear();
		v->views.reserve(ps.size());
		for (const tresor::Problem &p : ps) {
			tresor_problem c{};
			c.kind = static_cast<tresor_problem_kind>(p.kind);
			c.kind_name = tresor::problem_kind_name(p.kind);
			c.seq = p.seq;
			c.mailbox = p.mailbox.c_str();
			c.mailbox_guid = p.mailbox_guid.c_str();
			c.uid = p.uid;
			c.detail = p.detail.c_str();
			v->views.push_back(c);
		}
		v->views_generation = v->v->generation();
	}
	return &v->views;
}

size_t tresor_verify_problem_count(const tresor_verify *v)
{
	if (v == nullptr)
		return 0;
	try {
		return problem_views(v)->size();
	} catch (...) {
		return 0;
	}
}

const tresor_problem *tresor_verify_problem(const tresor_verify *v, size_t idx)
{
	if (v == nullptr)
		return nullptr;
	try {
		const std::vector<tresor_problem> *views = problem_views(v);
		return idx < views->size() ? &(*views)[idx] : nullptr;
	} catch (...) {
		return nullptr;
	}
}

int tresor_verify_observe_unread(tresor_verify *v, const char *mailbox_guid,
				 const char *mailbox, uint32_t uid, const char *guid,
				 uint64_t since_seq)
{
	if (v == nullptr || mailbox_guid == nullptr)
		return 0;
	try {
		return v->v->observe_unread(mailbox_guid,
					    mailbox != nullptr ? mailbox : "", uid,
					    guid != nullptr ? guid : "", since_seq)
			       ? 1
			       : 0;
	} catch (...) {
		return 0; // (out of memory) then read it
	}
}

uint64_t tresor_verify_last_seal_seq(const tresor_verify *v)
{
	return v != nullptr ? v->v->last_seal_seq() : 0;
}

uint64_t tresor_verify_unread_count(const tresor_verify *v)
{
	return v != nullptr ? v->v->unread_count() : 0;
}

uint64_t tresor_verify_checked_count(const tresor_verify *v)
{
	return v != nullptr ? v->v->checked_count() : 0;
}

uint64_t tresor_verify_record_count(const tresor_verify *v)
{
	return v == nullptr ? 0 : v->v->lines();
}

uint64_t tresor_verify_purge_pending_count(const tresor_verify *v)
{
	return v == nullptr ? 0 : v->v->purge_pending_count();
}

static const std::vector<tresor_note> &note_views(const tresor_verify *v)
{
	const std::vector<tresor::Note> &notes = v->v->notes();
	v->note_views.clear();
	v->note_views.reserve(notes.size());
	for (const tresor::Note &n : notes)
		v->note_views.push_back(tresor_note{n.seq, n.detail.c_str()});
	return v->note_views;
}

size_t tresor_verify_note_count(const tresor_verify *v)
{
	if (v == nullptr)
		return 0;
	try {
		return note_views(v).size();
	} catch (...) {
		return 0;
	}
}

const tresor_note *tresor_verify_note(const tresor_verify *v, size_t idx)
{
	if (v == nullptr)
		return nullptr;
	try {
		if (v->note_views.size() != v->v->notes().size())
			note_views(v);
		return idx < v->note_views.size() ? &v->note_views[idx] : nullptr;
	} catch (...) {
		return nullptr;
	}
}

void tresor_verify_free(tresor_verify *v)
{
	delete v;
}

/* ------------------------------------------------------- invoice register */

struct tresor_invoices {
	std::vector<tresor::InvoiceEntry> entries;
	std::vector<std::vector<const char *>> field_views;
	std::string csv;
};

const char *const *tresor_invoice_field_names(void)
{
	static const std::vector<const char *> names = [] {
		std::vector<const char *> v;
		for (const std::string &name : tresor::invoice_field_names())
			v.push_back(name.c_str());
		v.push_back(nullptr);
		return v;
	}();
	return names.data();
}

tresor_invoices *tresor_invoices_read(const char *dir, const char *from, const char *to,
				      const char *verdict, const char *supplier, char *err,
				      size_t err_size)
{
	return new_handle(err, err_size, [&]() {
		if (dir == nullptr)
			throw std::invalid_argument("no journal directory");
		tresor::InvoiceFilter filter;
		filter.from = from != nullptr ? from : "";
		filter.to = to != nullptr ? to : "";
		filter.verdict = verdict != nullptr ? verdict : "";
		filter.supplier = supplier != nullptr ? supplier : "";
		auto r = std::make_unique<tresor_invoices>();
		r->entries = tresor::read_invoice_register(dir, filter);
		for (const tresor::InvoiceEntry &e : r->entries) {
			std::vector<const char *> view;
			for (const std::string &f : e.fields)
				view.push_back(f.c_str());
			view.push_back(nullptr);
			r->field_views.push_back(std::move(view));
		}
		return r;
	});
}

size_t tresor_invoices_count(const tresor_invoices *r)
{
	return r != nullptr ? r->entries.size() : 0;
}

int tresor_invoices_get(const tresor_invoices *r, size_t idx, tresor_invoice_entry *entry_r)
{
	if (r == nullptr || entry_r == nullptr || idx >= r->entries.size())
		return -1;
	const tresor::InvoiceEntry &e = r->entries[idx];
	entry_r->seq = e.seq;
	entry_r->time = e.time.c_str();
	entry_r->save_seq = e.save_seq;
	entry_r->mailbox = e.mailbox.c_str();
	entry_r->mailbox_guid = e.mailbox_guid.c_str();
	entry_r->uidvalidity = e.uidvalidity;
	entry_r->uid = e.uid;
	entry_r->guid = e.guid.c_str();
	entry_r->sha256 = e.sha256.c_str();
	entry_r->copies = e.copies;
	entry_r->fields = r->field_views[idx].data();
	return 0;
}

const char *tresor_invoices_csv_header(void)
{
	static const std::string header = tresor::invoice_register_csv_header();
	return header.c_str();
}

const char *tresor_invoices_csv(tresor_invoices *r, const char *user)
{
	try {
		if (r == nullptr)
			return "";
		r->csv = tresor::invoice_register_csv(user != nullptr ? user : "", r->entries);
		return r->csv.c_str();
	} catch (...) {
		return nullptr;
	}
}

void tresor_invoices_free(tresor_invoices *r)
{
	delete r;
}

} // extern "C"
