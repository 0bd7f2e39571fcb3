#ifndef TRESOR_STORAGE_H
#define TRESOR_STORAGE_H

#include "module-context.h"
#include "mail-user.h"
#include "archive/tresor.h"

#define TRESOR_USER_CONTEXT(obj) \
	MODULE_CONTEXT(obj, tresor_user_module)
#define TRESOR_USER_CONTEXT_REQUIRE(obj) \
	MODULE_CONTEXT_REQUIRE(obj, tresor_user_module)

struct tresor_user {
	union mail_user_module_context module_ctx;
	tresor_config *cfg;
	const char *dir;            /* tresor_dir, expanded */
};

extern MODULE_CONTEXT_DEFINE(tresor_user_module, &mail_user_module_register);

/* The user's journal, opened on first use and kept open by the process.
   NULL + error_r on failure. */
tresor_journal *tresor_user_journal(struct tresor_user *tuser,
				    const char **error_r);
/* Takes / releases the user's journal lock (reentrant). */
int tresor_user_lock(struct tresor_user *tuser, const char **error_r);
void tresor_user_unlock(struct tresor_user *tuser);
/* Appends rec (service and session filled in from the user when NULL). */
int tresor_user_append(struct mail_user *user, struct tresor_user *tuser,
		       tresor_record *rec, uint64_t *seq_r,
		       const char **error_r);

struct mail_namespace;
/* Refuses (through the user's error) namespaces whose mailbox format the
   plugin can't serve. */
void tresor_mail_namespaces_created(struct mail_namespace *namespaces);
void tresor_mailbox_allocated(struct mailbox *box);
void tresor_mail_allocated(struct mail *mail);

#endif
