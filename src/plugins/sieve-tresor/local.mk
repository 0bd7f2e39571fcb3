# The Sieve extension (vnd.tresor.invoice). Pigeonhole's headers
# are not C++-clean: the glue is C.
sieve_moduledir = $(moduledir)/sieve
sieve_module_LTLIBRARIES = lib90_sieve_tresor_plugin.la
# (-I src/plugins/tresor: tresor-invoice-note.h, the mail plugin's entry
# for the invoice register)
lib90_sieve_tresor_plugin_la_CPPFLAGS = $(LIBDOVECOT_INCLUDE) $(LIBSIEVE_INCLUDE) \
	$(TRESOR_CORE_CPPFLAGS) $(TRESOR_SETTINGS_CPPFLAGS) \
	-I$(top_srcdir)/src/plugins/message -I$(top_srcdir)/src/plugins/tresor
lib90_sieve_tresor_plugin_la_LDFLAGS = -module -avoid-version \
	-Wl,--version-script=$(srcdir)/src/plugins/sieve-tresor/sieve-tresor-plugin.map
EXTRA_lib90_sieve_tresor_plugin_la_DEPENDENCIES = \
	src/plugins/sieve-tresor/sieve-tresor-plugin.map
lib90_sieve_tresor_plugin_la_SOURCES = \
	src/plugins/sieve-tresor/sieve-tresor-compat.h \
	src/plugins/sieve-tresor/ext-tresor-invoice-common.h \
	src/plugins/sieve-tresor/ext-tresor-invoice-common.c \
	src/plugins/sieve-tresor/ext-tresor-invoice.c \
	src/plugins/sieve-tresor/ext-tresor-invoice-variables.c \
	src/plugins/sieve-tresor/tst-invoice.c \
	src/plugins/sieve-tresor/tst-dmarc-report.c \
	src/plugins/sieve-tresor/sieve-tresor-plugin.h \
	src/plugins/sieve-tresor/sieve-tresor-plugin.c
nodist_EXTRA_lib90_sieve_tresor_plugin_la_SOURCES = \
	src/plugins/sieve-tresor/force-cxx-link.cpp
lib90_sieve_tresor_plugin_la_LIBADD = src/plugins/settings/libtresor_settings.la \
	src/plugins/message/libtresor_message.la \
	$(TRESOR_INVOICE_LIBS)
