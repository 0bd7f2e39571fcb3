/* doveadm tresor purge|hold: the end of retention, and legal holds.

     doveadm tresor purge [-u <user>|-A] [-n [--now <date>]] [<mailbox> ...]
       Expunges the mails of archive folders whose tresor_retention ended
       (counted from the end of the UTC year of their save record) and
       that no hold keeps - the only way anything leaves an archive
       folder. Each gets a purge record, made durable before the expunge
       is committed; a mail whose purge record exists but which is still
       there (an interrupted purge) is expunged without a second one. A
       mail whose bytes no longer match its save record is not purged.
       -n only lists; --now <date> (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ,
       only with -n) shows what will be purgeable then. One row per mail
       that is or would be purged, is held, has no save record, or was
       modified: result (purged, finished, purgeable, pending, held,
       unjournaled, modified), mailbox, uid, save_seq, saved,
       retention_end, rule, hold, purge_seq.

     doveadm tresor hold add [-u <user>|-A] [--mailbox <box> [--uid <uid>]]
                             [--message-id <id>] [--reason <text>]
       Journals a hold: every selector given must match a mail for the
       hold to keep it; none holds every mail of the user. Prints the
       hold's ID (the seq of its hold record).

     doveadm tresor hold remove [-u <user>|-A] [--reason <text>] <hold-id>
       Journals the end of a hold. Exit status 68 when no such hold is
       in force.

     doveadm tresor hold list [-u <user>|-A]
       The holds in force: hold, time, scope, mailbox, uid, message_id,
       reason.

   docs/archive.md section "Retention, holds and purge" defines the
   records. */

#include "lib.h"
#include "str-sanitize.h"
#include "array.h"
#include "ioloop.h"
#include "str.h"
#include "strnum.h"
#include "guid.h"
#include "module-dir.h"
#include "mail-namespace.h"
#include "mail-storage-private.h"
#include "mail-storage-service.h"
#include "mailbox-list-iter.h"
#include "doveadm.h"
#include "doveadm-mail.h"
#include "doveadm-mailbox-list-iter.h"
#include "doveadm-print.h"
#include "tresor-plugin.h"
#include "archive/tresor-retention.h"
#include "doveadm-tresor-retention.h"
#include "doveadm-tresor.h"

#define TRESOR_RETENTION_ERR_SIZE 1024

struct doveadm_tresor_retention_cmd_context {
	struct doveadm_mail_cmd_context ctx;

	/* purge */
	bool dry_run;
	bool mailbox_args;
	int64_t now;
	/* hold add / remove */
	const char *mailbox;
	const char *message_id;
	const char *reason;
	uint32_t uid;
	uint64_t hold_id;
	/* purge's rows of this user, for its summary line */
	unsigned int rows_purged, rows_held, rows_modified, rows_unjournaled;
	unsigned int rows_interrupted;
};

static struct doveadm_tresor_retention_cmd_context *
doveadm_tresor_retention_cmd_alloc(void)
{
	struct doveadm_tresor_retention_cmd_context *rctx;

	rctx = doveadm_mail_cmd_alloc(struct doveadm_tresor_retention_cmd_context);
	doveadm_tresor_cmd_params_from_cctx(&rctx->ctx);
	if (!doveadm_print_is_initialized())
		doveadm_print_init(DOVEADM_PRINT_TYPE_FLOW);
	return rctx;
}

/* ------------------------------------------------------------------ */
/* purge                                                              */
/* ------------------------------------------------------------------ */

/* A mail that gets a purge record, printed once it is written. */
struct doveadm_tresor_purged_row {
	uint32_t uid;
	tresor_purge_mail m; /* strings copied into the command's pool */
};

struct doveadm_tresor_purge_box {
	pool_t pool;
	struct mailbox *box;
	const char *vname;
	char sep;
	/* to be expunged once the purge records are durable */
	ARRAY_TYPE(uint32_t) uids;
	/* the purge records queued, in order */
	ARRAY(struct doveadm_tresor_purged_row) purged;
};
ARRAY_DEFINE_TYPE(doveadm_tresor_purge_box, struct doveadm_tresor_purge_box *);

static void
doveadm_tresor_purge_print(struct doveadm_tresor_retention_cmd_context *rctx,
			   const char *result, const char *vname, uint32_t uid,
			   const tresor_purge_mail *m, uint64_t purge_seq)
{
	if (strcmp(result, "purged") == 0 || strcmp(result, "purgeable") == 0)
		rctx->rows_purged++;
	else if (strcmp(result, "held") == 0)
		rctx->rows_held++;
	else if (strcmp(result, "modified") == 0)
		rctx->rows_modified++;
	else if (strcmp(result, "unjournaled") == 0)
		rctx->rows_unjournaled++;
	else
		rctx->rows_interrupted++;
	doveadm_print(result);
	doveadm_print(str_sanitize(vname, SIZE_MAX));
	doveadm_print(dec2str(uid));
	doveadm_print(m->save_seq == 0 ? "" : dec2str(m->save_seq));
	doveadm_print(m->saved);
	doveadm_print(m->retention_end);
	doveadm_print(str_sanitize(m->rule, SIZE_MAX));
	doveadm_print(m->hold_seq == 0 ? "" : dec2str(m->hold_seq));
	doveadm_print(purge_seq == 0 ? "" : dec2str(purge_seq));
}

/* The mail's bytes must still be those its save record hashed: a changed
   mail is evidence, not something to purge. */
static bool
doveadm_tresor_purge_mail_unchanged(const tresor_config *cfg, struct mail *mail,
				    const tresor_purge_mail *m, const char **error_r)
{
	tresor_hash_result result;

	if (m->sha256[0] == '\0')
		return TRUE;
	if (tresor_user_mail_hash(cfg, mail, TRUE, &result, error_r) < 0)
		return FALSE;
	if (strcasecmp(result.sha256, m->sha256) != 0) {
		*error_r = t_strdup_printf("sha256 is %s, the save record has %s",
					   result.sha256, m->sha256);
		return FALSE;
	}
	return TRUE;
}

static void
doveadm_tresor_purged_row_add(struct doveadm_tresor_purge_box *pbox,
			      uint32_t uid,
			      const tresor_purge_mail *m)
{
	pool_t pool = pbox->pool;
	struct doveadm_tresor_purged_row *row = array_append_space(&pbox->purged);

	row->uid = uid;
	row->m = *m;
	row->m.saved = p_strdup(pool, m->saved);
	row->m.retention_end = p_strdup(pool, m->retention_end);
	row->m.rule = p_strdup(pool, m->rule);
	row->m.sha256 = "";
	row->m.hold_scope = "";
}

/* Acts on the decision m for one mail: prints it, queues its purge record
   when expired. Returns -1 on error (logged). */
static int
doveadm_tresor_purge_act(struct doveadm_tresor_retention_cmd_context *rctx,
			 struct mail_user *user, const tresor_config *cfg,
			 tresor_purge *purge, struct doveadm_tresor_purge_box *pbox,
			 struct mail *mail, const char *mailbox_guid,
			 uint32_t uidvalidity, const char *guid,
			 const tresor_purge_mail *m)
{
	struct doveadm_mail_cmd_context *ctx = &rctx->ctx;
	const char *error;
	char err[TRESOR_RETENTION_ERR_SIZE];

	switch (m->status) {
	case TRESOR_PURGE_RETAINED:
		break;
	case TRESOR_PURGE_HELD:
		doveadm_tresor_purge_print(rctx, "held", pbox->vname, mail->uid, m,
					   m->purge_seq);
		break;
	case TRESOR_PURGE_UNJOURNALED:
		/* never purged: nothing says when it was archived */
		doveadm_tresor_purge_print(rctx, "unjournaled", pbox->vname,
					   mail->uid, m, 0);
		break;
	case TRESOR_PURGE_PENDING:
		/* an earlier purge wrote its record but didn't get to
		   expunge: finish it */
		array_push_back(&pbox->uids, &mail->uid);
		doveadm_tresor_purge_print(rctx, rctx->dry_run ? "pending" : "finished",
					   pbox->vname, mail->uid, m, m->purge_seq);
		break;
	case TRESOR_PURGE_EXPIRED:
		if (!doveadm_tresor_purge_mail_unchanged(cfg, mail, m,
							 &error)) {
			i_error("tresor purge: %s UID %u not purged: its bytes "
				"don't match its save record (seq %"PRIu64"): "
				"%s - see doveadm tresor verify", pbox->vname,
				mail->uid, m->save_seq, error);
			doveadm_tresor_purge_print(rctx, "modified", pbox->vname,
						   mail->uid,
						   m, 0);
			doveadm_tresor_set_exit_code(ctx, EX_DATAERR);
			break;
		}
		if (rctx->dry_run) {
			doveadm_tresor_purge_print(rctx, "purgeable", pbox->vname,
						   mail->uid,
						   m, 0);
			break;
		}
		if (tresor_purge_add(purge, pbox->vname, pbox->sep,
				     mailbox_guid, uidvalidity, mail->uid,
				     guid[0] == '\0' ? NULL : guid,
				     user->service, user->session_id,
				     err, sizeof(err)) < 0) {
			i_error("tresor purge: %s", err);
			doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
			return -1;
		}
		array_push_back(&pbox->uids, &mail->uid);
		/* printed after the records are written */
		doveadm_tresor_purged_row_add(pbox, mail->uid, m);
		break;
	}
	return 0;
}

/* Decides every mail of one archive folder; queues the purge records of
   the expired ones. Returns -1 on error (logged). */
static int
doveadm_tresor_purge_decide_box(struct doveadm_tresor_retention_cmd_context *rctx,
				struct mail_user *user, const tresor_config *cfg,
				tresor_purge *purge, struct doveadm_tresor_purge_box *pbox)
{
	struct doveadm_mail_cmd_context *ctx = &rctx->ctx;
	struct mailbox *box = pbox->box;
	struct mailbox_metadata metadata;
	struct mailbox_status status;
	struct mailbox_transaction_context *trans;
	struct mail *mail;
	tresor_purge_mail m;
	tresor_hash_result hash;
	ARRAY(uint32_t) unjournaled;
	const char *mailbox_guid, *guid, *error;
	char err[TRESOR_RETENTION_ERR_SIZE];
	uint32_t seq, uid;
	bool hash_them;
	int ret = 0;

	if (mailbox_open(box) < 0 ||
	    mailbox_sync(box, MAILBOX_SYNC_FLAG_FULL_READ) < 0 ||
	    mailbox_get_metadata(box, MAILBOX_METADATA_GUID, &metadata) < 0) {
		i_error("tresor purge: %s: %s", pbox->vname,
			mailbox_get_last_internal_error(box, NULL));
		doveadm_mail_failed_mailbox(ctx, box);
		return -1;
	}
	mailbox_guid = t_strdup(guid_128_to_string(metadata.guid));
	mailbox_get_open_status(box, STATUS_MESSAGES | STATUS_UIDVALIDITY, &status);

	t_array_init(&unjournaled, 8);
	trans = mailbox_transaction_begin(box, 0, "tresor purge check");
	mail = mail_alloc(trans, MAIL_FETCH_GUID, NULL);
	for (seq = 1; seq <= status.messages && ret == 0; seq++) {
		if (doveadm_is_killed()) {
			doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
			ret = -1;
			break;
		}
		doveadm_tresor_progress("purge", pbox->vname, seq,
					status.messages, "mails checked");
		mail_set_seq(mail, seq);
		if (mail_get_special(mail, MAIL_FETCH_GUID, &guid) < 0)
			guid = "";
		if (tresor_purge_check(purge, pbox->vname, pbox->sep,
				       mailbox_guid, mail->uid, guid, &m,
				       err, sizeof(err)) < 0) {
			i_error("tresor purge: %s", err);
			doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
			ret = -1;
			break;
		}
		if (m.status == TRESOR_PURGE_UNJOURNALED) {
			/* after all others found their saves by UID or
			   GUID: it may be an interrupted save's */
			array_push_back(&unjournaled, &mail->uid);
			continue;
		}
		ret = doveadm_tresor_purge_act(rctx, user, cfg, purge, pbox,
					       mail,
					       mailbox_guid, status.uidvalidity, guid,
					       &m);
	}
	/* An interrupted save whose GUID the mail does not have (lost, or
	   given only at the commit) is found by its sha256, as verify finds
	   it (docs/archive.md 3.4). */
	hash_them = array_count(&unjournaled) > 0 &&
		tresor_purge_wants_hashes(purge, mailbox_guid) != 0;
	array_foreach_elem(&unjournaled, uid) {
		if (ret < 0)
			break;
		if (!mail_set_uid(mail, uid))
			continue;
		if (mail_get_special(mail, MAIL_FETCH_GUID, &guid) < 0)
			guid = "";
		if (hash_them &&
		    tresor_user_mail_hash(cfg, mail, TRUE, &hash, &error) < 0) {
			i_error("tresor purge: %s UID %u: %s", pbox->vname,
				uid, error);
			hash.sha256[0] = '\0';
		}
		if (tresor_purge_check_hashed(purge, pbox->vname, pbox->sep,
					      mailbox_guid, uid, guid,
					      hash_them ? hash.sha256 : NULL,
					      &m, err, sizeof(err)) < 0) {
			i_error("tresor purge: %s", err);
			doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
			ret = -1;
			break;
		}
		ret = doveadm_tresor_purge_act(rctx, user, cfg, purge, pbox,
					       mail,
					       mailbox_guid, status.uidvalidity, guid,
					       &m);
	}
	mail_free(&mail);
	(void)mailbox_transaction_commit(&trans);
	return ret;
}

/* Expunges what the journal now says is purged. */
static int
doveadm_tresor_purge_expunge_box(struct doveadm_tresor_retention_cmd_context *rctx,
				 tresor_purge_allow_expunge_func *allow,
				 struct doveadm_tresor_purge_box *pbox)
{
	struct doveadm_mail_cmd_context *ctx = &rctx->ctx;
	struct mailbox_transaction_context *trans;
	struct mail *mail;
	uint32_t uid;
	int ret = 0;

	trans = mailbox_transaction_begin(pbox->box, ctx->transaction_flags,
					  "tresor purge");
	mail = mail_alloc(trans, 0, NULL);
	array_foreach_elem(&pbox->uids, uid) {
		if (allow(trans, uid) < 0) {
			i_error("tresor purge: %s: the tresor mail plugin "
				"refused the purge", pbox->vname);
			ret = -1;
			break;
		}
		if (mail_set_uid(mail, uid))
			mail_expunge(mail);
	}
	mail_free(&mail);
	if (ret < 0) {
		mailbox_transaction_rollback(&trans);
	} else if (mailbox_transaction_commit(&trans) < 0 ||
		   mailbox_sync(pbox->box, 0) < 0) {
		i_error("tresor purge: %s: expunging failed: %s (the purge "
			"records are written; the next purge finishes it)",
			pbox->vname,
			mailbox_get_last_internal_error(pbox->box, NULL));
		ret = -1;
	}
	if (ret < 0)
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
	return ret;
}

static tresor_purge_allow_expunge_func *doveadm_tresor_purge_allow_lookup(void)
{
	struct module *module;

	module = module_dir_find(mail_storage_service_modules, "tresor");
	if (module == NULL)
		return NULL;
	return (tresor_purge_allow_expunge_func *)
		module_get_symbol(module, TRESOR_PURGE_ALLOW_SYMBOL);
}

/* The archive folders with a retention rule, opened (not yet synced). */
static int
doveadm_tresor_purge_collect_boxes(struct doveadm_tresor_retention_cmd_context *rctx,
				   struct mail_user *user, const tresor_config *cfg,
				   pool_t pool, ARRAY_TYPE(doveadm_tresor_purge_box) *boxes_r)
{
	struct doveadm_mail_cmd_context *ctx = &rctx->ctx;
	struct doveadm_mailbox_list_iter *iter;
	const struct mailbox_info *info;
	struct doveadm_tresor_purge_box *pbox;
	char sep;

	iter = doveadm_mailbox_list_iter_init(ctx, user, ctx->search_args,
					      MAILBOX_LIST_ITER_NO_AUTO_BOXES);
	while ((info = doveadm_mailbox_list_iter_next(iter)) != NULL) {
		sep = mail_namespace_get_sep(info->ns);
		if (tresor_config_retention_rule(cfg, info->vname, sep) == NULL) {
			if (rctx->mailbox_args) {
				i_warning("tresor purge: %s is no archive folder "
					  "with a tresor_retention rule: nothing "
					  "is purged there", info->vname);
			}
			continue;
		}
		pbox = p_new(pool, struct doveadm_tresor_purge_box, 1);
		pbox->pool = pool;
		pbox->vname = p_strdup(pool, info->vname);
		pbox->sep = sep;
		pbox->box = mailbox_alloc(info->ns->list, info->vname,
					  MAILBOX_FLAG_IGNORE_ACLS);
		p_array_init(&pbox->uids, pool, 16);
		p_array_init(&pbox->purged, pool, 16);
		array_push_back(boxes_r, &pbox);
	}
	return doveadm_mailbox_list_iter_deinit(&iter);
}

static int
cmd_tresor_purge_run(struct doveadm_mail_cmd_context *ctx,
		     struct mail_user *user)
{
	struct doveadm_tresor_retention_cmd_context *rctx =
		(struct doveadm_tresor_retention_cmd_context *)ctx;
	tresor_purge_allow_expunge_func *allow = NULL;
	ARRAY_TYPE(doveadm_tresor_purge_box) boxes;
	struct doveadm_tresor_purge_box *const *pboxp, *pbox;
	const struct doveadm_tresor_purged_row *row;
	tresor_purge *purge;
	tresor_config *cfg;
	const char *dir;
	char err[TRESOR_RETENTION_ERR_SIZE];
	uint64_t seq;
	pool_t pool;
	int ret = 0;

	if (doveadm_tresor_user_config_load(ctx, user, &cfg, &dir) < 0)
		return -1;
	if (!rctx->dry_run && (allow = doveadm_tresor_purge_allow_lookup()) == NULL) {
		i_error("tresor purge: the tresor mail plugin is not loaded "
			"for %s (mail_plugins): nothing can be purged",
			user->username);
		doveadm_tresor_set_exit_code(ctx, EX_CONFIG);
		tresor_config_free(cfg);
		return -1;
	}

	pool = pool_alloconly_create("tresor purge", 4096);
	p_array_init(&boxes, pool, 8);
	if (doveadm_tresor_purge_collect_boxes(rctx, user, cfg, pool,
					       &boxes) < 0)
		ret = -1;

	/* Locked from the decisions to the durable purge records: a hold
	   journaled meanwhile would otherwise be missed. Deliveries to the
	   user wait meanwhile. */
	purge = tresor_purge_begin(dir, cfg, rctx->now, err, sizeof(err));
	if (purge == NULL) {
		i_error("tresor purge: can't read the journal in %s: %s",
			dir, err);
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
		ret = -1;
	} else {
		array_foreach(&boxes, pboxp) {
			int r;

			T_BEGIN {
				r = doveadm_tresor_purge_decide_box(rctx, user,
								    cfg,
								    purge, *pboxp);
			} T_END;
			if (r < 0) {
				/* nothing of this box is expunged */
				array_clear(&(*pboxp)->uids);
				ret = -1;
			}
			if (doveadm_is_killed())
				break;
		}
		if (tresor_purge_write(purge, &seq, err, sizeof(err)) < 0) {
			i_error("tresor purge: can't write the purge records: "
				"%s - nothing was purged", err);
			doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
			array_foreach(&boxes, pboxp) {
				array_clear(&(*pboxp)->uids);
				array_clear(&(*pboxp)->purged);
			}
			ret = -1;
		}
		tresor_purge_end(purge);
		/* the mails just purged, with their records' seqs (written
		   in the order they were queued) */
		array_foreach(&boxes, pboxp) {
			array_foreach(&(*pboxp)->purged, row) {
				doveadm_tresor_purge_print(rctx, "purged",
							   (*pboxp)->vname,
							   row->uid, &row->m, seq++);
			}
		}
	}

	/* The records are durable: now the mails may go. */
	array_foreach(&boxes, pboxp) {
		pbox = *pboxp;
		if (!rctx->dry_run && array_count(&pbox->uids) > 0) {
			if (doveadm_tresor_purge_expunge_box(rctx, allow,
							     pbox) < 0)
				ret = -1;
		}
		mailbox_free(&pbox->box);
	}
	tresor_config_free(cfg);
	pool_unref(&pool);
	i_info("tresor purge: %u mail%s %s, %u held, %u modified (kept), "
	       "%u unjournaled (kept), %u of an interrupted purge %s",
	       rctx->rows_purged, rctx->rows_purged == 1 ? "" : "s",
	       rctx->dry_run ? "purgeable" : "purged", rctx->rows_held,
	       rctx->rows_modified, rctx->rows_unjournaled,
	       rctx->rows_interrupted, rctx->dry_run ? "pending" : "finished");
	rctx->rows_purged = rctx->rows_held = rctx->rows_modified =
		rctx->rows_unjournaled = rctx->rows_interrupted = 0;
	return ret;
}

static void cmd_tresor_purge_init(DOVEADM_TRESOR_CMD_INIT_PARAMS)
{
	struct doveadm_tresor_retention_cmd_context *rctx =
		(struct doveadm_tresor_retention_cmd_context *)ctx;
	const char *const *mailboxes =
		doveadm_tresor_param_list(ctx, "mailbox");
	const char *now;

	(void)doveadm_cmd_param_bool(ctx->cctx, "dry-run", &rctx->dry_run);
	rctx->now = ioloop_time;
	if (doveadm_cmd_param_str(ctx->cctx, "now", &now)) {
		/* a purge always happens now: verify checks it against
		   the time of its record */
		if (!rctx->dry_run) {
			i_fatal_status(EX_USAGE, "doveadm tresor purge: --now "
				       "is only for previews (-n)");
		}
		if (tresor_parse_utc_time(now, &rctx->now) < 0) {
			i_fatal_status(EX_USAGE, "doveadm tresor purge: invalid "
				       "--now '%s' (expected YYYY-MM-DD or "
				       "YYYY-MM-DDTHH:MM:SSZ, UTC)", now);
		}
	}
	rctx->mailbox_args = mailboxes[0] != NULL;
	ctx->search_args = doveadm_mail_mailbox_search_args_build(mailboxes);
	doveadm_print_header_simple("result");
	doveadm_print_header_simple("mailbox");
	doveadm_print_header_simple("uid");
	doveadm_print_header_simple("save_seq");
	doveadm_print_header_simple("saved");
	doveadm_print_header_simple("retention_end");
	doveadm_print_header_simple("rule");
	doveadm_print_header_simple("hold");
	doveadm_print_header_simple("purge_seq");
}

static struct doveadm_mail_cmd_context *cmd_tresor_purge_alloc(void)
{
	struct doveadm_tresor_retention_cmd_context *rctx = doveadm_tresor_retention_cmd_alloc();

	rctx->ctx.v.init = cmd_tresor_purge_init;
	rctx->ctx.v.run = cmd_tresor_purge_run;
	return &rctx->ctx;
}

/* ------------------------------------------------------------------ */
/* hold add | remove | list                                           */
/* ------------------------------------------------------------------ */

/* The GUID of the held mailbox; with a UID, that mail must exist. */
static int
doveadm_tresor_hold_resolve_mailbox(struct doveadm_tresor_retention_cmd_context *rctx,
				    struct mail_user *user, const char **guid_r)
{
	struct doveadm_mail_cmd_context *ctx = &rctx->ctx;
	struct mail_namespace *ns;
	struct mailbox *box;
	struct mailbox_metadata metadata;
	struct mailbox_transaction_context *trans;
	struct mail *mail;
	enum mail_error error;
	bool found = TRUE;
	int ret = 0;

	ns = mail_namespace_find(user->namespaces, rctx->mailbox);
	box = mailbox_alloc(ns->list, rctx->mailbox,
			    MAILBOX_FLAG_READONLY | MAILBOX_FLAG_IGNORE_ACLS);
	if (mailbox_open(box) < 0 ||
	    mailbox_get_metadata(box, MAILBOX_METADATA_GUID, &metadata) < 0) {
		i_error("tresor hold: %s: %s", rctx->mailbox,
			mailbox_get_last_internal_error(box, &error));
		doveadm_mail_failed_error(ctx, error);
		mailbox_free(&box);
		return -1;
	}
	*guid_r = t_strdup(guid_128_to_string(metadata.guid));
	if (rctx->uid != 0) {
		if (mailbox_sync(box, 0) < 0) {
			found = FALSE;
		} else {
			trans = mailbox_transaction_begin(box, 0, "tresor hold");
			mail = mail_alloc(trans, 0, NULL);
			found = mail_set_uid(mail, rctx->uid);
			mail_free(&mail);
			(void)mailbox_transaction_commit(&trans);
		}
		if (!found) {
			i_error("tresor hold: %s has no mail with UID %u",
				rctx->mailbox, rctx->uid);
			doveadm_tresor_set_exit_code(ctx, DOVEADM_EX_NOTFOUND);
			ret = -1;
		}
	}
	mailbox_free(&box);
	return ret;
}

static int
cmd_tresor_hold_add_run(struct doveadm_mail_cmd_context *ctx,
			struct mail_user *user)
{
	struct doveadm_tresor_retention_cmd_context *rctx =
		(struct doveadm_tresor_retention_cmd_context *)ctx;
	tresor_hold_spec spec;
	tresor_config *cfg;
	const char *dir, *mailbox_guid = NULL;
	char err[TRESOR_RETENTION_ERR_SIZE];
	uint64_t seq;

	if (doveadm_tresor_user_config_load(ctx, user, &cfg, &dir) < 0)
		return -1;
	tresor_config_free(cfg);
	if (rctx->mailbox != NULL &&
	    doveadm_tresor_hold_resolve_mailbox(rctx, user, &mailbox_guid) < 0)
		return -1;

	i_zero(&spec);
	spec.mailbox = rctx->mailbox;
	spec.mailbox_guid = mailbox_guid;
	spec.uid = rctx->uid;
	spec.message_id = rctx->message_id;
	spec.reason = rctx->reason;
	spec.service = user->service;
	spec.session = user->session_id;
	if (tresor_hold_add(dir, &spec, &seq, err, sizeof(err)) < 0) {
		i_error("tresor hold add: %s", err);
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
		return -1;
	}
	doveadm_print(dec2str(seq));
	doveadm_print(rctx->mailbox == NULL ? "" :
		      str_sanitize(rctx->mailbox, SIZE_MAX));
	doveadm_print(rctx->uid == 0 ? "" : dec2str(rctx->uid));
	doveadm_print(rctx->message_id == NULL ? "" :
		      str_sanitize(rctx->message_id, SIZE_MAX));
	return 0;
}

/* --reason of hold add and hold remove */
static void
doveadm_tresor_hold_read_reason(
	struct doveadm_tresor_retention_cmd_context *rctx)
{
	struct doveadm_mail_cmd_context *ctx = &rctx->ctx;
	const char *reason;

	if (doveadm_cmd_param_str(ctx->cctx, "reason", &reason))
		rctx->reason = p_strdup(ctx->pool, reason);
}

static void cmd_tresor_hold_add_init(DOVEADM_TRESOR_CMD_INIT_PARAMS)
{
	struct doveadm_tresor_retention_cmd_context *rctx =
		(struct doveadm_tresor_retention_cmd_context *)ctx;
	const char *value;

	if (doveadm_cmd_param_str(ctx->cctx, "mailbox", &value))
		rctx->mailbox = p_strdup(ctx->pool, value);
	if (doveadm_cmd_param_str(ctx->cctx, "message-id", &value))
		rctx->message_id = p_strdup(ctx->pool, value);
	doveadm_tresor_hold_read_reason(rctx);
	if (doveadm_cmd_param_str(ctx->cctx, "uid", &value)) {
		if (str_to_uint32(value, &rctx->uid) < 0 || rctx->uid == 0) {
			i_fatal_status(EX_USAGE, "doveadm tresor hold add: "
				       "invalid --uid '%s'", value);
		}
		if (rctx->mailbox == NULL) {
			i_fatal_status(EX_USAGE, "doveadm tresor hold add: "
				       "--uid needs --mailbox");
		}
	}
	if (rctx->message_id != NULL && rctx->message_id[0] == '\0') {
		i_fatal_status(EX_USAGE, "doveadm tresor hold add: "
			       "empty --message-id");
	}
	doveadm_print_header_simple("hold");
	doveadm_print_header_simple("mailbox");
	doveadm_print_header_simple("uid");
	doveadm_print_header_simple("message_id");
}

static struct doveadm_mail_cmd_context *cmd_tresor_hold_add_alloc(void)
{
	struct doveadm_tresor_retention_cmd_context *rctx = doveadm_tresor_retention_cmd_alloc();

	rctx->ctx.v.init = cmd_tresor_hold_add_init;
	rctx->ctx.v.run = cmd_tresor_hold_add_run;
	return &rctx->ctx;
}

static int
cmd_tresor_hold_remove_run(struct doveadm_mail_cmd_context *ctx,
			   struct mail_user *user)
{
	struct doveadm_tresor_retention_cmd_context *rctx =
		(struct doveadm_tresor_retention_cmd_context *)ctx;
	tresor_config *cfg;
	const char *dir;
	char err[TRESOR_RETENTION_ERR_SIZE];
	uint64_t seq;
	int ret;

	if (doveadm_tresor_user_config_load(ctx, user, &cfg, &dir) < 0)
		return -1;
	tresor_config_free(cfg);
	ret = tresor_hold_remove(dir, rctx->hold_id, rctx->reason,
				 user->service, user->session_id, &seq,
				 err, sizeof(err));
	if (ret < 0) {
		i_error("tresor hold remove: %s", err);
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
		return -1;
	}
	if (ret == 0) {
		i_error("tresor hold remove: %s has no hold %"PRIu64" in force "
			"(doveadm tresor hold list shows them)",
			user->username, rctx->hold_id);
		doveadm_tresor_set_exit_code(ctx, DOVEADM_EX_NOTFOUND);
		return -1;
	}
	doveadm_print(dec2str(rctx->hold_id));
	doveadm_print(dec2str(seq));
	return 0;
}

static void cmd_tresor_hold_remove_init(DOVEADM_TRESOR_CMD_INIT_PARAMS)
{
	struct doveadm_tresor_retention_cmd_context *rctx =
		(struct doveadm_tresor_retention_cmd_context *)ctx;
	const char *hold_id;

	if (!doveadm_cmd_param_str(ctx->cctx, "hold-id", &hold_id) ||
	    str_to_uint64(hold_id, &rctx->hold_id) < 0 || rctx->hold_id == 0)
		doveadm_mail_help_name("tresor hold remove");
	doveadm_tresor_hold_read_reason(rctx);
	doveadm_print_header_simple("hold");
	doveadm_print_header_simple("unhold_seq");
}

static struct doveadm_mail_cmd_context *cmd_tresor_hold_remove_alloc(void)
{
	struct doveadm_tresor_retention_cmd_context *rctx = doveadm_tresor_retention_cmd_alloc();

	rctx->ctx.v.init = cmd_tresor_hold_remove_init;
	rctx->ctx.v.run = cmd_tresor_hold_remove_run;
	return &rctx->ctx;
}

static int
cmd_tresor_hold_list_run(struct doveadm_mail_cmd_context *ctx,
			 struct mail_user *user)
{
	tresor_holds *holds;
	tresor_hold_info info;
	tresor_config *cfg;
	const char *dir;
	char err[TRESOR_RETENTION_ERR_SIZE];
	size_t i, count;

	if (doveadm_tresor_user_config_load(ctx, user, &cfg, &dir) < 0)
		return -1;
	tresor_config_free(cfg);
	holds = tresor_holds_read(dir, err, sizeof(err));
	if (holds == NULL) {
		i_error("tresor hold list: can't read the journal in %s: %s",
			dir, err);
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
		return -1;
	}
	count = tresor_holds_count(holds);
	for (i = 0; i < count; i++) {
		if (tresor_holds_get(holds, i, &info) < 0)
			continue;
		doveadm_print(dec2str(info.seq));
		doveadm_print(info.time);
		/* (a hold's reason and scope are free text) */
		doveadm_print(str_sanitize(info.scope, SIZE_MAX));
		doveadm_print(str_sanitize(info.mailbox, SIZE_MAX));
		doveadm_print(info.uid == 0 ? "" : dec2str(info.uid));
		doveadm_print(str_sanitize(info.message_id, SIZE_MAX));
		doveadm_print(str_sanitize(info.reason, SIZE_MAX));
	}
	tresor_holds_free(holds);
	return 0;
}

static void cmd_tresor_hold_list_init(DOVEADM_TRESOR_CMD_INIT_PARAMS)
{
	(void)ctx;
	doveadm_print_header_simple("hold");
	doveadm_print_header_simple("time");
	doveadm_print_header_simple("scope");
	doveadm_print_header_simple("mailbox");
	doveadm_print_header_simple("uid");
	doveadm_print_header_simple("message_id");
	doveadm_print_header_simple("reason");
}

static struct doveadm_mail_cmd_context *cmd_tresor_hold_list_alloc(void)
{
	struct doveadm_tresor_retention_cmd_context *rctx = doveadm_tresor_retention_cmd_alloc();

	rctx->ctx.v.init = cmd_tresor_hold_list_init;
	rctx->ctx.v.run = cmd_tresor_hold_list_run;
	return &rctx->ctx;
}

/* ------------------------------------------------------------------ */
/* registration                                                       */
/* ------------------------------------------------------------------ */

static struct doveadm_cmd_ver2 tresor_retention_commands[] = {
{
	.name = "tresor purge",
	.mail_cmd = cmd_tresor_purge_alloc,
	.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX
		"[-n [--now <date>]] [<mailbox> ...]",
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('n', "dry-run", CMD_PARAM_BOOL, 0)
DOVEADM_CMD_PARAM('T', "now", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('\0', "mailbox", CMD_PARAM_ARRAY, CMD_PARAM_FLAG_POSITIONAL)
DOVEADM_CMD_PARAMS_END
},
{
	.name = "tresor hold add",
	.mail_cmd = cmd_tresor_hold_add_alloc,
	.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX
		"[--mailbox <mailbox> [--uid <uid>]] [--message-id <id>] "
		"[--reason <text>]",
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('m', "mailbox", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('U', "uid", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('M', "message-id", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('r', "reason", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAMS_END
},
{
	.name = "tresor hold remove",
	.mail_cmd = cmd_tresor_hold_remove_alloc,
	.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX "[--reason <text>] <hold-id>",
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('r', "reason", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('\0', "hold-id", CMD_PARAM_STR, CMD_PARAM_FLAG_POSITIONAL)
DOVEADM_CMD_PARAMS_END
},
{
	.name = "tresor hold list",
	.mail_cmd = cmd_tresor_hold_list_alloc,
	.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAMS_END
},
};

void doveadm_tresor_retention_commands_register(void)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(tresor_retention_commands); i++)
		doveadm_cmd_register_ver2(&tresor_retention_commands[i]);
}
