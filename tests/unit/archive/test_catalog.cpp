// The catalog: duplicate look-up over the live saves, kept up to date from
// the journal, rebuilt when missing, corrupt or inconsistent.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/catalog.hpp"
#include "archive/journal.hpp"
#include "archive/tresor.h"
#include "test_util.hpp"

using namespace testutil;
using tresor::Journal;
using tresor::Record;

namespace {

std::string catalog_path(const TempDir &d)
{
	return d / "catalog.sqlite";
}

void remove_catalog(const TempDir &d)
{
	for (const char *s : {"", "-wal", "-shm"})
		::unlink((catalog_path(d) + s).c_str());
}

// {seq, uid} of the duplicate, {0, 0} when none.
std::pair<std::uint64_t, std::uint32_t> dup(Journal &j, const std::string &guid,
					    const std::string &hash, bool content = false)
{
	auto d = j.find_duplicate(guid, hash, content);
	if (!d)
		return {0, 0};
	return {d->seq, d->uid};
}

using P = std::pair<std::uint64_t, std::uint32_t>;

std::string journal_2026(const TempDir &d)
{
	return d / "journal/2026.jsonl";
}

// Five saves in kGuid1: uid i has sha256 mail_hash(i).
void five_saves(Journal &j)
{
	for (std::uint32_t i = 1; i <= 5; i++)
		j.append(save_record(kGuid1, i, mail_hash(std::to_string(i))),
			 utc(2026, 6, 1, 0, 0, static_cast<int>(i)));
}

} // namespace

TEST(Catalog, DuplicateFound)
{
	TempDir d;
	Journal j(d.path());
	std::string h1 = mail_hash("1"), h2 = mail_hash("2");
	std::string c1 = sha256_oneshot("content 1"), c2 = sha256_oneshot("content 2"),
		    c3 = sha256_oneshot("content 3");
	j.append(save_record(kGuid1, 1, h1, c1), utc(2026, 1, 1));
	j.append(save_record(kGuid1, 2, h2, c2), utc(2026, 1, 2));
	j.append(save_record(kGuid1, 3, h1, c3), utc(2026, 1, 3));
	j.append(save_record(kGuid2, 1, h2, c1), utc(2026, 1, 4));

	EXPECT_EQ(dup(j, kGuid1, h1), P(1, 1)); // the earliest
	EXPECT_EQ(dup(j, kGuid1, h2), P(2, 2));
	EXPECT_EQ(dup(j, kGuid1, c3, true), P(3, 3));
	EXPECT_EQ(dup(j, kGuid1, c1, true), P(1, 1));
	EXPECT_EQ(dup(j, kGuid1, c1, false), P(0, 0)); // a content hash is no sha256
	EXPECT_EQ(dup(j, kGuid2, h1), P(0, 0));        // per mailbox
	EXPECT_EQ(dup(j, kGuid2, c1, true), P(4, 1));
	EXPECT_EQ(dup(j, kGuid1, mail_hash("unknown")), P(0, 0));

	// built once (by the first append's duplicate look-up), then kept up
	// to date by the appends themselves
	EXPECT_EQ(j.catalog_stats().rebuilds, 1u);
	EXPECT_EQ(j.catalog_stats().fast_appends, 4u);
	EXPECT_EQ(j.catalog_stats().lines_caught_up, 0u);
	EXPECT_EQ(j.last_catalog_error(), "");
}

// The indexes hold only the start of each hash: hashes that share it are
// still told apart, by mail and by content.
TEST(Catalog, HashesSharingTheIndexedPrefixAreToldApart)
{
	TempDir d;
	Journal j(d.path());
	std::string a = mail_hash("a");
	std::string b = a, c = a;
	b[63] = b[63] == '0' ? '1' : '0'; // differs in the last byte
	c[20] = c[20] == '0' ? '1' : '0'; // just past the first 8 bytes
	j.append(save_record(kGuid1, 1, a, a), utc(2026, 1, 1));
	EXPECT_EQ(dup(j, kGuid1, b), P(0, 0));
	EXPECT_EQ(dup(j, kGuid1, c), P(0, 0));
	EXPECT_EQ(dup(j, kGuid1, b, true), P(0, 0));
	j.append(save_record(kGuid1, 2, b, c), utc(2026, 1, 2));
	j.append(save_record(kGuid1, 3, c, b), utc(2026, 1, 3));
	EXPECT_EQ(dup(j, kGuid1, a), P(1, 1));
	EXPECT_EQ(dup(j, kGuid1, b), P(2, 2));
	EXPECT_EQ(dup(j, kGuid1, c), P(3, 3));
	EXPECT_EQ(dup(j, kGuid1, a, true), P(1, 1));
	EXPECT_EQ(dup(j, kGuid1, b, true), P(3, 3));
	EXPECT_EQ(dup(j, kGuid1, c, true), P(2, 2));
	// a hash in another form than the journal's hex is compared as text
	j.append(save_record(kGuid1, 4, "not-a-hash"), utc(2026, 1, 4));
	EXPECT_EQ(dup(j, kGuid1, "not-a-hash"), P(4, 4));
	EXPECT_EQ(dup(j, kGuid1, "not-a-has"), P(0, 0));
	// expunged: no longer found, its neighbour still is
	j.append(expunge_record(kGuid1, 2), utc(2026, 1, 5));
	EXPECT_EQ(dup(j, kGuid1, b), P(0, 0));
	EXPECT_EQ(dup(j, kGuid1, a), P(1, 1));
}

// What one hold of the lock appends reaches the catalog in one
// transaction when the lock is released (a long hold's in several);
// a look-up during the hold sees it all the same.
TEST(Catalog, WrittenOncePerHoldOfTheLock)
{
	TempDir d;
	Journal j(d.path());
	j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 1, 1));
	auto start = tresor::Catalog::peek_position(d.path());
	ASSERT_TRUE(start);
	EXPECT_EQ(start->seq, 1u);

	j.lock(1000);
	for (std::uint32_t uid = 2; uid <= 4; uid++)
		j.append_batch_unflushed({adopt_record(kGuid1, uid, mail_hash(std::to_string(uid)))},
					 utc(2026, 1, 2));
	EXPECT_EQ(tresor::Catalog::peek_position(d.path()), start);
	EXPECT_EQ(dup(j, kGuid1, mail_hash("3")), P(3, 3)); // applied first
	EXPECT_EQ(tresor::Catalog::peek_position(d.path())->seq, 4u);
	j.append_batch_unflushed({expunge_record(kGuid1, 3),
				  adopt_record(kGuid1, 5, mail_hash("5"))},
				 utc(2026, 1, 3));
	EXPECT_EQ(tresor::Catalog::peek_position(d.path())->seq, 4u);
	j.unlock();
	j.flush();
	EXPECT_EQ(tresor::Catalog::peek_position(d.path())->seq, 6u);

	// thousands of records in one hold: applied as they pass a few
	// thousand changes, the rest at the release
	const std::uint32_t many = 10000;
	j.lock(1000);
	for (std::uint32_t first = 100; first < 100 + many; first += 256) {
		std::vector<Record> batch;
		for (std::uint32_t uid = first; uid < first + 256 && uid < 100 + many; uid++)
			batch.push_back(adopt_record(kGuid2, uid, mail_hash("m" + std::to_string(uid))));
		j.append_batch_unflushed(std::move(batch), utc(2026, 1, 4));
	}
	std::uint64_t during = tresor::Catalog::peek_position(d.path())->seq;
	EXPECT_GT(during, 6u);
	EXPECT_LT(during, 6u + many);
	j.unlock();
	j.flush();
	EXPECT_EQ(tresor::Catalog::peek_position(d.path())->seq, 6u + many);

	EXPECT_EQ(dup(j, kGuid1, mail_hash("3")), P(0, 0));
	EXPECT_EQ(dup(j, kGuid1, mail_hash("5")), P(6, 5));
	EXPECT_EQ(dup(j, kGuid2, mail_hash("m100")), P(7, 100));
	EXPECT_EQ(dup(j, kGuid2, mail_hash("m10099")), P(6 + many, 10099));
	EXPECT_EQ(j.catalog_stats().rebuilds, 1u);
	EXPECT_EQ(j.catalog_stats().lines_caught_up, 0u);
	EXPECT_EQ(j.catalog_stats().fast_appends, 6u + many);
	EXPECT_EQ(j.last_catalog_error(), "");

	// and the same catalog as a rebuild from the journal makes
	remove_catalog(d);
	Journal fresh(d.path());
	EXPECT_EQ(dup(fresh, kGuid2, mail_hash("m5000")), P(6 + 5000 - 99, 5000));
	EXPECT_EQ(dup(fresh, kGuid1, mail_hash("3")), P(0, 0));
}

// A writer that held the lock in between: its lines are caught up, the
// next hold's are queued again.
// One commit's append as the storage glue makes it: under the lock, made
// durable (and the catalog written) by a flush() after it.
static void append_in_one_hold(Journal &j, std::vector<Record> recs, tresor::Clock::time_point t)
{
	j.lock(1000);
	for (Record &rec : recs)
		j.append_batch_unflushed({std::move(rec)}, t);
	j.unlock();
}

// The journal (lines lines long) says that its line `line` duplicates seq,
// and neither writer had a catalog error.
static void expect_journaled_duplicate(const TempDir &d, std::size_t lines, std::size_t line,
				       std::uint64_t seq, const Journal &a, const Journal &b)
{
	auto got = split_lines(read_file(journal_2026(d)));
	ASSERT_EQ(got.size(), lines);
	EXPECT_NE(got[line].find("\"duplicate_of\":" + std::to_string(seq)), std::string::npos)
		<< got[line];
	EXPECT_EQ(a.last_catalog_error(), "");
	EXPECT_EQ(b.last_catalog_error(), "");
}

TEST(Catalog, AnotherWriterBetweenTwoHolds)
{
	TempDir d;
	Journal a(d.path()), b(d.path());
	a.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 1, 1));
	append_in_one_hold(b, {save_record(kGuid1, 2, mail_hash("2"))}, utc(2026, 1, 2));
	b.flush();
	append_in_one_hold(a, {save_record(kGuid1, 3, mail_hash("2")),
			       save_record(kGuid1, 4, mail_hash("4"))}, utc(2026, 1, 3));
	a.flush();
	EXPECT_EQ(tresor::Catalog::peek_position(d.path())->seq, 4u);
	EXPECT_EQ(dup(b, kGuid1, mail_hash("4")), P(4, 4));
	EXPECT_EQ(dup(a, kGuid1, mail_hash("2")), P(2, 2));
	// the journal says so too: the later save names the earlier
	expect_journaled_duplicate(d, 4, 2, 2, a, b);
}

// After an unflushed append the catalog is written by flush(), outside
// the lock. A writer that appends before that flush catches the first
// writer's lines up from the journal; the late write is then dropped.
TEST(Catalog, WrittenAfterTheLockWhenTheAppendIsFlushedLater)
{
	TempDir d;
	Journal a(d.path()), b(d.path());
	a.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 1, 1));
	append_in_one_hold(a, {save_record(kGuid1, 2, mail_hash("2"))}, utc(2026, 1, 2));
	EXPECT_EQ(tresor::Catalog::peek_position(d.path())->seq, 1u);
	a.flush();
	EXPECT_EQ(tresor::Catalog::peek_position(d.path())->seq, 2u);

	// b comes between a's unlock and a's flush
	append_in_one_hold(a, {save_record(kGuid1, 3, mail_hash("3"))}, utc(2026, 1, 3));
	append_in_one_hold(b, {save_record(kGuid1, 4, mail_hash("3"))}, utc(2026, 1, 4));
	b.flush();
	EXPECT_EQ(tresor::Catalog::peek_position(d.path())->seq, 4u);
	a.flush();
	EXPECT_EQ(tresor::Catalog::peek_position(d.path())->seq, 4u);
	EXPECT_EQ(dup(a, kGuid1, mail_hash("3")), P(3, 3));
	EXPECT_EQ(dup(b, kGuid1, mail_hash("2")), P(2, 2));
	// b's save names a's, which only the journal held when b appended
	expect_journaled_duplicate(d, 4, 3, 3, a, b);
}

TEST(Catalog, ExpungedNotFound)
{
	TempDir d;
	Journal j(d.path());
	std::string h = mail_hash("same");
	j.append(save_record(kGuid1, 1, h), utc(2026, 1, 1));
	j.append(save_record(kGuid1, 2, h), utc(2026, 1, 2));
	EXPECT_EQ(dup(j, kGuid1, h), P(1, 1));
	j.append(expunge_record(kGuid1, 1), utc(2026, 1, 3));
	EXPECT_EQ(dup(j, kGuid1, h), P(2, 2));
	j.append(expunge_record(kGuid1, 2, "purge"), utc(2026, 1, 4));
	EXPECT_EQ(dup(j, kGuid1, h), P(0, 0));
	j.append(save_record(kGuid1, 3, h), utc(2026, 1, 5));
	EXPECT_EQ(dup(j, kGuid1, h), P(5, 3));
}

TEST(Catalog, InterruptedRecords)
{
	// an interrupted expunge may have happened: its mail is no original
	// any more; an interrupted save may not be in the store: none either
	TempDir d;
	Journal j(d.path());
	std::string h = mail_hash("same");
	j.append(save_record(kGuid1, 1, h), utc(2026, 1, 1));
	Record ie = expunge_record(kGuid1, 1);
	ie.event = "interrupted";
	ie.action = "expunge";
	j.append(ie, utc(2026, 1, 2));
	EXPECT_EQ(dup(j, kGuid1, h), P(0, 0));
	Record is = save_record(kGuid1, 0, h);
	is.event = "interrupted";
	is.action = "save";
	is.guid = "g";
	j.append(is, utc(2026, 1, 3));
	EXPECT_EQ(dup(j, kGuid1, h), P(0, 0));
	// the same after a rebuild
	j.append(save_record(kGuid1, 4, h), utc(2026, 1, 4));
	for (const char *suffix : {"", "-wal", "-shm"})
		::unlink((catalog_path(d) + suffix).c_str());
	EXPECT_EQ(dup(j, kGuid1, h), P(4, 4));
}

TEST(Catalog, DeleteRemovesMailboxOthersChangeNothing)
{
	TempDir d;
	Journal j(d.path());
	std::string h = mail_hash("x");
	j.append(save_record(kGuid1, 1, h), utc(2026, 1, 1));
	j.append(save_record(kGuid2, 1, h), utc(2026, 1, 2));

	Record rename;
	rename.event = "rename";
	rename.mailbox = "INBOX/Alt";
	rename.new_mailbox = "INBOX/Neu";
	rename.mailbox_guid = kGuid1;
	j.append(rename, utc(2026, 1, 3));
	Record dupl = save_record(kGuid1, 0, h);
	dupl.event = "duplicate";
	dupl.duplicate_of = 1;
	j.append(dupl, utc(2026, 1, 4));
	Record denied = expunge_record(kGuid1, 1);
	denied.event = "denied";
	denied.action = "expunge";
	j.append(denied, utc(2026, 1, 5));
	EXPECT_EQ(dup(j, kGuid1, h), P(1, 1));

	j.append(delete_record(kGuid1), utc(2026, 1, 6));
	EXPECT_EQ(dup(j, kGuid1, h), P(0, 0));
	EXPECT_EQ(dup(j, kGuid2, h), P(2, 1));
	// the same state after a rebuild from the journal
	remove_catalog(d);
	EXPECT_EQ(dup(j, kGuid1, h), P(0, 0));
	EXPECT_EQ(dup(j, kGuid2, h), P(2, 1));
}

TEST(Catalog, DeletedCatalogIsRebuilt)
{
	TempDir d;
	{
		Journal j(d.path());
		five_saves(j);
		EXPECT_EQ(j.catalog_stats().rebuilds, 1u);
		// deleted while open
		remove_catalog(d);
		EXPECT_FALSE(exists(catalog_path(d)));
		EXPECT_EQ(dup(j, kGuid1, mail_hash("4")), P(4, 4));
		EXPECT_EQ(j.catalog_stats().rebuilds, 2u);
		EXPECT_TRUE(exists(catalog_path(d)));
	}
	remove_catalog(d);
	Journal j(d.path());
	EXPECT_EQ(dup(j, kGuid1, mail_hash("5")), P(5, 5));
	EXPECT_EQ(j.catalog_stats().rebuilds, 1u);
}

TEST(Catalog, CorruptCatalogIsRebuilt)
{
	TempDir d;
	{
		Journal j(d.path());
		five_saves(j);
	}
	std::string garbage;
	for (int i = 0; i < 8192; i++)
		garbage += static_cast<char>((i * 7919 + 13) & 0xff);
	remove_catalog(d);
	write_file(catalog_path(d), garbage);
	{
		Journal j(d.path());
		EXPECT_EQ(dup(j, kGuid1, mail_hash("2")), P(2, 2));
		EXPECT_EQ(j.catalog_stats().rebuilds, 1u);
		// replaced by garbage while open
		write_file(d / "garbage", std::string("SQLite format 3") + '\0' + garbage);
		std::filesystem::rename(d / "garbage", catalog_path(d));
		::unlink((catalog_path(d) + "-wal").c_str());
		::unlink((catalog_path(d) + "-shm").c_str());
		EXPECT_EQ(dup(j, kGuid1, mail_hash("3")), P(3, 3));
		EXPECT_EQ(j.catalog_stats().rebuilds, 2u);
	}
	// a valid SQLite file that is not our catalog
	remove_catalog(d);
	{
		sqlite3 *db = nullptr;
		ASSERT_EQ(sqlite3_open(catalog_path(d).c_str(), &db), SQLITE_OK);
		ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
					   "INSERT INTO meta VALUES ('version', '99');",
				       nullptr, nullptr, nullptr), SQLITE_OK);
		sqlite3_close(db);
	}
	Journal j(d.path());
	EXPECT_EQ(dup(j, kGuid1, mail_hash("1")), P(1, 1));
	EXPECT_EQ(j.catalog_stats().rebuilds, 1u);
}

TEST(Catalog, CatchesUpWithOtherWriters)
{
	TempDir d;
	Journal a(d.path()), b(d.path());
	a.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 1, 1));
	b.append(save_record(kGuid1, 2, mail_hash("2")), utc(2026, 1, 2));
	EXPECT_EQ(dup(a, kGuid1, mail_hash("2")), P(2, 2));
	a.append(expunge_record(kGuid1, 2), utc(2026, 1, 3));
	EXPECT_EQ(dup(b, kGuid1, mail_hash("2")), P(0, 0));
	EXPECT_EQ(a.catalog_stats().rebuilds + b.catalog_stats().rebuilds, 1u);
}

TEST(Catalog, CatchesUpReadingOnlyNewLines)
{
	TempDir d;
	{
		Journal j(d.path());
		for (std::uint32_t i = 1; i <= 3; i++)
			j.append(save_record(kGuid1, i, mail_hash(std::to_string(i))), utc(2026, 12, 30));
	}
	// a copy of the catalog as it was after seq 3 (closed: no WAL left)
	ASSERT_FALSE(exists(catalog_path(d) + "-wal"));
	std::string old_catalog = read_file(catalog_path(d));
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 4, mail_hash("4")), utc(2026, 12, 31));
		j.append(expunge_record(kGuid1, 1), utc(2027, 1, 1)); // into 2027.jsonl
		j.append(save_record(kGuid1, 6, mail_hash("6")), utc(2027, 1, 2));
	}
	remove_catalog(d);
	write_file(catalog_path(d), old_catalog);
	Journal j(d.path());
	EXPECT_EQ(dup(j, kGuid1, mail_hash("6")), P(6, 6));
	EXPECT_EQ(dup(j, kGuid1, mail_hash("4")), P(4, 4));
	EXPECT_EQ(dup(j, kGuid1, mail_hash("1")), P(0, 0));
	EXPECT_EQ(j.catalog_stats().rebuilds, 0u);
	EXPECT_EQ(j.catalog_stats().lines_caught_up, 3u);
}

TEST(Catalog, AheadOfJournalIsRebuilt)
{
	TempDir d;
	Journal j(d.path());
	five_saves(j);
	EXPECT_EQ(dup(j, kGuid1, mail_hash("5")), P(5, 5));
	// the journal loses its last two lines (say, restored from a backup)
	auto lines = split_lines(read_file(journal_2026(d)));
	lines.resize(3);
	write_file(journal_2026(d), join_lines(lines));
	EXPECT_EQ(dup(j, kGuid1, mail_hash("5")), P(0, 0));
	EXPECT_EQ(dup(j, kGuid1, mail_hash("3")), P(3, 3));
	EXPECT_EQ(j.catalog_stats().rebuilds, 2u);
	// the next append continues the shortened journal and the catalog
	EXPECT_EQ(j.append(save_record(kGuid1, 9, mail_hash("9")), utc(2026, 7, 1)), 4u);
	EXPECT_EQ(dup(j, kGuid1, mail_hash("9")), P(4, 9));
}

TEST(Catalog, EditedLineBelowPositionIsRebuilt)
{
	TempDir d;
	Journal j(d.path());
	five_saves(j);
	// same length edit of the last line: the hash check notices
	auto lines = split_lines(read_file(journal_2026(d)));
	std::string h5 = mail_hash("5"), hx = mail_hash("X");
	lines[4].replace(lines[4].find(h5), h5.size(), hx);
	write_file(journal_2026(d), join_lines(lines));
	EXPECT_EQ(dup(j, kGuid1, hx), P(5, 5));
	EXPECT_EQ(dup(j, kGuid1, h5), P(0, 0));
	EXPECT_EQ(j.catalog_stats().rebuilds, 2u);
}

TEST(Catalog, TornTailIsIgnored)
{
	TempDir d;
	Journal j(d.path());
	five_saves(j);
	append_file(journal_2026(d), "{\"seq\":6,\"event\":\"save\"");
	EXPECT_EQ(dup(j, kGuid1, mail_hash("5")), P(5, 5));
	EXPECT_EQ(dup(j, kGuid1, mail_hash("1")), P(1, 1));
	EXPECT_EQ(j.catalog_stats().rebuilds, 1u);
}

TEST(Catalog, FailureNeverFailsAppend)
{
	TempDir d;
	ASSERT_EQ(::mkdir(catalog_path(d).c_str(), 0700), 0); // can't be a database
	Journal j(d.path());
	EXPECT_EQ(j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 1, 1)), 1u);
	EXPECT_NE(j.last_catalog_error(), "");
	EXPECT_EQ(j.append(save_record(kGuid1, 2, mail_hash("2")), utc(2026, 1, 1)), 2u);
	EXPECT_EQ(split_lines(read_file(journal_2026(d))).size(), 2u);
	EXPECT_THROW(j.find_duplicate(kGuid1, mail_hash("1"), false), std::exception);

	char err[256];
	tresor_journal *cj = tresor_journal_open(d.path().c_str(), err, sizeof(err));
	ASSERT_NE(cj, nullptr);
	std::uint64_t seq = 0;
	std::uint32_t uid = 0;
	std::string h = mail_hash("1");
	EXPECT_EQ(tresor_journal_find_duplicate(cj, kGuid1.c_str(), h.c_str(), 0, &seq, &uid, err,
						sizeof(err)), -1);
	EXPECT_NE(std::string(err).find("catalog.sqlite"), std::string::npos) << err;
	tresor_record r{};
	r.event = "save";
	r.mailbox_guid = kGuid1.c_str();
	r.uid = 3;
	EXPECT_EQ(tresor_journal_append(cj, &r, &seq, err, sizeof(err)), 0) << err;
	EXPECT_EQ(seq, 3u);

	// once the obstacle is gone, the catalog is rebuilt from the journal
	ASSERT_EQ(::rmdir(catalog_path(d).c_str()), 0);
	EXPECT_EQ(tresor_journal_find_duplicate(cj, kGuid1.c_str(), h.c_str(), 0, &seq, &uid, err,
						sizeof(err)), 1) << err;
	EXPECT_EQ(seq, 1u);
	EXPECT_EQ(uid, 1u);
	tresor_journal_close(cj);
}

TEST(Catalog, WalModeAndPosition)
{
	TempDir d;
	Journal j(d.path());
	five_saves(j);
	sqlite3 *db = nullptr;
	ASSERT_EQ(sqlite3_open_v2(catalog_path(d).c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
		  SQLITE_OK);
	sqlite3_stmt *st = nullptr;
	ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
	ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
	EXPECT_STREQ(reinterpret_cast<const char *>(sqlite3_column_text(st, 0)), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);

	auto pos = tresor::Catalog::peek_position(d.path());
	ASSERT_TRUE(pos.has_value());
	auto lines = split_lines(read_file(journal_2026(d)));
	EXPECT_EQ(pos->seq, 5u);
	EXPECT_EQ(pos->hash, sha256_oneshot(lines[4]));
	EXPECT_EQ(pos->file, "2026.jsonl");
	EXPECT_EQ(pos->offset, read_file(journal_2026(d)).size());
	EXPECT_EQ(pos, tresor::read_journal_head(d.path()));
}

TEST(Catalog, FileIsPrivate)
{
	TempDir d;
	Journal j(d.path());
	j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 1, 1));
	struct stat st;
	ASSERT_EQ(::stat(catalog_path(d).c_str(), &st), 0);
	EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Catalog, ExpungeFindsASaveWithoutUidByGuid)
{
	TempDir d;
	Journal j(d.path());
	std::string h = mail_hash("no uid yet");
	Record saved = save_record(kGuid1, 0, h);
	saved.guid = "guid-1";
	j.append(saved, utc(2026, 1, 1));
	EXPECT_EQ(dup(j, kGuid1, h), P(1, 0)); // found, UID unknown

	Record other = expunge_record(kGuid1, 9); // another mail
	other.guid = "guid-2";
	j.append(other, utc(2026, 1, 2));
	EXPECT_EQ(dup(j, kGuid1, h), P(1, 0));

	Record gone = expunge_record(kGuid1, 4); // its UID, assigned later
	gone.guid = "guid-1";
	j.append(gone, utc(2026, 1, 3));
	EXPECT_EQ(dup(j, kGuid1, h), P(0, 0));
}

// An adopted mail is in the archive like a saved one: a later save of the
// same mail is its duplicate.
TEST(Catalog, AdoptedMailIsTheOriginalOfALaterSave)
{
	TempDir d;
	Journal j(d.path());
	std::string h = mail_hash("old");
	j.append(adopt_record(kGuid1, 1, h), utc(2026, 1, 1));
	EXPECT_EQ(dup(j, kGuid1, h), P(1, 1));
	j.append(save_record(kGuid1, 2, h), utc(2026, 1, 2));
	auto lines = split_lines(read_file(d / "journal/2026.jsonl"));
	ASSERT_EQ(lines.size(), 2u);
	EXPECT_EQ((*tresor::parse_line(lines[1]))["duplicate_of"], 1);
	j.append(expunge_record(kGuid1, 1), utc(2026, 1, 3));
	EXPECT_EQ(dup(j, kGuid1, h), P(2, 2));
}

// The layout before version 3 (GUIDs and hashes as text, an index by GUID)
// is replaced on first use, built again from the journal: none of its
// rows may answer.
TEST(Catalog, PreviousLayoutIsReplacedFromTheJournal)
{
	TempDir d;
	{
		Journal j(d.path());
		five_saves(j);
	}
	remove_catalog(d);
	{
		sqlite3 *db = nullptr;
		ASSERT_EQ(sqlite3_open(catalog_path(d).c_str(), &db), SQLITE_OK);
		const std::string sql =
			"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
			"CREATE TABLE saves (seq INTEGER PRIMARY KEY, mailbox_guid TEXT NOT NULL,"
			" uid INTEGER NOT NULL, guid TEXT, sha256 TEXT, content_sha256 TEXT);"
			"CREATE INDEX saves_sha256 ON saves (mailbox_guid, sha256, seq);"
			"CREATE INDEX saves_guid ON saves (mailbox_guid, guid);"
			// a wrong answer only this file has
			"INSERT INTO saves VALUES (4, '" + kGuid1 + "', 4, NULL, '" +
			mail_hash("1") + "', NULL);"
			"INSERT INTO meta VALUES ('version', '2');";
		ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
		sqlite3_close(db);
	}
	Journal j(d.path());
	EXPECT_EQ(dup(j, kGuid1, mail_hash("1")), P(1, 1));
	EXPECT_EQ(dup(j, kGuid1, mail_hash("4")), P(4, 4));
	EXPECT_EQ(j.catalog_stats().rebuilds, 1u);
	EXPECT_EQ(j.last_catalog_error(), "");
	j.append(save_record(kGuid1, 6, mail_hash("6")), utc(2026, 6, 2));
	EXPECT_EQ(dup(j, kGuid1, mail_hash("6")), P(6, 6));
	EXPECT_EQ(j.last_catalog_error(), "");
}

// Hashes are kept as their 32 bytes; one journaled in another form
// (upper case, not hex) is kept as written and found only as written.
TEST(Catalog, HashesInAnyFormAreFoundAsJournaled)
{
	TempDir d;
	Journal j(d.path());
	std::string upper = mail_hash("u");
	for (char &c : upper)
		c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
	j.append(save_record(kGuid1, 1, mail_hash("l")), utc(2026, 1, 1));
	j.append(save_record(kGuid1, 2, upper), utc(2026, 1, 2));
	j.append(save_record(kGuid1, 3, "not-a-hash"), utc(2026, 1, 3));
	EXPECT_EQ(dup(j, kGuid1, mail_hash("l")), P(1, 1));
	EXPECT_EQ(dup(j, kGuid1, upper), P(2, 2));
	EXPECT_EQ(dup(j, kGuid1, mail_hash("u")), P(0, 0));
	EXPECT_EQ(dup(j, kGuid1, "not-a-hash"), P(3, 3));
	EXPECT_EQ(dup(j, kGuid2, mail_hash("l")), P(0, 0));
	EXPECT_EQ(j.last_catalog_error(), "");
}
