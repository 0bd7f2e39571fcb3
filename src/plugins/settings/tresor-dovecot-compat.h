#ifndef TRESOR_DOVECOT_COMPAT_H
#define TRESOR_DOVECOT_COMPAT_H

/* What differs between Dovecot 2.3 (Debian 12) and 2.4 (Debian 13) in the
   names the glue uses, so that the glue's logic has no version checks.
   Include right after "lib.h" (which brings DOVECOT_PREREQ). Pigeonhole
   2.4 only builds against Dovecot 2.4: one check serves both. */
#if DOVECOT_PREREQ(2, 4, 0)
#  define TRESOR_DOVECOT24 1
/* the settings our error messages name */
#  define TRESOR_MAIL_FORMAT_SETTING "mail_driver"
#  define TRESOR_POP3_UIDL_MD5 "%{md5}"
#  define TRESOR_POP3_UIDL_EXAMPLE "%{uid | hex(8)}%{uidvalidity | hex(8)}"
#else
#  define TRESOR_DOVECOT24 0
#  define TRESOR_MAIL_FORMAT_SETTING "mail_location"
#  define TRESOR_POP3_UIDL_MD5 "%m"
#  define TRESOR_POP3_UIDL_EXAMPLE "%08Xu%08Xv"
/* 2.4 renamed the two-argument str_begins() to str_begins_with() */
#  define str_begins_with(haystack, needle) str_begins((haystack), (needle))
#endif

#endif
