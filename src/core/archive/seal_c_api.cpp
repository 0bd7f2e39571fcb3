// The seal, time-stamp and export part of the C ABI (tresor.h): thin
// wrappers; no exception crosses into C.
#include "archive/tresor-seal.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "archive/c_api.hpp"
#include "archive/config.hpp"
#include "archive/export.hpp"
#include "archive/journal.hpp"
#include "archive/seal.hpp"
#include "common/c_abi.hpp"
#include "common/posix_io.hpp"

struct tresor_seal_key {
	std::unique_ptr<tresor::SealKey> key;
};

struct tresor_export {
	std::unique_ptr<tresor::EvidenceExport> x;
	std::vector<std::string> warnings;
};

namespace {

using tresor::c_abi::clear_error;
using tresor::c_abi::copy_out;
using tresor::c_abi::guarded;
using tresor::c_abi::new_handle;
} // namespace

extern "C" {

tresor_seal_key *tresor_seal_key_load(const char *path, char *err, size_t err_size)
{
	return new_handle(err, err_size, [&]() {
		auto p = std::make_unique<tresor_seal_key>();
		p->key = std::make_unique<tresor::SealKey>(
			tresor::SealKey::load_private(path != nullptr ? path : ""));
		return p;
	});
}

void tresor_seal_key_free(tresor_seal_key *key)
{
	delete key;
}

const char *tresor_seal_key_id(const tresor_seal_key *key)
{
	return key != nullptr ? key->key->key_id().c_str() : "";
}

int tresor_seal(const char *dir, const tresor_seal_key *key, const char *user,
		const char *tsq_path, tresor_seal_info *info_r, char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (dir == nullptr || key == nullptr || user == nullptr || info_r == nullptr)
			throw std::invalid_argument("tresor_seal: missing argument");
		std::memset(info_r, 0, sizeof(*info_r));
		// a user who never had a journal gets none (-A runs over all)
		if (tresor::list_journal_files(dir).empty()) {
			clear_error(err, err_size);
			return 0;
		}
		tresor::Journal journal(dir);
		tresor::SealOptions opts;
		opts.user = user;
		opts.make_request = tsq_path != nullptr;
		tresor::SealResult r = tresor::seal_journal(journal, *key->key, opts);
		info_r->seq = r.seq;
		info_r->head_seq = r.head_seq;
		copy_out(info_r->head_sha256, sizeof(info_r->head_sha256), r.head_hash);
		copy_out(info_r->time, sizeof(info_r->time), r.time);
		copy_out(info_r->key_id, sizeof(info_r->key_id), r.key_id);
		copy_out(info_r->sig, sizeof(info_r->sig), r.signature_b64);
		if (tsq_path != nullptr) {
			try {
				tresor::replace_file(tsq_path, r.request_der, 0644);
			} catch (const std::exception &e) {
				throw std::runtime_error(
					"the seal is in the journal as seq " +
					std::to_string(r.seq) +
					", but its time-stamp request could not be written: " +
					e.what());
			}
		}
		clear_error(err, err_size);
		return 0;
	});
}

int tresor_seal_attach_tsr(const char *dir, const char *tsr_path, const char *tsa_ca,
			   tresor_tsr_info *info_r, char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (dir == nullptr || tsr_path == nullptr || info_r == nullptr)
			throw std::invalid_argument("tresor_seal_attach_tsr: missing argument");
		std::memset(info_r, 0, sizeof(*info_r));
		std::string der = tresor::read_small_file(tsr_path, 1024 * 1024);
		if (tresor::list_journal_files(dir).empty())
			throw std::runtime_error("the user has no journal, hence no seal");
		tresor::Journal journal(dir);
		tresor::AttachResult r = tresor::attach_timestamp_response(
			journal, der, tsa_ca != nullptr ? tsa_ca : "");
		info_r->seq = r.seq;
		info_r->seal_seq = r.seal_seq;
		copy_out(info_r->gen_time, sizeof(info_r->gen_time), r.gen_time);
		clear_error(err, err_size);
		return 0;
	});
}

int tresor_date_valid(const char *s)
{
	return s != nullptr && tresor::valid_date(s) ? 1 : 0;
}

tresor_export *tresor_export_new(const char *dir, const tresor_config *cfg, const char *user,
				 const char *from, const char *to, const char *out_dir,
				 const char *const *mailbox_patterns, char separator, char *err,
				 size_t err_size)
{
	return new_handle(err, err_size, [&]() {
		if (dir == nullptr || user == nullptr || from == nullptr || to == nullptr ||
		    out_dir == nullptr)
			throw std::invalid_argument("tresor_export_new: missing argument");
		tresor::ExportOptions opts;
		opts.tresor_dir = dir;
		opts.user = user;
		opts.from = from;
		opts.to = to;
		opts.out_dir = out_dir;
		opts.config = tresor::config_of(cfg);
		for (const char *const *p = mailbox_patterns; p != nullptr && *p != nullptr; p++)
			opts.mailbox_patterns.emplace_back(*p);
		opts.separator = separator;
		auto p = std::make_unique<tresor_export>();
		p->x = std::make_unique<tresor::EvidenceExport>(std::move(opts));
		return p;
	});
}

size_t tresor_export_mail_count(const tresor_export *x)
{
	return x != nullptr ? x->x->mails().size() : 0;
}

int tresor_export_get_mail(const tresor_export *x, size_t idx, tresor_export_mail *mail_r)
{
	if (x == nullptr || mail_r == nullptr || idx >= x->x->mails().size())
		return -1;
	const tresor::ExportMail &m = x->x->mails()[idx];
	mail_r->seq = m.seq;
	mail_r->mailbox = m.mailbox.c_str();
	mail_r->mailbox_guid = m.mailbox_guid.c_str();
	mail_r->uidvalidity = m.uidvalidity;
	mail_r->uid = m.uid;
	mail_r->guid = m.guid.c_str();
	mail_r->sha256 = m.sha256.c_str();
	mail_r->status = m.status.c_str();
	return 0;
}

int tresor_export_locate(tresor_export *x, const char *mailbox_guid, uint32_t uid,
			 const char *guid, const char *sha256, size_t *idx_r)
{
	try {
		if (x == nullptr || mailbox_guid == nullptr || idx_r == nullptr)
			return 0;
		auto idx = x->x->locate(mailbox_guid, uid, guid != nullptr ? guid : "",
					sha256 != nullptr ? sha256 : "");
		if (!idx)
			return 0;
		*idx_r = *idx;
		return 1;
	} catch (...) {
		return 0;
	}
}

int tresor_export_wants_hashes(const tresor_export *x, const char *mailbox_guid)
{
	try {
		return x != nullptr && mailbox_guid != nullptr &&
		       x->x->wants_hashes(mailbox_guid);
	} catch (...) {
		return 0;
	}
}

int tresor_export_mail_begin(tresor_export *x, size_t idx, char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (x == nullptr)
			throw std::invalid_argument("no export");
		x->x->begin_mail(idx);
		clear_error(err, err_size);
		return 0;
	});
}

void tresor_export_mail_write(tresor_export *x, const void *data, size_t size)
{
	if (x == nullptr || (data == nullptr && size > 0))
		return;
	try {
		x->x->write(data, size);
	} catch (...) {
		// end() reports the write error
	}
}

int tresor_export_mail_end(tresor_export *x, char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (x == nullptr)
			throw std::invalid_argument("no export");
		bool same = x->x->end_mail();
		clear_error(err, err_size);
		return same ? 1 : 0;
	});
}

void tresor_export_mail_mark(tresor_export *x, size_t idx, const char *status,
			     const char *note)
{
	if (x == nullptr || status == nullptr)
		return;
	try {
		x->x->mark(idx, status, note != nullptr ? note : "");
	} catch (...) {
	}
}

int tresor_export_finish(tresor_export *x, char *err, size_t err_size)
{
	return guarded(err, err_size, [&]() {
		if (x == nullptr)
			throw std::invalid_argument("no export");
		x->warnings = x->x->finish();
		clear_error(err, err_size);
		return 0;
	});
}

size_t tresor_export_warning_count(const tresor_export *x)
{
	return x != nullptr ? x->warnings.size() : 0;
}

const char *tresor_export_warning(const tresor_export *x, size_t idx)
{
	if (x == nullptr || idx >= x->warnings.size())
		return nullptr;
	return x->warnings[idx].c_str();
}

void tresor_export_free(tresor_export *x)
{
	delete x;
}

} // extern "C"
