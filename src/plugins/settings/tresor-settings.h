#ifndef TRESOR_SETTINGS_H
#define TRESOR_SETTINGS_H

#include "tresor-dovecot-compat.h"

struct mail_user;

/* The tresor_* settings as a plugin sees them. Dovecot 2.3 keeps them in
   plugin { } and hands them out one by one (through the mail user, the
   Sieve instance or doveadm: getenv below); 2.4 declares them as settings
   of their own (tresor_setting_parser_info, also in the settings module
   lib01_tresor_settings.so that lets the config process know them) and
   reads them all at once from an event with settings_get(). Our core
   parses every value: Dovecot only carries strings. */
struct tresor_settings_reader {
	/* 2.4: the event whose settings apply (the user's, the Sieve
	   instance's, doveadm's) */
	struct event *event;
	/* 2.3: the value of one setting, NULL when not set */
	const char *(*getenv)(void *context, const char *name);
	void *context;

	const struct tresor_settings *set; /* 2.4: read by init */
};

/* A reader of the mail user's settings (also doveadm's per-user ones). */
void tresor_settings_reader_user(struct tresor_settings_reader *reader,
				 struct mail_user *user);
/* Reads the settings (2.4); 0, or -1 with error_r. */
int tresor_settings_reader_init(struct tresor_settings_reader *reader,
				const char **error_r);
/* One setting's value; NULL when it is not set (2.4: empty). */
const char *tresor_settings_reader_get(const struct tresor_settings_reader *reader,
				       const char *name);
void tresor_settings_reader_deinit(struct tresor_settings_reader *reader);

#if TRESOR_DOVECOT24
extern const struct setting_parser_info tresor_setting_parser_info;
#endif

#endif
