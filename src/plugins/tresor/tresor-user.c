/* The tresor settings of a mail user, shared by the mail and doveadm
   plugins. */
#include "lib.h"
#include "istream.h"
#include "mail-user.h"
#include "mail-storage.h"
#include "tresor-settings.h"
#include "tresor-user.h"

int tresor_user_config_load(struct mail_user *user, tresor_config **cfg_r,
			    const char **dir_r, const char **error_r)
{
	struct tresor_settings_reader reader;
	const char *const *name;
	const char *value, *dir;
	char err[512];
	tresor_config *cfg;

	tresor_settings_reader_user(&reader, user);
	if (tresor_settings_reader_init(&reader, error_r) < 0)
		return -1;
	cfg = tresor_config_new();
	if (cfg == NULL) {
		tresor_settings_reader_deinit(&reader);
		*error_r = "tresor: out of memory";
		return -1;
	}
	for (name = tresor_config_setting_names(); *name != NULL; name++) {
		value = tresor_settings_reader_get(&reader, *name);
		if (value == NULL)
			continue;
		if (tresor_config_set(cfg, *name, value, err, sizeof(err)) < 0) {
			*error_r = t_strdup_printf("tresor: %s", err);
			tresor_settings_reader_deinit(&reader);
			tresor_config_free(cfg);
			return -1;
		}
	}
	tresor_settings_reader_deinit(&reader);
	dir = tresor_config_dir(cfg);
	if (mail_user_try_home_expand(user, &dir) < 0) {
		*error_r = t_strdup_printf(
			"tresor: tresor_dir: can't expand '%s': "
			"the user has no home directory", dir);
		tresor_config_free(cfg);
		return -1;
	}
	*cfg_r = cfg;
	*dir_r = dir;
	return 0;
}

int tresor_user_stream_feed(struct istream *input,
			    int (*feed)(void *context, const void *data,
					size_t size),
			    void *context, const char **error_r)
{
	const unsigned char *data;
	size_t size;
	int ret;

	while ((ret = i_stream_read_more(input, &data, &size)) > 0) {
		if (feed(context, data, size) < 0)
			return -1;
		i_stream_skip(input, size);
	}
	i_assert(ret == -1);
	if (input->stream_errno != 0) {
		*error_r = t_strdup_printf("read(%s) failed: %s",
					   i_stream_get_name(input),
					   i_stream_get_error(input));
		return -1;
	}
	return 0;
}

static int tresor_user_hasher_feed(void *context, const void *data,
				   size_t size)
{
	tresor_hasher_update(context, data, size);
	return 0;
}

int tresor_user_stream_hash(tresor_hasher *hasher, struct istream *input,
			    tresor_hash_result *result_r, const char **error_r)
{
	tresor_hasher_reset(hasher);
	if (tresor_user_stream_feed(input, tresor_user_hasher_feed, hasher,
				    error_r) < 0)
		return -1;
	if (tresor_hasher_finish(hasher, result_r) < 0) {
		*error_r = "hashing failed (out of memory)";
		return -1;
	}
	return 0;
}

int tresor_user_mail_hash_with(tresor_hasher *hasher, struct mail *mail,
			       tresor_hash_result *result_r, const char **error_r)
{
	struct istream *input;

	if (mail_get_stream_because(mail, NULL, NULL, "tresor hash",
				    &input) < 0) {
		*error_r = mailbox_get_last_internal_error(mail->box, NULL);
		return -1;
	}
	return tresor_user_stream_hash(hasher, input, result_r, error_r);
}

int tresor_user_mail_hash(const tresor_config *cfg, struct mail *mail,
			  bool sha256_only, tresor_hash_result *result_r,
			  const char **error_r)
{
	tresor_hasher *hasher;
	int ret;

	hasher = sha256_only ? tresor_hasher_new_sha256_only(cfg) :
		tresor_hasher_new(cfg);
	if (hasher == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	ret = tresor_user_mail_hash_with(hasher, mail, result_r, error_r);
	tresor_hasher_free(hasher);
	return ret;
}
