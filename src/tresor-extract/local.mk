# tresor-extract: the helper that parses untrusted documents (PDF, office,
# XML, e-invoices) in a process of its own, under resource limits.
# libtresor_documents holds its parsers, for the helper and the tests.
noinst_LTLIBRARIES += src/tresor-extract/libtresor_documents.la
src_tresor_extract_libtresor_documents_la_CPPFLAGS = $(TRESOR_CORE_CPPFLAGS)
src_tresor_extract_libtresor_documents_la_CXXFLAGS = $(TRESOR_CXXFLAGS) \
	$(PUGIXML_CFLAGS) $(POPPLER_CFLAGS) $(LIBZIP_CFLAGS) $(ZLIB_CFLAGS)
src_tresor_extract_libtresor_documents_la_SOURCES = \
	src/tresor-extract/documents.hpp src/tresor-extract/documents.cpp \
	src/tresor-extract/zip_archive.hpp \
	src/tresor-extract/dmarc_report.hpp src/tresor-extract/dmarc_report.cpp \
	src/tresor-extract/einvoice_xml.hpp src/tresor-extract/einvoice_xml.cpp
src_tresor_extract_libtresor_documents_la_LIBADD = $(PUGIXML_LIBS) $(POPPLER_LIBS) \
	$(LIBZIP_LIBS) $(ZLIB_LIBS)
TRESOR_DOCUMENTS_LIBS = src/tresor-extract/libtresor_documents.la \
	$(TRESOR_EXTRACT_LIBS) $(PUGIXML_LIBS) $(POPPLER_LIBS) $(LIBZIP_LIBS) $(ZLIB_LIBS)

tresorexec_PROGRAMS = tresor-extract
tresor_extract_CPPFLAGS = $(TRESOR_CORE_CPPFLAGS)
tresor_extract_CXXFLAGS = $(TRESOR_CXXFLAGS) $(PUGIXML_CFLAGS) $(POPPLER_CFLAGS) \
	$(LIBZIP_CFLAGS)
tresor_extract_SOURCES = src/tresor-extract/tresor-extract.cpp
tresor_extract_LDADD = $(TRESOR_DOCUMENTS_LIBS)
