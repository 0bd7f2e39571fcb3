/* dovecot-tresor core: the C ABI of invoice recognition, for the Sieve
   extension vnd.tresor.invoice (sieve/, C) and later the FTS backend.

   Same rules as tresor.h: plain C types, no exception crosses, errors as
   return values plus text. The glue walks the MIME structure with
   Dovecot's parser and hands the core the headers and decoded leaf parts;
   the core decides whether it is an invoice, runs untrusted documents
   through the tresor-extract helper (out of process, with limits),
   identifies the supplier and gives the verdict. */
#ifndef TRESOR_INVOICE_H
#define TRESOR_INVOICE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Settings                                                           */
/* ------------------------------------------------------------------ */

typedef struct tresor_invoice_config tresor_invoice_config;

/* A config with every setting at its documented default. */
tresor_invoice_config *tresor_invoice_config_new(void);
void tresor_invoice_config_free(tresor_invoice_config *cfg);

/* NULL-terminated names of the settings this part understands:
   tresor_invoice_keywords  (default: German, English, Dutch and French
                             invoice words, see conf.d/90-tresor.conf)
   tresor_suppliers         (path of the supplier CSV; default none)
   tresor_authserv_id       (trusted authserv-ids, space-separated;
                             default none = nothing is authenticated)
   tresor_extract           (path of the tresor-extract helper)
   tresor_extract_timeout   (wall-clock limit per document, e.g. "10s")
   tresor_extract_memory    (address-space limit, e.g. "256M")
   tresor_own_ibans         (the business's own accounts, space-separated;
                             never counted as a supplier's payee account)
   tresor_invoice_budget    (wall-clock time for all documents of one mail,
                             default "15s") */
const char *const *tresor_invoice_setting_names(void);
/* Returns 0, or -1 with err naming the setting and what is expected. */
int tresor_invoice_config_set(tresor_invoice_config *cfg, const char *name,
			      const char *value, char *err, size_t err_size);

/* Log sink for what the admin should see (a skipped supplier line, a
   broken attachment, a missing supplier file). level: 0 debug, 1 info,
   2 warning, 3 error. Called synchronously from the analysing thread. */
typedef void tresor_invoice_log_func(void *context, int level,
				     const char *message);
void tresor_invoice_config_set_logger(tresor_invoice_config *cfg,
				      tresor_invoice_log_func *func,
				      void *context);

/* ------------------------------------------------------------------ */
/* One message                                                        */
/* ------------------------------------------------------------------ */

typedef struct tresor_invoice_message tresor_invoice_message;

tresor_invoice_message *tresor_invoice_message_new(void);
void tresor_invoice_message_free(tresor_invoice_message *msg);

/* Every header field of the top-level header, in order; value unfolded
   (CRLF+WSP removed), raw otherwise (RFC 2047 words not decoded). */
void tresor_invoice_message_add_header(tresor_invoice_message *msg,
				       const char *name, const char *value);
/* One MIME leaf part, transfer-decoded (base64/QP undone).
   content_type: lowercase "type/subtype" (no parameters);
   filename: from Content-Disposition filename or Content-Type name,
   RFC 2231/2047-decoded to UTF-8, or NULL;
   is_attachment: Content-Disposition attachment, or a non-text part.
   The core copies what it keeps. */
void tresor_invoice_message_add_part(tresor_invoice_message *msg,
				     const char *content_type,
				     const char *filename, int is_attachment,
				     const void *data, size_t size);

/* ------------------------------------------------------------------ */
/* Analysis                                                           */
/* ------------------------------------------------------------------ */

typedef struct tresor_invoice_result {
	int is_invoice;  /* e-invoice, or PDF + invoice keyword */
	int is_einvoice; /* structured XML invoice found */
	/* "" where unknown; valid until the message is freed */
	const char *format;   /* xrechnung-ubl, xrechnung-cii, zugferd-1,
				 factur-x, pdf */
	const char *number;
	const char *date;     /* as in the invoice, ISO 8601 when it can */
	const char *total;    /* grand total / amount due, e.g. "529.87" */
	const char *currency;
	const char *seller;
	const char *vatid;    /* normalised, e.g. DE123456789 */
	const char *iban;     /* payee account, normalised (no spaces, upper
				 case); an e-invoice's as written, which may
				 fail the IBAN check; "" when none */
	const char *supplier; /* name from the supplier file */
	const char *folder;   /* folder from the supplier file */
	const char *verdict;  /* trusted, unknown-supplier, lookalike-domain,
				 unauthenticated, bank-account-changed;
				 "" when not an invoice */
	const char *reason;   /* one human sentence */
} tresor_invoice_result;

/* Analyses the message. Never fails on bad input (a broken attachment is
   logged and skipped); returns -1 with err set only on internal errors
   (out of memory, helper can't be started at all). */
int tresor_invoice_analyse(const tresor_invoice_config *cfg,
			   tresor_invoice_message *msg,
			   tresor_invoice_result *result_r,
			   char *err, size_t err_size);

/* ------------------------------------------------------------------ */
/* DMARC aggregate reports                                            */
/* ------------------------------------------------------------------ */

typedef struct tresor_dmarc_result {
	int is_report; /* an attachment is a DMARC aggregate report */
	/* "" when not a report; valid until the message is freed */
	const char *org;       /* the reporting receiver, e.g. "google.com" */
	const char *email;     /* its contact address */
	const char *report_id;
	const char *domain;    /* the policy domain reported on */
	const char *policy;    /* its published p=: none, quarantine, reject */
	const char *begin;     /* the period, "2026-12-05T00:00:00Z" */
	const char *end;
	long long begin_unix, end_unix;
	unsigned long long messages; /* messages the report counts */
	unsigned long long failing;  /* of those, failing DMARC */
	unsigned int records;
	unsigned int failing_sources; /* source addresses with failures */
	/* why attachments that looked like reports were none ("" if none) */
	const char *problems;
} tresor_dmarc_result;

/* Looks for a report among the message's parts (read out of process by
   the tresor-extract helper, within tresor_invoice_budget). Same error
   rules as tresor_invoice_analyse(). The report stays with the message
   for tresor_dmarc_digest_add(). */
int tresor_dmarc_analyse(const tresor_invoice_config *cfg,
			 tresor_invoice_message *msg,
			 tresor_dmarc_result *result_r,
			 char *err, size_t err_size);

/* Many reports summed up per policy domain and sending source. */
typedef struct tresor_dmarc_digest tresor_dmarc_digest;

/* Reports whose period ended before since_unix are left out. NULL when
   out of memory. */
tresor_dmarc_digest *tresor_dmarc_digest_new(long long since_unix);
void tresor_dmarc_digest_free(tresor_dmarc_digest *digest);
/* Adds the report tresor_dmarc_analyse() found in msg. Returns 1 when
   added, 0 when not (no report, one with the same receiver, report ID
   and domain was added before, or it ended before since), -1 with err. */
int tresor_dmarc_digest_add(tresor_dmarc_digest *digest,
			    const tresor_invoice_message *msg,
			    char *err, size_t err_size);
/* Reports added. */
unsigned int tresor_dmarc_digest_reports(const tresor_dmarc_digest *digest);

typedef struct tresor_dmarc_row {
	const char *domain, *source_ip;
	/* "example.com=pass mailer.example=fail/pass", "none" */
	const char *dkim_domains, *spf_domains;
	const char *header_from;   /* From domains seen, space-separated */
	unsigned long long messages, dmarc_fail, dkim_fail, spf_fail;
	const char *disposition;   /* "none=10 quarantine=2" */
	const char *reporters;     /* "google.com, Outlook.com" */
	const char *begin, *end;   /* "2026-12-05T00:00:00Z" */
} tresor_dmarc_row;

/* The rows, failing sources first, made on the first call after an add;
   returns how many, or -1 with err. Strings stay valid until the next
   tresor_dmarc_digest_add() or the free. */
int tresor_dmarc_digest_rows(tresor_dmarc_digest *digest,
			     const tresor_dmarc_row **rows_r,
			     char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
