/* fts_tresor plugin entry: settings per user, the backend registration,
   and removing a deleted mailbox's index. */

#include "lib.h"
#include "mail-storage-private.h"
#include "mail-storage-hooks.h"
#include "fts-api-private.h"
#include "fts-user.h"
#include "fts-tresor-plugin.h"

#define FTS_TRESOR_CONTEXT(obj) \
	MODULE_CONTEXT(obj, fts_tresor_storage_module)

struct fts_tresor_mailbox {
	union mailbox_module_context module_ctx;
};

const char *fts_tresor_plugin_version = DOVECOT_ABI_VERSION;
const char *fts_tresor_plugin_dependencies[] = { "fts", NULL };

struct fts_tresor_user_module fts_tresor_user_module =
	MODULE_CONTEXT_INIT(&mail_user_module_register);
static MODULE_CONTEXT_DEFINE_INIT(fts_tresor_storage_module,
				  &mail_storage_module_register);

static void fts_tresor_mail_user_deinit(struct mail_user *user)
{
	struct fts_tresor_user *fuser = FTS_TRESOR_USER_CONTEXT(user);

	tresor_fts_settings_free(fuser->settings);
	fts_mail_user_deinit(user);
	fuser->module_ctx.super.deinit(user);
}

static void fts_tresor_mail_user_created(struct mail_user *user)
{
	struct mail_user_vfuncs *v = user->vlast;
	struct fts_tresor_user *fuser;
	const char *const *name, *error;
	char err[512];

	fuser = p_new(user->pool, struct fts_tresor_user, 1);
	fuser->settings = tresor_fts_settings_new();
	if (fuser->settings == NULL)
		i_fatal_status(FATAL_OUTOFMEM, "fts-tresor: out of memory");
	for (name = tresor_fts_setting_names(); *name != NULL; name++) {
		const char *value = mail_user_plugin_getenv(user, *name);

		if (value == NULL || fuser->settings_error != NULL)
			continue;
		if (tresor_fts_settings_set(fuser->settings, *name, value,
					    err, sizeof(err)) < 0) {
			fuser->settings_error = p_strdup(user->pool, err);
			e_error(user->event, "fts-tresor: %s", err);
		}
	}
	/* The fts plugin's per-user state (autoindex_exclude, ...). We don't
	   use its tokenizers: the index works on whitespace runs. */
	if (fts_mail_user_init(user, FALSE, &error) < 0) {
		e_error(user->event, "fts-tresor: %s", error);
		if (fuser->settings_error == NULL)
			fuser->settings_error = p_strdup(user->pool, error);
	}
	fuser->module_ctx.super = *v;
	user->vlast = &fuser->module_ctx.super;
	v->deinit = fts_tresor_mail_user_deinit;
	MODULE_CONTEXT_SET(user, fts_tresor_user_module, fuser);
}

static int fts_tresor_mailbox_delete(struct mailbox *box)
{
	struct fts_tresor_mailbox *fbox = FTS_TRESOR_CONTEXT(box);
	struct mailbox_metadata metadata;
	const char *guid = NULL;

	/* The GUID is gone once the mailbox is. */
	if (mailbox_open(box) == 0 &&
	    mailbox_get_metadata(box, MAILBOX_METADATA_GUID, &metadata) == 0)
		guid = t_strdup(guid_128_to_string(metadata.guid));
	if (fbox->module_ctx.super.delete_box(box) < 0)
		return -1;
	if (guid != NULL)
		fts_tresor_remove_box_index(box, guid);
	return 0;
}

static void fts_tresor_mailbox_allocated(struct mailbox *box)
{
	struct mailbox_vfuncs *v = box->vlast;
	struct fts_tresor_mailbox *fbox;

	fbox = p_new(box->pool, struct fts_tresor_mailbox, 1);
	fbox->module_ctx.super = *v;
	box->vlast = &fbox->module_ctx.super;
	v->delete_box = fts_tresor_mailbox_delete;
	MODULE_CONTEXT_SET(box, fts_tresor_storage_module, fbox);
}

static struct mail_storage_hooks fts_tresor_mail_storage_hooks = {
	.mail_user_created = fts_tresor_mail_user_created,
	.mailbox_allocated = fts_tresor_mailbox_allocated,
};

void fts_tresor_plugin_init(struct module *module)
{
	fts_backend_register(&fts_backend_tresor);
	mail_storage_hooks_add(module, &fts_tresor_mail_storage_hooks);
}

void fts_tresor_plugin_deinit(void)
{
	fts_backend_unregister(fts_backend_tresor.name);
	mail_storage_hooks_remove(&fts_tresor_mail_storage_hooks);
}
