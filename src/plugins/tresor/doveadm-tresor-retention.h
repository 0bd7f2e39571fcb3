#ifndef DOVEADM_TRESOR_RETENTION_H
#define DOVEADM_TRESOR_RETENTION_H

/* Registers doveadm tresor purge and doveadm tresor hold add|remove|list. */
void doveadm_tresor_retention_commands_register(void);

#endif
