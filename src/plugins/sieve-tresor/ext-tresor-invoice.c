/* dovecot-tresor: Sieve extension vnd.tresor.invoice

   Syntax:
     require ["variables", "vnd.tresor.invoice"];
     invoice [":einvoice"]          (test)
     ${invoice.<field>}             (variables namespace, read-only)
     dmarc_report [":failing"]      (test)
     ${dmarc.<field>}               (variables namespace, read-only)

   The extension's context holds the core configuration
   (ext-tresor-invoice-common.c). */
#include "lib.h"

#include "sieve-common.h"
#include "sieve-extensions.h"
#include "sieve-commands.h"
#include "sieve-validator.h"
#include "sieve-interpreter.h"

#include "sieve-ext-variables.h"

#include "sieve-tresor-compat.h"
#include "ext-tresor-invoice-common.h"

static sieve_tresor_ext_load_result_t
ext_tresor_invoice_load(const struct sieve_extension *ext, void **context);
static void ext_tresor_invoice_unload(const struct sieve_extension *ext);
static bool ext_tresor_invoice_validator_load(const struct sieve_extension *ext,
					      struct sieve_validator *valdtr);

/* The codes of compiled scripts: in this order, new ones only at the end. */
static const struct sieve_operation_def *const ext_tresor_invoice_operations[] = {
	&tst_invoice_operation,
	&tst_dmarc_report_operation,
};

const struct sieve_extension_def ext_tresor_invoice_extension = {
	.name = TRESOR_INVOICE_EXTENSION_NAME,
	.version = 1,
	.load = ext_tresor_invoice_load,
	.unload = ext_tresor_invoice_unload,
	.validator_load = ext_tresor_invoice_validator_load,
	SIEVE_EXT_DEFINE_OPERATIONS(ext_tresor_invoice_operations),
	SIEVE_EXT_DEFINE_OPERAND(ext_tresor_invoice_namespace_operand),
};

/*
 * Load / unload
 */

/* A bad tresor_* setting does not fail the load: the extension stays
   usable, and every invoice test fails with the error (see config_error). */
static int ext_tresor_invoice_context_create(const struct sieve_extension *ext,
					     void **context)
{
	struct ext_tresor_invoice_context *ectx;
	const struct sieve_extension *var_ext;

	if (*context != NULL) {
		/* Pigeonhole 0.5 reloads without unloading first */
		ext_tresor_invoice_unload(ext);
		*context = NULL;
	}
	if (sieve_tresor_variables_extension(ext->svinst, &var_ext) < 0)
		return -1;

	ectx = i_new(struct ext_tresor_invoice_context, 1);
	ectx->svinst = ext->svinst;
	ectx->var_ext = var_ext;
	ext_tresor_invoice_config_init(ectx);

	*context = ectx;
	return 0;
}

static sieve_tresor_ext_load_result_t
ext_tresor_invoice_load(const struct sieve_extension *ext, void **context)
{
	return sieve_tresor_ext_load_result(
		ext_tresor_invoice_context_create(ext, context));
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
	sieve_validator_register_command(valdtr, ext, &tst_dmarc_report);
	/* ${invoice.*} and ${dmarc.*}: only meaningful with "variables", which expands
	   ${...} in strings; registering it is harmless without. */
	ext_tresor_invoice_variables_init(ext, valdtr);
	return TRUE;
}
