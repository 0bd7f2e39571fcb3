/* doveadm tresor invoices: the invoice register.

     doveadm tresor invoices [-u <user>|-A] [--from <YYYY-MM-DD>]
                             [--to <YYYY-MM-DD>] [--verdict <verdict>]
                             [--supplier <text>] [--csv]
       The invoices the invoice test found in delivered mail, from their
       invoice records (one per delivery; the copy in an archive folder
       named), stored from..to (UTC days, both included), of one verdict,
       of a supplier (or seller) whose name contains the text. One row
       each: stored, seq, save_seq, mailbox, uid, uidvalidity, sha256,
       copies and the invoice fields (format ... reason). --csv prints
       the CSV an ERP imports instead (docs/invoices.md 9): a header row,
       then one row per invoice, with the user in the first column. */

#include "lib.h"
#include "str-sanitize.h"
#include "doveadm-mail.h"
#include "doveadm-print.h"
#include "archive/tresor.h"
#include "archive/tresor-seal.h"
#include "doveadm-tresor-invoices.h"
#include "doveadm-tresor.h"

#include <stdio.h>

struct doveadm_tresor_invoices_cmd_context {
	struct doveadm_mail_cmd_context ctx;
	const char *from, *to, *verdict, *supplier;
	bool csv;
};

static int
cmd_tresor_invoices_run(struct doveadm_mail_cmd_context *ctx,
			struct mail_user *user)
{
	struct doveadm_tresor_invoices_cmd_context *ictx =
		(struct doveadm_tresor_invoices_cmd_context *)ctx;
	static bool csv_header_printed = FALSE;
	tresor_invoices *invoices;
	tresor_invoice_entry e;
	tresor_config *cfg;
	const char *dir, *csv, *const *field;
	char err[1024];
	size_t i, count;

	if (doveadm_tresor_user_config_load(ctx, user, &cfg, &dir) < 0)
		return -1;
	tresor_config_free(cfg);
	invoices = tresor_invoices_read(dir, ictx->from, ictx->to,
					ictx->verdict, ictx->supplier,
					err, sizeof(err));
	if (invoices == NULL) {
		i_error("tresor invoices: can't read the journal in %s: %s",
			dir, err);
		doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
		return -1;
	}
	if (ictx->csv) {
		if ((csv = tresor_invoices_csv(invoices, user->username)) == NULL) {
			i_error("tresor invoices: out of memory");
			doveadm_tresor_set_exit_code(ctx, EX_TEMPFAIL);
			tresor_invoices_free(invoices);
			return -1;
		}
		if (!csv_header_printed) {
			fputs(tresor_invoices_csv_header(), stdout);
			csv_header_printed = TRUE;
		}
		fputs(csv, stdout);
		fflush(stdout);
		tresor_invoices_free(invoices);
		return 0;
	}
	count = tresor_invoices_count(invoices);
	for (i = 0; i < count; i++) {
		if (tresor_invoices_get(invoices, i, &e) < 0)
			continue;
		doveadm_print(e.time);
		doveadm_print(dec2str(e.seq));
		doveadm_print(dec2str(e.save_seq));
		doveadm_print(str_sanitize(e.mailbox, SIZE_MAX));
		doveadm_print(dec2str(e.uid));
		doveadm_print(dec2str(e.uidvalidity));
		doveadm_print(e.sha256);
		doveadm_print(dec2str(e.copies));
		/* (what the invoice says comes from outside) */
		for (field = e.fields; *field != NULL; field++)
			doveadm_print(str_sanitize(*field, SIZE_MAX));
	}
	tresor_invoices_free(invoices);
	return 0;
}

static void cmd_tresor_invoices_init(DOVEADM_TRESOR_CMD_INIT_PARAMS)
{
	struct doveadm_tresor_invoices_cmd_context *ictx =
		(struct doveadm_tresor_invoices_cmd_context *)ctx;
	const char *value, *const *name;

	if (doveadm_cmd_param_str(ctx->cctx, "from", &value))
		ictx->from = p_strdup(ctx->pool, value);
	if (doveadm_cmd_param_str(ctx->cctx, "to", &value))
		ictx->to = p_strdup(ctx->pool, value);
	if (doveadm_cmd_param_str(ctx->cctx, "verdict", &value))
		ictx->verdict = p_strdup(ctx->pool, value);
	if (doveadm_cmd_param_str(ctx->cctx, "supplier", &value))
		ictx->supplier = p_strdup(ctx->pool, value);
	(void)doveadm_cmd_param_bool(ctx->cctx, "csv", &ictx->csv);
	if ((ictx->from != NULL && tresor_date_valid(ictx->from) == 0) ||
	    (ictx->to != NULL && tresor_date_valid(ictx->to) == 0)) {
		i_fatal_status(EX_USAGE, "doveadm tresor invoices: --from and "
			       "--to take a date that exists, YYYY-MM-DD");
	}
	if (ictx->csv)
		return;
	doveadm_print_header_simple("stored");
	doveadm_print_header_simple("seq");
	doveadm_print_header_simple("save_seq");
	doveadm_print_header_simple("mailbox");
	doveadm_print_header_simple("uid");
	doveadm_print_header_simple("uidvalidity");
	doveadm_print_header_simple("sha256");
	doveadm_print_header_simple("copies");
	for (name = tresor_invoice_field_names(); *name != NULL; name++)
		doveadm_print_header_simple(*name);
}

static struct doveadm_mail_cmd_context *cmd_tresor_invoices_alloc(void)
{
	struct doveadm_tresor_invoices_cmd_context *ictx;

	ictx = doveadm_mail_cmd_alloc(struct doveadm_tresor_invoices_cmd_context);
	doveadm_tresor_cmd_params_from_cctx(&ictx->ctx);
	ictx->ctx.v.init = cmd_tresor_invoices_init;
	ictx->ctx.v.run = cmd_tresor_invoices_run;
	if (!doveadm_print_is_initialized())
		doveadm_print_init(DOVEADM_PRINT_TYPE_FLOW);
	return &ictx->ctx;
}

static struct doveadm_cmd_ver2 tresor_invoices_commands[] = {
{
	.name = "tresor invoices",
	.mail_cmd = cmd_tresor_invoices_alloc,
	.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX
		"[--from <YYYY-MM-DD>] [--to <YYYY-MM-DD>] [-v|--verdict <verdict>] "
		"[-s|--supplier <text>] [-c|--csv]",
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('f', "from", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('t', "to", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('v', "verdict", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('s', "supplier", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('c', "csv", CMD_PARAM_BOOL, 0)
DOVEADM_CMD_PARAMS_END
},
};

void doveadm_tresor_invoices_commands_register(void)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(tresor_invoices_commands); i++)
		doveadm_cmd_register_ver2(&tresor_invoices_commands[i]);
}
