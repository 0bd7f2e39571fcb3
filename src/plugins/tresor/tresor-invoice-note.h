#ifndef TRESOR_INVOICE_NOTE_H
#define TRESOR_INVOICE_NOTE_H

/* How the invoice test (the Sieve plugin) hands what it found to the
   archive (the mail plugin) for the invoice register: the two plugins
   share no symbols, so the Sieve plugin looks this function up by
   TRESOR_NOTE_INVOICE_SYMBOL in the loaded module "tresor".

   The invoice test found an invoice in mail, the message being delivered
   to user; fields are name, value pairs ("number", "4711", ..., NULL),
   copied. Each save of that very mail for user (fileinto, keep: a copy
   from it) is then followed by an invoice record with these fields in
   the same journal write (docs/archive.md 3.8). A user without the
   archive plugin is left alone. */
struct mail;
struct mail_user;

#define TRESOR_NOTE_INVOICE_SYMBOL "tresor_plugin_note_invoice"
typedef void tresor_note_invoice_func(struct mail_user *user, struct mail *mail,
				      const char *const *fields);

#endif
