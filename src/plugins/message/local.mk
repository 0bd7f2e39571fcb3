# libtresor_message: a message walked with Dovecot's MIME parser and
# handed to the core's analyses (invoice, DMARC report), linked into the
# Sieve plugin and the doveadm commands.
noinst_LTLIBRARIES += src/plugins/message/libtresor_message.la
src_plugins_message_libtresor_message_la_CPPFLAGS = $(DOVECOT_GLUE_CPPFLAGS)
src_plugins_message_libtresor_message_la_SOURCES = \
	src/plugins/message/tresor-message.h \
	src/plugins/message/tresor-message.c
