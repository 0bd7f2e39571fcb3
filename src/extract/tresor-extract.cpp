// tresor-extract: the one place where untrusted documents are parsed.
// Reads a PDF or XML document on stdin and writes one JSON object on stdout:
//
//   {"einvoice": {"format", "number", "date", "total", "currency", "seller",
//                 "vatid", "iban"} or null,
//    "text": "<page text, at most --max-text bytes of UTF-8>",
//    "warnings": ["..."]}
//
// Exit status 0 whenever the answer was written, also for "not an invoice"
// and for broken or encrypted PDFs (those carry a warning). The caller
// (extract_client) runs it under CPU, memory and wall-clock limits, so a
// hostile document costs a helper process, never a Dovecot one.
//
// Usage: tresor-extract --mode=xml|pdf [--max-text=BYTES]

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <poppler-document.h>
#include <poppler-embedded-file.h>
#include <poppler-global.h>
#include <poppler-page.h>

#include "einvoice.hpp"
#include "extract_client.hpp"

namespace tresor::extract {

namespace {

enum class Mode { xml, pdf };

struct Options {
	Mode mode = Mode::pdf;
	std::size_t max_text = 1u << 20;
};

constexpr std::size_t kMaxWarnings = 20;
constexpr std::size_t kMaxWarningBytes = 300;

bool parse_size(std::string_view text, std::size_t &value_r)
{
	if (text.empty() || text.size() > 19)
		return false;
	std::size_t value = 0;
	for (char c : text) {
		if (c < '0' || c > '9')
			return false;
		value = value * 10 + static_cast<std::size_t>(c - '0');
	}
	value_r = value;
	return true;
}

bool parse_args(int argc, char **argv, Options &opts, std::string &error_r)
{
	bool have_mode = false;
	for (int i = 1; i < argc; i++) {
		std::string_view arg = argv[i];
		if (arg == "--mode=xml") {
			opts.mode = Mode::xml;
			have_mode = true;
		} else if (arg == "--mode=pdf") {
			opts.mode = Mode::pdf;
			have_mode = true;
		} else if (arg.starts_with("--max-text=")) {
			if (!parse_size(arg.substr(11), opts.max_text)) {
				error_r = "--max-text needs a number of bytes";
				return false;
			}
		} else {
			error_r = "unknown argument " + std::string(arg);
			return false;
		}
	}
	if (!have_mode) {
		error_r = "--mode=xml or --mode=pdf is required";
		return false;
	}
	return true;
}

std::string read_all_stdin()
{
	std::string data;
	char buf[64 * 1024];
	for (;;) {
		ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			throw std::system_error(errno, std::generic_category(), "read(stdin)");
		}
		if (n == 0)
			return data;
		data.append(buf, static_cast<std::size_t>(n));
	}
}

void write_all_stdout(std::string_view data)
{
	while (!data.empty()) {
		ssize_t n = ::write(STDOUT_FILENO, data.data(), data.size());
		if (n < 0) {
			if (errno == EINTR)
				continue;
			throw std::system_error(errno, std::generic_category(), "write(stdout)");
		}
		data.remove_prefix(static_cast<std::size_t>(n));
	}
}

// Cuts to at most max bytes without splitting a UTF-8 sequence.
void cut_utf8(std::string &s, std::size_t max)
{
	if (s.size() <= max)
		return;
	std::size_t n = max;
	while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
		n--;
	s.resize(n);
}

// A broken PDF can make poppler complain thousands of times: keep the
// first few distinct messages, count the rest.
class Warnings {
public:
	void add(std::string message)
	{
		cut_utf8(message, kMaxWarningBytes);
		if (!seen_.insert(message).second)
			return;
		if (list_.size() < kMaxWarnings)
			list_.push_back(std::move(message));
		else
			dropped_++;
	}

	std::vector<std::string> finish() const
	{
		std::vector<std::string> out = list_;
		if (dropped_ > 0)
			out.push_back(std::to_string(dropped_) + " more warnings");
		return out;
	}

private:
	std::vector<std::string> list_;
	std::set<std::string> seen_;
	std::size_t dropped_ = 0;
};

// poppler's error and debug output, otherwise printed on stderr.
void collect_poppler_message(const std::string &message, void *closure)
{
	static_cast<Warnings *>(closure)->add("pdf: " + message);
}

void ignore_poppler_message(const std::string &, void *)
{
}

struct Result {
	std::optional<einvoice::Invoice> invoice;
	std::string text;
};

// Appends a page's text with the layout padding squeezed out (runs of
// blanks become one space, no trailing blanks, at most one empty line in a
// row), so that max_text holds words rather than white space.
void append_text(std::string &text, const poppler::byte_array &utf8, std::size_t max_text)
{
	if (text.size() >= max_text)
		return;
	std::size_t newlines = text.empty() ? 2 : 1;
	bool pending_blank = false;
	if (!text.empty())
		text += '\n';
	for (char c : utf8) {
		if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
			pending_blank = newlines == 0;
			continue;
		}
		if (c == '\n') {
			pending_blank = false;
			if (++newlines <= 2)
				text += '\n';
			continue;
		}
		if (pending_blank)
			text += ' ';
		pending_blank = false;
		newlines = 0;
		text += c;
		if (text.size() > max_text)
			break;
	}
	cut_utf8(text, max_text);
}

// The e-invoice among the PDF's embedded files (factur-x.xml,
// xrechnung.xml, ZUGFeRD-invoice.xml, ...; the name is not trusted, every
// file is tried), and the text of its pages.
Result analyse_pdf(const std::string &data, std::size_t max_text, Warnings &warnings)
{
	Result result;
	if (data.size() > static_cast<std::size_t>(INT_MAX)) {
		warnings.add("PDF too large");
		return result;
	}
	std::unique_ptr<poppler::document> doc(poppler::document::load_from_raw_data(
		data.data(), static_cast<int>(data.size())));
	if (!doc) {
		warnings.add("not a readable PDF");
		return result;
	}
	if (doc->is_locked()) {
		warnings.add("encrypted PDF, password required");
		return result;
	}

	std::string invoice_file;
	if (doc->has_embedded_files()) {
		// owned by doc
		for (poppler::embedded_file *file : doc->embedded_files()) {
			if (file == nullptr || !file->is_valid())
				continue;
			std::string name = file->name();
			cut_utf8(name, 100);
			if (file->size() > static_cast<int>(einvoice::kMaxXmlBytes)) {
				warnings.add("embedded file " + name + " too large, not parsed");
				continue;
			}
			poppler::byte_array content = file->data();
			std::optional<einvoice::Invoice> invoice = einvoice::parse_xml(
				std::string_view(content.data(), content.size()), true);
			if (!invoice)
				continue;
			if (result.invoice) {
				warnings.add("more than one e-invoice embedded, using " +
					     invoice_file + ", not " + name);
				continue;
			}
			result.invoice = std::move(invoice);
			invoice_file = name;
		}
	}

	int pages = doc->pages();
	for (int i = 0; i < pages && result.text.size() < max_text; i++) {
		std::unique_ptr<poppler::page> page(doc->create_page(i));
		if (page)
			append_text(result.text, page->text().to_utf8(), max_text);
	}
	return result;
}

Result analyse_xml(const std::string &data, Warnings &warnings)
{
	Result result;
	if (data.size() > einvoice::kMaxXmlBytes)
		warnings.add("XML larger than " +
			     std::to_string(einvoice::kMaxXmlBytes >> 20) + " MiB, not parsed");
	else
		result.invoice = einvoice::parse_xml(data, false);
	return result;
}

nlohmann::json invoice_json(const einvoice::Invoice &inv)
{
	return {
		{"format", inv.format},
		{"number", inv.number},
		{"date", inv.date},
		{"total", inv.total},
		{"currency", inv.currency},
		{"seller", inv.seller},
		{"vatid", inv.vatid},
		{"iban", inv.iban},
	};
}

int run(int argc, char **argv)
{
	Options opts;
	std::string error;
	if (!parse_args(argc, argv, opts, error)) {
		std::fprintf(stderr, "tresor-extract: %s\n"
			     "usage: tresor-extract --mode=xml|pdf [--max-text=BYTES] < document\n",
			     error.c_str());
		return kExitUsage;
	}

	Warnings warnings;
	poppler::set_debug_error_function(collect_poppler_message, &warnings);

	std::string data = read_all_stdin();
	Result result = opts.mode == Mode::pdf ?
		analyse_pdf(data, opts.max_text, warnings) : analyse_xml(data, warnings);

	// warnings is about to go; poppler must not write to it any more.
	poppler::set_debug_error_function(ignore_poppler_message, nullptr);

	nlohmann::json invoice = result.invoice ? invoice_json(*result.invoice) : nullptr;
	nlohmann::json answer = {
		{"einvoice", invoice},
		{"text", result.text},
		{"warnings", warnings.finish()},
	};
	// Text from a PDF or XML may be invalid UTF-8: replace, don't fail.
	std::string out = answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
	out += '\n';
	write_all_stdout(out);
	return 0;
}

} // namespace

} // namespace tresor::extract

int main(int argc, char **argv)
{
	try {
		return tresor::extract::run(argc, argv);
	} catch (const std::bad_alloc &) {
		static const char msg[] = "tresor-extract: out of memory\n";
		(void)!::write(STDERR_FILENO, msg, sizeof(msg) - 1);
		return tresor::extract::kExitOutOfMemory;
	} catch (const std::exception &e) {
		std::fprintf(stderr, "tresor-extract: %s\n", e.what());
		return tresor::extract::kExitInternal;
	}
}
