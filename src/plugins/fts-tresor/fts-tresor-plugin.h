#ifndef FTS_TRESOR_PLUGIN_H
#define FTS_TRESOR_PLUGIN_H

#include "module-context.h"
#include "mail-user.h"
#include "fts/tresor-fts.h"

#define FTS_TRESOR_USER_CONTEXT(obj) \
	MODULE_CONTEXT(obj, fts_tresor_user_module)

struct fts_tresor_user {
	union mail_user_module_context module_ctx;
	tresor_fts_settings *settings;
	/* set when a tresor_* FTS setting is bad: the backend refuses to
	   start with this error */
	const char *settings_error;
};

extern MODULE_CONTEXT_DEFINE(fts_tresor_user_module, &mail_user_module_register);
extern struct fts_backend fts_backend_tresor;

void fts_tresor_remove_box_index(struct mailbox *box, const char *guid);

void fts_tresor_plugin_init(struct module *module);
void fts_tresor_plugin_deinit(void);

#endif
