#ifndef TRESOR_PLUGIN_H
#define TRESOR_PLUGIN_H

#include "tresor.h"

struct mail;
struct mail_user;
struct module;

/* Loads every tresor_* setting of the user (plugin {} block) into a new
   core config and expands tresor_dir ("~/" = the user's home).
   Returns 0, or -1 with *error_r naming the bad setting. On success the
   caller owns *cfg_r (tresor_config_free()); *dir_r is allocated from the
   data stack. */
int tresor_user_config_load(struct mail_user *user, tresor_config **cfg_r,
			    const char **dir_r, const char **error_r);

/* Hashes a stored mail (its full stream, as Dovecot returns it) with the
   user's hash settings; sha256_only leaves content_sha256 and message_id
   "". Returns 0, or -1 with *error_r set. */
int tresor_mail_hash(const tresor_config *cfg, struct mail *mail,
		     bool sha256_only, tresor_hash_result *result_r,
		     const char **error_r);
/* Hashes input from where it stands to its end with the caller's hasher
   (reset first). Returns 0, or -1 with *error_r set. */
struct istream;
int tresor_stream_hash(tresor_hasher *hasher, struct istream *input,
		       tresor_hash_result *result_r, const char **error_r);
/* The same with the caller's hasher (reset first), so that a run over
   many mails (verify) reuses one. */
int tresor_mail_hash_with(tresor_hasher *hasher, struct mail *mail,
			  tresor_hash_result *result_r, const char **error_r);

/* doveadm tresor purge's way through the archive guard: lets the expunge
   of this UID in t, a transaction of an archive folder, through - called
   only after the mail's purge record is journaled. Refused (-1) outside
   the doveadm service. Defined in the mail plugin; the doveadm plugin
   looks it up by TRESOR_PURGE_ALLOW_SYMBOL in the loaded module
   "tresor", as the two plugins share no symbols. */
struct mailbox_transaction_context;
#define TRESOR_PURGE_ALLOW_SYMBOL "tresor_plugin_purge_allow_expunge"
typedef int tresor_purge_allow_expunge_func(struct mailbox_transaction_context *t,
					    uint32_t uid);
tresor_purge_allow_expunge_func tresor_plugin_purge_allow_expunge;

/* How long a writer waits for another process's journal lock. */
#define TRESOR_JOURNAL_LOCK_TIMEOUT_MSECS (30 * 1000)

void tresor_plugin_init(struct module *module);
void tresor_plugin_deinit(void);

#endif
