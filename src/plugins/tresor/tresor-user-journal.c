/* The journal of a mail user: opened once per process and cached, locked
   around a commit, appended to with the session's service and ID. */
#include "lib.h"
#include "file-lock.h"
#include <sys/file.h>
#include "mail-user.h"
#include "tresor-plugin.h"
#include "tresor-storage.h"
#include "tresor-user-journal.h"

/* Open journals (with their catalog connection) outlive the mail_user:
   an lmtp or imap process serves many sessions of the same users, and
   reopening the catalog for each would cost more than the delivery. */
#define TRESOR_USER_JOURNAL_CACHE_SIZE 8
struct tresor_user_journal_cache_entry {
	char *dir;
	tresor_journal *journal;
	unsigned int last_used;
	unsigned int lock_count; /* never evicted while locked */
};
static struct tresor_user_journal_cache_entry
	tresor_user_journal_cache[TRESOR_USER_JOURNAL_CACHE_SIZE];
static unsigned int tresor_user_journal_cache_clock;

static struct tresor_user_journal_cache_entry *
tresor_user_journal_cache_get(const char *dir, const char **error_r)
{
	struct tresor_user_journal_cache_entry *entry, *victim = NULL;
	char err[512];
	unsigned int i;

	for (i = 0; i < TRESOR_USER_JOURNAL_CACHE_SIZE; i++) {
		entry = &tresor_user_journal_cache[i];
		if (entry->dir != NULL && strcmp(entry->dir, dir) == 0) {
			entry->last_used = ++tresor_user_journal_cache_clock;
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
	victim->last_used = ++tresor_user_journal_cache_clock;
	return victim;
}

tresor_journal *tresor_user_journal(struct tresor_user *tuser,
				    const char **error_r)
{
	struct tresor_user_journal_cache_entry *entry;

	/* Looked up again each time: another user's session in this
	   process may have evicted it from the cache. */
	entry = tresor_user_journal_cache_get(tuser->dir, error_r);
	return entry == NULL ? NULL : entry->journal;
}

/* Taking the lock journals what a process that died in the middle of a
   commit left behind (tresor.h: intents); the admin hears of it. */
static void tresor_user_journal_log_recovery(struct tresor_user_journal_cache_entry *entry)
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

/* Waits for the journal lock in the kernel, bounded by Dovecot's alarm,
   instead of in the core's loop, which polls every 50 µs: with several
   deliveries to one user waiting, their wake-ups took CPU from the one
   holding the lock. The core then takes the lock it already holds. */
static int
tresor_user_journal_wait(struct tresor_user_journal_cache_entry *entry,
			 const char **error_r)
{
	const struct file_lock_settings lock_set = {
		.lock_method = FILE_LOCK_METHOD_FLOCK,
	};
	struct file_lock *lock;
	const char *path = t_strconcat(entry->dir, "/journal/.lock", NULL);
	int fd = tresor_journal_lock_fd(entry->journal);

	if (file_wait_lock(fd, path, F_WRLCK, &lock_set,
			   TRESOR_JOURNAL_LOCK_TIMEOUT_MSECS / 1000,
			   &lock, error_r) <= 0)
		return -1;
	/* the lock stays with fd, for tresor_journal_lock() */
	file_lock_free(&lock);
	return 0;
}

int tresor_user_lock(struct tresor_user *tuser, const char **error_r)
{
	struct tresor_user_journal_cache_entry *entry;
	char err[512];

	if ((entry = tresor_user_journal_cache_get(tuser->dir, error_r)) == NULL)
		return -1;
	if (entry->lock_count == 0 &&
	    tresor_user_journal_wait(entry, error_r) < 0)
		return -1;
	if (tresor_journal_lock(entry->journal,
				TRESOR_JOURNAL_LOCK_TIMEOUT_MSECS,
				err, sizeof(err)) < 0) {
		*error_r = t_strdup(err);
		if (entry->lock_count == 0)
			(void)flock(tresor_journal_lock_fd(entry->journal),
				    LOCK_UN);
		return -1;
	}
	if (entry->lock_count++ == 0)
		tresor_user_journal_log_recovery(entry);
	return 0;
}

void tresor_user_unlock(struct tresor_user *tuser)
{
	struct tresor_user_journal_cache_entry *entry;
	const char *error;

	/* A locked entry is never evicted, so this finds it. */
	entry = tresor_user_journal_cache_get(tuser->dir, &error);
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

void tresor_user_journals_close(void)
{
	unsigned int i;

	for (i = 0; i < TRESOR_USER_JOURNAL_CACHE_SIZE; i++) {
		if (tresor_user_journal_cache[i].dir == NULL)
			continue;
		tresor_journal_close(tresor_user_journal_cache[i].journal);
		i_free(tresor_user_journal_cache[i].dir);
	}
}
