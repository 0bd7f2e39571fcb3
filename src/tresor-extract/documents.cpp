#include "documents.hpp"
#include "zip_archive.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>

#include <pugixml.hpp>
#include <zip.h>

#include "common/text.hpp"

namespace tresor::extract {

namespace {

constexpr std::size_t kMaxWarnings = 20;
constexpr std::size_t kMaxWarningBytes = 300;
// Small parts read to find out what a zip holds.
constexpr std::size_t kMaxMimetypeBytes = 200;
constexpr std::size_t kMaxRelsBytes = 1u << 20;
// How much of a file sniff() looks at.
constexpr std::size_t kSniffBytes = 1u << 20;
constexpr std::size_t kPdfHeaderWindow = 1024;

bool is_continuation(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

// Length of the valid UTF-8 sequence at s[i], 0 if there is none.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i)
{
	auto at = [&](std::size_t k) -> unsigned char {
		return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0;
	};
	unsigned char c = at(0);
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return is_continuation(at(1)) ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
		unsigned char hi = c == 0xED ? 0x9F : 0xBF;
		return at(1) >= lo && at(1) <= hi && is_continuation(at(2)) ? 3 : 0;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
		unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
		return at(1) >= lo && at(1) <= hi && is_continuation(at(2)) &&
			       is_continuation(at(3)) ?
			       4 :
			       0;
	}
	return 0;
}

bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// "Application/PDF; name=x" -> "application/pdf"
std::string media_type(std::string_view content_type)
{
	std::size_t semicolon = content_type.find(';');
	if (semicolon != std::string_view::npos)
		content_type = content_type.substr(0, semicolon);
	return text::ascii_lowercase(text::trim_space(content_type));
}

// No NUL, and hardly any control characters other than white space: text
// in UTF-8 or an 8-bit charset. Under a text/* label more noise is
// tolerated.
bool looks_like_text(std::string_view data, bool labelled_text)
{
	std::string_view head = data.substr(0, kSniffBytes);
	std::size_t controls = 0;
	for (char ch : head) {
		unsigned char c = static_cast<unsigned char>(ch);
		if (c == 0)
			return false;
		if ((c < 0x20 && !is_blank(ch) && c != 0x1B) || c == 0x7F)
			controls++;
	}
	std::size_t allowed = head.size() / (labelled_text ? 10 : 100);
	return controls <= allowed;
}

// ------------------------------------------------------------ XML walking

// What an element means for the text around it.
enum class Role {
	none,
	text,       // its text nodes are document text
	block,      // paragraph, heading: a line of its own
	cell,       // table cell: apart from its neighbours
	tab,        // an empty element standing for a tab
	line_break, // ... for a line break
	space,      // ... for a space
	skip,       // nothing inside is document text
};

using RoleOf = Role (*)(std::string_view local_name);

std::string_view local_name(const char *qualified)
{
	std::string_view name(qualified);
	std::size_t colon = name.find(':');
	return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

pugi::xml_node child_by_local_name(pugi::xml_node parent, std::string_view name)
{
	for (pugi::xml_node child = parent.first_child(); child; child = child.next_sibling())
		if (child.type() == pugi::node_element && local_name(child.name()) == name)
			return child;
	return {};
}

bool is_text_node(pugi::xml_node node)
{
	return node.type() == pugi::node_pcdata || node.type() == pugi::node_cdata;
}

// Feeds the text below root into sink, in document order. Iterative: a
// hostile document may nest a million elements deep. all_text: every
// text node counts; otherwise only those inside Role::text elements (in
// OOXML the rest are numbers for layout, field codes and the like).
void walk(pugi::xml_node root, RoleOf role_of, bool all_text, TextSink &sink)
{
	std::size_t text_depth = 0;
	pugi::xml_node node = root.first_child();
	while (node && !sink.full()) {
		bool descend = false;
		if (node.type() == pugi::node_element) {
			descend = true;
			switch (role_of(local_name(node.name()))) {
			case Role::text:
				text_depth++;
				break;
			case Role::block:
			case Role::line_break:
				sink.separate('\n');
				break;
			case Role::cell:
			case Role::tab:
				sink.separate('\t');
				break;
			case Role::space:
				sink.separate(' ');
				break;
			case Role::skip:
				descend = false;
				break;
			case Role::none:
				break;
			}
		} else if (is_text_node(node) && (all_text || text_depth > 0)) {
			sink.text(node.value());
		}
		if (descend && node.first_child()) {
			node = node.first_child();
			continue;
		}
		// node is done: leave it and every ancestor that is done too
		for (;;) {
			if (node.type() == pugi::node_element && descend) {
				switch (role_of(local_name(node.name()))) {
				case Role::text:
					text_depth--;
					break;
				case Role::block:
					sink.separate('\n');
					break;
				case Role::cell:
					sink.separate('\t');
					break;
				default:
					break;
				}
			}
			descend = true; // ancestors were all entered
			if (pugi::xml_node next = node.next_sibling()) {
				node = next;
				break;
			}
			node = node.parent();
			if (!node || node == root) {
				node = pugi::xml_node();
				break;
			}
		}
	}
}

Role every_element_apart(std::string_view)
{
	return Role::block;
}

// WordprocessingML (plus DrawingML text in text boxes and shapes).
Role wordprocessing_role(std::string_view name)
{
	if (name == "t")
		return Role::text;
	if (name == "p")
		return Role::block;
	if (name == "tc")
		return Role::cell;
	if (name == "tab")
		return Role::tab;
	if (name == "br" || name == "cr")
		return Role::line_break;
	// deleted revisions, field codes, tab stop definitions
	if (name == "delText" || name == "instrText" || name == "tabs" || name == "pPr" ||
	    name == "rPr")
		return Role::skip;
	return Role::none;
}

// SpreadsheetML strings: runs of one string are glued, phonetic guides
// (rPh) are not text of their own.
Role spreadsheet_string_role(std::string_view name)
{
	if (name == "t")
		return Role::text;
	if (name == "rPh" || name == "rPr")
		return Role::skip;
	return Role::none;
}

// PresentationML slides: DrawingML text bodies.
Role presentation_role(std::string_view name)
{
	if (name == "t")
		return Role::text;
	if (name == "p")
		return Role::block;
	if (name == "tc")
		return Role::cell;
	if (name == "br")
		return Role::line_break;
	if (name == "pPr" || name == "rPr" || name == "endParaRPr")
		return Role::skip;
	return Role::none;
}

// ODF content.xml (text, spreadsheet and presentation alike).
Role opendocument_role(std::string_view name)
{
	if (name == "p" || name == "h")
		return Role::block;
	if (name == "table-cell" || name == "covered-table-cell")
		return Role::cell;
	if (name == "s")
		return Role::space;
	if (name == "tab")
		return Role::tab;
	if (name == "line-break")
		return Role::line_break;
	// deleted text of tracked changes, and declarations that hold no text
	if (name == "tracked-changes" || name == "automatic-styles" ||
	    name == "font-face-decls" || name == "scripts")
		return Role::skip;
	return Role::none;
}

// pugixml parses in place: the bytes must live as long as the tree.
struct ParsedXml {
	std::string bytes;
	pugi::xml_document doc;
};

// Parses what there is: a broken or cut document keeps the tree up to the
// error, which is worth its text. White-space-only text nodes are kept
// when they are words' separators (OOXML runs, ODF spans).
// complete = false: the bytes were cut short, which a warning has said
// already; the parse error that follows would only repeat it.
std::unique_ptr<ParsedXml> parse_xml_text(std::string bytes, std::string_view what,
					  bool keep_blank_text, bool complete, Warnings &warnings)
{
	auto parsed = std::make_unique<ParsedXml>();
	parsed->bytes = std::move(bytes);
	unsigned options = pugi::parse_default;
	if (keep_blank_text)
		options |= pugi::parse_ws_pcdata;
	pugi::xml_parse_result result = parsed->doc.load_buffer_inplace(
		parsed->bytes.data(), parsed->bytes.size(), options, pugi::encoding_auto);
	if (result.status == pugi::status_out_of_memory)
		warnings.add(std::string(what) + ": out of memory parsing the XML");
	else if (!result && complete)
		warnings.add(std::string(what) + ": " + result.description() + " at offset " +
			     std::to_string(result.offset));
	return parsed;
}

std::unique_ptr<ParsedXml> read_xml_part(ZipArchive &zip, const std::string &name,
					 Warnings &warnings)
{
	std::optional<ZipArchive::Entry> entry = zip.read(name, kMaxXmlPartBytes);
	if (!entry)
		return nullptr;
	return parse_xml_text(std::move(entry->bytes), name, true, entry->complete, warnings);
}

// The number in "slide12.xml", for slide 2 to come before slide 10.
std::uint64_t part_number(std::string_view name)
{
	std::size_t end = name.rfind('.');
	if (end == std::string_view::npos)
		end = name.size();
	std::size_t start = end;
	while (start > 0 && text::is_ascii_digit(name[start - 1]))
		start--;
	std::uint64_t number = 0;
	for (std::size_t i = start; i < end && i < start + 18; i++)
		number = number * 10 + static_cast<std::uint64_t>(name[i] - '0');
	return number;
}

// Entries directly in dir whose file name starts with prefix and ends in
// ".xml", in natural order.
std::vector<std::string> parts_in(const ZipArchive &zip, const std::string &dir,
				  std::string_view prefix)
{
	std::vector<std::string> out;
	for (const std::string &name : zip.names()) {
		if (!name.starts_with(dir))
			continue;
		std::string_view file = std::string_view(name).substr(dir.size());
		if (file.find('/') == std::string_view::npos && file.starts_with(prefix) &&
		    file.ends_with(".xml"))
			out.push_back(name);
	}
	std::stable_sort(out.begin(), out.end(), [](const std::string &a, const std::string &b) {
		return part_number(a) < part_number(b);
	});
	return out;
}

// The main part named by the package relationships (word/document.xml,
// xl/workbook.xml, ppt/presentation.xml in the usual layout).
std::string ooxml_main_part(ZipArchive &zip, Warnings &warnings)
{
	if (std::optional<ZipArchive::Entry> rels = zip.read("_rels/.rels", kMaxRelsBytes)) {
		std::unique_ptr<ParsedXml> parsed = parse_xml_text(
			std::move(rels->bytes), "_rels/.rels", false, rels->complete, warnings);
		for (pugi::xml_node rel : parsed->doc.document_element().children()) {
			std::string_view type = rel.attribute("Type").value();
			std::string_view target = rel.attribute("Target").value();
			if (!type.ends_with("/officeDocument") || target.empty())
				continue;
			if (target.starts_with("/"))
				target.remove_prefix(1);
			if (zip.has(std::string(target)))
				return std::string(target);
		}
	}
	for (const char *usual : {"word/document.xml", "xl/workbook.xml", "ppt/presentation.xml"})
		if (zip.has(usual))
			return usual;
	return "";
}

void extract_wordprocessing(ZipArchive &zip, const std::string &main, const std::string &dir,
			    TextSink &sink, Warnings &warnings)
{
	std::vector<std::string> parts{main};
	for (std::string_view prefix : {"header", "footer", "footnotes", "endnotes", "comments"})
		for (std::string &part : parts_in(zip, dir, prefix))
			parts.push_back(std::move(part));
	for (const std::string &part : parts) {
		if (sink.full())
			return;
		if (std::unique_ptr<ParsedXml> parsed = read_xml_part(zip, part, warnings)) {
			walk(parsed->doc, wordprocessing_role, false, sink);
			sink.separate('\n');
		}
	}
}

// Shared strings one after the other in one buffer: a table of millions of
// tiny strings must not cost a std::string each.
class SharedStrings {
public:
	void add(std::string_view s)
	{
		offsets_.push_back(pool_.size());
		pool_ += s;
	}
	std::optional<std::string_view> at(std::size_t i) const
	{
		if (i >= offsets_.size())
			return std::nullopt;
		std::size_t end = i + 1 < offsets_.size() ? offsets_[i + 1] : pool_.size();
		return std::string_view(pool_).substr(offsets_[i], end - offsets_[i]);
	}
	std::size_t size() const { return offsets_.size(); }

private:
	std::string pool_;
	std::vector<std::size_t> offsets_;
};

std::optional<std::size_t> parse_index(std::string_view digits)
{
	digits = text::trim_space(digits);
	if (digits.empty() || digits.size() > 9)
		return std::nullopt;
	std::size_t value = 0;
	for (char c : digits) {
		if (c < '0' || c > '9')
			return std::nullopt;
		value = value * 10 + static_cast<std::size_t>(c - '0');
	}
	return value;
}

void extract_spreadsheet(ZipArchive &zip, const std::string &dir, TextSink &sink,
			 Warnings &warnings)
{
	SharedStrings shared;
	if (std::unique_ptr<ParsedXml> parsed = read_xml_part(zip, dir + "sharedStrings.xml",
							      warnings)) {
		for (pugi::xml_node si : parsed->doc.document_element().children()) {
			if (si.type() != pugi::node_element || local_name(si.name()) != "si")
				continue;
			TextSink one(kMaxXmlPartBytes);
			walk(si, spreadsheet_string_role, false, one);
			shared.add(one.str());
		}
	}

	bool any_cell = false;
	for (const std::string &sheet : parts_in(zip, dir + "worksheets/", "")) {
		if (sink.full())
			return;
		std::unique_ptr<ParsedXml> parsed = read_xml_part(zip, sheet, warnings);
		if (!parsed)
			continue;
		pugi::xml_node data = child_by_local_name(parsed->doc.document_element(), "sheetData");
		for (pugi::xml_node row : data.children()) {
			if (row.type() != pugi::node_element || local_name(row.name()) != "row")
				continue;
			for (pugi::xml_node cell : row.children()) {
				if (sink.full())
					return;
				if (cell.type() != pugi::node_element || local_name(cell.name()) != "c")
					continue;
				std::string_view type = cell.attribute("t").value();
				std::string_view value =
					child_by_local_name(cell, "v").child_value();
				sink.separate('\t');
				if (type == "s") {
					std::optional<std::size_t> i = parse_index(value);
					std::optional<std::string_view> s =
						i ? shared.at(*i) : std::nullopt;
					if (s)
						sink.text(*s);
				} else if (type == "inlineStr") {
					walk(child_by_local_name(cell, "is"), spreadsheet_string_role,
					     false, sink);
				} else if (type != "b") {
					// numbers, formula results, error codes
					sink.text(value);
				}
				sink.separate('\t');
				any_cell = true;
			}
			sink.separate('\n');
		}
		sink.separate('\n');
	}
	// no readable sheet: the strings alone are still the words
	if (!any_cell) {
		for (std::size_t i = 0; i < shared.size() && !sink.full(); i++) {
			sink.text(*shared.at(i));
			sink.separate('\n');
		}
	}
}

void extract_presentation(ZipArchive &zip, const std::string &dir, TextSink &sink,
			  Warnings &warnings)
{
	std::vector<std::string> parts = parts_in(zip, dir + "slides/", "slide");
	for (std::string &notes : parts_in(zip, dir + "notesSlides/", "notesSlide"))
		parts.push_back(std::move(notes));
	for (const std::string &part : parts) {
		if (sink.full())
			return;
		if (std::unique_ptr<ParsedXml> parsed = read_xml_part(zip, part, warnings)) {
			walk(parsed->doc, presentation_role, false, sink);
			sink.separate('\n');
		}
	}
}

bool is_opendocument(ZipArchive &zip)
{
	// The first entry, stored, by the standard; some writers get that
	// wrong, so any "mimetype" entry counts, or the manifest.
	if (std::optional<ZipArchive::Entry> mimetype = zip.read("mimetype", kMaxMimetypeBytes))
		return text::trim_space(mimetype->bytes)
			.starts_with("application/vnd.oasis.opendocument");
	return zip.has("content.xml") && zip.has("META-INF/manifest.xml");
}

} // namespace

// ------------------------------------------------------------ public

void cut_utf8(std::string &s, std::size_t max)
{
	if (s.size() <= max)
		return;
	std::size_t n = max;
	while (n > 0 && is_continuation(static_cast<unsigned char>(s[n])))
		n--;
	s.resize(n);
}

std::string repair_utf8(std::string_view data)
{
	std::string out;
	out.reserve(data.size());
	for (std::size_t i = 0; i < data.size();) {
		unsigned char c = static_cast<unsigned char>(data[i]);
		std::size_t length = utf8_sequence_length(data, i);
		if (length == 1) {
			bool control = (c < 0x20 && !is_blank(data[i])) || c == 0x7F;
			out += control ? ' ' : data[i];
		} else if (length > 1) {
			out.append(data.substr(i, length));
		} else if (c >= 0xA0) {
			// Latin-1: the byte is the code point
			out += static_cast<char>(0xC0 | (c >> 6));
			out += static_cast<char>(0x80 | (c & 0x3F));
		} else {
			out += "\xEF\xBF\xBD";
		}
		i += length > 0 ? length : 1;
	}
	return out;
}

void Warnings::add(std::string message)
{
	cut_utf8(message, kMaxWarningBytes);
	if (!seen_.insert(message).second)
		return;
	if (list_.size() < kMaxWarnings)
		list_.push_back(std::move(message));
	else
		dropped_++;
}

std::vector<std::string> Warnings::finish() const
{
	std::vector<std::string> out = list_;
	if (dropped_ > 0)
		out.push_back(std::to_string(dropped_) + " more warnings");
	return out;
}

void TextSink::pend(char separator)
{
	auto rank = [](char c) { return c == '\n' ? 3 : c == '\t' ? 2 : c == ' ' ? 1 : 0; };
	if (rank(separator) > rank(pending_))
		pending_ = separator;
}

void TextSink::separate(char separator)
{
	pend(separator);
}

void TextSink::text(std::string_view utf8)
{
	for (char c : utf8) {
		if (full_)
			return;
		if (is_blank(c)) {
			pend(c == '\t' ? '\t' : c == ' ' ? ' ' : '\n');
			continue;
		}
		if (pending_ != 0 && !out_.empty())
			out_ += pending_;
		pending_ = 0;
		out_ += c;
		if (out_.size() > max_) {
			cut_utf8(out_, max_);
			while (!out_.empty() && is_blank(out_.back()))
				out_.pop_back();
			full_ = true;
		}
	}
}

DocumentType sniff(std::string_view data, std::string_view content_type)
{
	std::string type = media_type(content_type);
	if (data.starts_with("%PDF-"))
		return DocumentType::pdf;
	if (data.starts_with("PK\x03\x04") || data.starts_with(std::string_view("PK\x05\x06", 4)))
		return DocumentType::zip;
	// poppler finds a header after some junk; believe it when labelled so
	if ((type == "application/pdf" || type == "application/x-pdf") &&
	    data.substr(0, kPdfHeaderWindow).find("%PDF-") != std::string_view::npos)
		return DocumentType::pdf;

	std::string_view start = data;
	if (start.starts_with("\xEF\xBB\xBF"))
		start.remove_prefix(3);
	// UTF-16 XML (pugixml reads it); UTF-16 text is not supported
	if ((start.starts_with("\xFF\xFE") || start.starts_with("\xFE\xFF")) && start.size() >= 4 &&
	    (start.substr(2, 2) == std::string_view("<\0", 2) ||
	     start.substr(2, 2) == std::string_view("\0<", 2)))
		return DocumentType::xml;
	while (!start.empty() && is_blank(start.front()))
		start.remove_prefix(1);
	bool labelled_text = type.starts_with("text/");
	if (start.starts_with("<")) {
		if (type == "text/plain" && looks_like_text(data, true))
			return DocumentType::text;
		return DocumentType::xml;
	}
	if (!data.empty() && looks_like_text(data, labelled_text))
		return DocumentType::text;
	return DocumentType::unsupported;
}

void extract_zip_document(std::string_view data, std::string_view content_type, TextSink &sink,
			  Warnings &warnings)
{
	ZipArchive zip(data, warnings);
	if (!zip)
		return;
	if (is_opendocument(zip)) {
		if (std::unique_ptr<ParsedXml> parsed = read_xml_part(zip, "content.xml", warnings))
			walk(parsed->doc, opendocument_role, true, sink);
		else
			warnings.add("OpenDocument without content.xml");
		return;
	}
	std::string main = ooxml_main_part(zip, warnings);
	if (main.empty()) {
		std::string type = media_type(content_type);
		warnings.add("zip archive is neither an Office Open XML nor an OpenDocument file" +
			     (type.empty() ? std::string() : " (" + type + ")") + ", not indexed");
		return;
	}
	std::size_t slash = main.rfind('/');
	std::string dir = slash == std::string::npos ? "" : main.substr(0, slash + 1);
	std::string_view file = std::string_view(main).substr(dir.size());
	if (file.starts_with("workbook"))
		extract_spreadsheet(zip, dir, sink, warnings);
	else if (file.starts_with("presentation"))
		extract_presentation(zip, dir, sink, warnings);
	else
		extract_wordprocessing(zip, main, dir, sink, warnings);
}

void extract_xml_text(std::string_view xml, TextSink &sink, Warnings &warnings)
{
	std::string bytes(xml.substr(0, kMaxXmlPartBytes));
	if (xml.size() > kMaxXmlPartBytes)
		warnings.add("XML larger than " + std::to_string(kMaxXmlPartBytes >> 20) +
			     " MiB, only its beginning is read");
	std::unique_ptr<ParsedXml> parsed = parse_xml_text(
		std::move(bytes), "XML", false, xml.size() <= kMaxXmlPartBytes, warnings);
	walk(parsed->doc, every_element_apart, true, sink);
}

void extract_plain_text(std::string_view data, TextSink &sink)
{
	if (data.starts_with("\xEF\xBB\xBF"))
		data.remove_prefix(3);
	// in pieces: a huge file is read only as far as the sink takes it
	constexpr std::size_t kPiece = 64 * 1024;
	while (!data.empty() && !sink.full()) {
		std::size_t end = std::min(kPiece, data.size());
		// don't split a sequence: end on a byte that is no continuation
		while (end < data.size() && end > 0 &&
		       is_continuation(static_cast<unsigned char>(data[end])))
			end--;
		if (end == 0)
			end = std::min(kPiece, data.size());
		sink.text(repair_utf8(data.substr(0, end)));
		data.remove_prefix(end);
	}
}

} // namespace tresor::extract
