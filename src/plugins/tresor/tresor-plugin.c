/* The tresor mail plugin: module entry points, per-user state and the
   journal writer the storage hooks share. */
#include "lib.h"
#include "mail-user.h"
#include "mail-storage-private.h"
#include "tresor-plugin.h"
#include "tresor-storage.h"

const char *tresor_plugin_version = DOVECOT_ABI_VERSION;

struct tresor_user_module tresor_user_module =
	MODULE_CONTEXT_INIT(&mail_user_module_register);

/* Open journals (with their catalog connection) outlive the mail_user:
   an lmtp or imap process serves many sessions of the same users, and
   reopening the catalog for each would cost more than the delivery. */
#define TRESOR_JOURNAL_CACHE_SIZE 8
struct tresor_journal_cache_entry {
	char *dir;
	tresor_journal *journal;
	unsigned int last_used;
	unsigned int lock_count; /* never evicted while locked */
};
static struct tresor_journal_cache_entry
	tresor_journal_cache[TRESOR_JOURNAL_CACHE_SIZE];
static unsigned int tresor_journal_cache_clock;

static struct tresor_journal_cache_entry *
tresor_journal_cache_get(const char *dir, const char **error_r)
{
	struct tresor_journal_cache_entry *entry, *victim = NULL;
	char err[512];
	unsigned int i;

	for (i = 0; i < TRESOR_JOURNAL_CACHE_SIZE; i++) {
		entry = &tresor_journal_cache[i];
		if (entry->dir != NULL && strcmp(entry->dir, dir) == 0) {
			entry->last_used = ++tresor_journal_cache_clock;
			return entry;
		}
		if (entry->lock_count > 0)
			continue;
		if (victim == NULL || entry->dir == NULL ||
		    (victim->dir != NULL &&
		     entry->last_used < victim->last_used))
			victim = entry;
	}
	if (victim == NULL) {
		*error_r = "too many journals locked at once in one process";
		return NULL;
	}
	if (victim->dir != NULL) {
		tresor_journal_close(victim->journal);
		i_free(victim->dir);
	}
	victim->journal = tresor_journal_open(dir, err, sizeof(err));
	if (victim->journal == NULL) {
		*error_r = t_strdup(err);
		return NULL;
	}
	victim->dir = i_strdup(dir);
	victim->last_used = ++tresor_journal_cache_clock;
	return victim;
}

static void tresor_journal_cache_clear(void)
{
	unsigned int i;

	for (i = 0; i < TRESOR_JOURNAL_CACHE_SIZE; i++) {
		if (tresor_journal_cache[i].dir == NULL)
			continue;
		tresor_journal_close(tresor_journal_cache[i].journal);
		i_free(tresor_journal_cache[i].dir);
	}
}

static void tresor_user_deinit(struct mail_user *user)
{
	struct tresor_user *tuser = TRESOR_USER_CONTEXT_REQUIRE(user);

	tresor_config_free(tuser->cfg);
	tuser->module_ctx.super.deinit(user);
}

static void tresor_mail_user_created(struct mail_user *user)
{
	struct mail_user_vfuncs *v = user->vlast;
	struct tresor_user *tuser;
	tresor_config *cfg;
	const char *dir, *error;

	/* LMTP's raw mail user and similar internal users hold no mail of
	   the account. */
	if (user->autocreated)
		return;

	if (tresor_user_config_load(user, &cfg, &dir, &error) < 0) {
		/* Fails mail_user_init(): the login or delivery is refused
		   with this error rather than running unprotected. */
		user->error = p_strdup(user->pool, error);
		return;
	}
	tuser = p_new(user->pool, struct tresor_user, 1);
	tuser->module_ctx.super = *v;
	user->vlast = &tuser->module_ctx.super;
	v->deinit = tresor_user_deinit;
	tuser->cfg = cfg;
	tuser->dir = p_strdup(user->pool, dir);
	MODULE_CONTEXT_SET(user, tresor_user_module, tuser);
}

tresor_journal *tresor_user_journal(struct tresor_user *tuser,
				    const char **error_r)
{
	struct tresor_journal_cache_entry *entry;

	/* Looked up again each time: another user's session in this
	   process may have evicted it from the cache. */
	entry = tresor_journal_cache_get(tuser->dir, error_r);
	return entry == NULL ? NULL : entry->journal;
}

/* Taking the lock journals what a process that died in the middle of a
   commit left behind (tresor.h: intents); the admin hears of it. */
static void tresor_log_recovery(struct tresor_journal_cache_entry *entry)
{
	const char *error;
	uint64_t recovered;

	error = tresor_journal_last_recovery(entry->journal, &recovered);
	if (error[0] != '\0') {
		i_error("tresor: %s: can't journal the commit a process left "
			"unfinished (saves are refused until it can): %s",
			entry->dir, error);
	} else if (recovered > 0) {
		i_warning("tresor: %s: journaled %"PRIu64" interrupted "
			  "record%s: a process ended between committing mails "
			  "and journaling them (killed, or the journal write "
			  "failed); doveadm tresor verify says what reached "
			  "the store", entry->dir, recovered,
			  recovered == 1 ? "" : "s");
	}
}

int tresor_user_lock(struct tresor_user *tuser, const char **error_r)
{
	struct tresor_journal_cache_entry *entry;
	char err[512];

	if ((entry = tresor_journal_cache_get(tuser->dir, error_r)) == NULL)
		return -1;
	if (tresor_journal_lock(entry->journal,
				TRESOR_JOURNAL_LOCK_TIMEOUT_MSECS,
				err, sizeof(err)) < 0) {
		*error_r = t_strdup(err);
		return -1;
	}
	if (entry->lock_count++ == 0)
		tresor_log_recovery(entry);
	return 0;
}

void tresor_user_unlock(struct tresor_user *tuser)
{
	struct tresor_journal_cache_entry *entry;
	const char *error;

	/* A locked entry is never evicted, so this finds it. */
	entry = tresor_journal_cache_get(tuser->dir, &error);
	i_assert(entry != NULL && entry->lock_count > 0);
	entry->lock_count--;
	tresor_journal_unlock(entry->journal);
}

int tresor_user_append(struct mail_user *user, struct tresor_user *tuser,
		       tresor_record *rec, uint64_t *seq_r,
		       const char **error_r)
{
	tresor_journal *journal;
	char err[512];

	if ((journal = tresor_user_journal(tuser, error_r)) == NULL)
		return -1;
	if (rec->service == NULL)
		rec->service = user->service;
	if (rec->session == NULL)
		rec->session = user->session_id;
	if (tresor_journal_append(journal, rec, seq_r, err, sizeof(err)) < 0) {
		*error_r = t_strdup(err);
		return -1;
	}
	return 0;
}

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
	tresor_journal_cache_clear();
}
