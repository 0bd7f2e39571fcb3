/* dovecot-tresor: what the parts of vnd.tresor.invoice share - the core
   configuration built from the settings tresor_* (the names come from
   tresor_invoice_setting_names(); tresor-settings.h reads them where
   Dovecot 2.3 or 2.4 keeps them), the logger that routes the core's log
   lines to the running Sieve instance, and the per-message analysis (run
   once, cached in the Sieve message context). */
#include "lib.h"
#include "str.h"
#include "str-sanitize.h"
#include "istream.h"
#include "mail-storage.h"
#include "mail-storage-service.h"
#include "module-dir.h"

#include "sieve-common.h"
#include "sieve-settings.h"
#include "sieve-message.h"
#include "sieve-interpreter.h"
#include "sieve-runtime.h"
#include "sieve-runtime-trace.h"
#include "sieve-code.h"
#include "sieve-dump.h"

#include "sieve-tresor-compat.h"
#include "ext-tresor-invoice-common.h"
#include "tresor-invoice-note.h"
#include "tresor-message.h"

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
   otherwise be built anew each time. This needs the module to stay
   resident: sieve_tresor_plugin_load() pins it (docs/reliability.md). */
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

/* The instance's invoice settings as "name=value" lines (home expanded):
   what the shared configuration was made from. */
static const char *
ext_tresor_invoice_settings_string(struct sieve_instance *svinst,
				   const struct tresor_settings_reader *reader)
{
	const char *const *name;
	const char *value;
	string_t *settings = t_str_new(256);

	for (name = tresor_invoice_setting_names(); *name != NULL; name++) {
		value = tresor_settings_reader_get(reader, *name);
		if (value != NULL) {
			str_printfa(settings, "%s=%s\n", *name,
				    ext_tresor_invoice_expand_home(svinst,
								   *name, value));
		}
	}
	return str_c(settings);
}

/* Hands one setting to the core; a bad value is logged and, when it is
   the first, kept in *first_error. */
static void
ext_tresor_invoice_config_set(struct sieve_instance *svinst,
			      tresor_invoice_config *config, const char *name,
			      const char *value, char **first_error)
{
	char err[512];

	value = ext_tresor_invoice_expand_home(svinst, name, value);
	err[0] = '\0';
	if (tresor_invoice_config_set(config, name, value,
				      err, sizeof(err)) == 0)
		return;
	if (err[0] == '\0')
		i_snprintf(err, sizeof(err), "%s: invalid value '%s'", name, value);
	e_error(svinst->event, TRESOR_INVOICE_LOG_PREFIX "%s", err);
	if (*first_error == NULL)
		*first_error = i_strdup(err);
}

/* A new core configuration from the settings; NULL when out of memory.
   *error_r is the first bad setting, or NULL. */
static tresor_invoice_config *
ext_tresor_invoice_config_create(struct sieve_instance *svinst,
				 const struct tresor_settings_reader *reader,
				 char **error_r)
{
	const char *const *name;
	const char *value;
	tresor_invoice_config *config;

	*error_r = NULL;
	config = tresor_invoice_config_new();
	if (config == NULL) {
		*error_r = i_strdup("out of memory");
		e_error(svinst->event, TRESOR_INVOICE_LOG_PREFIX
			"can't create the configuration: out of memory");
		return NULL;
	}
	/* The logger first: loading the supplier file logs its bad lines. */
	tresor_invoice_config_set_logger(config, ext_tresor_invoice_log,
					 svinst);
	for (name = tresor_invoice_setting_names(); *name != NULL; name++) {
		value = tresor_settings_reader_get(reader, *name);
		if (value == NULL)
			continue;
		T_BEGIN {
			ext_tresor_invoice_config_set(svinst, config, *name,
						      value, error_r);
		} T_END;
	}
	if (svinst->debug) {
		e_debug(svinst->event, TRESOR_INVOICE_LOG_PREFIX
			"extension loaded%s", *error_r == NULL ? "" :
			" with configuration errors");
	}
	return config;
}

/* Gives ectx the configuration made from settings: the process's shared
   one when it was made from the same settings, else a new one, which
   becomes the shared one unless another instance still uses that. */
static void ext_tresor_invoice_config_share_or_create(
	struct ext_tresor_invoice_context *ectx,
	const struct tresor_settings_reader *reader, const char *settings)
{
	tresor_invoice_config *config;
	char *error;

	if (ext_tresor_invoice_shared.config != NULL &&
	    strcmp(ext_tresor_invoice_shared.settings, settings) == 0) {
		ectx->config = ext_tresor_invoice_shared.config;
		ectx->config_error = i_strdup(ext_tresor_invoice_shared.error);
		ext_tresor_invoice_shared.users++;
		return;
	}
	config = ext_tresor_invoice_config_create(ectx->svinst, reader, &error);
	ectx->config = config;
	ectx->config_error = error;
	if (config == NULL)
		return;
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
	ext_tresor_invoice_shared.settings = i_strdup(settings);
	ext_tresor_invoice_shared.config = config;
	ext_tresor_invoice_shared.error = i_strdup(error);
	ext_tresor_invoice_shared.users = 1;
}

void ext_tresor_invoice_config_init(struct ext_tresor_invoice_context *ectx)
{
	struct sieve_instance *svinst = ectx->svinst;
	struct tresor_settings_reader reader;
	const char *error;

	sieve_tresor_settings_reader(&reader, svinst);
	if (tresor_settings_reader_init(&reader, &error) < 0) {
		/* as with a bad value: every invoice test fails with it */
		e_error(svinst->event, TRESOR_INVOICE_LOG_PREFIX "%s", error);
		ectx->config_error = i_strdup(error);
		return;
	}
	T_BEGIN {
		ext_tresor_invoice_config_share_or_create(ectx, &reader,
			ext_tresor_invoice_settings_string(svinst, &reader));
	} T_END;
	tresor_settings_reader_deinit(&reader);
}

void ext_tresor_invoice_config_deinit(struct ext_tresor_invoice_context *ectx)
{
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
}

/*
 * The tests' one tag
 */

bool ext_tresor_invoice_dump_tagged(const struct sieve_dumptime_env *denv,
				    sieve_size_t *address, const char *tag)
{
	int opt_code = 0;
	int opt;

	sieve_code_dumpf(denv, "%s", denv->oprtn->def->mnemonic);
	sieve_code_descend(denv);

	for (;;) {
		if ((opt = sieve_opr_optional_dump(denv, address,
						   &opt_code)) < 0)
			return FALSE;
		if (opt == 0)
			break;
		if (opt_code != EXT_TRESOR_INVOICE_OPT_TAG)
			return FALSE;
		sieve_code_dumpf(denv, "%s", tag);
	}
	return TRUE;
}

int ext_tresor_invoice_read_tag(const struct sieve_runtime_env *renv,
				sieve_size_t *address, bool *tag_r)
{
	int opt_code = 0;
	int opt;

	*tag_r = FALSE;
	for (;;) {
		if ((opt = sieve_opr_optional_read(renv, address,
						   &opt_code)) < 0)
			return SIEVE_EXEC_BIN_CORRUPT;
		if (opt == 0)
			return SIEVE_EXEC_OK;
		if (opt_code != EXT_TRESOR_INVOICE_OPT_TAG) {
			sieve_runtime_trace_error(renv,
						  "unknown optional operand");
			return SIEVE_EXEC_BIN_CORRUPT;
		}
		*tag_r = TRUE;
	}
}

/*
 * Per-message cache
 */

struct ext_tresor_invoice_message_cache *
ext_tresor_invoice_get_cached(const struct sieve_runtime_env *renv,
			      const struct sieve_extension *ext)
{
	return (struct ext_tresor_invoice_message_cache *)
		sieve_message_context_extension_get(renv->msgctx, ext);
}

static struct ext_tresor_invoice_message_cache *
ext_tresor_invoice_cache(const struct sieve_runtime_env *renv,
			 const struct sieve_extension *ext)
{
	struct ext_tresor_invoice_message_cache *cache;

	cache = ext_tresor_invoice_get_cached(renv, ext);
	if (cache == NULL) {
		cache = p_new(sieve_message_context_pool(renv->msgctx),
			      struct ext_tresor_invoice_message_cache, 1);
		sieve_message_context_extension_set(renv->msgctx, ext, cache);
	}
	return cache;
}

static void
ext_tresor_invoice_analysis_copy(pool_t pool,
				 struct ext_tresor_invoice_analysis *an,
				 const tresor_invoice_result *res)
{
	const char *values[EXT_TRESOR_INVOICE_FIELD_COUNT];
	unsigned int i;

	values[EXT_TRESOR_INVOICE_FIELD_FORMAT] = res->format;
	values[EXT_TRESOR_INVOICE_FIELD_NUMBER] = res->number;
	values[EXT_TRESOR_INVOICE_FIELD_DATE] = res->date;
	values[EXT_TRESOR_INVOICE_FIELD_TOTAL] = res->total;
	values[EXT_TRESOR_INVOICE_FIELD_CURRENCY] = res->currency;
	values[EXT_TRESOR_INVOICE_FIELD_SELLER] = res->seller;
	values[EXT_TRESOR_INVOICE_FIELD_VATID] = res->vatid;
	values[EXT_TRESOR_INVOICE_FIELD_IBAN] = res->iban;
	values[EXT_TRESOR_INVOICE_FIELD_SUPPLIER] = res->supplier;
	values[EXT_TRESOR_INVOICE_FIELD_FOLDER] = res->folder;
	values[EXT_TRESOR_INVOICE_FIELD_VERDICT] = res->verdict;
	values[EXT_TRESOR_INVOICE_FIELD_REASON] = res->reason;
	values[EXT_TRESOR_INVOICE_FIELD_SEPARATOR] = NULL; /* at run time */

	an->is_invoice = res->is_invoice != 0;
	an->is_einvoice = res->is_einvoice != 0;
	for (i = 0; i < EXT_TRESOR_INVOICE_FIELD_COUNT; i++) {
		an->fields[i] = p_strdup(pool, values[i] == NULL ? "" :
					 values[i]);
	}
}

/* An invoice for the register (docs/invoices.md 9): handed to the archive
   plugin, which journals it after the saves of this mail - so a script
   only tried (sieve-test), or a mail not stored, records nothing. */
static void
ext_tresor_invoice_note(const struct sieve_runtime_env *renv, struct mail *mail,
			const struct ext_tresor_invoice_analysis *analysis)
{
	const struct sieve_script_env *senv = renv->exec_env->scriptenv;
	const char *fields[2 * EXT_TRESOR_INVOICE_FIELD_SEPARATOR + 1];
	tresor_note_invoice_func *note;
	struct module *module;
	unsigned int i;

	if (senv == NULL || senv->user == NULL ||
	    (module = module_dir_find(mail_storage_service_modules,
				      "tresor")) == NULL ||
	    (note = (tresor_note_invoice_func *)
		module_get_symbol(module, TRESOR_NOTE_INVOICE_SYMBOL)) == NULL)
		return;
	for (i = 0; i < EXT_TRESOR_INVOICE_FIELD_SEPARATOR; i++) {
		fields[2 * i] = ext_tresor_invoice_field_names[i];
		fields[2 * i + 1] = analysis->fields[i];
	}
	fields[2 * i] = NULL;
	note(senv->user, mail, fields);
}

/* The message of this delivery walked into a new core message; returns
   SIEVE_EXEC_OK, or a failure code after reporting the error for `test'. */
static int ext_tresor_invoice_read_message(const struct sieve_runtime_env *renv,
					   const struct sieve_extension *ext,
					   const char *test,
					   tresor_invoice_message **msg_r)
{
	const struct ext_tresor_invoice_context *ectx = ext->context;
	struct mail *mail = sieve_message_get_mail(renv->msgctx);
	tresor_invoice_message *msg;
	struct istream *input;
	const char *error;

	if (ectx == NULL || ectx->config == NULL || ectx->config_error != NULL) {
		sieve_runtime_error(renv, NULL, "%s test: "
			TRESOR_INVOICE_EXTENSION_NAME " is not configured "
			"correctly: %s", test, ectx == NULL ? "not loaded" :
			ectx->config_error != NULL ? ectx->config_error :
			"no configuration");
		return SIEVE_EXEC_FAILURE;
	}
	if (mail == NULL) {
		sieve_runtime_error(renv, NULL,
				    "%s test: no message to analyse", test);
		return SIEVE_EXEC_FAILURE;
	}
	if (mail_get_stream_because(mail, NULL, NULL,
				    t_strdup_printf("sieve %s test", test),
				    &input) < 0) {
		return sieve_runtime_mail_error(renv, mail,
			"%s test: failed to read the message", test);
	}

	msg = tresor_invoice_message_new();
	if (msg == NULL) {
		sieve_runtime_critical(renv, NULL, t_strdup_printf("%s test", test),
				       "%s test: out of memory", test);
		return SIEVE_EXEC_FAILURE;
	}
	if (tresor_message_fill(input, renv->event, TRESOR_INVOICE_LOG_PREFIX,
				msg, &error) < 0) {
		tresor_invoice_message_free(msg);
		return sieve_runtime_mail_error(renv, mail,
			"%s test: failed to read the message: %s", test, error);
	}
	ext_tresor_invoice_use_logger(ectx);
	*msg_r = msg;
	return SIEVE_EXEC_OK;
}

static int ext_tresor_invoice_analyse_mail(const struct sieve_runtime_env *renv,
					   const struct sieve_extension *ext,
					   struct ext_tresor_invoice_analysis **analysis_r)
{
	const struct ext_tresor_invoice_context *ectx = ext->context;
	struct mail *mail = sieve_message_get_mail(renv->msgctx);
	pool_t pool = sieve_message_context_pool(renv->msgctx);
	struct ext_tresor_invoice_analysis *analysis;
	tresor_invoice_message *msg;
	tresor_invoice_result result;
	char err[512];
	int ret;

	ret = ext_tresor_invoice_read_message(renv, ext, "invoice", &msg);
	if (ret != SIEVE_EXEC_OK)
		return ret;

	i_zero(&result);
	err[0] = '\0';
	if (tresor_invoice_analyse(ectx->config, msg, &result,
				   err, sizeof(err)) < 0) {
		sieve_runtime_critical(renv, NULL, "invoice test",
			"invoice test: analysis failed: %s",
			err[0] != '\0' ? err : "unknown error");
		tresor_invoice_message_free(msg);
		return SIEVE_EXEC_FAILURE;
	}

	analysis = p_new(pool, struct ext_tresor_invoice_analysis, 1);
	ext_tresor_invoice_analysis_copy(pool, analysis, &result);
	tresor_invoice_message_free(msg);

	ext_tresor_invoice_cache(renv, ext)->invoice = analysis;
	*analysis_r = analysis;
	if (analysis->is_invoice)
		ext_tresor_invoice_note(renv, mail, analysis);

	if (ectx->svinst->debug && analysis->is_invoice) {
		e_debug(renv->event, TRESOR_INVOICE_LOG_PREFIX
			"invoice: format=%s number=%s supplier=%s verdict=%s "
			"(%s)",
			analysis->fields[EXT_TRESOR_INVOICE_FIELD_FORMAT],
			str_sanitize(analysis->fields[EXT_TRESOR_INVOICE_FIELD_NUMBER], 80),
			str_sanitize(analysis->fields[EXT_TRESOR_INVOICE_FIELD_SUPPLIER], 80),
			analysis->fields[EXT_TRESOR_INVOICE_FIELD_VERDICT],
			str_sanitize(analysis->fields[EXT_TRESOR_INVOICE_FIELD_REASON], 200));
	}
	return SIEVE_EXEC_OK;
}

int ext_tresor_invoice_get_analysis(const struct sieve_runtime_env *renv,
				    const struct sieve_extension *ext,
				    struct ext_tresor_invoice_analysis **analysis_r)
{
	struct ext_tresor_invoice_message_cache *cache;
	int ret;

	cache = ext_tresor_invoice_get_cached(renv, ext);
	if (cache != NULL && cache->invoice != NULL) {
		sieve_runtime_trace(renv, SIEVE_TRLVL_TESTS,
				    "message analysed before (cached)");
		*analysis_r = cache->invoice;
		return SIEVE_EXEC_OK;
	}
	T_BEGIN {
		ret = ext_tresor_invoice_analyse_mail(renv, ext, analysis_r);
	} T_END;
	return ret;
}

static void
ext_tresor_dmarc_analysis_copy(pool_t pool, struct ext_tresor_dmarc_analysis *an,
			       const tresor_dmarc_result *res)
{
	const char *values[EXT_TRESOR_DMARC_FIELD_COUNT];
	unsigned int i;

	values[EXT_TRESOR_DMARC_FIELD_ORG] = res->org;
	values[EXT_TRESOR_DMARC_FIELD_EMAIL] = res->email;
	values[EXT_TRESOR_DMARC_FIELD_REPORT_ID] = res->report_id;
	values[EXT_TRESOR_DMARC_FIELD_DOMAIN] = res->domain;
	values[EXT_TRESOR_DMARC_FIELD_POLICY] = res->policy;
	values[EXT_TRESOR_DMARC_FIELD_BEGIN] = res->begin;
	values[EXT_TRESOR_DMARC_FIELD_END] = res->end;
	values[EXT_TRESOR_DMARC_FIELD_MESSAGES] =
		res->is_report ? dec2str(res->messages) : "";
	values[EXT_TRESOR_DMARC_FIELD_FAILING] =
		res->is_report ? dec2str(res->failing) : "";
	values[EXT_TRESOR_DMARC_FIELD_RECORDS] =
		res->is_report ? dec2str(res->records) : "";
	values[EXT_TRESOR_DMARC_FIELD_FAILING_SOURCES] =
		res->is_report ? dec2str(res->failing_sources) : "";

	an->is_report = res->is_report != 0;
	an->has_failing = res->is_report != 0 && res->failing > 0;
	for (i = 0; i < EXT_TRESOR_DMARC_FIELD_COUNT; i++) {
		an->fields[i] = p_strdup(pool, values[i] == NULL ? "" :
					 values[i]);
	}
}

static int ext_tresor_dmarc_analyse_mail(const struct sieve_runtime_env *renv,
					 const struct sieve_extension *ext,
					 struct ext_tresor_dmarc_analysis **analysis_r)
{
	const struct ext_tresor_invoice_context *ectx = ext->context;
	pool_t pool = sieve_message_context_pool(renv->msgctx);
	struct ext_tresor_dmarc_analysis *analysis;
	tresor_invoice_message *msg;
	tresor_dmarc_result result;
	char err[512];
	int ret;

	ret = ext_tresor_invoice_read_message(renv, ext, "dmarc_report", &msg);
	if (ret != SIEVE_EXEC_OK)
		return ret;
	err[0] = '\0';
	if (tresor_dmarc_analyse(ectx->config, msg, &result,
				 err, sizeof(err)) < 0) {
		sieve_runtime_critical(renv, NULL, "dmarc_report test",
			"dmarc_report test: analysis failed: %s",
			err[0] != '\0' ? err : "unknown error");
		tresor_invoice_message_free(msg);
		return SIEVE_EXEC_FAILURE;
	}
	if (!result.is_report && result.problems[0] != '\0') {
		/* attachments that looked like a report: the admin should
		   know why it was filed as none */
		e_info(renv->event, TRESOR_INVOICE_LOG_PREFIX
		       "no DMARC report: %s",
		       str_sanitize(result.problems, 400));
	}
	analysis = p_new(pool, struct ext_tresor_dmarc_analysis, 1);
	ext_tresor_dmarc_analysis_copy(pool, analysis, &result);
	tresor_invoice_message_free(msg);

	ext_tresor_invoice_cache(renv, ext)->dmarc = analysis;
	*analysis_r = analysis;
	if (ectx->svinst->debug && analysis->is_report) {
		e_debug(renv->event, TRESOR_INVOICE_LOG_PREFIX
			"DMARC report: org=%s domain=%s messages=%s failing=%s",
			str_sanitize(analysis->fields[EXT_TRESOR_DMARC_FIELD_ORG], 80),
			str_sanitize(analysis->fields[EXT_TRESOR_DMARC_FIELD_DOMAIN], 80),
			analysis->fields[EXT_TRESOR_DMARC_FIELD_MESSAGES],
			analysis->fields[EXT_TRESOR_DMARC_FIELD_FAILING]);
	}
	return SIEVE_EXEC_OK;
}

int ext_tresor_dmarc_get_analysis(const struct sieve_runtime_env *renv,
				  const struct sieve_extension *ext,
				  struct ext_tresor_dmarc_analysis **analysis_r)
{
	struct ext_tresor_invoice_message_cache *cache;
	int ret;

	cache = ext_tresor_invoice_get_cached(renv, ext);
	if (cache != NULL && cache->dmarc != NULL) {
		sieve_runtime_trace(renv, SIEVE_TRLVL_TESTS,
				    "message analysed before (cached)");
		*analysis_r = cache->dmarc;
		return SIEVE_EXEC_OK;
	}
	T_BEGIN {
		ret = ext_tresor_dmarc_analyse_mail(renv, ext, analysis_r);
	} T_END;
	return ret;
}
