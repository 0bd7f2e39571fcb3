/* dovecot-tresor: the test `dmarc_report`.

   Syntax:
     dmarc_report [":failing"]

   True when an attachment of the message is a DMARC aggregate report
   (RFC 7489 appendix C: XML, gzip'd or zipped; read by the tresor-extract
   helper), with :failing only when the report counts messages that failed
   DMARC. When true, the variables ${dmarc.*} are filled. The message is
   analysed once per delivery and never modified. */
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

static bool tst_dmarc_report_registered(struct sieve_validator *valdtr,
					const struct sieve_extension *ext,
					struct sieve_command_registration *cmd_reg);
static bool tst_dmarc_report_generate(const struct sieve_codegen_env *cgenv,
				      struct sieve_command *cmd);

const struct sieve_command_def tst_dmarc_report = {
	.identifier = "dmarc_report",
	.type = SCT_TEST,
	.positional_args = 0,
	.subtests = 0,
	.block_allowed = FALSE,
	.block_required = FALSE,
	.registered = tst_dmarc_report_registered,
	.generate = tst_dmarc_report_generate,
};

/* Tags */

static const struct sieve_argument_def dmarc_report_failing_tag = {
	.identifier = "failing",
};

/* Operation */

static bool tst_dmarc_report_operation_dump(const struct sieve_dumptime_env *denv,
					    sieve_size_t *address);
static int tst_dmarc_report_operation_execute(const struct sieve_runtime_env *renv,
					      sieve_size_t *address);

const struct sieve_operation_def tst_dmarc_report_operation = {
	.mnemonic = "DMARC_REPORT",
	.ext_def = &ext_tresor_invoice_extension,
	.code = 1,
	.dump = tst_dmarc_report_operation_dump,
	.execute = tst_dmarc_report_operation_execute,
};

/*
 * Registration and code generation
 */

static bool tst_dmarc_report_registered(struct sieve_validator *valdtr,
					const struct sieve_extension *ext,
					struct sieve_command_registration *cmd_reg)
{
	sieve_validator_register_tag(valdtr, cmd_reg, ext,
				     &dmarc_report_failing_tag,
				     EXT_TRESOR_INVOICE_OPT_TAG);
	return TRUE;
}

static bool tst_dmarc_report_generate(const struct sieve_codegen_env *cgenv,
				      struct sieve_command *cmd)
{
	sieve_operation_emit(cgenv->sblock, cmd->ext, &tst_dmarc_report_operation);
	return sieve_generate_arguments(cgenv, cmd, NULL);
}

/*
 * Dump
 */

static bool tst_dmarc_report_operation_dump(const struct sieve_dumptime_env *denv,
					    sieve_size_t *address)
{
	return ext_tresor_invoice_dump_tagged(denv, address, "failing");
}

/*
 * Execution
 */

static int tst_dmarc_report_operation_execute(const struct sieve_runtime_env *renv,
					      sieve_size_t *address)
{
	const struct sieve_extension *ext = renv->oprtn->ext;
	struct ext_tresor_dmarc_analysis *analysis;
	bool failing_only, result;
	int ret;

	ret = ext_tresor_invoice_read_tag(renv, address, &failing_only);
	if (ret != SIEVE_EXEC_OK)
		return ret;

	sieve_runtime_trace(renv, SIEVE_TRLVL_TESTS, "dmarc_report test%s",
			    failing_only ? " (:failing)" : "");
	sieve_runtime_trace_descend(renv);

	ret = ext_tresor_dmarc_get_analysis(renv, ext, &analysis);
	if (ret <= 0)
		return ret;

	result = failing_only ? analysis->has_failing : analysis->is_report;
	if (result) {
		analysis->filled = TRUE;
		sieve_runtime_trace(renv, SIEVE_TRLVL_TESTS,
			"DMARC report of `%s' on `%s': %s messages, %s failing",
			str_sanitize(analysis->fields[EXT_TRESOR_DMARC_FIELD_ORG], 80),
			str_sanitize(analysis->fields[EXT_TRESOR_DMARC_FIELD_DOMAIN], 80),
			analysis->fields[EXT_TRESOR_DMARC_FIELD_MESSAGES],
			analysis->fields[EXT_TRESOR_DMARC_FIELD_FAILING]);
	} else if (analysis->is_report) {
		sieve_runtime_trace(renv, SIEVE_TRLVL_TESTS,
			"DMARC report without failing messages");
	} else {
		sieve_runtime_trace(renv, SIEVE_TRLVL_TESTS,
				    "message carries no DMARC report");
	}

	sieve_interpreter_set_test_result(renv->interp, result);
	return SIEVE_EXEC_OK;
}
