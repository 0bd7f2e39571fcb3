# libtresor_extract: the client side of the tresor-extract helper (runs it
# under limits, speaks its protocol), the helper's settings and the
# e-invoice fields and DMARC reports it returns.
noinst_LTLIBRARIES += src/core/extract/libtresor_extract.la
src_core_extract_libtresor_extract_la_CPPFLAGS = $(TRESOR_CORE_CPPFLAGS)
src_core_extract_libtresor_extract_la_CXXFLAGS = $(TRESOR_CXXFLAGS) $(TRESOR_EXTRACT_DEFINE)
src_core_extract_libtresor_extract_la_SOURCES = \
	src/core/extract/extract_client.hpp src/core/extract/extract_client.cpp \
	src/core/extract/helper_settings.hpp src/core/extract/helper_settings.cpp \
	src/core/extract/einvoice.hpp src/core/extract/einvoice.cpp \
	src/core/extract/dmarc.hpp src/core/extract/dmarc.cpp
TRESOR_EXTRACT_LIBS = src/core/extract/libtresor_extract.la $(TRESOR_COMMON_LIBS)
