/* dovecot-tresor: the read-only variables namespace `invoice`.

   ${invoice.format}, ${invoice.number}, ... hold what the `invoice` test
   found; they are empty until an `invoice` test was true for the message,
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

#define EXT_TRESOR_INVOICE_FIELD_LIST \
	"format, number, date, total, currency, seller, vatid, iban, " \
	"supplier, folder, verdict, reason, separator"

int ext_tresor_invoice_field_lookup(const char *name)
{
	unsigned int i;

	/* Variable names are case-insensitive (RFC 5229 2.1). */
	for (i = 0; i < EXT_TRESOR_INVOICE_FIELD_COUNT; i++) {
		if (strcasecmp(ext_tresor_invoice_field_names[i], name) == 0)
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

static const struct sieve_extension_objects tresor_invoice_namespaces =
	SIEVE_VARIABLES_DEFINE_NAMESPACE(tresor_invoice_namespace);

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
}

/*
 * Compile time
 */

static bool
ext_tresor_invoice_namespace_validate(struct sieve_validator *valdtr,
				      const struct sieve_variables_namespace *nspc ATTR_UNUSED,
				      struct sieve_ast_argument *arg,
				      struct sieve_command *cmd ATTR_UNUSED,
				      ARRAY_TYPE(sieve_variable_name) *var_name,
				      void **var_data, bool assignment)
{
	const struct sieve_variable_name *elems;
	unsigned int count;
	const char *field;
	int idx;

	elems = array_get(var_name, &count);
	i_assert(count >= 1);
	field = count == 2 && elems[1].num_variable < 0 ?
		str_c(elems[1].identifier) : NULL;
	idx = field == NULL ? -1 : ext_tresor_invoice_field_lookup(field);

	if (assignment) {
		sieve_argument_validate_error(valdtr, arg,
			TRESOR_INVOICE_EXTENSION_NAME ": cannot assign to "
			"`invoice.%s': the invoice variables are read-only",
			field == NULL ? "..." : str_sanitize(field, 64));
		return FALSE;
	}
	if (idx < 0) {
		if (field == NULL) {
			sieve_argument_validate_error(valdtr, arg,
				TRESOR_INVOICE_EXTENSION_NAME ": invalid "
				"variable name in the invoice namespace: use "
				"${invoice.<name>} with one of %s",
				EXT_TRESOR_INVOICE_FIELD_LIST);
		} else {
			sieve_argument_validate_error(valdtr, arg,
				TRESOR_INVOICE_EXTENSION_NAME ": unknown "
				"variable `invoice.%s' (known: %s)",
				str_sanitize(field, 64),
				EXT_TRESOR_INVOICE_FIELD_LIST);
		}
		/* Pigeonhole drops the reference from the string (it then
		   reads as empty) and reports the error; whether the
		   script is still accepted is Pigeonhole's decision. */
		return FALSE;
	}
	/* The canonical (lowercase) name goes into the binary. */
	*var_data = (void *)ext_tresor_invoice_field_names[idx];
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
		cgenv->sblock, ectx->var_ext, this_ext,
		&tresor_invoice_namespace);
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
					   const struct sieve_variables_namespace *nspc ATTR_UNUSED,
					   const struct sieve_operand *oprnd,
					   sieve_size_t *address)
{
	string_t *name;

	if (!sieve_binary_read_string(denv->sblock, address, &name))
		return FALSE;
	if (oprnd->field_name != NULL) {
		sieve_code_dumpf(denv, "%s: VAR ${invoice.%s}",
				 oprnd->field_name, str_c(name));
	} else {
		sieve_code_dumpf(denv, "VAR ${invoice.%s}", str_c(name));
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
	const struct ext_tresor_invoice_analysis *analysis;
	string_t *name;
	const char *value = "";
	int idx;

	if (!sieve_binary_read_string(renv->sblock, address, &name)) {
		sieve_runtime_trace_operand_error(renv, oprnd,
			"invoice variable operand corrupt: invalid name");
		return SIEVE_EXEC_BIN_CORRUPT;
	}
	if (str_r == NULL)
		return SIEVE_EXEC_OK;

	idx = ext_tresor_invoice_field_lookup(str_c(name));
	if (idx < 0) {
		/* written by a newer version of this extension */
		sieve_runtime_trace_operand_error(renv, oprnd,
			"unknown invoice variable `%s'",
			str_sanitize(str_c(name), 64));
		return SIEVE_EXEC_BIN_CORRUPT;
	}
	analysis = this_ext == NULL ? NULL :
		ext_tresor_invoice_get_cached(renv, this_ext);
	if (idx == EXT_TRESOR_INVOICE_FIELD_SEPARATOR) {
		value = t_strdup_printf("%c",
					ext_tresor_invoice_separator(renv));
	} else if (analysis != NULL && analysis->filled &&
		   analysis->fields[idx] != NULL) {
		value = analysis->fields[idx];
		if (idx == EXT_TRESOR_INVOICE_FIELD_FOLDER) {
			value = ext_tresor_invoice_folder_with_separator(value,
				ext_tresor_invoice_separator(renv));
		}
	}
	*str_r = t_str_new_const(value, strlen(value));
	return SIEVE_EXEC_OK;
}
