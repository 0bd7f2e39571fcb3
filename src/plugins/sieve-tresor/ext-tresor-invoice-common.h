/* dovecot-tresor: Sieve extension vnd.tresor.invoice (glue, C).

   The logic lives in src/core/invoice behind tresor-invoice.h; this glue only
   reads the settings, walks the message with Dovecot's MIME parser
   (src/plugins/message) and exposes the core's results to Sieve: the test
   `invoice [:einvoice]` with the variables namespace `invoice`
   (${invoice.number} ...), and the test `dmarc_report [:failing]` with the
   namespace `dmarc` (${dmarc.domain} ...). */
#ifndef EXT_TRESOR_INVOICE_COMMON_H
#define EXT_TRESOR_INVOICE_COMMON_H

#include "lib.h"

#include "sieve-common.h"
#include "sieve-extensions.h"
#include "sieve-objects.h"

#include "invoice/tresor-invoice.h"

#define TRESOR_INVOICE_EXTENSION_NAME "vnd.tresor.invoice"
#define TRESOR_INVOICE_LOG_PREFIX TRESOR_INVOICE_EXTENSION_NAME ": "

/*
 * Extension
 */

/* The extension's context (ext->context), one per Sieve instance: the
   core configuration built from the tresor_* settings when the extension
   is loaded. */
struct ext_tresor_invoice_context {
	struct sieve_instance *svinst;
	const struct sieve_extension *var_ext;

	/* shared with later instances of this process (see
	   ext_tresor_invoice_config_init()), unless config_private */
	tresor_invoice_config *config;
	bool config_private;
	/* Set when a setting was bad: every invoice test then fails the
	   script with this error (never a silent fallback). */
	char *config_error;
};

/* Builds ectx's configuration from the instance's settings, or takes the
   process's shared one when they are the same; a bad setting, or settings
   that can't be read, is logged and kept in config_error. */
void ext_tresor_invoice_config_init(struct ext_tresor_invoice_context *ectx);
/* Releases ectx's configuration (the shared one stays for the next
   instance). */
void ext_tresor_invoice_config_deinit(struct ext_tresor_invoice_context *ectx);
/* Points the core's log lines at the Sieve instance running now. */
void ext_tresor_invoice_use_logger(const struct ext_tresor_invoice_context *ectx);

extern const struct sieve_extension_def ext_tresor_invoice_extension;

/*
 * Tests `invoice` and `dmarc_report`
 */

/* Each test takes one tag (:einvoice, :failing), its optional operand code
   in compiled scripts. */
#define EXT_TRESOR_INVOICE_OPT_TAG 1

struct sieve_dumptime_env;
/* Dumps a test's operation: its mnemonic and, when set, its tag. */
bool ext_tresor_invoice_dump_tagged(const struct sieve_dumptime_env *denv,
				    sieve_size_t *address, const char *tag);
/* Reads a test's optional operands: *tag_r whether its tag was given.
   SIEVE_EXEC_OK or SIEVE_EXEC_BIN_CORRUPT. */
int ext_tresor_invoice_read_tag(const struct sieve_runtime_env *renv,
				sieve_size_t *address, bool *tag_r);

extern const struct sieve_command_def tst_invoice;
extern const struct sieve_operation_def tst_invoice_operation;
extern const struct sieve_command_def tst_dmarc_report;
extern const struct sieve_operation_def tst_dmarc_report_operation;

/*
 * Variables namespaces `invoice` and `dmarc`
 */

extern const struct sieve_operand_def ext_tresor_invoice_namespace_operand;

void ext_tresor_invoice_variables_init(const struct sieve_extension *ext,
				       struct sieve_validator *valdtr);

/* The names after "invoice." that the namespace knows, NULL-terminated,
   in the order of enum ext_tresor_invoice_field. */
enum ext_tresor_invoice_field {
	EXT_TRESOR_INVOICE_FIELD_FORMAT = 0,
	EXT_TRESOR_INVOICE_FIELD_NUMBER,
	EXT_TRESOR_INVOICE_FIELD_DATE,
	EXT_TRESOR_INVOICE_FIELD_TOTAL,
	EXT_TRESOR_INVOICE_FIELD_CURRENCY,
	EXT_TRESOR_INVOICE_FIELD_SELLER,
	EXT_TRESOR_INVOICE_FIELD_VATID,
	EXT_TRESOR_INVOICE_FIELD_IBAN,
	EXT_TRESOR_INVOICE_FIELD_SUPPLIER,
	EXT_TRESOR_INVOICE_FIELD_FOLDER,
	EXT_TRESOR_INVOICE_FIELD_VERDICT,
	EXT_TRESOR_INVOICE_FIELD_REASON,
	/* The hierarchy separator of the user's INBOX namespace ('/' or
	   '.'), set also without an invoice: "Rechnungen${invoice.separator}
	   ${invoice.folder}" names the supplier folder in every namespace. */
	EXT_TRESOR_INVOICE_FIELD_SEPARATOR,

	EXT_TRESOR_INVOICE_FIELD_COUNT
};
extern const char *const ext_tresor_invoice_field_names[];

/* The names after "dmarc.", in the order of enum ext_tresor_dmarc_field. */
enum ext_tresor_dmarc_field {
	EXT_TRESOR_DMARC_FIELD_ORG = 0,
	EXT_TRESOR_DMARC_FIELD_EMAIL,
	EXT_TRESOR_DMARC_FIELD_REPORT_ID,
	EXT_TRESOR_DMARC_FIELD_DOMAIN,
	EXT_TRESOR_DMARC_FIELD_POLICY,
	EXT_TRESOR_DMARC_FIELD_BEGIN,
	EXT_TRESOR_DMARC_FIELD_END,
	EXT_TRESOR_DMARC_FIELD_MESSAGES,
	EXT_TRESOR_DMARC_FIELD_FAILING,
	EXT_TRESOR_DMARC_FIELD_RECORDS,
	EXT_TRESOR_DMARC_FIELD_FAILING_SOURCES,

	EXT_TRESOR_DMARC_FIELD_COUNT
};
extern const char *const ext_tresor_dmarc_field_names[];

/*
 * Per-message analyses (cached in the Sieve message context)
 */

struct ext_tresor_invoice_analysis {
	bool is_invoice;
	bool is_einvoice;
	/* The `invoice` test was true for this message in this delivery:
	   only then does the namespace show the values. */
	bool filled;
	/* Copies in the message context's pool ("" where unknown). */
	const char *fields[EXT_TRESOR_INVOICE_FIELD_COUNT];
};

struct ext_tresor_dmarc_analysis {
	bool is_report;
	bool has_failing; /* the report counts messages failing DMARC */
	/* A `dmarc_report` test was true: only then does the namespace show
	   the values. */
	bool filled;
	const char *fields[EXT_TRESOR_DMARC_FIELD_COUNT];
};

/* What the message context keeps for this extension: each analysis once
   it ran. */
struct ext_tresor_invoice_message_cache {
	struct ext_tresor_invoice_analysis *invoice;
	struct ext_tresor_dmarc_analysis *dmarc;
};

/* Return SIEVE_EXEC_OK with *analysis_r (analysing the message on the
   first call, then from the cache), or a SIEVE_EXEC_* failure code after
   logging the error. */
int ext_tresor_invoice_get_analysis(const struct sieve_runtime_env *renv,
				    const struct sieve_extension *ext,
				    struct ext_tresor_invoice_analysis **analysis_r);
int ext_tresor_dmarc_get_analysis(const struct sieve_runtime_env *renv,
				  const struct sieve_extension *ext,
				  struct ext_tresor_dmarc_analysis **analysis_r);
/* The analyses that ran for the message so far (members NULL when not). */
struct ext_tresor_invoice_message_cache *
ext_tresor_invoice_get_cached(const struct sieve_runtime_env *renv,
			      const struct sieve_extension *ext);

#endif
