// The supplier registry: CSV parsing, bad lines reported with their line
// numbers, normalisation, look-ups, and reloading when the file changes.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "invoice/suppliers.hpp"
#include "test_util.hpp"

// A substring check without gmock, so that libgtest-dev alone builds the tests.
#define EXPECT_CONTAINS(text, part)                                                      \
	EXPECT_NE(std::string(text).find(part), std::string::npos)                       \
		<< "expected to contain: " << (part) << "\nactual: " << (text)

using namespace tresor::suppliers;
using testutil::TempDir;
using testutil::write_file;

namespace {

struct LogLine {
	int level;
	std::string message;
};

struct CapturingLogger {
	std::vector<LogLine> lines;
	Logger logger()
	{
		return [this](int level, const std::string &m) { lines.push_back({level, m}); };
	}
	std::vector<std::string> at_level(int level) const
	{
		std::vector<std::string> out;
		for (const LogLine &l : lines) {
			if (l.level == level)
				out.push_back(l.message);
		}
		return out;
	}
};

std::vector<std::string> names(const SupplierList &list)
{
	std::vector<std::string> out;
	for (const Supplier &s : list.all())
		out.push_back(s.name);
	return out;
}

// Sets the file's mtime explicitly, so a rewrite within the same clock
// tick is still a change.
void set_mtime(const std::string &path, std::time_t seconds)
{
	struct timespec times[2];
	times[0].tv_sec = seconds;
	times[0].tv_nsec = 0;
	times[1] = times[0];
	ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

const char kHeader[] = "name,folder,domains,addresses,vat_ids,ibans\n";

} // namespace

TEST(SupplierFileParsing, ParsesValidFile)
{
	CapturingLogger log;
	SupplierList list = parse(std::string(kHeader) +
					  "ACME GmbH,Rechnungen/ACME,acme.de acme-gmbh.de,"
					  "billing@acme.de,DE123456789,DE89370400440532013000\n"
					  "Lieferant GmbH,Rechnungen/Lieferant,lieferant.de,,,\n",
				  "suppliers.csv", log.logger());
	ASSERT_EQ(names(list), (std::vector<std::string>{"ACME GmbH", "Lieferant GmbH"}));
	const Supplier &acme = list.all()[0];
	EXPECT_EQ(acme.folder, "Rechnungen/ACME");
	EXPECT_EQ(acme.domains, (std::vector<std::string>{"acme.de", "acme-gmbh.de"}));
	EXPECT_EQ(acme.addresses, (std::vector<std::string>{"billing@acme.de"}));
	EXPECT_EQ(acme.vat_ids, (std::vector<std::string>{"DE123456789"}));
	EXPECT_EQ(acme.ibans, (std::vector<std::string>{"DE89370400440532013000"}));
	EXPECT_EQ(acme.line, 2u);
	const Supplier &lieferant = list.all()[1];
	EXPECT_EQ(lieferant.line, 3u);
	EXPECT_TRUE(lieferant.addresses.empty());
	EXPECT_TRUE(lieferant.vat_ids.empty());
	EXPECT_TRUE(lieferant.ibans.empty());
	EXPECT_TRUE(log.at_level(2).empty());
	EXPECT_TRUE(log.at_level(3).empty());
	EXPECT_EQ(log.at_level(1),
		  (std::vector<std::string>{"tresor_suppliers: suppliers.csv: 2 suppliers loaded"}));
}

TEST(SupplierFileParsing, ColumnsInAnyOrderAndOptional)
{
	CapturingLogger log;
	SupplierList list = parse("IBANs , Name,FOLDER\n"
				  "DE89370400440532013000,ACME GmbH,Rechnungen/ACME\n",
				  "s.csv", log.logger());
	ASSERT_EQ(list.all().size(), 1u);
	EXPECT_EQ(list.all()[0].name, "ACME GmbH");
	EXPECT_EQ(list.all()[0].folder, "Rechnungen/ACME");
	EXPECT_EQ(list.all()[0].ibans, (std::vector<std::string>{"DE89370400440532013000"}));
	EXPECT_TRUE(list.all()[0].domains.empty());
}

TEST(SupplierFileParsing, Quoting)
{
	CapturingLogger log;
	// CRLF line ends, a BOM, a quoted comma, "" escapes, and a quoted
	// field over two lines (values separated by the line break).
	SupplierList list = parse("\xEF\xBB\xBF" "name,folder,domains\r\n"
				  "\"ACME, Inc.\",\"Rechnungen/ACME \"\"Nord\"\"\",acme.de\r\n"
				  "\"#1 Bau\",Rechnungen/Bau,\"bau.de\r\nbau-gmbh.de\"\r\n"
				  "Müller & Söhne,Rechnungen/Müller,xn--mller-kva.de\r\n",
				  "s.csv", log.logger());
	ASSERT_EQ(names(list),
		  (std::vector<std::string>{"ACME, Inc.", "#1 Bau", "Müller & Söhne"}));
	EXPECT_EQ(list.all()[0].folder, "Rechnungen/ACME \"Nord\"");
	EXPECT_EQ(list.all()[1].domains, (std::vector<std::string>{"bau.de", "bau-gmbh.de"}));
	EXPECT_EQ(list.all()[2].line, 5u) << "the quoted line break counts as a line";
	EXPECT_TRUE(log.at_level(2).empty());
}

TEST(SupplierFileParsing, CommentsAndEmptyLines)
{
	CapturingLogger log;
	SupplierList list = parse("# supplier file of Example GmbH\n"
				  "\n"
				  "name,folder\n"
				  "# ACME left us in 2023\n"
				  "\n"
				  "Lieferant GmbH,Rechnungen/Lieferant\n",
				  "s.csv", log.logger());
	ASSERT_EQ(names(list), (std::vector<std::string>{"Lieferant GmbH"}));
	EXPECT_EQ(list.all()[0].line, 6u);
	EXPECT_TRUE(log.at_level(2).empty());
}

TEST(SupplierFileParsing, BadLinesAreSkippedAndReportedWithLineNumbers)
{
	CapturingLogger log;
	SupplierList list = parse(
		std::string(kHeader) +
			"Good One,Rechnungen/One,one.de,,,\n"                       // 2
			"Too Few,Rechnungen/Few\n"                                 // 3
			",Rechnungen/Nameless,,,,\n"                               // 4
			"Empty Folder,,,,,\n"                                      // 5
			"Slash Start,/Rechnungen,,,,\n"                            // 6
			"Slash End,Rechnungen/,,,,\n"                              // 7
			"Dots,Rechnungen/../etc,,,,\n"                             // 8
			"Control,\"Rechnungen/A\tB\",,,,\n"                        // 9
			"Bad IBAN,Rechnungen/IBAN,,,,DE02120300000000202052\n"     // 10
			"Bad Domain,Rechnungen/Domain,exa_mple.de,,,\n"            // 11
			"Stray \"Quote,Rechnungen/Q,,,,\n"                         // 12
			"Good One,Rechnungen/Again,,,,\n"                          // 13
			"Taken Domain,Rechnungen/Taken,ONE.de.,,,\n"               // 14
			"Good Two,Rechnungen/Two,two.de,,,\n"                      // 15
			"\"Unbalanced,Rechnungen/U,,,,\n"                          // 16
			"Good Three,Rechnungen/Three,three.de,,,\n",               // 17
		"/etc/dovecot/suppliers.csv", log.logger());
	EXPECT_EQ(names(list),
		  (std::vector<std::string>{"Good One", "Good Two", "Good Three"}));
	const std::string p = "tresor_suppliers: /etc/dovecot/suppliers.csv line ";
	EXPECT_EQ(log.at_level(2),
		  (std::vector<std::string>{
			  p + "3 skipped: 2 fields, expected 6",
			  p + "4 skipped: empty name",
			  p + "5 skipped: invalid folder name '' (expected a non-empty name "
			      "without control characters, '..', empty levels or '/' at either end)",
			  p + "6 skipped: invalid folder name '/Rechnungen' (expected a non-empty "
			      "name without control characters, '..', empty levels or '/' at "
			      "either end)",
			  p + "7 skipped: invalid folder name 'Rechnungen/' (expected a non-empty "
			      "name without control characters, '..', empty levels or '/' at "
			      "either end)",
			  p + "8 skipped: invalid folder name 'Rechnungen/../etc' (expected a "
			      "non-empty name without control characters, '..', empty levels or "
			      "'/' at either end)",
			  p + "9 skipped: invalid folder name 'Rechnungen/A?B' (expected a "
			      "non-empty name without control characters, '..', empty levels or "
			      "'/' at either end)",
			  p + "10 skipped: invalid IBAN 'DE02120300000000202052' (wrong format or "
			      "check digits)",
			  p + "11 skipped: invalid domain 'exa_mple.de'",
			  p + "12 skipped: double quote inside an unquoted field",
			  p + "13 skipped: supplier 'Good One' is already defined on line 2",
			  p + "14 skipped: domain 'one.de' already belongs to 'Good One' (line 2)",
			  p + "16 skipped: unbalanced double quotes",
		  }));
	EXPECT_EQ(log.at_level(1),
		  (std::vector<std::string>{"tresor_suppliers: /etc/dovecot/suppliers.csv: "
					    "3 suppliers loaded, 13 lines skipped"}));
}

// A public suffix as a supplier domain would make every domain under it the
// supplier's (anyone could register a sender "belonging" to it).
TEST(SupplierFileParsing, PublicSuffixDomainMakesTheLineInvalid)
{
	CapturingLogger log;
	SupplierList list = parse("name,folder,domains\n"
				  "Pages,Rechnungen/Pages,github.io\n"
				  "UK Ltd,Rechnungen/UK,example.co.uk CO.UK\n"
				  "Com,Rechnungen/Com,com\n"
				  "Shop,Rechnungen/Shop,shop.github.io\n"
				  "Japan,Rechnungen/JP,example.co.jp\n"
				  "Tokyo,Rechnungen/Tokyo,tokyo.jp.\n",
				  "s.csv", log.logger());
	EXPECT_EQ(names(list), (std::vector<std::string>{"Shop", "Japan"}));
	const std::string why = " is a public suffix (every domain under it would count as the "
				"supplier's)";
	EXPECT_EQ(log.at_level(2),
		  (std::vector<std::string>{
			  "tresor_suppliers: s.csv line 2 skipped: domain 'github.io'" + why,
			  "tresor_suppliers: s.csv line 3 skipped: domain 'CO.UK'" + why,
			  "tresor_suppliers: s.csv line 4 skipped: domain 'com'" + why,
			  "tresor_suppliers: s.csv line 7 skipped: domain 'tokyo.jp.'" + why}));
	EXPECT_EQ(list.by_domain("evil.github.io"), nullptr);
	EXPECT_NE(list.by_domain("shop.github.io"), nullptr);
}

TEST(SupplierFileParsing, UnclosedQuoteCostsOnlyItsOwnLine)
{
	// The quote opened on line 2 would close at the start of line 4.
	CapturingLogger log;
	SupplierList list = parse("name,folder\n"
				  "\"ACME GmbH,Rechnungen/ACME\n"
				  "Lieferant,Rechnungen/Lieferant\n"
				  "\"Müller, Söhne\",Rechnungen/Müller\n",
				  "s.csv", log.logger());
	EXPECT_EQ(names(list), (std::vector<std::string>{"Lieferant", "Müller, Söhne"}));
	EXPECT_EQ(list.all()[1].line, 4u);
	EXPECT_EQ(log.at_level(2), (std::vector<std::string>{
					   "tresor_suppliers: s.csv line 2 skipped: unbalanced double "
					   "quotes"}));
}

TEST(SupplierFileParsing, TextAfterClosingQuoteIsBad)
{
	CapturingLogger log;
	SupplierList list = parse("name,folder\n"
				  "\"ACME\"GmbH,Rechnungen/ACME\n"
				  "Lieferant,Rechnungen/Lieferant\n",
				  "s.csv", log.logger());
	EXPECT_EQ(names(list), (std::vector<std::string>{"Lieferant"}));
	EXPECT_EQ(log.at_level(2),
		  (std::vector<std::string>{"tresor_suppliers: s.csv line 2 skipped: unexpected "
					    "character after a closing double quote"}));
}

TEST(SupplierFileParsing, InvalidUtf8IsBad)
{
	CapturingLogger log;
	SupplierList list = parse("name,folder\n"
				  "M\xfcller,Rechnungen/M\n"
				  "Lieferant,Rechnungen/Lieferant\n",
				  "s.csv", log.logger());
	EXPECT_EQ(names(list), (std::vector<std::string>{"Lieferant"}));
	EXPECT_EQ(log.at_level(2), (std::vector<std::string>{
					   "tresor_suppliers: s.csv line 2 skipped: not valid UTF-8"}));
}

TEST(SupplierFileParsing, HeaderProblemsMeanNoSuppliers)
{
	struct Case {
		const char *csv;
		std::string error;
	};
	const Case cases[] = {
		{"", "tresor_suppliers: s.csv: no header row; no supplier is known"},
		{"# only a comment\n", "tresor_suppliers: s.csv: no header row; no supplier is known"},
		{"name,domains\nACME,acme.de\n",
		 "tresor_suppliers: s.csv line 1: header row lacks the column folder; "
		 "no supplier is known"},
		{"folder,domains\nA,acme.de\n",
		 "tresor_suppliers: s.csv line 1: header row lacks the column name; "
		 "no supplier is known"},
		{"name,folder,Name\nA,B,C\n",
		 "tresor_suppliers: s.csv line 1: column 'Name' appears twice; "
		 "no supplier is known"},
		{"\"name,folder\n", "tresor_suppliers: s.csv line 1: header row: unbalanced "
				    "double quotes; no supplier is known"},
	};
	for (const Case &c : cases) {
		CapturingLogger log;
		SupplierList list = parse(c.csv, "s.csv", log.logger());
		EXPECT_TRUE(list.empty()) << c.csv;
		EXPECT_EQ(log.at_level(3), (std::vector<std::string>{c.error})) << c.csv;
	}
}

TEST(SupplierFileParsing, UnknownColumnIsReportedAndIgnored)
{
	CapturingLogger log;
	SupplierList list = parse("name,folder,phone\nACME,Rechnungen/ACME,+49 30 1234\n", "s.csv",
				  log.logger());
	EXPECT_EQ(names(list), (std::vector<std::string>{"ACME"}));
	EXPECT_EQ(log.at_level(2), (std::vector<std::string>{
					   "tresor_suppliers: s.csv line 1: unknown column 'phone' ignored"}));
}

TEST(SupplierFileParsing, Normalisation)
{
	CapturingLogger log;
	SupplierList list = parse(std::string(kHeader) +
					  "ACME,Rechnungen/ACME,ACME.De. Bücher.DE,"
					  "Billing@ACME.de,\"de 123.456-789 ATU 12345678\","
					  "\"de89 3704 0044 0532 0130 00 AT61 1904 3002 3457 3201\"\n",
				  "s.csv", log.logger());
	ASSERT_EQ(list.all().size(), 1u) << (log.lines.empty() ? "" : log.lines[0].message);
	const Supplier &s = list.all()[0];
	EXPECT_EQ(s.domains, (std::vector<std::string>{"acme.de", "xn--bcher-kva.de"}));
	EXPECT_EQ(s.addresses, (std::vector<std::string>{"billing@acme.de"}));
	EXPECT_EQ(s.vat_ids, (std::vector<std::string>{"DE123456789", "ATU12345678"}));
	EXPECT_EQ(s.ibans,
		  (std::vector<std::string>{"DE89370400440532013000", "AT611904300234573201"}));
}

TEST(SupplierFileParsing, IbanGroupsThatDontAddUpAreBad)
{
	CapturingLogger log;
	SupplierList list = parse("name,folder,ibans\n"
				  "ACME,Rechnungen/ACME,DE89 3704 0044 0532 0130 01\n",
				  "s.csv", log.logger());
	EXPECT_TRUE(list.empty());
	EXPECT_EQ(log.at_level(2),
		  (std::vector<std::string>{"tresor_suppliers: s.csv line 2 skipped: invalid IBAN "
					    "'DE89370400440532013001' (wrong format or check digits)"}));
}

TEST(SupplierLookup, LookUps)
{
	CapturingLogger log;
	SupplierList list = parse(std::string(kHeader) +
					  "ACME,Rechnungen/ACME,acme.de,,DE123456789,"
					  "DE89370400440532013000\n"
					  "ACME Billing,Rechnungen/ACME-Billing,billing.acme.de,"
					  "acme.invoices@gmail.com,,\n",
				  "s.csv", log.logger());
	ASSERT_EQ(list.all().size(), 2u);
	const Supplier *acme = &list.all()[0];
	const Supplier *billing = &list.all()[1];
	EXPECT_EQ(list.by_vatid("DE123456789"), acme);
	EXPECT_EQ(list.by_vatid("DE999999999"), nullptr);
	EXPECT_EQ(list.by_vatid(""), nullptr);
	EXPECT_EQ(list.by_iban("DE89370400440532013000"), acme);
	EXPECT_EQ(list.by_iban("DE02120300000000202051"), nullptr);
	EXPECT_EQ(list.by_address("acme.invoices@gmail.com"), billing);
	EXPECT_EQ(list.by_address("someone@gmail.com"), nullptr);
	EXPECT_EQ(list.by_domain("acme.de"), acme);
	EXPECT_EQ(list.by_domain("mail.acme.de"), acme);
	EXPECT_EQ(list.by_domain("billing.acme.de"), billing) << "the longest domain wins";
	EXPECT_EQ(list.by_domain("eu.billing.acme.de"), billing);
	EXPECT_EQ(list.by_domain("evilacme.de"), nullptr);
	EXPECT_EQ(list.by_domain("acme.de.evil.example"), nullptr);
	EXPECT_EQ(list.by_domain("de"), nullptr);
	EXPECT_TRUE(acme->owns_domain("x.acme.de"));
	EXPECT_FALSE(acme->owns_domain("xacme.de"));
	EXPECT_FALSE(acme->owns_domain("acme.de.com"));
}

TEST(SupplierLookup, CanonicalDomain)
{
	EXPECT_EQ(canonical_domain("Example.COM."), "example.com");
	EXPECT_EQ(canonical_domain(" mail.example.com "), "mail.example.com");
	EXPECT_EQ(canonical_domain("Bücher.de"), "xn--bcher-kva.de");
	EXPECT_EQ(canonical_domain("xn--bcher-kva.de"), "xn--bcher-kva.de");
	// Cyrillic а (U+0430) in place of Latin a.
	EXPECT_EQ(canonical_domain("\xD0\xB0" "cme.de"), "xn--cme-5cd.de");
	EXPECT_EQ(canonical_domain("localhost"), std::nullopt);
	EXPECT_EQ(canonical_domain(""), std::nullopt);
	EXPECT_EQ(canonical_domain("."), std::nullopt);
	EXPECT_EQ(canonical_domain("exa mple.com"), std::nullopt);
	EXPECT_EQ(canonical_domain("exa_mple.com"), std::nullopt);
	EXPECT_EQ(canonical_domain("-acme.de"), std::nullopt);
	EXPECT_EQ(canonical_domain("acme..de"), std::nullopt);
	EXPECT_EQ(canonical_domain("*.acme.de"), std::nullopt);
	EXPECT_EQ(canonical_domain(std::string(64, 'a') + ".de"), std::nullopt);
	EXPECT_EQ(canonical_domain("\xff.de"), std::nullopt);
	EXPECT_EQ(domain_to_unicode("xn--bcher-kva.de"), "bücher.de");
	EXPECT_EQ(domain_to_unicode("acme.de"), "acme.de");
}

TEST(SupplierLookup, CanonicalAddress)
{
	EXPECT_EQ(canonical_address("Billing@ACME.de"), "billing@acme.de");
	EXPECT_EQ(canonical_address("a@Bücher.de"), "a@xn--bcher-kva.de");
	EXPECT_EQ(canonical_address("billing"), std::nullopt);
	EXPECT_EQ(canonical_address("@acme.de"), std::nullopt);
	EXPECT_EQ(canonical_address("billing@"), std::nullopt);
	EXPECT_EQ(canonical_address("bill ing@acme.de"), std::nullopt);
	EXPECT_EQ(canonical_address("billing@localhost"), std::nullopt);
}

TEST(SupplierValueChecks, FolderNames)
{
	EXPECT_TRUE(is_valid_folder_name("Rechnungen"));
	EXPECT_TRUE(is_valid_folder_name("Rechnungen/ACME GmbH"));
	EXPECT_TRUE(is_valid_folder_name("Rechnungen/Müller & Söhne"));
	EXPECT_TRUE(is_valid_folder_name("Rechnungen/A.B"));
	EXPECT_FALSE(is_valid_folder_name(""));
	EXPECT_FALSE(is_valid_folder_name("/Rechnungen"));
	EXPECT_FALSE(is_valid_folder_name("Rechnungen/"));
	EXPECT_FALSE(is_valid_folder_name("Rechnungen//ACME"));
	EXPECT_FALSE(is_valid_folder_name(".."));
	EXPECT_FALSE(is_valid_folder_name("Rechnungen/../ACME"));
	EXPECT_FALSE(is_valid_folder_name("Rechnungen/ACME..alt"));
	EXPECT_FALSE(is_valid_folder_name("Rechnungen\nACME"));
	EXPECT_FALSE(is_valid_folder_name("Rechnungen\x7f"));
	EXPECT_FALSE(is_valid_folder_name("Rechnungen/\xc3"));
}

TEST(SupplierValueChecks, Utf8Validation)
{
	EXPECT_TRUE(is_valid_utf8("Müller \xF0\x9F\x98\x80"));
	EXPECT_FALSE(is_valid_utf8("\xC3"));          // truncated
	EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));      // overlong '/'
	EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));  // surrogate
	EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80")); // beyond U+10FFFF
	EXPECT_FALSE(is_valid_utf8("\x80"));
}

TEST(SupplierRegistry, MissingFileIsLoggedOnce)
{
	TempDir dir;
	Registry registry(dir / "missing.csv", std::chrono::milliseconds(0));
	CapturingLogger log;
	auto list = registry.current(log.logger());
	ASSERT_NE(list, nullptr);
	EXPECT_TRUE(list->empty());
	EXPECT_EQ(log.at_level(3),
		  (std::vector<std::string>{"tresor_suppliers: " + (dir / "missing.csv") +
					    ": No such file or directory; no supplier is known, "
					    "every invoice counts as from an unknown supplier"}));
	registry.current(log.logger());
	registry.current(log.logger());
	EXPECT_EQ(log.lines.size(), 1u) << "an unchanged problem is not logged again";
}

TEST(SupplierRegistry, EmptyPathMeansNoSuppliersSilently)
{
	Registry registry("", std::chrono::milliseconds(0));
	CapturingLogger log;
	EXPECT_TRUE(registry.current(log.logger())->empty());
	EXPECT_TRUE(log.lines.empty());
}

TEST(SupplierRegistry, DirectoryIsAnError)
{
	TempDir dir;
	Registry registry(dir.path(), std::chrono::milliseconds(0));
	CapturingLogger log;
	EXPECT_TRUE(registry.current(log.logger())->empty());
	ASSERT_EQ(log.at_level(3).size(), 1u);
	EXPECT_CONTAINS(log.at_level(3)[0], ": Is a directory; no supplier is known");
}

TEST(SupplierRegistry, ReloadsWhenTheFileChanges)
{
	TempDir dir;
	const std::string path = dir / "suppliers.csv";
	write_file(path, "name,folder\nACME,Rechnungen/ACME\n");
	set_mtime(path, 1700000000);
	Registry registry(path, std::chrono::milliseconds(0));
	CapturingLogger log;
	auto first = registry.current(log.logger());
	EXPECT_EQ(names(*first), (std::vector<std::string>{"ACME"}));
	EXPECT_EQ(registry.current(log.logger()), first) << "unchanged: the same list";

	// Same size, same inode, only the content and mtime differ.
	write_file(path, "name,folder\nBCME,Rechnungen/BCME\n");
	set_mtime(path, 1700000001);
	auto second = registry.current(log.logger());
	EXPECT_EQ(names(*second), (std::vector<std::string>{"BCME"}));
	EXPECT_EQ(names(*first), (std::vector<std::string>{"ACME"}))
		<< "a list handed out earlier stays valid";

	// Replaced by rename, as editors and config management do it.
	write_file(dir / "new.csv", "name,folder\nACME,Rechnungen/ACME\nLieferant,Rechnungen/L\n");
	set_mtime(dir / "new.csv", 1700000001);
	ASSERT_EQ(::rename((dir / "new.csv").c_str(), path.c_str()), 0);
	EXPECT_EQ(names(*registry.current(log.logger())),
		  (std::vector<std::string>{"ACME", "Lieferant"}));

	// Removed: no suppliers, logged; back again: loaded again.
	ASSERT_EQ(::unlink(path.c_str()), 0);
	EXPECT_TRUE(registry.current(log.logger())->empty());
	EXPECT_EQ(log.at_level(3).size(), 1u);
	write_file(path, "name,folder\nACME,Rechnungen/ACME\n");
	EXPECT_EQ(names(*registry.current(log.logger())), (std::vector<std::string>{"ACME"}));
}

TEST(SupplierRegistry, ChecksAtMostOncePerInterval)
{
	TempDir dir;
	const std::string path = dir / "suppliers.csv";
	write_file(path, "name,folder\nACME,Rechnungen/ACME\n");
	set_mtime(path, 1700000000);
	Registry registry(path, std::chrono::hours(1));
	CapturingLogger log;
	EXPECT_EQ(names(*registry.current(log.logger())), (std::vector<std::string>{"ACME"}));
	write_file(path, "name,folder\nLieferant,Rechnungen/Lieferant\n");
	set_mtime(path, 1700000100);
	EXPECT_EQ(names(*registry.current(log.logger())), (std::vector<std::string>{"ACME"}))
		<< "within the interval the file is not looked at";
}

TEST(SupplierRegistry, DefaultIntervalIsOneSecond)
{
	TempDir dir;
	const std::string path = dir / "suppliers.csv";
	write_file(path, "name,folder\nACME,Rechnungen/ACME\n");
	set_mtime(path, 1700000000);
	Registry registry(path);
	CapturingLogger log;
	EXPECT_EQ(names(*registry.current(log.logger())), (std::vector<std::string>{"ACME"}));
	write_file(path, "name,folder\nLieferant,Rechnungen/Lieferant\n");
	set_mtime(path, 1700000100);
	EXPECT_EQ(names(*registry.current(log.logger())), (std::vector<std::string>{"ACME"}));
	::usleep(1100 * 1000);
	EXPECT_EQ(names(*registry.current(log.logger())),
		  (std::vector<std::string>{"Lieferant"}));
}
