#ifndef TRESOR_MESSAGE_H
#define TRESOR_MESSAGE_H

#include "invoice/tresor-invoice.h"

struct istream;
struct event;

/* Bounds of the walk: a part above the limit is skipped with a log line;
   what comes after the total limit or the part count is not looked at. */
#define TRESOR_MESSAGE_MAX_PART_SIZE ((size_t)32 * 1024 * 1024)
#define TRESOR_MESSAGE_MAX_TOTAL_SIZE ((size_t)64 * 1024 * 1024)
#define TRESOR_MESSAGE_MAX_PARTS 1000

/* Feeds the message in input to msg (the headers of the top-level header,
   every leaf part transfer-decoded); log lines about skipped parts go to
   event, starting with log_prefix. Returns 0, or -1 with error_r set when
   the stream could not be read (the caller reports it as a mail error). */
int tresor_message_fill(struct istream *input, struct event *event,
			const char *log_prefix, tresor_invoice_message *msg,
			const char **error_r);

#endif
