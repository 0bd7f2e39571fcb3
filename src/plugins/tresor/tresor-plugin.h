#ifndef TRESOR_PLUGIN_H
#define TRESOR_PLUGIN_H

#include "tresor-user.h"

struct module;

/* doveadm tresor purge's way through the archive guard: lets the expunge
   of this UID in t, a transaction of an archive folder, through - called
   only after the mail's purge record is journaled. Refused (-1) outside
   the doveadm service. Defined in the mail plugin; the doveadm plugin
   looks it up by TRESOR_PURGE_ALLOW_SYMBOL in the loaded module
   "tresor", as the two plugins share no symbols. */
struct mailbox_transaction_context;
#define TRESOR_PURGE_ALLOW_SYMBOL "tresor_plugin_purge_allow_expunge"
typedef int tresor_purge_allow_expunge_func(struct mailbox_transaction_context *t,
					    uint32_t uid);
tresor_purge_allow_expunge_func tresor_plugin_purge_allow_expunge;

#include "tresor-invoice-note.h"
tresor_note_invoice_func tresor_plugin_note_invoice;

/* How long a writer waits for another process's journal lock. */
#define TRESOR_JOURNAL_LOCK_TIMEOUT_MSECS (30 * 1000)

void tresor_plugin_init(struct module *module);
void tresor_plugin_deinit(void);

#endif
