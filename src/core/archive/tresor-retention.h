/* dovecot-tresor core: the C ABI of retention, purge and legal holds
   (doveadm tresor purge / hold). Same rules as tresor.h: plain C types,
   errors in a caller-provided buffer, no exception crosses. */
#ifndef TRESOR_RETENTION_H
#define TRESOR_RETENTION_H

#include "archive/tresor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The tresor_retention rule of an archive folder as written into purge
   records ("Rechnungen=10y"), or NULL when the folder is no archive
   folder or no rule matches (it is then never purged). The string stays
   valid until the next call or until cfg is freed. */
const char *tresor_config_retention_rule(const tresor_config *cfg,
					 const char *mailbox, char sep);

/* "2030-01-01" (midnight UTC), "2030-01-01T12:00:00Z" or a journal time
   into seconds since the epoch. 0, or -1 when it isn't one of those. */
int tresor_parse_utc_time(const char *text, int64_t *unix_r);

/* ------------------------------------------------------------------ */
/* Purge                                                              */
/* ------------------------------------------------------------------ */

typedef struct tresor_purge tresor_purge;

enum tresor_purge_status {
	TRESOR_PURGE_EXPIRED = 0,  /* retention ended, no hold: purge it */
	TRESOR_PURGE_PENDING,      /* already has a purge record: expunge it */
	TRESOR_PURGE_RETAINED,     /* retention not ended */
	TRESOR_PURGE_HELD,         /* would be purged, but a hold stands */
	TRESOR_PURGE_UNJOURNALED   /* no save record: never purged */
};

typedef struct tresor_purge_mail {
	enum tresor_purge_status status;
	const char *status_name;   /* "expired", "pending", "retained", ... */
	uint64_t save_seq;         /* 0 when unjournaled */
	const char *saved;         /* the save record's time, "" */
	const char *retention_end; /* "2027-01-01T00:00:00Z", "" if unknown */
	const char *rule;          /* "Rechnungen=10y" */
	const char *sha256;        /* as journaled, "" */
	uint64_t purge_seq;        /* PENDING: its purge record */
	uint64_t hold_seq;         /* HELD: the hold */
	const char *hold_scope;    /* HELD: "UID 4 in Rechnungen", ... */
} tresor_purge_mail;

/* Opens the journal in dir, takes the user's journal lock (waiting up to
   30 s) and reads the journal: live saves, pending purges and the holds
   in force. Decisions are made for time `now` (seconds since the epoch).
   The lock is held until tresor_purge_end(), so no hold can slip in
   between a decision and its purge record. NULL with err on failure. */
tresor_purge *tresor_purge_begin(const char *dir, const tresor_config *cfg,
				 int64_t now, char *err, size_t err_size);
/* Decides one mail (UID and Dovecot GUID as found in the store) of an
   archive folder. Returns 0 with *mail_r filled (strings valid until the
   next call), -1 with err when the folder has no retention rule. */
int tresor_purge_check(tresor_purge *p, const char *mailbox, char sep,
		       const char *mailbox_guid, uint32_t uid,
		       const char *guid, tresor_purge_mail *mail_r,
		       char *err, size_t err_size);
/* The same with the mail's sha256 (for a mail tresor_purge_check() found
   UNJOURNALED): finds an interrupted save (docs/archive.md 3.4) whose GUID
   the mail does not have. sha256 may be NULL. */
int tresor_purge_check_hashed(tresor_purge *p, const char *mailbox, char sep,
			      const char *mailbox_guid, uint32_t uid,
			      const char *guid, const char *sha256,
			      tresor_purge_mail *mail_r, char *err,
			      size_t err_size);
/* 1 when the mailbox has interrupted saves not found yet by UID or GUID:
   its unjournaled mails are then worth hashing for
   tresor_purge_check_hashed(). */
int tresor_purge_wants_hashes(tresor_purge *p, const char *mailbox_guid);
/* Queues the purge record of a mail that tresor_purge_check() decides
   EXPIRED (-1 with err otherwise). */
int tresor_purge_add(tresor_purge *p, const char *mailbox, char sep,
		     const char *mailbox_guid, uint32_t uidvalidity,
		     uint32_t uid, const char *guid, const char *service,
		     const char *session, char *err, size_t err_size);
/* Appends the queued records in order with one write and one fdatasync:
   all or none. *first_seq_r gets the first one's seq (0 when none were
   queued). 0, or -1 with err. */
int tresor_purge_write(tresor_purge *p, uint64_t *first_seq_r,
		       char *err, size_t err_size);
/* Releases the lock and frees p (queued records not written are lost). */
void tresor_purge_end(tresor_purge *p);

/* ------------------------------------------------------------------ */
/* Legal holds                                                        */
/* ------------------------------------------------------------------ */

/* What a hold keeps: every selector that is set must match; none set
   holds the whole user. uid needs mailbox_guid. */
typedef struct tresor_hold_spec {
	const char *mailbox;      /* name, for people; matched by GUID */
	const char *mailbox_guid;
	uint32_t uid;
	const char *message_id;   /* with or without <> */
	const char *reason;
	const char *service;
	const char *session;
} tresor_hold_spec;

/* Journals a hold record; its seq (*seq_r) is the hold's ID. 0, or -1
   with err. */
int tresor_hold_add(const char *dir, const tresor_hold_spec *spec,
		    uint64_t *seq_r, char *err, size_t err_size);
/* Journals an unhold record for the hold with this ID: 1 (*seq_r = its
   seq), 0 when no such hold is in force (nothing written), -1 with err. */
int tresor_hold_remove(const char *dir, uint64_t hold_seq, const char *reason,
		       const char *service, const char *session,
		       uint64_t *seq_r, char *err, size_t err_size);

typedef struct tresor_holds tresor_holds;

typedef struct tresor_hold_info {
	uint64_t seq;             /* the hold's ID */
	const char *time;
	const char *mailbox;
	const char *mailbox_guid;
	uint32_t uid;
	const char *message_id;
	const char *reason;
	const char *scope;        /* "the whole user", "mailbox Archiv", ... */
} tresor_hold_info;

/* The holds in force (replayed from the journal), oldest first. */
tresor_holds *tresor_holds_read(const char *dir, char *err, size_t err_size);
size_t tresor_holds_count(const tresor_holds *h);
/* 0, or -1 for a bad idx. Strings stay valid until h is freed. */
int tresor_holds_get(const tresor_holds *h, size_t idx,
		     tresor_hold_info *info_r);
void tresor_holds_free(tresor_holds *h);

#ifdef __cplusplus
}
#endif

#endif
