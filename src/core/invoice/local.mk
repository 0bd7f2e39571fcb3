# libtresor_invoice: invoice recognition and the supplier check for the
# Sieve extension (tresor-invoice.h) - Authentication-Results, suppliers
# file, MIME, keywords. ICU and libpsl.
noinst_LTLIBRARIES += src/core/invoice/libtresor_invoice.la
src_core_invoice_libtresor_invoice_la_CPPFLAGS = $(TRESOR_CORE_CPPFLAGS)
src_core_invoice_libtresor_invoice_la_CXXFLAGS = $(TRESOR_CXXFLAGS) $(PSL_CFLAGS) \
	$(ICU_CFLAGS)
src_core_invoice_libtresor_invoice_la_SOURCES = \
	src/core/invoice/tresor-invoice.h src/core/invoice/invoice_c_api.cpp \
	src/core/invoice/authres.hpp src/core/invoice/authres.cpp \
	src/core/invoice/suppliers.hpp src/core/invoice/suppliers.cpp \
	src/core/invoice/invoice.hpp src/core/invoice/invoice.cpp \
	src/core/invoice/dmarc_intake.hpp src/core/invoice/dmarc_intake.cpp
src_core_invoice_libtresor_invoice_la_LIBADD = $(PSL_LIBS) $(ICU_LIBS)
TRESOR_INVOICE_LIBS = src/core/invoice/libtresor_invoice.la $(TRESOR_EXTRACT_LIBS) \
	$(PSL_LIBS) $(ICU_LIBS)
