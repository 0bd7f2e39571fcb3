/* The tresor_* settings on Dovecot 2.3 and 2.4 (see tresor-settings.h).
   Compiled into every plugin, and on 2.4 also alone as the settings
   module (TRESOR_SETTINGS_MODULE), which the config process loads. */
#include "lib.h"
#include "tresor-dovecot-compat.h"
#include "mail-user.h"
#include "tresor-settings.h"

#if TRESOR_DOVECOT24
#include "settings.h"
#include "settings-parser.h"

/* Every setting of the archive (tresor.h), the FTS backend (tresor-fts.h)
   and the invoice test (tresor-invoice.h): reading one that is missing
   here is a bug (tresor_settings_reader_get panics). Paths expand
   %{variables}; patterns, lists and sizes are taken as written. */
struct tresor_settings {
	pool_t pool;
	const char *tresor_archive;
	const char *tresor_dir;
	const char *tresor_journal;
	const char *tresor_secret_headers;
	const char *tresor_content_headers;
	const char *tresor_duplicates;
	const char *tresor_content_duplicates;
	const char *tresor_seal_key;
	const char *tresor_seal_pubkey;
	const char *tresor_tsa_ca;
	const char *tresor_retention;
	const char *tresor_extract;
	const char *tresor_extract_timeout;
	const char *tresor_extract_memory;
	const char *tresor_fts_attachments;
	const char *tresor_fts_attachment_max_size;
	const char *tresor_fts_lock_timeout;
	const char *tresor_fts_vocabulary_from;
	const char *tresor_invoice_keywords;
	const char *tresor_suppliers;
	const char *tresor_authserv_id;
	const char *tresor_own_ibans;
	const char *tresor_invoice_budget;
};

#undef DEF
#define DEF(type, name) \
	SETTING_DEFINE_STRUCT_##type(#name, name, struct tresor_settings)
static const struct setting_define tresor_setting_defines[] = {
	DEF(STR_NOVARS, tresor_archive),
	DEF(STR, tresor_dir),
	DEF(STR_NOVARS, tresor_journal),
	DEF(STR_NOVARS, tresor_secret_headers),
	DEF(STR_NOVARS, tresor_content_headers),
	DEF(STR_NOVARS, tresor_duplicates),
	DEF(STR_NOVARS, tresor_content_duplicates),
	DEF(STR, tresor_seal_key),
	DEF(STR, tresor_seal_pubkey),
	DEF(STR, tresor_tsa_ca),
	DEF(STR_NOVARS, tresor_retention),
	DEF(STR, tresor_extract),
	DEF(STR_NOVARS, tresor_extract_timeout),
	DEF(STR_NOVARS, tresor_extract_memory),
	DEF(STR_NOVARS, tresor_fts_attachments),
	DEF(STR_NOVARS, tresor_fts_attachment_max_size),
	DEF(STR_NOVARS, tresor_fts_lock_timeout),
	DEF(STR_NOVARS, tresor_fts_vocabulary_from),
	DEF(STR_NOVARS, tresor_invoice_keywords),
	DEF(STR, tresor_suppliers),
	DEF(STR_NOVARS, tresor_authserv_id),
	DEF(STR_NOVARS, tresor_own_ibans),
	DEF(STR_NOVARS, tresor_invoice_budget),
	SETTING_DEFINE_LIST_END
};

/* "" is "not set": the core's default applies */
static const struct tresor_settings tresor_default_settings = {
	.tresor_archive = "", .tresor_dir = "", .tresor_journal = "",
	.tresor_secret_headers = "", .tresor_content_headers = "",
	.tresor_duplicates = "", .tresor_content_duplicates = "",
	.tresor_seal_key = "", .tresor_seal_pubkey = "", .tresor_tsa_ca = "",
	.tresor_retention = "", .tresor_extract = "",
	.tresor_extract_timeout = "", .tresor_extract_memory = "",
	.tresor_fts_attachments = "", .tresor_fts_attachment_max_size = "",
	.tresor_fts_lock_timeout = "", .tresor_fts_vocabulary_from = "",
	.tresor_invoice_keywords = "",
	.tresor_suppliers = "", .tresor_authserv_id = "",
	.tresor_own_ibans = "", .tresor_invoice_budget = "",
};

const struct setting_parser_info tresor_setting_parser_info = {
	.name = "tresor",
	.defines = tresor_setting_defines,
	.defaults = &tresor_default_settings,
	.struct_size = sizeof(struct tresor_settings),
	.pool_offset1 = 1 + offsetof(struct tresor_settings, pool),
};

#ifdef TRESOR_SETTINGS_MODULE
/* lib01_tresor_settings.so: Dovecot names the module "tresor_settings" */
const char *tresor_settings_version = DOVECOT_ABI_VERSION;
const struct setting_parser_info *tresor_settings_set_infos[] = {
	&tresor_setting_parser_info,
	NULL
};
#endif
#endif

#ifndef TRESOR_SETTINGS_MODULE
#if !TRESOR_DOVECOT24
static const char *tresor_settings_user_getenv(void *context, const char *name)
{
	return mail_user_plugin_getenv(context, name);
}
#endif

void tresor_settings_reader_user(struct tresor_settings_reader *reader,
				 struct mail_user *user)
{
	i_zero(reader);
	reader->event = user->event;
#if !TRESOR_DOVECOT24
	reader->getenv = tresor_settings_user_getenv;
	reader->context = user;
#endif
}

int tresor_settings_reader_init(struct tresor_settings_reader *reader,
				const char **error_r)
{
#if TRESOR_DOVECOT24
	const char *error;

	if (settings_get(reader->event, &tresor_setting_parser_info, 0,
			 &reader->set, &error) < 0) {
		*error_r = error; /* names the settings ("tresor settings: ...") */
		return -1;
	}
#else
	(void)error_r;
	i_assert(reader->getenv != NULL);
#endif
	return 0;
}

const char *tresor_settings_reader_get(const struct tresor_settings_reader *reader,
				       const char *name)
{
#if TRESOR_DOVECOT24
	const char *const *value;
	unsigned int idx;

	if (!setting_parser_info_find_key(&tresor_setting_parser_info,
					  name, &idx))
		i_panic("tresor settings: %s is not declared", name);
	value = CONST_PTR_OFFSET(reader->set,
				 tresor_setting_parser_info.defines[idx].offset);
	return (*value)[0] == '\0' ? NULL : *value;
#else
	return reader->getenv(reader->context, name);
#endif
}

void tresor_settings_reader_deinit(struct tresor_settings_reader *reader)
{
#if TRESOR_DOVECOT24
	settings_free(reader->set);
#else
	(void)reader;
#endif
}
#endif
