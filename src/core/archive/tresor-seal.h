/* dovecot-tresor core: the C ABI of seals, time stamps and the evidence
   export (doveadm tresor seal / tsr / export; docs/archive.md 7 and 8).
   Implemented by seal_c_api.cpp. Same rules as tresor.h: plain C types,
   errors in a caller-provided buffer, no exception crosses. */
#ifndef TRESOR_SEAL_H
#define TRESOR_SEAL_H

#include "archive/tresor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tresor_seal_key tresor_seal_key;

/* Loads tresor_seal_key: a PEM Ed25519 private key. NULL with err naming
   the setting when it can't be read or isn't an Ed25519 key. */
tresor_seal_key *tresor_seal_key_load(const char *path, char *err,
				      size_t err_size);
void tresor_seal_key_free(tresor_seal_key *key);
/* SHA-256 (hex) of the public key's DER form. */
const char *tresor_seal_key_id(const tresor_seal_key *key);

typedef struct tresor_seal_info {
	uint64_t seq;       /* the seal record; 0: no journal, nothing sealed */
	uint64_t head_seq;  /* the line it seals */
	char head_sha256[TRESOR_SHA256_HEX_SIZE];
	char time[40];
	char key_id[TRESOR_SHA256_HEX_SIZE];
	char sig[100];      /* base64 */
} tresor_seal_info;

/* Appends a seal record over the head of the journal in dir (taking the
   journal lock from reading the head to writing the record), signed with
   key for user. tsq_path != NULL: also writes an RFC 3161 TimeStampReq
   (DER, SHA-256 over the signed text, with a nonce kept in the seal) to
   that file. A user without a journal gets none: info_r->seq = 0.
   Returns 0, or -1 with err. */
int tresor_seal(const char *dir, const tresor_seal_key *key, const char *user,
		const char *tsq_path, tresor_seal_info *info_r,
		char *err, size_t err_size);

typedef struct tresor_tsr_info {
	uint64_t seq;       /* the tsr record */
	uint64_t seal_seq;  /* the seal it time-stamps */
	char gen_time[40];  /* the TSA's time, RFC 3339 */
} tresor_tsr_info;

/* Reads a TimeStampResp (DER) from tsr_path, finds the seal it answers
   (by its message imprint), checks the nonce and, when tsa_ca is not NULL
   or "", the TSA's signature and certificate; then appends a tsr record.
   Returns 0, or -1 with err (nothing appended). */
int tresor_seal_attach_tsr(const char *dir, const char *tsr_path,
			   const char *tsa_ca, tresor_tsr_info *info_r,
			   char *err, size_t err_size);

typedef struct tresor_export tresor_export;

typedef struct tresor_export_mail {
	uint64_t seq;             /* of the save (or interrupted save) record */
	const char *mailbox;      /* as journaled */
	const char *mailbox_guid;
	uint32_t uidvalidity;
	uint32_t uid;             /* 0: find it with tresor_export_locate() */
	const char *guid;
	const char *sha256;       /* as journaled */
	const char *status;       /* "": to be exported; "expunged",
				     "purged", "deleted": removed by a
				     journaled record, nothing to export */
} tresor_export_mail;

/* 1 when s is a date written YYYY-MM-DD that exists (not 2026-02-30),
   else 0. */
int tresor_date_valid(const char *s);

/* Starts an evidence export of the mails user saved from `from` to `to`
   (YYYY-MM-DD, UTC, both included) into out_dir (created; must not exist
   or be empty), reading the journal in dir; with mailbox_patterns
   (NULL-terminated, '/' for separator as in tresor_archive; NULL or empty:
   every mailbox) only the mails saved into a mailbox one of them matches.
   NULL with err on failure. */
tresor_export *tresor_export_new(const char *dir, const tresor_config *cfg,
				 const char *user, const char *from,
				 const char *to, const char *out_dir,
				 const char *const *mailbox_patterns,
				 char separator, char *err, size_t err_size);
size_t tresor_export_mail_count(const tresor_export *x);
/* Strings stay valid until the next call with x. */
int tresor_export_get_mail(const tresor_export *x, size_t idx,
			   tresor_export_mail *mail_r);
/* Finds the mails to export that were saved without a UID (also those of
   interrupted saves, docs/archive.md 3.4) as verify finds them: feed the
   mailbox's mails (UID, GUID, and their sha256 or NULL); 1 with *idx_r
   when the mail is that of mails idx, 0 when it is none of them (or was
   found before). */
int tresor_export_locate(tresor_export *x, const char *mailbox_guid,
			 uint32_t uid, const char *guid, const char *sha256,
			 size_t *idx_r);
/* 1 when the mailbox has interrupted saves to export not found yet: its
   mails are then worth hashing for tresor_export_locate(). */
int tresor_export_wants_hashes(const tresor_export *x,
			       const char *mailbox_guid);
/* Writes mail idx as mails/<seq>.eml from its stored bytes (any chunks):
   begin, write..., end. end returns 1 when the bytes have the journaled
   sha256, 0 when not (the file stays, status "modified"), -1 on error. */
int tresor_export_mail_begin(tresor_export *x, size_t idx, char *err,
			     size_t err_size);
void tresor_export_mail_write(tresor_export *x, const void *data, size_t size);
int tresor_export_mail_end(tresor_export *x, char *err, size_t err_size);
/* A mail that couldn't be exported: status "missing" or "unreadable".
   A missing mail of an interrupted save becomes "not-stored", one an
   interrupted expunge may have removed "expunged": no problem. */
void tresor_export_mail_mark(tresor_export *x, size_t idx, const char *status,
			     const char *note);
/* Writes the journal, seals, keys, mails.csv, VERIFY.txt and
   MANIFEST.sha256. 0, or -1 with err. Afterwards the warnings (one
   sentence each) can be read. */
int tresor_export_finish(tresor_export *x, char *err, size_t err_size);
size_t tresor_export_warning_count(const tresor_export *x);
const char *tresor_export_warning(const tresor_export *x, size_t idx);
void tresor_export_free(tresor_export *x);

#ifdef __cplusplus
}
#endif

#endif
