#ifndef DOVEADM_TRESOR_H
#define DOVEADM_TRESOR_H

/* What the doveadm tresor commands (doveadm-tresor*.c) share. */

#include "tresor-user.h"

struct doveadm_mail_cmd_context;
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

#endif
