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
	/* the mail the invoice test found an invoice in last, and its fields
	   (tresor-invoice-note.h), for the invoice record after its save */
	const struct mail *invoice_mail;
	const char *const *invoice_fields;
	pool_t invoice_pool;
};

extern MODULE_CONTEXT_DEFINE(tresor_user_module, &mail_user_module_register);

/* Loads the user's settings; a bad one fails the login or delivery. */
void tresor_mail_user_created(struct mail_user *user);

struct mail_namespace;
struct mailbox;
struct mail;
/* Refuses (through the user's error) namespaces whose mailbox format the
   plugin can't serve. */
void tresor_mail_namespaces_created(struct mail_namespace *namespaces);
void tresor_mailbox_allocated(struct mailbox *box);
void tresor_mail_allocated(struct mail *mail);

#endif
