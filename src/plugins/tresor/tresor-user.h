#ifndef TRESOR_USER_H
#define TRESOR_USER_H

/* What the archive plugin and its doveadm commands both need of a mail
   user: its tresor settings and the hashes of its mails. */

#include "archive/tresor.h"

struct istream;
struct mail;
struct mail_user;

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
int tresor_user_mail_hash(const tresor_config *cfg, struct mail *mail,
			  bool sha256_only, tresor_hash_result *result_r,
			  const char **error_r);
/* Hands input from where it stands to its end to feed, a block at a time.
   Returns 0, or -1: feed returned -1 (*error_r untouched), or reading
   failed (*error_r set). */
int tresor_user_stream_feed(struct istream *input,
			    int (*feed)(void *context, const void *data,
					size_t size),
			    void *context, const char **error_r);
/* Hashes input from where it stands to its end with the caller's hasher
   (reset first). Returns 0, or -1 with *error_r set. */
int tresor_user_stream_hash(tresor_hasher *hasher, struct istream *input,
			    tresor_hash_result *result_r, const char **error_r);
/* The same with the caller's hasher (reset first), so that a run over
   many mails (verify) reuses one. */
int tresor_user_mail_hash_with(tresor_hasher *hasher, struct mail *mail,
			       tresor_hash_result *result_r, const char **error_r);

#endif
