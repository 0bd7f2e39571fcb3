/* dovecot-tresor: the Sieve plugin module. Registers vnd.tresor.invoice
   with every Sieve instance that loads the plugin; the extension becomes
   usable once enabled (sieve_extensions = +vnd.tresor.invoice, or
   sieve_global_extensions), and reads its tresor_* settings then. */
/* dladdr() */
#ifndef _GNU_SOURCE
#  define _GNU_SOURCE
#endif
#include "lib.h"

#include <dlfcn.h>

#include "sieve-config.h"
#include "sieve-common.h"
#include "sieve-extensions.h"

#include "ext-tresor-invoice-common.h"
#include "sieve-tresor-plugin.h"

/* Pigeonhole refuses a plugin built for another ABI. */
const char *sieve_tresor_plugin_version = PIGEONHOLE_ABI_VERSION;

struct sieve_tresor_plugin_context {
	const struct sieve_extension *ext_invoice;
};

void sieve_tresor_plugin_load(struct sieve_instance *svinst, void **context)
{
	struct sieve_tresor_plugin_context *pctx;

	pctx = i_new(struct sieve_tresor_plugin_context, 1);
	pctx->ext_invoice = sieve_extension_register(
		svinst, &tresor_invoice_extension, FALSE);
	if (svinst->debug) {
		e_debug(svinst->event, "Sieve tresor plugin for %s version %s "
			"loaded", PIGEONHOLE_NAME, PIGEONHOLE_VERSION_FULL);
	}
	*context = pctx;
}

void sieve_tresor_plugin_unload(struct sieve_instance *svinst ATTR_UNUSED,
				void *context)
{
	struct sieve_tresor_plugin_context *pctx = context;

	if (pctx->ext_invoice != NULL)
		sieve_extension_unregister(pctx->ext_invoice);
	i_free(pctx);
}

void sieve_tresor_plugin_init(void)
{
	Dl_info info;

	/* Pigeonhole loads and unloads its plugins with every Sieve
	   instance - for LMTP, every delivery. Staying resident spares
	   reloading this module and ICU each time (about 1 ms a delivery). */
	if (dladdr((void *)sieve_tresor_plugin_init, &info) != 0 &&
	    info.dli_fname != NULL)
		(void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD |
			     RTLD_NODELETE);
}

void sieve_tresor_plugin_deinit(void)
{
}
