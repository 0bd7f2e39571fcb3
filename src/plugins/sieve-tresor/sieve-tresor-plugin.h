/* dovecot-tresor: the Sieve plugin lib90_sieve_tresor_plugin.so
   (sieve_plugins = sieve_tresor), providing vnd.tresor.invoice. */
#ifndef SIEVE_TRESOR_PLUGIN_H
#define SIEVE_TRESOR_PLUGIN_H

struct sieve_instance;

extern const char *sieve_tresor_plugin_version;

/* Pigeonhole's plugin interface: load/unload per Sieve instance;
   init/deinit must exist but are never called. */
void sieve_tresor_plugin_load(struct sieve_instance *svinst, void **context);
void sieve_tresor_plugin_unload(struct sieve_instance *svinst, void *context);

void sieve_tresor_plugin_init(void);
void sieve_tresor_plugin_deinit(void);

#endif
