/* dovecot-tresor core: the C ABI of the full-text index (fts_tresor).
   Same rules as tresor.h: plain C types, errors through the return value
   and a caller's buffer, no exception crosses. Text handed in must already
   be normalised by Dovecot's normaliser (the FTS glue sets
   FTS_BACKEND_FLAG_NORMALIZE_INPUT and normalises search keys the same
   way). */
#ifndef TRESOR_FTS_H
#define TRESOR_FTS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return values besides 0 / -1 */
#define TRESOR_FTS_ERR_CORRUPT (-2) /* remove the index and rebuild it */
#define TRESOR_FTS_ERR_BUSY (-3)    /* another process kept the write lock */

typedef struct tresor_fts_index tresor_fts_index;
typedef struct tresor_fts_result tresor_fts_result;
typedef struct tresor_fts_settings tresor_fts_settings;

enum tresor_fts_field {
	TRESOR_FTS_FIELD_BODY = 0,        /* text and message body parts */
	TRESOR_FTS_FIELD_ATTACHMENT = 1,  /* text extracted by tresor-extract */
	TRESOR_FTS_FIELD_HTML = 2,        /* text/html as Dovecot stripped it */
	TRESOR_FTS_FIELD_HEADER = 3,      /* top-level header, by name */
	TRESOR_FTS_FIELD_MIME_HEADER = 4  /* header of a MIME part */
};

enum tresor_fts_key_type {
	TRESOR_FTS_KEY_BODY = 0,
	TRESOR_FTS_KEY_TEXT = 1,
	TRESOR_FTS_KEY_HEADER = 2,        /* indexed form == searched form */
	TRESOR_FTS_KEY_HEADER_APPROX = 3  /* only "maybe" answers */
};

/* Opens the index in dir (created when writable). A read-only open of a
   missing index succeeds and reads as empty. notice gets a text when a
   writable open started the index afresh (UIDVALIDITY change). settings
   (NULL: the defaults) gives tresor_fts_vocabulary_from. Returns 0, -1,
   TRESOR_FTS_ERR_CORRUPT or TRESOR_FTS_ERR_BUSY. */
int tresor_fts_open(const char *dir, uint32_t uidvalidity, int writable,
		    const tresor_fts_settings *settings,
		    unsigned lock_timeout_ms, tresor_fts_index **idx_r,
		    char *notice, size_t notice_size, char *err, size_t err_size);
void tresor_fts_close(tresor_fts_index *idx);
int tresor_fts_remove(const char *dir, char *err, size_t err_size);

/* Highest indexed UID (0: nothing, or another UIDVALIDITY). */
uint32_t tresor_fts_last_uid(const tresor_fts_index *idx);
uint32_t tresor_fts_document_count(const tresor_fts_index *idx);

/* Writing. Every function returns 0 or a negative error as above. */
int tresor_fts_begin_document(tresor_fts_index *idx, uint32_t uid,
			      char *err, size_t err_size);
int tresor_fts_add_text(tresor_fts_index *idx, enum tresor_fts_field field,
			const char *header_name, const void *text, size_t len,
			char *err, size_t err_size);
void tresor_fts_end_field(tresor_fts_index *idx);
void tresor_fts_mark_incomplete(tresor_fts_index *idx);
int tresor_fts_end_document(tresor_fts_index *idx, char *err, size_t err_size);
/* Attachment text extracted while later mails are indexed: _hold_
   ends the current document but keeps it back; _add_held_text adds
   extracted attachment text (normalised) to it; _release_ writes it.
   Commit fails while a document is held. */
int tresor_fts_hold_document(tresor_fts_index *idx, char *err, size_t err_size);
int tresor_fts_add_held_text(tresor_fts_index *idx, uint32_t uid,
			     const void *text, size_t len,
			     char *err, size_t err_size);
int tresor_fts_release_document(tresor_fts_index *idx, uint32_t uid,
				char *err, size_t err_size);
int tresor_fts_expunge(tresor_fts_index *idx, uint32_t uid,
		       char *err, size_t err_size);
int tresor_fts_commit(tresor_fts_index *idx, char *err, size_t err_size);
/* tresor_fts_commit() without waiting: it runs on the index's writer
   thread after the documents so far; a failure comes from a later call
   (at the latest tresor_fts_commit()). */
int tresor_fts_commit_in_background(tresor_fts_index *idx, char *err,
				    size_t err_size);
/* The writer adds the mails after caller_last_uid (what get_last_uid told
   Dovecot). Returns 1 when the index holds less (removed or rebuilt
   meanwhile): its commits then keep last_uid, so the mails in between are
   indexed later; 0 when it holds that much. */
int tresor_fts_builds_on(tresor_fts_index *idx, uint32_t caller_last_uid,
			 char *err, size_t err_size);
/* Drops documents of UIDs not in existing_uids (sorted ascending) and
   lowers last_uid so that existing but unindexed mails get indexed. */
int tresor_fts_reconcile(tresor_fts_index *idx, const uint32_t *existing_uids,
			 size_t count, uint32_t *last_uid_r,
			 char *err, size_t err_size);
int tresor_fts_compact(tresor_fts_index *idx, char *err, size_t err_size);
/* Compacts after an indexing run when the index grew by half or a quarter
   of it is expunged mails; *compacted_r says whether it did. */
int tresor_fts_compact_if_worthwhile(tresor_fts_index *idx, int *compacted_r,
				     char *err, size_t err_size);

/* Searching */
struct tresor_fts_key {
	enum tresor_fts_key_type type;
	const char *header_name; /* header keys */
	const char *value;       /* normalised */
	size_t value_len;
	int negated;
	int handled;             /* out */
};

struct tresor_fts_range {
	uint32_t first, last;
};

/* Answers the keys it can (handled = 1) combined with AND (and_args) or
   OR. UIDs above the index's last UID up to assumed_last_uid (the last UID
   reported to Dovecot before; 0 if none) are "maybe". Returns 1 with
   *result_r set, 0 when no key was handled, or a negative error. */
int tresor_fts_lookup(tresor_fts_index *idx, struct tresor_fts_key *keys,
		      size_t count, int and_args, uint32_t assumed_last_uid,
		      tresor_fts_result **result_r, char *err, size_t err_size);
const struct tresor_fts_range *
tresor_fts_result_definite(const tresor_fts_result *r, size_t *count_r);
const struct tresor_fts_range *
tresor_fts_result_maybe(const tresor_fts_result *r, size_t *count_r);
void tresor_fts_result_free(tresor_fts_result *r);

/* Settings (plugin { }): tresor_extract, tresor_extract_timeout,
   tresor_extract_memory, tresor_fts_attachments,
   tresor_fts_attachment_max_size, tresor_fts_lock_timeout,
   tresor_fts_vocabulary_from. */
tresor_fts_settings *tresor_fts_settings_new(void);
void tresor_fts_settings_free(tresor_fts_settings *set);
/* NULL-terminated list of the setting names. */
const char *const *tresor_fts_setting_names(void);
/* -1 with an error naming the setting on a bad value. */
int tresor_fts_settings_set(tresor_fts_settings *set, const char *name,
			    const char *value, char *err, size_t err_size);
int tresor_fts_settings_attachments(const tresor_fts_settings *set);
uint64_t tresor_fts_settings_attachment_max_size(const tresor_fts_settings *set);
unsigned tresor_fts_settings_lock_timeout_ms(const tresor_fts_settings *set);

/* Attachments */
/* 1 when the part (content type, first bytes) is worth running
   tresor-extract for. */
int tresor_fts_worth_extracting(const char *content_type, const void *head,
				size_t head_len);
/* A long-lived tresor-extract (--serve) for one indexing run: started at
   the first attachment, restarted after a failure or every 500
   documents, stopped by _free(). */
typedef struct tresor_fts_extractor tresor_fts_extractor;
tresor_fts_extractor *tresor_fts_extractor_new(const tresor_fts_settings *set);
void tresor_fts_extractor_free(tresor_fts_extractor *ex);
/* The text of one attachment, under the configured limits. Returns 0 with
   *text_r (malloc()ed, free() it; may be empty; err may then hold
   warnings) or -1 with the reason in err: the part is skipped, nothing
   else fails. */
int tresor_fts_extract_text(tresor_fts_extractor *ex, const char *content_type,
			    const void *data, size_t len, char **text_r,
			    size_t *text_len_r, char *err, size_t err_size);
/* The same in two halves, so that indexing goes on while the helper
   extracts: _submit hands one attachment over (returns once the helper
   has read it; -1 only on an internal error), _collect waits for its
   text with _extract_text's results. One at a time: collect before the
   next submit. */
int tresor_fts_extract_submit(tresor_fts_extractor *ex, const char *content_type,
			      const void *data, size_t len,
			      char *err, size_t err_size);
int tresor_fts_extract_pending(const tresor_fts_extractor *ex);
int tresor_fts_extract_collect(tresor_fts_extractor *ex, char **text_r,
			       size_t *text_len_r, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
