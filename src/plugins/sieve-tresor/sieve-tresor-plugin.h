/* dovecot-tresor: the Sieve plugin lib90_sieve_tresor_plugin.so
   (sieve_plugins = sieve_tresor), providing vnd.tresor.invoice. */
#ifndef SIEVE_TRESOR_PLUGIN_H
#define SIEVE_TRESOR_PLUGIN_H

#include "sieve-tresor-compat.h"

extern const char *sieve_tresor_plugin_version;

/* Pigeonhole's plugin interface: load/unload per Sieve instance (load
   returns int on 2.4, nothing on 0.5: Pigeonhole calls it through its own
   typedef, so the type must match); init/deinit must exist but are never
   called. */
sieve_tresor_plugin_load_result_t
sieve_tresor_plugin_load(struct sieve_instance *svinst, void **context);
void sieve_tresor_plugin_unload(struct sieve_instance *svinst, void *context);

void sieve_tresor_plugin_init(void);
void sieve_tresor_plugin_deinit(void);

#endif
