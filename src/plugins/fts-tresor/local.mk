# The FTS backend (fts = tresor). lib21: after the fts plugin (lib20) it
# depends on.
module_LTLIBRARIES += lib21_fts_tresor_plugin.la
lib21_fts_tresor_plugin_la_CPPFLAGS = $(DOVECOT_GLUE_CPPFLAGS)
lib21_fts_tresor_plugin_la_LDFLAGS = -module -avoid-version \
	-Wl,--version-script=$(srcdir)/src/plugins/fts-tresor/fts-tresor-plugin.map
EXTRA_lib21_fts_tresor_plugin_la_DEPENDENCIES = src/plugins/fts-tresor/fts-tresor-plugin.map
lib21_fts_tresor_plugin_la_SOURCES = \
	src/plugins/fts-tresor/fts-tresor-plugin.h \
	src/plugins/fts-tresor/fts-tresor-plugin.c \
	src/plugins/fts-tresor/fts-backend-tresor.c
nodist_EXTRA_lib21_fts_tresor_plugin_la_SOURCES = src/plugins/fts-tresor/force-cxx-link.cpp
lib21_fts_tresor_plugin_la_LIBADD = src/plugins/settings/libtresor_settings.la \
	$(TRESOR_FTS_LIBS)
