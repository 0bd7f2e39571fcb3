// Plain text of untrusted documents for full-text search, inside the
// tresor-extract helper: OOXML (docx, xlsx, pptx) and ODF (odt, ods, odp)
// read from their zip container, any XML, and plain text. PDF stays in
// tresor-extract.cpp (poppler). Nothing here throws on bad input (only
// std::bad_alloc); every problem becomes a warning and as much text as
// could be had.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tresor::extract {

// Cuts to at most max bytes without splitting a UTF-8 sequence.
void cut_utf8(std::string &s, std::size_t max);

// Valid UTF-8 in any case: a byte that starts no valid sequence is read as
// Latin-1 (so ISO-8859-1 text keeps its umlauts), or becomes U+FFFD when
// it is a C1 control; other control characters but white space become a
// space.
std::string repair_utf8(std::string_view data);

// A broken document can make a parser complain thousands of times: keep
// the first few distinct messages, count the rest.
class Warnings {
public:
	void add(std::string message);
	std::vector<std::string> finish() const;

private:
	std::vector<std::string> list_;
	std::set<std::string> seen_;
	std::size_t dropped_ = 0;
};

// Collects text up to max_bytes. Runs of white space shrink to one
// separator (a newline wins over a tab, a tab over a space), none at the
// start or the end, so the budget holds words rather than layout.
class TextSink {
public:
	explicit TextSink(std::size_t max_bytes) : max_(max_bytes) {}

	// Text as it stands in the document: glued to what came before
	// unless a separator is pending or it starts with white space.
	void text(std::string_view utf8);
	// Words before and after must not run together.
	void separate(char separator = '\n');
	bool full() const { return full_; }
	const std::string &str() const { return out_; }
	std::string take() { return std::move(out_); }

private:
	void pend(char separator);

	std::size_t max_;
	std::string out_;
	char pending_ = 0;
	bool full_ = false;
};

enum class DocumentType { pdf, zip, xml, text, unsupported };

// What the bytes are. content_type (a MIME type, parameters allowed, may
// be empty) only breaks ties: "<" under text/plain is text, and a PDF
// whose "%PDF-" header is preceded by junk is still a PDF.
DocumentType sniff(std::string_view data, std::string_view content_type);

// Text of an OOXML or ODF document; other zip archives are "unsupported"
// (a warning). Zip limits: kMaxZipEntries entries considered, each read
// through a capped stream (sizes in the archive are not trusted), at most
// kMaxZipTotalBytes uncompressed, a compression ratio check, XML parts
// over kMaxXmlPartBytes cut.
void extract_zip_document(std::string_view data, std::string_view content_type, TextSink &sink,
			  Warnings &warnings);

// The text of every element of an XML document (attributes not), one
// text node from the next separated by a newline.
void extract_xml_text(std::string_view xml, TextSink &sink, Warnings &warnings);

// Plain text: valid UTF-8 passes, other bytes are repaired (repair_utf8).
void extract_plain_text(std::string_view data, TextSink &sink);

constexpr std::size_t kMaxZipEntries = 10000;
constexpr std::size_t kMaxZipEntryBytes = 64u << 20;
constexpr std::size_t kMaxZipTotalBytes = 256u << 20;
// Beyond this, an entry that inflates more than kMaxZipRatio times its
// compressed size is a bomb, not a document.
constexpr std::size_t kZipRatioFloorBytes = 1u << 20;
constexpr std::size_t kMaxZipRatio = 100;
constexpr std::size_t kMaxXmlPartBytes = 32u << 20;

} // namespace tresor::extract
