#include "archive/catalog.hpp"

#include <cerrno>
#include <stdexcept>

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/posix_io.hpp"
#include "common/sha256.hpp"

namespace tresor {

namespace {

// 2: saves.guid; 3: mailboxes by number, hashes as 32-byte blobs, no
// index by GUID (half the size: an adopt of 200,000 mails into one folder
// took 48 s, most of it in the catalog's pages); 4: the hashes indexed by
// their first 8 bytes (an index entry of about 20 bytes instead of 48:
// the indexes take random hashes, and each insert dirties a page of them)
constexpr const char *kVersion = "4";

// The hash indexes' key: a prefix of the hash, enough to pick it out
// among the mailbox's saves (the full hash is compared in the row). The
// look-ups must write it as the index does for SQLite to use the index.
#define HASH_KEY(expr) "substr(" expr ", 1, 8)"

// Changes applied at most in one transaction (Catalog::after_append).
// Each transaction writes the index pages it touched once; a mailbox's
// hash indexes at 200,000 mails have about 960 pages each, so a
// transaction of 256 adopted mails writes about 450 of them, one of 4,096
// almost all 1,900 (docs/benchmarks.md, "adopt's catalog").
constexpr std::size_t kMaxPendingChanges = 4096;
// The page cache during a transaction of at least kBulkChanges changes,
// in KiB (SQLite's default is 2,000): the pages it dirties are written
// once, not spilled to the WAL again and again. Smaller ones keep the
// default cache, and the pages they use in it.
constexpr int kBulkCacheKiB = 8192;
constexpr std::size_t kBulkChanges = 512;

class CatalogError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// The catalog doesn't match the journal: rebuild.
class NeedRebuild : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

[[noreturn]] void throw_sqlite(sqlite3 *db, const std::string &what)
{
	throw CatalogError("catalog: " + what + ": " +
			   (db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
}

class Stmt {
public:
	Stmt(sqlite3 *db, const char *sql) : db_(db)
	{
		if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK)
			throw_sqlite(db, std::string("prepare ") + sql);
	}
	// A statement prepared once per connection (Catalog::prepared):
	// reset for its next use instead of finalized.
	Stmt(sqlite3 *db, sqlite3_stmt *cached) : db_(db), st_(cached), cached_(true)
	{
	}
	~Stmt()
	{
		if (cached_) {
			sqlite3_reset(st_);
			sqlite3_clear_bindings(st_);
		} else {
			sqlite3_finalize(st_);
		}
	}
	Stmt(const Stmt &) = delete;
	Stmt &operator=(const Stmt &) = delete;

	void bind(int idx, const std::string &s)
	{
		check(sqlite3_bind_text(st_, idx, s.data(), static_cast<int>(s.size()),
					SQLITE_TRANSIENT));
	}
	void bind_opt(int idx, const std::string &s)
	{
		if (s.empty())
			check(sqlite3_bind_null(st_, idx));
		else
			bind(idx, s);
	}
	// A SHA-256 as the journal writes it (64 lowercase hex digits) as its
	// 32 bytes; any other text as it is (never equal to a blob), none as
	// NULL.
	void bind_hash(int idx, const std::string &hex)
	{
		Sha256::Digest d;
		if (hex.empty())
			check(sqlite3_bind_null(st_, idx));
		else if (sha256_from_lowercase_hex(hex, d))
			check(sqlite3_bind_blob(st_, idx, d.data(), static_cast<int>(d.size()),
						SQLITE_TRANSIENT));
		else
			bind(idx, hex);
	}
	void bind(int idx, std::uint64_t v)
	{
		check(sqlite3_bind_int64(st_, idx, static_cast<sqlite3_int64>(v)));
	}
	// true: a row is available
	bool step()
	{
		int rc = sqlite3_step(st_);
		if (rc == SQLITE_ROW)
			return true;
		if (rc == SQLITE_DONE)
			return false;
		throw_sqlite(db_, "step");
	}
	std::string text(int col)
	{
		const unsigned char *t = sqlite3_column_text(st_, col);
		int n = sqlite3_column_bytes(st_, col);
		return t == nullptr ? std::string()
				    : std::string(reinterpret_cast<const char *>(t),
						  static_cast<std::size_t>(n));
	}
	std::uint64_t u64(int col)
	{
		return static_cast<std::uint64_t>(sqlite3_column_int64(st_, col));
	}

private:
	void check(int rc)
	{
		if (rc != SQLITE_OK)
			throw_sqlite(db_, "bind");
	}
	sqlite3 *db_;
	sqlite3_stmt *st_ = nullptr;
	bool cached_ = false;
};

// A write transaction, rolled back unless committed.
class Txn {
public:
	explicit Txn(sqlite3 *db) : db_(db)
	{
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
			throw_sqlite(db, "BEGIN");
	}
	~Txn()
	{
		if (!done_)
			sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
	}
	void commit()
	{
		if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
			throw_sqlite(db_, "COMMIT");
		done_ = true;
	}

private:
	sqlite3 *db_;
	bool done_ = false;
};

// A larger page cache for one large transaction; the connection's
// previous size (and the memory above it) afterwards.
class BulkCache {
public:
	explicit BulkCache(sqlite3 *db) : db_(db)
	{
		sqlite3_stmt *st = nullptr;
		if (sqlite3_prepare_v2(db, "PRAGMA cache_size", -1, &st, nullptr) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			previous_ = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
		set(-kBulkCacheKiB);
	}
	~BulkCache() { set(previous_); }
	BulkCache(const BulkCache &) = delete;
	BulkCache &operator=(const BulkCache &) = delete;

private:
	void set(int size)
	{
		std::string sql = "PRAGMA cache_size = " + std::to_string(size);
		sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
	}
	sqlite3 *db_;
	int previous_ = -2000;
};

std::uint64_t parse_u64(const std::string &s)
{
	if (s.empty() || s.size() > 20)
		throw NeedRebuild("bad number in catalog meta");
	std::uint64_t v = 0;
	for (char c : s) {
		if (c < '0' || c > '9')
			throw NeedRebuild("bad number in catalog meta");
		v = v * 10 + static_cast<std::uint64_t>(c - '0');
	}
	return v;
}

constexpr const char *kReadMetaSql = "SELECT key, value FROM meta";

// The number of the mailbox with the GUID bound to param (NULL when it
// has none: then nothing matches).
#define BOX_ID_OF(param) "SELECT id FROM mailboxes WHERE guid = " param

JournalPos read_meta_from(Stmt &st)
{
	JournalPos pos;
	bool have_version = false, have_seq = false, have_hash = false,
	     have_file = false, have_offset = false;
	while (st.step()) {
		std::string key = st.text(0), value = st.text(1);
		if (key == "version") {
			if (value != kVersion)
				throw NeedRebuild("catalog version " + value);
			have_version = true;
		} else if (key == "seq") {
			pos.seq = parse_u64(value);
			have_seq = true;
		} else if (key == "hash") {
			pos.hash = value;
			have_hash = true;
		} else if (key == "file") {
			pos.file = value;
			have_file = true;
		} else if (key == "offset") {
			pos.offset = parse_u64(value);
			have_offset = true;
		}
	}
	if (!have_version || !have_seq || !have_hash || !have_file || !have_offset)
		throw NeedRebuild("incomplete catalog meta");
	return pos;
}

} // namespace

Catalog::Catalog(std::string dir) : dir_(std::move(dir)), path_(dir_ + "/catalog.sqlite")
{
}

Catalog::~Catalog()
{
	close_db();
}

void Catalog::exec(const char *sql)
{
	char *msg = nullptr;
	if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
		std::string m = msg != nullptr ? msg : sqlite3_errmsg(db_);
		sqlite3_free(msg);
		throw CatalogError("catalog: " + std::string(sql) + ": " + m);
	}
}

sqlite3_stmt *Catalog::prepared(const char *sql)
{
	for (auto &[text, st] : prepared_) {
		if (text == sql)
			return st;
	}
	sqlite3_stmt *st = nullptr;
	if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
			       nullptr) != SQLITE_OK)
		throw_sqlite(db_, std::string("prepare ") + sql);
	prepared_.emplace_back(sql, st);
	return st;
}

void Catalog::close_db()
{
	for (auto &entry : prepared_)
		sqlite3_finalize(entry.second);
	prepared_.clear();
	if (db_ != nullptr) {
		sqlite3_close_v2(db_);
		db_ = nullptr;
	}
}

void Catalog::remove_files()
{
	for (const char *suffix : {"", "-wal", "-shm", "-journal"}) {
		std::string p = path_ + suffix;
		if (::unlink(p.c_str()) < 0 && errno != ENOENT)
			throw_errno("unlink(" + p + ")");
	}
}

void Catalog::open_db()
{
	close_db();
	fresh_ = false;
	// create it ourselves, private to the user (SQLite would use 0644)
	int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		throw_errno("open(" + path_ + ")");
	::close(fd);
	int rc = sqlite3_open_v2(path_.c_str(), &db_,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
					 SQLITE_OPEN_NOMUTEX,
				 nullptr);
	if (rc != SQLITE_OK) {
		std::string m = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
		close_db();
		throw CatalogError("catalog: open " + path_ + ": " + m);
	}
	sqlite3_busy_timeout(db_, 10000);
	exec("PRAGMA journal_mode=WAL");
	exec("PRAGMA synchronous=NORMAL");
	if (!has_current_version()) {
		// an older layout: derived data, made again from the journal
		close_db();
		remove_files();
		open_db();
		return;
	}
	exec("CREATE TABLE IF NOT EXISTS meta ("
	     " key TEXT PRIMARY KEY, value TEXT NOT NULL)");
	exec("CREATE TABLE IF NOT EXISTS mailboxes ("
	     " id INTEGER PRIMARY KEY,"
	     " guid TEXT NOT NULL UNIQUE)");
	exec("CREATE TABLE IF NOT EXISTS saves ("
	     " seq INTEGER PRIMARY KEY,"
	     " box INTEGER NOT NULL,"
	     " uid INTEGER NOT NULL,"
	     " guid TEXT,"
	     " sha256 BLOB,"
	     " content_sha256 BLOB)");
	// (an index entry ends with the row's seq: equal keys in seq order)
	exec("CREATE INDEX IF NOT EXISTS saves_sha256 ON saves (box, " HASH_KEY("sha256") ")");
	exec("CREATE INDEX IF NOT EXISTS saves_content ON saves (box, " HASH_KEY("content_sha256") ")");
	// (also finds a mail saved without UID by GUID: among the box's UID 0)
	exec("CREATE INDEX IF NOT EXISTS saves_uid ON saves (box, uid)");
	{
		Stmt st(db_, "SELECT count(*) FROM meta");
		st.step();
		fresh_ = st.u64(0) == 0;
	}
	struct stat s;
	if (::stat(path_.c_str(), &s) < 0)
		throw_errno("stat(" + path_ + ")");
	dev_ = s.st_dev;
	ino_ = s.st_ino;
}

bool Catalog::has_current_version()
{
	Stmt exists(db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
	if (!exists.step())
		return true; // new
	Stmt st(db_, "SELECT value FROM meta WHERE key = 'version'");
	return !st.step() || st.text(0) == kVersion;
}

void Catalog::ensure_open()
{
	if (db_ != nullptr) {
		// deleted or replaced behind our back: reopen
		struct stat s;
		if (::stat(path_.c_str(), &s) < 0 ||
		    static_cast<unsigned long long>(s.st_dev) != dev_ ||
		    static_cast<unsigned long long>(s.st_ino) != ino_)
			close_db();
	}
	if (db_ == nullptr)
		open_db();
}

JournalPos Catalog::read_meta()
{
	Stmt st(db_, prepared(kReadMetaSql));
	return read_meta_from(st);
}

void Catalog::write_meta(const JournalPos &pos)
{
	{
		// after every append: rows updated in place touch the table's
		// page only, rows replaced its key index's too
		Stmt st(db_, prepared("UPDATE meta SET value = CASE key"
			     " WHEN 'seq' THEN ?1 WHEN 'hash' THEN ?2 WHEN 'file' THEN ?3"
			     " ELSE ?4 END"
			     " WHERE key IN ('seq', 'hash', 'file', 'offset')"));
		st.bind(1, std::to_string(pos.seq));
		st.bind(2, pos.hash);
		st.bind(3, pos.file);
		st.bind(4, std::to_string(pos.offset));
		st.step();
		if (sqlite3_changes(db_) == 4)
			return;
	}
	Stmt st(db_, prepared("INSERT OR REPLACE INTO meta (key, value) VALUES"
		     " ('version', ?1), ('seq', ?2), ('hash', ?3), ('file', ?4), ('offset', ?5)"));
	st.bind(1, std::string(kVersion));
	st.bind(2, std::to_string(pos.seq));
	st.bind(3, pos.hash);
	st.bind(4, pos.file);
	st.bind(5, std::to_string(pos.offset));
	st.step();
}

std::optional<Catalog::Change> Catalog::change_of(const json &rec, std::uint64_t seq)
{
	Change c;
	c.seq = seq;
	c.mailbox_guid = json_string(rec, "mailbox_guid");
	if (c.mailbox_guid.empty())
		return std::nullopt;
	std::string event = json_string(rec, "event");
	// an adopted mail is in the archive like a saved one: the original
	// of a later duplicate
	if (event == "save" || event == "adopt") {
		c.kind = Change::Kind::Save;
		c.uid = json_uint(rec, "uid");
		c.guid = json_string(rec, "guid");
		c.sha256 = json_string(rec, "sha256");
		c.content_sha256 = json_string(rec, "content_sha256");
	} else if (event == "expunge" || event == "purge" ||
		   (event == "interrupted" && json_string(rec, "action") == "expunge")) {
		// (an interrupted expunge may have happened: its mail is no
		// longer offered as the original of a duplicate)
		c.kind = Change::Kind::Remove;
		c.uid = json_uint(rec, "uid");
		c.guid = json_string(rec, "guid");
	} else if (event == "delete") {
		c.kind = Change::Kind::RemoveMailbox;
	} else {
		// duplicate, denied, rename (the guid stays), an interrupted
		// save (it may not be in the store): nothing changes
		return std::nullopt;
	}
	return c;
}

void Catalog::apply(const Change &c)
{
	switch (c.kind) {
	case Change::Kind::Save: {
		{
			Stmt box(db_, prepared("INSERT OR IGNORE INTO mailboxes (guid) VALUES (?1)"));
			box.bind(1, c.mailbox_guid);
			box.step();
		}
		Stmt st(db_, prepared("INSERT OR REPLACE INTO saves"
			     " (seq, box, uid, guid, sha256, content_sha256)"
			     " VALUES (?1, (" BOX_ID_OF("?2") "), ?3, ?4, ?5, ?6)"));
		st.bind(1, c.seq);
		st.bind(2, c.mailbox_guid);
		st.bind(3, c.uid);
		st.bind_opt(4, c.guid);
		st.bind_hash(5, c.sha256);
		st.bind_hash(6, c.content_sha256);
		st.step();
		break;
	}
	case Change::Kind::Remove: {
		// by UID, or by GUID for a mail saved without one (the
		// backend assigned its UID after the commit)
		Stmt st(db_, prepared("DELETE FROM saves WHERE box = (" BOX_ID_OF("?1") ") AND"
				      " (uid = ?2 OR (uid = 0 AND guid = ?3))"));
		st.bind(1, c.mailbox_guid);
		st.bind(2, c.uid);
		st.bind_opt(3, c.guid);
		st.step();
		break;
	}
	case Change::Kind::RemoveMailbox: {
		Stmt st(db_, prepared("DELETE FROM saves WHERE box = (" BOX_ID_OF("?1") ")"));
		st.bind(1, c.mailbox_guid);
		st.step();
		break;
	}
	}
}

void Catalog::apply(const json &rec, std::uint64_t seq)
{
	if (auto c = change_of(rec, seq))
		apply(*c);
}

void Catalog::load_all()
{
	BulkCache bulk(db_); // (a rebuild reads the whole journal)
	Txn txn(db_);
	exec("DELETE FROM saves");
	exec("DELETE FROM mailboxes");
	JournalPos pos;
	for_each_journal_line(list_journal_files(dir_), 0, 0,
			      [&](const JournalFile &file, const std::string &line, std::uint64_t end) {
		auto j = parse_line(line);
		auto s = j ? record_seq(*j) : std::nullopt;
		std::uint64_t seq = s ? *s : pos.seq + 1;
		if (j)
			apply(*j, seq);
		pos.seq = seq;
		pos.hash = sha256_hex(line);
		pos.file = file.name;
		pos.offset = end;
	});
	write_meta(pos);
	txn.commit();
	stats_.rebuilds++;
}

void Catalog::rebuild()
{
	close_db();
	remove_files();
	open_db();
	fresh_ = false;
	load_all();
}

void Catalog::catch_up()
{
	JournalPos pos = read_meta();
	std::vector<JournalFile> files = list_journal_files(dir_);
	std::size_t start = 0;
	if (pos.file.empty()) {
		if (pos.seq != 0 || pos.offset != 0 || pos.hash != kZeroHash)
			throw NeedRebuild("inconsistent catalog meta");
	} else {
		// the journal must still hold the line the catalog stopped at
		std::optional<std::size_t> k = journal_resume_point(files, pos);
		if (!k)
			throw NeedRebuild("journal changed below the catalog's position");
		start = *k;
	}

	std::optional<BulkCache> bulk;
	Txn txn(db_);
	JournalPos cur = pos;
	std::uint64_t applied = 0;
	for_each_journal_line(files, start, pos.offset,
			      [&](const JournalFile &file, const std::string &line, std::uint64_t end) {
		auto j = parse_line(line);
		auto s = j ? record_seq(*j) : std::nullopt;
		if (!s || *s != cur.seq + 1 || json_string(*j, "prev") != cur.hash)
			throw NeedRebuild("journal chain break after the catalog's position");
		apply(*j, *s);
		if (++applied == kBulkChanges)
			bulk.emplace(db_);
		cur.seq = *s;
		cur.hash = sha256_hex(line);
		cur.file = file.name;
		cur.offset = end;
	});
	if (cur != pos) {
		write_meta(cur);
		txn.commit();
	}
	stats_.lines_caught_up += applied;
}

void Catalog::sync(const JournalPos *journal_head)
{
	try {
		apply_pending();
	} catch (const std::exception &) {
		// caught up from the journal below
	}
	try {
		ensure_open();
		if (fresh_) {
			fresh_ = false;
			load_all();
			return;
		}
		// the common case under the journal lock: nothing to read
		if (journal_head != nullptr && read_meta() == *journal_head)
			return;
		catch_up();
	} catch (const std::exception &) {
		// missing, unreadable, corrupt, ahead of or inconsistent with
		// the journal: start over from the journal
		rebuild();
	}
}

void Catalog::after_append(const JournalPos &before, std::span<const JournalPos> afters,
			   std::span<const json> recs)
{
	if (afters.size() != recs.size())
		throw std::logic_error("Catalog::after_append: a position for each record");
	if (recs.empty())
		return;
	try {
		// another writer's lines in between: ours first, theirs by
		// the sync below
		if (pending_ && pending_->to != before)
			apply_pending();
		if (!pending_) {
			ensure_open();
			if (!fresh_ && read_meta() == before)
				pending_ = Pending{before, before, {}, 0};
		}
		if (pending_) {
			for (std::size_t i = 0; i < recs.size(); i++) {
				if (auto c = change_of(recs[i], afters[i].seq))
					pending_->changes.push_back(std::move(*c));
			}
			pending_->to = afters.back();
			pending_->records += recs.size();
			if (pending_->changes.size() >= kMaxPendingChanges)
				apply_pending();
			return;
		}
	} catch (const std::exception &) {
		pending_.reset();
		// fall through to a full sync
	}
	sync();
}

void Catalog::apply_pending()
{
	if (!pending_)
		return;
	Pending p = std::move(*pending_);
	pending_.reset();
	ensure_open();
	std::optional<BulkCache> bulk;
	if (p.changes.size() >= kBulkChanges)
		bulk.emplace(db_);
	Txn txn(db_);
	// moved on meanwhile (another process caught it up, or it was
	// replaced): the next sync brings it up to date
	if (read_meta() != p.from)
		return;
	for (const Change &c : p.changes)
		apply(c);
	write_meta(p.to);
	txn.commit();
	stats_.fast_appends += p.records;
}

std::optional<Catalog::Match> Catalog::query(const std::string &mailbox_guid,
					     const std::string &hash, bool content)
{
	Stmt st(db_, prepared(content ? "SELECT seq, uid FROM saves WHERE box = (" BOX_ID_OF("?1") ")"
			       " AND " HASH_KEY("content_sha256") " = " HASH_KEY("?2")
			       " AND content_sha256 = ?2 ORDER BY seq LIMIT 1"
			     : "SELECT seq, uid FROM saves WHERE box = (" BOX_ID_OF("?1") ")"
			       " AND " HASH_KEY("sha256") " = " HASH_KEY("?2")
			       " AND sha256 = ?2 ORDER BY seq LIMIT 1"));
	st.bind(1, mailbox_guid);
	st.bind_hash(2, hash);
	if (!st.step())
		return std::nullopt;
	return Match{st.u64(0), static_cast<std::uint32_t>(st.u64(1))};
}

std::optional<Catalog::Match> Catalog::find(const std::string &mailbox_guid,
					    const std::string &hash, bool content)
{
	sync();
	return find_synced(mailbox_guid, hash, content);
}

std::optional<Catalog::Match> Catalog::find_synced(const std::string &mailbox_guid,
						   const std::string &hash, bool content)
{
	try {
		return query(mailbox_guid, hash, content);
	} catch (const std::exception &) {
		rebuild();
		return query(mailbox_guid, hash, content);
	}
}

bool Catalog::has_saves(const std::string &mailbox_guid)
{
	sync();
	auto query_once = [&]() {
		Stmt st(db_, prepared("SELECT 1 FROM saves WHERE box = (" BOX_ID_OF("?1") ") LIMIT 1"));
		st.bind(1, mailbox_guid);
		return st.step();
	};
	try {
		return query_once();
	} catch (const std::exception &) {
		rebuild();
		return query_once();
	}
}

std::optional<JournalPos> Catalog::peek_position(const std::string &dir)
{
	std::string path = dir + "/catalog.sqlite";
	struct stat s;
	if (::stat(path.c_str(), &s) < 0)
		return std::nullopt;
	sqlite3 *db = nullptr;
	std::optional<JournalPos> result;
	if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
			    nullptr) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 2000);
		try {
			Stmt st(db, kReadMetaSql);
			result = read_meta_from(st);
		} catch (const std::exception &) {
			result.reset();
		}
	}
	sqlite3_close_v2(db);
	return result;
}

} // namespace tresor
