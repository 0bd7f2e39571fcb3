/* The tresor mail plugin's module entry points: they register the storage
   hooks (tresor-storage.c) and close the cached journals on unload. */
#include "lib.h"
#include "mail-storage-hooks.h"
#include "tresor-plugin.h"
#include "tresor-storage.h"
#include "tresor-user-journal.h"

const char *tresor_plugin_version = DOVECOT_ABI_VERSION;

static struct mail_storage_hooks tresor_mail_storage_hooks = {
	.mail_user_created = tresor_mail_user_created,
	.mail_namespaces_created = tresor_mail_namespaces_created,
	.mailbox_allocated = tresor_mailbox_allocated,
	.mail_allocated = tresor_mail_allocated
};

void tresor_plugin_init(struct module *module)
{
	mail_storage_hooks_add(module, &tresor_mail_storage_hooks);
}

void tresor_plugin_deinit(void)
{
	mail_storage_hooks_remove(&tresor_mail_storage_hooks);
	tresor_user_journals_close();
}
