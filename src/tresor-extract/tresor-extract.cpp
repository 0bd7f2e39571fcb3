// tresor-extract: the one place where untrusted documents are parsed.
// Reads a document on stdin. In the JSON modes it writes one object on
// stdout:
//
//   {"einvoice": {"format", "number", "date", "total", "currency", "seller",
//                 "vatid", "iban", "payee_ibans": [...], "debtor_ibans": [...],
//                 "direct_debit": bool} or null,
//    "text": "<document text, at most --max-text bytes of UTF-8>",
//    "warnings": ["..."]}
//
//   --mode=pdf   a PDF: page text, and the e-invoice among its attachments
//   --mode=xml   an e-invoice XML (no text)
//   --mode=dmarc a DMARC aggregate report, XML, gzip'd or zipped: the
//                answer has "dmarc" (extract/dmarc.hpp's report_json(),
//                or null with the reason among the warnings) and no text
//   --mode=auto  whatever it is (PDF, docx/xlsx/pptx, odt/ods/odp, XML,
//                plain text; --content-type=TYPE breaks ties): its text,
//                and the e-invoice of a PDF or XML; anything else is
//                "unsupported", a warning and no text
//
// Exit status 0 whenever the answer was written, also for "not an invoice"
// and for broken, cut or encrypted documents (those carry a warning). The
// caller (extract_client) runs it under CPU, memory and wall-clock limits,
// so a hostile document costs a helper process, never a Dovecot one.
//
// --serve keeps one process for many documents (extract_client's Session),
// which saves the fork and exec and poppler's start-up for every
// attachment. Requests on stdin, answers on stdout, one at a time:
//
//   request: "<length>[ <content-type hint>]\n" then exactly <length> bytes
//            (length: 1 to 15 decimal digits; the whole line at most
//            kMaxRequestLine bytes; the hint as --content-type in
//            --mode=auto, may be left out)
//   answer:  "<length>\n" then <length> bytes: the JSON object --mode=auto
//            prints, with its final newline
//
// It reads exactly the announced bytes, never ahead. EOF before a request
// line ends it with status 0; a malformed or cut request with
// kExitProtocol. With --cpu-limit=SECONDS every document gets that much
// CPU time on top of what the process has used so far (the soft
// RLIMIT_CPU, moved before each document; the hard limit the client set
// stays the cap for the whole process). The client's RLIMIT_AS covers
// the process. --test-spin-on=MARKER (tests only) makes a document
// containing MARKER spin until a limit ends the process.
//
// --decoder [CONTENT-TYPE] makes it Dovecot's fts_decoder behind the
// "script" service (src/util/script.c): without a type it lists the types
// it reads ("type extension" lines and an empty line, fts-parser-script.c
// asks for that once); with one it reads the document on stdin and writes
// its plain UTF-8 text, no JSON, on stdout. Nobody limits it there, so it
// sets its own CPU, memory and time limits first (--cpu-limit=SECONDS,
// --memory-limit=BYTES[K|M|G], --timeout=SECONDS before the type).
//
// Usage: tresor-extract --mode=xml|pdf|auto|dmarc [--content-type=TYPE] [--max-text=BYTES]
//        tresor-extract --serve [--max-text=BYTES] [--cpu-limit=S]
//        tresor-extract --decoder [--max-text=BYTES] [--cpu-limit=S]
//                       [--memory-limit=BYTES] [--timeout=S] [CONTENT-TYPE]

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <poppler-document.h>
#include <poppler-embedded-file.h>
#include <poppler-global.h>
#include <poppler-page.h>

#include "dmarc_report.hpp"
#include "documents.hpp"
#include "einvoice_xml.hpp"
#include "extract/extract_client.hpp"

namespace tresor::extract {

namespace {

enum class Mode { xml, pdf, automatic, dmarc, decoder, serve };

// The longest request line --serve accepts: 15 digits, a blank, a MIME
// type with parameters and the newline.
constexpr std::size_t kMaxRequestLine = 1024;

struct Options {
	Mode mode = Mode::pdf;
	std::size_t max_text = 1u << 20;
	std::string content_type;
	bool have_content_type = false;
	// --decoder: the limits extract_client would otherwise set;
	// --serve: cpu_seconds per document, when given
	unsigned cpu_seconds = 5;
	bool have_cpu_limit = false;
	std::string test_spin_marker; // --serve only
	std::size_t memory_bytes = 256u << 20;
	unsigned timeout_seconds = 10;
};

// At most 15 decimal digits, nothing else.
bool parse_decimal(std::string_view text, std::size_t &value_r)
{
	if (text.empty() || text.size() > 15)
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

// "256M", "1G", "65536"
bool parse_bytes(std::string_view text, std::size_t &value_r)
{
	unsigned shift = 0;
	if (!text.empty()) {
		switch (text.back()) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		}
	}
	if (shift != 0)
		text.remove_suffix(1);
	if (!parse_decimal(text, value_r))
		return false;
	value_r <<= shift;
	return true;
}

bool parse_seconds(std::string_view text, unsigned &value_r)
{
	std::size_t value = 0;
	if (!parse_decimal(text, value) || value == 0 || value > 86400)
		return false;
	value_r = static_cast<unsigned>(value);
	return true;
}

bool parse_args(int argc, char **argv, Options &opts, std::string &error_r)
{
	bool have_mode = false;
	bool decoder_limits = false;
	for (int i = 1; i < argc; i++) {
		std::string_view arg = argv[i];
		if (arg == "--mode=xml" || arg == "--mode=pdf" || arg == "--mode=auto" ||
		    arg == "--mode=dmarc" || arg == "--decoder" || arg == "--serve") {
			if (have_mode) {
				error_r = "only one of --mode, --decoder and --serve";
				return false;
			}
			opts.mode = arg == "--mode=xml" ? Mode::xml :
				    arg == "--mode=pdf" ? Mode::pdf :
				    arg == "--mode=auto" ? Mode::automatic :
				    arg == "--mode=dmarc" ? Mode::dmarc :
				    arg == "--serve" ? Mode::serve : Mode::decoder;
			have_mode = true;
		} else if (arg.starts_with("--max-text=")) {
			if (!parse_decimal(arg.substr(11), opts.max_text)) {
				error_r = "--max-text needs a number of bytes";
				return false;
			}
		} else if (arg.starts_with("--content-type=")) {
			opts.content_type = arg.substr(15);
			opts.have_content_type = true;
		} else if (arg.starts_with("--cpu-limit=")) {
			if (!parse_seconds(arg.substr(12), opts.cpu_seconds)) {
				error_r = "--cpu-limit needs seconds (1 .. 86400)";
				return false;
			}
			opts.have_cpu_limit = true;
		} else if (arg.starts_with("--test-spin-on=") && arg.size() > 15) {
			opts.test_spin_marker = arg.substr(15);
		} else if (arg.starts_with("--memory-limit=")) {
			if (!parse_bytes(arg.substr(15), opts.memory_bytes) ||
			    opts.memory_bytes < (32u << 20)) {
				error_r = "--memory-limit needs bytes (K, M, G), at least 32M";
				return false;
			}
			decoder_limits = true;
		} else if (arg.starts_with("--timeout=")) {
			if (!parse_seconds(arg.substr(10), opts.timeout_seconds)) {
				error_r = "--timeout needs seconds (1 .. 86400)";
				return false;
			}
			decoder_limits = true;
		} else if (opts.mode == Mode::decoder && have_mode && !arg.starts_with("--") &&
			   !opts.have_content_type) {
			// the script service appends the MIME type as the last argument
			opts.content_type = arg;
			opts.have_content_type = true;
		} else {
			error_r = "unknown argument " + std::string(arg);
			return false;
		}
	}
	if (!have_mode) {
		error_r = "--mode=xml, --mode=pdf, --mode=auto, --mode=dmarc, --decoder or --serve "
			  "is required";
		return false;
	}
	if (opts.have_cpu_limit && opts.mode != Mode::decoder && opts.mode != Mode::serve) {
		error_r = "--cpu-limit goes with --decoder or --serve";
		return false;
	}
	if (decoder_limits && opts.mode != Mode::decoder) {
		error_r = "--memory-limit and --timeout go with --decoder";
		return false;
	}
	if (opts.mode == Mode::serve && opts.have_content_type) {
		error_r = "--serve takes the content type with each request";
		return false;
	}
	if (!opts.test_spin_marker.empty() && opts.mode != Mode::serve) {
		error_r = "--test-spin-on goes with --serve";
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

// Up to size bytes from stdin; fewer only at EOF.
std::size_t read_stdin_exactly(char *into, std::size_t size)
{
	std::size_t got = 0;
	while (got < size) {
		ssize_t n = ::read(STDIN_FILENO, into + got, size - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			throw std::system_error(errno, std::generic_category(), "read(stdin)");
		}
		if (n == 0)
			break;
		got += static_cast<std::size_t>(n);
	}
	return got;
}

struct Request {
	std::string content_type;
	std::string data;
};

enum class RequestRead { document, end_of_input, malformed };

// One --serve request: "<length>[ <hint>]\n" and <length> bytes. The
// line is read a byte at a time, so that nothing beyond the request is
// consumed (a few dozen system calls, nothing next to a document).
RequestRead read_request(Request &request, std::string &error_r)
{
	std::string line;
	for (;;) {
		char c;
		if (read_stdin_exactly(&c, 1) == 0) {
			if (line.empty())
				return RequestRead::end_of_input;
			error_r = "request line cut off by end of input";
			return RequestRead::malformed;
		}
		if (c == '\n')
			break;
		if (line.size() + 1 >= kMaxRequestLine) {
			error_r = "request line longer than " + std::to_string(kMaxRequestLine) +
				  " bytes";
			return RequestRead::malformed;
		}
		line += c;
	}
	std::string_view length_text = line;
	std::size_t blank = line.find(' ');
	if (blank != std::string::npos) {
		length_text = length_text.substr(0, blank);
		request.content_type = line.substr(blank + 1);
	}
	std::size_t length = 0;
	if (!parse_decimal(length_text, length)) {
		error_r = "request line does not start with a length";
		return RequestRead::malformed;
	}
	// Grows with what arrives rather than trusting the announced length
	// with one allocation: a lie then costs no memory.
	constexpr std::size_t kChunk = 1u << 20;
	while (request.data.size() < length) {
		std::size_t want = std::min(kChunk, length - request.data.size());
		std::size_t old_size = request.data.size();
		request.data.resize(old_size + want);
		std::size_t got = read_stdin_exactly(request.data.data() + old_size, want);
		request.data.resize(old_size + got);
		if (got < want) {
			error_r = "document cut off by end of input after " +
				  std::to_string(request.data.size()) + " of " +
				  std::to_string(length) + " bytes";
			return RequestRead::malformed;
		}
	}
	return RequestRead::document;
}

// poppler's error and debug output, otherwise printed on stderr.
void collect_poppler_message(const std::string &message, void *closure)
{
	static_cast<Warnings *>(closure)->add("pdf: " + message);
}

void ignore_poppler_message(const std::string &, void *)
{
}

// poppler reports into warnings while this lives, and never after (it
// would write to a destroyed object).
class PopplerMessagesInto {
public:
	explicit PopplerMessagesInto(Warnings &warnings)
	{
		poppler::set_debug_error_function(collect_poppler_message, &warnings);
	}
	~PopplerMessagesInto() { poppler::set_debug_error_function(ignore_poppler_message, nullptr); }
	PopplerMessagesInto(const PopplerMessagesInto &) = delete;
	PopplerMessagesInto &operator=(const PopplerMessagesInto &) = delete;
};

struct Result {
	std::optional<einvoice::Invoice> invoice;
	std::optional<dmarc::Report> dmarc; // --mode=dmarc
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
		{"payee_ibans", inv.payee_ibans},
		{"debtor_ibans", inv.debtor_ibans},
		{"direct_debit", inv.direct_debit},
	};
}

// The JSON answer, with its final newline.
std::string answer_json(const Result &result, const Warnings &warnings)
{
	nlohmann::json invoice = result.invoice ? invoice_json(*result.invoice) : nullptr;
	nlohmann::json answer = {
		{"einvoice", invoice},
		{"text", result.text},
		{"warnings", warnings.finish()},
	};
	if (result.dmarc)
		answer["dmarc"] = dmarc::report_json(*result.dmarc);
	// Text from a PDF or XML may be invalid UTF-8: replace, don't fail.
	std::string out = answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
	out += '\n';
	return out;
}

// Any document: its text (valid UTF-8, at most max_text bytes), and the
// e-invoice when it is a PDF or an XML one.
Result analyse_any(const std::string &data, std::string_view content_type, std::size_t max_text,
		   Warnings &warnings)
{
	Result result;
	TextSink sink(max_text);
	switch (sniff(data, content_type)) {
	case DocumentType::pdf:
		result = analyse_pdf(data, max_text, warnings);
		break;
	case DocumentType::zip:
		extract_zip_document(data, content_type, sink, warnings);
		break;
	case DocumentType::xml:
		extract_xml_text(data, sink, warnings);
		if (data.size() <= einvoice::kMaxXmlBytes)
			result.invoice = einvoice::parse_xml(data, false);
		break;
	case DocumentType::text:
		extract_plain_text(data, sink);
		break;
	case DocumentType::unsupported:
		if (!data.empty()) {
			std::string type(content_type.substr(0, 100));
			warnings.add("unsupported document" +
				     (type.empty() ? std::string() : " (" + type + ")") +
				     ", no text");
		}
		break;
	}
	if (result.text.empty())
		result.text = sink.take();
	result.text = repair_utf8(result.text);
	cut_utf8(result.text, max_text);
	return result;
}

// The lines fts-parser-script.c reads once: "<type> <extension>..." and
// an empty line. Every line needs an extension, which Dovecot uses for
// application/octet-stream attachments.
constexpr const char kDecoderTypes[] =
	"application/pdf pdf\n"
	"application/x-pdf pdf\n"
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document docx\n"
	"application/vnd.ms-word.document.macroenabled.12 docm\n"
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet xlsx\n"
	"application/vnd.ms-excel.sheet.macroenabled.12 xlsm\n"
	"application/vnd.openxmlformats-officedocument.presentationml.presentation pptx\n"
	"application/vnd.ms-powerpoint.presentation.macroenabled.12 pptm\n"
	"application/vnd.oasis.opendocument.text odt\n"
	"application/vnd.oasis.opendocument.spreadsheet ods\n"
	"application/vnd.oasis.opendocument.presentation odp\n"
	"application/xml xml\n"
	"text/xml xml\n"
	"\n";

void set_limit(int resource, rlim_t soft, rlim_t hard)
{
	struct rlimit current;
	if (::getrlimit(resource, &current) == 0 && current.rlim_max != RLIM_INFINITY) {
		hard = std::min(hard, current.rlim_max);
		soft = std::min(soft, hard);
	}
	struct rlimit wanted;
	wanted.rlim_cur = soft;
	wanted.rlim_max = hard;
	if (::setrlimit(resource, &wanted) < 0)
		throw std::system_error(errno, std::generic_category(), "setrlimit");
}

// As the script service's child nobody watches us: the same kind of
// limits extract_client sets, and an alarm for the wall clock (the
// service's own alarm=10 would otherwise be the only one).
void limit_decoder(const Options &opts)
{
	for (int sig : {SIGALRM, SIGXCPU})
		std::signal(sig, SIG_DFL);
	set_limit(RLIMIT_CPU, opts.cpu_seconds, static_cast<rlim_t>(opts.cpu_seconds) + 1);
	if (!kSanitizerBuild) // (ASan can't run under it: extract_client.hpp)
		set_limit(RLIMIT_AS, opts.memory_bytes, opts.memory_bytes);
	// (no RLIMIT_FSIZE: an admin trying it out may send stdout to a file)
	set_limit(RLIMIT_CORE, 0, 0);
	::alarm(opts.timeout_seconds);
}

int run_decoder(const Options &opts)
{
	limit_decoder(opts);
	if (!opts.have_content_type) {
		write_all_stdout(std::string_view(kDecoderTypes, sizeof(kDecoderTypes) - 1));
		return 0;
	}
	// Broken documents are common in mail; saying so on stderr would
	// only fill Dovecot's error log. Their text is whatever was read.
	Warnings warnings;
	poppler::set_debug_error_function(ignore_poppler_message, nullptr);
	std::string data = read_all_stdin();
	Result result = analyse_any(data, opts.content_type, opts.max_text, warnings);
	if (!result.text.empty()) {
		result.text += '\n';
		write_all_stdout(result.text);
	}
	return 0;
}

// The share of CPU time of the next --serve document: seconds on top of
// what the process has used so far (rounded up), so that neither the
// documents before it shrink its share nor a hostile one takes more. Past
// the soft limit the kernel sends SIGXCPU, which ends the process.
void limit_cpu_for_next_document(unsigned seconds)
{
	struct rusage usage;
	if (::getrusage(RUSAGE_SELF, &usage) < 0)
		throw std::system_error(errno, std::generic_category(), "getrusage");
	long long used_usec = (static_cast<long long>(usage.ru_utime.tv_sec) +
			       usage.ru_stime.tv_sec) * 1000000 +
			      usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
	rlim_t used_seconds = static_cast<rlim_t>((used_usec + 999999) / 1000000);
	struct rlimit cpu;
	if (::getrlimit(RLIMIT_CPU, &cpu) < 0)
		throw std::system_error(errno, std::generic_category(), "getrlimit");
	cpu.rlim_cur = used_seconds + seconds;
	if (cpu.rlim_max != RLIM_INFINITY)
		cpu.rlim_cur = std::min(cpu.rlim_cur, cpu.rlim_max);
	if (::setrlimit(RLIMIT_CPU, &cpu) < 0)
		throw std::system_error(errno, std::generic_category(), "setrlimit");
}

// A hostile document for the limit tests, one for sure.
[[noreturn]] void spin_for_tests()
{
	volatile unsigned long rounds = 0;
	for (;;) {
		unsigned long done = rounds;
		rounds = done + 1;
	}
}

// poppler builds its global tables (GlobalParams: built-in encodings,
// Unicode maps, font directories) when a first document opens and frees
// them when the last one closes, i.e. for every document: a third of the
// time of an invoice PDF. A one-page document of our own, open for the
// life of a --serve process, keeps them.
class PopplerTablesKept {
  public:
	PopplerTablesKept()
	{
		const char *const objects[] = {
			"<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
			"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 1 1] >>",
		};
		pdf_ = "%PDF-1.4\n";
		std::string xref = "xref\n0 " + std::to_string(std::size(objects) + 1) +
				   "\n0000000000 65535 f \n";
		for (std::size_t i = 0; i < std::size(objects); i++) {
			char entry[32];
			std::snprintf(entry, sizeof(entry), "%010zu 00000 n \n", pdf_.size());
			xref += entry;
			pdf_ += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
		}
		const std::size_t xref_offset = pdf_.size();
		pdf_ += xref + "trailer\n<< /Size " + std::to_string(std::size(objects) + 1) +
			" /Root 1 0 R >>\nstartxref\n" + std::to_string(xref_offset) + "\n%%EOF\n";
		// (poppler reads the bytes in place: pdf_ outlives doc_)
		doc_.reset(poppler::document::load_from_raw_data(pdf_.data(),
								 static_cast<int>(pdf_.size())));
	}

  private:
	std::string pdf_;
	std::unique_ptr<poppler::document> doc_;
};

int run_serve(const Options &opts)
{
	const PopplerTablesKept poppler_tables;
	for (;;) {
		Request request;
		std::string error;
		switch (read_request(request, error)) {
		case RequestRead::end_of_input:
			return 0;
		case RequestRead::malformed:
			std::fprintf(stderr, "tresor-extract: %s\n", error.c_str());
			return kExitProtocol;
		case RequestRead::document:
			break;
		}
		if (opts.have_cpu_limit)
			limit_cpu_for_next_document(opts.cpu_seconds);
		if (!opts.test_spin_marker.empty() &&
		    request.data.find(opts.test_spin_marker) != std::string::npos)
			spin_for_tests();

		Warnings warnings;
		Result result;
		{
			PopplerMessagesInto messages(warnings);
			result = analyse_any(request.data, request.content_type, opts.max_text,
					     warnings);
		}
		std::string answer = answer_json(result, warnings);
		write_all_stdout(std::to_string(answer.size()) + "\n" + answer);
	}
}

int run(int argc, char **argv)
{
	Options opts;
	std::string error;
	if (!parse_args(argc, argv, opts, error)) {
		std::fprintf(stderr, "tresor-extract: %s\n"
			     "usage: tresor-extract --mode=xml|pdf|auto|dmarc [--content-type=TYPE] "
			     "[--max-text=BYTES] < document\n"
			     "       tresor-extract --serve [--max-text=BYTES] [--cpu-limit=S] "
			     "< requests\n"
			     "       tresor-extract --decoder [--max-text=BYTES] [--cpu-limit=S] "
			     "[--memory-limit=BYTES] [--timeout=S] [CONTENT-TYPE] < document\n",
			     error.c_str());
		return kExitUsage;
	}
	if (opts.mode == Mode::decoder)
		return run_decoder(opts);
	if (opts.mode == Mode::serve)
		return run_serve(opts);

	Warnings warnings;
	Result result;
	{
		PopplerMessagesInto messages(warnings);
		std::string data = read_all_stdin();
		switch (opts.mode) {
		case Mode::pdf:
			result = analyse_pdf(data, opts.max_text, warnings);
			break;
		case Mode::xml:
			result = analyse_xml(data, warnings);
			break;
		case Mode::dmarc: {
			std::string why;
			result.dmarc = dmarc::read_report(data, why);
			if (!result.dmarc)
				warnings.add("no DMARC aggregate report: " + why);
			break;
		}
		default:
			result = analyse_any(data, opts.content_type, opts.max_text, warnings);
			break;
		}
	}
	write_all_stdout(answer_json(result, warnings));
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
