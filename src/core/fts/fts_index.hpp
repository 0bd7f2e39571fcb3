// The full-text index of one mailbox (fts_tresor), on Xapian.
//
// Substring search without n-grams: the text Dovecot's own search looks at
// is cut at whitespace into runs, and each distinct run is one Xapian term
// (prefixed by its field). A search key that contains no whitespace can
// only occur inside one run, so the documents that contain it are exactly
// the postings of the terms that contain it - found by scanning the term
// list (the vocabulary, a small fraction of the index) with memmem. That
// gives IMAP's substring semantics ("rechnung" finds "Eingangsrechnung")
// with an index a fraction of the size of an n-gram one.
//
// Text arrives already normalised by Dovecot (its decomposed-titlecase
// normaliser, the one its own search uses), so the comparison here is
// byte-wise. Document ids are UIDs; the UIDVALIDITY and the highest indexed
// UID are stored in the same database, so they commit atomically with the
// documents.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tresor::fts {

// Where a piece of text came from. Each has its own term prefix.
enum class Field {
	body,        // text/* and message/* body parts (what IMAP BODY searches)
	attachment,  // text extracted from PDFs, office files, XML attachments
	html,        // text/html parts, as Dovecot's HTML parser stripped them
	header,      // a top-level header value (needs a header name)
	mime_header, // headers of MIME parts ("NAME: value" as TEXT sees it)
};

enum class KeyType {
	body,           // BODY
	text,           // TEXT: every header and body part, plus attachments
	header,         // HEADER name value, SUBJECT, FROM (indexed form = searched form)
	header_approx,  // a header whose indexed form differs from what Dovecot
	                // searches (HEADER From x: raw vs parsed addresses):
	                // hits are only "maybe"
};

struct Key {
	KeyType type = KeyType::text;
	std::string header_name; // upper case, for header keys
	std::string value;       // normalised like the indexed text
	bool negated = false;
	bool handled = false;    // out: the index answered this key
};

// Inclusive UID range.
struct Range {
	std::uint32_t first, last;
};

struct Result {
	std::vector<Range> definite; // match for sure
	std::vector<Range> maybe;    // Dovecot must look at the mail itself
};

class IndexError : public std::runtime_error {
  public:
	using std::runtime_error::runtime_error;
};

// The database is damaged; the caller should remove and rebuild it.
class CorruptIndex : public IndexError {
  public:
	using IndexError::IndexError;
};

// Another process holds the write lock longer than we were willing to wait.
class IndexBusy : public IndexError {
  public:
	using IndexError::IndexError;
};

struct OpenOptions {
	bool writable = false;
	std::uint32_t uidvalidity = 0;
	unsigned lock_timeout_ms = 30000; // writers wait this long for the lock
	// A writer starts a vocabulary file (fts_index.cpp) once the database
	// holds this many documents: below, walking Xapian's term list is fast
	// enough (about 40 ms at 20,000 business mails), and the file would
	// make the index a third larger.
	std::uint32_t vocabulary_from_documents = 25000;
	// A writer hands each ended document to a thread of its own, which
	// builds, inverts and commits while the caller cuts the next mails
	// into terms (fts_index.cpp, BackgroundWriter). Off: all on the
	// caller's thread.
	bool background_writer = true;
	// A reader of a folder without a vocabulary file keeps its term list
	// in memory for the next search of the same revision, up to this
	// many bytes (fts_index.cpp, remembered_term_list); 0: never.
	std::size_t remembered_term_list_max = 16u << 20;
};

class Index {
  public:
	// Opens the index in dir. A reader gets nullopt-like behaviour through
	// exists(): a missing index reads as empty (last_uid 0). A writer creates
	// it, and starts it afresh when the stored UIDVALIDITY differs (notice
	// says so). Damage raises CorruptIndex; the caller removes and retries.
	static std::unique_ptr<Index> open(const std::string &dir, const OpenOptions &opts,
					   std::string &notice);
	~Index();
	Index(const Index &) = delete;
	Index &operator=(const Index &) = delete;

	bool exists() const;
	// Highest indexed UID; 0 when the index is missing or was made for
	// another UIDVALIDITY.
	std::uint32_t last_uid() const;
	std::uint32_t uidvalidity() const;
	std::uint32_t document_count() const;

	// --- writing (writable indexes only)
	void begin_document(std::uint32_t uid);
	// Text of one field, in as many pieces as it comes; a run may continue
	// across pieces. A different field (or header) ends the previous run.
	// Headers are indexed under their name; TEXT also finds "NAME:".
	void add_text(Field field, std::string_view header_name, std::string_view text);
	// Ends the current field (one header line, one body part), so that
	// the next text of the same field starts a new run.
	void end_field();
	// The document lost something it should have held (a header too odd to
	// index): every search answers "maybe" for it.
	void mark_incomplete();
	void end_document();
	// Attachment text that comes after its mail's other text: the
	// extraction helper works on one mail's attachment while the next
	// mails are indexed. hold_document() ends the current document like
	// end_document() but keeps it out of the database; add_held_text()
	// adds extracted attachment text to it; release_document() writes it.
	// commit() refuses while a document is held, so last_uid never passes
	// a mail whose attachment text is still missing.
	void hold_document();
	void add_held_text(std::uint32_t uid, std::string_view attachment_text);
	void release_document(std::uint32_t uid);
	// Expunged mails stay in the postings until compact() and are left
	// out of every result.
	void expunge(std::uint32_t uid);
	// Makes everything so far durable, and raises last_uid to at least the
	// highest UID added (not when the writer builds on what it was told
	// about an index since removed: see builds_on).
	void commit();
	// commit() without waiting for it: with a background writer it runs
	// there after the documents so far, and its failure (or theirs) is
	// thrown by a later call.
	void commit_in_background();
	// The writer will add the mails after caller_last_uid, the last_uid the
	// caller read before opening it (Dovecot asks, then indexes what
	// follows). When this index holds less, it was removed as damaged or
	// rebuilt meanwhile and the mails in between are in no index: the
	// documents are still written, but last_uid is not raised, so those
	// mails get indexed (and the written ones skipped) later. True then.
	bool builds_on(std::uint32_t caller_last_uid);
	// Keeps only documents whose UID is in existing (sorted). Returns the
	// UID below which every existing UID is indexed, which becomes last_uid,
	// so that the missing ones get indexed again.
	std::uint32_t reconcile(const std::vector<std::uint32_t> &existing_sorted);
	// Rewrites the database compactly, without the postings of expunged
	// mails (doveadm fts optimize).
	void compact();
	// compact() when the index grew by half since the last compaction
	// (at least 1000 mails) or a quarter of it (at least 100) is expunged mails; true
	// when it did.
	bool compact_if_worthwhile();

	// --- searching
	// Answers every key it can (sets handled) and combines the handled
	// ones with AND (and_args) or OR. nullopt when it handled none.
	// assumed_last_uid: the last_uid the caller was told before (Dovecot
	// asks, then searches). If another process removed the index as
	// damaged in between, this one holds less: the UIDs above last_uid()
	// up to assumed_last_uid are "maybe", never "no match".
	std::optional<Result> lookup(std::vector<Key> &keys, bool and_args,
				     std::uint32_t assumed_last_uid = 0);

	// Removes an index directory and everything in it.
	static void remove(const std::string &dir);

  private:
	struct Impl;
	explicit Index(std::unique_ptr<Impl> impl);
	std::unique_ptr<Impl> impl_;
};

// Splits text into whitespace-separated runs, across pieces. Runs longer
// than kMaxRun bytes are emitted as overlapping windows, so every substring
// of up to kMaxExact bytes lies inside one emitted term.
class RunSplitter {
  public:
	static constexpr std::size_t kMaxRun = 120;
	static constexpr std::size_t kWindowStep = 60;
	static constexpr std::size_t kMaxExact = kMaxRun - kWindowStep + 1;
	// Shorter runs are not indexed (7 % of the postings of business mail):
	// a search string of 3 or more bytes can't lie inside one, and
	// shorter search strings are left to Dovecot.
	static constexpr std::size_t kMinIndexed = 3;

	template <class Emit> void feed(std::string_view text, Emit &&emit)
	{
		for (char c : text) {
			if (is_separator(c))
				finish(emit);
			else
				push(c, emit);
		}
	}
	template <class Emit> void finish(Emit &&emit)
	{
		if (!run_.empty() && !windowed_)
			emit(std::string_view(run_));
		else if (windowed_ && run_.size() > kWindowStep)
			emit(std::string_view(run_)); // the tail window
		run_.clear();
		windowed_ = false;
	}
	static bool is_separator(char c)
	{
		return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
		       c == '\v' || c == '\0';
	}

  private:
	template <class Emit> void push(char c, Emit &emit)
	{
		run_.push_back(c);
		if (run_.size() == kMaxRun) {
			emit(std::string_view(run_));
			run_.erase(0, kWindowStep);
			windowed_ = true;
		}
	}
	std::string run_;
	bool windowed_ = false;
};

// Whether an attachment is worth starting the extraction helper for:
// by its first bytes (PDF, zip-based office files, XML) or its type.
bool worth_extracting(std::string_view content_type, std::string_view head);

} // namespace tresor::fts
