#ifndef DOVEADM_TRESOR_INVOICES_H
#define DOVEADM_TRESOR_INVOICES_H

/* Registers doveadm tresor invoices. */
void doveadm_tresor_invoices_commands_register(void);

#endif
