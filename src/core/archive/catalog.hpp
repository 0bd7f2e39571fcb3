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
	// `before` and then at afters[i] after recs[i]: applies them in one
	// transaction when the catalog was at `before`, else syncs. (One
	// transaction per line wrote each line's pages to the WAL again: an
	// adopt of 200,000 mails wrote 3.6 million times.)
	void after_append(const JournalPos &before, std::span<const JournalPos> afters,
			  std::span<const json> recs);
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
	CatalogStats stats_;
};

} // namespace tresor
