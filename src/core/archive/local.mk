# libtresor_archive: the hash-chained journal and everything built on it -
# settings, hashing, catalog, verify, seals, evidence export, retention -
# and their C API (tresor.h, tresor-retention.h). SQLite.
noinst_LTLIBRARIES += src/core/archive/libtresor_archive.la
src_core_archive_libtresor_archive_la_CPPFLAGS = $(TRESOR_CORE_CPPFLAGS)
src_core_archive_libtresor_archive_la_CXXFLAGS = $(TRESOR_CXXFLAGS)
src_core_archive_libtresor_archive_la_SOURCES = \
	src/core/archive/tresor.h src/core/archive/c_api.hpp src/core/archive/c_api.cpp \
	src/core/archive/config.hpp src/core/archive/config.cpp \
	src/core/archive/retention_rule.hpp \
	src/core/archive/hasher.hpp src/core/archive/hasher.cpp \
	src/core/archive/journal.hpp src/core/archive/journal.cpp \
	src/core/archive/catalog.hpp src/core/archive/catalog.cpp \
	src/core/archive/verify.hpp src/core/archive/verify.cpp \
	src/core/archive/retention.hpp src/core/archive/retention.cpp \
	src/core/archive/tresor-retention.h src/core/archive/retention_c_api.cpp \
	src/core/archive/seal.hpp src/core/archive/seal.cpp \
	src/core/archive/export.hpp src/core/archive/export.cpp \
	src/core/archive/seal_c_api.cpp
src_core_archive_libtresor_archive_la_LIBADD = $(SQLITE_LIBS)
TRESOR_ARCHIVE_LIBS = src/core/archive/libtresor_archive.la $(TRESOR_COMMON_LIBS) \
	$(SQLITE_LIBS)
