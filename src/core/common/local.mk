# libtresor_common: what every library of the core uses - ASCII text,
# POSIX file I/O, setting values, SHA-256, a string arena, threads, the C
# ABI helpers.
# OpenSSL.
noinst_LTLIBRARIES += src/core/common/libtresor_common.la
src_core_common_libtresor_common_la_CPPFLAGS = $(TRESOR_CORE_CPPFLAGS)
src_core_common_libtresor_common_la_CXXFLAGS = $(TRESOR_CXXFLAGS)
src_core_common_libtresor_common_la_SOURCES = \
	src/core/common/text.hpp \
	src/core/common/c_abi.hpp \
	src/core/common/posix_io.hpp src/core/common/posix_io.cpp \
	src/core/common/setting_values.hpp src/core/common/setting_values.cpp \
	src/core/common/sha256.hpp src/core/common/sha256.cpp \
	src/core/common/string_arena.hpp src/core/common/string_arena.cpp \
	src/core/common/threads.hpp \
	src/core/common/utc_time.hpp src/core/common/utc_time.cpp
src_core_common_libtresor_common_la_LIBADD = $(OPENSSL_LIBS)
if SANITIZERS
# UBSan reports to files (see the source); through libtresor_common into
# every plugin and program. (A _CFLAGS of its own keeps each target's
# object apart.)
src_core_common_libtresor_common_la_SOURCES += tests/sanitizer/ubsan-log-path.c
src_core_common_libtresor_common_la_CFLAGS = $(AM_CFLAGS)
endif
TRESOR_COMMON_LIBS = src/core/common/libtresor_common.la $(OPENSSL_LIBS)
