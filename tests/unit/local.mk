# Unit tests (GoogleTest): one program per library of the core, each linked
# with that library alone (and what it uses), so that a library that
# reaches into another one does not link.
if HAVE_GTEST
UNIT_TEST_CXXFLAGS = $(TRESOR_CXXFLAGS) $(GTEST_CFLAGS) $(TRESOR_EXTRACT_DEFINE) \
	-DTRESOR_EXTRACT_BUILD_PATH='"$(abs_top_builddir)/tresor-extract"'
UNIT_TEST_CPPFLAGS = $(TRESOR_CORE_CPPFLAGS) -I$(top_srcdir)/src \
	-I$(top_srcdir)/tests/unit
UNIT_TESTS = tests/unit/common/common_test tests/unit/archive/archive_test \
	tests/unit/extract/extract_test tests/unit/invoice/invoice_test \
	tests/unit/fts/fts_test
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)

tests_unit_common_common_test_CPPFLAGS = $(UNIT_TEST_CPPFLAGS)
tests_unit_common_common_test_CXXFLAGS = $(UNIT_TEST_CXXFLAGS)
tests_unit_common_common_test_SOURCES = tests/unit/test_util.hpp \
	tests/unit/common/test_setting_values.cpp \
	tests/unit/common/test_text.cpp \
	tests/unit/common/test_string_arena.cpp \
	tests/unit/common/test_c_abi.cpp
tests_unit_common_common_test_LDADD = $(TRESOR_COMMON_LIBS) $(GTEST_LIBS)

tests_unit_archive_archive_test_CPPFLAGS = $(UNIT_TEST_CPPFLAGS)
tests_unit_archive_archive_test_CXXFLAGS = $(UNIT_TEST_CXXFLAGS)
tests_unit_archive_archive_test_SOURCES = tests/unit/test_util.hpp \
	tests/unit/archive/test_config.cpp \
	tests/unit/archive/test_hasher.cpp \
	tests/unit/archive/test_hash_pipeline.cpp \
	tests/unit/archive/test_journal.cpp \
	tests/unit/archive/test_catalog.cpp \
	tests/unit/archive/test_verify.cpp \
	tests/unit/archive/test_retention.cpp \
	tests/unit/archive/test_export.cpp \
	tests/unit/archive/test_invoices.cpp \
	tests/unit/archive/test_seal.cpp
tests_unit_archive_archive_test_LDADD = $(TRESOR_ARCHIVE_LIBS) $(GTEST_LIBS)

# the helper the extract, invoice and FTS tests run
tests_unit_extract_extract_test_CPPFLAGS = $(UNIT_TEST_CPPFLAGS)
tests_unit_extract_extract_test_CXXFLAGS = $(UNIT_TEST_CXXFLAGS)
EXTRA_tests_unit_extract_extract_test_DEPENDENCIES = tresor-extract$(EXEEXT)
tests_unit_extract_extract_test_SOURCES = tests/unit/test_util.hpp \
	tests/unit/dmarc_samples.hpp \
	tests/unit/extract/test_einvoice.cpp \
	tests/unit/extract/test_dmarc.cpp \
	tests/unit/extract/test_extract.cpp \
	tests/unit/extract/test_extract_office.cpp \
	tests/unit/extract/test_extract_session.cpp
tests_unit_extract_extract_test_LDADD = $(TRESOR_DOCUMENTS_LIBS) $(GTEST_LIBS)

tests_unit_invoice_invoice_test_CPPFLAGS = $(UNIT_TEST_CPPFLAGS)
tests_unit_invoice_invoice_test_CXXFLAGS = $(UNIT_TEST_CXXFLAGS) $(PSL_CFLAGS) $(ICU_CFLAGS)
EXTRA_tests_unit_invoice_invoice_test_DEPENDENCIES = tresor-extract$(EXEEXT)
tests_unit_invoice_invoice_test_SOURCES = tests/unit/test_util.hpp \
	tests/unit/invoice/test_authres.cpp \
	tests/unit/invoice/test_suppliers.cpp \
	tests/unit/invoice/test_invoice.cpp \
	tests/unit/invoice/test_dmarc_intake.cpp
tests_unit_invoice_invoice_test_LDADD = $(TRESOR_INVOICE_LIBS) $(GTEST_LIBS)

tests_unit_fts_fts_test_CPPFLAGS = $(UNIT_TEST_CPPFLAGS)
tests_unit_fts_fts_test_CXXFLAGS = $(UNIT_TEST_CXXFLAGS) $(XAPIAN_CFLAGS)
EXTRA_tests_unit_fts_fts_test_DEPENDENCIES = tresor-extract$(EXEEXT)
tests_unit_fts_fts_test_SOURCES = tests/unit/test_util.hpp \
	tests/unit/fts/test_fts_index.cpp
tests_unit_fts_fts_test_LDADD = $(TRESOR_FTS_LIBS) $(GTEST_LIBS)

endif
