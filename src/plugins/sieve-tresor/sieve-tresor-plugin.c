/* dovecot-tresor: the Sieve plugin module. Registers vnd.tresor.invoice
   with every Sieve instance that loads the plugin; the extension becomes
   usable once enabled (2.3: sieve_extensions = +vnd.tresor.invoice, or
   sieve_global_extensions; 2.4: sieve_extensions { vnd.tresor.invoice =
   yes }), and reads its tresor_* settings then. */
/* dladdr() */
#ifndef _GNU_SOURCE
#  define _GNU_SOURCE
#endif
#include "lib.h"

#include <dlfcn.h>

#include "sieve-config.h"
#include "sieve-common.h"
#include "sieve-extensions.h"

#include "sieve-tresor-compat.h"
#include "ext-tresor-invoice-common.h"
#include "sieve-tresor-plugin.h"

/* Pigeonhole refuses a plugin built for another ABI. */
const char *sieve_tresor_plugin_version = PIGEONHOLE_ABI_VERSION;

struct sieve_tresor_plugin_context {
	const struct sieve_extension *ext_invoice;
};

/* Pigeonhole loads and unloads its plugins with every Sieve instance - for
   LMTP, every delivery - and calls neither init() nor deinit() (it never
   runs module_dir_init()), so this is done from load(). Staying resident
   keeps the configuration shared between deliveries
   (ext_tresor_invoice_shared) and the process-wide caches of the core (the
   public suffix list, ICU's checkers) alive: unloaded, they were lost
   with every delivery - about 90 KB per invoice, until the lmtp process
   hit its vsz_limit - and the supplier file was read anew each time. */
static void sieve_tresor_plugin_stay_resident(void)
{
	static bool resident = FALSE;
	Dl_info info;

	if (resident)
		return;
	if (dladdr((void *)sieve_tresor_plugin_stay_resident, &info) != 0 &&
	    info.dli_fname != NULL &&
	    dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD |
		   RTLD_NODELETE) != NULL)
		resident = TRUE;
}

/* *context stays NULL when the extension could not be registered. */
static int sieve_tresor_plugin_register(struct sieve_instance *svinst,
					void **context)
{
	struct sieve_tresor_plugin_context *pctx;
	const struct sieve_extension *ext;

	sieve_tresor_plugin_stay_resident();
	*context = NULL;
	if (sieve_tresor_extension_register(svinst,
					    &ext_tresor_invoice_extension,
					    &ext) < 0) {
		e_error(svinst->event, "Sieve tresor plugin: "
			"can't register " TRESOR_INVOICE_EXTENSION_NAME);
		return -1;
	}
	pctx = i_new(struct sieve_tresor_plugin_context, 1);
	pctx->ext_invoice = ext;
	if (svinst->debug) {
		e_debug(svinst->event, "Sieve tresor plugin for %s version %s "
			"loaded", PIGEONHOLE_NAME, PIGEONHOLE_VERSION_FULL);
	}
	*context = pctx;
	return 0;
}

/* Pigeonhole 2.4 fails the Sieve instance when load() fails; 0.5 has no
   way to hear of it (the error is logged) and calls unload() anyway. */
#if TRESOR_DOVECOT24
int sieve_tresor_plugin_load(struct sieve_instance *svinst, void **context)
{
	return sieve_tresor_plugin_register(svinst, context);
}
#else
void sieve_tresor_plugin_load(struct sieve_instance *svinst, void **context)
{
	(void)sieve_tresor_plugin_register(svinst, context);
}
#endif

void sieve_tresor_plugin_unload(struct sieve_instance *svinst ATTR_UNUSED,
				void *context)
{
	struct sieve_tresor_plugin_context *pctx = context;

	if (pctx == NULL)
		return; /* load() failed */
	sieve_extension_unregister(pctx->ext_invoice);
	i_free(pctx);
}

/* Required by Pigeonhole's module loader (require_init_funcs), but never
   called by it. */
void sieve_tresor_plugin_init(void)
{
}

void sieve_tresor_plugin_deinit(void)
{
}
