// C ABI of the full-text index (tresor-fts.h) over fts_index.hpp.
#include "fts/tresor-fts.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "common/c_abi.hpp"
#include "extract/extract_client.hpp"
#include "fts/fts_index.hpp"
#include "fts/fts_settings.hpp"

using tresor::c_abi::clear_error;
using tresor::c_abi::set_error;
namespace fts = tresor::fts;

struct tresor_fts_index {
	std::unique_ptr<fts::Index> index;
};

struct tresor_fts_result {
	fts::Result result;
};

struct tresor_fts_settings {
	fts::Settings settings;
};

struct tresor_fts_extractor {
	tresor::extract::Session session;
	tresor_fts_extractor(const std::string &helper, const tresor::extract::Limits &limits)
		: session(helper, limits)
	{
	}
};

namespace {

// c_abi::guarded, with the index's own exceptions mapped to their codes.
template <class F> int guarded_index(char *err, std::size_t err_size, F &&f) noexcept
{
	return tresor::c_abi::guarded(err, err_size, [&]() -> int {
		try {
			return f();
		} catch (const fts::CorruptIndex &e) {
			set_error(err, err_size, e.what());
			return TRESOR_FTS_ERR_CORRUPT;
		} catch (const fts::IndexBusy &e) {
			set_error(err, err_size, e.what());
			return TRESOR_FTS_ERR_BUSY;
		}
	});
}

fts::Field to_field(enum tresor_fts_field f)
{
	switch (f) {
	case TRESOR_FTS_FIELD_BODY:
		return fts::Field::body;
	case TRESOR_FTS_FIELD_ATTACHMENT:
		return fts::Field::attachment;
	case TRESOR_FTS_FIELD_HTML:
		return fts::Field::html;
	case TRESOR_FTS_FIELD_HEADER:
		return fts::Field::header;
	case TRESOR_FTS_FIELD_MIME_HEADER:
		return fts::Field::mime_header;
	}
	throw fts::IndexError("unknown field");
}

fts::KeyType to_key_type(enum tresor_fts_key_type t)
{
	switch (t) {
	case TRESOR_FTS_KEY_BODY:
		return fts::KeyType::body;
	case TRESOR_FTS_KEY_TEXT:
		return fts::KeyType::text;
	case TRESOR_FTS_KEY_HEADER:
		return fts::KeyType::header;
	case TRESOR_FTS_KEY_HEADER_APPROX:
		return fts::KeyType::header_approx;
	}
	throw fts::IndexError("unknown key type");
}

} // namespace

extern "C" {

int tresor_fts_open(const char *dir, uint32_t uidvalidity, int writable,
		    const tresor_fts_settings *settings, unsigned lock_timeout_ms,
		    tresor_fts_index **idx_r, char *notice, size_t notice_size, char *err,
		    size_t err_size)
{
	*idx_r = nullptr;
	clear_error(notice, notice_size);
	clear_error(err, err_size);
	return guarded_index(err, err_size, [&] {
		fts::OpenOptions opts;
		opts.writable = writable != 0;
		opts.uidvalidity = uidvalidity;
		opts.lock_timeout_ms = lock_timeout_ms;
		if (settings != nullptr)
			opts.vocabulary_from_documents = settings->settings.vocabulary_from_mails;
		std::string note;
		auto idx = std::make_unique<tresor_fts_index>();
		idx->index = fts::Index::open(dir, opts, note);
		if (!note.empty())
			set_error(notice, notice_size, note.c_str());
		*idx_r = idx.release();
		return 0;
	});
}

void tresor_fts_close(tresor_fts_index *idx)
{
	delete idx;
}

int tresor_fts_remove(const char *dir, char *err, size_t err_size)
{
	return guarded_index(err, err_size, [&] {
		fts::Index::remove(dir);
		return 0;
	});
}

uint32_t tresor_fts_last_uid(const tresor_fts_index *idx)
{
	return idx->index->last_uid();
}

uint32_t tresor_fts_document_count(const tresor_fts_index *idx)
{
	try {
		return idx->index->document_count();
	} catch (...) {
		return 0;
	}
}

int tresor_fts_begin_document(tresor_fts_index *idx, uint32_t uid, char *err, size_t err_size)
{
	return guarded_index(err, err_size, [&] {
		idx->index->begin_document(uid);
		return 0;
	});
}

int tresor_fts_add_text(tresor_fts_index *idx, enum tresor_fts_field field,
			const char *header_name, const void *text, size_t len, char *err,
			size_t err_size)
{
	return guarded_index(err, err_size, [&] {
		idx->index->add_text(to_field(field), header_name != nullptr ? header_name : "",
				     std::string_view(static_cast<const char *>(text), len));
		return 0;
	});
}

void tresor_fts_end_field(tresor_fts_index *idx)
{
	try {
		idx->index->end_field();
	} catch (...) {
	}
}

void tresor_fts_mark_incomplete(tresor_fts_index *idx)
{
	try {
		idx->index->mark_incomplete();
	} catch (...) {
	}
}

int tresor_fts_end_document(tresor_fts_index *idx, char *err, size_t err_size)
{
	return guarded_index(err, err_size, [&] {
		idx->index->end_document();
		return 0;
	});
}

int tresor_fts_hold_document(tresor_fts_index *idx, char *err, size_t err_size)
{
	return guarded_index(err, err_size, [&] {
		idx->index->hold_document();
		return 0;
	});
}

int tresor_fts_add_held_text(tresor_fts_index *idx, uint32_t uid, const void *text, size_t len,
			     char *err, size_t err_size)
{
	return guarded_index(err, err_size, [&] {
		idx->index->add_held_text(uid, std::string_view(static_cast<const char *>(text), len));
		return 0;
	});
}

int tresor_fts_release_document(tresor_fts_index *idx, uint32_t uid, char *err, size_t err_size)
{
	return guarded_index(err, err_size, [&] {
		idx->index->release_document(uid);
		return 0;
	});
}

int tresor_fts_expunge(tresor_fts_index *idx, uint32_t uid, char *err, size_t err_size)
{
	return guarded_index(err, err_size, [&] {
		idx->index->expunge(uid);
		return 0;
	});
}

int tresor_fts_commit(tresor_fts_index *idx, char *err, size_t err_size)
{
	return guarded_index(err, err_size, [&] {
		idx->index->commit();
		return 0;
	});
}

int tresor_fts_commit_in_background(tresor_fts_index *idx, char *err, size_t err_size)
{
	return guarded_index(err, err_size, [&] {
		idx->index->commit_in_background();
		return 0;
	});
}

int tresor_fts_builds_on(tresor_fts_index *idx, uint32_t caller_last_uid, char *err,
			 size_t err_size)
{
	return guarded_index(err, err_size, [&] {
		return idx->index->builds_on(caller_last_uid) ? 1 : 0;
	});
}

int tresor_fts_reconcile(tresor_fts_index *idx, const uint32_t *existing_uids, size_t count,
			 uint32_t *last_uid_r, char *err, size_t err_size)
{
	return guarded_index(err, err_size, [&] {
		std::vector<std::uint32_t> uids(existing_uids, existing_uids + count);
		std::sort(uids.begin(), uids.end());
		*last_uid_r = idx->index->reconcile(uids);
		return 0;
	});
}

int tresor_fts_compact(tresor_fts_index *idx, char *err, size_t err_size)
{
	return guarded_index(err, err_size, [&] {
		idx->index->compact();
		return 0;
	});
}

int tresor_fts_compact_if_worthwhile(tresor_fts_index *idx, int *compacted_r, char *err,
				     size_t err_size)
{
	*compacted_r = 0;
	return guarded_index(err, err_size, [&] {
		*compacted_r = idx->index->compact_if_worthwhile() ? 1 : 0;
		return 0;
	});
}

int tresor_fts_lookup(tresor_fts_index *idx, struct tresor_fts_key *keys, size_t count,
		      int and_args, uint32_t assumed_last_uid, tresor_fts_result **result_r,
		      char *err, size_t err_size)
{
	*result_r = nullptr;
	return guarded_index(err, err_size, [&] {
		std::vector<fts::Key> ks(count);
		for (size_t i = 0; i < count; i++) {
			ks[i].type = to_key_type(keys[i].type);
			if (keys[i].header_name != nullptr)
				ks[i].header_name = keys[i].header_name;
			ks[i].value.assign(keys[i].value, keys[i].value_len);
			ks[i].negated = keys[i].negated != 0;
			keys[i].handled = 0;
		}
		auto result = idx->index->lookup(ks, and_args != 0, assumed_last_uid);
		for (size_t i = 0; i < count; i++)
			keys[i].handled = ks[i].handled ? 1 : 0;
		if (!result)
			return 0;
		auto r = std::make_unique<tresor_fts_result>();
		r->result = std::move(*result);
		*result_r = r.release();
		return 1;
	});
}

const struct tresor_fts_range *tresor_fts_result_definite(const tresor_fts_result *r,
							  size_t *count_r)
{
	static_assert(sizeof(fts::Range) == sizeof(tresor_fts_range));
	*count_r = r->result.definite.size();
	return reinterpret_cast<const tresor_fts_range *>(r->result.definite.data());
}

const struct tresor_fts_range *tresor_fts_result_maybe(const tresor_fts_result *r,
						       size_t *count_r)
{
	*count_r = r->result.maybe.size();
	return reinterpret_cast<const tresor_fts_range *>(r->result.maybe.data());
}

void tresor_fts_result_free(tresor_fts_result *r)
{
	delete r;
}

int tresor_fts_worth_extracting(const char *content_type, const void *head, size_t head_len)
{
	try {
		return fts::worth_extracting(content_type != nullptr ? content_type : "",
					     std::string_view(static_cast<const char *>(head),
							      head_len))
			       ? 1
			       : 0;
	} catch (...) {
		return 0;
	}
}

tresor_fts_settings *tresor_fts_settings_new(void)
{
	try {
		return new tresor_fts_settings();
	} catch (...) {
		return nullptr;
	}
}

void tresor_fts_settings_free(tresor_fts_settings *set)
{
	delete set;
}

const char *const *tresor_fts_setting_names(void)
{
	return fts::Settings::setting_names();
}

int tresor_fts_settings_set(tresor_fts_settings *set, const char *name, const char *value,
			    char *err, size_t err_size)
{
	clear_error(err, err_size);
	return tresor::c_abi::guarded(err, err_size, [&] {
		set->settings.set(name, value);
		return 0;
	});
}

int tresor_fts_settings_attachments(const tresor_fts_settings *set)
{
	return set->settings.attachments ? 1 : 0;
}

uint64_t tresor_fts_settings_attachment_max_size(const tresor_fts_settings *set)
{
	return set->settings.attachment_max_size;
}

unsigned tresor_fts_settings_lock_timeout_ms(const tresor_fts_settings *set)
{
	return set->settings.lock_timeout_ms;
}

tresor_fts_extractor *tresor_fts_extractor_new(const tresor_fts_settings *set)
{
	try {
		return new tresor_fts_extractor(set->settings.helper.path,
						set->settings.helper.limits);
	} catch (...) {
		return nullptr;
	}
}

void tresor_fts_extractor_free(tresor_fts_extractor *ex)
{
	delete ex;
}

namespace {

// The C answer of an extraction: 0 with malloc()ed text (warnings in err),
// or -1 with the reason in err.
int hand_over(const tresor::extract::Document &doc, char **text_r, size_t *text_len_r,
	      char *err, size_t err_size)
{
	std::string why;
	for (const auto &w : doc.warnings)
		why += (why.empty() ? "" : "; ") + w;
	if (!doc.ok) {
		set_error(err, err_size, why.empty() ? "extraction failed" : why.c_str());
		return -1;
	}
	if (!why.empty())
		set_error(err, err_size, why.c_str()); // warnings, still a result
	char *text = static_cast<char *>(std::malloc(doc.text.size() + 1));
	if (text == nullptr)
		throw std::bad_alloc();
	std::memcpy(text, doc.text.data(), doc.text.size());
	text[doc.text.size()] = '\0';
	*text_r = text;
	*text_len_r = doc.text.size();
	return 0;
}

} // namespace

int tresor_fts_extract_text(tresor_fts_extractor *ex, const char *content_type,
			    const void *data, size_t len, char **text_r, size_t *text_len_r,
			    char *err, size_t err_size)
{
	*text_r = nullptr;
	*text_len_r = 0;
	clear_error(err, err_size);
	return tresor::c_abi::guarded(err, err_size, [&] {
		auto doc = ex->session.extract_text(
			std::string_view(static_cast<const char *>(data), len),
			content_type != nullptr ? content_type : "");
		return hand_over(doc, text_r, text_len_r, err, err_size);
	});
}

int tresor_fts_extract_submit(tresor_fts_extractor *ex, const char *content_type,
			      const void *data, size_t len, char *err, size_t err_size)
{
	clear_error(err, err_size);
	return tresor::c_abi::guarded(err, err_size, [&] {
		ex->session.submit(std::string_view(static_cast<const char *>(data), len),
				   content_type != nullptr ? content_type : "");
		return 0;
	});
}

int tresor_fts_extract_pending(const tresor_fts_extractor *ex)
{
	return ex->session.pending() ? 1 : 0;
}

int tresor_fts_extract_collect(tresor_fts_extractor *ex, char **text_r, size_t *text_len_r,
			       char *err, size_t err_size)
{
	*text_r = nullptr;
	*text_len_r = 0;
	clear_error(err, err_size);
	return tresor::c_abi::guarded(err, err_size, [&] {
		auto doc = ex->session.collect();
		return hand_over(doc, text_r, text_len_r, err, err_size);
	});
}

} // extern "C"
