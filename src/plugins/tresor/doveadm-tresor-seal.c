/* doveadm tresor seal|export: signed seals over the journal head, RFC 3161
   time stamps for them, and the evidence export for an auditor.

     doveadm tresor seal [-u <user>|-A] [--tsq <file> | --tsr <file>]
       Appends a seal record signing the journal's head with the Ed25519
       key tresor_seal_key. The key is read from the global settings
       (Dovecot 2.3: the plugin {} block) by the doveadm process before
       it switches to the mail user, so it may be readable by root only.
       --tsq also writes an RFC 3161 TimeStampReq for the seal to
       <file>, for a TSA; --tsr reads the TSA's TimeStampResp from
       <file>, checks it (against tresor_tsa_ca when set) and appends it
       as a tsr record (no new seal). With -A, <file> must contain %u,
       replaced by the user name. The files are written and read as the
       mail user.
       One row per user: result (sealed, attached, no journal), seq,
       head_seq, head_sha256, time, key_id (sealed) or seal_seq, gen_time
       (attached), file.

     doveadm tresor export [-u <user>] --from <YYYY-MM-DD> --to <YYYY-MM-DD> <dir>
       Writes the mails saved in the period (UTC days, both included) as
       .eml files with exactly the bytes their journaled sha256 covers,
       the journal files, seals, time-stamp responses, public keys,
       mails.csv, MANIFEST.sha256 and VERIFY.txt (how to check it all
       with sha256sum and openssl) into <dir>, which must not exist or be
       empty and is written as the mail user. With -A, <dir> must contain
       %u. Exit status 65 when a mail is missing, modified or unreadable
       (the export is still written: mails.csv says which).

   docs/archive.md sections 7 (Seals) and 8 (Evidence export) define what is written. */

#include "lib.h"
#include "array.h"
#include "istream.h"
#include "str.h"
#include "guid.h"
#include "mail-namespace.h"
#include "mail-storage.h"
#include "mail-user.h"
#include "doveadm-mail.h"
#include "doveadm-print.h"
#include "tresor-plugin.h"
#include "archive/tresor-seal.h"
#include "doveadm-tresor-seal.h"
#include "doveadm-tresor.h"

#include <ctype.h>

#define TRESOR_SEAL_ERR_SIZE 1024
#define TRESOR_USER_PLACEHOLDER "%u"

struct doveadm_tresor_seal_cmd_context {
	struct doveadm_mail_cmd_context ctx;

	const char *tsq_path;
	const char *tsr_path;
	const char *from, *to;
	const char *out_dir;
	/* export --mailbox: patterns, NULL-terminated (empty: all) */
	const char *const *mailboxes;
	/* loaded in init(), before doveadm switches to the mail user */
	tresor_seal_key *key;
};

/* path with every %u replaced by the user name */
static const char *
doveadm_tresor_path_for_user(const char *path, const char *username)
{
	string_t *str = t_str_new(128);
	const char *p;

	while ((p = strstr(path, TRESOR_USER_PLACEHOLDER)) != NULL) {
		str_append_data(str, path, p - path);
		str_append(str, username);
		path = p + strlen(TRESOR_USER_PLACEHOLDER);
	}
	str_append(str, path);
	return str_c(str);
}

/* With several users one file would be overwritten by the next. */
static void
doveadm_tresor_require_user_placeholder(struct doveadm_mail_cmd_context *ctx,
					const char *cmd_name, const char *what,
					const char *path)
{
	if (path != NULL && !ctx->iterate_single_user &&
	    strstr(path, TRESOR_USER_PLACEHOLDER) == NULL) {
		i_fatal_status(EX_USAGE, "doveadm %s: with -A or a user "
			       "pattern, %s must contain %%u (replaced by "
			       "the user name)", cmd_name, what);
	}
}

/* ------------------------------------------------------------------ */
/* seal                                                               */
/* ------------------------------------------------------------------ */

static int
cmd_tresor_seal_run(struct doveadm_mail_cmd_context *ctx,
		    struct mail_user *user)
{
	struct doveadm_tresor_seal_cmd_context *sctx =
		(struct doveadm_tresor_seal_cmd_context *)ctx;
	tresor_seal_info info;
	tresor_tsr_info tsr;
	tresor_config *cfg;
	const char *dir, *path = NULL;
	char err[TRESOR_SEAL_ERR_SIZE];
	int ret;

	if (doveadm_tresor_user_config_load(ctx, user, &cfg, &dir) < 0)
		return -1;

	if (sctx->tsr_path != NULL) {
		tresor_journal_status st;

		path = doveadm_tresor_path_for_user(sctx->tsr_path,
						    user->username);
		/* with -A, users without a journal got no request either */
		if (tresor_journal_get_status(dir, &st, err, sizeof(err)) == 0 &&
		    st.records == 0 && access(path, F_OK) < 0 && errno == ENOENT) {
			tresor_config_free(cfg);
			doveadm_print("no journal");
			doveadm_print("");
			doveadm_print("");
			doveadm_print("");
			doveadm_print(path);
			return 0;
		}
		ret = tresor_seal_attach_tsr(dir, path, tresor_config_tsa_ca(cfg),
					     &tsr, err, sizeof(err));
		tresor_config_free(cfg);
		if (ret < 0) {
			i_error("tresor seal: %s: %s", path, err);
			doveadm_tresor_set_exit_code(ctx, EX_DATAERR);
			return -1;
		}
		doveadm_print("attached");
		doveadm_print(dec2str(tsr.seq));
		doveadm_print(dec2str(tsr.seal_seq));
		doveadm_print(tsr.gen_time);
		doveadm_print(path);
		return 0;
	}

	if (sctx->tsq_path != NULL)
		path = doveadm_tresor_path_for_user(sctx->tsq_path,
						    user->username);
	ret = tresor_seal(dir, sctx->key, user->username, path, &info,
			  err, sizeof(err));
	tresor_config_free(cfg);
	if (ret < 0) {
		i_error("tresor seal: can't seal the journal in %s: %s",
			dir, err);
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
		return -1;
	}
	doveadm_print(info.seq == 0 ? "no journal" : "sealed");
	doveadm_print(info.seq == 0 ? "" : dec2str(info.seq));
	doveadm_print(info.seq == 0 ? "" : dec2str(info.head_seq));
	doveadm_print(info.head_sha256);
	doveadm_print(info.time);
	doveadm_print(info.key_id);
	doveadm_print(info.seq == 0 || path == NULL ? "" : path);
	return 0;
}

/* Still root here: the key may be readable by the seal job only.
   Per-user (userdb) values of the setting are not used. */
static tresor_seal_key *
doveadm_tresor_seal_key_load(struct doveadm_mail_cmd_context *ctx)
{
	struct tresor_settings_reader reader;
	tresor_seal_key *key;
	const char *key_path, *error;
	char err[TRESOR_SEAL_ERR_SIZE];

	doveadm_tresor_settings_reader_global(&reader, ctx);
	if (tresor_settings_reader_init(&reader, &error) < 0)
		i_fatal_status(EX_CONFIG, "tresor seal: %s", error);
	key_path = tresor_settings_reader_get(&reader, "tresor_seal_key");
	if (key_path == NULL || key_path[0] == '\0') {
		i_fatal_status(EX_CONFIG, "tresor seal: tresor_seal_key is not "
			       "set (the path of the Ed25519 private key, "
			       DOVEADM_TRESOR_GLOBAL_SETTING_PLACE ")");
	}
	key = tresor_seal_key_load(key_path, err, sizeof(err));
	tresor_settings_reader_deinit(&reader);
	if (key == NULL)
		i_fatal_status(EX_CONFIG, "tresor seal: %s", err);
	return key;
}

static void cmd_tresor_seal_init(DOVEADM_TRESOR_CMD_INIT_PARAMS)
{
	struct doveadm_tresor_seal_cmd_context *sctx =
		(struct doveadm_tresor_seal_cmd_context *)ctx;
	const char *path;

	if (doveadm_cmd_param_str(ctx->cctx, "tsq", &path))
		sctx->tsq_path = p_strdup(ctx->pool, path);
	if (doveadm_cmd_param_str(ctx->cctx, "tsr", &path))
		sctx->tsr_path = p_strdup(ctx->pool, path);
	if (sctx->tsq_path != NULL && sctx->tsr_path != NULL)
		doveadm_mail_help_name("tresor seal");
	doveadm_tresor_require_user_placeholder(ctx, "tresor seal",
						"--tsq <file>",
						sctx->tsq_path);
	doveadm_tresor_require_user_placeholder(ctx, "tresor seal",
						"--tsr <file>",
						sctx->tsr_path);

	if (sctx->tsr_path != NULL) {
		/* attaching a response signs nothing */
		doveadm_print_header_simple("result");
		doveadm_print_header_simple("seq");
		doveadm_print_header_simple("seal_seq");
		doveadm_print_header_simple("gen_time");
		doveadm_print_header_simple("file");
		return;
	}
	sctx->key = doveadm_tresor_seal_key_load(ctx);

	doveadm_print_header_simple("result");
	doveadm_print_header_simple("seq");
	doveadm_print_header_simple("head_seq");
	doveadm_print_header_simple("head_sha256");
	doveadm_print_header_simple("time");
	doveadm_print_header_simple("key_id");
	doveadm_print_header_simple("file");
}

static void cmd_tresor_seal_deinit(struct doveadm_mail_cmd_context *ctx)
{
	struct doveadm_tresor_seal_cmd_context *sctx =
		(struct doveadm_tresor_seal_cmd_context *)ctx;

	tresor_seal_key_free(sctx->key);
	sctx->key = NULL;
}

static struct doveadm_mail_cmd_context *cmd_tresor_seal_alloc(void)
{
	struct doveadm_tresor_seal_cmd_context *sctx;

	sctx = doveadm_mail_cmd_alloc(struct doveadm_tresor_seal_cmd_context);
	doveadm_tresor_cmd_params_from_cctx(&sctx->ctx);
	sctx->ctx.v.init = cmd_tresor_seal_init;
	sctx->ctx.v.deinit = cmd_tresor_seal_deinit;
	sctx->ctx.v.run = cmd_tresor_seal_run;
	if (!doveadm_print_is_initialized())
		doveadm_print_init(DOVEADM_PRINT_TYPE_FLOW);
	return &sctx->ctx;
}

/* ------------------------------------------------------------------ */
/* export                                                             */
/* ------------------------------------------------------------------ */

/* Streams one mail into the export. */
static void
doveadm_tresor_export_one(tresor_export *x, size_t idx, struct mail *mail)
{
	struct istream *input;
	const unsigned char *data;
	size_t size;
	char err[TRESOR_SEAL_ERR_SIZE];
	int ret;

	if (mail_get_stream_because(mail, NULL, NULL, "tresor export",
				    &input) < 0) {
		tresor_export_mail_mark(x, idx, "unreadable",
			mailbox_get_last_internal_error(mail->box, NULL));
		return;
	}
	if (tresor_export_mail_begin(x, idx, err, sizeof(err)) < 0) {
		i_error("tresor export: %s", err);
		tresor_export_mail_mark(x, idx, "unreadable", err);
		return;
	}
	while ((ret = i_stream_read_more(input, &data, &size)) > 0) {
		tresor_export_mail_write(x, data, size);
		i_stream_skip(input, size);
	}
	if (input->stream_errno != 0) {
		/* the partial file is checked against nothing: say so */
		(void)tresor_export_mail_end(x, err, sizeof(err));
		tresor_export_mail_mark(x, idx, "unreadable",
			t_strdup_printf("read(%s) failed: %s",
					i_stream_get_name(input),
					i_stream_get_error(input)));
		return;
	}
	if (tresor_export_mail_end(x, err, sizeof(err)) < 0) {
		i_error("tresor export: %s", err);
		tresor_export_mail_mark(x, idx, "unreadable", err);
	}
}

static struct mailbox *
doveadm_tresor_export_open_box(struct mail_user *user, const char *guid_str)
{
	struct mail_namespace *ns;
	struct mailbox *box;
	guid_128_t guid;

	if (guid_128_from_string(guid_str, guid) < 0)
		return NULL;
	for (ns = user->namespaces; ns != NULL; ns = ns->next) {
		box = mailbox_alloc_guid(ns->list, guid, MAILBOX_FLAG_READONLY |
					 MAILBOX_FLAG_IGNORE_ACLS);
		if (mailbox_open(box) == 0 &&
		    mailbox_sync(box, 0) == 0)
			return box;
		mailbox_free(&box);
	}
	return NULL;
}

/* Exports the mails saved without a UID (and those of interrupted saves)
   that the core locates among the mailbox's mails: by GUID, then - where
   an interrupted save is still not found - by sha256, as verify does. */
static void
doveadm_tresor_export_locate_all(tresor_export *x, const tresor_config *cfg,
				 struct mail *mail, uint32_t messages,
				 const char *mailbox_guid, bool by_guid)
{
	tresor_hash_result hash;
	const char *guid, *error;
	size_t idx;
	uint32_t seq;

	if (by_guid) {
		for (seq = 1; seq <= messages; seq++) T_BEGIN {
			mail_set_seq(mail, seq);
			if (mail_get_special(mail, MAIL_FETCH_GUID, &guid) < 0)
				guid = "";
			if (tresor_export_locate(x, mailbox_guid, mail->uid,
						 guid, NULL, &idx) == 1)
				doveadm_tresor_export_one(x, idx, mail);
		} T_END;
	}
	if (tresor_export_wants_hashes(x, mailbox_guid) == 0)
		return;
	for (seq = 1; seq <= messages; seq++) T_BEGIN {
		mail_set_seq(mail, seq);
		if (mail_get_special(mail, MAIL_FETCH_GUID, &guid) < 0)
			guid = "";
		if (tresor_user_mail_hash(cfg, mail, TRUE, &hash, &error) < 0) {
			i_error("tresor export: %s UID %u: %s",
				mailbox_get_vname(mail->box), mail->uid, error);
		} else if (tresor_export_locate(x, mailbox_guid, mail->uid,
						guid, hash.sha256, &idx) == 1) {
			doveadm_tresor_export_one(x, idx, mail);
		}
	} T_END;
}

/* Exports the mails of one mailbox (by its GUID). */
static void
doveadm_tresor_export_mailbox(tresor_export *x, const tresor_config *cfg,
			      struct mail_user *user, const char *mailbox_guid)
{
	struct mailbox *box;
	struct mailbox_transaction_context *trans;
	struct mailbox_status status;
	struct mail *mail;
	tresor_export_mail m;
	size_t i, count = tresor_export_mail_count(x);
	unsigned int to_write = 0, written = 0;
	bool uidless = FALSE;

	box = doveadm_tresor_export_open_box(user, mailbox_guid);
	if (box == NULL) {
		for (i = 0; i < count; i++) {
			if (tresor_export_get_mail(x, i, &m) == 0 &&
			    m.status[0] == '\0' &&
			    strcmp(m.mailbox_guid, mailbox_guid) == 0) {
				tresor_export_mail_mark(x, i, "missing",
					"the mailbox is gone");
			}
		}
		return;
	}
	mailbox_get_open_status(box, STATUS_MESSAGES, &status);
	trans = mailbox_transaction_begin(box, 0, "tresor export");
	mail = mail_alloc(trans, MAIL_FETCH_GUID, NULL);
	for (i = 0; i < count; i++) {
		if (tresor_export_get_mail(x, i, &m) == 0 &&
		    m.status[0] == '\0' && m.uid != 0 &&
		    strcmp(m.mailbox_guid, mailbox_guid) == 0)
			to_write++;
	}
	for (i = 0; i < count; i++) {
		if (tresor_export_get_mail(x, i, &m) < 0 ||
		    m.status[0] != '\0' ||
		    strcmp(m.mailbox_guid, mailbox_guid) != 0)
			continue;
		if (m.uid == 0) {
			uidless = TRUE;
			continue;
		}
		T_BEGIN {
			if (mail_set_uid(mail, m.uid))
				doveadm_tresor_export_one(x, i, mail);
		} T_END;
		doveadm_tresor_progress("export", mailbox_get_vname(box),
					++written, to_write, "mails written");
	}
	doveadm_tresor_export_locate_all(x, cfg, mail, status.messages,
					 mailbox_guid,
					 uidless);
	for (i = 0; i < count; i++) {
		if (tresor_export_get_mail(x, i, &m) == 0 &&
		    m.status[0] == '\0' &&
		    strcmp(m.mailbox_guid, mailbox_guid) == 0) {
			tresor_export_mail_mark(x, i, "missing",
				"not in the mailbox, and no expunge or "
				"delete of it was journaled");
		}
	}
	mail_free(&mail);
	(void)mailbox_transaction_commit(&trans);
	mailbox_free(&box);
}

static int
cmd_tresor_export_run(struct doveadm_mail_cmd_context *ctx,
		      struct mail_user *user)
{
	struct doveadm_tresor_seal_cmd_context *sctx =
		(struct doveadm_tresor_seal_cmd_context *)ctx;
	ARRAY_TYPE(const_string) guids;
	struct mail_namespace *inbox_ns;
	tresor_export *x;
	tresor_export_mail m;
	tresor_config *cfg;
	const char *dir, *out_dir, *guid;
	char err[TRESOR_SEAL_ERR_SIZE];
	unsigned int exported = 0, problems = 0, removed = 0;
	size_t i, count;

	if (doveadm_tresor_user_config_load(ctx, user, &cfg, &dir) < 0)
		return -1;
	out_dir = doveadm_tresor_path_for_user(sctx->out_dir, user->username);
	inbox_ns = mail_namespace_find_inbox(user->namespaces);
	x = tresor_export_new(dir, cfg, user->username, sctx->from, sctx->to,
			      out_dir, sctx->mailboxes, inbox_ns == NULL ? '/' :
			      mail_namespace_get_sep(inbox_ns), err, sizeof(err));
	if (x == NULL) {
		tresor_config_free(cfg);
		i_error("tresor export: %s", err);
		doveadm_tresor_set_exit_code(ctx, EX_CANTCREAT);
		return -1;
	}

	count = tresor_export_mail_count(x);
	t_array_init(&guids, 8);
	for (i = 0; i < count; i++) {
		if (tresor_export_get_mail(x, i, &m) < 0 || m.status[0] != '\0')
			continue;
		bool known = FALSE;
		const char *g;
		array_foreach_elem(&guids, g) {
			if (strcmp(g, m.mailbox_guid) == 0)
				known = TRUE;
		}
		if (!known) {
			g = t_strdup(m.mailbox_guid);
			array_push_back(&guids, &g);
		}
	}
	array_foreach_elem(&guids, guid) {
		doveadm_tresor_export_mailbox(x, cfg, user, guid);
		if (doveadm_is_killed())
			break;
	}
	tresor_config_free(cfg);

	if (tresor_export_finish(x, err, sizeof(err)) < 0) {
		i_error("tresor export: %s: %s", out_dir, err);
		tresor_export_free(x);
		doveadm_tresor_set_exit_code(ctx, EX_CANTCREAT);
		return -1;
	}
	for (i = 0; i < tresor_export_warning_count(x); i++)
		i_warning("tresor export: %s", tresor_export_warning(x, i));
	for (i = 0; i < count; i++) {
		if (tresor_export_get_mail(x, i, &m) < 0)
			continue;
		if (strcmp(m.status, "exported") == 0)
			exported++;
		else if (strcmp(m.status, "expunged") == 0 ||
			 strcmp(m.status, "purged") == 0 ||
			 strcmp(m.status, "deleted") == 0 ||
			 strcmp(m.status, "not-stored") == 0)
			removed++;
		else
			problems++;
	}
	tresor_export_free(x);

	doveadm_print(out_dir);
	doveadm_print(dec2str(exported));
	doveadm_print(dec2str(removed));
	doveadm_print(dec2str(problems));
	if (problems > 0)
		doveadm_tresor_set_exit_code(ctx, EX_DATAERR);
	return 0;
}

static void cmd_tresor_export_init(DOVEADM_TRESOR_CMD_INIT_PARAMS)
{
	struct doveadm_tresor_seal_cmd_context *sctx =
		(struct doveadm_tresor_seal_cmd_context *)ctx;
	const char *from, *to, *dir;

	if (!doveadm_cmd_param_str(ctx->cctx, "from", &from) ||
	    !doveadm_cmd_param_str(ctx->cctx, "to", &to) ||
	    !doveadm_cmd_param_str(ctx->cctx, "dir", &dir) ||
	    tresor_date_valid(from) == 0 || tresor_date_valid(to) == 0)
		doveadm_mail_help_name("tresor export");
	sctx->from = p_strdup(ctx->pool, from);
	sctx->to = p_strdup(ctx->pool, to);
	sctx->out_dir = p_strdup(ctx->pool, dir);
	sctx->mailboxes = doveadm_tresor_param_list(ctx, "mailbox");
	doveadm_tresor_require_user_placeholder(ctx, "tresor export", "<dir>",
						sctx->out_dir);
	doveadm_print_header_simple("dir");
	doveadm_print_header_simple("exported");
	doveadm_print_header_simple("removed");
	doveadm_print_header_simple("problems");
}

/* Run as root for a user, privileges drop only temporarily (as for -A),
   so that the export can create its directory and files as root: an
   admin's root-owned target works (core/archive/export.cpp). */
static void cmd_tresor_export_preinit(struct doveadm_mail_cmd_context *ctx)
{
	doveadm_tresor_preinit(ctx);
	if (getuid() == 0)
		ctx->service_flags |= MAIL_STORAGE_SERVICE_FLAG_TEMP_PRIV_DROP;
}

static struct doveadm_mail_cmd_context *cmd_tresor_export_alloc(void)
{
	struct doveadm_tresor_seal_cmd_context *sctx;

	sctx = doveadm_mail_cmd_alloc(struct doveadm_tresor_seal_cmd_context);
	doveadm_tresor_cmd_params_from_cctx(&sctx->ctx);
	sctx->ctx.v.preinit = cmd_tresor_export_preinit;
	sctx->ctx.v.init = cmd_tresor_export_init;
	sctx->ctx.v.run = cmd_tresor_export_run;
	if (!doveadm_print_is_initialized())
		doveadm_print_init(DOVEADM_PRINT_TYPE_FLOW);
	return &sctx->ctx;
}

/* ------------------------------------------------------------------ */
/* registration                                                       */
/* ------------------------------------------------------------------ */

static struct doveadm_cmd_ver2 tresor_seal_commands[] = {
{
	.name = "tresor seal",
	.mail_cmd = cmd_tresor_seal_alloc,
	.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX "[--tsq <file> | --tsr <file>]",
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('q', "tsq", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('r', "tsr", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAMS_END
},
{
	.name = "tresor export",
	.mail_cmd = cmd_tresor_export_alloc,
	.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX
		"--from <YYYY-MM-DD> --to <YYYY-MM-DD> [--mailbox <pattern> ...] <dir>",
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('f', "from", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('t', "to", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('m', "mailbox", CMD_PARAM_ARRAY, 0)
DOVEADM_CMD_PARAM('\0', "dir", CMD_PARAM_STR, CMD_PARAM_FLAG_POSITIONAL)
DOVEADM_CMD_PARAMS_END
},
};

void doveadm_tresor_seal_commands_register(void)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(tresor_seal_commands); i++)
		doveadm_cmd_register_ver2(&tresor_seal_commands[i]);
}
