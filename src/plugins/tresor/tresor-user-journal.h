#ifndef TRESOR_USER_JOURNAL_H
#define TRESOR_USER_JOURNAL_H

#include "archive/tresor.h"

struct mail_user;
struct tresor_user;

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
/* Closes every cached journal (plugin deinit). */
void tresor_user_journals_close(void);

#endif
