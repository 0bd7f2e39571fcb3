#ifndef FTS_TRESOR_PLUGIN_H
#define FTS_TRESOR_PLUGIN_H

#include "module-context.h"
#include "mail-user.h"

extern struct fts_backend fts_backend_tresor;

/* Where a backend's settings are: 2.4 the event of its fts tresor { }
   filter, 2.3 its user's (plugin { }). */
struct event *fts_tresor_backend_event(struct fts_backend *backend);
/* The fts plugin's per-user state, which 2.4 wants a backend to set up
   with its event (2.3: done by the user hook here). */
int fts_tresor_fts_user_init(struct fts_backend *backend, const char **error_r);

void fts_tresor_remove_box_index(struct mailbox *box, const char *guid);

void fts_tresor_plugin_init(struct module *module);
void fts_tresor_plugin_deinit(void);

#endif
