/* dovecot-tresor: Sieve extension vnd.tresor.invoice

   Syntax:
     require ["variables", "vnd.tresor.invoice"];
     invoice [":einvoice"]          (test)
     ${invoice.<field>}             (variables namespace, read-only)

   The extension's context holds the core configuration
   (ext-tresor-invoice-common.c). */
#include "lib.h"

#include "sieve-common.h"
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

const struct sieve_extension_def ext_tresor_invoice_extension = {
	.name = TRESOR_INVOICE_EXTENSION_NAME,
	.version = 1,
	.load = ext_tresor_invoice_load,
	.unload = ext_tresor_invoice_unload,
	.validator_load = ext_tresor_invoice_validator_load,
	SIEVE_EXT_DEFINE_OPERATION(tst_invoice_operation),
	SIEVE_EXT_DEFINE_OPERAND(ext_tresor_invoice_namespace_operand),
};

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
	ext_tresor_invoice_config_init(ectx);

	*context = ectx;
	return TRUE;
}

static void ext_tresor_invoice_unload(const struct sieve_extension *ext)
{
	struct ext_tresor_invoice_context *ectx = ext->context;

	if (ectx == NULL)
		return;
	ext_tresor_invoice_config_deinit(ectx);
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
