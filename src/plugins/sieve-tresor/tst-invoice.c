/* dovecot-tresor: the test `invoice`.

   Syntax:
     invoice [":einvoice"]

   True when the core recognises the message as an invoice (with :einvoice
   only when it carries a structured e-invoice: XRechnung UBL/CII, ZUGFeRD,
   Factur-X). When true, the variables ${invoice.*} are filled. The
   message is analysed once per delivery and never modified. */
#include "lib.h"
#include "str.h"
#include "str-sanitize.h"

#include "sieve-common.h"
#include "sieve-code.h"
#include "sieve-extensions.h"
#include "sieve-commands.h"
#include "sieve-validator.h"
#include "sieve-generator.h"
#include "sieve-interpreter.h"
#include "sieve-runtime-trace.h"
#include "sieve-dump.h"

#include "ext-tresor-invoice-common.h"

static bool tst_invoice_registered(struct sieve_validator *valdtr,
				   const struct sieve_extension *ext,
				   struct sieve_command_registration *cmd_reg);
static bool tst_invoice_generate(const struct sieve_codegen_env *cgenv,
				 struct sieve_command *cmd);

const struct sieve_command_def tst_invoice = {
	.identifier = "invoice",
	.type = SCT_TEST,
	.positional_args = 0,
	.subtests = 0,
	.block_allowed = FALSE,
	.block_required = FALSE,
	.registered = tst_invoice_registered,
	.generate = tst_invoice_generate,
};

/* Tags */

static const struct sieve_argument_def invoice_einvoice_tag = {
	.identifier = "einvoice",
};

/* Operation */

static bool tst_invoice_operation_dump(const struct sieve_dumptime_env *denv,
				       sieve_size_t *address);
static int tst_invoice_operation_execute(const struct sieve_runtime_env *renv,
					 sieve_size_t *address);

const struct sieve_operation_def tst_invoice_operation = {
	.mnemonic = "INVOICE",
	.ext_def = &ext_tresor_invoice_extension,
	.code = 0,
	.dump = tst_invoice_operation_dump,
	.execute = tst_invoice_operation_execute,
};

/*
 * Registration and code generation
 */

static bool tst_invoice_registered(struct sieve_validator *valdtr,
				   const struct sieve_extension *ext,
				   struct sieve_command_registration *cmd_reg)
{
	sieve_validator_register_tag(valdtr, cmd_reg, ext,
				     &invoice_einvoice_tag,
				     EXT_TRESOR_INVOICE_OPT_TAG);
	return TRUE;
}

static bool tst_invoice_generate(const struct sieve_codegen_env *cgenv,
				 struct sieve_command *cmd)
{
	sieve_operation_emit(cgenv->sblock, cmd->ext, &tst_invoice_operation);
	return sieve_generate_arguments(cgenv, cmd, NULL);
}

/*
 * Dump
 */

static bool tst_invoice_operation_dump(const struct sieve_dumptime_env *denv,
				       sieve_size_t *address)
{
	return ext_tresor_invoice_dump_tagged(denv, address, "einvoice");
}

/*
 * Execution
 */

static int tst_invoice_operation_execute(const struct sieve_runtime_env *renv,
					 sieve_size_t *address)
{
	const struct sieve_extension *ext = renv->oprtn->ext;
	struct ext_tresor_invoice_analysis *analysis;
	bool einvoice_only, result;
	int ret;

	ret = ext_tresor_invoice_read_tag(renv, address, &einvoice_only);
	if (ret != SIEVE_EXEC_OK)
		return ret;

	sieve_runtime_trace(renv, SIEVE_TRLVL_TESTS, "invoice test%s",
			    einvoice_only ? " (:einvoice)" : "");
	sieve_runtime_trace_descend(renv);

	ret = ext_tresor_invoice_get_analysis(renv, ext, &analysis);
	if (ret <= 0)
		return ret;

	result = einvoice_only ? analysis->is_einvoice : analysis->is_invoice;
	if (result) {
		analysis->filled = TRUE;
		sieve_runtime_trace(renv, SIEVE_TRLVL_TESTS,
			"message is an invoice: format `%s', supplier `%s', "
			"verdict `%s'",
			str_sanitize(analysis->fields[EXT_TRESOR_INVOICE_FIELD_FORMAT], 64),
			str_sanitize(analysis->fields[EXT_TRESOR_INVOICE_FIELD_SUPPLIER], 128),
			str_sanitize(analysis->fields[EXT_TRESOR_INVOICE_FIELD_VERDICT], 64));
	} else if (analysis->is_invoice) {
		sieve_runtime_trace(renv, SIEVE_TRLVL_TESTS,
			"message is an invoice, but not a structured e-invoice");
	} else {
		sieve_runtime_trace(renv, SIEVE_TRLVL_TESTS,
				    "message is not an invoice");
	}

	sieve_interpreter_set_test_result(renv->interp, result);
	return SIEVE_EXEC_OK;
}
