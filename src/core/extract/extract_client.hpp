// Runs the tresor-extract helper on untrusted documents (PDF, office, XML,
// text) in a separate process under CPU, memory and wall-clock limits, and
// reads its JSON answer: one process per document (analyse, extract_text)
// or one for many (Session).
//
// Why out of process: attachments come from anyone who can send mail, and
// the parsers they reach (poppler, libzip, pugixml) are large C and C++
// code bases with a history of memory bugs and unbounded work. Parsed in
// lmtp, imap or indexer-worker, a crafted PDF could crash, hang or take
// over the process that holds the mailbox; in the helper it costs at most
// one helper process. The plugins therefore never link those libraries.
//
// Limits (Limits, set by tresor_extract_timeout and tresor_extract_memory,
// see helper_settings.hpp): RLIMIT_CPU and RLIMIT_AS on the helper, a
// wall-clock deadline after which its process group is killed, a cap on
// the answer's size. Any failure - limit, crash, garbage - becomes a
// Document with ok = false and a reason, so one bad attachment never
// fails a delivery or a search.
//
// Protocol: the document on the helper's stdin, one JSON object
// ({"einvoice", "text", "warnings"}) on its stdout; with --serve, length-
// prefixed requests and answers, one at a time (tresor-extract.cpp has the
// grammar). The answer is untrusted too: parse_answer() checks its shape.
//
// Made for Dovecot processes (imap, lmtp, indexer-worker): no exception but
// std::bad_alloc escapes, no signal handlers, no threads, no file
// descriptor or zombie left behind, SIGPIPE can't kill the caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "extract/dmarc.hpp"
#include "extract/einvoice.hpp"

namespace tresor::extract {

// Built with AddressSanitizer (configure --enable-sanitizers, for the
// tests), the helper can't start under an address-space limit (ASan
// reserves terabytes of shadow memory) and writes its reports to files
// named by ASAN_OPTIONS/UBSAN_OPTIONS log_path: such a build sets neither
// RLIMIT_AS nor RLIMIT_FSIZE and passes those two variables on.
#ifdef __SANITIZE_ADDRESS__
inline constexpr bool kSanitizerBuild = true;
#else
inline constexpr bool kSanitizerBuild = false;
#endif

// Per document; a Session gives each document the same CPU and wall-clock
// time, and the memory limit covers its helper process.
struct Limits {
	unsigned cpu_seconds = 5;                // RLIMIT_CPU; 0 = not limited
	std::uint64_t memory_bytes = 256ull << 20; // RLIMIT_AS; 0 = not limited
	unsigned timeout_ms = 10000;             // wall clock, then SIGKILL
	std::size_t max_output = 8u << 20;       // larger answers are refused
	std::size_t max_text = 1u << 20;         // passed as --max-text
};

// What the helper is told the document is: xml and pdf as the invoice
// recognition needs them (--mode=xml: only the e-invoice, no text),
// automatic for any attachment (--mode=auto: the helper looks at the bytes).
// dmarc: a DMARC aggregate report (XML, gzip'd or zipped; --mode=dmarc:
// only the report, no text).
enum class Kind { xml, pdf, automatic, dmarc };

struct Document {
	bool ok = false; // the helper produced a valid answer
	std::optional<einvoice::Invoice> einvoice;
	std::optional<dmarc::Report> dmarc; // Kind::dmarc: the report, if it is one
	std::string text;
	// the helper's warnings, and why !ok ("timed out after 10000 ms",
	// "killed by signal 9 (memory limit?)", "exit status 3 (out of
	// memory)", "invalid output", ...)
	std::vector<std::string> warnings;
};

// Exit statuses of tresor-extract other than 0 (answer written).
enum ExitStatus : int {
	kExitUsage = 2,
	kExitOutOfMemory = 3,
	kExitInternal = 4,
	kExitProtocol = 5, // --serve: malformed or cut request
};

// Runs `helper_path --mode=xml|pdf|auto --max-text=N` with data on its
// stdin. Never fails by exception except std::bad_alloc; every problem ends
// up as ok = false with a warning.
Document analyse(const std::string &helper_path, Kind kind, std::string_view data,
		 const Limits &limits);

// The plain text of an attachment, for full-text search: runs
// `helper_path --mode=auto --content-type=HINT --max-text=N`. The helper
// reads PDF (page text), docx/docm, xlsx/xlsm, pptx/pptm, odt, ods, odp,
// any XML (element text, e.g. XRechnung) and plain text (invalid UTF-8
// repaired, Latin-1 kept), recognised by their bytes; content_type_hint
// (the MIME type of the part, parameters allowed, may be empty) only
// breaks ties. doc.text is valid UTF-8 of at most limits.max_text bytes,
// words separated by white space.
//
// ok = true with empty text and a warning ("unsupported document ...")
// for anything else, and ok = true with the text that could be had plus a
// warning for cut, corrupt or zip-bomb documents; ok = false only when the
// helper failed (limits, crash: see Document::warnings). doc.einvoice is
// set as a side effect for an e-invoice PDF or XML. Same exception
// guarantee as analyse().
Document extract_text(const std::string &helper_path, std::string_view data,
		      std::string_view content_type_hint, const Limits &limits);

// Reads the helper's JSON answer; false (with a warning) when it is not one.
bool parse_answer(std::string_view json, Document &doc);

// extract_text() for many documents through one `helper_path --serve`
// process, which saves a fork, an exec and the helper's start-up per
// document (about 9 ms for a small PDF). Same answers, warnings and
// exception guarantee as extract_text(). Each document gets limits.cpu_seconds
// of CPU time and limits.timeout_ms of wall-clock time; limits.memory_bytes
// covers the helper process.
//
// The helper starts with the first document. When a document times out,
// crashes the helper or breaks the protocol, that document gets ok = false
// with the reason (as extract_text()), the helper is killed and reaped,
// and the next document starts a fresh one. A helper that died between
// documents is replaced without a warning. After max_documents documents
// the helper is replaced too, which bounds its memory growth.
//
// Like extract_text(): no signal handlers, no threads, SIGPIPE blocked only
// while writing, the helper in its own process group. Its pipes are
// close-on-exec, and a process that forked keeps its hands off the
// parent's helper (the child starts its own when it uses the Session). Not
// for use from several threads at once.
class Session {
public:
	Session(std::string helper_path, Limits limits, unsigned max_documents = 500);
	// Closes the helper's stdin, gives it kExitGraceMs to exit, then kills
	// its process group; reaps it. Never blocks longer than about that.
	~Session();
	Session(const Session &) = delete;
	Session &operator=(const Session &) = delete;

	Document extract_text(std::string_view data, std::string_view content_type_hint);

	// extract_text() in two halves, so that the caller can go on with its
	// own work while the helper extracts: submit() hands the document over
	// (it returns once the helper has read it) and collect() waits for the
	// answer. One document at a time: a submit() while one is pending
	// drops that one's answer. The wall-clock limit runs from submit(),
	// but an answer that is already there when collect() comes late is not
	// lost to it. Same answers and exception guarantee as extract_text().
	void submit(std::string_view data, std::string_view content_type_hint);
	Document collect();
	bool pending() const { return pending_ != nullptr; }

	// The helper's process id, -1 while none runs (for logs and tests).
	pid_t helper_pid() const;
	// Helper processes started so far.
	unsigned helpers_started() const { return helpers_started_; }

	static constexpr unsigned kExitGraceMs = 500;

private:
	struct Helper;
	struct Pending;

	void send(std::string_view data, std::string_view content_type_hint, Pending &pending);
	void receive(Pending &pending, Document &doc);
	// Closes its stdin, waits up to grace_ms for its exit, kills its
	// process group, reaps it.
	void stop_helper(unsigned grace_ms);

	std::string helper_path_;
	Limits limits_;
	unsigned max_documents_;
	std::unique_ptr<Helper> helper_;
	std::unique_ptr<Pending> pending_;
	unsigned helpers_started_ = 0;
};

} // namespace tresor::extract
