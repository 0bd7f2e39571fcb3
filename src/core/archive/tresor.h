/* dovecot-tresor archive: the C ABI between the archive library
   (src/core/archive, C++20, no Dovecot headers) and the Dovecot glue of
   the archive plugin and its doveadm commands (src/plugins/tresor).

   Rules of this boundary:
   - Plain C types only; every function is noexcept on the C++ side and
     reports failure through its return value plus an error text written
     into a caller-provided buffer (err, err_size). No exception crosses.
   - Objects are opaque; each *_new/_open has a matching *_free/_close.
   - Strings returned by getters stay valid until the owning object is
     freed or the next call that says it invalidates them.

   This header: settings, hashing, the journal and verify, implemented by
   c_api.cpp. Retention is tresor-retention.h (retention_c_api.cpp),
   seals and the evidence export tresor-seal.h (seal_c_api.cpp). */
#ifndef TRESOR_CORE_H
#define TRESOR_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TRESOR_SHA256_HEX_SIZE 65 /* 64 hex digits + NUL */
#define TRESOR_MESSAGE_ID_MAX 1000

/* ------------------------------------------------------------------ */
/* Settings                                                           */
/* ------------------------------------------------------------------ */

typedef struct tresor_config tresor_config;

enum tresor_journal_scope {
	TRESOR_JOURNAL_ALL = 0,     /* every save/expunge in every folder */
	TRESOR_JOURNAL_ARCHIVE = 1  /* only archive folders */
};

enum tresor_duplicate_policy {
	TRESOR_DUPLICATES_KEEP = 0,
	TRESOR_DUPLICATES_DROP = 1
};

/* A config with every setting at its documented default. */
tresor_config *tresor_config_new(void);
void tresor_config_free(tresor_config *cfg);

/* NULL-terminated list of every setting name the core understands
   ("tresor_archive", "tresor_dir", ...). The glue looks each one up in
   the plugin {} block and passes the non-NULL values to
   tresor_config_set(). */
const char *const *tresor_config_setting_names(void);

/* Set one setting from its string value. Returns 0 on success, -1 on a
   bad value or unknown name; err then holds a message that names the
   setting, e.g. "tresor_duplicates: invalid value 'maybe' (expected keep
   or drop)". */
int tresor_config_set(tresor_config *cfg, const char *name, const char *value,
		      char *err, size_t err_size);

/* tresor_dir as configured (may start with "~/"; the glue expands it). */
const char *tresor_config_dir(const tresor_config *cfg);
enum tresor_journal_scope tresor_config_journal_scope(const tresor_config *cfg);
enum tresor_duplicate_policy tresor_config_duplicates(const tresor_config *cfg);
enum tresor_duplicate_policy tresor_config_content_duplicates(const tresor_config *cfg);
/* tresor_seal_key, tresor_seal_pubkey, tresor_tsa_ca: absolute paths, ""
   when not set. */
const char *tresor_config_seal_key(const tresor_config *cfg);
const char *tresor_config_seal_pubkey(const tresor_config *cfg);
const char *tresor_config_tsa_ca(const tresor_config *cfg);

/* 1 when the mailbox (full vname, hierarchy separator sep) matches one of
   the tresor_archive patterns: '*' matches anything, '%' anything but
   sep; matching is case-sensitive except that the "INBOX" prefix is
   matched case-insensitively, as Dovecot does. */
int tresor_config_is_archive(const tresor_config *cfg, const char *mailbox,
			     char sep);
/* 1 when some mailbox below `mailbox` (i.e. "mailbox<sep>...") could match
   an archive pattern: renaming or deleting such a parent would move an
   archive folder. */
int tresor_config_has_archive_children(const tresor_config *cfg,
				       const char *mailbox, char sep);
/* 1 when saves/expunges in this mailbox are journaled (scope all, or an
   archive folder). */
int tresor_config_is_journaled(const tresor_config *cfg, const char *mailbox,
			       char sep);

/* ------------------------------------------------------------------ */
/* Message hashing                                                    */
/* ------------------------------------------------------------------ */

/* Feed the message bytes as stored (LF or CRLF line ends, any chunking).
   sha256: over the message as IMAP FETCH BODY[] returns it (every bare LF
   becomes CRLF), with the tresor_secret_headers fields (and their
   continuation lines) left out of the header.
   content_sha256: over the tresor_content_headers fields, normalised,
   followed by the CRLF-normalised body. docs/archive.md defines both. */
typedef struct tresor_hasher tresor_hasher;

typedef struct tresor_hash_result {
	char sha256[TRESOR_SHA256_HEX_SIZE];
	char content_sha256[TRESOR_SHA256_HEX_SIZE];
	uint64_t size;            /* bytes of the CRLF form (= RFC822.SIZE) */
	char message_id[TRESOR_MESSAGE_ID_MAX]; /* trimmed, "" if none */
	/* the mail has NUL bytes: sha256 of the form IMAP's BODY[] serves
	   (each NUL as 0x80), "" otherwise */
	char imap_sha256[TRESOR_SHA256_HEX_SIZE];
} tresor_hash_result;

tresor_hasher *tresor_hasher_new(const tresor_config *cfg);
/* Computes only sha256 (content_sha256 and message_id stay ""): what
   verify needs, at a fraction of the cost. */
tresor_hasher *tresor_hasher_new_sha256_only(const tresor_config *cfg);
void tresor_hasher_update(tresor_hasher *h, const void *data, size_t size);
/* Completes the hashes. The hasher can't be updated afterwards (until
   tresor_hasher_reset()). Returns 0, or -1 when hashing failed (out of
   memory): *result_r is then zeroed. */
int tresor_hasher_finish(tresor_hasher *h, tresor_hash_result *result_r);
/* Makes the hasher ready for the next message, finished or not, with the
   same settings; cheaper than a new one per mail. */
void tresor_hasher_reset(tresor_hasher *h);
void tresor_hasher_free(tresor_hasher *h);

/* Hashing on a thread of its own (sha256 only, as
   tresor_hasher_new_sha256_only), while the caller reads the next mails:
   each mail's bytes are handed over as they are read, and the results come
   back in the order the mails were begun. The thread calls nothing of
   Dovecot's and runs with every signal blocked. The bytes queued at once
   are bounded: append waits for the thread beyond 4 MB. */
typedef struct tresor_hash_pipeline tresor_hash_pipeline;

/* NULL with err set when the thread can't be started. */
tresor_hash_pipeline *
tresor_hash_pipeline_new_sha256_only(const tresor_config *cfg, char *err,
				     size_t err_size);
/* One mail: begin, append its bytes in any chunking, then end (a result
   follows) or cancel (none does). begin, append and end return 0, or -1
   with err set (misuse, or the thread failed). */
int tresor_hash_pipeline_begin(tresor_hash_pipeline *p, uint64_t tag,
			       char *err, size_t err_size);
int tresor_hash_pipeline_append(tresor_hash_pipeline *p, const void *data,
				size_t size, char *err, size_t err_size);
int tresor_hash_pipeline_end(tresor_hash_pipeline *p, char *err,
			     size_t err_size);
void tresor_hash_pipeline_cancel(tresor_hash_pipeline *p);
/* The result of the oldest mail ended and not yet taken: 1 with *tag_r
   and *result_r set (*hashed_r 0 when hashing it failed: out of memory),
   0 when there is none ready (with wait: none pending), -1 with err set
   when the thread failed. */
int tresor_hash_pipeline_next(tresor_hash_pipeline *p, int wait,
			      uint64_t *tag_r, int *hashed_r,
			      tresor_hash_result *result_r, char *err,
			      size_t err_size);
/* Mails ended whose results were not taken yet. */
size_t tresor_hash_pipeline_pending(const tresor_hash_pipeline *p);
/* Stops the thread; results not taken are dropped. */
void tresor_hash_pipeline_free(tresor_hash_pipeline *p);

/* ------------------------------------------------------------------ */
/* Journal (append side)                                              */
/* ------------------------------------------------------------------ */

/* One event. Unused string fields are NULL and numeric ones 0; they are
   then left out of the JSON line. seq, time and prev are filled in by
   tresor_journal_append(). */
typedef struct tresor_record {
	const char *event;        /* save, expunge, denied, duplicate,
				     delete, rename, adopt, invoice (and
				     interrupted, written by the core
				     itself) */
	const char *mailbox;
	const char *mailbox_guid; /* 32 hex digits */
	uint32_t uidvalidity;
	uint32_t uid;
	const char *guid;
	uint64_t size;
	const char *sha256;
	/* save: sha256 of BODY[] where it differs (NUL bytes), else NULL */
	const char *imap_sha256;
	const char *content_sha256;
	const char *message_id;
	uint64_t duplicate_of;         /* seq of the earlier record */
	uint64_t content_duplicate_of; /* seq of the earlier record */
	/* save: 1 when the folder was an archive folder at the save, so
	   that its removal is a bypassed protection whatever the settings
	   of the process that removes it (verify: BYPASS) */
	uint32_t archive;
	const char *action;   /* denied: expunge, store-deleted, move-out,
				 delete, rename */
	const char *new_mailbox; /* rename: the new name */
	const char *service;  /* imap, lmtp, doveadm, ... */
	const char *session;  /* Dovecot session id, for correlating logs */
	const char *reason;   /* one human sentence */
	/* adopt: the mail's INTERNALDATE, "YYYY-MM-DDTHH:MM:SSZ"
	   (tresor_format_utc_time()) */
	const char *internaldate;
	/* invoice: what the invoice test found in the mail the save record
	   right before it stored, as name, value pairs ("number", "4711",
	   ..., NULL): the record's "invoice" object (docs/archive.md 3.8).
	   The core adds save_seq. */
	const char *const *invoice;
} tresor_record;

#define TRESOR_UTC_TIME_SIZE 32
/* "2019-03-04T10:00:00Z": a Unix time as the journal writes times of
   seconds (UTC). "" when the time can't be represented. */
void tresor_format_utc_time(int64_t unix_time, char buf[TRESOR_UTC_TIME_SIZE]);

typedef struct tresor_journal tresor_journal;

/* Opens (creating the directories with mode 0700 when missing) the journal
   in dir (already ~-expanded): dir/journal/YYYY.jsonl, dir/journal/.lock
   and the derived catalog dir/catalog.sqlite. Returns NULL with err set
   on failure. */
tresor_journal *tresor_journal_open(const char *dir, char *err,
				    size_t err_size);
void tresor_journal_close(tresor_journal *j);

/* Exclusive per-user lock (flock on journal/.lock), reentrant within one
   tresor_journal object: each successful lock must be paired with
   unlock. Waits up to timeout_ms. Returns 0, or -1 with err set. */
int tresor_journal_lock(tresor_journal *j, unsigned int timeout_ms,
			char *err, size_t err_size);
void tresor_journal_unlock(tresor_journal *j);
/* The descriptor tresor_journal_lock() flocks, for a caller that can wait
   for the lock in the kernel with a timeout of its own (the core polls,
   as it has no signal handler to end a blocking wait): once the caller's
   flock(LOCK_EX) on it returns, tresor_journal_lock() takes it at once.
   -1 if j is NULL. */
int tresor_journal_lock_fd(const tresor_journal *j);

/* Appends one record: takes the lock itself if not already held, reads
   the current head (last line of the newest journal file), writes the
   line {"seq":..,"time":..,"event":..,...,"prev":..}, fdatasync()s it
   (and the directory when a new year's file was created), then updates
   the catalog. A save record whose duplicate_of (content_duplicate_of) is
   0 gets the seq of the earliest live save with the same sha256
   (content_sha256) in the same mailbox. Returns 0 and the record's seq in
   *seq_r (may be NULL), or -1 with err set - then nothing was written. */
int tresor_journal_append(tresor_journal *j, const tresor_record *rec,
			  uint64_t *seq_r, char *err, size_t err_size);
/* The same for count records in order, with one write and one fdatasync:
   all are written or none. Duplicates among the batch's own saves are
   recognised too. seqs_r (may be NULL) receives count seqs. */
int tresor_journal_append_batch(tresor_journal *j, const tresor_record *recs,
				size_t count, uint64_t *seqs_r, char *err,
				size_t err_size);
/* The same without the fdatasync: the caller holds the lock across more
   work (the mail store's commit), releases it, then calls
   tresor_journal_flush() before reporting success - so that concurrent
   writers' flushes overlap instead of queueing behind the lock. */
int tresor_journal_append_batch_unflushed(tresor_journal *j,
					  const tresor_record *recs,
					  size_t count, uint64_t *seqs_r,
					  char *err, size_t err_size);
/* Makes what append_batch_unflushed wrote durable. 0, or -1 with err. */
int tresor_journal_flush(tresor_journal *j, char *err, size_t err_size);

/* A commit of the mail store that is to be journaled: with the lock held,
   before the commit, announces its records (saves without UIDs, expunges;
   not dropped duplicates). Reserves the journal space their lines will
   need and adds them to dir/intent.jsonl. -1 with err when either fails
   (journal file system full or read-only): the commit must then not
   happen. tresor_journal_end_intent() once the records are appended, or
   when the commit failed; after a failed append, don't: the intent stays.
   Intents nest (a commit within a commit); the file goes with the last
   end. One left behind (the process died after the commit, or the append
   failed) is journaled by the next lock as "interrupted" records. */
int tresor_journal_write_intent(tresor_journal *j, const tresor_record *recs,
				size_t count, char *err, size_t err_size);
int tresor_journal_end_intent(tresor_journal *j, char *err, size_t err_size);
/* What the last tresor_journal_lock() did with an intent left behind:
   *recovered_r interrupted records journaled; the returned text says why
   it could not journal them ("" when it could, or there was none). */
const char *tresor_journal_last_recovery(const tresor_journal *j,
					 uint64_t *recovered_r);

/* Duplicate look-up in the catalog (brought up to date from the journal
   first; rebuilt when missing or corrupt): an earlier save record in the
   same mailbox (by mailbox_guid) whose mail has not been removed since,
   with the same sha256 (content = 0) or content_sha256 (content = 1).
   Returns 1 and its seq/uid, 0 when none, -1 with err set. */
int tresor_journal_find_duplicate(tresor_journal *j, const char *mailbox_guid,
				  const char *hash, int content,
				  uint64_t *seq_r, uint32_t *uid_r,
				  char *err, size_t err_size);

/* ------------------------------------------------------------------ */
/* Journal (read side): doveadm tresor journal / status               */
/* ------------------------------------------------------------------ */

/* The fixed column order used when printing records ("seq", "time",
   "event", "mailbox", ..., "prev"), NULL-terminated. */
/* Whether the journal accounts live mails to the mailbox with this GUID
   (takes the lock itself if not held): 1 yes, 0 no, -1 with err set. */
int tresor_journal_mailbox_has_saves(tresor_journal *j, const char *mailbox_guid,
				     char *err, size_t err_size);

const char *const *tresor_journal_field_names(void);

typedef struct tresor_journal_reader tresor_journal_reader;

/* Opens dir/journal/ for reading, files in year order. NULL + err on
   failure (a missing journal directory is an empty journal, not an
   error). */
tresor_journal_reader *tresor_journal_reader_open(const char *dir, char *err,
						  size_t err_size);
/* Next record: returns 1 and fills values_r with one string per
   tresor_journal_field_names() entry ("" where the record has no such
   field; numbers in decimal), 0 at the end, -1 when a line can't be
   parsed (err says which file and line; the reader then continues with
   the next line on the next call). Strings stay valid until the next
   call. */
int tresor_journal_reader_next(tresor_journal_reader *r,
			       const char *const **values_r,
			       char *err, size_t err_size);
void tresor_journal_reader_free(tresor_journal_reader *r);

typedef struct tresor_journal_status {
	uint64_t records;
	uint64_t head_seq;
	char head_sha256[TRESOR_SHA256_HEX_SIZE]; /* hash of the last line */
	char files[4096]; /* journal file paths, space-separated */
} tresor_journal_status;

int tresor_journal_get_status(const char *dir, tresor_journal_status *st_r,
			      char *err, size_t err_size);
/* The journal's head without reading the journal: the seq and the hash of
   its last complete line (0 and 64 zeros when it is empty). Under the
   lock, an unchanged head means nobody appended since it was last read.
   0, or -1 with err set. */
int tresor_journal_head(const char *dir, uint64_t *seq_r,
			char sha256_r[TRESOR_SHA256_HEX_SIZE],
			char *err, size_t err_size);

/* ------------------------------------------------------------------ */
/* Verification                                                       */
/* ------------------------------------------------------------------ */

enum tresor_problem_kind {
	TRESOR_PROBLEM_CHAIN = 0,     /* removed/inserted/reordered/edited line */
	TRESOR_PROBLEM_MODIFIED,      /* stored mail's hash differs */
	TRESOR_PROBLEM_MISSING,       /* journaled, gone without allowed removal */
	TRESOR_PROBLEM_UNJOURNALED,   /* in a journaled folder, no record */
	TRESOR_PROBLEM_SEAL,          /* a seal or time-stamp response that
					 doesn't check out, or can't be checked */
	TRESOR_PROBLEM_PURGE,         /* a purge record for a mail that was not
					 purgeable then (retention not ended,
					 or under a hold) */
	TRESOR_PROBLEM_BYPASS,        /* an archived mail expunged, or its
					 folder deleted or renamed: the archive
					 protection was switched off for it */
	TRESOR_PROBLEM_IDENTITY       /* one mailbox GUID for two folders, or a
					 folder whose GUID changed */
};

typedef struct tresor_problem {
	enum tresor_problem_kind kind;
	const char *kind_name;    /* "CHAIN", "MODIFIED", ... */
	uint64_t seq;             /* journal seq concerned, 0 if none */
	const char *mailbox;
	const char *mailbox_guid;
	uint32_t uid;
	const char *detail;       /* one human sentence */
} tresor_problem;

typedef struct tresor_verify tresor_verify;

/* Reads the whole journal under dir, checks the chain (prev hashes, seq
   without gaps, parseable lines) and derives the set of mails that must
   still be in the store: save records not followed by an expunge (of
   that mailbox_guid+uid, or +guid for a save without UID) or a delete (of
   that mailbox_guid); adopt records count as save records. NULL + err
   only when the journal can't be read at all. */
tresor_verify *tresor_verify_new(const char *dir, char *err, size_t err_size);
/* The same, and checks every seal with the config's tresor_seal_pubkey and
   every time-stamp response with its tresor_tsa_ca (SEAL problems; seals
   of another user than `user` are problems too). On failure
   *config_error_r is 1 when a key or CA file can't be used (err names the
   setting), 0 when the journal can't be read. */
tresor_verify *tresor_verify_new_with_seals(const char *dir,
					    const tresor_config *cfg,
					    const char *user,
					    int *config_error_r,
					    char *err, size_t err_size);

/* tresor_verify_new_with_seals() on a thread of its own: the journal is
   read while the caller reads the mailboxes. The thread runs with every
   signal blocked and calls nothing of the caller's. NULL + err when the
   thread can't be started. */
typedef struct tresor_verify_loader tresor_verify_loader;
tresor_verify_loader *tresor_verify_load_begin(const char *dir,
					       const tresor_config *cfg,
					       const char *user,
					       char *err, size_t err_size);
/* 1 once the journal is read: tresor_verify_load_end() won't wait. */
int tresor_verify_load_ready(const tresor_verify_loader *loader);
/* Waits for the reading and frees the loader; then as
   tresor_verify_new_with_seals(). */
tresor_verify *tresor_verify_load_end(tresor_verify_loader *loader,
				      int *config_error_r,
				      char *err, size_t err_size);

/* 1 when the journal expects mails in this mailbox. The glue observes
   every mailbox that is journaled or expected. */
int tresor_verify_mailbox_expected(const tresor_verify *v,
				   const char *mailbox_guid);
/* Declares that the glue examined this mailbox (call even if empty). */
void tresor_verify_mailbox_seen(tresor_verify *v, const char *mailbox_guid,
				const char *mailbox, uint32_t uidvalidity);
/* What tresor_verify_observe() found a mail to be. */
enum tresor_observation {
	/* the journal accounts for it (a save or adopt record, an
	   interrupted save found by its hash, a pending purge) and its
	   sha256 matches */
	TRESOR_OBSERVED_JOURNALED = 0,
	/* the journal accounts for it, but its sha256 differs: MODIFIED */
	TRESOR_OBSERVED_MODIFIED,
	/* no record accounts for it, in a journaled folder: UNJOURNALED -
	   what doveadm tresor adopt journals */
	TRESOR_OBSERVED_UNJOURNALED,
	/* no record, in a folder that is not journaled; or in a folder
	   whose GUID the journal gives to another folder (IDENTITY), where
	   a record would count for nothing */
	TRESOR_OBSERVED_OTHER
};
/* One mail found in the store with its freshly computed sha256 and its
   GUID (may be NULL; it finds save records written without a UID, when
   the backend assigned the UID only after the commit).
   journaled: whether the mailbox is a journaled folder (an unexpected mail
   is UNJOURNALED only there). A mail observed before counts as
   TRESOR_OBSERVED_JOURNALED. */
enum tresor_observation
tresor_verify_observe(tresor_verify *v, const char *mailbox_guid,
		      const char *mailbox, uint32_t uid, const char *guid,
		      const char *sha256, int journaled);
/* Computes the remaining problems. only_seen_mailboxes = 1 restricts
   MISSING to mailboxes declared with tresor_verify_mailbox_seen() (for
   `verify MAILBOX ...`). */
void tresor_verify_finish(tresor_verify *v, int only_seen_mailboxes);
size_t tresor_verify_problem_count(const tresor_verify *v);
const tresor_problem *tresor_verify_problem(const tresor_verify *v,
					    size_t idx);
/* 1 when the journal is damaged or shorter than it was (a CHAIN
   problem); known right after tresor_verify_new(). Adopting then would
   cover it. */
int tresor_verify_chain_broken(const tresor_verify *v);
/* Whether observing a mail UNJOURNALED also lists it as a problem (the
   default, 1). adopt journals such mails instead: with 0, the observation
   says so and nothing is kept per mail. */
void tresor_verify_list_unjournaled(tresor_verify *v, int list);
/* Number of save records checked against the store (for the summary). */
/* An incremental verify (doveadm tresor verify --since): 1 when a mail the
   journal expects, saved before since_seq, is accounted for by its UID (or
   GUID) without its content being read; 0 - hash it and call
   tresor_verify_observe() - for every other mail. */
int tresor_verify_observe_unread(tresor_verify *v, const char *mailbox_guid,
				 const char *mailbox, uint32_t uid, const char *guid,
				 uint64_t since_seq);
/* The seq of the newest seal record, 0 when there is none. */
uint64_t tresor_verify_last_seal_seq(const tresor_verify *v);
/* Mails accounted for by tresor_verify_observe_unread(). */
uint64_t tresor_verify_unread_count(const tresor_verify *v);
uint64_t tresor_verify_checked_count(const tresor_verify *v);
/* Number of journal lines read. */
uint64_t tresor_verify_record_count(const tresor_verify *v);
/* Number of mails observed although a purge record ended them (an
   interrupted purge; the next doveadm tresor purge finishes it). */
uint64_t tresor_verify_purge_pending_count(const tresor_verify *v);
/* Notes: what is out of the ordinary but no problem (the clock went back
   between two records; an interrupted save or expunge, and whether it
   happened). Complete after tresor_verify_finish(); in seq order.
   tresor_verify_note_count() refreshes what tresor_verify_note() returns;
   it stays valid until then, or until v is freed. */
typedef struct tresor_note {
	uint64_t seq;
	const char *detail;       /* one human sentence */
} tresor_note;
size_t tresor_verify_note_count(const tresor_verify *v);
const tresor_note *tresor_verify_note(const tresor_verify *v, size_t idx);
void tresor_verify_free(tresor_verify *v);

/* ------------------------------------------------------------------ */
/* Invoice register (docs/invoices.md 9)                              */
/* ------------------------------------------------------------------ */

typedef struct tresor_invoices tresor_invoices;

typedef struct tresor_invoice_entry {
	uint64_t seq;            /* of the invoice record */
	const char *time;        /* when the mail was stored */
	uint64_t save_seq;       /* the save record it describes */
	const char *mailbox;
	const char *mailbox_guid;
	uint32_t uidvalidity;
	uint32_t uid;
	const char *guid;
	const char *sha256;
	/* copies one delivery stored (fileinto :copy); the entry names the
	   one in an archive folder, else the first */
	unsigned int copies;
	/* in tresor_invoice_field_names() order */
	const char *const *fields;
} tresor_invoice_entry;

/* format, number, date, total, currency, seller, vatid, iban, supplier,
   folder, verdict, reason; NULL-terminated. */
const char *const *tresor_invoice_field_names(void);
/* The register of the journal in dir, oldest first: invoices stored
   from..to (YYYY-MM-DD, UTC, both included; NULL for open), of the
   verdict and with supplier (or seller) containing supplier
   (case-insensitive) when not NULL. NULL with err on a bad date or an
   unreadable journal. */
tresor_invoices *tresor_invoices_read(const char *dir, const char *from,
				      const char *to, const char *verdict,
				      const char *supplier, char *err,
				      size_t err_size);
size_t tresor_invoices_count(const tresor_invoices *r);
/* Valid until r is freed. */
int tresor_invoices_get(const tresor_invoices *r, size_t idx,
			tresor_invoice_entry *entry_r);
/* The CSV header row, and the rows of r for user (with their line
   ends); valid until r is freed. */
const char *tresor_invoices_csv_header(void);
const char *tresor_invoices_csv(tresor_invoices *r, const char *user);
void tresor_invoices_free(tresor_invoices *r);

#ifdef __cplusplus
}
#endif

#endif
