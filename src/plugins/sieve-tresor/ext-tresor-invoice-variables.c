/* dovecot-tresor: the read-only variables namespaces `invoice` and
   `dmarc`.

   ${invoice.format}, ${invoice.number}, ... hold what the `invoice` test
   found, ${dmarc.domain}, ${dmarc.failing}, ... what the `dmarc_report`
   test found; they are empty until such a test was true for the message,
   and wherever the core knows nothing. An unknown name or an assignment
   (set "invoice.number" ...) is a compile error. */
#include "lib.h"
#include "str.h"
#include "array.h"
#include "str-sanitize.h"
#include "mail-namespace.h"

#include "sieve-common.h"
#include "sieve-ast.h"
#include "sieve-binary.h"
#include "sieve-code.h"
#include "sieve-commands.h"
#include "sieve-validator.h"
#include "sieve-generator.h"
#include "sieve-interpreter.h"
#include "sieve-runtime.h"
#include "sieve-execute.h"
#include "sieve-dump.h"

#include "sieve-ext-variables.h"

#include "ext-tresor-invoice-common.h"

const char *const ext_tresor_invoice_field_names[] = {
	[EXT_TRESOR_INVOICE_FIELD_FORMAT] = "format",
	[EXT_TRESOR_INVOICE_FIELD_NUMBER] = "number",
	[EXT_TRESOR_INVOICE_FIELD_DATE] = "date",
	[EXT_TRESOR_INVOICE_FIELD_TOTAL] = "total",
	[EXT_TRESOR_INVOICE_FIELD_CURRENCY] = "currency",
	[EXT_TRESOR_INVOICE_FIELD_SELLER] = "seller",
	[EXT_TRESOR_INVOICE_FIELD_VATID] = "vatid",
	[EXT_TRESOR_INVOICE_FIELD_IBAN] = "iban",
	[EXT_TRESOR_INVOICE_FIELD_SUPPLIER] = "supplier",
	[EXT_TRESOR_INVOICE_FIELD_FOLDER] = "folder",
	[EXT_TRESOR_INVOICE_FIELD_VERDICT] = "verdict",
	[EXT_TRESOR_INVOICE_FIELD_REASON] = "reason",
	[EXT_TRESOR_INVOICE_FIELD_SEPARATOR] = "separator",
	[EXT_TRESOR_INVOICE_FIELD_COUNT] = NULL
};

const char *const ext_tresor_dmarc_field_names[] = {
	[EXT_TRESOR_DMARC_FIELD_ORG] = "org",
	[EXT_TRESOR_DMARC_FIELD_EMAIL] = "email",
	[EXT_TRESOR_DMARC_FIELD_REPORT_ID] = "report_id",
	[EXT_TRESOR_DMARC_FIELD_DOMAIN] = "domain",
	[EXT_TRESOR_DMARC_FIELD_POLICY] = "policy",
	[EXT_TRESOR_DMARC_FIELD_BEGIN] = "begin",
	[EXT_TRESOR_DMARC_FIELD_END] = "end",
	[EXT_TRESOR_DMARC_FIELD_MESSAGES] = "messages",
	[EXT_TRESOR_DMARC_FIELD_FAILING] = "failing",
	[EXT_TRESOR_DMARC_FIELD_RECORDS] = "records",
	[EXT_TRESOR_DMARC_FIELD_FAILING_SOURCES] = "failing_sources",
	[EXT_TRESOR_DMARC_FIELD_COUNT] = NULL
};

/* What differs between the two namespaces. */
struct ext_tresor_namespace_fields {
	const char *const *names; /* NULL-terminated */
	const char *list;         /* for error messages */
};

static const struct ext_tresor_namespace_fields ext_tresor_invoice_fields = {
	ext_tresor_invoice_field_names,
	"format, number, date, total, currency, seller, vatid, iban, "
	"supplier, folder, verdict, reason, separator",
};

static const struct ext_tresor_namespace_fields ext_tresor_dmarc_fields = {
	ext_tresor_dmarc_field_names,
	"org, email, report_id, domain, policy, begin, end, messages, "
	"failing, records, failing_sources",
};

static int
ext_tresor_namespace_field_lookup(const struct ext_tresor_namespace_fields *fields,
				  const char *name)
{
	unsigned int i;

	/* Variable names are case-insensitive (RFC 5229 2.1). */
	for (i = 0; fields->names[i] != NULL; i++) {
		if (strcasecmp(fields->names[i], name) == 0)
			return (int)i;
	}
	return -1;
}

static bool
ext_tresor_invoice_namespace_validate(struct sieve_validator *valdtr,
				      const struct sieve_variables_namespace *nspc,
				      struct sieve_ast_argument *arg,
				      struct sieve_command *cmd,
				      ARRAY_TYPE(sieve_variable_name) *var_name,
				      void **var_data, bool assignment);
static bool
ext_tresor_invoice_namespace_generate(const struct sieve_codegen_env *cgenv,
				      const struct sieve_variables_namespace *nspc,
				      struct sieve_ast_argument *arg,
				      struct sieve_command *cmd, void *var_data);
static bool
ext_tresor_invoice_namespace_dump_variable(const struct sieve_dumptime_env *denv,
					   const struct sieve_variables_namespace *nspc,
					   const struct sieve_operand *oprnd,
					   sieve_size_t *address);
static int
ext_tresor_invoice_namespace_read_variable(const struct sieve_runtime_env *renv,
					   const struct sieve_variables_namespace *nspc,
					   const struct sieve_operand *oprnd,
					   sieve_size_t *address, string_t **str_r);

static const struct sieve_variables_namespace_def tresor_invoice_namespace = {
	SIEVE_OBJECT("invoice", &ext_tresor_invoice_namespace_operand, 0),
	.validate = ext_tresor_invoice_namespace_validate,
	.generate = ext_tresor_invoice_namespace_generate,
	.dump_variable = ext_tresor_invoice_namespace_dump_variable,
	.read_variable = ext_tresor_invoice_namespace_read_variable,
};

static const struct sieve_variables_namespace_def tresor_dmarc_namespace = {
	SIEVE_OBJECT("dmarc", &ext_tresor_invoice_namespace_operand, 1),
	.validate = ext_tresor_invoice_namespace_validate,
	.generate = ext_tresor_invoice_namespace_generate,
	.dump_variable = ext_tresor_invoice_namespace_dump_variable,
	.read_variable = ext_tresor_invoice_namespace_read_variable,
};

/* The codes of compiled scripts: in this order, new ones only at the end. */
static const struct sieve_variables_namespace_def *const tresor_namespace_defs[] = {
	&tresor_invoice_namespace,
	&tresor_dmarc_namespace,
};

static const struct sieve_extension_objects tresor_invoice_namespaces =
	SIEVE_VARIABLES_DEFINE_NAMESPACES(tresor_namespace_defs);

static const struct ext_tresor_namespace_fields *
ext_tresor_namespace_fields_of(const struct sieve_variables_namespace *nspc)
{
	return nspc->def == &tresor_dmarc_namespace ?
		&ext_tresor_dmarc_fields : &ext_tresor_invoice_fields;
}

const struct sieve_operand_def ext_tresor_invoice_namespace_operand = {
	.name = "invoice-namespace",
	.ext_def = &ext_tresor_invoice_extension,
	.class = &sieve_variables_namespace_operand_class,
	.interface = &tresor_invoice_namespaces,
};

void ext_tresor_invoice_variables_init(const struct sieve_extension *ext,
				       struct sieve_validator *valdtr)
{
	const struct ext_tresor_invoice_context *ectx = ext->context;

	sieve_variables_namespace_register(ectx->var_ext, valdtr, ext,
					   &tresor_invoice_namespace);
	sieve_variables_namespace_register(ectx->var_ext, valdtr, ext,
					   &tresor_dmarc_namespace);
}

/*
 * Compile time
 */

static bool
ext_tresor_invoice_namespace_validate(struct sieve_validator *valdtr,
				      const struct sieve_variables_namespace *nspc,
				      struct sieve_ast_argument *arg,
				      struct sieve_command *cmd ATTR_UNUSED,
				      ARRAY_TYPE(sieve_variable_name) *var_name,
				      void **var_data, bool assignment)
{
	const struct ext_tresor_namespace_fields *fields =
		ext_tresor_namespace_fields_of(nspc);
	const char *ns_name = nspc->def->obj_def.identifier;
	const struct sieve_variable_name *elems;
	unsigned int count;
	const char *field;
	int idx;

	elems = array_get(var_name, &count);
	i_assert(count >= 1);
	field = count == 2 && elems[1].num_variable < 0 ?
		str_c(elems[1].identifier) : NULL;
	idx = field == NULL ? -1 :
		ext_tresor_namespace_field_lookup(fields, field);

	if (assignment) {
		sieve_argument_validate_error(valdtr, arg,
			TRESOR_INVOICE_EXTENSION_NAME ": cannot assign to "
			"`%s.%s': the %s variables are read-only", ns_name,
			field == NULL ? "..." : str_sanitize(field, 64),
			ns_name);
		return FALSE;
	}
	if (idx < 0) {
		if (field == NULL) {
			sieve_argument_validate_error(valdtr, arg,
				TRESOR_INVOICE_EXTENSION_NAME ": invalid "
				"variable name in the %s namespace: use "
				"${%s.<name>} with one of %s", ns_name,
				ns_name, fields->list);
		} else {
			sieve_argument_validate_error(valdtr, arg,
				TRESOR_INVOICE_EXTENSION_NAME ": unknown "
				"variable `%s.%s' (known: %s)", ns_name,
				str_sanitize(field, 64), fields->list);
		}
		/* Pigeonhole drops the reference from the string (it then
		   reads as empty) and reports the error; whether the
		   script is still accepted is Pigeonhole's decision. */
		return FALSE;
	}
	/* The canonical (lowercase) name goes into the binary. */
	*var_data = (void *)fields->names[idx];
	return TRUE;
}

static bool
ext_tresor_invoice_namespace_generate(const struct sieve_codegen_env *cgenv,
				      const struct sieve_variables_namespace *nspc,
				      struct sieve_ast_argument *arg ATTR_UNUSED,
				      struct sieve_command *cmd ATTR_UNUSED,
				      void *var_data)
{
	const struct sieve_extension *this_ext = SIEVE_OBJECT_EXTENSION(nspc);
	const struct ext_tresor_invoice_context *ectx;

	if (this_ext == NULL || this_ext->context == NULL || var_data == NULL)
		return FALSE;
	ectx = this_ext->context;

	sieve_variables_opr_namespace_variable_emit(
		cgenv->sblock, ectx->var_ext, this_ext, nspc->def);
	/* By name, not by index: compiled binaries are cached on disk and
	   must stay valid when fields are added. */
	sieve_binary_emit_cstring(cgenv->sblock, (const char *)var_data);
	return TRUE;
}

/*
 * Dump time
 */

static bool
ext_tresor_invoice_namespace_dump_variable(const struct sieve_dumptime_env *denv,
					   const struct sieve_variables_namespace *nspc,
					   const struct sieve_operand *oprnd,
					   sieve_size_t *address)
{
	string_t *name;

	if (!sieve_binary_read_string(denv->sblock, address, &name))
		return FALSE;
	if (oprnd->field_name != NULL) {
		sieve_code_dumpf(denv, "%s: VAR ${%s.%s}", oprnd->field_name,
				 nspc->def->obj_def.identifier, str_c(name));
	} else {
		sieve_code_dumpf(denv, "VAR ${%s.%s}",
				 nspc->def->obj_def.identifier, str_c(name));
	}
	return TRUE;
}

/*
 * Run time
 */

/* The hierarchy separator of the user's INBOX namespace, '/' when there
   is no user (a script checked without one). */
static char ext_tresor_invoice_separator(const struct sieve_runtime_env *renv)
{
	const struct sieve_script_env *senv = renv->exec_env->scriptenv;
	struct mail_namespace *ns;

	if (senv == NULL || senv->user == NULL ||
	    (ns = mail_namespace_find_inbox(senv->user->namespaces)) == NULL)
		return '/';
	return mail_namespace_get_sep(ns);
}

/* A supplier folder is written with '/' between its levels in the
   supplier file; Sieve names folders with the namespace's separator. A
   separator character within a level ("Co. KG" where it is '.') would
   split the level and becomes '_'. */
static const char *
ext_tresor_invoice_folder_with_separator(const char *folder, char sep)
{
	char *copy, *p;

	if (sep == '/' || (strchr(folder, '/') == NULL &&
			   strchr(folder, sep) == NULL))
		return folder;
	copy = t_strdup_noconst(folder);
	for (p = copy; *p != '\0'; p++) {
		if (*p == sep)
			*p = '_';
		else if (*p == '/')
			*p = sep;
	}
	return copy;
}

static int
ext_tresor_invoice_namespace_read_variable(const struct sieve_runtime_env *renv,
					   const struct sieve_variables_namespace *nspc,
					   const struct sieve_operand *oprnd,
					   sieve_size_t *address, string_t **str_r)
{
	const struct sieve_extension *this_ext = SIEVE_OBJECT_EXTENSION(nspc);
	const struct ext_tresor_namespace_fields *fields =
		ext_tresor_namespace_fields_of(nspc);
	const struct ext_tresor_invoice_message_cache *cache;
	const struct ext_tresor_invoice_analysis *invoice = NULL;
	const struct ext_tresor_dmarc_analysis *dmarc = NULL;
	string_t *name;
	const char *value = "";
	int idx;

	if (!sieve_binary_read_string(renv->sblock, address, &name)) {
		sieve_runtime_trace_operand_error(renv, oprnd,
			"%s variable operand corrupt: invalid name",
			nspc->def->obj_def.identifier);
		return SIEVE_EXEC_BIN_CORRUPT;
	}
	if (str_r == NULL)
		return SIEVE_EXEC_OK;

	idx = ext_tresor_namespace_field_lookup(fields, str_c(name));
	if (idx < 0) {
		/* written by a newer version of this extension */
		sieve_runtime_trace_operand_error(renv, oprnd,
			"unknown %s variable `%s'",
			nspc->def->obj_def.identifier,
			str_sanitize(str_c(name), 64));
		return SIEVE_EXEC_BIN_CORRUPT;
	}
	cache = this_ext == NULL ? NULL :
		ext_tresor_invoice_get_cached(renv, this_ext);
	if (cache != NULL) {
		invoice = cache->invoice;
		dmarc = cache->dmarc;
	}
	if (fields == &ext_tresor_dmarc_fields) {
		if (dmarc != NULL && dmarc->filled)
			value = dmarc->fields[idx];
	} else if (idx == EXT_TRESOR_INVOICE_FIELD_SEPARATOR) {
		value = t_strdup_printf("%c",
					ext_tresor_invoice_separator(renv));
	} else if (invoice != NULL && invoice->filled &&
		   invoice->fields[idx] != NULL) {
		value = invoice->fields[idx];
		if (idx == EXT_TRESOR_INVOICE_FIELD_FOLDER) {
			value = ext_tresor_invoice_folder_with_separator(value,
				ext_tresor_invoice_separator(renv));
		}
	}
	*str_r = t_str_new_const(value, strlen(value));
	return SIEVE_EXEC_OK;
}
