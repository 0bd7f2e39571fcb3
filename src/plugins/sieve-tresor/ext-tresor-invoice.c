/* dovecot-tresor: Sieve extension vnd.tresor.invoice

   Syntax:
     require ["variables", "vnd.tresor.invoice"];
     invoice [":einvoice"]          (test)
     ${invoice.<field>}             (variables namespace, read-only)

   The extension's context holds the core configuration, built once per
   Sieve instance from the plugin { } settings tresor_* (the names come from
   tresor_invoice_setting_names()). */
#include "lib.h"
#include "str.h"

#include "sieve-common.h"
#include "sieve-settings.h"
#include "sieve-extensions.h"
#include "sieve-commands.h"
#include "sieve-validator.h"
#include "sieve-interpreter.h"

#include "sieve-ext-variables.h"

#include "ext-tresor-invoice-common.h"

static bool ext_tresor_invoice_load(const struct sieve_extension *ext,
				    void **context);
static void ext_tresor_invoice_unload(const struct sieve_extension *ext);
static bool ext_tresor_invoice_validator_load(const struct sieve_extension *ext,
					      struct sieve_validator *valdtr);

const struct sieve_extension_def tresor_invoice_extension = {
	.name = TRESOR_INVOICE_EXTENSION_NAME,
	.version = 1,
	.load = ext_tresor_invoice_load,
	.unload = ext_tresor_invoice_unload,
	.validator_load = ext_tresor_invoice_validator_load,
	SIEVE_EXT_DEFINE_OPERATION(tst_invoice_operation),
	SIEVE_EXT_DEFINE_OPERAND(tresor_invoice_namespace_operand),
};

/*
 * Logging from the core
 */

static void ext_tresor_invoice_log(void *context, int level,
				   const char *message)
{
	struct sieve_instance *svinst = context;
	struct event *event = svinst->event;

	switch (level) {
	case 0:
		e_debug(event, TRESOR_INVOICE_LOG_PREFIX "%s", message);
		break;
	case 1:
		e_info(event, TRESOR_INVOICE_LOG_PREFIX "%s", message);
		break;
	case 2:
		e_warning(event, TRESOR_INVOICE_LOG_PREFIX "%s", message);
		break;
	default:
		e_error(event, TRESOR_INVOICE_LOG_PREFIX "%s", message);
		break;
	}
}

/*
 * Settings
 */

/* "~/" at the start of a path setting is the user's home (as elsewhere in
   Dovecot); the core knows nothing about users. */
static const char *
ext_tresor_invoice_expand_home(struct sieve_instance *svinst, const char *name,
			       const char *value)
{
	const char *home;

	if (strcmp(name, "tresor_suppliers") != 0 ||
	    strncmp(value, "~/", 2) != 0)
		return value;
	home = sieve_environment_get_homedir(svinst);
	if (home == NULL || *home == '\0')
		return value; /* the core refuses the relative path, by name */
	return t_strconcat(home, value + 1, NULL);
}

/* One configuration per process for as long as the settings stay the
   same: Pigeonhole makes a Sieve instance per delivery, and the supplier
   registry (with its reload-on-change check) and ICU's checkers would
   otherwise be built anew each time. The module stays resident for this
   (sieve_tresor_plugin_init()). */
static struct {
	char *settings; /* what it was made from */
	tresor_invoice_config *config;
	char *error;
	unsigned int users;
} ext_tresor_invoice_shared;

void ext_tresor_invoice_use_logger(const struct ext_tresor_invoice_context *ectx)
{
	tresor_invoice_config_set_logger(ectx->config, ext_tresor_invoice_log,
					 ectx->svinst);
}

static void ext_tresor_invoice_config_load(struct ext_tresor_invoice_context *ectx)
{
	struct sieve_instance *svinst = ectx->svinst;
	const char *const *name;
	const char *value;
	string_t *settings = t_str_new(256);
	tresor_invoice_config *config;
	char *error = NULL;
	char err[512];

	for (name = tresor_invoice_setting_names(); *name != NULL; name++) {
		value = sieve_setting_get(svinst, *name);
		if (value != NULL) {
			str_printfa(settings, "%s=%s\n", *name,
				    ext_tresor_invoice_expand_home(svinst,
								   *name, value));
		}
	}
	if (ext_tresor_invoice_shared.config != NULL &&
	    strcmp(ext_tresor_invoice_shared.settings, str_c(settings)) == 0) {
		ectx->config = ext_tresor_invoice_shared.config;
		ectx->config_error = i_strdup(ext_tresor_invoice_shared.error);
		ext_tresor_invoice_shared.users++;
		return;
	}
	config = tresor_invoice_config_new();
	if (config == NULL) {
		ectx->config_error = i_strdup("out of memory");
		e_error(svinst->event, TRESOR_INVOICE_LOG_PREFIX
			"can't create the configuration: out of memory");
		return;
	}
	/* The logger first: loading the supplier file logs its bad lines. */
	tresor_invoice_config_set_logger(config, ext_tresor_invoice_log,
					 svinst);
	for (name = tresor_invoice_setting_names(); *name != NULL; name++) {
		value = sieve_setting_get(svinst, *name);
		if (value == NULL)
			continue;
		T_BEGIN {
			value = ext_tresor_invoice_expand_home(svinst, *name,
							       value);
			err[0] = '\0';
			if (tresor_invoice_config_set(config, *name, value,
						      err, sizeof(err)) < 0) {
				if (err[0] == '\0') {
					i_snprintf(err, sizeof(err),
						   "%s: invalid value '%s'",
						   *name, value);
				}
				e_error(svinst->event,
					TRESOR_INVOICE_LOG_PREFIX "%s", err);
				if (error == NULL)
					error = i_strdup(err);
			}
		} T_END;
	}
	if (svinst->debug) {
		e_debug(svinst->event, TRESOR_INVOICE_LOG_PREFIX
			"extension loaded%s", error == NULL ? "" :
			" with configuration errors");
	}
	ectx->config = config;
	ectx->config_error = error;
	if (ext_tresor_invoice_shared.users > 0) {
		/* an instance with other settings still uses the shared one
		   (two users in one process): this one keeps its own */
		ectx->config_private = TRUE;
		return;
	}
	if (ext_tresor_invoice_shared.config != NULL)
		tresor_invoice_config_free(ext_tresor_invoice_shared.config);
	i_free(ext_tresor_invoice_shared.settings);
	i_free(ext_tresor_invoice_shared.error);
	ext_tresor_invoice_shared.settings = i_strdup(str_c(settings));
	ext_tresor_invoice_shared.config = config;
	ext_tresor_invoice_shared.error = i_strdup(error);
	ext_tresor_invoice_shared.users = 1;
}

/*
 * Load / unload
 */

static bool ext_tresor_invoice_load(const struct sieve_extension *ext,
				    void **context)
{
	struct ext_tresor_invoice_context *ectx;

	if (*context != NULL) {
		ext_tresor_invoice_unload(ext);
		*context = NULL;
	}

	ectx = i_new(struct ext_tresor_invoice_context, 1);
	ectx->svinst = ext->svinst;
	ectx->var_ext = sieve_ext_variables_get_extension(ext->svinst);
	ext_tresor_invoice_config_load(ectx);

	*context = ectx;
	return TRUE;
}

static void ext_tresor_invoice_unload(const struct sieve_extension *ext)
{
	struct ext_tresor_invoice_context *ectx = ext->context;

	if (ectx == NULL)
		return;
	if (ectx->config_private) {
		tresor_invoice_config_free(ectx->config);
	} else if (ectx->config != NULL) {
		i_assert(ectx->config == ext_tresor_invoice_shared.config);
		i_assert(ext_tresor_invoice_shared.users > 0);
		/* kept for the next instance, but no more logging through
		   this one */
		if (--ext_tresor_invoice_shared.users == 0) {
			tresor_invoice_config_set_logger(ectx->config,
							 NULL, NULL);
		}
	}
	i_free(ectx->config_error);
	i_free(ectx);
}

/*
 * Validator
 */

static bool ext_tresor_invoice_validator_load(const struct sieve_extension *ext,
					      struct sieve_validator *valdtr)
{
	sieve_validator_register_command(valdtr, ext, &tst_invoice);
	/* ${invoice.*}: only meaningful with "variables", which expands
	   ${...} in strings; registering it is harmless without. */
	ext_tresor_invoice_variables_init(ext, valdtr);
	return TRUE;
}
