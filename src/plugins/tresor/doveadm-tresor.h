#ifndef DOVEADM_TRESOR_H
#define DOVEADM_TRESOR_H

/* What the doveadm tresor commands (doveadm-tresor*.c) share, and what
   differs between Dovecot 2.3 and 2.4 in the doveadm plugin API, so that
   the commands themselves have no version checks. */

#include "doveadm-mail.h"
#include "doveadm-util.h"
#include "tresor-settings.h"
#include "tresor-user.h"

struct mail_user;

/* Sets the command's exit code unless an earlier one weighs more: a found
   problem (EX_DATAERR) yields to an error that left the work incomplete,
   and EX_TEMPFAIL to nothing. */
void doveadm_tresor_set_exit_code(struct doveadm_mail_cmd_context *ctx,
				  int code);
/* tresor_user_config_load() for a command: a bad setting is logged and
   makes the exit code EX_CONFIG. */
int doveadm_tresor_user_config_load(struct doveadm_mail_cmd_context *ctx,
				    struct mail_user *user,
				    tresor_config **cfg_r, const char **dir_r);
/* A long run's progress on stderr when it is a terminal (the daily timer
   and a pipe see nothing): "tresor CMD: WHERE: DONE/TOTAL WHAT", redrawn
   every 256 and ended with a newline when DONE reaches TOTAL. */
void doveadm_tresor_progress(const char *cmd, const char *where,
			     unsigned int done, unsigned int total,
			     const char *what);
/* The values of an ARRAY parameter (the positional <mailbox> ...), an
   empty list when none was given. */
const char *const *
doveadm_tresor_param_list(struct doveadm_mail_cmd_context *ctx,
			  const char *name);

/* ------------------------------------------------------------------ */
/* Dovecot 2.3 / 2.4                                                  */
/* ------------------------------------------------------------------ */

/* The commands are written as Dovecot 2.4's own: init() reads every
   parameter from ctx->cctx with doveadm_cmd_param_*(), which 2.3 has
   too. What 2.3 needs besides is below; each of these exists for both.

   DOVEADM_TRESOR_CMD_INIT_PARAMS: init()'s parameter list.
   DOVEADM_TRESOR_GLOBAL_SETTING_PLACE: where the admin sets a global
     tresor_* setting, for error messages.
   doveadm_tresor_cmd_params_from_cctx(): called by every command's
     alloc(), makes 2.3 hand the parameters to init() in ctx->cctx.
   doveadm_tresor_preinit(): the preinit() that sets, called by a
     command's own preinit() in its place.
   doveadm_tresor_cmd_prints_username(): whether doveadm added the sticky
     "username" column before init() (several users: -A, -F, a wildcard
     -u; on 2.3 also a doveadm server answering for several users).
   doveadm_tresor_settings_reader_global(): a reader of the global
     tresor_* settings (userdb values don't apply) for a command reading
     them in init(), while doveadm is still root. */
#if TRESOR_DOVECOT24

#define DOVEADM_TRESOR_CMD_INIT_PARAMS struct doveadm_mail_cmd_context *ctx
#define DOVEADM_TRESOR_GLOBAL_SETTING_PLACE "a top-level setting"

static inline void
doveadm_tresor_preinit(struct doveadm_mail_cmd_context *ctx ATTR_UNUSED)
{
}

static inline void
doveadm_tresor_cmd_params_from_cctx(
	struct doveadm_mail_cmd_context *ctx ATTR_UNUSED)
{
}

static inline bool
doveadm_tresor_cmd_prints_username(const struct doveadm_mail_cmd_context *ctx)
{
	return !ctx->iterate_single_user;
}

/* the settings as the command sees them */
static inline void
doveadm_tresor_settings_reader_global(struct tresor_settings_reader *reader,
				      struct doveadm_mail_cmd_context *ctx)
{
	i_zero(reader);
	reader->event = ctx->cctx->set_event;
}

#else

/* 2.3 also passes the positional arguments, which ctx->cctx has too */
#define DOVEADM_TRESOR_CMD_INIT_PARAMS \
	struct doveadm_mail_cmd_context *ctx, \
	const char *const args[] ATTR_UNUSED
#define DOVEADM_TRESOR_GLOBAL_SETTING_PLACE "in the plugin {} block"

/* 2.3 rejects a -option unless parse_arg() takes it; init() reads its
   value from ctx->cctx. */
static inline bool
doveadm_tresor_parse_arg(struct doveadm_mail_cmd_context *ctx ATTR_UNUSED,
			 int c ATTR_UNUSED)
{
	return TRUE;
}

/* 2.3's doveadm batch gives its commands no ctx->cctx (2.4 has no
   batch): refused rather than run without their parameters. */
static inline void
doveadm_tresor_preinit(struct doveadm_mail_cmd_context *ctx)
{
	if (ctx->cctx == NULL) {
		i_fatal_status(EX_USAGE, "doveadm %s can't run in doveadm "
			       "batch: run it on its own", ctx->cmd->name);
	}
}

static inline void
doveadm_tresor_cmd_params_from_cctx(struct doveadm_mail_cmd_context *ctx)
{
	ctx->v.parse_arg = doveadm_tresor_parse_arg;
	ctx->v.preinit = doveadm_tresor_preinit;
}

static inline bool
doveadm_tresor_cmd_prints_username(const struct doveadm_mail_cmd_context *ctx)
{
	return !ctx->iterate_single_user || ctx->add_username_header;
}

static inline const char *
doveadm_tresor_plugin_getenv(void *context ATTR_UNUSED, const char *name)
{
	return doveadm_plugin_getenv(name);
}

/* doveadm's plugin { } block */
static inline void
doveadm_tresor_settings_reader_global(
	struct tresor_settings_reader *reader,
	struct doveadm_mail_cmd_context *ctx ATTR_UNUSED)
{
	i_zero(reader);
	reader->getenv = doveadm_tresor_plugin_getenv;
}

#endif

#endif
