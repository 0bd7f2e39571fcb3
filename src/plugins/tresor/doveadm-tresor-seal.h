#ifndef DOVEADM_TRESOR_SEAL_H
#define DOVEADM_TRESOR_SEAL_H

/* Registers doveadm tresor seal and doveadm tresor export. */
void doveadm_tresor_seal_commands_register(void);

#endif
