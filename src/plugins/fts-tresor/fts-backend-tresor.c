/* fts_tresor: Dovecot FTS backend glue. Everything that decides what is
   indexed and what a search key matches lives in src/core/fts (fts_index.cpp);
   this file maps Dovecot's FTS calls onto it. One Xapian database per
   mailbox, under <mail index root>/tresor-fts/<mailbox GUID>, so that
   document ids are UIDs, a rename changes nothing and a delete removes one
   directory (docs/fts.md). */

#include "lib.h"
#include "tresor-dovecot-compat.h"
#include "array.h"
#include "buffer.h"
#include "str.h"
#include "unlink-directory.h"
#include "message-address.h"
#include "mail-namespace.h"
#include "mail-search.h"
#include "mail-search-build.h"
#include "mail-storage-private.h"
#include "mailbox-list-iter.h"
#include "seq-range-array.h"
#include "fts-api-private.h"
#include "fts-storage.h"
#include "fts-user.h"
#include "tresor-settings.h"
#include "fts-tresor-plugin.h"
#include "fts/tresor-fts.h"

#include <dirent.h>
#include <sys/stat.h>

#define TRESOR_FTS_DIR_NAME "tresor-fts"
/* Commit (and so bound memory and lost work) every this many mails. */
#define TRESOR_FTS_COMMIT_EVERY 500
/* Expunges in an imap process wait no longer than this for an indexer
   holding the lock: a stale document is harmless (its UID is gone) and
   doveadm fts rescan removes it. */
#define TRESOR_FTS_EXPUNGE_LOCK_TIMEOUT_MS 2000
#define TRESOR_ERR_SIZE 512

struct fts_tresor_backend {
	struct fts_backend backend;
	tresor_fts_settings *settings;
	char *root_dir; /* <index root>/tresor-fts */
	/* The highest last_uid get_last_uid told Dovecot for reported_dir
	   since the last update ended: Dovecot may search or index after
	   any of its answers, also when a later one found the index damaged
	   and removed (a smaller answer). */
	char *reported_dir;
	uint32_t reported_last_uid;
};

struct fts_tresor_update_context {
	struct fts_backend_update_context ctx;

	struct mailbox *box;
	char *box_dir;
	tresor_fts_index *index;
	uint32_t doc_uid;
	unsigned int docs_since_commit;
	bool doc_open;
	bool expunge_only;

	/* the build key being filled */
	enum tresor_fts_field field;
	char *header_name;
	bool skip_key;
	bool binary;
	bool binary_too_big;
	char *content_type;
	buffer_t *binary_data;
	buffer_t *normalized;
	tresor_fts_extractor *extractor; /* started at the first attachment */
	/* The attachment the helper is working on while indexing goes on
	   (one at a time): its mail, and whether that mail's document has
	   ended and is held back for the text. */
	uint32_t extract_uid; /* 0: none */
	bool extract_doc_held;
	char *extract_content_type;
};

static struct fts_backend *fts_backend_tresor_alloc(void)
{
	struct fts_tresor_backend *backend;

	backend = i_new(struct fts_tresor_backend, 1);
	backend->backend = fts_backend_tresor;
	return &backend->backend;
}

/* The tresor_* FTS settings: on 2.4 those of the fts tresor { } filter
   (visible through the backend's event only), on 2.3 plugin { }. */
static int fts_backend_tresor_load_settings(struct fts_tresor_backend *backend,
					    const char **error_r)
{
	struct tresor_settings_reader reader;
	const char *const *name, *value;
	char err[TRESOR_ERR_SIZE];
	int ret = 0;

	tresor_settings_reader_user(&reader, backend->backend.ns->user);
	reader.event = fts_tresor_backend_event(&backend->backend);
	if (tresor_settings_reader_init(&reader, error_r) < 0)
		return -1;
	backend->settings = tresor_fts_settings_new();
	if (backend->settings == NULL)
		i_fatal_status(FATAL_OUTOFMEM, "fts-tresor: out of memory");
	for (name = tresor_fts_setting_names(); *name != NULL && ret == 0; name++) {
		value = tresor_settings_reader_get(&reader, *name);
		if (value != NULL &&
		    tresor_fts_settings_set(backend->settings, *name, value,
					    err, sizeof(err)) < 0) {
			*error_r = t_strdup(err);
			ret = -1;
		}
	}
	tresor_settings_reader_deinit(&reader);
	return ret;
}

static int fts_backend_tresor_init(struct fts_backend *_backend,
				   const char **error_r)
{
	struct fts_tresor_backend *backend =
		(struct fts_tresor_backend *)_backend;
	const char *root;

	if (fts_backend_tresor_load_settings(backend, error_r) < 0)
		return -1;
	/* The fts plugin's per-user state (autoindex_exclude, ...); 2.3 sets
	   it up in fts_tresor_mail_user_created(). We don't use its
	   tokenizers: the index works on whitespace runs. */
	if (fts_tresor_fts_user_init(_backend, error_r) < 0)
		return -1;
	root = mailbox_list_get_root_forced(_backend->ns->list,
					    MAILBOX_LIST_PATH_TYPE_INDEX);
	backend->root_dir = i_strconcat(root, "/" TRESOR_FTS_DIR_NAME, NULL);
	return 0;
}

static void fts_backend_tresor_deinit(struct fts_backend *_backend)
{
	struct fts_tresor_backend *backend =
		(struct fts_tresor_backend *)_backend;

	tresor_fts_settings_free(backend->settings);
	i_free(backend->root_dir);
	i_free(backend->reported_dir);
	i_free(backend);
}

/* <root>/<mailbox GUID>; NULL when the mailbox can't tell its GUID. */
static const char *
fts_backend_tresor_box_dir(struct fts_tresor_backend *backend,
			   struct mailbox *box)
{
	const char *guid;

	if (fts_mailbox_get_guid(box, &guid) < 0)
		return NULL;
	return t_strdup_printf("%s/%s", backend->root_dir, guid);
}

static int
fts_backend_tresor_box_uidvalidity(struct mailbox *box, uint32_t *uidv_r)
{
	struct mailbox_status status;

	if (mailbox_get_status(box, STATUS_UIDVALIDITY, &status) < 0)
		return -1;
	*uidv_r = status.uidvalidity;
	return 0;
}

/* Opens one mailbox's index. A damaged one is logged, removed and opened
   afresh (empty: Dovecot then indexes the mailbox again). */
static int
fts_backend_tresor_open_box(struct fts_tresor_backend *backend,
			    struct mailbox *box,
			    bool writable, unsigned int lock_timeout_ms,
			    const char **dir_r, tresor_fts_index **index_r)
{
	char notice[TRESOR_ERR_SIZE], err[TRESOR_ERR_SIZE];
	const char *dir;
	uint32_t uidvalidity;
	int ret;

	*index_r = NULL;
	dir = fts_backend_tresor_box_dir(backend, box);
	if (dir == NULL || fts_backend_tresor_box_uidvalidity(box,
							      &uidvalidity) < 0) {
		e_error(box->event, "fts-tresor: can't get mailbox GUID/UIDVALIDITY: %s",
			mailbox_get_last_internal_error(box, NULL));
		return -1;
	}
	*dir_r = dir;
	ret = tresor_fts_open(dir, uidvalidity, writable ? 1 : 0,
			      backend->settings, lock_timeout_ms, index_r,
			      notice, sizeof(notice), err, sizeof(err));
	if (ret == TRESOR_FTS_ERR_CORRUPT) {
		e_error(box->event, "fts-tresor: index %s is damaged (%s): "
			"removing it, the mailbox will be indexed again", dir, err);
		if (tresor_fts_remove(dir, err, sizeof(err)) < 0) {
			e_error(box->event, "fts-tresor: %s", err);
			return -1;
		}
		ret = tresor_fts_open(dir, uidvalidity, writable ? 1 : 0,
				      backend->settings, lock_timeout_ms,
				      index_r, notice, sizeof(notice), err,
				      sizeof(err));
	}
	if (ret == TRESOR_FTS_ERR_BUSY) {
		e_warning(box->event, "fts-tresor: %s", err);
		return TRESOR_FTS_ERR_BUSY;
	}
	if (ret < 0) {
		e_error(box->event, "fts-tresor: can't open index %s: %s", dir, err);
		return -1;
	}
	if (notice[0] != '\0')
		e_info(box->event, "fts-tresor: %s: %s", dir, notice);
	return 0;
}

/* What get_last_uid told Dovecot for the index in dir (see
   reported_last_uid), 0 when nothing. */
static uint32_t
fts_backend_tresor_reported_last_uid(const struct fts_tresor_backend *backend,
				     const char *dir)
{
	if (backend->reported_dir == NULL || dir == NULL ||
	    strcmp(backend->reported_dir, dir) != 0)
		return 0;
	return backend->reported_last_uid;
}

static int
fts_backend_tresor_get_last_uid(struct fts_backend *_backend,
				struct mailbox *box, uint32_t *last_uid_r)
{
	struct fts_tresor_backend *backend =
		(struct fts_tresor_backend *)_backend;
	tresor_fts_index *index;
	const char *dir;

	if (fts_backend_tresor_open_box(backend, box, FALSE, 0, &dir,
					&index) < 0)
		return -1;
	*last_uid_r = tresor_fts_last_uid(index);
	tresor_fts_close(index);
	if (fts_backend_tresor_reported_last_uid(backend, dir) == 0) {
		i_free(backend->reported_dir);
		backend->reported_dir = i_strdup(dir);
		backend->reported_last_uid = *last_uid_r;
	} else if (*last_uid_r > backend->reported_last_uid) {
		backend->reported_last_uid = *last_uid_r;
	}
	return 0;
}

/* ------------------------------------------------------------ update */

static struct fts_backend_update_context *
fts_backend_tresor_update_init(struct fts_backend *_backend)
{
	struct fts_tresor_update_context *ctx;

	ctx = i_new(struct fts_tresor_update_context, 1);
	ctx->ctx.backend = _backend;
	ctx->binary_data = buffer_create_dynamic(default_pool, 64 * 1024);
	ctx->normalized = buffer_create_dynamic(default_pool, 64 * 1024);
	return &ctx->ctx;
}

static void
fts_backend_tresor_update_error(struct fts_tresor_update_context *ctx,
				const char *what, const char *err)
{
	e_error(ctx->box != NULL ? ctx->box->event :
		ctx->ctx.backend->ns->user->event,
		"fts-tresor: %s %s: %s", what,
		ctx->box_dir != NULL ? ctx->box_dir : "", err);
	ctx->ctx.failed = TRUE;
}

/* Dovecot's own normaliser (decomposed titlecase: what its search applies
   to mails and keys), with ASCII, most of any text, mapped here rather than
   character by character. Same result: the normaliser maps every character
   on its own, and an ASCII character only changes case. */
static void
fts_backend_tresor_normalize(struct mail_user *user, const void *data,
			     size_t size, buffer_t *dest)
{
	const unsigned char *p = data;
	size_t i = 0, start, k;
	unsigned char *out;

	if (user->default_normalizer != uni_utf8_to_decomposed_titlecase) {
		(void)user->default_normalizer(data, size, dest);
		return;
	}
	while (i < size) {
		for (start = i; i < size && p[i] < 0x80; i++) ;
		if (i > start) {
			out = buffer_append_space_unsafe(dest, i - start);
			for (k = 0; k < i - start; k++) {
				unsigned char c = p[start + k];
				out[k] = c >= 'a' && c <= 'z' ? c - ('a' - 'A') : c;
			}
		}
		for (start = i; i < size && p[i] >= 0x80; i++) ;
		if (i > start) {
			(void)uni_utf8_to_decomposed_titlecase(p + start,
							       i - start, dest);
		}
	}
}

static void fts_backend_tresor_add(struct fts_tresor_update_context *ctx,
				   const void *data, size_t size)
{
	char err[TRESOR_ERR_SIZE];

	if (tresor_fts_add_text(ctx->index, ctx->field, ctx->header_name,
				data, size, err, sizeof(err)) < 0)
		fts_backend_tresor_update_error(ctx, "indexing a mail in", err);
}

/* Waits for the attachment the helper is working on and adds its text,
   normalised like everything else, to its mail's document (released when
   it was held). A part the helper can't read is logged and skipped. */
static void
fts_backend_tresor_collect_attachment(struct fts_tresor_update_context *ctx)
{
	struct mailbox *box = ctx->box;
	uint32_t uid = ctx->extract_uid;
	bool held = ctx->extract_doc_held;
	char err[TRESOR_ERR_SIZE];
	char *text;
	size_t text_len;
	int ret;

	if (uid == 0)
		return;
	ctx->extract_uid = 0;
	ctx->extract_doc_held = FALSE;
	ret = tresor_fts_extract_collect(ctx->extractor, &text, &text_len,
					 err, sizeof(err));
	if (ret < 0) {
		e_warning(box->event, "fts-tresor: UID %u: %s attachment skipped: %s",
			  uid, ctx->extract_content_type, err);
	} else {
		if (err[0] != '\0') {
			/* a broken, truncated or over-limit document: indexed
			   with whatever text could be read */
			e_info(box->event, "fts-tresor: UID %u: %s attachment: %s",
			       uid, ctx->extract_content_type, err);
		}
		buffer_set_used_size(ctx->normalized, 0);
		fts_backend_tresor_normalize(ctx->ctx.backend->ns->user, text,
					     text_len,
					     ctx->normalized);
		free(text);
		if (held) {
			if (tresor_fts_add_held_text(ctx->index, uid,
						     ctx->normalized->data,
						     ctx->normalized->used,
						     err, sizeof(err)) < 0)
				fts_backend_tresor_update_error(ctx,
								"indexing a mail in", err);
		} else if (ctx->doc_open && ctx->doc_uid == uid) {
			ctx->field = TRESOR_FTS_FIELD_ATTACHMENT;
			i_free_and_null(ctx->header_name);
			fts_backend_tresor_add(ctx, ctx->normalized->data,
					       ctx->normalized->used);
			tresor_fts_end_field(ctx->index);
		}
	}
	if (held && tresor_fts_release_document(ctx->index, uid,
						err, sizeof(err)) < 0)
		fts_backend_tresor_update_error(ctx, "indexing a mail in", err);
}

static void
fts_backend_tresor_update_end_document(struct fts_tresor_update_context *ctx)
{
	char err[TRESOR_ERR_SIZE];
	int ret;

	if (!ctx->doc_open)
		return;
	ctx->doc_open = FALSE;
	if (ctx->extract_uid == ctx->doc_uid) {
		/* its attachment text comes later */
		ret = tresor_fts_hold_document(ctx->index, err, sizeof(err));
		ctx->extract_doc_held = TRUE;
	} else {
		ret = tresor_fts_end_document(ctx->index, err, sizeof(err));
	}
	if (ret < 0) {
		fts_backend_tresor_update_error(ctx, "indexing a mail in", err);
		return;
	}
	/* After a failure nothing more is committed: last_uid must not pass
	   a mail that isn't in the index. */
	if (++ctx->docs_since_commit >= TRESOR_FTS_COMMIT_EVERY &&
	    !ctx->ctx.failed) {
		ctx->docs_since_commit = 0;
		fts_backend_tresor_collect_attachment(ctx);
		if (!ctx->ctx.failed &&
		    tresor_fts_commit_in_background(ctx->index, err,
						    sizeof(err)) < 0)
			fts_backend_tresor_update_error(ctx, "committing", err);
	}
}

/* After an update Dovecot asks for last_uid afresh. */
static void
fts_backend_tresor_forget_reported(struct fts_tresor_backend *backend,
				   const char *dir)
{
	if (fts_backend_tresor_reported_last_uid(backend, dir) != 0)
		i_free_and_null(backend->reported_dir);
}

/* Commits and closes the current mailbox's index. */
static void
fts_backend_tresor_update_close_box(struct fts_tresor_update_context *ctx)
{
	char err[TRESOR_ERR_SIZE];

	if (ctx->index != NULL) {
		fts_backend_tresor_update_end_document(ctx);
		fts_backend_tresor_collect_attachment(ctx);
		if (!ctx->ctx.failed &&
		    tresor_fts_commit(ctx->index, err, sizeof(err)) < 0)
			fts_backend_tresor_update_error(ctx, "committing", err);
		if (!ctx->ctx.failed) {
			int compacted;

			/* while we hold the lock anyway */
			if (tresor_fts_compact_if_worthwhile(ctx->index, &compacted,
							     err, sizeof(err)) < 0)
				e_warning(ctx->box->event, "fts-tresor: compacting %s "
					  "failed (the index stays usable): %s",
					  ctx->box_dir, err);
			else if (compacted)
				e_debug(ctx->box->event, "fts-tresor: compacted %s",
					ctx->box_dir);
		}
		tresor_fts_close(ctx->index);
		ctx->index = NULL;
		fts_backend_tresor_forget_reported(
			(struct fts_tresor_backend *)ctx->ctx.backend,
			ctx->box_dir);
	}
	ctx->docs_since_commit = 0;
	ctx->box = NULL;
	i_free_and_null(ctx->box_dir);
}

/* Dovecot indexes the mails after the last_uid get_last_uid told it. If
   the index was removed as damaged (or rebuilt) since, it holds less: the
   mails in between would be taken for indexed once last_uid passed them. */
static void
fts_backend_tresor_check_base(struct fts_tresor_update_context *ctx,
			      struct fts_tresor_backend *backend)
{
	uint32_t reported =
		fts_backend_tresor_reported_last_uid(backend, ctx->box_dir);
	char err[TRESOR_ERR_SIZE];
	int ret;

	if (reported == 0)
		return;
	ret = tresor_fts_builds_on(ctx->index, reported, err, sizeof(err));
	if (ret < 0)
		fts_backend_tresor_update_error(ctx, "opening", err);
	else if (ret > 0) {
		e_info(ctx->box->event, "fts-tresor: %s holds less than the "
		       "last UID %u read before (removed or rebuilt meanwhile): "
		       "the mails in between are indexed next time",
		       ctx->box_dir, reported);
	}
}

/* Opens the writer lazily: an update context that only sees expunges waits
   for the lock only briefly. */
static bool
fts_backend_tresor_update_want_index(struct fts_tresor_update_context *ctx,
				     bool for_expunge)
{
	struct fts_tresor_backend *backend =
		(struct fts_tresor_backend *)ctx->ctx.backend;
	unsigned int timeout;
	const char *dir;

	if (ctx->index != NULL)
		return TRUE;
	if (ctx->box == NULL || ctx->ctx.failed)
		return FALSE;
	timeout = tresor_fts_settings_lock_timeout_ms(backend->settings);
	if (for_expunge && timeout > TRESOR_FTS_EXPUNGE_LOCK_TIMEOUT_MS)
		timeout = TRESOR_FTS_EXPUNGE_LOCK_TIMEOUT_MS;
	if (fts_backend_tresor_open_box(backend, ctx->box, TRUE, timeout, &dir,
					&ctx->index) < 0) {
		if (for_expunge) {
			/* A stale document is harmless (its UID no longer
			   exists); doveadm fts rescan removes it. */
			e_warning(ctx->box->event, "fts-tresor: expunged mails "
				  "stay in the index until doveadm fts rescan");
			ctx->box = NULL;
		} else {
			ctx->ctx.failed = TRUE;
		}
		return FALSE;
	}
	ctx->box_dir = i_strdup(dir);
	fts_backend_tresor_check_base(ctx, backend);
	return TRUE;
}

static int
fts_backend_tresor_update_deinit(struct fts_backend_update_context *_ctx)
{
	struct fts_tresor_update_context *ctx =
		(struct fts_tresor_update_context *)_ctx;
	int ret;

	fts_backend_tresor_update_close_box(ctx);
	ret = _ctx->failed ? -1 : 0;
	if (ctx->extractor != NULL)
		tresor_fts_extractor_free(ctx->extractor);
	buffer_free(&ctx->binary_data);
	buffer_free(&ctx->normalized);
	i_free(ctx->header_name);
	i_free(ctx->content_type);
	i_free(ctx->extract_content_type);
	i_free(ctx);
	return ret;
}

static void
fts_backend_tresor_update_set_mailbox(struct fts_backend_update_context *_ctx,
				      struct mailbox *box)
{
	struct fts_tresor_update_context *ctx =
		(struct fts_tresor_update_context *)_ctx;

	if (ctx->box == box)
		return;
	fts_backend_tresor_update_close_box(ctx);
	ctx->box = box;
}

static void
fts_backend_tresor_update_expunge(struct fts_backend_update_context *_ctx,
				  uint32_t uid)
{
	struct fts_tresor_update_context *ctx =
		(struct fts_tresor_update_context *)_ctx;
	char err[TRESOR_ERR_SIZE];

	if (!fts_backend_tresor_update_want_index(ctx, TRUE))
		return;
	if (ctx->doc_open && ctx->doc_uid == uid)
		fts_backend_tresor_update_end_document(ctx);
	/* a held document must be in the index to be expunged from it */
	fts_backend_tresor_collect_attachment(ctx);
	if (tresor_fts_expunge(ctx->index, uid, err, sizeof(err)) < 0)
		fts_backend_tresor_update_error(ctx,
						"removing an expunged mail from", err);
}

static bool
fts_backend_tresor_update_set_build_key(struct fts_backend_update_context *_ctx,
					const struct fts_backend_build_key *key)
{
	struct fts_tresor_update_context *ctx =
		(struct fts_tresor_update_context *)_ctx;
	struct fts_tresor_backend *backend =
		(struct fts_tresor_backend *)_ctx->backend;
	const char *ctype = key->body_content_type != NULL ?
		key->body_content_type : "text/plain";
	char err[TRESOR_ERR_SIZE];

	if (!fts_backend_tresor_update_want_index(ctx, FALSE))
		return FALSE;
	if (!ctx->doc_open || ctx->doc_uid != key->uid) {
		fts_backend_tresor_update_end_document(ctx);
		if (tresor_fts_begin_document(ctx->index, key->uid,
					      err, sizeof(err)) < 0) {
			fts_backend_tresor_update_error(ctx,
							"indexing a mail in", err);
			return FALSE;
		}
		ctx->doc_uid = key->uid;
		ctx->doc_open = TRUE;
	}

	ctx->binary = FALSE;
	ctx->skip_key = FALSE;
	i_free_and_null(ctx->header_name);
	switch (key->type) {
	case FTS_BACKEND_BUILD_KEY_HDR:
	case FTS_BACKEND_BUILD_KEY_MIME_HDR:
		ctx->field = key->type == FTS_BACKEND_BUILD_KEY_HDR ?
			TRESOR_FTS_FIELD_HEADER : TRESOR_FTS_FIELD_MIME_HEADER;
		ctx->header_name = i_strdup(key->hdr_name);
		/* opens the field, so that an empty header still exists */
		if (tresor_fts_add_text(ctx->index, ctx->field, ctx->header_name,
					"", 0, err, sizeof(err)) < 0) {
			fts_backend_tresor_update_error(ctx,
							"indexing a mail in", err);
			return FALSE;
		}
		break;
	case FTS_BACKEND_BUILD_KEY_BODY_PART:
		if (str_begins_with(ctype, "text/html"))
			ctx->field = TRESOR_FTS_FIELD_HTML;
		else if (str_begins_with(ctype, "text/") ||
			 str_begins_with(ctype, "message/"))
			ctx->field = TRESOR_FTS_FIELD_BODY;
		else /* converted by an fts_decoder */
			ctx->field = TRESOR_FTS_FIELD_ATTACHMENT;
		break;
	case FTS_BACKEND_BUILD_KEY_BODY_PART_BINARY:
		if (!tresor_fts_settings_attachments(backend->settings))
			return FALSE;
		if (str_begins_with(ctype, "image/") || str_begins_with(ctype, "audio/") ||
		    str_begins_with(ctype, "video/"))
			return FALSE;
		ctx->field = TRESOR_FTS_FIELD_ATTACHMENT;
		ctx->binary = TRUE;
		ctx->binary_too_big = FALSE;
		buffer_set_used_size(ctx->binary_data, 0);
		i_free(ctx->content_type);
		ctx->content_type = i_strdup(ctype);
		break;
	}
	return TRUE;
}

/* Hands a complete attachment to the helper; its text is collected
   later (fts_backend_tresor_collect_attachment), so that the helper extracts
   while this process indexes the next mails. */
static void
fts_backend_tresor_index_attachment(struct fts_tresor_update_context *ctx)
{
	struct fts_tresor_backend *backend =
		(struct fts_tresor_backend *)ctx->ctx.backend;
	struct mailbox *box = ctx->box;
	char err[TRESOR_ERR_SIZE];

	if (ctx->binary_too_big) {
		e_warning(box->event, "fts-tresor: UID %u: %s attachment larger than "
			  "tresor_fts_attachment_max_size not indexed",
			  ctx->doc_uid, ctx->content_type);
		return;
	}
	if (ctx->binary_data->used == 0 ||
	    tresor_fts_worth_extracting(ctx->content_type,
					ctx->binary_data->data,
					I_MIN(ctx->binary_data->used, 512)) == 0)
		return;
	/* the helper takes one at a time */
	fts_backend_tresor_collect_attachment(ctx);
	if (ctx->extractor == NULL) {
		ctx->extractor = tresor_fts_extractor_new(backend->settings);
		if (ctx->extractor == NULL)
			i_fatal_status(FATAL_OUTOFMEM, "fts-tresor: out of memory");
	}
	if (tresor_fts_extract_submit(ctx->extractor, ctx->content_type,
				      ctx->binary_data->data, ctx->binary_data->used,
				      err, sizeof(err)) < 0) {
		e_warning(box->event, "fts-tresor: UID %u: %s attachment skipped: %s",
			  ctx->doc_uid, ctx->content_type, err);
		return;
	}
	ctx->extract_uid = ctx->doc_uid;
	ctx->extract_doc_held = FALSE;
	i_free(ctx->extract_content_type);
	ctx->extract_content_type = i_strdup(ctx->content_type);
}

static void
fts_backend_tresor_update_unset_build_key(struct fts_backend_update_context *_ctx)
{
	struct fts_tresor_update_context *ctx =
		(struct fts_tresor_update_context *)_ctx;

	if (ctx->index == NULL || !ctx->doc_open)
		return;
	if (ctx->binary) {
		T_BEGIN {
			fts_backend_tresor_index_attachment(ctx);
		} T_END;
		ctx->binary = FALSE;
		/* don't keep a large attachment's buffer for the rest */
		if (buffer_get_size(ctx->binary_data) > 1024 * 1024) {
			buffer_free(&ctx->binary_data);
			ctx->binary_data = buffer_create_dynamic(default_pool, 64 * 1024);
		}
		buffer_set_used_size(ctx->binary_data, 0);
	}
	tresor_fts_end_field(ctx->index);
}

static int
fts_backend_tresor_update_build_more(struct fts_backend_update_context *_ctx,
				     const unsigned char *data, size_t size)
{
	struct fts_tresor_update_context *ctx =
		(struct fts_tresor_update_context *)_ctx;
	struct fts_tresor_backend *backend =
		(struct fts_tresor_backend *)_ctx->backend;

	if (ctx->index == NULL || !ctx->doc_open)
		return _ctx->failed ? -1 : 0;
	if (ctx->binary) {
		uint64_t max = tresor_fts_settings_attachment_max_size(
			backend->settings);
		if (ctx->binary_too_big)
			return 0;
		if (ctx->binary_data->used + size > max) {
			ctx->binary_too_big = TRUE;
			buffer_set_used_size(ctx->binary_data, 0);
			return 0;
		}
		buffer_append(ctx->binary_data, data, size);
		return 0;
	}
	buffer_set_used_size(ctx->normalized, 0);
	fts_backend_tresor_normalize(_ctx->backend->ns->user, data, size,
				     ctx->normalized);
	fts_backend_tresor_add(ctx, ctx->normalized->data,
			       ctx->normalized->used);
	return _ctx->failed ? -1 : 0;
}

static int fts_backend_tresor_refresh(struct fts_backend *backend ATTR_UNUSED)
{
	/* every lookup opens the newest revision */
	return 0;
}

/* ------------------------------------------------- rescan / optimize */

/* The UIDs of every mail in box, ascending. */
static int
fts_backend_tresor_box_uids(struct mailbox *box, ARRAY_TYPE(uint32_t) *uids)
{
	struct mailbox_transaction_context *t;
	struct mail_search_args *search_args;
	struct mail_search_context *search_ctx;
	struct mail *mail;
	int ret = 0;

	t = mailbox_transaction_begin(box, 0, "fts-tresor rescan");
	search_args = mail_search_build_init();
	mail_search_build_add_all(search_args);
	search_ctx = mailbox_search_init(t, search_args, NULL, 0, NULL);
	mail_search_args_unref(&search_args);
	while (mailbox_search_next(search_ctx, &mail))
		array_push_back(uids, &mail->uid);
	if (mailbox_search_deinit(&search_ctx) < 0)
		ret = -1;
	(void)mailbox_transaction_commit(&t);
	return ret;
}

typedef int fts_backend_tresor_box_func(struct fts_tresor_backend *backend,
					struct mailbox *box, const char **guid_r);

/* Runs func on every mailbox of the namespace, then removes the index
   directories of mailboxes that no longer exist (when remove_orphans). */
static int fts_backend_tresor_each_box(struct fts_tresor_backend *backend,
				       fts_backend_tresor_box_func *func, bool remove_orphans)
{
	struct mail_namespace *ns = backend->backend.ns;
	struct mailbox_list_iterate_context *iter;
	const struct mailbox_info *info;
	ARRAY_TYPE(const_string) guids;
	struct mailbox *box;
	const char *guid;
	int ret = 0;

	t_array_init(&guids, 32);
	iter = mailbox_list_iter_init(ns->list, "*",
				      MAILBOX_LIST_ITER_SKIP_ALIASES |
				      MAILBOX_LIST_ITER_RETURN_NO_FLAGS |
				      MAILBOX_LIST_ITER_NO_AUTO_BOXES);
	while ((info = mailbox_list_iter_next(iter)) != NULL) {
		if ((info->flags & (MAILBOX_NONEXISTENT | MAILBOX_NOSELECT)) != 0)
			continue;
		box = mailbox_alloc(ns->list, info->vname, 0);
		guid = NULL;
		if (mailbox_open(box) < 0) {
			e_error(box->event, "fts-tresor: can't open mailbox: %s",
				mailbox_get_last_internal_error(box, NULL));
			ret = -1;
		} else if (func(backend, box, &guid) < 0) {
			ret = -1;
		}
		if (guid != NULL)
			array_push_back(&guids, &guid);
		else if (fts_mailbox_get_guid(box, &guid) == 0)
			array_push_back(&guids, &guid);
		mailbox_free(&box);
	}
	if (mailbox_list_iter_deinit(&iter) < 0)
		ret = -1;
	if (!remove_orphans || ret < 0)
		return ret;

	DIR *dir = opendir(backend->root_dir);
	struct dirent *d;
	if (dir == NULL)
		return ret;
	while ((d = readdir(dir)) != NULL) {
		const char *const *g;
		bool found = FALSE;

		if (d->d_name[0] == '.')
			continue;
		array_foreach(&guids, g) {
			if (strcmp(*g, d->d_name) == 0)
				found = TRUE;
		}
		if (!found) {
			char err[TRESOR_ERR_SIZE];
			const char *path = t_strdup_printf("%s/%s",
				backend->root_dir, d->d_name);
			e_info(ns->user->event, "fts-tresor: removing the index "
			       "of a mailbox that no longer exists: %s", path);
			if (tresor_fts_remove(path, err, sizeof(err)) < 0) {
				e_error(ns->user->event, "fts-tresor: %s", err);
				ret = -1;
			}
		}
	}
	(void)closedir(dir);
	return ret;
}

static int fts_backend_tresor_rescan_box(struct fts_tresor_backend *backend,
					 struct mailbox *box, const char **guid_r)
{
	ARRAY_TYPE(uint32_t) uids;
	tresor_fts_index *index;
	char err[TRESOR_ERR_SIZE];
	const char *dir;
	uint32_t last_uid;
	int ret;

	if (fts_mailbox_get_guid(box, guid_r) < 0)
		return -1;
	*guid_r = t_strdup(*guid_r);
	t_array_init(&uids, 256);
	if (fts_backend_tresor_box_uids(box, &uids) < 0)
		return -1;
	if (fts_backend_tresor_open_box(backend, box, TRUE,
					tresor_fts_settings_lock_timeout_ms(backend->settings),
					&dir, &index) < 0)
		return -1;
	ret = tresor_fts_reconcile(index, array_front(&uids), array_count(&uids),
				   &last_uid, err, sizeof(err));
	if (ret < 0)
		e_error(box->event, "fts-tresor: rescan of %s failed: %s", dir, err);
	tresor_fts_close(index);
	return ret < 0 ? -1 : 0;
}

static int fts_backend_tresor_optimize_box(struct fts_tresor_backend *backend,
					   struct mailbox *box, const char **guid_r)
{
	tresor_fts_index *index;
	char err[TRESOR_ERR_SIZE];
	const char *dir;
	int ret;

	if (fts_mailbox_get_guid(box, guid_r) < 0)
		return -1;
	*guid_r = t_strdup(*guid_r);
	if (fts_backend_tresor_open_box(backend, box, TRUE,
					tresor_fts_settings_lock_timeout_ms(backend->settings),
					&dir, &index) < 0)
		return -1;
	ret = tresor_fts_compact(index, err, sizeof(err));
	if (ret < 0)
		e_error(box->event, "fts-tresor: optimizing %s failed: %s", dir, err);
	tresor_fts_close(index);
	return ret < 0 ? -1 : 0;
}

static int fts_backend_tresor_rescan(struct fts_backend *_backend)
{
	int ret;

	T_BEGIN {
		ret = fts_backend_tresor_each_box((struct fts_tresor_backend *)_backend,
						  fts_backend_tresor_rescan_box, TRUE);
	} T_END;
	return ret;
}

static int fts_backend_tresor_optimize(struct fts_backend *_backend)
{
	int ret;

	T_BEGIN {
		ret = fts_backend_tresor_each_box((struct fts_tresor_backend *)_backend,
						  fts_backend_tresor_optimize_box, FALSE);
	} T_END;
	return ret;
}

/* ------------------------------------------------------------ lookup */

/* The search key for arg, or FALSE when the index can't answer it. */
static bool
fts_backend_tresor_key_from_arg(struct fts_backend *backend,
				const struct mail_search_arg *arg,
				struct tresor_fts_key *key_r)
{
	string_t *normalized;

	i_zero(key_r);
	if (arg->no_fts)
		return FALSE;
	switch (arg->type) {
	case SEARCH_BODY:
		key_r->type = TRESOR_FTS_KEY_BODY;
		break;
	case SEARCH_TEXT:
		key_r->type = TRESOR_FTS_KEY_TEXT;
		break;
	case SEARCH_HEADER:
		/* The index holds address headers as Dovecot's parser wrote
		   them back; HEADER From looks at the raw value. */
		key_r->type = message_header_is_address(arg->hdr_field_name) ?
			TRESOR_FTS_KEY_HEADER_APPROX : TRESOR_FTS_KEY_HEADER;
		key_r->header_name = arg->hdr_field_name;
		break;
	case SEARCH_HEADER_ADDRESS:
	case SEARCH_HEADER_COMPRESS_LWSP:
		key_r->type = TRESOR_FTS_KEY_HEADER;
		key_r->header_name = arg->hdr_field_name;
		break;
	default:
		return FALSE;
	}
	if (arg->value.str == NULL || arg->value.str[0] == '\0')
		return FALSE; /* HEADER name "": Dovecot tests existence */
	normalized = t_str_new(strlen(arg->value.str) + 16);
	fts_backend_tresor_normalize(backend->ns->user, arg->value.str,
				     strlen(arg->value.str), normalized);
	if (str_len(normalized) == 0)
		return FALSE;
	key_r->value = str_c(normalized);
	key_r->value_len = str_len(normalized);
	key_r->negated = arg->match_not ? 1 : 0;
	return TRUE;
}

static void
fts_backend_tresor_ranges_to_array(const struct tresor_fts_range *ranges,
				   size_t count, ARRAY_TYPE(seq_range) *dest)
{
	size_t i;

	for (i = 0; i < count; i++)
		seq_range_array_add_range(dest, ranges[i].first, ranges[i].last);
}

static int
fts_backend_tresor_lookup_box(struct fts_tresor_backend *backend,
			      struct mailbox *box,
			      struct mail_search_arg *args, bool and_args,
			      struct fts_result *result)
{
	ARRAY(struct tresor_fts_key) keys;
	ARRAY(struct mail_search_arg *) key_args;
	struct mail_search_arg *arg;
	struct tresor_fts_key key;
	tresor_fts_result *res;
	tresor_fts_index *index;
	char err[TRESOR_ERR_SIZE];
	const struct tresor_fts_range *ranges;
	const char *dir;
	size_t count;
	unsigned int i;
	int ret;

	t_array_init(&keys, 8);
	t_array_init(&key_args, 8);
	for (arg = args; arg != NULL; arg = arg->next) {
		if (fts_backend_tresor_key_from_arg(&backend->backend, arg,
						    &key)) {
			array_push_back(&keys, &key);
			array_push_back(&key_args, &arg);
		}
	}
	if (array_count(&keys) == 0)
		return 0;

	if (fts_backend_tresor_open_box(backend, box, FALSE, 0, &dir,
					&index) < 0)
		return -1;
	ret = tresor_fts_lookup(index, array_front_modifiable(&keys),
				array_count(&keys), and_args ? 1 : 0,
				fts_backend_tresor_reported_last_uid(backend, dir),
				&res, err, sizeof(err));
	tresor_fts_close(index);
	if (ret < 0) {
		e_error(box->event, "fts-tresor: search in %s failed: %s", dir, err);
		if (ret == TRESOR_FTS_ERR_CORRUPT &&
		    tresor_fts_remove(dir, err, sizeof(err)) == 0) {
			e_error(box->event, "fts-tresor: removed the damaged index "
				"%s; the mailbox will be indexed again", dir);
		}
		return -1;
	}
	if (ret == 0)
		return 0;

	for (i = 0; i < array_count(&keys); i++) {
		const struct tresor_fts_key *k = array_idx(&keys, i);

		if (k->handled != 0)
			(*array_idx(&key_args, i))->match_always = TRUE;
	}
	ranges = tresor_fts_result_definite(res, &count);
	fts_backend_tresor_ranges_to_array(ranges, count,
					   &result->definite_uids);
	ranges = tresor_fts_result_maybe(res, &count);
	fts_backend_tresor_ranges_to_array(ranges, count, &result->maybe_uids);
	tresor_fts_result_free(res);
	return 0;
}

static int
fts_backend_tresor_lookup(struct fts_backend *_backend, struct mailbox *box,
			  struct mail_search_arg *args,
			  enum fts_lookup_flags flags, struct fts_result *result)
{
	int ret;

	T_BEGIN {
		ret = fts_backend_tresor_lookup_box((struct fts_tresor_backend *)_backend,
						    box, args,
						    (flags & FTS_LOOKUP_FLAG_AND_ARGS) != 0,
						    result);
	} T_END;
	return ret;
}

static int
fts_backend_tresor_lookup_multi(struct fts_backend *_backend,
				struct mailbox *const boxes[],
				struct mail_search_arg *args,
				enum fts_lookup_flags flags,
				struct fts_multi_result *result)
{
	unsigned int i, count;

	for (count = 0; boxes[count] != NULL; count++) ;
	result->box_results = p_new(result->pool, struct fts_result, count + 1);
	for (i = 0; i < count; i++) {
		struct fts_result *br = &result->box_results[i];

		br->box = boxes[i];
		br->pool = result->pool;
		p_array_init(&br->definite_uids, result->pool, 32);
		p_array_init(&br->maybe_uids, result->pool, 32);
		p_array_init(&br->scores, result->pool, 1);
		if (fts_backend_tresor_lookup(_backend, boxes[i], args, flags, br) < 0)
			return -1;
	}
	return 0;
}

/* A deleted mailbox's index goes with it (called by the plugin's
   mailbox hook before the mailbox is deleted; GUID given then). */
void fts_tresor_remove_box_index(struct mailbox *box, const char *guid)
{
	struct fts_backend *backend = fts_mailbox_backend(box);
	struct fts_tresor_backend *tbackend;
	char err[TRESOR_ERR_SIZE];
	const char *path;

	if (backend == NULL || strcmp(backend->name, fts_backend_tresor.name) != 0)
		return;
	tbackend = (struct fts_tresor_backend *)backend;
	path = t_strdup_printf("%s/%s", tbackend->root_dir, guid);
	if (tresor_fts_remove(path, err, sizeof(err)) < 0)
		e_error(box->event, "fts-tresor: %s", err);
}

struct fts_backend fts_backend_tresor = {
	.name = "tresor",
	/* no FTS_BACKEND_FLAG_NORMALIZE_INPUT: fts_backend_tresor_normalize() */
	.flags = FTS_BACKEND_FLAG_BINARY_MIME_PARTS,
	.v = {
		.alloc = fts_backend_tresor_alloc,
		.init = fts_backend_tresor_init,
		.deinit = fts_backend_tresor_deinit,
		.get_last_uid = fts_backend_tresor_get_last_uid,
		.update_init = fts_backend_tresor_update_init,
		.update_deinit = fts_backend_tresor_update_deinit,
		.update_set_mailbox = fts_backend_tresor_update_set_mailbox,
		.update_expunge = fts_backend_tresor_update_expunge,
		.update_set_build_key = fts_backend_tresor_update_set_build_key,
		.update_unset_build_key = fts_backend_tresor_update_unset_build_key,
		.update_build_more = fts_backend_tresor_update_build_more,
		.refresh = fts_backend_tresor_refresh,
		.rescan = fts_backend_tresor_rescan,
		.optimize = fts_backend_tresor_optimize,
		.can_lookup = fts_backend_default_can_lookup,
		.lookup = fts_backend_tresor_lookup,
		.lookup_multi = fts_backend_tresor_lookup_multi,
	}
};
