# libtresor_fts: the full-text index of fts_tresor (tresor-fts.h). Xapian;
# attachments through the tresor-extract helper (libtresor_extract), so the
# plugin links neither ICU, libpsl nor pugixml.
noinst_LTLIBRARIES += src/core/fts/libtresor_fts.la
src_core_fts_libtresor_fts_la_CPPFLAGS = $(TRESOR_CORE_CPPFLAGS)
src_core_fts_libtresor_fts_la_CXXFLAGS = $(TRESOR_CXXFLAGS) $(XAPIAN_CFLAGS)
src_core_fts_libtresor_fts_la_SOURCES = \
	src/core/fts/tresor-fts.h src/core/fts/fts_c_api.cpp \
	src/core/fts/fts_index.hpp src/core/fts/fts_index.cpp \
	src/core/fts/fts_settings.hpp src/core/fts/fts_settings.cpp
src_core_fts_libtresor_fts_la_LIBADD = $(XAPIAN_LIBS)
TRESOR_FTS_LIBS = src/core/fts/libtresor_fts.la $(TRESOR_EXTRACT_LIBS) $(XAPIAN_LIBS)
