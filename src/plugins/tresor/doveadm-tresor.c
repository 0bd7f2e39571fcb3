/* doveadm tresor verify|adopt|journal|status: the admin's view of the
   tresor archive journal.

     doveadm tresor verify [-u <user>|-A] [--since <seq>|seal]
                           [<mailbox> ...]
       Proves the journal and the mail store against each other: the
       journal's hash chain is intact, every mail the journal says must
       still be there is there and unchanged, and no mail sits in a
       journaled folder without a save record. One row per problem:
       problem (CHAIN, MODIFIED, MISSING, UNJOURNALED, SEAL, PURGE, BYPASS,
       IDENTITY), seq, mailbox, uid,
       detail. <mailbox> arguments restrict the mail store side to the
       named mailboxes (exact names, or patterns with '*' and '%' as in
       doveadm's other mailbox commands); MISSING is then reported only
       for those mailboxes. The journal chain is always checked whole.
       --since: mails saved before that seq (or the newest seal record's)
       are found by UID, not read again.
       Exit status: 0 when everything checks out, 65 (EX_DATAERR) when a
       problem was found, 75 (EX_TEMPFAIL) when the journal or a mailbox
       couldn't be read (the verification is then incomplete), 78
       (EX_CONFIG) for a bad tresor_* setting, 68 when a named mailbox
       doesn't exist.

     doveadm tresor adopt [-u <user>|-A] [<mailbox> ...]
       Journals every mail verify finds UNJOURNALED in the journaled
       folders (or the named ones) as an adopt record: a save record's
       hashes, the INTERNALDATE, the time of the adoption. Verify's own
       walk of the store decides which mails those are, first unlocked,
       then again under the journal lock folder by folder before the
       records are written; a mail with a record (MODIFIED or not) is
       never adopted. Progress on stderr when it is a terminal. One row:
       adopted, mailboxes, journaled, modified, unreadable. Exit status 75
       when a mailbox or an unjournaled mail couldn't be read.

     doveadm tresor journal [-u <user>|-A] [-s|--since <seq>]
       Prints every journal record (with seq > <seq>), one row per record
       with the columns of tresor_journal_field_names(). A line that can't
       be parsed is logged (file and line) and makes the exit status 65;
       the rest is still printed.

     doveadm tresor status [-u <user>|-A]
       One row: records, head_seq, head_sha256, files, dir.

   Default output is one human-readable line per row (only the fields a
   row has); -f json|tab|table|flow print every column. */

#include "lib.h"
#include "array.h"
#include "buffer.h"
#include "str.h"
#include "str-sanitize.h"
#include "strnum.h"
#include "hex-binary.h"
#include "guid.h"
#include "mail-namespace.h"
#include "mail-storage-private.h"
#include "mail-search.h"
#include "mailbox-list-iter.h"
#include "doveadm-mail.h"
#include "doveadm-mailbox-list-iter.h"
#include "doveadm-print.h"
#include "tresor-plugin.h"
#include "doveadm-tresor.h"
#include "doveadm-tresor-seal.h"
#include "doveadm-tresor-retention.h"
#include "doveadm-tresor-invoices.h"
#include "doveadm-tresor-dmarc.h"

#include <ctype.h>
#include <sys/stat.h>
#include <unistd.h>

/* doveadm tresor verify found at least one problem. */
#define TRESOR_EX_PROBLEMS EX_DATAERR
/* A journal line that can't be parsed (doveadm tresor journal). */
#define TRESOR_EX_BAD_JOURNAL EX_DATAERR

#define TRESOR_ERR_SIZE 1024
#define TRESOR_SHA256_SIZE 32

const char *doveadm_tresor_plugin_version = DOVECOT_ABI_VERSION;

void doveadm_tresor_plugin_init(struct module *module);
void doveadm_tresor_plugin_deinit(void);

struct doveadm_tresor_cmd_context {
	struct doveadm_mail_cmd_context ctx;

	/* The format of the current row for the "formatted" printer (the
	   default): only the fields that row has. */
	string_t *format;
	uint64_t since;
	/* verify --since: a seq, or the newest seal record's */
	uint64_t verify_since_seq;
	bool verify_since_seal:1;

	/* -A: users with neither a journal nor mail, not looked at */
	unsigned int users_skipped;
	/* "verify", "adopt": for the summary of skipped users */
	const char *name;
	/* A "username" column is printed (-A, wildcard -u, doveadm-server) */
	bool with_username:1;
	/* We chose the "formatted" printer (no -f) */
	bool own_formatted:1;
	bool mailbox_args:1;
};

/* ------------------------------------------------------------------ */
/* common                                                             */
/* ------------------------------------------------------------------ */

void doveadm_tresor_progress(const char *cmd, const char *where,
			     unsigned int done, unsigned int total,
			     const char *what)
{
	static int on_a_terminal = -1;

	if (on_a_terminal < 0)
		on_a_terminal = isatty(STDERR_FILENO) != 0 ? 1 : 0;
	if (on_a_terminal == 0 || (done % 256 != 0 && done != total))
		return;
	fprintf(stderr, "\rtresor %s: %s: %u/%u %s", cmd, where, done, total,
		what);
	if (done == total)
		fputc('\n', stderr);
}

/* A found problem (EX_DATAERR) never hides an error that left the work
   incomplete, and EX_TEMPFAIL wins over everything, as doveadm does. */
void doveadm_tresor_set_exit_code(struct doveadm_mail_cmd_context *ctx,
				  int code)
{
	if (ctx->exit_code == 0 || ctx->exit_code == EX_DATAERR ||
	    code == EX_TEMPFAIL)
		ctx->exit_code = code;
}

/* -A on a server whose userdb lists system accounts: a user with neither a
   journal nor any mail has nothing to check or adopt, and is skipped
   without touching the store (opening INBOX would try to create it). Mail
   without a journal is still looked at: that is what verify reports. */
static bool
doveadm_tresor_user_is_empty(struct mail_user *user, const char *dir)
{
	struct mail_namespace *ns;
	const char *path;
	struct stat st;

	if (stat(t_strconcat(dir, "/journal", NULL), &st) == 0 || errno != ENOENT)
		return FALSE;
	for (ns = user->namespaces; ns != NULL; ns = ns->next) {
		if (ns->type != MAIL_NAMESPACE_TYPE_PRIVATE)
			continue;
		if (mailbox_list_get_root_path(ns->list,
					       MAILBOX_LIST_PATH_TYPE_MAILBOX,
					       &path) &&
		    (stat(path, &st) == 0 || errno != ENOENT))
			return FALSE;
		if ((ns->flags & NAMESPACE_FLAG_INBOX_USER) != 0 &&
		    mailbox_list_get_path(ns->list, "INBOX",
					  MAILBOX_LIST_PATH_TYPE_MAILBOX,
					  &path) > 0 &&
		    (stat(path, &st) == 0 || errno != ENOENT))
			return FALSE;
	}
	return TRUE;
}

/* True (and counted) when -A (or a -u pattern) reached a user with
   nothing to look at. */
static bool
doveadm_tresor_skip_empty_user(struct doveadm_tresor_cmd_context *tctx,
			       struct mail_user *user, const char *dir)
{
	if (tctx->ctx.iterate_single_user ||
	    !doveadm_tresor_user_is_empty(user, dir))
		return FALSE;
	tctx->users_skipped++;
	return TRUE;
}

/* The one summary line of the users -A skipped. */
static void doveadm_tresor_cmd_deinit(struct doveadm_mail_cmd_context *ctx)
{
	struct doveadm_tresor_cmd_context *tctx =
		(struct doveadm_tresor_cmd_context *)ctx;

	if (tctx->users_skipped > 0) {
		i_info("tresor %s: %u user%s without a journal or mail "
		       "skipped", tctx->name,
		       tctx->users_skipped,
		       tctx->users_skipped == 1 ? "" : "s");
	}
}

static void
doveadm_tresor_cmd_init_common(struct doveadm_tresor_cmd_context *tctx)
{
	struct doveadm_mail_cmd_context *ctx = &tctx->ctx;

	tctx->with_username = doveadm_tresor_cmd_prints_username(ctx);
	tctx->format = str_new(ctx->pool, 256);

	if (tctx->own_formatted &&
	    (ctx->set->doveadm_worker_count > 0 || ctx->set->doveadm_port != 0)) {
		/* The command may run on a doveadm server (-S, or a proxied
		   user): the values printed here then come from its answer,
		   which the "formatted" printer of Dovecot 2.3 can't show
		   (it keeps pointers to a buffer the connection reuses).
		   "flow" shows the same fields as key=value. */
		doveadm_print_deinit();
		doveadm_print_init(DOVEADM_PRINT_TYPE_FLOW);
		if (tctx->with_username) {
			doveadm_print_header("username", "Username",
					     DOVEADM_PRINT_HEADER_FLAG_STICKY |
					     DOVEADM_PRINT_HEADER_FLAG_HIDE_TITLE);
		}
		tctx->own_formatted = FALSE;
	}
}

/* Starts the default format of a row: the username column (when printed)
   comes first, as doveadm prints it first. */
static string_t *
doveadm_tresor_row_format_begin(struct doveadm_tresor_cmd_context *tctx)
{
	str_truncate(tctx->format, 0);
	if (tctx->with_username)
		str_append(tctx->format, "%{username}: ");
	return tctx->format;
}

/* The format takes effect only when the "formatted" printer is in use; it
   is read when the row's last column is printed, so it must be set
   before that. */
static void
doveadm_tresor_row_format_end(struct doveadm_tresor_cmd_context *tctx)
{
	doveadm_print_formatted_set_format(str_c(tctx->format));
}

int doveadm_tresor_user_config_load(struct doveadm_mail_cmd_context *ctx,
				    struct mail_user *user,
				    tresor_config **cfg_r, const char **dir_r)
{
	const char *error;

	if (tresor_user_config_load(user, cfg_r, dir_r, &error) < 0) {
		i_error("%s", error);
		doveadm_tresor_set_exit_code(ctx, EX_CONFIG);
		return -1;
	}
	return 0;
}

const char *const *
doveadm_tresor_param_list(struct doveadm_mail_cmd_context *ctx,
			  const char *name)
{
	static const char *const none[] = { NULL };
	const char *const *values;

	if (!doveadm_cmd_param_array(ctx->cctx, name, &values))
		return none;
	return values;
}

static struct doveadm_tresor_cmd_context *
doveadm_tresor_cmd_alloc(const char *print_type)
{
	struct doveadm_tresor_cmd_context *tctx;

	tctx = doveadm_mail_cmd_alloc(struct doveadm_tresor_cmd_context);
	doveadm_tresor_cmd_params_from_cctx(&tctx->ctx);
	/* -f chose a formatter, or this is a doveadm server */
	if (!doveadm_print_is_initialized()) {
		doveadm_print_init(print_type);
		tctx->own_formatted =
			strcmp(print_type, DOVEADM_PRINT_TYPE_FORMATTED) == 0;
	}
	return tctx;
}

/* ------------------------------------------------------------------ */
/* verify                                                             */
/* ------------------------------------------------------------------ */

/* adopt: what the adopt record of a mail found UNJOURNALED needs */
struct doveadm_tresor_adoptee {
	const char *guid;
	const char *sha256, *content_sha256, *imap_sha256, *message_id;
	uint64_t size;
	const char *internaldate;
};

struct doveadm_tresor_uid_hash {
	uint32_t uid;
	bool unreadable;
	unsigned char sha256[TRESOR_SHA256_SIZE];
	/* adopt: the first pass found it UNJOURNALED (the second reads it
	   again for every hash its adopt record needs) */
	bool unjournaled;
};

/* adopt: a mail found in the second pass, looked up once the journal is
   locked */
struct doveadm_tresor_pending_mail {
	uint32_t uid;
	bool readable;
	const char *guid, *sha256;
	const struct doveadm_tresor_adoptee *adoptee;
};

/* adopt: what the last look at a mailbox found */
struct doveadm_tresor_adopt_counts {
	unsigned int journaled, modified, unjournaled, unreadable;
};

/* A mailbox examined in the first pass, with what was observed there. */
struct doveadm_tresor_verify_box {
	const char *guid;
	struct mail_namespace *ns;
	const char *vname;
	uint32_t uidvalidity;
	/* in UID order */
	ARRAY(struct doveadm_tresor_uid_hash) hashes;
	/* adopt */
	struct doveadm_tresor_adopt_counts counts;
	/* the second pass: the mails as found, then the adopt records */
	ARRAY(struct doveadm_tresor_pending_mail) pending;
	ARRAY(tresor_record) adoptions;
};

/* verify: what the first mailboxes showed while the journal was still being
   read, handed to the verifier in this order once it is */
struct doveadm_tresor_deferred {
	/* index in run->boxes (the array may move as it grows) */
	unsigned int box_idx;
	/* tresor_verify_mailbox_seen() of the box, or an observation */
	bool seen;
	bool journaled;
	uint32_t uid;
	const char *guid, *sha256;
};

/* a mail whose bytes went to the hash pipeline, waiting for its hash */
struct doveadm_tresor_queued_mail {
	uint64_t tag;
	/* index in run->boxes (the array may move as it grows) */
	unsigned int box_idx;
	bool journaled;
	uint32_t uid;
	char *guid;
};

struct doveadm_tresor_problem_row {
	enum tresor_problem_kind kind;
	const char *kind_name;
	uint64_t seq;
	const char *mailbox;
	const char *mailbox_guid;
	uint32_t uid;
	const char *detail;
};

struct doveadm_tresor_verify_run {
	struct doveadm_tresor_cmd_context *tctx;
	pool_t pool;
	const tresor_config *cfg;
	const char *dir;
	/* sha256 only; one for the whole run, reset after each mail */
	tresor_hasher *hasher;

	ARRAY(struct doveadm_tresor_verify_box) boxes;
	/* mailboxes whose check failed: their MISSING results mean nothing */
	ARRAY_TYPE(const_string) failed_guids;
	ARRAY(struct doveadm_tresor_problem_row) rows;

	/* verify (without --since): the journal is read on a thread of its
	   own while the first mailboxes are; their observations wait in
	   `deferred` (its strings in defer_pool) until it is done */
	tresor_verify_loader *loader;
	tresor_verify *loaded;
	ARRAY(struct doveadm_tresor_deferred) deferred;
	pool_t defer_pool;
	bool load_failed:1;
	/* verify's first pass: each mail read is hashed on a thread of its
	   own while the next ones are read; `queued` holds the mails whose
	   hashes are awaited, oldest first from queued_head */
	tresor_hash_pipeline *pipeline;
	ARRAY(struct doveadm_tresor_queued_mail) queued;
	unsigned int queued_head;
	uint64_t next_tag;
	bool hash_failed:1;

	/* adopt's second pass looks at a mailbox in windows of at most
	   DOVEADM_TRESOR_ADOPT_WINDOW mails, from window_first_uid on;
	   window_more: mails are left after this window. What a window
	   keeps (the adopt records' data) is in window_pool, cleared after
	   it: memory is bounded by the window, not by the mailbox. */
	uint32_t window_first_uid;
	bool window_more:1;
	pool_t window_pool;
	/* the mailbox, kept open from one window to the next: opening a
	   maildir folder reads its whole dovecot-uidlist (a quarter of an
	   adopt's CPU at 200,000 mails, with 25 windows) */
	struct mailbox *window_box;

	uint64_t mails_checked;
	/* verify --since: mails saved before this seq are not read again,
	   only found by UID (0: every mail is read) */
	uint64_t since_seq, mails_unread;
	bool second_pass:1;
	bool killed:1;
	/* doveadm tresor adopt: journal the mails verify finds UNJOURNALED
	   (the hasher then computes every hash a save record has) */
	bool adopt:1;
	/* stderr is a terminal: progress is shown there */
	bool progress:1;
	struct mail_user *user;
	/* "verify" or "adopt", for messages */
	const char *name;
};

static bool
doveadm_tresor_str_array_contains(const ARRAY_TYPE(const_string) *arr,
				  const char *str)
{
	const char *s;

	array_foreach_elem(arr, s) {
		if (strcmp(s, str) == 0)
			return TRUE;
	}
	return FALSE;
}

static struct doveadm_tresor_verify_box *
doveadm_tresor_verify_box_find(struct doveadm_tresor_verify_run *run,
			       const char *guid)
{
	struct doveadm_tresor_verify_box *box;

	array_foreach_modifiable(&run->boxes, box) {
		if (strcmp(box->guid, guid) == 0)
			return box;
	}
	return NULL;
}

static void
doveadm_tresor_verify_box_failed(struct doveadm_tresor_verify_run *run,
				 const char *guid)
{
	if (guid != NULL && !doveadm_tresor_str_array_contains(&run->failed_guids, guid)) {
		guid = p_strdup(run->pool, guid);
		array_push_back(&run->failed_guids, &guid);
	}
}

static const struct doveadm_tresor_uid_hash *
doveadm_tresor_verify_box_lookup(const struct doveadm_tresor_verify_box *vbox,
				 uint32_t uid)
{
	const struct doveadm_tresor_uid_hash *hashes;
	unsigned int count, idx, left = 0, right;

	hashes = array_get(&vbox->hashes, &count);
	right = count;
	while (left < right) {
		idx = left + (right - left) / 2;
		if (hashes[idx].uid < uid)
			left = idx + 1;
		else if (hashes[idx].uid > uid)
			right = idx;
		else
			return &hashes[idx];
	}
	return NULL;
}

static const struct doveadm_tresor_adoptee *
doveadm_tresor_adoptee_new(struct doveadm_tresor_verify_run *run,
			   struct mail *mail, const char *guid,
			   const tresor_hash_result *result)
{
	pool_t pool = run->window_pool;
	struct doveadm_tresor_adoptee *a;
	char internaldate[TRESOR_UTC_TIME_SIZE];
	time_t received;

	i_assert(run->second_pass);
	a = p_new(pool, struct doveadm_tresor_adoptee, 1);
	a->guid = guid == NULL || guid[0] == '\0' ? NULL : p_strdup(pool, guid);
	a->sha256 = p_strdup(pool, result->sha256);
	a->content_sha256 = p_strdup_empty(pool, result->content_sha256);
	a->imap_sha256 = p_strdup_empty(pool, result->imap_sha256);
	a->message_id = p_strdup_empty(pool, result->message_id);
	a->size = result->size;
	if (mail_get_received_date(mail, &received) == 0) {
		tresor_format_utc_time(received, internaldate);
		a->internaldate = p_strdup_empty(pool, internaldate);
	}
	return a;
}

/* adopt: counts what verify observed of a mail; in the second pass, under
   the journal lock, queues the adopt record of one found UNJOURNALED.
   adoptee: its data from hashing it in the second pass (NULL when it had
   a record in the first: it is adopted next time). */
static void
doveadm_tresor_adopt_observed(struct doveadm_tresor_verify_run *run,
			      struct doveadm_tresor_verify_box *vbox,
			      uint32_t uid, enum tresor_observation obs,
			      bool readable,
			      const struct doveadm_tresor_adoptee *adoptee)
{
	tresor_record *rec;

	switch (obs) {
	case TRESOR_OBSERVED_JOURNALED:
		vbox->counts.journaled++;
		return;
	case TRESOR_OBSERVED_MODIFIED:
		/* journaled, and changed since: verify's to report, never
		   adopt's to cover */
		vbox->counts.journaled++;
		vbox->counts.modified++;
		return;
	case TRESOR_OBSERVED_OTHER:
		return;
	case TRESOR_OBSERVED_UNJOURNALED:
		break;
	}
	if (!readable) {
		/* logged where it was read */
		vbox->counts.unreadable++;
		return;
	}
	vbox->counts.unjournaled++;
	if (!run->second_pass || adoptee == NULL)
		return;

	rec = array_append_space(&vbox->adoptions);
	rec->event = "adopt";
	rec->mailbox = vbox->vname;
	rec->mailbox_guid = vbox->guid;
	rec->uidvalidity = vbox->uidvalidity;
	rec->uid = uid;
	rec->guid = adoptee->guid;
	rec->size = adoptee->size;
	rec->sha256 = adoptee->sha256;
	rec->imap_sha256 = adoptee->imap_sha256;
	rec->content_sha256 = adoptee->content_sha256;
	rec->message_id = adoptee->message_id;
	rec->internaldate = adoptee->internaldate;
	rec->archive = tresor_config_is_archive(run->cfg, vbox->vname,
						mail_namespace_get_sep(vbox->ns)) != 0 ? 1 : 0;
	rec->service = "doveadm";
	rec->session = run->user->session_id;
	rec->reason = "in the store without a record: journaled as it is now "
		"(doveadm tresor adopt)";
}

/* adopt, second pass: a mail as found before the journal lock is taken
   (no mailbox is touched under it: mbox saves take the mailbox lock before
   the journal lock) */
static void
doveadm_tresor_adopt_pending_add(struct doveadm_tresor_verify_run *run,
				 struct doveadm_tresor_verify_box *vbox,
				 uint32_t uid, const char *guid,
				 const char *sha256, bool readable,
				 const struct doveadm_tresor_adoptee *adoptee)
{
	struct doveadm_tresor_pending_mail *pm =
		array_append_space(&vbox->pending);

	pm->uid = uid;
	pm->guid = guid == NULL ? NULL : p_strdup(run->window_pool, guid);
	pm->sha256 = p_strdup(run->window_pool, sha256);
	pm->readable = readable;
	pm->adoptee = adoptee;
}

/* at most this many observations wait for the journal being read, then
   verify waits for it: memory stays bounded by this, not by the mailbox */
#define DOVEADM_TRESOR_VERIFY_DEFER_MAX 8192

/* adopt's second pass: mails looked at (and adopted) per journal lock.
   Bounds its memory (about 0.6 KB per mail to be adopted) whatever the
   mailbox's size; each window syncs the mailbox once. */
#define DOVEADM_TRESOR_ADOPT_WINDOW 8192

static void
doveadm_tresor_verify_open_failed(struct doveadm_mail_cmd_context *ctx,
				  const char *dir, bool seal_config_error,
				  const char *err)
{
	if (seal_config_error) {
		i_error("tresor verify: %s", err);
		doveadm_tresor_set_exit_code(ctx, EX_CONFIG);
	} else {
		i_error("tresor verify: can't read the journal in %s: %s",
			dir, err);
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
	}
}

static void
doveadm_tresor_verify_defer(struct doveadm_tresor_verify_run *run,
			    const struct doveadm_tresor_verify_box *vbox,
			    bool seen, uint32_t uid, const char *guid,
			    const char *sha256, bool journaled)
{
	struct doveadm_tresor_deferred *d = array_append_space(&run->deferred);

	d->box_idx = vbox - array_front(&run->boxes);
	d->seen = seen;
	d->journaled = journaled;
	d->uid = uid;
	d->guid = guid == NULL ? NULL : p_strdup(run->defer_pool, guid);
	d->sha256 = sha256 == NULL ? NULL : p_strdup(run->defer_pool, sha256);
}

/* verify's first pass: the verifier once the journal is read, with the
   deferred observations handed to it; NULL while it is still being read
   (and !wait), or when reading it failed (logged, exit code set,
   run->load_failed). */
static tresor_verify *
doveadm_tresor_verify_loaded(struct doveadm_tresor_verify_run *run,
			     bool wait)
{
	const struct doveadm_tresor_deferred *d;
	const struct doveadm_tresor_verify_box *vbox;
	char err[TRESOR_ERR_SIZE];
	int seal_config_error;
	tresor_verify *v;

	if (run->loaded != NULL || run->loader == NULL)
		return run->loaded;
	if (!wait && tresor_verify_load_ready(run->loader) == 0)
		return NULL;
	v = tresor_verify_load_end(run->loader, &seal_config_error,
				   err, sizeof(err));
	run->loader = NULL;
	if (v == NULL) {
		doveadm_tresor_verify_open_failed(&run->tctx->ctx, run->dir,
						  seal_config_error != 0, err);
		run->load_failed = TRUE;
		return NULL;
	}
	array_foreach(&run->deferred, d) {
		vbox = array_idx(&run->boxes, d->box_idx);
		if (d->seen) {
			tresor_verify_mailbox_seen(v, vbox->guid, vbox->vname,
						   vbox->uidvalidity);
		} else {
			(void)tresor_verify_observe(v, vbox->guid, vbox->vname,
						    d->uid, d->guid, d->sha256,
						    d->journaled ? 1 : 0);
		}
	}
	array_clear(&run->deferred);
	p_clear(run->defer_pool);
	run->loaded = v;
	return v;
}

/* Hands a hashed mail to the verifier (or, adopting, to what adopt
   journals). result is NULL when the mail could not be read or hashed:
   error says why. mail is NULL for a mail hashed by the pipeline (never
   in adopt's second pass, whose adopt records need the mail). */
static void
doveadm_tresor_verify_hashed(struct doveadm_tresor_verify_run *run,
			     tresor_verify *v,
			     struct doveadm_tresor_verify_box *vbox,
			     struct mail *mail, uint32_t uid, const char *guid,
			     bool journaled, const tresor_hash_result *result,
			     const char *error)
{
	struct doveadm_tresor_uid_hash *uh;
	enum tresor_observation obs;
	const char *sha256;
	buffer_t buf;
	bool readable;

	i_assert(mail != NULL || !(run->adopt && run->second_pass));
	if (result == NULL) {
		i_error("tresor %s: %s UID %u: can't read the mail: %s",
			run->name, vbox->vname, uid, error);
		/* the verifier reports it as MODIFIED when the journal
		   expects it (UNJOURNALED in a journaled folder otherwise) */
		sha256 = t_strdup_printf("no readable content (%s)", error);
		readable = FALSE;
	} else {
		sha256 = result->sha256;
		readable = strlen(sha256) == TRESOR_SHA256_SIZE * 2;
	}
	uh = NULL;
	if (!run->second_pass) {
		run->mails_checked++;
		uh = array_append_space(&vbox->hashes);
		uh->uid = uid;
		buffer_create_from_data(&buf, uh->sha256, sizeof(uh->sha256));
		if (!readable || hex_to_binary(sha256, &buf) < 0 ||
		    buf.used != sizeof(uh->sha256))
			uh->unreadable = TRUE;
	}
	if (run->adopt && run->second_pass) {
		/* new since the first pass */
		doveadm_tresor_adopt_pending_add(run, vbox, uid, guid,
			sha256, readable, !readable ? NULL :
			doveadm_tresor_adoptee_new(run, mail, guid, result));
		return;
	}
	if (v == NULL) {
		/* verify's first pass, the journal perhaps still being read */
		v = doveadm_tresor_verify_loaded(run,
			array_count(&run->deferred) >=
			DOVEADM_TRESOR_VERIFY_DEFER_MAX);
		if (v == NULL) {
			if (!run->load_failed) {
				doveadm_tresor_verify_defer(run, vbox, FALSE,
					uid, guid, sha256, journaled);
			}
			return;
		}
	}
	obs = tresor_verify_observe(v, vbox->guid, vbox->vname, uid, guid,
				    sha256, journaled ? 1 : 0);
	if (run->adopt) {
		doveadm_tresor_adopt_observed(run, vbox, uid, obs,
					      readable, NULL);
		if (obs == TRESOR_OBSERVED_UNJOURNALED && readable && uh != NULL)
			uh->unjournaled = TRUE;
	}
}

static void
doveadm_tresor_verify_hash_failed(struct doveadm_tresor_verify_run *run,
				  const char *error)
{
	if (run->hash_failed)
		return;
	i_error("tresor %s: hashing on a thread of its own failed: %s",
		run->name, error);
	doveadm_tresor_set_exit_code(&run->tctx->ctx, EX_TEMPFAIL);
	run->hash_failed = TRUE;
}

/* Hands the mails the pipeline has hashed to the verifier, in the order
   they were read; with wait, all of them. */
static void
doveadm_tresor_verify_take_hashed(struct doveadm_tresor_verify_run *run,
				  tresor_verify *v, bool wait)
{
	struct doveadm_tresor_queued_mail *q;
	tresor_hash_result result;
	char err[TRESOR_ERR_SIZE];
	uint64_t tag;
	int hashed, ret;

	while (!run->hash_failed &&
	       run->queued_head < array_count(&run->queued)) {
		ret = tresor_hash_pipeline_next(run->pipeline, wait ? 1 : 0,
						&tag, &hashed, &result,
						err, sizeof(err));
		if (ret < 0)
			doveadm_tresor_verify_hash_failed(run, err);
		if (ret <= 0)
			break;
		q = array_idx_modifiable(&run->queued, run->queued_head++);
		i_assert(q->tag == tag);
		T_BEGIN {
			doveadm_tresor_verify_hashed(run, v,
				array_idx_modifiable(&run->boxes, q->box_idx),
				NULL, q->uid, q->guid, q->journaled,
				hashed != 0 ? &result : NULL,
				"hashing failed (out of memory)");
		} T_END;
		i_free(q->guid);
	}
	/* the array holds only what is awaited, not the whole mailbox */
	if (run->queued_head == array_count(&run->queued) ||
	    run->queued_head >= 1024) {
		array_delete(&run->queued, 0, run->queued_head);
		run->queued_head = 0;
	}
}

struct doveadm_tresor_pipeline_feed {
	struct doveadm_tresor_verify_run *run;
	char err[TRESOR_ERR_SIZE];
};

static int doveadm_tresor_pipeline_feed(void *context, const void *data,
					size_t size)
{
	struct doveadm_tresor_pipeline_feed *feed = context;

	return tresor_hash_pipeline_append(feed->run->pipeline, data, size,
					   feed->err, sizeof(feed->err));
}

/* Reads one mail whole into the hash pipeline. -1 when it can't be read
   (or the pipeline failed): nothing of it is queued then. */
static int
doveadm_tresor_verify_queue(struct doveadm_tresor_verify_run *run,
			    struct doveadm_tresor_verify_box *vbox,
			    struct mail *mail, const char *guid,
			    bool journaled)
{
	struct doveadm_tresor_pipeline_feed feed = { .run = run };
	struct doveadm_tresor_queued_mail *q;
	struct istream *input;
	const char *error;

	if (mail_get_stream_because(mail, NULL, NULL, "tresor hash",
				    &input) < 0)
		return -1;
	if (tresor_hash_pipeline_begin(run->pipeline, run->next_tag,
				       feed.err, sizeof(feed.err)) < 0) {
		doveadm_tresor_verify_hash_failed(run, feed.err);
		return -1;
	}
	feed.err[0] = '\0';
	if (tresor_user_stream_feed(input, doveadm_tresor_pipeline_feed,
				    &feed, &error) < 0 ||
	    tresor_hash_pipeline_end(run->pipeline, feed.err,
				     sizeof(feed.err)) < 0) {
		tresor_hash_pipeline_cancel(run->pipeline);
		/* (a read error is left to the caller's second reading) */
		if (feed.err[0] != '\0')
			doveadm_tresor_verify_hash_failed(run, feed.err);
		return -1;
	}
	q = array_append_space(&run->queued);
	q->tag = run->next_tag++;
	q->box_idx = vbox - array_front(&run->boxes);
	q->journaled = journaled;
	q->uid = mail->uid;
	q->guid = i_strdup(guid);
	return 0;
}

/* Hashes one mail and hands it to the verifier. In the second pass a mail
   already hashed in the first is not read again - unless adopt is to
   journal it: its adopt record needs every hash, the first pass took only
   the SHA-256. */
static void
doveadm_tresor_verify_mail(struct doveadm_tresor_verify_run *run,
			   tresor_verify *v,
			   struct doveadm_tresor_verify_box *vbox, struct mail *mail,
			   bool journaled)
{
	const struct doveadm_tresor_uid_hash *known;
	tresor_hash_result result;
	const char *sha256, *error, *guid;

	/* finds save records that were journaled without a UID */
	if (mail_get_special(mail, MAIL_FETCH_GUID, &guid) < 0)
		guid = NULL;
	/* (confirming a problem, the second pass reads every mail) */
	if (run->since_seq != 0 && !run->second_pass && !run->adopt &&
	    tresor_verify_observe_unread(v, vbox->guid, vbox->vname,
					 mail->uid, guid,
					 run->since_seq) != 0)
		return;
	if (run->second_pass &&
	    (known = doveadm_tresor_verify_box_lookup(vbox,
						      mail->uid)) != NULL &&
	    !(run->adopt && known->unjournaled)) {
		sha256 = known->unreadable ? "no readable content" :
			binary_to_hex(known->sha256, sizeof(known->sha256));
		if (run->adopt) {
			doveadm_tresor_adopt_pending_add(run, vbox, mail->uid,
							 guid, sha256,
							 !known->unreadable,
							 NULL);
			return;
		}
		tresor_verify_observe(v, vbox->guid, vbox->vname, mail->uid,
				      guid, sha256, journaled ? 1 : 0);
		return;
	}

	if (run->pipeline != NULL && !run->second_pass && !run->hash_failed) {
		if (doveadm_tresor_verify_queue(run, vbox, mail, guid,
						journaled) == 0) {
			doveadm_tresor_verify_take_hashed(run, v, FALSE);
			return;
		}
		/* read again below, for its error, after the mails before it */
		doveadm_tresor_verify_take_hashed(run, v, TRUE);
		if (run->hash_failed)
			return;
	}
	if (tresor_user_mail_hash_with(run->hasher, mail, &result,
				       &error) < 0) {
		if (mail->expunged) {
			/* removed since the sync: not observed, so MISSING if
			   the journal expects it */
			return;
		}
		doveadm_tresor_verify_hashed(run, v, vbox, mail, mail->uid,
					     guid, journaled, NULL, error);
		return;
	}
	doveadm_tresor_verify_hashed(run, v, vbox, mail, mail->uid, guid,
				     journaled, &result, NULL);
}

static void
doveadm_tresor_verify_box_error(struct doveadm_tresor_verify_run *run,
				struct mailbox *box,
				const char *what)
{
	enum mail_error error;
	const char *errstr;

	errstr = mailbox_get_last_internal_error(box, &error);
	if (error == MAIL_ERROR_NOTFOUND) {
		i_error("tresor %s: Mailbox %s doesn't exist",
			run->name, mailbox_get_vname(box));
	} else {
		i_error("tresor %s: %s: %s: %s", run->name,
			mailbox_get_vname(box), what, errstr);
	}
	doveadm_mail_failed_error(&run->tctx->ctx, error);
}

/* Whether the mailbox that can't be opened is a temporary file Dovecot
   left in the mail directory (a process ended before removing it; Dovecot
   2.4 lists an mbox one as a mailbox, and removes it once it is old): not
   a mailbox, nothing to verify. A real mailbox of that name that opens is
   verified as any other. */
static bool doveadm_tresor_is_temp_file(struct mailbox *box)
{
	const char *vname = mailbox_get_vname(box);
	const char *name = strrchr(vname, mail_namespace_get_sep(mailbox_get_namespace(box)));
	const char *prefix = mailbox_list_get_global_temp_prefix(box->list);

	name = name == NULL ? vname : name + 1;
	return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* A mailbox that can't be opened: 0 for a temporary file of Dovecot's
   (logged), else -1 (logged, exit code set). */
static int
doveadm_tresor_verify_unopenable(struct doveadm_tresor_verify_run *run,
				 struct mailbox *box, const char *what)
{
	if (doveadm_tresor_is_temp_file(box)) {
		i_info("tresor %s: %s is a temporary file Dovecot left in the "
		       "mail directory, not a mailbox: skipped", run->name,
		       mailbox_get_vname(box));
		return 0;
	}
	doveadm_tresor_verify_box_error(run, box, what);
	return -1;
}

/* Examines one mailbox. Returns 1 when it was checked (*guid_r set), 0
   when it isn't relevant (not journaled, nothing expected, virtual) or,
   in the second pass, the name now belongs to another mailbox than
   recheck_vbox; -1 on error (logged, exit code set). */
static int
doveadm_tresor_verify_mailbox(struct doveadm_tresor_verify_run *run,
			      tresor_verify *v,
			      struct mail_namespace *ns, const char *vname,
			      struct doveadm_tresor_verify_box *recheck_vbox,
			      const char **guid_r)
{
	struct mailbox *box;
	struct mailbox_metadata metadata;
	struct mailbox_status status;
	struct mailbox_transaction_context *trans;
	struct doveadm_tresor_verify_box *vbox, new_vbox;
	struct mail *mail;
	const char *guid;
	bool journaled, kept_open = FALSE;
	uint32_t seq, first_seq, last_seq;
	int ret = 1;

	*guid_r = NULL;
	if (run->window_box != NULL) {
		/* adopt's next window */
		box = run->window_box;
		run->window_box = NULL;
		kept_open = TRUE;
	} else {
		box = mailbox_alloc(ns->list, vname,
				    MAILBOX_FLAG_READONLY | MAILBOX_FLAG_IGNORE_ACLS);
		/* a virtual mailbox only shows mails stored in real ones */
		if (strcmp(box->storage->name, "virtual") == 0) {
			mailbox_free(&box);
			return 0;
		}
		if (mailbox_open(box) < 0) {
			ret = doveadm_tresor_verify_unopenable(run, box,
							       "Can't open mailbox");
			mailbox_free(&box);
			return ret;
		}
	}
	if (mailbox_get_metadata(box, MAILBOX_METADATA_GUID, &metadata) < 0) {
		ret = doveadm_tresor_verify_unopenable(run, box,
						       "Can't get the mailbox GUID");
		mailbox_free(&box);
		return ret;
	}
	guid = p_strdup(run->pool, guid_128_to_string(metadata.guid));
	*guid_r = guid;
	if (recheck_vbox != NULL && strcmp(guid, recheck_vbox->guid) != 0) {
		/* renamed meanwhile: the first pass's results stand */
		mailbox_free(&box);
		return 0;
	}

	journaled = tresor_config_is_journaled(run->cfg, vname,
					       mail_namespace_get_sep(ns)) != 0;
	if (!journaled && !run->adopt && v == NULL &&
	    (v = doveadm_tresor_verify_loaded(run, TRUE)) == NULL) {
		/* whether it matters depends on the journal: unreadable */
		mailbox_free(&box);
		return -1;
	}
	if (!journaled && (run->adopt ||
			   tresor_verify_mailbox_expected(v, guid) == 0)) {
		if (run->adopt && run->tctx->mailbox_args) {
			i_warning("tresor adopt: %s is not a journaled folder "
				  "(tresor_journal): nothing is adopted there",
				  vname);
		}
		mailbox_free(&box);
		return 0;
	}

	/* notice files added or removed behind Dovecot's back. Not again in
	   each window of adopt's second pass: that would read a maildir's
	   whole directory once per window, a cost growing with the square
	   of the folder (a plain sync still notices changed directories) */
	if (mailbox_sync(box, run->second_pass && run->adopt ? 0 :
			 MAILBOX_SYNC_FLAG_FULL_READ) < 0) {
		enum mail_error error;

		(void)mailbox_get_last_error(box, &error);
		if (kept_open && error == MAIL_ERROR_NOTFOUND) {
			/* renamed or deleted since the last window: as when
			   the name leads to another mailbox */
			mailbox_free(&box);
			return 0;
		}
		doveadm_tresor_verify_box_error(run, box,
						"Syncing mailbox failed");
		doveadm_tresor_verify_box_failed(run, guid);
		mailbox_free(&box);
		return -1;
	}
	mailbox_get_open_status(box, STATUS_MESSAGES | STATUS_UIDVALIDITY,
				&status);

	if (!run->second_pass) {
		i_zero(&new_vbox);
		new_vbox.guid = guid;
		new_vbox.ns = ns;
		new_vbox.vname = p_strdup(run->pool, vname);
		p_array_init(&new_vbox.hashes, run->pool,
			     I_MAX(status.messages, 1));
		if (run->adopt) {
			p_array_init(&new_vbox.pending, run->pool, 16);
			p_array_init(&new_vbox.adoptions, run->pool, 16);
		}
		array_push_back(&run->boxes, &new_vbox);
		vbox = array_back_modifiable(&run->boxes);
	} else {
		i_assert(recheck_vbox != NULL);
		vbox = recheck_vbox;
		if (run->adopt) {
			array_clear(&vbox->pending);
			array_clear(&vbox->adoptions);
		}
	}
	vbox->uidvalidity = status.uidvalidity;
	if (v == NULL)
		v = doveadm_tresor_verify_loaded(run, FALSE);
	if (v == NULL && run->loader != NULL)
		doveadm_tresor_verify_defer(run, vbox, TRUE, 0, NULL, NULL, FALSE);
	else
		tresor_verify_mailbox_seen(v, guid, vname, status.uidvalidity);

	first_seq = 1;
	last_seq = status.messages;
	if (run->second_pass && run->adopt) {
		/* this window: the mails from window_first_uid on */
		mailbox_get_seq_range(box, I_MAX(run->window_first_uid, 1),
				      (uint32_t)-1, &first_seq, &last_seq);
		if (first_seq == 0) {
			/* none left */
			first_seq = 1;
			last_seq = 0;
		} else if (last_seq - first_seq >= DOVEADM_TRESOR_ADOPT_WINDOW)
			last_seq = first_seq + DOVEADM_TRESOR_ADOPT_WINDOW - 1;
		run->window_more = last_seq < status.messages;
	}

	trans = mailbox_transaction_begin(box, 0, "tresor verify");
	mail = mail_alloc(trans, 0, NULL);
	for (seq = first_seq; seq <= last_seq; seq++) {
		if (doveadm_is_killed()) {
			run->killed = TRUE;
			ret = -1;
			break;
		}
		if (run->load_failed || run->hash_failed) {
			ret = -1;
			break;
		}
		mail_set_seq(mail, seq);
		T_BEGIN {
			doveadm_tresor_verify_mail(run, v, vbox, mail,
						   journaled);
		} T_END;
		if (run->second_pass && run->adopt)
			run->window_first_uid = mail->uid + 1;
		if (!run->second_pass) {
			doveadm_tresor_progress(run->name, vname, seq,
						status.messages, "mails read");
		}
	}
	if (run->pipeline != NULL)
		doveadm_tresor_verify_take_hashed(run, v, TRUE);
	mail_free(&mail);
	(void)mailbox_transaction_commit(&trans);
	if (ret > 0 && run->second_pass && run->adopt && run->window_more)
		run->window_box = box;
	else
		mailbox_free(&box);
	return ret;
}

/* The first look at a listed mailbox; -1 on error (logged). */
static int
doveadm_tresor_verify_listed(struct doveadm_tresor_verify_run *run,
			     tresor_verify *v, struct mail_namespace *ns,
			     const char *vname)
{
	const char *guid;
	int ret;

	T_BEGIN {
		ret = doveadm_tresor_verify_mailbox(run, v, ns, vname, NULL,
						    &guid);
	} T_END;
	return ret < 0 ? -1 : 0;
}

static int
doveadm_tresor_verify_all_mailboxes(struct doveadm_tresor_verify_run *run,
				    tresor_verify *v,
				    struct mail_user *user)
{
	struct doveadm_mail_cmd_context *ctx = &run->tctx->ctx;
	struct doveadm_mailbox_list_iter *iter;
	const struct mailbox_info *info;
	struct doveadm_tresor_later_box {
		struct mail_namespace *ns;
		const char *vname;
	} later_box;
	ARRAY(struct doveadm_tresor_later_box) later;
	const struct doveadm_tresor_later_box *lb;
	int ret = 0;

	/* While the journal is being read, the journaled folders come first:
	   whether another one matters depends on the journal. */
	p_array_init(&later, run->pool, 8);
	iter = doveadm_mailbox_list_iter_init(ctx, user, ctx->search_args,
					      MAILBOX_LIST_ITER_NO_AUTO_BOXES);
	while ((info = doveadm_mailbox_list_iter_next(iter)) != NULL) {
		if (run->loader != NULL &&
		    tresor_config_is_journaled(run->cfg, info->vname,
			mail_namespace_get_sep(info->ns)) == 0) {
			later_box.ns = info->ns;
			later_box.vname = p_strdup(run->pool, info->vname);
			array_push_back(&later, &later_box);
			continue;
		}
		if (doveadm_tresor_verify_listed(run, v, info->ns,
						 info->vname) < 0)
			ret = -1;
		if (run->killed)
			break;
	}
	if (doveadm_mailbox_list_iter_deinit(&iter) < 0) {
		/* listing was incomplete: MISSING can't be trusted for any
		   mailbox not seen */
		ret = -1;
	}
	array_foreach(&later, lb) {
		if (run->killed)
			break;
		if (doveadm_tresor_verify_listed(run, v, lb->ns, lb->vname) < 0)
			ret = -1;
	}
	return ret;
}

static void
doveadm_tresor_verify_collect(struct doveadm_tresor_verify_run *run,
			      const tresor_verify *v,
			      bool second_pass,
			      const ARRAY_TYPE(const_string) *rechecked)
{
	const tresor_problem *p;
	struct doveadm_tresor_problem_row *row;
	const char *guid;
	size_t i, count = tresor_verify_problem_count(v);
	bool racy;

	for (i = 0; i < count; i++) {
		if ((p = tresor_verify_problem(v, i)) == NULL)
			continue;
		guid = p->mailbox_guid == NULL ? "" : p->mailbox_guid;
		racy = p->kind == TRESOR_PROBLEM_MISSING ||
			p->kind == TRESOR_PROBLEM_UNJOURNALED;
		if (second_pass) {
			/* only the confirmed results of the mailboxes
			   checked again */
			if (!racy || !doveadm_tresor_str_array_contains(rechecked, guid))
				continue;
		} else if (p->kind == TRESOR_PROBLEM_MISSING &&
			   doveadm_tresor_str_array_contains(&run->failed_guids,
							     guid)) {
			/* not found because the mailbox couldn't be read */
			continue;
		}
		row = array_append_space(&run->rows);
		row->kind = p->kind;
		row->kind_name = p_strdup(run->pool, p->kind_name);
		row->seq = p->seq;
		row->mailbox = p_strdup(run->pool, p->mailbox == NULL ? "" :
					p->mailbox);
		row->mailbox_guid = p_strdup(run->pool, guid);
		row->uid = p->uid;
		row->detail = p_strdup(run->pool, p->detail == NULL ? "" :
				       p->detail);
	}
}

static bool
doveadm_tresor_row_is_racy(const struct doveadm_tresor_problem_row *row)
{
	return row->kind == TRESOR_PROBLEM_MISSING ||
		row->kind == TRESOR_PROBLEM_UNJOURNALED;
}

/* A mail saved or expunged while the first pass ran shows up as
   UNJOURNALED or MISSING there, because the journal was read before. Such
   results are confirmed under the journal lock - the mail plugin holds it
   across each commit and its journal append, so store and journal agree
   while it's held. Mails already hashed aren't read again, so the lock is
   held only briefly. */
static void
doveadm_tresor_verify_confirm(struct doveadm_tresor_verify_run *run)
{
	struct doveadm_mail_cmd_context *ctx = &run->tctx->ctx;
	ARRAY_TYPE(const_string) recheck, rechecked, unseen;
	struct doveadm_tresor_problem_row *rows;
	struct doveadm_tresor_verify_box *vbox;
	tresor_journal *journal;
	tresor_verify *v;
	const char *guid, *checked_guid;
	char err[TRESOR_ERR_SIZE];
	unsigned int i, count;

	t_array_init(&recheck, 8);
	t_array_init(&rechecked, 8);
	t_array_init(&unseen, 8);
	rows = array_get_modifiable(&run->rows, &count);
	for (i = 0; i < count; i++) {
		if (!doveadm_tresor_row_is_racy(&rows[i]))
			continue;
		guid = rows[i].mailbox_guid;
		if (doveadm_tresor_verify_box_find(run, guid) != NULL) {
			if (!doveadm_tresor_str_array_contains(&recheck, guid))
				array_push_back(&recheck, &guid);
		} else if (!doveadm_tresor_str_array_contains(&unseen, guid)) {
			array_push_back(&unseen, &guid);
		}
	}
	if (array_count(&recheck) == 0 && array_count(&unseen) == 0)
		return;

	journal = tresor_journal_open(run->dir, err, sizeof(err));
	if (journal == NULL) {
		i_warning("tresor verify: can't open the journal to confirm "
			  "the results: %s", err);
		return;
	}
	if (tresor_journal_lock(journal, TRESOR_JOURNAL_LOCK_TIMEOUT_MSECS,
				err, sizeof(err)) < 0) {
		i_warning("tresor verify: can't lock the journal to confirm "
			  "the results (a concurrent save or expunge may show "
			  "up as UNJOURNALED or MISSING): %s", err);
		tresor_journal_close(journal);
		return;
	}
	v = tresor_verify_new(run->dir, err, sizeof(err));
	if (v == NULL) {
		i_error("tresor verify: can't read the journal in %s: %s",
			run->dir, err);
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
		tresor_journal_unlock(journal);
		tresor_journal_close(journal);
		return;
	}

	run->second_pass = TRUE;
	array_foreach_elem(&recheck, guid) {
		vbox = doveadm_tresor_verify_box_find(run, guid);
		i_assert(vbox != NULL);
		if (doveadm_tresor_verify_mailbox(run, v, vbox->ns, vbox->vname,
						  vbox, &checked_guid) > 0)
			array_push_back(&rechecked, &guid);
		if (run->killed)
			break;
	}
	tresor_verify_finish(v, 1);

	/* drop the first pass's racy results that were checked again ... */
	for (i = 0; i < count; i++) {
		guid = rows[i].mailbox_guid;
		if (doveadm_tresor_row_is_racy(&rows[i]) &&
		    (doveadm_tresor_str_array_contains(&rechecked, guid) ||
		     /* ... or whose mailbox was deleted meanwhile */
		     (doveadm_tresor_str_array_contains(&unseen, guid) &&
		      tresor_verify_mailbox_expected(v, guid) == 0)))
			rows[i].kind_name = NULL;
	}
	/* ... and take the confirmed ones instead */
	doveadm_tresor_verify_collect(run, v, TRUE, &rechecked);

	tresor_verify_free(v);
	tresor_journal_unlock(journal);
	tresor_journal_close(journal);
}

static int
doveadm_tresor_problem_row_cmp(const struct doveadm_tresor_problem_row *r1,
			       const struct doveadm_tresor_problem_row *r2)
{
	int ret;

	if (r1->kind != r2->kind)
		return r1->kind < r2->kind ? -1 : 1;
	if (r1->seq != r2->seq)
		return r1->seq < r2->seq ? -1 : 1;
	if ((ret = strcmp(r1->mailbox, r2->mailbox)) != 0)
		return ret;
	if ((ret = strcmp(r1->mailbox_guid, r2->mailbox_guid)) != 0)
		return ret;
	if (r1->uid != r2->uid)
		return r1->uid < r2->uid ? -1 : 1;
	return 0;
}

static void
doveadm_tresor_verify_set_format(struct doveadm_tresor_cmd_context *tctx,
				 bool seq,
				 bool mailbox, bool uid)
{
	string_t *fmt = doveadm_tresor_row_format_begin(tctx);

	str_append(fmt, "%{problem}");
	if (seq)
		str_append(fmt, " seq=%{seq}");
	if (mailbox)
		str_append(fmt, " mailbox=%{mailbox}");
	if (uid)
		str_append(fmt, " uid=%{uid}");
	str_append(fmt, ": %{detail}\n");
	doveadm_tresor_row_format_end(tctx);
}

static void
doveadm_tresor_verify_print_row(struct doveadm_tresor_cmd_context *tctx,
				const struct doveadm_tresor_problem_row *row)
{
	doveadm_tresor_verify_set_format(tctx, row->seq != 0,
					 row->mailbox[0] != '\0',
					 row->uid != 0);

	doveadm_print(row->kind_name);
	doveadm_print(row->seq == 0 ? "" : dec2str(row->seq));
	doveadm_print(row->mailbox);
	doveadm_print(row->uid == 0 ? "" : dec2str(row->uid));
	doveadm_print(row->detail);
}

/* What verify explains rather than reports (the clock went back between
   two records; an interrupted save or expunge, and whether it happened):
   logged, the exit status is not affected. */
static void doveadm_tresor_verify_log_notes(const tresor_verify *v)
{
	const tresor_note *note;
	size_t i, count = tresor_verify_note_count(v);

	for (i = 0; i < count; i++) {
		if ((note = tresor_verify_note(v, i)) != NULL)
			i_info("tresor verify: note: %s", note->detail);
	}
}

/* Opens the journal side of a verification: seals are checked with
   tresor_seal_pubkey / tresor_tsa_ca. NULL (exit code set) on failure. */
static tresor_verify *
doveadm_tresor_verify_open(struct doveadm_mail_cmd_context *ctx,
			   struct mail_user *user, tresor_config *cfg,
			   const char *dir)
{
	tresor_verify *v;
	char err[TRESOR_ERR_SIZE];
	int seal_config_error;

	v = tresor_verify_new_with_seals(dir, cfg, user->username,
					 &seal_config_error, err, sizeof(err));
	if (v == NULL) {
		doveadm_tresor_verify_open_failed(ctx, dir,
						  seal_config_error != 0, err);
	}
	return v;
}

/* Prints the confirmed problems in order and the summary line. */
/* verify --since: the seq before which mails are only found, not read. */
static void
doveadm_tresor_verify_since(struct doveadm_tresor_verify_run *run,
			    const tresor_verify *v)
{
	if (!run->tctx->verify_since_seal) {
		run->since_seq = run->tctx->verify_since_seq;
		return;
	}
	run->since_seq = tresor_verify_last_seal_seq(v);
	if (run->since_seq == 0) {
		i_info("tresor verify: --since seal: the journal has no seal "
		       "yet, every mail is read");
	}
}

static void
doveadm_tresor_verify_report(struct doveadm_tresor_verify_run *run,
			     const char *records, uint64_t purge_pending,
			     bool incomplete)
{
	const struct doveadm_tresor_problem_row *row;
	unsigned int problems = 0;

	array_sort(&run->rows, doveadm_tresor_problem_row_cmp);

	array_foreach(&run->rows, row) {
		if (row->kind_name == NULL)
			continue;
		T_BEGIN {
			doveadm_tresor_verify_print_row(run->tctx, row);
		} T_END;
		problems++;
	}
	i_info("tresor verify: %s journal records, %"PRIu64" mail%s checked%s, "
	       "%u problem%s%s", records, run->mails_checked,
	       run->mails_checked == 1 ? "" : "s",
	       run->since_seq == 0 ? "" : t_strdup_printf(
			" (and %"PRIu64" saved before seq %"PRIu64" found by "
			"their UIDs, not read)", run->mails_unread,
			run->since_seq), problems,
	       problems == 1 ? "" : "s",
	       incomplete ? " (incomplete: see the errors above)" : "");
	if (purge_pending > 0) {
		/* an interrupted purge: not a problem, but worth knowing */
		i_info("tresor verify: %"PRIu64" purged mail%s still in the "
		       "store (doveadm tresor purge finishes %s)", purge_pending,
		       purge_pending == 1 ? " is" : "s are",
		       purge_pending == 1 ? "it" : "them");
	}
	if (problems > 0)
		doveadm_tresor_set_exit_code(&run->tctx->ctx, TRESOR_EX_PROBLEMS);
}

static void
doveadm_tresor_verify_run_free(struct doveadm_tresor_verify_run *run)
{
	if (run->loader != NULL) {
		/* (waits for the thread) */
		tresor_verify_free(tresor_verify_load_end(run->loader, NULL,
							  NULL, 0));
	}
	tresor_verify_free(run->loaded);
	if (array_is_created(&run->deferred))
		array_free(&run->deferred);
	if (run->defer_pool != NULL)
		pool_unref(&run->defer_pool);
	if (array_is_created(&run->queued)) {
		struct doveadm_tresor_queued_mail *q;

		array_foreach_modifiable(&run->queued, q)
			i_free(q->guid);
		array_free(&run->queued);
	}
	/* (stops the thread) */
	tresor_hash_pipeline_free(run->pipeline);
	tresor_hasher_free(run->hasher);
	if (run->window_pool != NULL)
		pool_unref(&run->window_pool);
	pool_unref(&run->pool);
}

/* The first pass hashes on a thread of its own while it reads (without
   it, hashing while reading). */
static void
doveadm_tresor_verify_start_pipeline(struct doveadm_tresor_verify_run *run)
{
	char err[TRESOR_ERR_SIZE];

	run->pipeline = tresor_hash_pipeline_new_sha256_only(run->cfg, err,
							     sizeof(err));
	if (run->pipeline == NULL) {
		i_warning("tresor %s: hashing on a thread of its own failed "
			  "to start (%s): hashing while reading",
			  run->name, err);
	} else {
		i_array_init(&run->queued, 256);
	}
}

static int
cmd_tresor_verify_run(struct doveadm_mail_cmd_context *ctx,
		      struct mail_user *user)
{
	struct doveadm_tresor_cmd_context *tctx =
		(struct doveadm_tresor_cmd_context *)ctx;
	struct doveadm_tresor_verify_run run;
	tresor_config *cfg;
	tresor_verify *v = NULL;
	const char *dir, *records;
	char err[TRESOR_ERR_SIZE];
	uint64_t purge_pending;
	int ret = 0;

	if (doveadm_tresor_user_config_load(ctx, user, &cfg, &dir) < 0)
		return -1;
	if (doveadm_tresor_skip_empty_user(tctx, user, dir)) {
		tresor_config_free(cfg);
		return 0;
	}

	i_zero(&run);
	run.name = "verify";
	/* (verify -A runs daily from a timer: quiet there) */
	run.progress = isatty(STDERR_FILENO) != 0;
	run.tctx = tctx;
	run.pool = pool_alloconly_create("tresor verify", 4096);
	run.cfg = cfg;
	run.dir = p_strdup(run.pool, dir);
	run.hasher = tresor_hasher_new_sha256_only(cfg);
	if (run.hasher == NULL) {
		i_error("tresor verify: out of memory");
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
		doveadm_tresor_verify_run_free(&run);
		tresor_config_free(cfg);
		return -1;
	}
	p_array_init(&run.boxes, run.pool, 16);
	p_array_init(&run.failed_guids, run.pool, 4);
	p_array_init(&run.rows, run.pool, 16);
	doveadm_tresor_verify_start_pipeline(&run);

	if (tctx->verify_since_seq == 0 && !tctx->verify_since_seal) {
		/* the journal is read while the mailboxes are */
		run.loader = tresor_verify_load_begin(dir, cfg, user->username,
						      err, sizeof(err));
		if (run.loader == NULL) {
			i_warning("tresor verify: reading the journal on a "
				  "thread of its own failed (%s): reading it "
				  "first", err);
		} else {
			i_array_init(&run.deferred, 256);
			run.defer_pool = pool_alloconly_create(
				"tresor verify deferred", 16384);
		}
	}
	if (run.loader == NULL) {
		/* --since needs the journal (a seal's seq, which mails not
		   to read) before any mailbox */
		if ((v = doveadm_tresor_verify_open(ctx, user, cfg, dir)) == NULL) {
			doveadm_tresor_verify_run_free(&run);
			tresor_config_free(cfg);
			return -1;
		}
		doveadm_tresor_verify_since(&run, v);
	}

	if (doveadm_tresor_verify_all_mailboxes(&run, v, user) < 0)
		ret = -1;
	if (v == NULL) {
		/* now the journal is needed whole */
		v = doveadm_tresor_verify_loaded(&run, TRUE);
		run.loaded = NULL;
		if (v == NULL) {
			doveadm_tresor_verify_run_free(&run);
			tresor_config_free(cfg);
			return -1;
		}
	}
	records = dec2str(tresor_verify_record_count(v));
	run.mails_unread = tresor_verify_unread_count(v);
	if (run.killed || run.hash_failed) {
		i_error("tresor verify: %s, nothing verified", run.killed ?
			"interrupted" : "not every mail was hashed");
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
		tresor_verify_free(v);
		doveadm_tresor_verify_run_free(&run);
		tresor_config_free(cfg);
		return -1;
	}
	tresor_verify_finish(v, tctx->mailbox_args ? 1 : 0);
	doveadm_tresor_verify_collect(&run, v, FALSE, NULL);
	purge_pending = tresor_verify_purge_pending_count(v);
	doveadm_tresor_verify_log_notes(v);
	tresor_verify_free(v);

	if (array_count(&run.rows) > 0) T_BEGIN {
		doveadm_tresor_verify_confirm(&run);
	} T_END;
	if (run.killed) {
		/* while confirming: the first pass's results are printed */
		i_error("tresor verify: interrupted while confirming the "
			"results");
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
		ret = -1;
	}
	doveadm_tresor_verify_report(&run, records, purge_pending,
				     ret < 0 || run.killed);

	doveadm_tresor_verify_run_free(&run);
	tresor_config_free(cfg);
	if (ctx->exit_code == 0)
		ret = 0;
	return ret < 0 ? -1 : 0;
}

/* verify's and adopt's common init(): the [<mailbox> ...] arguments, exact
   names or patterns, as doveadm's mailbox commands take them */
static void
doveadm_tresor_mailbox_args_init(struct doveadm_tresor_cmd_context *tctx)
{
	struct doveadm_mail_cmd_context *ctx = &tctx->ctx;
	const char *const *mailboxes =
		doveadm_tresor_param_list(ctx, "mailbox");

	doveadm_tresor_cmd_init_common(tctx);
	tctx->mailbox_args = mailboxes[0] != NULL;
	ctx->search_args = doveadm_mail_mailbox_search_args_build(mailboxes);
}

static void cmd_tresor_verify_init(DOVEADM_TRESOR_CMD_INIT_PARAMS)
{
	struct doveadm_tresor_cmd_context *tctx = (struct doveadm_tresor_cmd_context *)ctx;
	const char *since;

	if (doveadm_cmd_param_str(ctx->cctx, "since", &since)) {
		if (strcmp(since, "seal") == 0)
			tctx->verify_since_seal = TRUE;
		else if (str_to_uint64(since, &tctx->verify_since_seq) < 0 ||
			 tctx->verify_since_seq == 0) {
			i_fatal_status(EX_USAGE, "doveadm tresor verify: "
				       "--since takes a journal seq (1 or more) "
				       "or \"seal\"");
		}
	}

	doveadm_tresor_mailbox_args_init(tctx);
	doveadm_print_header_simple("problem");
	/* no DOVEADM_PRINT_HEADER_FLAG_NUMBER: seq and uid are "" where a
	   problem has none, and -f json prints every value as a string, as
	   doveadm's own commands mostly do */
	doveadm_print_header_simple("seq");
	doveadm_print_header_simple("mailbox");
	doveadm_print_header_simple("uid");
	doveadm_print_header("detail", "detail",
			     DOVEADM_PRINT_HEADER_FLAG_EXPAND);
	/* for rows printed here from a remote doveadm-server's answer */
	doveadm_tresor_verify_set_format(tctx, TRUE, TRUE, TRUE);
}

static struct doveadm_mail_cmd_context *cmd_tresor_verify_alloc(void)
{
	struct doveadm_tresor_cmd_context *tctx;

	tctx = doveadm_tresor_cmd_alloc(DOVEADM_PRINT_TYPE_FORMATTED);
	tctx->ctx.v.init = cmd_tresor_verify_init;
	tctx->ctx.v.run = cmd_tresor_verify_run;
	tctx->ctx.v.deinit = doveadm_tresor_cmd_deinit;
	tctx->name = "verify";
	return &tctx->ctx;
}

/* ------------------------------------------------------------------ */
/* adopt                                                              */
/* ------------------------------------------------------------------ */

/* adopt records are written in chunks: memory stays bounded by the chunk,
   not by the mailbox (a record in the core's form, with its JSON and its
   line, took about 3.6 KB while written) */
#define DOVEADM_TRESOR_ADOPT_WRITE_CHUNK 256

/* Appends the adopt records queued in vbox (not yet fdatasync()ed: the
   caller flushes once for the mailbox) and counts them in *adopted. */
static int
doveadm_tresor_adopt_write(struct doveadm_tresor_verify_run *run,
			   tresor_journal *journal,
			   struct doveadm_tresor_verify_box *vbox,
			   unsigned int *adopted)
{
	char err[TRESOR_ERR_SIZE];

	if (array_count(&vbox->adoptions) == 0)
		return 0;
	if (tresor_journal_append_batch_unflushed(journal,
			array_front(&vbox->adoptions),
			array_count(&vbox->adoptions), NULL,
			err, sizeof(err)) < 0) {
		i_error("tresor adopt: %s: can't write the adopt records: %s",
			vbox->vname, err);
		doveadm_tresor_set_exit_code(&run->tctx->ctx, EX_TEMPFAIL);
		return -1;
	}
	*adopted += array_count(&vbox->adoptions);
	array_clear(&vbox->adoptions);
	return 0;
}

/* Journals the mails of one mailbox that the first pass found
   UNJOURNALED, a window of mails at a time: the window is looked at again
   (mails hashed in the first pass are read again only when they are to
   be adopted), then the journal is locked and each mail looked up as
   verify does: the mail plugin holds the lock across each commit and its
   journal append, so a mail committed before the lock is ours has its
   record by then, and one committed after it was not in the mailbox when
   we looked - a delivery racing the adopt is neither lost nor journaled
   twice. The journal is read anew under the lock unless its head is
   still the one this adopt left: nobody appended meanwhile. The mailbox
   is not touched under the lock (an mbox save locks the mailbox, then the
   journal). Returns -1 on error (logged, exit code set). */
static int
doveadm_tresor_adopt_box(struct doveadm_tresor_verify_run *run,
			 tresor_journal *journal,
			 struct doveadm_tresor_verify_box *vbox,
			 unsigned int *adopted_r)
{
	struct doveadm_mail_cmd_context *ctx = &run->tctx->ctx;
	const struct doveadm_tresor_pending_mail *pm;
	tresor_verify *v = NULL;
	const char *checked_guid;
	char err[TRESOR_ERR_SIZE];
	char head_sha256[TRESOR_SHA256_HEX_SIZE];
	char left_sha256[TRESOR_SHA256_HEX_SIZE] = "";
	uint64_t head_seq, left_seq = 0;
	uint32_t first_uidvalidity = 0;
	unsigned int window_adopted;
	int ret = 1;

	*adopted_r = 0;
	/* the second look decides */
	i_zero(&vbox->counts);
	run->window_first_uid = 1;
	do {
		p_clear(run->window_pool);
		ret = doveadm_tresor_verify_mailbox(run, NULL, vbox->ns,
						    vbox->vname, vbox,
						    &checked_guid);
		if (ret > 0 && first_uidvalidity != 0 &&
		    vbox->uidvalidity != first_uidvalidity)
			ret = 0;
		first_uidvalidity = vbox->uidvalidity;
		if (ret == 0) {
			i_warning("tresor adopt: %s was renamed or replaced "
				  "while adopt ran: %u mails adopted there, the "
				  "rest not (run it again)", vbox->vname,
				  *adopted_r);
		}
		if (ret <= 0)
			break;

		if (tresor_journal_lock(journal,
					TRESOR_JOURNAL_LOCK_TIMEOUT_MSECS,
					err, sizeof(err)) < 0) {
			i_error("tresor adopt: %s: can't lock the journal: %s "
				"- %u mails adopted there, the rest not",
				vbox->vname, err, *adopted_r);
			doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
			ret = -1;
			break;
		}
		if (v != NULL &&
		    (tresor_journal_head(run->dir, &head_seq, head_sha256,
					 err, sizeof(err)) < 0 ||
		     head_seq != left_seq ||
		     strcmp(head_sha256, left_sha256) != 0)) {
			/* another writer appended since the last window */
			tresor_verify_free(v);
			v = NULL;
		}
		if (v == NULL &&
		    (v = tresor_verify_new(run->dir, err, sizeof(err))) == NULL) {
			i_error("tresor adopt: can't read the journal in %s: %s",
				run->dir, err);
			doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
			tresor_journal_unlock(journal);
			ret = -1;
			break;
		}
		tresor_verify_list_unjournaled(v, 0);
		tresor_verify_mailbox_seen(v, vbox->guid, vbox->vname,
					   vbox->uidvalidity);
		window_adopted = 0;
		array_foreach(&vbox->pending, pm) {
			doveadm_tresor_adopt_observed(run, vbox, pm->uid,
				tresor_verify_observe(v, vbox->guid, vbox->vname,
						      pm->uid, pm->guid,
						      pm->sha256, 1),
				pm->readable, pm->adoptee);
			if (array_count(&vbox->adoptions) >=
			    DOVEADM_TRESOR_ADOPT_WRITE_CHUNK &&
			    doveadm_tresor_adopt_write(run, journal, vbox,
						       &window_adopted) < 0) {
				ret = -1;
				break;
			}
		}
		if (ret > 0 && doveadm_tresor_adopt_write(run, journal, vbox,
							  &window_adopted) < 0)
			ret = -1;
		/* one fdatasync per window; until it returns, nothing of it
		   is reported adopted */
		if (window_adopted > 0 &&
		    tresor_journal_flush(journal, err, sizeof(err)) < 0) {
			i_error("tresor adopt: %s: can't write the adopt "
				"records: %s", vbox->vname, err);
			doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
			window_adopted = 0;
			ret = -1;
		}
		*adopted_r += window_adopted;
		/* the head this adopt leaves: unchanged at the next window
		   means the verifier is still current */
		if (ret > 0 &&
		    tresor_journal_head(run->dir, &left_seq, left_sha256,
					err, sizeof(err)) < 0) {
			tresor_verify_free(v);
			v = NULL;
		}
		tresor_journal_unlock(journal);
		if (run->progress && run->window_more) {
			fprintf(stderr, "tresor adopt: %s: %u mails journaled "
				"so far\n", vbox->vname, *adopted_r);
		}
	} while (ret > 0 && run->window_more && !run->killed);
	if (run->window_box != NULL)
		mailbox_free(&run->window_box);
	tresor_verify_free(v);
	return ret < 0 ? -1 : 0;
}

static void
doveadm_tresor_adopt_set_format(struct doveadm_tresor_cmd_context *tctx,
				bool modified, bool unreadable)
{
	string_t *fmt = doveadm_tresor_row_format_begin(tctx);

	str_append(fmt, "adopted %{adopted} mails in %{mailboxes} mailboxes, "
		   "%{journaled} already journaled");
	if (modified)
		str_append(fmt, " (%{modified} of them MODIFIED: see doveadm "
			   "tresor verify)");
	if (unreadable)
		str_append(fmt, ", %{unreadable} unreadable (not adopted)");
	str_append_c(fmt, '\n');
	doveadm_tresor_row_format_end(tctx);
}

static void
doveadm_tresor_adopt_print(struct doveadm_tresor_cmd_context *tctx,
			   unsigned int adopted, unsigned int mailboxes,
			   const struct doveadm_tresor_adopt_counts *total)
{
	doveadm_tresor_adopt_set_format(tctx, total->modified > 0,
					total->unreadable > 0);
	doveadm_print(dec2str(adopted));
	doveadm_print(dec2str(mailboxes));
	doveadm_print(dec2str(total->journaled));
	doveadm_print(dec2str(total->modified));
	doveadm_print(dec2str(total->unreadable));
}

static int
cmd_tresor_adopt_run(struct doveadm_mail_cmd_context *ctx,
		     struct mail_user *user)
{
	struct doveadm_tresor_cmd_context *tctx =
		(struct doveadm_tresor_cmd_context *)ctx;
	struct doveadm_tresor_verify_run run;
	struct doveadm_tresor_verify_box *vbox;
	struct doveadm_tresor_adopt_counts total;
	tresor_journal *journal = NULL;
	tresor_config *cfg;
	tresor_verify *v;
	const char *dir;
	char err[TRESOR_ERR_SIZE];
	unsigned int adopted = 0, mailboxes = 0, n;
	int ret = 0;

	if (doveadm_tresor_user_config_load(ctx, user, &cfg, &dir) < 0)
		return -1;
	if (doveadm_tresor_skip_empty_user(tctx, user, dir)) {
		tresor_config_free(cfg);
		return 0;
	}

	i_zero(&run);
	run.name = "adopt";
	run.adopt = TRUE;
	run.progress = isatty(STDERR_FILENO) != 0;
	run.user = user;
	run.tctx = tctx;
	run.pool = pool_alloconly_create("tresor adopt", 4096);
	run.cfg = cfg;
	run.dir = p_strdup(run.pool, dir);
	p_array_init(&run.boxes, run.pool, 16);
	p_array_init(&run.failed_guids, run.pool, 4);
	p_array_init(&run.rows, run.pool, 4);

	run.window_pool = pool_alloconly_create("tresor adopt window", 65536);
	/* the first pass looks up the SHA-256 (on a thread of its own); the
	   second hashes the mails to adopt with every hash a save record
	   has: an adopt record has them too */
	doveadm_tresor_verify_start_pipeline(&run);
	run.hasher = tresor_hasher_new(cfg);
	v = run.hasher == NULL ? NULL : tresor_verify_new(dir, err, sizeof(err));
	if (run.hasher != NULL && v != NULL)
		journal = tresor_journal_open(dir, err, sizeof(err));
	if (run.hasher == NULL || v == NULL || journal == NULL) {
		i_error("tresor adopt: can't read the journal in %s: %s", dir,
			run.hasher == NULL ? "out of memory" : err);
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
		tresor_verify_free(v);
		doveadm_tresor_verify_run_free(&run);
		tresor_config_free(cfg);
		return -1;
	}

	/* what it finds UNJOURNALED, adopt journals: nothing is kept of it
	   in the verifier */
	tresor_verify_list_unjournaled(v, 0);
	/* a journal damaged or shorter than it was stays that way: adopt
	   records appended now would make it look whole */
	if (tresor_verify_chain_broken(v) != 0) {
		i_error("tresor adopt: the journal in %s is damaged or shorter "
			"than it was (doveadm tresor verify shows the CHAIN "
			"problem): nothing adopted - adopting would cover it",
			dir);
		doveadm_tresor_set_exit_code(ctx, TRESOR_EX_PROBLEMS);
		tresor_journal_close(journal);
		tresor_verify_free(v);
		doveadm_tresor_verify_run_free(&run);
		tresor_config_free(cfg);
		return -1;
	}

	/* first pass, unlocked: every mail of the journaled folders is
	   hashed and looked up as verify does */
	if (doveadm_tresor_verify_all_mailboxes(&run, v, user) < 0)
		ret = -1;
	tresor_verify_free(v);

	/* second pass, locked mailbox by mailbox */
	run.second_pass = TRUE;
	array_foreach_modifiable(&run.boxes, vbox) {
		if (run.killed)
			break;
		if (vbox->counts.unjournaled == 0)
			continue;
		T_BEGIN {
			if (doveadm_tresor_adopt_box(&run, journal, vbox, &n) < 0)
				ret = -1;
		} T_END;
		if (n > 0) {
			adopted += n;
			mailboxes++;
			if (run.progress) {
				fprintf(stderr, "tresor adopt: %s: %u mails "
					"journaled\n", vbox->vname, n);
			}
		}
	}
	tresor_journal_close(journal);
	if (run.killed) {
		i_error("tresor adopt: interrupted (what was journaled stays; "
			"run it again for the rest)");
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
		ret = -1;
	}

	i_zero(&total);
	array_foreach_modifiable(&run.boxes, vbox) {
		total.journaled += vbox->counts.journaled;
		total.modified += vbox->counts.modified;
		total.unreadable += vbox->counts.unreadable;
	}
	if (total.unreadable > 0) {
		/* verify still reports them UNJOURNALED */
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
		ret = -1;
	}
	doveadm_tresor_adopt_print(tctx, adopted, mailboxes, &total);

	doveadm_tresor_verify_run_free(&run);
	tresor_config_free(cfg);
	return ret;
}

static void cmd_tresor_adopt_init(DOVEADM_TRESOR_CMD_INIT_PARAMS)
{
	struct doveadm_tresor_cmd_context *tctx = (struct doveadm_tresor_cmd_context *)ctx;

	doveadm_tresor_mailbox_args_init(tctx);
	doveadm_print_header_simple("adopted");
	doveadm_print_header_simple("mailboxes");
	doveadm_print_header_simple("journaled");
	doveadm_print_header_simple("modified");
	doveadm_print_header_simple("unreadable");
	/* for rows printed here from a remote doveadm-server's answer */
	doveadm_tresor_adopt_set_format(tctx, TRUE, TRUE);
}

static struct doveadm_mail_cmd_context *cmd_tresor_adopt_alloc(void)
{
	struct doveadm_tresor_cmd_context *tctx;

	tctx = doveadm_tresor_cmd_alloc(DOVEADM_PRINT_TYPE_FORMATTED);
	tctx->ctx.v.init = cmd_tresor_adopt_init;
	tctx->ctx.v.run = cmd_tresor_adopt_run;
	tctx->ctx.v.deinit = doveadm_tresor_cmd_deinit;
	tctx->name = "adopt";
	return &tctx->ctx;
}

/* ------------------------------------------------------------------ */
/* journal                                                            */
/* ------------------------------------------------------------------ */

/* values == NULL: every field */
static void
doveadm_tresor_journal_set_format(struct doveadm_tresor_cmd_context *tctx,
				  const char *const *names, const char *const *values)
{
	string_t *fmt = doveadm_tresor_row_format_begin(tctx);
	size_t start = str_len(fmt);
	unsigned int i;

	for (i = 0; names[i] != NULL; i++) {
		if (values != NULL &&
		    (values[i] == NULL || values[i][0] == '\0'))
			continue;
		if (str_len(fmt) > start)
			str_append_c(fmt, ' ');
		str_printfa(fmt, "%s=%%{%s}", names[i], names[i]);
	}
	str_append_c(fmt, '\n');
	doveadm_tresor_row_format_end(tctx);
}

static void
doveadm_tresor_journal_print_row(struct doveadm_tresor_cmd_context *tctx,
				 const char *const *names, const char *const *values)
{
	unsigned int i;

	doveadm_tresor_journal_set_format(tctx, names, values);
	/* a mailbox name, Message-ID or reason may carry control characters
	   (JSON escapes them in the journal): never raw onto a terminal or
	   into a tab-separated line */
	for (i = 0; names[i] != NULL; i++)
		doveadm_print(values[i] == NULL ? "" :
			      str_sanitize(values[i], SIZE_MAX));
}

static int
cmd_tresor_journal_run(struct doveadm_mail_cmd_context *ctx,
		       struct mail_user *user)
{
	struct doveadm_tresor_cmd_context *tctx = (struct doveadm_tresor_cmd_context *)ctx;
	const char *const *names = tresor_journal_field_names();
	const char *const *values;
	tresor_journal_reader *reader;
	tresor_config *cfg;
	const char *dir;
	char err[TRESOR_ERR_SIZE];
	unsigned int seq_idx;
	uint64_t seq;
	int rc, ret = 0;

	if (doveadm_tresor_user_config_load(ctx, user, &cfg, &dir) < 0)
		return -1;
	tresor_config_free(cfg);

	for (seq_idx = 0; names[seq_idx] != NULL; seq_idx++) {
		if (strcmp(names[seq_idx], "seq") == 0)
			break;
	}

	reader = tresor_journal_reader_open(dir, err, sizeof(err));
	if (reader == NULL) {
		i_error("tresor journal: can't read the journal in %s: %s",
			dir, err);
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
		return -1;
	}
	while ((rc = tresor_journal_reader_next(reader, &values, err,
						sizeof(err))) != 0) {
		if (rc < 0) {
			/* "YYYY.jsonl line N: ..." is a line that can't be
			   parsed; anything else a file that can't be read */
			if (i_isdigit(err[0])) {
				i_error("tresor journal: %s/journal/%s",
					dir, err);
				doveadm_tresor_set_exit_code(ctx, TRESOR_EX_BAD_JOURNAL);
			} else {
				i_error("tresor journal: %s", err);
				doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
			}
			ret = -1;
			continue;
		}
		/* a record whose seq can't be read is shown, not hidden */
		if (tctx->since > 0 && names[seq_idx] != NULL &&
		    str_to_uint64(values[seq_idx], &seq) == 0 &&
		    seq <= tctx->since)
			continue;
		T_BEGIN {
			doveadm_tresor_journal_print_row(tctx, names, values);
		} T_END;
		if (doveadm_is_killed()) {
			doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
			ret = -1;
			break;
		}
	}
	tresor_journal_reader_free(reader);
	return ret;
}

static void cmd_tresor_journal_init(DOVEADM_TRESOR_CMD_INIT_PARAMS)
{
	struct doveadm_tresor_cmd_context *tctx = (struct doveadm_tresor_cmd_context *)ctx;
	const char *const *name;
	int64_t since;

	/* taken as unsigned, as always: a negative one lists nothing */
	if (doveadm_cmd_param_int64(ctx->cctx, "since", &since))
		tctx->since = (uint64_t)since;
	doveadm_tresor_cmd_init_common(tctx);
	for (name = tresor_journal_field_names(); *name != NULL; name++)
		doveadm_print_header_simple(*name);
	/* for rows printed here from a remote doveadm-server's answer */
	doveadm_tresor_journal_set_format(tctx, tresor_journal_field_names(),
					  NULL);
}

static struct doveadm_mail_cmd_context *cmd_tresor_journal_alloc(void)
{
	struct doveadm_tresor_cmd_context *tctx;

	tctx = doveadm_tresor_cmd_alloc(DOVEADM_PRINT_TYPE_FORMATTED);
	tctx->ctx.v.init = cmd_tresor_journal_init;
	tctx->ctx.v.run = cmd_tresor_journal_run;
	return &tctx->ctx;
}

/* ------------------------------------------------------------------ */
/* status                                                             */
/* ------------------------------------------------------------------ */

static int
cmd_tresor_status_run(struct doveadm_mail_cmd_context *ctx,
		      struct mail_user *user)
{
	tresor_journal_status *status;
	tresor_config *cfg;
	const char *dir;
	char err[TRESOR_ERR_SIZE];

	if (doveadm_tresor_user_config_load(ctx, user, &cfg, &dir) < 0)
		return -1;
	tresor_config_free(cfg);

	status = t_new(tresor_journal_status, 1);
	if (tresor_journal_get_status(dir, status, err, sizeof(err)) < 0) {
		i_error("tresor status: can't read the journal in %s: %s",
			dir, err);
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
		return -1;
	}
	doveadm_print(dec2str(status->records));
	doveadm_print(dec2str(status->head_seq));
	doveadm_print(status->head_sha256);
	doveadm_print(status->files);
	doveadm_print(dir);
	return 0;
}

static void cmd_tresor_status_init(DOVEADM_TRESOR_CMD_INIT_PARAMS)
{
	doveadm_tresor_cmd_init_common((struct doveadm_tresor_cmd_context *)ctx);
	doveadm_print_header_simple("records");
	doveadm_print_header_simple("head_seq");
	doveadm_print_header_simple("head_sha256");
	doveadm_print_header_simple("files");
	doveadm_print_header_simple("dir");
}

static struct doveadm_mail_cmd_context *cmd_tresor_status_alloc(void)
{
	struct doveadm_tresor_cmd_context *tctx;

	tctx = doveadm_tresor_cmd_alloc(DOVEADM_PRINT_TYPE_FLOW);
	tctx->ctx.v.init = cmd_tresor_status_init;
	tctx->ctx.v.run = cmd_tresor_status_run;
	return &tctx->ctx;
}

/* ------------------------------------------------------------------ */
/* registration                                                       */
/* ------------------------------------------------------------------ */

static struct doveadm_cmd_ver2 tresor_commands[] = {
{
	.name = "tresor verify",
	.mail_cmd = cmd_tresor_verify_alloc,
	.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX "[-s|--since <seq>|seal] [<mailbox> ...]",
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('s', "since", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('\0', "mailbox", CMD_PARAM_ARRAY, CMD_PARAM_FLAG_POSITIONAL)
DOVEADM_CMD_PARAMS_END
},
{
	.name = "tresor adopt",
	.mail_cmd = cmd_tresor_adopt_alloc,
	.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX "[<mailbox> ...]",
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('\0', "mailbox", CMD_PARAM_ARRAY, CMD_PARAM_FLAG_POSITIONAL)
DOVEADM_CMD_PARAMS_END
},
{
	.name = "tresor journal",
	.mail_cmd = cmd_tresor_journal_alloc,
	.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX "[-s|--since <seq>]",
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('s', "since", CMD_PARAM_INT64, 0)
DOVEADM_CMD_PARAMS_END
},
{
	.name = "tresor status",
	.mail_cmd = cmd_tresor_status_alloc,
	.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAMS_END
},
};

void doveadm_tresor_plugin_init(struct module *module ATTR_UNUSED)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(tresor_commands); i++)
		doveadm_cmd_register_ver2(&tresor_commands[i]);
	doveadm_tresor_seal_commands_register();
	doveadm_tresor_retention_commands_register();
	doveadm_tresor_invoices_commands_register();
	doveadm_tresor_dmarc_commands_register();
}

void doveadm_tresor_plugin_deinit(void)
{
	/* doveadm has no way to unregister commands; they go with the
	   process. */
}
