# The tresor_* settings as every plugin reads them on Dovecot 2.3 and 2.4
# (libtresor_settings, linked into each), and the compat header. On 2.4
# the same declarations also make the settings module, which the config
# process loads from modules/settings to know the tresor_* settings.
noinst_LTLIBRARIES += src/plugins/settings/libtresor_settings.la
src_plugins_settings_libtresor_settings_la_CPPFLAGS = $(DOVECOT_GLUE_CPPFLAGS)
src_plugins_settings_libtresor_settings_la_SOURCES = \
	src/plugins/settings/tresor-dovecot-compat.h \
	src/plugins/settings/tresor-settings.h \
	src/plugins/settings/tresor-settings.c

if DOVECOT24
settings_moduledir = $(moduledir)/settings
settings_module_LTLIBRARIES = lib01_tresor_settings.la
lib01_tresor_settings_la_CPPFLAGS = $(DOVECOT_GLUE_CPPFLAGS) -DTRESOR_SETTINGS_MODULE
lib01_tresor_settings_la_LDFLAGS = -module -avoid-version
lib01_tresor_settings_la_SOURCES = src/plugins/settings/tresor-settings.c
endif
