// The catalog (dir/catalog.sqlite): the live saves per mailbox, derived
// from the journal, for duplicate look-up. It can always be deleted; it is
// rebuilt from the journal.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "archive/journal_files.hpp"
#include "archive/record.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace tresor {

struct CatalogStats {
	std::uint64_t rebuilds = 0;      // full reads of the journal
	std::uint64_t lines_caught_up = 0; // lines applied by incremental catch-up
	std::uint64_t fast_appends = 0;  // records applied directly by append
};

// What one journal line changes in the catalog.
struct CatalogChange {
	enum class Kind { Save, Remove, RemoveMailbox } kind = Kind::Save;
	std::uint64_t seq = 0;
	std::string mailbox_guid;
	std::uint64_t uid = 0;
	std::string guid;
	std::string sha256, content_sha256;
};

class Catalog {
public:
	struct Meta {
		JournalPos pos; // just after the last line applied
		bool operator==(const Meta &) const = default;
	};
	struct Match {
		std::uint64_t seq = 0;
		std::uint32_t uid = 0;
	};

	explicit Catalog(std::string dir);
	~Catalog();
	Catalog(const Catalog &) = delete;
	Catalog &operator=(const Catalog &) = delete;

	// Brings the catalog up to date with the journal: reads only the new
	// lines when the journal still holds the line it stopped at, else
	// deletes and rebuilds it. The caller holds the journal lock.
	// journal_head, when the caller (holding the lock) has just read it,
	// spares the reading when the catalog is already there.
	void sync(const JournalPos *journal_head = nullptr);
	// After the journal lines `recs` were appended, the journal being at
	// `before` and then at afters[i] after recs[i]: when the catalog was
	// at `before` (or its pending changes end there), queues their
	// changes, else syncs. The queue is applied in one transaction by
	// apply_pending(), at the latest when it is long. (Each transaction
	// writes the pages it touched: one per line wrote an adopt's 200,000
	// mails 3.6 million times, one per batch of 256 still 8 KB per mail.)
	void after_append(const JournalPos &before, std::span<const JournalPos> afters,
			  std::span<const json> recs);
	// Applies the queued changes in one transaction, unless the catalog
	// moved on meanwhile (the next sync catches up instead). Journal
	// calls it before it releases the lock; sync() and the look-ups
	// first. The queue is dropped even when this throws.
	void apply_pending();
	// The earliest live save in mailbox_guid with that (content_)sha256.
	std::optional<Match> find(const std::string &mailbox_guid,
				  const std::string &hash, bool content);
	// The same without bringing the catalog up to date first: for
	// several look-ups after one sync(), under the journal lock.
	std::optional<Match> find_synced(const std::string &mailbox_guid,
					 const std::string &hash, bool content);

	// Whether mailbox_guid has live saves (brings the catalog up to date
	// first): a GUID the journal accounts mails to.
	bool has_saves(const std::string &mailbox_guid);

	const CatalogStats &stats() const { return stats_; }
	const std::string &path() const { return path_; }

	// The catalog's position, read without changing anything (for
	// verify's cross-check); nullopt when there is no usable catalog.
	static std::optional<JournalPos> peek_position(const std::string &dir);

private:
	void ensure_open();
	void open_db();
	void close_db();
	void remove_files();
	void rebuild();
	void load_all();
	void catch_up();
	JournalPos read_meta();
	void write_meta(const JournalPos &pos);
	using Change = CatalogChange;
	// after_append()'s queue: the changes of the lines from `from` to `to`
	struct Pending {
		JournalPos from, to;
		std::vector<Change> changes;
		std::uint64_t records;
	};
	// nullopt for a line that changes nothing
	static std::optional<Change> change_of(const json &rec, std::uint64_t seq);
	void apply(const Change &c);
	void apply(const json &rec, std::uint64_t seq);
	std::optional<Match> query(const std::string &mailbox_guid,
				   const std::string &hash, bool content);
	void exec(const char *sql);
	// The connection's prepared statement for this SQL text (a string
	// literal: looked up by address).
	sqlite3_stmt *prepared(const char *sql);
	// Whether the open database has this version's layout (or none yet).
	bool has_current_version();

	std::string dir_;
	std::string path_;
	sqlite3 *db_ = nullptr;
	std::vector<std::pair<const char *, sqlite3_stmt *>> prepared_;
	unsigned long long dev_ = 0, ino_ = 0;
	bool fresh_ = false;
	std::optional<Pending> pending_;
	CatalogStats stats_;
};

} // namespace tresor
