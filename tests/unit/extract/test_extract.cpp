// The tresor-extract helper and extract::analyse: every PDF of the shared
// corpus through the real helper against values read by hand (pdfdetach
// -saveall, then the XML), hand-made PDFs (no attachment, odd attachment
// names, two invoices, encrypted), broken input, and the process handling:
// time, CPU and memory limits, output cap, process group, descriptors,
// environment, SIGPIPE, zombies.
//
// The helper is found through $TRESOR_EXTRACT, else the path compiled in
// with -DTRESOR_EXTRACT_BUILD_PATH="...".
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "extract/extract_client.hpp"
#include "test_util.hpp"
#include "tresor-extract/einvoice_xml.hpp"

using tresor::einvoice::Invoice;
using tresor::extract::analyse;
using tresor::extract::Document;
using tresor::extract::Kind;
using tresor::extract::Limits;
using tresor::extract::kSanitizerBuild;

namespace {

// ------------------------------------------------------------ helpers

using testutil::read_file;

using testutil::einvoice_dir;

// A fresh directory, removed with its contents.
class ScratchDir {
public:
	ScratchDir()
	{
		std::string tmpl = (std::filesystem::temp_directory_path() /
				    "tresor-extract-test-XXXXXX").string();
		if (::mkdtemp(tmpl.data()) == nullptr)
			throw std::runtime_error("mkdtemp failed");
		path_ = tmpl;
	}
	~ScratchDir()
	{
		std::error_code ec;
		std::filesystem::remove_all(path_, ec);
	}
	ScratchDir(const ScratchDir &) = delete;
	ScratchDir &operator=(const ScratchDir &) = delete;

	std::string operator/(const std::string &name) const { return path_ + "/" + name; }

	// An executable /bin/sh script standing in for the helper.
	std::string script(const std::string &name, const std::string &body) const
	{
		std::string path = *this / name;
		std::ofstream out(path, std::ios::binary | std::ios::trunc);
		out << "#!/bin/sh\n" << body;
		out.close();
		::chmod(path.c_str(), 0755);
		return path;
	}

private:
	std::string path_;
};

// An answer a script can print: text as given, no invoice.
std::string json_answer(const std::string &text_expr)
{
	return "echo \"{\\\"einvoice\\\":null,\\\"text\\\":\\\"" + text_expr +
	       "\\\",\\\"warnings\\\":[]}\"\n";
}

std::string join(const std::vector<std::string> &items)
{
	std::string out;
	for (const std::string &s : items)
		out += (out.empty() ? "" : " | ") + s;
	return out;
}

bool has_warning(const Document &doc, const std::string &needle)
{
	for (const std::string &w : doc.warnings)
		if (w.find(needle) != std::string::npos)
			return true;
	return false;
}

std::size_t open_fd_count()
{
	std::size_t n = 0;
	for ([[maybe_unused]] const auto &entry :
	     std::filesystem::directory_iterator("/proc/self/fd"))
		n++;
	return n;
}

bool process_gone(pid_t pid)
{
	std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
	if (!stat)
		return true;
	std::string line;
	std::getline(stat, line);
	std::size_t close = line.rfind(')');
	// a zombie no one reaps (init in a container) is dead too
	return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

// ---------------------------------------------- hand-made PDF files

struct Attachment {
	std::string name;
	std::string data;
};

std::string pdf_stream(const std::string &dict_extra, const std::string &data)
{
	return "<< /Length " + std::to_string(data.size()) + dict_extra + " >>\nstream\n" + data +
	       "\nendstream";
}

// A one-page PDF showing `text` in Helvetica, with embedded files; with
// `encrypted` an /Encrypt dictionary no empty password opens.
std::string make_pdf(const std::string &text, const std::vector<Attachment> &attachments,
		     bool encrypted = false)
{
	std::vector<std::string> objects;
	std::string names;
	for (std::size_t i = 0; i < attachments.size(); i++) {
		int spec = 6 + static_cast<int>(2 * i);
		names += "(" + attachments[i].name + ") " + std::to_string(spec) + " 0 R ";
	}
	std::string catalog = "<< /Type /Catalog /Pages 2 0 R";
	if (!attachments.empty())
		catalog += " /Names << /EmbeddedFiles << /Names [" + names + "] >> >>";
	catalog += " >>";
	objects.push_back(catalog);
	objects.push_back("<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
	objects.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
			  " /Resources << /Font << /F1 5 0 R >> >> >>");
	objects.push_back(pdf_stream("", "BT /F1 12 Tf 72 720 Td (" + text + ") Tj ET"));
	objects.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica"
			  " /Encoding /WinAnsiEncoding >>");
	for (std::size_t i = 0; i < attachments.size(); i++) {
		int file = 7 + static_cast<int>(2 * i);
		objects.push_back("<< /Type /Filespec /F (" + attachments[i].name + ") /UF (" +
				  attachments[i].name + ") /EF << /F " + std::to_string(file) +
				  " 0 R >> >>");
		objects.push_back(pdf_stream(" /Type /EmbeddedFile /Subtype /text#2Fxml",
					     attachments[i].data));
	}
	std::string trailer_extra;
	if (encrypted) {
		objects.push_back("<< /Filter /Standard /V 1 /R 2 /P -44"
				  " /O <" + std::string(64, 'a') + ">"
				  " /U <" + std::string(64, 'b') + "> >>");
		trailer_extra = " /Encrypt " + std::to_string(objects.size()) +
				" 0 R /ID [<0123456789abcdef0123456789abcdef>"
				" <0123456789abcdef0123456789abcdef>]";
	}

	return testutil::pdf_from_objects(objects, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
					  trailer_extra);
}

const char *const kCiiFile = "zugferd-corpus--XML-Rechnung_CII_XRECHNUNG_Einfach.cii.xml";
const char *const kUblFile = "xrechnung-testsuite--01.01a-INVOICE_ubl.xml";

// --------------------------------------------------------- corpus

struct CorpusPdf {
	const char *name;
	Invoice want;
	const char *text; // a line of the rendered invoice (pdftotext shows it)
};

// Read by hand from the XML that pdfdetach -saveall extracts from each
// PDF (factur-x.xml, xrechnung.xml, ZUGFeRD-invoice.xml,
// zugferd-invoice.xml).
const CorpusPdf kPdfFiles[] = {
	{"zugferd-corpus--XML-Rechnung_FX_EN16931_Einfach.pdf",
	 {"factur-x", "471102", "2018-03-05", "529.87", "EUR", "Lieferant GmbH", "DE123456789", ""},
	 "Handelsrechnung (380) Nr. 471102 vom 05.03.2018"},
	{"zugferd-corpus--XML-Rechnung_FX_XRECHNUNG_Einfach.pdf",
	 {"factur-x", "471102", "2018-03-05", "529.87", "EUR", "Lieferant GmbH", "DE123456789",
	  "DE02120300000000202051"},
	 "Leitwege-ID: 04011000-12345-34"},
	{"zugferd-corpus--ZUGFeRDv1_correct_Intarsys_ZUGFeRD_1p0_BASIC_Einfach.pdf",
	 {"zugferd-1", "471102", "2013-03-05", "235.62", "EUR", "Lieferant GmbH", "DE123456789",
	  "DE08700901001234567890"},
	 "IBAN-Nr.: DE08 7009 0100 1234 5678 90"},
	{"zugferd-corpus--ZUGFeRDv2_correct_intarsys_BASIC_zugferd_2p0_BASIC_Einfach.pdf",
	 {"factur-x", "471102", "2018-03-05", "235.62", "EUR", "Lieferant GmbH", "DE123456789", ""},
	 "Zahlbetrag 235,62"},
	{"zugferd-corpus--ZUGFeRDv2_correct_intarsys_MINIMUM_zugferd_2p0_MINIMUM.pdf",
	 {"factur-x", "471102", "2018-03-05", "235.62", "EUR", "Lieferant GmbH", "DE123456789", ""},
	 "Buchungshilfe - KEINE Rechnung Nr. 471102"},
};

void expect_invoice(const std::optional<Invoice> &got, const Invoice &want)
{
	ASSERT_TRUE(got.has_value());
	EXPECT_EQ(got->format, want.format);
	EXPECT_EQ(got->number, want.number);
	EXPECT_EQ(got->date, want.date);
	EXPECT_EQ(got->total, want.total);
	EXPECT_EQ(got->currency, want.currency);
	EXPECT_EQ(got->seller, want.seller);
	EXPECT_EQ(got->vatid, want.vatid);
	EXPECT_EQ(got->iban, want.iban);
}

std::string test_name(const char *file)
{
	std::string name;
	for (const char *p = file; *p != '\0'; p++)
		name += std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_';
	return name;
}

} // namespace

class ExtractCorpusPdf : public testing::TestWithParam<CorpusPdf> {};

TEST_P(ExtractCorpusPdf, EmbeddedInvoiceAndText)
{
	SKIP_WITHOUT_CORPUS();
	HELPER_OR_FAIL(helper);
	std::string pdf = read_file(einvoice_dir() / GetParam().name);
	ASSERT_FALSE(pdf.empty());
	Document doc = analyse(helper, Kind::pdf, pdf, Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	expect_invoice(doc.einvoice, GetParam().want);
	EXPECT_NE(doc.text.find(GetParam().text), std::string::npos) << doc.text;
	EXPECT_TRUE(doc.warnings.empty()) << join(doc.warnings);
}

TEST_P(ExtractCorpusPdf, FirstHalfIsNoInvoiceButAnAnswer)
{
	SKIP_WITHOUT_CORPUS();
	HELPER_OR_FAIL(helper);
	std::string pdf = read_file(einvoice_dir() / GetParam().name);
	Document doc = analyse(helper, Kind::pdf, pdf.substr(0, pdf.size() / 2), Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_FALSE(doc.einvoice.has_value());
	EXPECT_TRUE(has_warning(doc, "not a readable PDF")) << join(doc.warnings);
}

INSTANTIATE_TEST_SUITE_P(Files, ExtractCorpusPdf, testing::ValuesIn(kPdfFiles),
			 [](const testing::TestParamInfo<CorpusPdf> &info) {
				 return test_name(info.param.name);
			 });

// A PDF added to the corpus without expectations fails here.
TEST(ExtractCorpus, EveryPdfFileHasExpectations)
{
	SKIP_WITHOUT_CORPUS();
	std::set<std::string> known;
	for (const CorpusPdf &f : kPdfFiles)
		known.insert(f.name);
	std::size_t pdf_files = 0;
	for (const auto &entry : std::filesystem::directory_iterator(einvoice_dir())) {
		if (entry.path().extension() != ".pdf")
			continue;
		pdf_files++;
		EXPECT_EQ(known.count(entry.path().filename().string()), 1u)
			<< entry.path().filename().string() << " has no expected values";
	}
	EXPECT_EQ(pdf_files, known.size());
}

// The helper's XML mode gives exactly what parse_xml gives in process.
TEST(ExtractCorpus, XmlModeMatchesInProcessParser)
{
	SKIP_WITHOUT_CORPUS();
	HELPER_OR_FAIL(helper);
	std::size_t xml_files = 0;
	for (const auto &entry : std::filesystem::directory_iterator(einvoice_dir())) {
		if (entry.path().extension() != ".xml")
			continue;
		xml_files++;
		SCOPED_TRACE(entry.path().filename().string());
		std::string xml = read_file(entry.path());
		std::optional<Invoice> want = tresor::einvoice::parse_xml(xml, false);
		ASSERT_TRUE(want.has_value());
		Document doc = analyse(helper, Kind::xml, xml, Limits{});
		ASSERT_TRUE(doc.ok) << join(doc.warnings);
		expect_invoice(doc.einvoice, *want);
		EXPECT_EQ(doc.text, "");
		EXPECT_TRUE(doc.warnings.empty()) << join(doc.warnings);
	}
	EXPECT_EQ(xml_files, 6u);
}

// ------------------------------------------------ hand-made PDFs

TEST(ExtractPdf, NoAttachmentGivesTextOnly)
{
	HELPER_OR_FAIL(helper);
	Document doc = analyse(helper, Kind::pdf, make_pdf("Rechnung Nr. 4711 vom 1.2.2024", {}),
			       Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_FALSE(doc.einvoice.has_value());
	EXPECT_EQ(doc.text, "Rechnung Nr. 4711 vom 1.2.2024\n");
}

TEST(ExtractPdf, AttachmentsAreTriedWhateverTheirName)
{
	SKIP_WITHOUT_CORPUS();
	HELPER_OR_FAIL(helper);
	std::string cii = read_file(einvoice_dir() / kCiiFile);
	std::string pdf = make_pdf("Rechnung", {{"readme.txt", "not xml at all"},
						 {"order.xml", "<Order><ID>5</ID></Order>"},
						 {"anhang.bin", cii}});
	Document doc = analyse(helper, Kind::pdf, pdf, Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	expect_invoice(doc.einvoice, {"factur-x", "471102", "2024-11-15", "529.87", "EUR",
				      "Lieferant GmbH", "DE123456789", "DE02120300000000202051"});
	EXPECT_TRUE(doc.warnings.empty()) << join(doc.warnings);
}

TEST(ExtractPdf, OnlyNonInvoiceAttachments)
{
	HELPER_OR_FAIL(helper);
	std::string pdf = make_pdf("Lieferschein", {{"factur-x.xml", "<Order><ID>5</ID></Order>"}});
	Document doc = analyse(helper, Kind::pdf, pdf, Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_FALSE(doc.einvoice.has_value());
	EXPECT_EQ(doc.text, "Lieferschein\n");
}

TEST(ExtractPdf, TwoInvoicesTheFirstCountsWithAWarning)
{
	SKIP_WITHOUT_CORPUS();
	HELPER_OR_FAIL(helper);
	std::string pdf = make_pdf("x", {{"a.xml", read_file(einvoice_dir() / kUblFile)},
					  {"b.xml", read_file(einvoice_dir() / kCiiFile)}});
	Document doc = analyse(helper, Kind::pdf, pdf, Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	ASSERT_TRUE(doc.einvoice.has_value());
	EXPECT_EQ(doc.einvoice->format, "xrechnung-ubl");
	EXPECT_EQ(doc.einvoice->number, "123456XX");
	EXPECT_TRUE(has_warning(doc, "more than one e-invoice embedded, using a.xml, not b.xml"))
		<< join(doc.warnings);
}

TEST(ExtractPdf, EncryptedIsReportedNotParsed)
{
	SKIP_WITHOUT_CORPUS();
	HELPER_OR_FAIL(helper);
	std::string pdf = make_pdf("geheim", {{"factur-x.xml", read_file(einvoice_dir() / kCiiFile)}},
				   true);
	Document doc = analyse(helper, Kind::pdf, pdf, Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_FALSE(doc.einvoice.has_value());
	EXPECT_EQ(doc.text, "");
	EXPECT_TRUE(has_warning(doc, "encrypted PDF, password required")) << join(doc.warnings);
}

TEST(ExtractPdf, GarbageAndEmpty)
{
	HELPER_OR_FAIL(helper);
	std::string garbage;
	for (int i = 0; i < 100000; i++)
		garbage += static_cast<char>((i * 2654435761u) >> 13);
	for (Kind kind : {Kind::pdf, Kind::xml}) {
		for (const std::string &data : {garbage, std::string(), std::string("%PDF-1.4\n")}) {
			Document doc = analyse(helper, kind, data, Limits{});
			ASSERT_TRUE(doc.ok) << join(doc.warnings);
			EXPECT_FALSE(doc.einvoice.has_value());
			EXPECT_EQ(doc.text, "");
			if (kind == Kind::pdf) {
				EXPECT_TRUE(has_warning(doc, "not a readable PDF")) << join(doc.warnings);
			}
		}
	}
}

TEST(ExtractPdf, TextIsCutAtMaxTextOnACharacterBoundary)
{
	HELPER_OR_FAIL(helper);
	// \344 is ä in WinAnsiEncoding, two bytes in UTF-8
	std::string pdf = make_pdf("\344\344\344\344\344\344 Ende", {});
	Limits limits;
	limits.max_text = 5;
	Document doc = analyse(helper, Kind::pdf, pdf, limits);
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "\xc3\xa4\xc3\xa4");
	limits.max_text = 1000;
	doc = analyse(helper, Kind::pdf, pdf, limits);
	EXPECT_EQ(doc.text, "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4 Ende\n");
}

TEST(ExtractXml, BombAndExternalEntityAreHarmless)
{
	HELPER_OR_FAIL(helper);
	std::string dtd = "<!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\">";
	std::string prev = "a";
	for (int i = 1; i <= 9; i++) {
		std::string name = "a" + std::to_string(i);
		dtd += "<!ENTITY " + name + " \"";
		for (int j = 0; j < 10; j++)
			dtd += "&" + prev + ";";
		dtd += "\">";
		prev = name;
	}
	dtd += "<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>";
	auto start = std::chrono::steady_clock::now();
	Document doc = analyse(helper, Kind::xml, "<?xml version=\"1.0\"?>" + dtd + "<r>&a9;&xxe;</r>",
			       Limits{});
	EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_FALSE(doc.einvoice.has_value());
}

TEST(ExtractXml, LargerThanAPipeBuffer)
{
	SKIP_WITHOUT_CORPUS();
	HELPER_OR_FAIL(helper);
	std::string xml = read_file(einvoice_dir() / kCiiFile);
	// 4 MiB of comment after the declaration line
	std::size_t line_end = xml.find('\n');
	ASSERT_NE(line_end, std::string::npos);
	xml.insert(line_end + 1, "<!--" + std::string(4u << 20, 'x') + "-->\n");
	Document doc = analyse(helper, Kind::xml, xml, Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	ASSERT_TRUE(doc.einvoice.has_value());
	EXPECT_EQ(doc.einvoice->number, "471102");
	EXPECT_EQ(doc.einvoice->iban, "DE02120300000000202051");
}

TEST(ExtractXml, OversizeIsAWarning)
{
	HELPER_OR_FAIL(helper);
	Document doc = analyse(helper, Kind::xml,
			       std::string(tresor::einvoice::kMaxXmlBytes + 1, ' '), Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_FALSE(doc.einvoice.has_value());
	EXPECT_TRUE(has_warning(doc, "XML larger than 16 MiB, not parsed")) << join(doc.warnings);
}

// ------------------------------------------------------- limits

TEST(ExtractLimits, TimeoutOfOneMillisecond)
{
	SKIP_WITHOUT_CORPUS();
	HELPER_OR_FAIL(helper);
	Limits limits;
	limits.timeout_ms = 1;
	Document doc = analyse(helper, Kind::pdf, read_file(einvoice_dir() / kPdfFiles[0].name),
			       limits);
	EXPECT_FALSE(doc.ok);
	EXPECT_FALSE(doc.einvoice.has_value());
	EXPECT_EQ(join(doc.warnings), "timed out after 1 ms");
}

TEST(ExtractLimits, HangingHelperAndItsChildrenAreKilled)
{
	ScratchDir dir;
	// a FIFO, as RLIMIT_FSIZE = 0 forbids the helper to write files
	std::string fifo = dir / "grandchild.pid";
	ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
	int fifo_fd = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ASSERT_GE(fifo_fd, 0);
	std::string helper = dir.script("hang", "/bin/sleep 30 &\necho $! > " + fifo +
						"\n/bin/sleep 30\n");
	Limits limits;
	// long enough for a loaded machine's shell to start the background
	// sleep and report it before the kill
	limits.timeout_ms = 1000;
	auto start = std::chrono::steady_clock::now();
	Document doc = analyse(helper, Kind::pdf, "%PDF", limits);
	auto elapsed = std::chrono::steady_clock::now() - start;
	EXPECT_FALSE(doc.ok);
	EXPECT_EQ(join(doc.warnings), "timed out after 1000 ms");
	EXPECT_GE(elapsed, std::chrono::milliseconds(1000));
	EXPECT_LT(elapsed, std::chrono::seconds(5));

	// the background sleep was in the helper's process group
	char buf[32] = {};
	ssize_t got = ::read(fifo_fd, buf, sizeof(buf) - 1);
	::close(fifo_fd);
	ASSERT_GT(got, 0);
	std::string pid_text(buf);
	pid_t grandchild = static_cast<pid_t>(std::stol(pid_text));
	bool gone = false;
	for (int i = 0; i < 100 && !gone; i++) {
		gone = process_gone(grandchild);
		if (!gone)
			std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	EXPECT_TRUE(gone) << "grandchild " << grandchild << " still running";
}

TEST(ExtractLimits, CpuLimitKills)
{
	ScratchDir dir;
	std::string helper = dir.script("spin", "while :; do :; done\n");
	Limits limits;
	limits.cpu_seconds = 1;
	limits.timeout_ms = 20000;
	auto start = std::chrono::steady_clock::now();
	Document doc = analyse(helper, Kind::pdf, "", limits);
	EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
	EXPECT_FALSE(doc.ok);
	ASSERT_EQ(doc.warnings.size(), 1u) << join(doc.warnings);
	EXPECT_EQ(doc.warnings[0], "killed by signal 24 (CPU limit of 1 s)");
}

TEST(ExtractLimits, MemoryLimitStopsTheHelper)
{
	if (kSanitizerBuild)
		GTEST_SKIP() << "ASan build: no memory limit (see extract_client.hpp)";
	HELPER_OR_FAIL(helper);
	Limits limits;
	limits.memory_bytes = 64u << 20;
	limits.timeout_ms = 30000;
	// the helper reads its whole input: 80 MiB can't fit into 64 MiB
	Document doc = analyse(helper, Kind::xml, std::string(80u << 20, ' '), limits);
	EXPECT_FALSE(doc.ok);
	EXPECT_EQ(join(doc.warnings), "exit status 3 (out of memory): tresor-extract: out of memory");
	// the same limit is plenty for a real invoice
	if (std::filesystem::is_directory(einvoice_dir())) {
		doc = analyse(helper, Kind::pdf, read_file(einvoice_dir() / kPdfFiles[0].name), limits);
		EXPECT_TRUE(doc.ok) << join(doc.warnings);
		EXPECT_TRUE(doc.einvoice.has_value());
	}
}

TEST(ExtractLimits, ResourceLimitsReachTheHelper)
{
	ScratchDir dir;
	std::string helper = dir.script(
		"limits", json_answer("$(ulimit -t) $(ulimit -v) $(ulimit -f) $(ulimit -c) $(ulimit -n)"));
	Limits limits;
	limits.cpu_seconds = 2;
	limits.memory_bytes = 100u << 20;
	Document doc = analyse(helper, Kind::xml, "", limits);
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, kSanitizerBuild ? "2 unlimited unlimited 0 32" : "2 102400 0 0 32");
}

TEST(ExtractLimits, OutputCap)
{
	ScratchDir dir;
	std::string helper = dir.script("chatty", "/usr/bin/head -c 1000000 /dev/zero\n");
	Limits limits;
	limits.max_output = 1000;
	Document doc = analyse(helper, Kind::xml, "", limits);
	EXPECT_FALSE(doc.ok);
	EXPECT_EQ(join(doc.warnings), "output larger than 1000 bytes");
}

// ------------------------------------------ process hygiene

TEST(ExtractProcess, HelperFailures)
{
	ScratchDir dir;
	Document doc = analyse(dir / "missing", Kind::pdf, "x", Limits{});
	EXPECT_FALSE(doc.ok);
	EXPECT_EQ(join(doc.warnings),
		  "can't execute " + (dir / "missing") + ": No such file or directory");

	std::string not_executable = dir / "plain";
	std::ofstream(not_executable) << "#!/bin/sh\n";
	doc = analyse(not_executable, Kind::pdf, "x", Limits{});
	EXPECT_FALSE(doc.ok);
	EXPECT_EQ(join(doc.warnings), "can't execute " + not_executable + ": Permission denied");

	doc = analyse(dir.script("fail", "echo 'parser broke' >&2\nexit 4\n"), Kind::pdf, "", Limits{});
	EXPECT_FALSE(doc.ok);
	EXPECT_EQ(join(doc.warnings), "exit status 4 (internal error): parser broke");

	doc = analyse(dir.script("oom", "exit 3\n"), Kind::pdf, "", Limits{});
	EXPECT_EQ(join(doc.warnings), "exit status 3 (out of memory)");

	doc = analyse(dir.script("segv", "kill -SEGV $$\n"), Kind::pdf, "", Limits{});
	EXPECT_FALSE(doc.ok);
	EXPECT_EQ(join(doc.warnings), "killed by signal 11 (SIGSEGV)");

	doc = analyse(dir.script("killed", "kill -KILL $$\n"), Kind::pdf, "", Limits{});
	EXPECT_EQ(join(doc.warnings), "killed by signal 9 (memory limit?)");
}

TEST(ExtractProcess, InvalidOutput)
{
	ScratchDir dir;
	for (const std::string &body : {
		     std::string("echo 'not json'\n"),
		     std::string("echo '[1,2]'\n"),
		     std::string("echo '{\"einvoice\":null,\"text\":5,\"warnings\":[]}'\n"),
		     std::string("echo '{\"einvoice\":null,\"text\":\"\"}'\n"),
		     std::string("echo '{\"einvoice\":null,\"text\":\"\",\"warnings\":[1]}'\n"),
		     std::string("echo '{\"einvoice\":{\"format\":\"factur-x\"},\"text\":\"\",\"warnings\":[]}'\n"),
		     std::string("echo '{\"einvoice\":null,\"text\":\"\",\"warnings\":[]'\n"),
		     std::string(""),
	     }) {
		SCOPED_TRACE(body);
		Document doc = analyse(dir.script("bad", body), Kind::pdf, "", Limits{});
		EXPECT_FALSE(doc.ok);
		EXPECT_FALSE(doc.einvoice.has_value());
		EXPECT_EQ(join(doc.warnings), "invalid output");
	}
}

TEST(ExtractProcess, AnswerFieldsArePassedOn)
{
	ScratchDir dir;
	std::string helper = dir.script(
		"answer",
		"printf '%s\\n' '{\"einvoice\":{\"format\":\"factur-x\",\"number\":\"N1\",\"date\":\"2024-01-02\","
		"\"total\":\"9.99\",\"currency\":\"EUR\",\"seller\":\"S \\u00e4\",\"vatid\":\"DE1\","
		"\"iban\":\"DE89370400440532013000\"},\"text\":\"T\\nx\",\"warnings\":[\"w1\",\"w2\"]}'\n");
	Document doc = analyse(helper, Kind::pdf, "", Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	expect_invoice(doc.einvoice, {"factur-x", "N1", "2024-01-02", "9.99", "EUR", "S \xc3\xa4",
				      "DE1", "DE89370400440532013000"});
	EXPECT_EQ(doc.text, "T\nx");
	EXPECT_EQ(join(doc.warnings), "w1 | w2");
}

TEST(ExtractProcess, EveryByteReachesTheHelper)
{
	ScratchDir dir;
	std::string helper = dir.script("count", json_answer("$(/usr/bin/wc -c)"));
	std::string data((5u << 20) + 7, 'd');
	Document doc = analyse(helper, Kind::pdf, data, Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, std::to_string(data.size()));
}

TEST(ExtractProcess, NoDeadlockWhenTheHelperWritesBeforeReading)
{
	ScratchDir dir;
	std::string helper = dir.script(
		"talker", "/usr/bin/head -c 300000 /dev/zero | /usr/bin/tr '\\000' ' '\n"
			  "/bin/cat > /dev/null\n" + json_answer("read all"));
	Limits limits;
	limits.timeout_ms = 20000;
	Document doc = analyse(helper, Kind::pdf, std::string(4u << 20, 'p'), limits);
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "read all");
}

TEST(ExtractProcess, HelperExitingWithoutReadingDoesNotRaiseSigpipe)
{
	// SIGPIPE is at its default here (it kills): this test would die
	struct sigaction old_action;
	struct sigaction dfl {};
	dfl.sa_handler = SIG_DFL;
	ASSERT_EQ(::sigaction(SIGPIPE, &dfl, &old_action), 0);

	ScratchDir dir;
	std::string helper = dir.script("quitter", json_answer("early"));
	Document doc = analyse(helper, Kind::pdf, std::string(8u << 20, 'q'), Limits{});
	// its answer was complete and it exited 0
	EXPECT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "early");

	sigset_t pending, mask;
	sigemptyset(&pending);
	::sigpending(&pending);
	EXPECT_FALSE(sigismember(&pending, SIGPIPE)) << "SIGPIPE left pending";
	::pthread_sigmask(SIG_BLOCK, nullptr, &mask);
	EXPECT_FALSE(sigismember(&mask, SIGPIPE)) << "SIGPIPE left blocked";
	::sigaction(SIGPIPE, &old_action, nullptr);
}

TEST(ExtractProcess, OwnProcessGroupNoInheritedFdsNoEnvironment)
{
	ScratchDir dir;
	// a descriptor without close-on-exec, as a careless host might have
	int leaky = ::open("/dev/null", O_RDONLY);
	ASSERT_GE(leaky, 0);
	ASSERT_GE(::dup2(leaky, 200), 0);
	::close(leaky);
	::setenv("TRESOR_TEST_SECRET", "s3cret", 1);

	std::string helper = dir.script(
		"inspect",
		"read -r pid comm state ppid pgrp rest < /proc/$$/stat\n"
		"if [ -e /proc/$$/fd/200 ]; then fd=leaked; else fd=closed; fi\n" +
			json_answer("$pid $pgrp $fd [$TRESOR_TEST_SECRET]"));
	Document doc = analyse(helper, Kind::pdf, "", Limits{});
	::close(200);
	::unsetenv("TRESOR_TEST_SECRET");
	ASSERT_TRUE(doc.ok) << join(doc.warnings);

	std::istringstream fields(doc.text);
	std::string pid, pgrp, fd, env;
	fields >> pid >> pgrp >> fd >> env;
	EXPECT_EQ(pid, pgrp) << doc.text;
	EXPECT_NE(pgrp, std::to_string(::getpgrp()));
	EXPECT_EQ(fd, "closed");
	EXPECT_EQ(env, "[]");
}

TEST(ExtractProcess, NoLeakedDescriptorsOrZombies)
{
	ScratchDir dir;
	std::string ok_helper = dir.script("ok", "/bin/cat > /dev/null\n" + json_answer("fine"));
	std::string hang = dir.script("hang", "/bin/sleep 30\n");
	std::size_t before = open_fd_count();
	Limits short_time;
	short_time.timeout_ms = 100;
	Limits small_output;
	small_output.max_output = 10;
	for (int round = 0; round < 3; round++) {
		EXPECT_TRUE(analyse(ok_helper, Kind::pdf, std::string(200000, 'a'), Limits{}).ok);
		EXPECT_FALSE(analyse(hang, Kind::pdf, "", short_time).ok);
		EXPECT_FALSE(analyse(dir / "missing", Kind::pdf, "", Limits{}).ok);
		EXPECT_FALSE(analyse(ok_helper, Kind::pdf, "", small_output).ok);
	}
	EXPECT_EQ(open_fd_count(), before);
	errno = 0;
	EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
	EXPECT_EQ(errno, ECHILD);
}

TEST(ExtractProcess, ReapedElsewhereStillReadsTheAnswer)
{
	// SIGCHLD ignored: the kernel reaps children itself, waitpid fails
	// with ECHILD and the exit status is unknown.
	struct sigaction old_action;
	struct sigaction ign {};
	ign.sa_handler = SIG_IGN;
	ASSERT_EQ(::sigaction(SIGCHLD, &ign, &old_action), 0);
	ScratchDir dir;
	Document doc = analyse(dir.script("ok", json_answer("fine")), Kind::pdf, "", Limits{});
	Document failed = analyse(dir.script("fail", "exit 4\n"), Kind::pdf, "", Limits{});
	::sigaction(SIGCHLD, &old_action, nullptr);
	EXPECT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "fine");
	// no status and no answer
	EXPECT_FALSE(failed.ok);
	EXPECT_EQ(join(failed.warnings), "invalid output");
}

TEST(ExtractAnswer, ParseAnswerDirectly)
{
	Document doc;
	EXPECT_TRUE(tresor::extract::parse_answer(
		" {\"einvoice\":null,\"text\":\"abc\",\"warnings\":[\"w\"],\"extra\":1}\n", doc));
	EXPECT_TRUE(doc.ok);
	EXPECT_FALSE(doc.einvoice.has_value());
	EXPECT_EQ(doc.text, "abc");
	EXPECT_EQ(join(doc.warnings), "w");

	Document bad;
	EXPECT_FALSE(tresor::extract::parse_answer("{\"einvoice\":1,\"text\":\"\",\"warnings\":[]}", bad));
	EXPECT_FALSE(bad.ok);
	EXPECT_EQ(join(bad.warnings), "invalid output");
}
