#ifndef DOVEADM_TRESOR_DMARC_H
#define DOVEADM_TRESOR_DMARC_H

/* Registers doveadm tresor dmarc. */
void doveadm_tresor_dmarc_commands_register(void);

#endif
