# libtresor_archive: the hash-chained journal and everything built on it -
# settings, hashing, catalog, verify, seals, evidence export, retention -
# and their C API (tresor.h, tresor-retention.h, tresor-seal.h). SQLite.
noinst_LTLIBRARIES += src/core/archive/libtresor_archive.la
src_core_archive_libtresor_archive_la_CPPFLAGS = $(TRESOR_CORE_CPPFLAGS)
src_core_archive_libtresor_archive_la_CXXFLAGS = $(TRESOR_CXXFLAGS)
src_core_archive_libtresor_archive_la_SOURCES = \
	src/core/archive/tresor.h src/core/archive/c_api.hpp src/core/archive/c_api.cpp \
	src/core/archive/config.hpp src/core/archive/config.cpp \
	src/core/archive/retention_rule.hpp \
	src/core/archive/hasher.hpp src/core/archive/hasher.cpp \
	src/core/archive/hash_pipeline.hpp src/core/archive/hash_pipeline.cpp \
	src/core/archive/record.hpp src/core/archive/record.cpp \
	src/core/archive/record_fields.cpp \
	src/core/archive/journal_files.hpp src/core/archive/journal_files.cpp \
	src/core/archive/journal.hpp src/core/archive/journal.cpp \
	src/core/archive/journal_intent.cpp \
	src/core/archive/journal_reader.hpp src/core/archive/journal_reader.cpp \
	src/core/archive/catalog.hpp src/core/archive/catalog.cpp \
	src/core/archive/verify.hpp src/core/archive/verify.cpp \
	src/core/archive/retention.hpp src/core/archive/retention.cpp \
	src/core/archive/tresor-retention.h src/core/archive/retention_c_api.cpp \
	src/core/archive/seal.hpp src/core/archive/seal.cpp \
	src/core/archive/export.hpp src/core/archive/export.cpp \
	src/core/archive/invoices.hpp src/core/archive/invoices.cpp \
	src/core/archive/verify_text.hpp \
	src/core/archive/tresor-seal.h src/core/archive/seal_c_api.cpp
src_core_archive_libtresor_archive_la_LIBADD = $(SQLITE_LIBS)
# VERIFY.txt, the auditor's instructions of an evidence export, stays the
# text it is; verify_text.cpp, generated into the build directory, holds
# it as one raw string literal: an export never depends on a file on the
# server that could be missing or edited. The template is installed too,
# for the auditor who wants to compare.
verifytextdir = $(datadir)/doc/dovecot-tresor
dist_verifytext_DATA = src/core/archive/VERIFY.txt
EXTRA_DIST += src/core/archive/verify-text-cpp
nodist_src_core_archive_libtresor_archive_la_SOURCES = src/core/archive/verify_text.cpp
CLEANFILES += src/core/archive/verify_text.cpp
src/core/archive/verify_text.cpp: src/core/archive/VERIFY.txt \
		src/core/archive/verify-text-cpp
	$(AM_V_GEN)$(MKDIR_P) src/core/archive && \
	  $(SHELL) $(srcdir)/src/core/archive/verify-text-cpp \
	    $(srcdir)/src/core/archive/VERIFY.txt > $@.tmp && mv -f $@.tmp $@
TRESOR_ARCHIVE_LIBS = src/core/archive/libtresor_archive.la $(TRESOR_COMMON_LIBS) \
	$(SQLITE_LIBS)
