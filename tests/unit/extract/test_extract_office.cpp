// Text for full-text search through the real tresor-extract helper:
// extract::extract_text on OOXML and ODF documents built here (a zip
// writer of our own, no binary fixtures), XML, plain text and the PDFs of
// the shared corpus; zip bombs, cut and corrupt files; and the helper as
// Dovecot's fts_decoder (--decoder).
//
// The helper is found through $TRESOR_EXTRACT, else the path compiled in
// with -DTRESOR_EXTRACT_BUILD_PATH="...".
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/text.hpp"
#include "extract/extract_client.hpp"
#include "test_util.hpp"

using tresor::extract::Document;
using tresor::extract::extract_text;
using testutil::run_shell;
using testutil::ShellRun;
using tresor::extract::Limits;

namespace {

std::string join(const std::vector<std::string> &items)
{
	std::string out;
	for (const std::string &s : items)
		out += (out.empty() ? "" : " | ") + s;
	return out;
}

bool has_warning(const Document &doc, std::string_view needle)
{
	for (const std::string &w : doc.warnings)
		if (w.find(needle) != std::string::npos)
			return true;
	return false;
}

// Whether word occurs in text as a whole word: white space (or the text's
// edge) on both sides. Catches words glued to their neighbours.
bool has_word(const std::string &text, const std::string &word)
{
	auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n'; };
	for (std::size_t at = text.find(word); at != std::string::npos;
	     at = text.find(word, at + 1)) {
		bool start_ok = at == 0 || blank(text[at - 1]);
		std::size_t end = at + word.size();
		bool end_ok = end == text.size() || blank(text[end]);
		if (start_ok && end_ok)
			return true;
	}
	return false;
}

// ------------------------------------------------------------ zip writer

std::uint32_t crc32(std::string_view data)
{
	static const auto table = [] {
		std::vector<std::uint32_t> t(256);
		for (std::uint32_t i = 0; i < 256; i++) {
			std::uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			t[i] = c;
		}
		return t;
	}();
	std::uint32_t crc = 0xFFFFFFFFu;
	for (char ch : data)
		crc = table[(crc ^ static_cast<unsigned char>(ch)) & 0xFF] ^ (crc >> 8);
	return crc ^ 0xFFFFFFFFu;
}

void put16(std::string &out, std::uint32_t v)
{
	out += static_cast<char>(v & 0xFF);
	out += static_cast<char>((v >> 8) & 0xFF);
}

void put32(std::string &out, std::uint32_t v)
{
	put16(out, v & 0xFFFF);
	put16(out, v >> 16);
}

// A zip archive as the format describes it: local headers with the data,
// the central directory, the end record. Entries are stored, or carry a
// raw deflate stream made elsewhere.
class ZipWriter {
public:
	void stored(const std::string &name, std::string_view data)
	{
		add(name, 0, data, crc32(data), static_cast<std::uint32_t>(data.size()));
	}
	void deflated(const std::string &name, std::string_view deflate_stream, std::uint32_t crc,
		      std::uint32_t uncompressed_size)
	{
		add(name, 8, deflate_stream, crc, uncompressed_size);
	}

	std::string finish() const
	{
		std::string out = body_;
		std::size_t directory_start = out.size();
		out += directory_;
		put32(out, 0x06054b50);
		put16(out, 0);
		put16(out, 0);
		put16(out, static_cast<std::uint32_t>(count_));
		put16(out, static_cast<std::uint32_t>(count_));
		put32(out, static_cast<std::uint32_t>(directory_.size()));
		put32(out, static_cast<std::uint32_t>(directory_start));
		put16(out, 0);
		return out;
	}

private:
	void add(const std::string &name, std::uint32_t method, std::string_view payload,
		 std::uint32_t crc, std::uint32_t uncompressed_size)
	{
		std::uint32_t offset = static_cast<std::uint32_t>(body_.size());
		auto common = [&](std::string &out) {
			put16(out, 20); // version needed: 2.0
			put16(out, 0);  // flags
			put16(out, method);
			put16(out, 0);      // time
			put16(out, 0x21);   // date: 1980-01-01
			put32(out, crc);
			put32(out, static_cast<std::uint32_t>(payload.size()));
			put32(out, uncompressed_size);
			put16(out, static_cast<std::uint32_t>(name.size()));
			put16(out, 0); // extra field
		};
		put32(body_, 0x04034b50);
		common(body_);
		body_ += name;
		body_ += payload;

		put32(directory_, 0x02014b50);
		put16(directory_, 20); // made by
		common(directory_);
		put16(directory_, 0); // comment
		put16(directory_, 0); // disk
		put16(directory_, 0); // internal attributes
		put32(directory_, 0); // external attributes
		put32(directory_, offset);
		directory_ += name;
		count_++;
	}

	std::string body_;
	std::string directory_;
	std::size_t count_ = 0;
};

// Bits of a deflate stream: header fields LSB first, Huffman codes MSB
// first (RFC 1951, 3.1.1).
class BitWriter {
public:
	void bits_lsb(std::uint32_t value, int count)
	{
		for (int i = 0; i < count; i++)
			bit((value >> i) & 1);
	}
	void code_msb(std::uint32_t code, int count)
	{
		for (int i = count - 1; i >= 0; i--)
			bit((code >> i) & 1);
	}
	std::string finish()
	{
		if (used_ > 0)
			out_ += static_cast<char>(current_);
		return out_;
	}

private:
	void bit(std::uint32_t b)
	{
		current_ |= static_cast<unsigned char>(b << used_);
		if (++used_ == 8) {
			out_ += static_cast<char>(current_);
			current_ = 0;
			used_ = 0;
		}
	}
	std::string out_;
	unsigned char current_ = 0;
	int used_ = 0;
};

// A raw deflate stream of `size` zero bytes: one fixed-Huffman block, a
// literal 0 and then copies of 258 bytes at distance 1 (13 bits each, so
// 1 GiB takes under 7 MB). What a zip bomb is made of.
std::string deflate_zeros(std::uint64_t size)
{
	BitWriter w;
	w.bits_lsb(1, 1); // last block
	w.bits_lsb(1, 2); // fixed Huffman codes
	w.code_msb(0x30, 8); // literal 0
	std::uint64_t left = size - 1;
	auto copy = [&](std::uint32_t length_code, int code_bits, std::uint32_t length_extra,
			int extra_bits) {
		w.code_msb(length_code, code_bits);
		w.bits_lsb(length_extra, extra_bits);
		w.code_msb(0, 5); // distance 1
	};
	for (; left >= 258; left -= 258)
		copy(0xC5, 8, 0, 0); // symbol 285: length 258
	if (left >= 3)
		copy(left - 3 + 1, 7, 0, 0); // symbols 257..264: lengths 3..10
	else
		for (; left > 0; left--)
			w.code_msb(0x30, 8);
	w.code_msb(0, 7); // end of block
	return w.finish();
}

// ------------------------------------------------------------ documents

const char kRelsForWord[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
	"<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
	"<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
	"relationships/officeDocument\" Target=\"word/document.xml\"/></Relationships>";

const char kWordNs[] =
	"xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"";

std::string word_paragraph(const std::vector<std::string> &runs)
{
	std::string p = "<w:p><w:pPr><w:tabs><w:tab w:val=\"left\" w:pos=\"720\"/></w:tabs>"
			"</w:pPr>";
	for (const std::string &run : runs)
		p += "<w:r><w:rPr><w:b/></w:rPr><w:t xml:space=\"preserve\">" + run + "</w:t></w:r>";
	return p + "</w:p>";
}

std::string make_docx()
{
	std::string body =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<w:document " + std::string(kWordNs) +
		"><w:body>\n" +
		// a word split over runs, as Word does after an edit
		word_paragraph({"Eingangs", "rechnung", " vom M", "ärz"}) + "\n" +
		word_paragraph({"Erster"}) + word_paragraph({"Zweiter"}) +
		"<w:p><w:r><w:t>vor</w:t><w:tab/><w:t>Tabulator</w:t><w:br/><w:t>Umbruch</w:t></w:r>"
		"<w:r><w:fldChar w:fldCharType=\"begin\"/></w:r><w:r><w:instrText> PAGE </w:instrText>"
		"</w:r><w:del><w:r><w:delText>Gelöscht</w:delText></w:r></w:del></w:p>"
		"<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Zelle1</w:t></w:r></w:p></w:tc>"
		"<w:tc><w:p><w:r><w:t>Zelle2</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"
		"<w:p><w:r><w:drawing><wp:positionH xmlns:wp=\"x\"><wp:posOffset>914400</wp:posOffset>"
		"</wp:positionH></w:drawing></w:r></w:p>"
		"</w:body></w:document>";
	ZipWriter zip;
	zip.stored("[Content_Types].xml",
		   "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>");
	zip.stored("_rels/.rels", kRelsForWord);
	zip.stored("word/document.xml", body);
	zip.stored("word/header1.xml", "<w:hdr " + std::string(kWordNs) + ">" +
					       word_paragraph({"Kopfzeile"}) + "</w:hdr>");
	zip.stored("word/footer1.xml", "<w:ftr " + std::string(kWordNs) + ">" +
					       word_paragraph({"Fußzeile"}) + "</w:ftr>");
	zip.stored("word/footnotes.xml",
		   "<w:footnotes " + std::string(kWordNs) + "><w:footnote w:id=\"1\">" +
			   word_paragraph({"Fußnotentext"}) + "</w:footnote></w:footnotes>");
	return zip.finish();
}

std::string make_xlsx()
{
	ZipWriter zip;
	zip.stored("[Content_Types].xml", "<Types/>");
	zip.stored("_rels/.rels",
		   "<Relationships><Relationship Id=\"rId1\" Type=\"http://schemas."
		   "openxmlformats.org/officeDocument/2006/relationships/officeDocument\" "
		   "Target=\"xl/workbook.xml\"/></Relationships>");
	zip.stored("xl/workbook.xml", "<workbook><sheets><sheet name=\"Tabelle1\"/></sheets></workbook>");
	zip.stored("xl/sharedStrings.xml",
		   "<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" count=\"3\">"
		   "<si><t>Lieferant</t></si>"
		   "<si><r><rPr><b/></rPr><t>Gesamt</t></r><r><t>betrag</t></r>"
		   "<rPh><t>ZZphonetic</t></rPh></si>"
		   "<si><t>Kontoauszug</t></si></sst>");
	zip.stored("xl/worksheets/sheet1.xml",
		   "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"
		   "<sheetData><row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\">"
		   "<v>1</v></c></row><row r=\"2\"><c r=\"A2\"><v>529.87</v></c>"
		   "<c r=\"B2\" t=\"inlineStr\"><is><t>Inlinetext</t></is></c>"
		   "<c r=\"C2\"><f>SUM(A1:A2)</f><v>1059.74</v></c></row></sheetData></worksheet>");
	zip.stored("xl/worksheets/sheet2.xml",
		   "<worksheet><sheetData><row><c t=\"s\"><v>2</v></c><c t=\"s\"><v>99</v></c>"
		   "</row></sheetData></worksheet>");
	return zip.finish();
}

std::string pptx_slide(const std::string &text)
{
	return "<p:sld xmlns:a=\"http://schemas.openxmlformats.org/drawingml/2006/main\" "
	       "xmlns:p=\"http://schemas.openxmlformats.org/presentationml/2006/main\">"
	       "<p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:rPr lang=\"de-DE\"/><a:t>" +
	       text + "</a:t></a:r></a:p><a:p><a:r><a:t>Punkt</a:t></a:r><a:br/><a:r>"
		      "<a:t>Zeile</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>";
}

std::string make_pptx()
{
	ZipWriter zip;
	zip.stored("[Content_Types].xml", "<Types/>");
	zip.stored("ppt/presentation.xml", "<p:presentation xmlns:p=\"p\"/>");
	// stored out of order: slide 10 after slide 2, not between 1 and 2
	zip.stored("ppt/slides/slide10.xml", pptx_slide("Folienzehn"));
	zip.stored("ppt/slides/slide1.xml", pptx_slide("Folieeins"));
	zip.stored("ppt/slides/slide2.xml", pptx_slide("Foliezwei"));
	zip.stored("ppt/notesSlides/notesSlide1.xml", pptx_slide("Sprechernotiz"));
	return zip.finish();
}

std::string make_odf(const std::string &mimetype, const std::string &body)
{
	ZipWriter zip;
	zip.stored("mimetype", mimetype);
	zip.stored("META-INF/manifest.xml", "<manifest:manifest xmlns:manifest=\"m\"/>");
	zip.stored("content.xml",
		   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<office:document-content "
		   "xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" "
		   "xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" "
		   "xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" "
		   "xmlns:style=\"urn:oasis:names:tc:opendocument:xmlns:style:1.0\">\n"
		   "  <office:automatic-styles><style:style style:name=\"P1\">Stilname"
		   "</style:style></office:automatic-styles>\n"
		   "  <office:body>\n" + body + "\n  </office:body>\n</office:document-content>");
	zip.stored("styles.xml", "<office:document-styles>Stildatei</office:document-styles>");
	return zip.finish();
}

std::string make_odt()
{
	return make_odf("application/vnd.oasis.opendocument.text",
			"<office:text>\n"
			"  <text:h text:outline-level=\"1\">Überschrift</text:h>\n"
			"  <text:p>Hallo<text:s/>Welt <text:span>Spanne</text:span> "
			"<text:span>Spanne2</text:span><text:tab/>Tab<text:line-break/>Neu"
			"<text:span>zeile</text:span></text:p>\n"
			"  <text:p>Absatz</text:p>\n"
			"  <text:tracked-changes><text:changed-region><text:deletion>"
			"<text:p>Entfernt</text:p></text:deletion></text:changed-region>"
			"</text:tracked-changes>\n"
			"</office:text>");
}

std::string make_ods()
{
	return make_odf("application/vnd.oasis.opendocument.spreadsheet",
			"<office:spreadsheet><table:table table:name=\"Tabelle1\">"
			"<table:table-row><table:table-cell office:value-type=\"string\">"
			"<text:p>Rechnungsnummer</text:p></table:table-cell>"
			"<table:table-cell office:value-type=\"float\" office:value=\"471102\">"
			"<text:p>471102</text:p></table:table-cell></table:table-row>"
			"<table:table-row><table:table-cell><text:p>Betrag</text:p>"
			"</table:table-cell><table:table-cell><text:p>529,87</text:p>"
			"</table:table-cell></table:table-row></table:table></office:spreadsheet>");
}

std::string shell_quoted(const std::string &s)
{
	std::string out = "'";
	for (char c : s)
		out += c == '\'' ? std::string("'\\''") : std::string(1, c);
	return out + "'";
}

// ------------------------------------------------------------ office

TEST(ExtractOffice, Docx)
{
	HELPER_OR_FAIL(helper);
	Document doc = extract_text(helper, make_docx(),
				    "application/vnd.openxmlformats-officedocument."
				    "wordprocessingml.document",
				    Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_TRUE(doc.warnings.empty()) << join(doc.warnings);
	const std::string &t = doc.text;
	// runs glue, paragraphs, cells, tabs and breaks separate
	EXPECT_TRUE(has_word(t, "Eingangsrechnung")) << t;
	EXPECT_TRUE(has_word(t, "März")) << t;
	for (const char *word : {"Erster", "Zweiter", "vor", "Tabulator", "Umbruch", "Zelle1",
				 "Zelle2", "Kopfzeile", "Fußzeile", "Fußnotentext"})
		EXPECT_TRUE(has_word(t, word)) << word << " in: " << t;
	// field codes, deleted text and layout numbers are not words
	EXPECT_EQ(t.find("PAGE"), std::string::npos) << t;
	EXPECT_EQ(t.find("Gelöscht"), std::string::npos) << t;
	EXPECT_EQ(t.find("914400"), std::string::npos) << t;
	// the body comes first, in order
	EXPECT_LT(t.find("Erster"), t.find("Zweiter"));
	EXPECT_LT(t.find("Zelle2"), t.find("Kopfzeile"));
	EXPECT_FALSE(doc.einvoice.has_value());
}

TEST(ExtractOffice, DocxWithoutRelationshipsOrHint)
{
	HELPER_OR_FAIL(helper);
	ZipWriter zip;
	zip.stored("word/document.xml", "<w:document " + std::string(kWordNs) + "><w:body>" +
						word_paragraph({"Ohne"}) + word_paragraph({"Paket"}) +
						"</w:body></w:document>");
	Document doc = extract_text(helper, zip.finish(), "", Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "Ohne\nPaket");
}

TEST(ExtractOffice, Xlsx)
{
	HELPER_OR_FAIL(helper);
	Document doc = extract_text(helper, make_xlsx(), "application/octet-stream", Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	const std::string &t = doc.text;
	for (const char *word : {"Lieferant", "Gesamtbetrag", "529.87", "Inlinetext", "1059.74",
				 "Kontoauszug"})
		EXPECT_TRUE(has_word(t, word)) << word << " in: " << t;
	EXPECT_EQ(t.find("ZZphonetic"), std::string::npos) << t;
	EXPECT_EQ(t.find("SUM("), std::string::npos) << t;
	EXPECT_LT(t.find("Lieferant"), t.find("529.87"));
	EXPECT_LT(t.find("1059.74"), t.find("Kontoauszug"));
}

TEST(ExtractOffice, Pptx)
{
	HELPER_OR_FAIL(helper);
	Document doc = extract_text(helper, make_pptx(), "", Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	const std::string &t = doc.text;
	for (const char *word : {"Folieeins", "Foliezwei", "Folienzehn", "Punkt", "Zeile",
				 "Sprechernotiz"})
		EXPECT_TRUE(has_word(t, word)) << word << " in: " << t;
	EXPECT_LT(t.find("Folieeins"), t.find("Foliezwei")) << t;
	EXPECT_LT(t.find("Foliezwei"), t.find("Folienzehn")) << t;
	EXPECT_LT(t.find("Folienzehn"), t.find("Sprechernotiz")) << t;
}

TEST(ExtractOffice, Odt)
{
	HELPER_OR_FAIL(helper);
	Document doc = extract_text(helper, make_odt(), "application/vnd.oasis.opendocument.text",
				    Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "Überschrift\nHallo Welt Spanne Spanne2\tTab\nNeuzeile\nAbsatz");
}

TEST(ExtractOffice, Ods)
{
	HELPER_OR_FAIL(helper);
	Document doc = extract_text(helper, make_ods(), "", Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	for (const char *word : {"Rechnungsnummer", "471102", "Betrag", "529,87"})
		EXPECT_TRUE(has_word(doc.text, word)) << word << " in: " << doc.text;
	EXPECT_EQ(doc.text.find("Stil"), std::string::npos) << doc.text;
}

TEST(ExtractOffice, Odp)
{
	HELPER_OR_FAIL(helper);
	std::string odp = make_odf("application/vnd.oasis.opendocument.presentation",
				   "<office:presentation><draw:page xmlns:draw=\"d\"><draw:frame>"
				   "<draw:text-box><text:p>Präsentation</text:p><text:p>Schluss"
				   "</text:p></draw:text-box></draw:frame></draw:page>"
				   "</office:presentation>");
	Document doc = extract_text(helper, odp, "", Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "Präsentation\nSchluss");
}

TEST(ExtractOffice, MaxTextCutsOnACharacterBoundary)
{
	HELPER_OR_FAIL(helper);
	Limits limits;
	limits.max_text = 12; // "Überschrift" is 12 bytes: Ü takes two
	Document doc = extract_text(helper, make_odt(), "", limits);
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "Überschrift");
	limits.max_text = 1;
	doc = extract_text(helper, make_odt(), "", limits);
	EXPECT_EQ(doc.text, "");
}

TEST(ExtractOffice, OtherZipIsUnsupported)
{
	HELPER_OR_FAIL(helper);
	ZipWriter zip;
	zip.stored("readme.txt", "just a file");
	Document doc = extract_text(helper, zip.finish(), "application/zip", Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "");
	EXPECT_TRUE(has_warning(doc, "neither an Office Open XML nor an OpenDocument file"))
		<< join(doc.warnings);
}

// ------------------------------------------------------------ hostile

TEST(ExtractHostile, ZipBombOfOneGibibyte)
{
	HELPER_OR_FAIL(helper);
	const std::uint32_t size = 1u << 30;
	ZipWriter zip;
	zip.stored("_rels/.rels", kRelsForWord);
	// a CRC nobody gets to check: the helper must stop long before
	zip.deflated("word/document.xml", deflate_zeros(size), 0, size);
	std::string bomb = zip.finish();
	ASSERT_LT(bomb.size(), 8u << 20);

	auto start = std::chrono::steady_clock::now();
	Document doc = extract_text(helper, bomb, "", Limits{});
	auto elapsed = std::chrono::steady_clock::now() - start;
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_LT(elapsed, std::chrono::seconds(5));
	EXPECT_TRUE(has_warning(doc, "word/document.xml: larger than 32 MiB, cut"))
		<< join(doc.warnings);
	EXPECT_EQ(doc.text, "");
}

TEST(ExtractHostile, CompressionRatioCheck)
{
	HELPER_OR_FAIL(helper);
	// 20 MiB from about 130 KB: under the part limit, over the ratio
	const std::uint32_t size = 20u << 20;
	ZipWriter zip;
	zip.stored("_rels/.rels", kRelsForWord);
	zip.deflated("word/document.xml", deflate_zeros(size), 0, size);
	Document doc = extract_text(helper, zip.finish(), "", Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_TRUE(has_warning(doc, "word/document.xml: inflates more than 100 times its "
				     "compressed size (zip bomb?), cut"))
		<< join(doc.warnings);
}

TEST(ExtractHostile, TotalUncompressedLimit)
{
	HELPER_OR_FAIL(helper);
	// 16 sheets, each read up to the ratio limit (about 21 MB of its
	// 32 MiB): over 330 MB in all, more than the 256 MiB budget
	ZipWriter zip;
	zip.stored("xl/workbook.xml", "<workbook/>");
	const std::uint32_t size = 32u << 20;
	std::string zeros = deflate_zeros(size);
	for (int i = 1; i <= 16; i++)
		zip.deflated("xl/worksheets/sheet" + std::to_string(i) + ".xml", zeros, 0, size);
	std::string archive = zip.finish();
	Document doc = extract_text(helper, archive, "", Limits{});
	EXPECT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_TRUE(has_warning(doc, "the archive inflates to more than 256 MiB"))
		<< join(doc.warnings);
}

TEST(ExtractHostile, TooManyZipEntries)
{
	HELPER_OR_FAIL(helper);
	ZipWriter zip;
	zip.stored("content.xml", "<office:document-content xmlns:office=\"o\" xmlns:text=\"t\">"
				  "<office:body><text:p>Viele</text:p></office:body>"
				  "</office:document-content>");
	zip.stored("META-INF/manifest.xml", "<manifest/>");
	for (int i = 0; i < 10050; i++)
		zip.stored("junk/" + std::to_string(i), "");
	Document doc = extract_text(helper, zip.finish(), "", Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "Viele");
	EXPECT_TRUE(has_warning(doc, "zip archive has 10052 entries, only the first 10000 are "
				     "considered"))
		<< join(doc.warnings);
}

TEST(ExtractHostile, TruncatedDocx)
{
	HELPER_OR_FAIL(helper);
	std::string docx = make_docx();
	for (std::size_t keep : {docx.size() / 2, docx.size() - 10, std::size_t(4), std::size_t(30)}) {
		SCOPED_TRACE(keep);
		Document doc = extract_text(helper, docx.substr(0, keep), "", Limits{});
		ASSERT_TRUE(doc.ok) << join(doc.warnings);
		EXPECT_TRUE(has_warning(doc, "not a readable zip archive")) << join(doc.warnings);
	}
}

TEST(ExtractHostile, CorruptEntryKeepsTheTextBeforeIt)
{
	HELPER_OR_FAIL(helper);
	// a deflate stream cut short, and a document.xml cut mid-element
	ZipWriter zip;
	zip.stored("_rels/.rels", kRelsForWord);
	zip.stored("word/document.xml", "<w:document " + std::string(kWordNs) + "><w:body>" +
						word_paragraph({"Vorhanden"}) + "<w:p><w:r><w:t>Hal");
	std::string zeros = deflate_zeros(100000);
	zip.deflated("word/header1.xml", zeros.substr(0, zeros.size() / 2), 0, 100000);
	Document doc = extract_text(helper, zip.finish(), "", Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_TRUE(has_word(doc.text, "Vorhanden")) << doc.text;
	EXPECT_TRUE(has_warning(doc, "word/document.xml: ")) << join(doc.warnings);
	EXPECT_TRUE(has_warning(doc, "word/header1.xml: broken")) << join(doc.warnings);
}

TEST(ExtractHostile, TruncatedPdfs)
{
	SKIP_WITHOUT_CORPUS();
	HELPER_OR_FAIL(helper);
	std::size_t files = 0;
	for (const auto &entry : std::filesystem::directory_iterator(testutil::einvoice_dir())) {
		if (entry.path().extension() != ".pdf")
			continue;
		SCOPED_TRACE(entry.path().filename().string());
		std::string pdf = testutil::read_file(entry.path().string());
		Document doc = extract_text(helper, pdf.substr(0, pdf.size() / 2), "application/pdf",
					    Limits{});
		EXPECT_TRUE(doc.ok) << join(doc.warnings);
		EXPECT_FALSE(doc.warnings.empty());
		files++;
	}
	EXPECT_GT(files, 0u);
}

TEST(ExtractHostile, BinaryIsUnsupported)
{
	HELPER_OR_FAIL(helper);
	std::string binary("\x7f" "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0", 16);
	Document doc = extract_text(helper, binary, "application/octet-stream", Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "");
	EXPECT_EQ(join(doc.warnings), "unsupported document (application/octet-stream), no text");

	doc = extract_text(helper, "", "", Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "");
	EXPECT_TRUE(doc.warnings.empty()) << join(doc.warnings);
}

// ------------------------------------------------------------ XML, text, PDF

TEST(ExtractXmlText, XRechnungElementText)
{
	SKIP_WITHOUT_CORPUS();
	HELPER_OR_FAIL(helper);
	std::string xml = testutil::read_file(
		testutil::einvoice_dir() / "zugferd-corpus--XML-Rechnung_CII_XRECHNUNG_Einfach.cii.xml");
	Document doc = extract_text(helper, xml, "application/xml", Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	for (const char *word : {"471102", "Lieferantenstraße", "München", "Trennblätter",
				 "Joghurt", "Banane"})
		EXPECT_TRUE(has_word(doc.text, word)) << word << " in: " << doc.text;
	// element text, not names or attributes
	EXPECT_EQ(doc.text.find("rsm:"), std::string::npos);
	EXPECT_EQ(doc.text.find("schemeID"), std::string::npos);
	ASSERT_TRUE(doc.einvoice.has_value());
	EXPECT_EQ(doc.einvoice->number, "471102");

	xml = testutil::read_file(testutil::einvoice_dir() /
				  "xrechnung-testsuite--01.01a-INVOICE_ubl.xml");
	doc = extract_text(helper, xml, "", Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_TRUE(has_word(doc.text, "123456XX")) << doc.text;
	EXPECT_TRUE(has_word(doc.text, "seller@email.de")) << doc.text;
}

TEST(ExtractXmlText, MixedContentAndLatin1Declaration)
{
	HELPER_OR_FAIL(helper);
	Document doc = extract_text(helper,
				    "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n"
				    "<r a=\"Attribut\"><x>M\xfcller</x><y>eins</y><y>zwei<![CDATA[drei]]>"
				    "</y><!-- Kommentar --><z>sp\xe4t<b>er</b></z></r>",
				    "text/xml", Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	// CDATA continues its text node; elements keep words apart
	EXPECT_EQ(doc.text, "Müller\neins\nzweidrei\nspät\ner");
}

TEST(ExtractPlainText, Utf8Latin1AndBrokenBytes)
{
	HELPER_OR_FAIL(helper);
	Document doc = extract_text(helper, "Grüße\r\n  aus   Köln\n", "text/plain", Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "Grüße\naus Köln");

	// Latin-1 bytes become their characters, a stray C1 byte U+FFFD
	doc = extract_text(helper, "Stra\xdf" "e \x81 M\xfcnchen", "", Limits{});
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "Straße \xEF\xBF\xBD München");

	// "<" under text/plain is text; without the hint it is (broken) XML
	doc = extract_text(helper, "<3 Grüße", "text/plain; charset=utf-8", Limits{});
	EXPECT_EQ(doc.text, "<3 Grüße");
	EXPECT_TRUE(doc.warnings.empty()) << join(doc.warnings);
}

TEST(ExtractPdfText, EveryCorpusPdfHasText)
{
	SKIP_WITHOUT_CORPUS();
	HELPER_OR_FAIL(helper);
	std::size_t files = 0;
	for (const auto &entry : std::filesystem::directory_iterator(testutil::einvoice_dir())) {
		if (entry.path().extension() != ".pdf")
			continue;
		SCOPED_TRACE(entry.path().filename().string());
		// no hint: the bytes decide
		Document doc = extract_text(helper, testutil::read_file(entry.path().string()), "",
					    Limits{});
		ASSERT_TRUE(doc.ok) << join(doc.warnings);
		EXPECT_GT(doc.text.size(), 100u) << doc.text;
		EXPECT_TRUE(doc.einvoice.has_value());
		files++;
	}
	EXPECT_GE(files, 5u);
}

// ------------------------------------------------------------ fts_decoder

TEST(ExtractDecoder, PdfOnStdinGivesPlainText)
{
	SKIP_WITHOUT_CORPUS();
	HELPER_OR_FAIL(helper);
	std::string pdf = (testutil::einvoice_dir() /
			   "zugferd-corpus--XML-Rechnung_FX_EN16931_Einfach.pdf").string();
	ShellRun run = run_shell(shell_quoted(helper) + " --decoder application/pdf < " + shell_quoted(pdf));
	ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << run.status;
	EXPECT_NE(run.out.find("471102"), std::string::npos) << run.out;
	EXPECT_NE(run.out.find("Rechnung"), std::string::npos) << run.out;
	EXPECT_NE(run.out.front(), '{') << "JSON instead of text";
	EXPECT_EQ(run.out.back(), '\n');

	// the content type is a hint: the bytes decide
	ShellRun odd = run_shell(shell_quoted(helper) + " --decoder --max-text=20 "
			    "application/vnd.oasis.opendocument.text < " + shell_quoted(pdf));
	ASSERT_TRUE(WIFEXITED(odd.status) && WEXITSTATUS(odd.status) == 0) << odd.status;
	EXPECT_LE(odd.out.size(), 21u);
	EXPECT_EQ(run.out.substr(0, odd.out.size() - 1) + "\n", odd.out);
}

TEST(ExtractDecoder, ListsItsTypesWithoutReadingStdin)
{
	HELPER_OR_FAIL(helper);
	// stdin never ends: reading it would run out of memory (exit 3)
	ShellRun run = run_shell(shell_quoted(helper) + " --decoder --memory-limit=40M < /dev/zero");
	ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << run.status;
	std::vector<std::string> lines = testutil::split_lines(run.out);
	ASSERT_GE(lines.size(), 3u);
	// fts-parser-script.c: "<type> <extension>..." lines, then an empty one
	EXPECT_EQ(lines.back(), "");
	EXPECT_EQ(lines.front(), "application/pdf pdf");
	for (std::size_t i = 0; i + 1 < lines.size(); i++) {
		EXPECT_NE(lines[i].find(' '), std::string::npos) << lines[i];
		EXPECT_EQ(lines[i], tresor::text::ascii_lowercase(lines[i])) << lines[i];
	}
	EXPECT_NE(run.out.find("\napplication/vnd.openxmlformats-officedocument."
			       "wordprocessingml.document docx\n"),
		  std::string::npos);
	EXPECT_NE(run.out.find("\napplication/vnd.oasis.opendocument.spreadsheet ods\n"),
		  std::string::npos);
}

TEST(ExtractDecoder, LimitsItself)
{
	HELPER_OR_FAIL(helper);
	// wall clock: stdin is a FIFO it holds open itself, so it never
	// ends; the alarm fires after a second
	testutil::TempDir dir;
	std::string fifo = dir / "stdin";
	ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
	auto start = std::chrono::steady_clock::now();
	ShellRun slow = run_shell("exec 2>/dev/null; " + shell_quoted(helper) + " --decoder --timeout=1 application/pdf <> " +
			     shell_quoted(fifo) + "; echo \" $?\"");
	EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
	EXPECT_EQ(slow.out, " 142\n") << "128 + SIGALRM";

	// memory: 100 MB of input can't be held in 40 MiB (an ASan build has
	// no memory limit, see extract_client.hpp)
	if (!tresor::extract::kSanitizerBuild) {
		ShellRun big = run_shell("head -c 100000000 /dev/zero | " + shell_quoted(helper) +
				    " --decoder --memory-limit=40M text/plain 2>/dev/null; echo \" $?\"");
		EXPECT_EQ(big.out, " 3\n");
	}

	ShellRun usage = run_shell(shell_quoted(helper) + " --mode=auto --timeout=3 2>/dev/null; echo \" $?\"");
	EXPECT_EQ(usage.out, " 2\n");
}

} // namespace

// The docx above for test_extract_session.cpp.
namespace extract_fixtures {
std::string sample_docx()
{
	return make_docx();
}
} // namespace extract_fixtures
