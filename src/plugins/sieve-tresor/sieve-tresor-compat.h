/* dovecot-tresor: what differs between Pigeonhole 0.5 (Dovecot 2.3) and
   Pigeonhole 2.4 in the calls the Sieve glue makes, so that the glue's
   logic has no version checks. Every wrapper reports failure as -1, as
   Pigeonhole 2.4 does. Pigeonhole 2.4 only builds against Dovecot 2.4, so
   TRESOR_DOVECOT24 tells the two apart. */
#ifndef SIEVE_TRESOR_COMPAT_H
#define SIEVE_TRESOR_COMPAT_H

#include "lib.h"
#include "tresor-dovecot-compat.h"

#include "sieve-common.h"
#include "sieve-extensions.h"
#include "sieve-settings.h"
#include "sieve-ext-variables.h"

#include "tresor-settings.h"

#if TRESOR_DOVECOT24
/* sieve_extension_def.load: 0, or -1 when the extension can't be used */
typedef int sieve_tresor_ext_load_result_t;
#  define sieve_tresor_ext_load_result(ret) (ret)
/* <plugin>_load: -1 fails the Sieve instance */
typedef int sieve_tresor_plugin_load_result_t;

static inline int
sieve_tresor_extension_register(struct sieve_instance *svinst,
				const struct sieve_extension_def *def,
				const struct sieve_extension **ext_r)
{
	return sieve_extension_register(svinst, def, FALSE, ext_r);
}

static inline int
sieve_tresor_variables_extension(struct sieve_instance *svinst,
				 const struct sieve_extension **ext_r)
{
	return sieve_ext_variables_get_extension(svinst, ext_r);
}

/* The tresor_* settings are Dovecot settings, filtered by the instance's
   event (user, protocol). */
static inline void
sieve_tresor_settings_reader(struct tresor_settings_reader *reader,
			     struct sieve_instance *svinst)
{
	i_zero(reader);
	reader->event = svinst->event;
}
#else
/* sieve_extension_def.load: TRUE when the extension can be used */
typedef bool sieve_tresor_ext_load_result_t;
#  define sieve_tresor_ext_load_result(ret) ((ret) == 0)
/* <plugin>_load: no way to report a failure */
typedef void sieve_tresor_plugin_load_result_t;

static inline int
sieve_tresor_extension_register(struct sieve_instance *svinst,
				const struct sieve_extension_def *def,
				const struct sieve_extension **ext_r)
{
	*ext_r = sieve_extension_register(svinst, def, FALSE);
	return *ext_r == NULL ? -1 : 0;
}

static inline int
sieve_tresor_variables_extension(struct sieve_instance *svinst,
				 const struct sieve_extension **ext_r)
{
	*ext_r = sieve_ext_variables_get_extension(svinst);
	return *ext_r == NULL ? -1 : 0;
}

/* The tresor_* settings are in plugin { }, which the Sieve instance hands
   out one by one (NULL when not set). */
static inline const char *
sieve_tresor_setting_getenv(void *context, const char *name)
{
	return sieve_setting_get(context, name);
}

static inline void
sieve_tresor_settings_reader(struct tresor_settings_reader *reader,
			     struct sieve_instance *svinst)
{
	i_zero(reader);
	reader->event = svinst->event;
	reader->getenv = sieve_tresor_setting_getenv;
	reader->context = svinst;
}
#endif

#endif
