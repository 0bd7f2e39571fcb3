# The archive plugin (mail_plugins = tresor) and its doveadm commands,
# side by side as Dovecot keeps doveadm-acl.c beside the acl plugin.
# libtresor_user: the user's settings and mail hashing, which both use.
noinst_LTLIBRARIES += src/plugins/tresor/libtresor_user.la
src_plugins_tresor_libtresor_user_la_CPPFLAGS = $(DOVECOT_GLUE_CPPFLAGS)
src_plugins_tresor_libtresor_user_la_SOURCES = \
	src/plugins/tresor/tresor-user.h src/plugins/tresor/tresor-user.c

# lib01: Dovecot loads plugins in file name order and the first one loaded
# sees each call first. tresor must refuse an expunge before lazy_expunge
# (lib02) copies the mail away, and see a mail's bytes before zlib or
# mail_crypt (lib10, lib20) transform them.
module_LTLIBRARIES += lib01_tresor_plugin.la
lib01_tresor_plugin_la_CPPFLAGS = $(DOVECOT_GLUE_CPPFLAGS)
# Export only the module entry points (see the .map files). libtool's
# -export-symbols-regex doesn't hide anything when linking C++.
lib01_tresor_plugin_la_LDFLAGS = -module -avoid-version \
	-Wl,--version-script=$(srcdir)/src/plugins/tresor/tresor-plugin.map
EXTRA_lib01_tresor_plugin_la_DEPENDENCIES = src/plugins/tresor/tresor-plugin.map
lib01_tresor_plugin_la_SOURCES = \
	src/plugins/tresor/tresor-plugin.h \
	src/plugins/tresor/tresor-invoice-note.h \
	src/plugins/tresor/tresor-plugin.c \
	src/plugins/tresor/tresor-storage.h \
	src/plugins/tresor/tresor-storage.c \
	src/plugins/tresor/tresor-user-journal.h \
	src/plugins/tresor/tresor-user-journal.c \
	src/plugins/tresor/tresor-hash-istream.h \
	src/plugins/tresor/tresor-hash-istream.c
# Linking through the C++ driver pulls in libstdc++ for the core.
nodist_EXTRA_lib01_tresor_plugin_la_SOURCES = src/plugins/tresor/force-cxx-link.cpp
lib01_tresor_plugin_la_LIBADD = src/plugins/tresor/libtresor_user.la \
	src/plugins/settings/libtresor_settings.la \
	$(TRESOR_ARCHIVE_LIBS)

# (the DMARC digest needs the invoice core's report reading: its
# convenience libraries are listed one by one, as libtresor_common may be
# linked in only once)
doveadm_module_LTLIBRARIES = lib10_doveadm_tresor_plugin.la
lib10_doveadm_tresor_plugin_la_CPPFLAGS = $(DOVECOT_GLUE_CPPFLAGS) \
	$(LIBDOVECOT_DOVEADM_INCLUDE) -I$(top_srcdir)/src/plugins/message
lib10_doveadm_tresor_plugin_la_LDFLAGS = -module -avoid-version \
	-Wl,--version-script=$(srcdir)/src/plugins/tresor/doveadm-tresor.map
EXTRA_lib10_doveadm_tresor_plugin_la_DEPENDENCIES = src/plugins/tresor/doveadm-tresor.map
lib10_doveadm_tresor_plugin_la_SOURCES = \
	src/plugins/tresor/doveadm-tresor.h \
	src/plugins/tresor/doveadm-tresor.c \
	src/plugins/tresor/doveadm-tresor-seal.h \
	src/plugins/tresor/doveadm-tresor-seal.c \
	src/plugins/tresor/doveadm-tresor-retention.h \
	src/plugins/tresor/doveadm-tresor-retention.c \
	src/plugins/tresor/doveadm-tresor-invoices.h \
	src/plugins/tresor/doveadm-tresor-invoices.c \
	src/plugins/tresor/doveadm-tresor-dmarc.h \
	src/plugins/tresor/doveadm-tresor-dmarc.c
nodist_EXTRA_lib10_doveadm_tresor_plugin_la_SOURCES = src/plugins/tresor/force-cxx-link.cpp
lib10_doveadm_tresor_plugin_la_LIBADD = src/plugins/tresor/libtresor_user.la \
	src/plugins/settings/libtresor_settings.la \
	src/plugins/message/libtresor_message.la \
	src/core/invoice/libtresor_invoice.la src/core/extract/libtresor_extract.la \
	$(TRESOR_ARCHIVE_LIBS) $(PSL_LIBS) $(ICU_LIBS)
