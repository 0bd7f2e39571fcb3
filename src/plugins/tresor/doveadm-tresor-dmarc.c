/* doveadm tresor dmarc: a digest of the DMARC aggregate reports in a folder.

     doveadm tresor dmarc [-u <user>|-A] [-m|--mailbox <folder>]
                          [-s|--since <YYYY-MM-DD>]
       Reads the mails of the folder (default DMARC, where the example
       script sieve/tresor-dmarc.sieve files the reports) that arrived on
       or after the day (UTC), takes the report each carries (read by the
       tresor-extract helper under the tresor_extract_* limits, as at
       delivery) and sums them up per policy domain and sending source,
       failing sources first: domain, source_ip, messages, dmarc_fail,
       dkim_fail, spf_fail, disposition, dkim_domains, spf_domains,
       header_from, reporters, begin, end. Reports whose period ended
       before the day are left out, and a report that came twice counts
       once. How many mails were read, and which held no report, goes to
       the log (stderr). Over several users (-A), a user without the
       folder is passed over. */

#include "lib.h"
#include "str-sanitize.h"
#include "istream.h"
#include "mail-storage.h"
#include "mail-namespace.h"
#include "doveadm-mail.h"
#include "doveadm-print.h"
#include "archive/tresor-retention.h"
#include "archive/tresor-seal.h"
#include "tresor-message.h"
#include "doveadm-tresor-dmarc.h"
#include "doveadm-tresor.h"

#define DOVEADM_TRESOR_DMARC_DEFAULT_MAILBOX "DMARC"
#define DOVEADM_TRESOR_DMARC_LOG_PREFIX "tresor dmarc: "

struct doveadm_tresor_dmarc_cmd_context {
	struct doveadm_mail_cmd_context ctx;
	const char *mailbox;
	int64_t since; /* 0: all */
};

/* What the digest needs of the user's settings: the helper and its
   limits, and the time budget per mail. */
static const char *const doveadm_tresor_dmarc_settings[] = {
	"tresor_extract", "tresor_extract_timeout", "tresor_extract_memory",
	"tresor_invoice_budget", NULL
};

static void doveadm_tresor_dmarc_log(void *context ATTR_UNUSED, int level,
				     const char *message)
{
	if (level >= 2)
		i_warning(DOVEADM_TRESOR_DMARC_LOG_PREFIX "%s", message);
	else if (level == 1)
		i_info(DOVEADM_TRESOR_DMARC_LOG_PREFIX "%s", message);
}

static tresor_invoice_config *
doveadm_tresor_dmarc_config(struct doveadm_mail_cmd_context *ctx,
			    struct mail_user *user)
{
	struct tresor_settings_reader reader;
	tresor_invoice_config *config;
	const char *const *name, *value, *error;
	char err[512];
	int ret = 0;

	tresor_settings_reader_user(&reader, user);
	if (tresor_settings_reader_init(&reader, &error) < 0) {
		i_error(DOVEADM_TRESOR_DMARC_LOG_PREFIX "%s", error);
		doveadm_tresor_set_exit_code(ctx, EX_CONFIG);
		return NULL;
	}
	config = tresor_invoice_config_new();
	if (config == NULL)
		i_fatal_status(FATAL_OUTOFMEM, "tresor dmarc: out of memory");
	tresor_invoice_config_set_logger(config, doveadm_tresor_dmarc_log, NULL);
	for (name = doveadm_tresor_dmarc_settings; *name != NULL; name++) {
		value = tresor_settings_reader_get(&reader, *name);
		if (value == NULL)
			continue;
		if (tresor_invoice_config_set(config, *name, value, err,
					      sizeof(err)) < 0) {
			i_error(DOVEADM_TRESOR_DMARC_LOG_PREFIX "%s", err);
			ret = -1;
		}
	}
	tresor_settings_reader_deinit(&reader);
	if (ret < 0) {
		tresor_invoice_config_free(config);
		doveadm_tresor_set_exit_code(ctx, EX_CONFIG);
		return NULL;
	}
	return config;
}

/* Adds the report of one mail; -1 when the mail could not be read. */
static int
doveadm_tresor_dmarc_mail(struct mail *mail, struct event *event,
			  const tresor_invoice_config *config,
			  tresor_dmarc_digest *digest, unsigned int *reports,
			  unsigned int *without)
{
	tresor_invoice_message *msg;
	tresor_dmarc_result result;
	struct istream *input;
	const char *error;
	char err[512];
	int ret;

	if (mail_get_stream_because(mail, NULL, NULL, "tresor dmarc",
				    &input) < 0)
		return -1;
	msg = tresor_invoice_message_new();
	if (msg == NULL)
		i_fatal_status(FATAL_OUTOFMEM, "tresor dmarc: out of memory");
	if (tresor_message_fill(input, event, DOVEADM_TRESOR_DMARC_LOG_PREFIX,
				msg, &error) < 0) {
		i_error(DOVEADM_TRESOR_DMARC_LOG_PREFIX "UID %u: %s",
			mail->uid, error);
		tresor_invoice_message_free(msg);
		return -1;
	}
	if (tresor_dmarc_analyse(config, msg, &result, err, sizeof(err)) < 0 ||
	    (ret = tresor_dmarc_digest_add(digest, msg, err, sizeof(err))) < 0) {
		/* the helper can't be run at all: every mail would fail */
		i_error(DOVEADM_TRESOR_DMARC_LOG_PREFIX "UID %u: %s",
			mail->uid, err);
		tresor_invoice_message_free(msg);
		return -1;
	}
	if (result.is_report) {
		(*reports)++;
	} else {
		(*without)++;
		i_info(DOVEADM_TRESOR_DMARC_LOG_PREFIX "%s UID %u holds no "
		       "report%s%s", mailbox_get_vname(mail->box), mail->uid,
		       result.problems[0] == '\0' ? "" : ": ",
		       str_sanitize(result.problems, 300));
	}
	tresor_invoice_message_free(msg);
	return 0;
}

static int
doveadm_tresor_dmarc_read_mailbox(struct doveadm_tresor_dmarc_cmd_context *dctx,
				  struct mail_user *user,
				  const tresor_invoice_config *config,
				  tresor_dmarc_digest *digest)
{
	struct doveadm_mail_cmd_context *ctx = &dctx->ctx;
	struct mail_namespace *ns;
	struct mailbox *box;
	struct mailbox_status status;
	struct mailbox_transaction_context *trans;
	struct mail *mail;
	enum mail_error error;
	unsigned int reports = 0, without = 0, failed = 0;
	time_t received;
	uint32_t seq;
	int ret = 0;

	ns = mail_namespace_find(user->namespaces, dctx->mailbox);
	box = mailbox_alloc(ns->list, dctx->mailbox,
			    MAILBOX_FLAG_READONLY | MAILBOX_FLAG_IGNORE_ACLS);
	if (mailbox_open(box) < 0 || mailbox_sync(box, 0) < 0) {
		const char *errstr =
			t_strdup(mailbox_get_last_internal_error(box, &error));

		mailbox_free(&box);
		/* over many users (-A), only some receive the reports */
		if (error == MAIL_ERROR_NOTFOUND && !ctx->iterate_single_user)
			return 0;
		i_error(DOVEADM_TRESOR_DMARC_LOG_PREFIX "%s: %s",
			dctx->mailbox, errstr);
		doveadm_mail_failed_error(ctx, error);
		return -1;
	}
	mailbox_get_open_status(box, STATUS_MESSAGES, &status);
	trans = mailbox_transaction_begin(box, 0, "tresor dmarc");
	mail = mail_alloc(trans, MAIL_FETCH_RECEIVED_DATE, NULL);
	for (seq = 1; seq <= status.messages; seq++) {
		mail_set_seq(mail, seq);
		if (dctx->since != 0 &&
		    mail_get_received_date(mail, &received) == 0 &&
		    received < dctx->since)
			continue;
		T_BEGIN {
			if (doveadm_tresor_dmarc_mail(mail, user->event, config,
						      digest, &reports,
						      &without) < 0)
				failed++;
		} T_END;
		doveadm_tresor_progress("dmarc", dctx->mailbox, seq,
					status.messages, "mails");
	}
	mail_free(&mail);
	(void)mailbox_transaction_commit(&trans);
	mailbox_free(&box);

	i_info(DOVEADM_TRESOR_DMARC_LOG_PREFIX "%s: %u reports (%u counted "
	       "in all), %u mails without a report, %u not readable",
	       dctx->mailbox, reports, tresor_dmarc_digest_reports(digest),
	       without, failed);
	if (failed > 0) {
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
		ret = -1;
	}
	return ret;
}

static int
cmd_tresor_dmarc_run(struct doveadm_mail_cmd_context *ctx,
		     struct mail_user *user)
{
	struct doveadm_tresor_dmarc_cmd_context *dctx =
		(struct doveadm_tresor_dmarc_cmd_context *)ctx;
	const tresor_dmarc_row *rows;
	tresor_invoice_config *config;
	tresor_dmarc_digest *digest;
	char err[512];
	int i, count, ret;

	if ((config = doveadm_tresor_dmarc_config(ctx, user)) == NULL)
		return -1;
	digest = tresor_dmarc_digest_new(dctx->since);
	if (digest == NULL)
		i_fatal_status(FATAL_OUTOFMEM, "tresor dmarc: out of memory");
	ret = doveadm_tresor_dmarc_read_mailbox(dctx, user, config, digest);

	count = tresor_dmarc_digest_rows(digest, &rows, err, sizeof(err));
	if (count < 0) {
		i_error(DOVEADM_TRESOR_DMARC_LOG_PREFIX "%s", err);
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
		ret = -1;
	}
	/* (everything in a report comes from outside) */
	for (i = 0; i < count; i++) {
		doveadm_print(str_sanitize(rows[i].domain, SIZE_MAX));
		doveadm_print(str_sanitize(rows[i].source_ip, SIZE_MAX));
		doveadm_print(dec2str(rows[i].messages));
		doveadm_print(dec2str(rows[i].dmarc_fail));
		doveadm_print(dec2str(rows[i].dkim_fail));
		doveadm_print(dec2str(rows[i].spf_fail));
		doveadm_print(str_sanitize(rows[i].disposition, SIZE_MAX));
		doveadm_print(str_sanitize(rows[i].dkim_domains, SIZE_MAX));
		doveadm_print(str_sanitize(rows[i].spf_domains, SIZE_MAX));
		doveadm_print(str_sanitize(rows[i].header_from, SIZE_MAX));
		doveadm_print(str_sanitize(rows[i].reporters, SIZE_MAX));
		doveadm_print(rows[i].begin);
		doveadm_print(rows[i].end);
	}
	tresor_dmarc_digest_free(digest);
	tresor_invoice_config_free(config);
	return ret;
}

static void cmd_tresor_dmarc_init(DOVEADM_TRESOR_CMD_INIT_PARAMS)
{
	struct doveadm_tresor_dmarc_cmd_context *dctx =
		(struct doveadm_tresor_dmarc_cmd_context *)ctx;
	const char *value;

	dctx->mailbox = DOVEADM_TRESOR_DMARC_DEFAULT_MAILBOX;
	if (doveadm_cmd_param_str(ctx->cctx, "mailbox", &value))
		dctx->mailbox = p_strdup(ctx->pool, value);
	if (doveadm_cmd_param_str(ctx->cctx, "since", &value) &&
	    (tresor_date_valid(value) == 0 ||
	     tresor_parse_utc_time(value, &dctx->since) < 0)) {
		i_fatal_status(EX_USAGE, "doveadm tresor dmarc: --since takes "
			       "a date that exists, YYYY-MM-DD");
	}
	doveadm_print_header_simple("domain");
	doveadm_print_header_simple("source_ip");
	doveadm_print_header_simple("messages");
	doveadm_print_header_simple("dmarc_fail");
	doveadm_print_header_simple("dkim_fail");
	doveadm_print_header_simple("spf_fail");
	doveadm_print_header_simple("disposition");
	doveadm_print_header_simple("dkim_domains");
	doveadm_print_header_simple("spf_domains");
	doveadm_print_header_simple("header_from");
	doveadm_print_header_simple("reporters");
	doveadm_print_header_simple("begin");
	doveadm_print_header_simple("end");
}

static struct doveadm_mail_cmd_context *cmd_tresor_dmarc_alloc(void)
{
	struct doveadm_tresor_dmarc_cmd_context *dctx;

	dctx = doveadm_mail_cmd_alloc(struct doveadm_tresor_dmarc_cmd_context);
	doveadm_tresor_cmd_params_from_cctx(&dctx->ctx);
	dctx->ctx.v.init = cmd_tresor_dmarc_init;
	dctx->ctx.v.run = cmd_tresor_dmarc_run;
	if (!doveadm_print_is_initialized())
		doveadm_print_init(DOVEADM_PRINT_TYPE_FLOW);
	return &dctx->ctx;
}

static struct doveadm_cmd_ver2 tresor_dmarc_commands[] = {
{
	.name = "tresor dmarc",
	.mail_cmd = cmd_tresor_dmarc_alloc,
	.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX
		"[-m|--mailbox <folder>] [-s|--since <YYYY-MM-DD>]",
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('m', "mailbox", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('s', "since", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAMS_END
},
};

void doveadm_tresor_dmarc_commands_register(void)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(tresor_dmarc_commands); i++)
		doveadm_cmd_register_ver2(&tresor_dmarc_commands[i]);
}
