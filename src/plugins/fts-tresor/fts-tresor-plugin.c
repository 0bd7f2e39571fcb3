/* fts_tresor plugin entry: the backend registration, the fts plugin's
   per-user state, and removing a deleted mailbox's index. */

#include "lib.h"
#include "tresor-dovecot-compat.h"
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

static MODULE_CONTEXT_DEFINE_INIT(fts_tresor_storage_module,
				  &mail_storage_module_register);

#if TRESOR_DOVECOT24
struct event *fts_tresor_backend_event(struct fts_backend *backend)
{
	return backend->event;
}

int fts_tresor_fts_user_init(struct fts_backend *backend, const char **error_r)
{
	return fts_mail_user_init(backend->ns->user, backend->event, FALSE,
				  error_r);
}
#else
#define FTS_TRESOR_USER_CONTEXT(obj) \
	MODULE_CONTEXT_REQUIRE(obj, fts_tresor_user_module)

struct fts_tresor_user {
	union mail_user_module_context module_ctx;
};

static MODULE_CONTEXT_DEFINE_INIT(fts_tresor_user_module,
				  &mail_user_module_register);

struct event *fts_tresor_backend_event(struct fts_backend *backend)
{
	return backend->ns->user->event;
}

int fts_tresor_fts_user_init(struct fts_backend *backend ATTR_UNUSED,
			     const char **error_r ATTR_UNUSED)
{
	return 0;
}

static void fts_tresor_mail_user_deinit(struct mail_user *user)
{
	struct fts_tresor_user *fuser = FTS_TRESOR_USER_CONTEXT(user);

	fts_mail_user_deinit(user);
	fuser->module_ctx.super.deinit(user);
}

static void fts_tresor_mail_user_created(struct mail_user *user)
{
	struct mail_user_vfuncs *v = user->vlast;
	struct fts_tresor_user *fuser;
	const char *error;

	/* Without libfts it can't fail; if it ever does, the fts plugin
	   runs without its per-user state (no autoindex_exclude). */
	if (fts_mail_user_init(user, FALSE, &error) < 0)
		e_error(user->event, "fts-tresor: %s", error);
	fuser = p_new(user->pool, struct fts_tresor_user, 1);
	fuser->module_ctx.super = *v;
	user->vlast = &fuser->module_ctx.super;
	v->deinit = fts_tresor_mail_user_deinit;
	MODULE_CONTEXT_SET(user, fts_tresor_user_module, fuser);
}
#endif

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
#if !TRESOR_DOVECOT24
	.mail_user_created = fts_tresor_mail_user_created,
#endif
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
