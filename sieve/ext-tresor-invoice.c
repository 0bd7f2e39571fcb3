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

static void ext_tresor_invoice_config_load(struct ext_tresor_invoice_context *ectx)
{
	struct sieve_instance *svinst = ectx->svinst;
	const char *const *name;
	const char *value;
	char err[512];

	ectx->config = tresor_invoice_config_new();
	if (ectx->config == NULL) {
		ectx->config_error = i_strdup("out of memory");
		e_error(svinst->event, TRESOR_INVOICE_LOG_PREFIX
			"can't create the configuration: out of memory");
		return;
	}
	/* The logger first: loading the supplier file logs its bad lines. */
	tresor_invoice_config_set_logger(ectx->config, ext_tresor_invoice_log,
					 svinst);
	for (name = tresor_invoice_setting_names(); *name != NULL; name++) {
		value = sieve_setting_get(svinst, *name);
		if (value == NULL)
			continue;
		T_BEGIN {
			value = ext_tresor_invoice_expand_home(svinst, *name,
							       value);
			err[0] = '\0';
			if (tresor_invoice_config_set(ectx->config, *name, value,
						      err, sizeof(err)) < 0) {
				if (err[0] == '\0') {
					i_snprintf(err, sizeof(err),
						   "%s: invalid value '%s'",
						   *name, value);
				}
				e_error(svinst->event,
					TRESOR_INVOICE_LOG_PREFIX "%s", err);
				if (ectx->config_error == NULL)
					ectx->config_error = i_strdup(err);
			}
		} T_END;
	}
	if (svinst->debug) {
		e_debug(svinst->event, TRESOR_INVOICE_LOG_PREFIX
			"extension loaded%s", ectx->config_error == NULL ? "" :
			" with configuration errors");
	}
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
	if (ectx->config != NULL)
		tresor_invoice_config_free(ectx->config);
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
