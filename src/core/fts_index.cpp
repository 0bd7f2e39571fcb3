#include "fts_index.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

#include <xapian.h>

namespace tresor::fts {

namespace {

namespace fs = std::filesystem;

// Term prefixes. Single upper-case letters, so allterms_begin(prefix) walks
// exactly one field.
constexpr char kBody = 'B';
constexpr char kAttachment = 'A';
constexpr char kHtml = 'W';
constexpr char kHeader = 'X';     // X<NAME>:<run>
constexpr char kHeaderName = 'N'; // N<NAME>: (TEXT also matches header names)
constexpr char kMimeHeader = 'M';
const std::string kIncomplete = "Z";

const std::string kMetaFormat = "tresor.format";
const std::string kMetaUidvalidity = "tresor.uidvalidity";
const std::string kMetaLastUid = "tresor.last_uid";
const std::string kFormat = "1";

// The stub file naming the current database directory; swapped atomically
// by compact().
constexpr const char *kStubName = "index";

// Header names longer than this, or with odd bytes, are not indexed by
// name (the document becomes "maybe" for every search instead).
constexpr std::size_t kMaxHeaderName = 64;

enum State : std::uint8_t { kNo = 0, kMaybe = 1, kYes = 2 };

std::uint32_t parse_uint(const std::string &s)
{
	std::uint64_t v = 0;
	for (char c : s) {
		if (c < '0' || c > '9')
			return 0;
		v = v * 10 + static_cast<unsigned>(c - '0');
		if (v > UINT32_MAX)
			return 0;
	}
	return static_cast<std::uint32_t>(v);
}

bool valid_header_name(std::string_view name)
{
	if (name.empty() || name.size() > kMaxHeaderName)
		return false;
	for (unsigned char c : name) {
		if (c <= ' ' || c >= 0x7f || c == ':')
			return false;
	}
	return true;
}

std::string upper_ascii(std::string_view s)
{
	std::string out(s);
	for (char &c : out) {
		if (c >= 'a' && c <= 'z')
			c = static_cast<char>(c - 'a' + 'A');
	}
	return out;
}

std::string read_stub_target(const fs::path &stub)
{
	std::ifstream in(stub);
	std::string backend, target;
	if (!(in >> backend >> target) || backend != "glass" || target.find('/') != std::string::npos)
		return {};
	return target;
}

void write_stub(const fs::path &dir, const std::string &target)
{
	fs::path tmp = dir / (std::string(kStubName) + ".tmp");
	{
		std::ofstream out(tmp, std::ios::trunc);
		out << "glass " << target << "\n";
		out.flush();
		if (!out)
			throw IndexError("cannot write " + tmp.string());
	}
	fs::rename(tmp, dir / kStubName);
}

// Xapian::Error is not polymorphic: tell its kinds by get_type().
[[noreturn]] void rethrow_xapian(const Xapian::Error &e, const std::string &dir)
{
	const std::string type = e.get_type();
	std::string what = type + ": " + e.get_msg() + " (" + dir + ")";
	if (type == "DatabaseLockError")
		throw IndexBusy(what);
	if (type == "DatabaseCorruptError" || type == "DatabaseOpeningError" ||
	    type == "DatabaseNotFoundError" || type == "DatabaseVersionError" ||
	    type == "DatabaseError" || type == "SerialisationError")
		throw CorruptIndex(what);
	throw IndexError(what);
}

void append_range(std::vector<Range> &out, std::uint32_t uid)
{
	if (!out.empty() && out.back().last + 1 == uid)
		out.back().last = uid;
	else
		out.push_back({uid, uid});
}

} // namespace

bool worth_extracting(std::string_view content_type, std::string_view head)
{
	auto starts = [&](std::string_view s, std::string_view p) {
		return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
	};
	if (starts(head, "%PDF-") || starts(head, std::string_view("PK\x03\x04", 4)))
		return true;
	std::string_view trimmed = head;
	if (starts(trimmed, "\xEF\xBB\xBF"))
		trimmed.remove_prefix(3);
	while (!trimmed.empty() && (trimmed.front() == ' ' || trimmed.front() == '\t' ||
				    trimmed.front() == '\r' || trimmed.front() == '\n'))
		trimmed.remove_prefix(1);
	if (starts(trimmed, "<?xml") || starts(trimmed, "<"))
		return true;
	// Types the helper reads as plain text.
	return starts(content_type, "application/json") || starts(content_type, "application/csv") ||
	       starts(content_type, "application/x-csv");
}

struct Index::Impl {
	fs::path dir;
	OpenOptions opts;
	std::string db_target; // "db-N"
	std::unique_ptr<Xapian::Database> db;
	Xapian::WritableDatabase *wdb = nullptr; // == db.get() when writable
	bool exists = false;
	std::uint32_t uidvalidity = 0;
	std::uint32_t last_uid = 0;
	std::uint32_t pending_last_uid = 0;

	// the document being built
	std::optional<Xapian::Document> doc;
	std::uint32_t doc_uid = 0;
	Field cur_field = Field::body;
	std::string cur_prefix;
	bool field_open = false;
	RunSplitter splitter;

	void check_writable() const
	{
		if (wdb == nullptr)
			throw IndexError("fts index opened read-only");
	}

	void emit(std::string_view run)
	{
		std::string term;
		term.reserve(cur_prefix.size() + run.size());
		term += cur_prefix;
		term += run;
		doc->add_boolean_term(term);
	}

	void close_field()
	{
		if (!field_open)
			return;
		splitter.finish([&](std::string_view r) { emit(r); });
		field_open = false;
	}

	void read_meta()
	{
		uidvalidity = parse_uint(db->get_metadata(kMetaUidvalidity));
		last_uid = parse_uint(db->get_metadata(kMetaLastUid));
		if (uidvalidity != opts.uidvalidity)
			last_uid = 0;
	}
};

Index::Index(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Index::~Index()
{
	if (impl_ && impl_->wdb != nullptr) {
		// Uncommitted changes are dropped on purpose: last_uid was not
		// raised for them, so they will be indexed again.
		try {
			impl_->db.reset();
		} catch (...) {
		}
	}
}

std::unique_ptr<Index> Index::open(const std::string &dir_str, const OpenOptions &opts,
				   std::string &notice)
{
	auto impl = std::make_unique<Impl>();
	impl->dir = dir_str;
	impl->opts = opts;
	const fs::path stub = impl->dir / kStubName;
	std::error_code ec;

	if (!opts.writable) {
		if (!fs::exists(stub, ec))
			return std::unique_ptr<Index>(new Index(std::move(impl)));
		try {
			impl->db = std::make_unique<Xapian::Database>(stub.string());
			impl->exists = true;
			impl->read_meta();
		} catch (const Xapian::Error &e) {
			rethrow_xapian(e, dir_str);
		}
		return std::unique_ptr<Index>(new Index(std::move(impl)));
	}

	fs::create_directories(impl->dir, ec);
	if (ec)
		throw IndexError("cannot create " + dir_str + ": " + ec.message());
	auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opts.lock_timeout_ms);
	unsigned sleep_ms = 10;
	for (;;) {
		try {
			std::string target = fs::exists(stub, ec) ? read_stub_target(stub) : "";
			if (fs::exists(stub, ec) && target.empty())
				throw CorruptIndex("unreadable stub file " + stub.string());
			bool fresh = target.empty();
			if (fresh)
				target = "db-1";
			auto wdb = std::make_unique<Xapian::WritableDatabase>(
				(impl->dir / target).string(),
				Xapian::DB_CREATE_OR_OPEN | Xapian::DB_BACKEND_GLASS);
			// compact() may have switched databases while we waited.
			std::string now = fs::exists(stub, ec) ? read_stub_target(stub) : "";
			if (!fresh && now != target)
				continue;
			if (fresh) {
				if (!now.empty() && now != target)
					continue;
				if (now.empty()) {
					write_stub(impl->dir, target);
					notice = "no index yet (new mailbox, or the index was "
						 "removed): building it";
				}
			}
			impl->db_target = target;
			impl->wdb = wdb.get();
			impl->db = std::move(wdb);
			impl->exists = true;
			break;
		} catch (const Xapian::DatabaseLockError &) {
			if (std::chrono::steady_clock::now() >= deadline)
				throw IndexBusy("fts index " + dir_str + " is locked by another process");
			std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
			sleep_ms = std::min(sleep_ms * 2, 200u);
		} catch (const Xapian::Error &e) {
			rethrow_xapian(e, dir_str);
		}
	}

	try {
		auto *w = impl->wdb;
		std::string format = w->get_metadata(kMetaFormat);
		std::uint32_t stored_validity = parse_uint(w->get_metadata(kMetaUidvalidity));
		bool empty = w->get_doccount() == 0 && format.empty();
		if (!empty && (format != kFormat || stored_validity != opts.uidvalidity)) {
			notice = format != kFormat
				? "index format " + (format.empty() ? std::string("unknown") : format) + " replaced"
				: "UIDVALIDITY changed from " + std::to_string(stored_validity) + " to " +
					  std::to_string(opts.uidvalidity) + ": index started afresh";
			// Starting afresh in place keeps the lock held throughout.
			for (auto it = w->postlist_begin(""); it != w->postlist_end(""); ++it)
				w->delete_document(*it);
			for (auto key : {kMetaLastUid, kMetaUidvalidity, kMetaFormat})
				w->set_metadata(key, "");
			w->commit();
		}
		if (w->get_metadata(kMetaFormat).empty()) {
			w->set_metadata(kMetaFormat, kFormat);
			w->set_metadata(kMetaUidvalidity, std::to_string(opts.uidvalidity));
			w->set_metadata(kMetaLastUid, "0");
			w->commit();
		}
		impl->read_meta();
	} catch (const Xapian::Error &e) {
		rethrow_xapian(e, dir_str);
	}
	return std::unique_ptr<Index>(new Index(std::move(impl)));
}

bool Index::exists() const { return impl_->exists; }
std::uint32_t Index::last_uid() const { return impl_->last_uid; }
std::uint32_t Index::uidvalidity() const { return impl_->uidvalidity; }

std::uint32_t Index::document_count() const
{
	if (!impl_->db)
		return 0;
	try {
		return impl_->db->get_doccount();
	} catch (const Xapian::Error &e) {
		rethrow_xapian(e, impl_->dir.string());
	}
}

void Index::begin_document(std::uint32_t uid)
{
	impl_->check_writable();
	if (uid == 0)
		throw IndexError("UID 0 cannot be indexed");
	if (impl_->doc)
		end_document();
	impl_->doc.emplace();
	impl_->doc_uid = uid;
	impl_->field_open = false;
}

void Index::add_text(Field field, std::string_view header_name, std::string_view text)
{
	Impl &m = *impl_;
	if (!m.doc)
		throw IndexError("add_text outside a document");
	std::string prefix;
	std::string name_term;
	switch (field) {
	case Field::body:
		prefix = kBody;
		break;
	case Field::attachment:
		prefix = kAttachment;
		break;
	case Field::html:
		prefix = kHtml;
		break;
	case Field::header:
	case Field::mime_header: {
		if (!valid_header_name(header_name)) {
			m.doc->add_boolean_term(kIncomplete);
			return;
		}
		std::string name = upper_ascii(header_name);
		if (field == Field::header) {
			prefix = std::string(1, kHeader) + name + ":";
			name_term = std::string(1, kHeaderName) + name + ":";
		} else {
			prefix = std::string(1, kMimeHeader);
			name_term = prefix + name + ":";
		}
		break;
	}
	}
	if (!m.field_open || m.cur_field != field || m.cur_prefix != prefix) {
		m.close_field();
		m.cur_field = field;
		m.cur_prefix = std::move(prefix);
		m.field_open = true;
		if (!name_term.empty())
			m.doc->add_boolean_term(name_term);
	}
	m.splitter.feed(text, [&](std::string_view r) { m.emit(r); });
}

void Index::end_field()
{
	impl_->close_field();
}

void Index::mark_incomplete()
{
	if (!impl_->doc)
		throw IndexError("mark_incomplete outside a document");
	impl_->doc->add_boolean_term(kIncomplete);
}

void Index::end_document()
{
	Impl &m = *impl_;
	if (!m.doc)
		return;
	m.close_field();
	try {
		m.wdb->replace_document(m.doc_uid, *m.doc);
	} catch (const Xapian::Error &e) {
		m.doc.reset();
		rethrow_xapian(e, m.dir.string());
	}
	m.pending_last_uid = std::max(m.pending_last_uid, m.doc_uid);
	m.doc.reset();
}

void Index::expunge(std::uint32_t uid)
{
	impl_->check_writable();
	try {
		impl_->wdb->delete_document(uid);
	} catch (const Xapian::DocNotFoundError &) {
		// never indexed, or expunged twice: nothing to do
	} catch (const Xapian::Error &e) {
		rethrow_xapian(e, impl_->dir.string());
	}
}

void Index::commit()
{
	Impl &m = *impl_;
	m.check_writable();
	end_document();
	try {
		std::uint32_t stored = parse_uint(m.wdb->get_metadata(kMetaLastUid));
		std::uint32_t last = std::max(stored, m.pending_last_uid);
		if (last != stored)
			m.wdb->set_metadata(kMetaLastUid, std::to_string(last));
		m.wdb->commit();
		m.last_uid = last;
		m.pending_last_uid = 0;
	} catch (const Xapian::Error &e) {
		rethrow_xapian(e, m.dir.string());
	}
}

std::uint32_t Index::reconcile(const std::vector<std::uint32_t> &existing)
{
	Impl &m = *impl_;
	m.check_writable();
	end_document();
	try {
		std::vector<std::uint32_t> indexed;
		for (auto it = m.wdb->postlist_begin(""); it != m.wdb->postlist_end(""); ++it)
			indexed.push_back(*it);
		std::vector<std::uint32_t> stale;
		std::set_difference(indexed.begin(), indexed.end(), existing.begin(), existing.end(),
				    std::back_inserter(stale));
		for (auto uid : stale)
			m.wdb->delete_document(uid);
		// The first existing UID at or below last_uid that is not indexed.
		std::uint32_t last = parse_uint(m.wdb->get_metadata(kMetaLastUid));
		std::uint32_t new_last = last;
		for (auto uid : existing) {
			if (uid > last)
				break;
			if (!std::binary_search(indexed.begin(), indexed.end(), uid)) {
				new_last = uid - 1;
				break;
			}
		}
		m.wdb->set_metadata(kMetaLastUid, std::to_string(new_last));
		m.wdb->commit();
		m.last_uid = new_last;
		return new_last;
	} catch (const Xapian::Error &e) {
		rethrow_xapian(e, m.dir.string());
	}
}

void Index::compact()
{
	Impl &m = *impl_;
	m.check_writable();
	end_document();
	std::string next;
	try {
		m.wdb->commit();
		unsigned n = parse_uint(m.db_target.substr(3));
		next = "db-" + std::to_string(n + 1);
		std::error_code ec;
		fs::remove_all(m.dir / next, ec);
		m.wdb->compact((m.dir / next).string(), Xapian::DBCOMPACT_NO_RENUMBER);
	} catch (const Xapian::Error &e) {
		rethrow_xapian(e, m.dir.string());
	}
	// Readers opened through the stub keep their open files; the old
	// directory goes once we let go of its lock.
	write_stub(m.dir, next);
	std::string old = m.db_target;
	m.db.reset();
	m.wdb = nullptr;
	std::error_code ec;
	fs::remove_all(m.dir / old, ec);
	std::string notice;
	OpenOptions o = m.opts;
	auto reopened = open(m.dir.string(), o, notice);
	impl_ = std::move(reopened->impl_);
}

void Index::remove(const std::string &dir)
{
	std::error_code ec;
	fs::remove_all(dir, ec);
	if (ec)
		throw IndexError("cannot remove " + dir + ": " + ec.message());
}

namespace {

struct Scan {
	std::string prefix;   // term prefix of the field
	bool definite;        // hits are sure matches (else "maybe")
	bool skip_header_name; // X<NAME>: terms of any header: skip to ':'
};

std::vector<Scan> scans_for(const Key &key)
{
	switch (key.type) {
	case KeyType::body:
		return {{std::string(1, kBody), true, false},
			{std::string(1, kAttachment), true, false},
			{std::string(1, kHtml), false, false}};
	case KeyType::text:
		return {{std::string(1, kBody), true, false},
			{std::string(1, kAttachment), true, false},
			{std::string(1, kHeaderName), true, false},
			{std::string(1, kMimeHeader), true, false},
			{std::string(1, kHeader), true, true},
			{std::string(1, kHtml), false, false}};
	case KeyType::header:
	case KeyType::header_approx:
		return {{std::string(1, kHeader) + upper_ascii(key.header_name) + ":",
			 key.type == KeyType::header, false}};
	}
	return {};
}

std::vector<std::string_view> split_runs(std::string_view value)
{
	std::vector<std::string_view> out;
	std::size_t i = 0;
	while (i < value.size()) {
		while (i < value.size() && RunSplitter::is_separator(value[i]))
			i++;
		std::size_t start = i;
		while (i < value.size() && !RunSplitter::is_separator(value[i]))
			i++;
		if (i > start)
			out.push_back(value.substr(start, i - start));
	}
	return out;
}

bool contains(std::string_view hay, std::string_view needle)
{
	if (needle.empty())
		return true;
	return hay.size() >= needle.size() &&
	       memmem(hay.data(), hay.size(), needle.data(), needle.size()) != nullptr;
}

// Marks in hits (indexed by UID, up to last_uid) the documents having a term
// of scan's field that contains needle; state is the value to raise to.
void scan_terms(const Xapian::Database &db, const Scan &scan, std::string_view needle,
		std::vector<std::uint8_t> &hits, std::uint8_t state)
{
	for (auto t = db.allterms_begin(scan.prefix); t != db.allterms_end(scan.prefix); ++t) {
		const std::string &term = *t;
		std::string_view run(term);
		run.remove_prefix(scan.prefix.size());
		if (scan.skip_header_name) {
			auto colon = run.find(':');
			if (colon == std::string_view::npos)
				continue;
			run.remove_prefix(colon + 1);
		}
		if (!contains(run, needle))
			continue;
		for (auto p = db.postlist_begin(term); p != db.postlist_end(term); ++p) {
			Xapian::docid uid = *p;
			if (uid < hits.size() && hits[uid] < state)
				hits[uid] = state;
		}
	}
}

} // namespace

std::optional<Result> Index::lookup(std::vector<Key> &keys, bool and_args)
{
	Impl &m = *impl_;
	const std::uint32_t last = m.last_uid;
	std::vector<std::uint8_t> combined;
	bool any = false;
	try {
		std::vector<std::uint8_t> incomplete(std::size_t(last) + 1, kNo);
		if (m.db)
			scan_terms(*m.db, {kIncomplete, true, false}, "", incomplete, kYes);

		for (Key &key : keys) {
			key.handled = false;
			auto runs = split_runs(key.value);
			if (runs.empty())
				continue; // Dovecot answers it (e.g. HEADER name "")
			bool exact = runs.size() == 1 && runs[0].size() == key.value.size() &&
				     key.value.size() <= RunSplitter::kMaxExact &&
				     key.type != KeyType::header_approx;
			std::vector<std::uint8_t> st(std::size_t(last) + 1, kNo);
			if (m.db) {
				auto scans = scans_for(key);
				if (exact) {
					for (const Scan &s : scans)
						scan_terms(*m.db, s, runs[0], st, s.definite ? kYes : kMaybe);
				} else {
					// Every run must occur in some term; Dovecot confirms.
					std::vector<std::uint8_t> all(std::size_t(last) + 1, kYes);
					for (auto run : runs) {
						auto needle = run.substr(0, RunSplitter::kMaxExact);
						std::vector<std::uint8_t> hit(std::size_t(last) + 1, kNo);
						for (const Scan &s : scans)
							scan_terms(*m.db, s, needle, hit, kYes);
						for (std::size_t u = 0; u <= last; u++)
							all[u] = std::min(all[u], hit[u]);
					}
					for (std::size_t u = 0; u <= last; u++)
						st[u] = all[u] == kYes ? kMaybe : kNo;
				}
			}
			for (std::size_t u = 0; u <= last; u++) {
				if (incomplete[u] == kYes)
					st[u] = kMaybe;
				if (key.negated)
					st[u] = static_cast<std::uint8_t>(kYes - st[u]);
			}
			key.handled = true;
			if (!any) {
				combined = std::move(st);
				any = true;
			} else {
				for (std::size_t u = 0; u <= last; u++)
					combined[u] = and_args ? std::min(combined[u], st[u])
							       : std::max(combined[u], st[u]);
			}
		}
	} catch (const Xapian::DatabaseModifiedError &e) {
		throw IndexError(std::string("index changed during the search: ") + e.get_msg());
	} catch (const Xapian::Error &e) {
		rethrow_xapian(e, m.dir.string());
	}
	if (!any)
		return std::nullopt;
	Result r;
	for (std::uint32_t u = 1; u <= last; u++) {
		if (combined[u] == kYes)
			append_range(r.definite, u);
		else if (combined[u] == kMaybe)
			append_range(r.maybe, u);
	}
	return r;
}

} // namespace tresor::fts
