// The journal: line format, chain, locking, year files, crash repair,
// the reader and status.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "archive/catalog.hpp"
#include "archive/journal.hpp"
#include "archive/journal_files.hpp"
#include "archive/record.hpp"
#include "archive/tresor.h"
#include "archive/verify.hpp"
#include "test_util.hpp"

using namespace testutil;
using tresor::Journal;
using tresor::Record;
using json = nlohmann::ordered_json;

namespace {

std::string jfile(const TempDir &d, int year)
{
	return d / ("journal/" + std::to_string(year) + ".jsonl");
}

// Checks seq 1..n and the prev chain over the concatenated files.
void expect_chain(const std::vector<std::string> &lines)
{
	std::string prev = zero_hash;
	for (std::size_t i = 0; i < lines.size(); i++) {
		json j = json::parse(lines[i]);
		EXPECT_EQ(j["seq"].get<std::uint64_t>(), i + 1) << "line " << i + 1;
		EXPECT_EQ(j["prev"].get<std::string>(), prev) << "line " << i + 1;
		prev = sha256_oneshot(lines[i]);
	}
}

std::vector<std::string> keys(const json &j)
{
	std::vector<std::string> k;
	for (auto it = j.begin(); it != j.end(); ++it)
		k.push_back(it.key());
	return k;
}

} // namespace

TEST(Journal, ExactLineFormat)
{
	TempDir d;
	Journal j(d.path());
	Record r = save_record(kGuid1, 7, std::string(64, 'a'), std::string(64, 'b'), "Rechnungen");
	r.guid = "g-1";
	r.size = 1234;
	r.message_id = "<m@x>";
	r.session = "sess1";
	EXPECT_EQ(j.append(r, utc(2026, 11, 23, 9, 5, 0, 123456)), 1u);
	std::string content = read_file(jfile(d, 2026));
	std::string line1 =
		"{\"seq\":1,\"time\":\"2026-11-23T09:05:00.123456Z\",\"event\":\"save\","
		"\"mailbox\":\"Rechnungen\",\"mailbox_guid\":\"" + kGuid1 + "\","
		"\"uidvalidity\":1700000000,\"uid\":7,\"guid\":\"g-1\",\"size\":1234,"
		"\"sha256\":\"" + std::string(64, 'a') + "\","
		"\"content_sha256\":\"" + std::string(64, 'b') + "\","
		"\"message_id\":\"<m@x>\",\"service\":\"lmtp\",\"session\":\"sess1\","
		"\"prev\":\"" + zero_hash + "\"}";
	EXPECT_EQ(content, line1 + "\n");

	// every field set: the documented key order
	Record all;
	all.event = "denied";
	all.mailbox = "Archiv";
	all.mailbox_guid = kGuid2;
	all.uidvalidity = 5;
	all.uid = 6;
	all.guid = "g";
	all.size = 7;
	all.sha256 = "s";
	all.imap_sha256 = "i";
	all.content_sha256 = "c";
	all.message_id = "m";
	all.internaldate = "2019-03-04T10:00:00Z";
	all.duplicate_of = 1;
	all.content_duplicate_of = 1;
	all.archive = 1;
	all.action = "rename";
	all.new_mailbox = "Archiv2";
	all.service = "imap";
	all.session = "sess";
	all.reason = "archive folders can't be renamed";
	EXPECT_EQ(j.append(all, utc(2026, 11, 23, 9, 6, 0)), 2u);
	std::vector<std::string> lines = split_lines(read_file(jfile(d, 2026)));
	ASSERT_EQ(lines.size(), 2u);
	json p = json::parse(lines[1]);
	EXPECT_EQ(keys(p), (std::vector<std::string>{
				   "seq", "time", "event", "mailbox", "mailbox_guid",
				   "uidvalidity", "uid", "guid", "size", "sha256",
				   "imap_sha256", "content_sha256", "message_id", "internaldate", "duplicate_of",
				   "content_duplicate_of", "archive", "action", "new_mailbox", "service",
				   "session", "reason", "prev"}));
	EXPECT_EQ(p["time"], "2026-11-23T09:06:00.000000Z");
	EXPECT_EQ(p["prev"], sha256_oneshot(line1));

	// the reader's column order is the same (with the columns only other
	// events have before prev)
	std::vector<std::string> names;
	for (const char *const *n = tresor_journal_field_names(); *n != nullptr; n++)
		if (p.contains(*n))
			names.push_back(*n);
	EXPECT_EQ(names, keys(p));
}

TEST(Journal, AppendChainAndSeq)
{
	TempDir d;
	Journal j(d.path());
	for (std::uint32_t i = 1; i <= 20; i++)
		EXPECT_EQ(j.append(save_record(kGuid1, i, mail_hash(std::to_string(i))),
				   utc(2026, 3, 1, 12, 0, static_cast<int>(i))), i);
	std::vector<std::string> lines = split_lines(read_file(jfile(d, 2026)));
	ASSERT_EQ(lines.size(), 20u);
	expect_chain(lines);
	EXPECT_EQ(json::parse(lines[4])["uid"], 5);
}

TEST(Journal, InvalidUtf8IsReplaced)
{
	TempDir d;
	Journal j(d.path());
	Record r = save_record(kGuid1, 1, mail_hash("x"), "", "Rechn\xff" "ungen");
	r.message_id = std::string("<a\xc3@x>");
	ASSERT_EQ(j.append(r, utc(2026, 1, 1)), 1u);
	std::string line = split_lines(read_file(jfile(d, 2026)))[0];
	json p = json::parse(line); // valid UTF-8 JSON
	EXPECT_EQ(p["mailbox"], "Rechn\xef\xbf\xbdungen");
	EXPECT_EQ(p["message_id"], "<a\xef\xbf\xbd@x>");
	// control characters are escaped, so a line never breaks
	Record r2 = save_record(kGuid1, 2, mail_hash("y"), "", "a\nb");
	ASSERT_EQ(j.append(r2, utc(2026, 1, 1)), 2u);
	EXPECT_EQ(split_lines(read_file(jfile(d, 2026))).size(), 2u);
}

TEST(Journal, DirectoriesAndModes)
{
	TempDir d;
	std::string dir = d / "home/user/tresor";
	{
		Journal j(dir);
		j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 5, 5));
	}
	struct stat st;
	ASSERT_EQ(::stat(dir.c_str(), &st), 0);
	EXPECT_EQ(st.st_mode & 07777, 0700u);
	ASSERT_EQ(::stat((dir + "/journal").c_str(), &st), 0);
	EXPECT_EQ(st.st_mode & 07777, 0700u);
	ASSERT_EQ(::stat((dir + "/journal/2026.jsonl").c_str(), &st), 0);
	EXPECT_EQ(st.st_mode & 0777, 0600u);
	EXPECT_TRUE(exists(dir + "/journal/.lock"));
	EXPECT_TRUE(exists(dir + "/catalog.sqlite"));

	char err[256];
	EXPECT_EQ(tresor_journal_open("relative/dir", err, sizeof(err)), nullptr);
	EXPECT_STREQ(err, "journal directory 'relative/dir' is not an absolute path");
	write_file(d / "file", "x");
	EXPECT_EQ(tresor_journal_open((d / "file/sub").c_str(), err, sizeof(err)), nullptr);
	EXPECT_NE(std::string(err).find("file"), std::string::npos) << err;
}

TEST(Journal, ReentrantLockAndContention)
{
	TempDir d;
	Journal a(d.path()), b(d.path());
	a.lock(0);
	a.lock(0); // reentrant
	EXPECT_EQ(a.lock_depth(), 2u);
	auto t0 = std::chrono::steady_clock::now();
	try {
		b.lock(150);
		FAIL() << "second Journal got the lock";
	} catch (const std::runtime_error &e) {
		EXPECT_NE(std::string(e.what()).find("timed out after 150 ms waiting for the journal lock"),
			  std::string::npos) << e.what();
	}
	EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(150));
	a.unlock();
	EXPECT_THROW(b.lock(0), std::runtime_error); // still held once
	// append takes the (reentrant) lock itself while a holds it
	EXPECT_EQ(a.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 1, 1)), 1u);
	EXPECT_EQ(a.lock_depth(), 1u);
	a.unlock();
	EXPECT_EQ(a.lock_depth(), 0u);
	b.lock(0);
	EXPECT_EQ(b.append(save_record(kGuid1, 2, mail_hash("2")), utc(2026, 1, 1)), 2u);
	b.unlock();
	a.unlock(); // unbalanced unlock is harmless
	EXPECT_EQ(a.lock_depth(), 0u);
}

TEST(Journal, LockViaCApi)
{
	TempDir d;
	char err[256];
	tresor_journal *a = tresor_journal_open(d.path().c_str(), err, sizeof(err));
	tresor_journal *b = tresor_journal_open(d.path().c_str(), err, sizeof(err));
	ASSERT_NE(a, nullptr);
	ASSERT_NE(b, nullptr);
	EXPECT_EQ(tresor_journal_lock(a, 0, err, sizeof(err)), 0);
	EXPECT_EQ(tresor_journal_lock(a, 0, err, sizeof(err)), 0);
	EXPECT_EQ(tresor_journal_lock(b, 50, err, sizeof(err)), -1);
	EXPECT_EQ(std::string(err),
		  "timed out after 50 ms waiting for the journal lock " + d.path() +
			  "/journal/.lock (another process holds it)");
	tresor_journal_unlock(a);
	tresor_journal_unlock(a);
	EXPECT_EQ(tresor_journal_lock(b, 50, err, sizeof(err)), 0);
	tresor_journal_unlock(b);
	tresor_journal_close(a);
	tresor_journal_close(b);
}

TEST(Journal, ProcessesAppendConcurrently)
{
	TempDir d;
	constexpr int kChildren = 8, kAppends = 50;
	std::vector<pid_t> pids;
	for (int c = 0; c < kChildren; c++) {
		pid_t pid = ::fork();
		ASSERT_GE(pid, 0);
		if (pid == 0) {
			int rc = 0;
			try {
				Journal j(d.path());
				for (int i = 0; i < kAppends; i++) {
					Record r = save_record(kGuid1, static_cast<std::uint32_t>(c * 1000 + i + 1),
							       mail_hash(std::to_string(c * 1000 + i)));
					r.session = "child" + std::to_string(c);
					if (j.append(r) == 0)
						rc = 1;
				}
			} catch (...) {
				rc = 2;
			}
			::_exit(rc);
		}
		pids.push_back(pid);
	}
	for (pid_t pid : pids) {
		int status = 0;
		ASSERT_EQ(::waitpid(pid, &status, 0), pid);
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
	}
	std::vector<std::string> lines;
	for (const auto &f : tresor::list_journal_files(d.path())) {
		auto l = split_lines(read_file(f.path));
		lines.insert(lines.end(), l.begin(), l.end());
	}
	ASSERT_EQ(lines.size(), static_cast<std::size_t>(kChildren * kAppends));
	expect_chain(lines);
	// every append is there once, each child's in its own order
	std::map<int, int> last;
	std::set<std::uint32_t> uids;
	for (const std::string &l : lines) {
		json p = json::parse(l);
		auto uid = p["uid"].get<std::uint32_t>();
		EXPECT_TRUE(uids.insert(uid).second);
		int child = static_cast<int>((uid - 1) / 1000), i = static_cast<int>((uid - 1) % 1000);
		auto it = last.find(child);
		EXPECT_EQ(i, it == last.end() ? 0 : it->second + 1);
		last[child] = i;
	}
	tresor::Verifier v(d.path());
	EXPECT_EQ(v.problems().size(), 0u);
	EXPECT_EQ(v.head_seq(), 400u);
	// the catalog kept up with all of them
	Journal j(d.path());
	auto dup = j.find_duplicate(kGuid1, mail_hash("7003"), false);
	ASSERT_TRUE(dup.has_value());
	EXPECT_EQ(dup->uid, 7004u);
	EXPECT_EQ(j.catalog_stats().rebuilds, 0u);
}

// A commit reads the journal's head once for its intent and uses it for
// its append; another writer in between two commits must be seen.
TEST(Journal, EachHoldOfTheLockSeesTheOtherWritersLines)
{
	TempDir d;
	Journal a(d.path()), b(d.path());
	std::uint32_t uid = 0;
	for (int round = 0; round < 3; round++) {
		for (Journal *j : {&a, &b}) {
			j->lock(1000);
			Record announced = save_record(kGuid1, 0, mail_hash(std::to_string(++uid)));
			j->write_intent({announced});
			Record saved = announced;
			saved.uid = uid;
			EXPECT_EQ(j->append(saved, utc(2026, 3, 1)), uid);
			j->end_intent();
			j->unlock();
		}
	}
	// a new year's file created by the intent, appended to in that hold
	a.lock(1000);
	a.write_intent({save_record(kGuid1, 0, mail_hash("new year"))});
	EXPECT_EQ(a.append(save_record(kGuid1, ++uid, mail_hash("new year")), utc(2027, 1, 1)),
		  uid);
	a.end_intent();
	a.unlock();
	EXPECT_EQ(b.append(save_record(kGuid1, ++uid, mail_hash("after")), utc(2027, 1, 2)), uid);
	EXPECT_EQ(tresor::list_journal_files(d.path()).size(), 2u);
	std::vector<std::string> lines;
	for (const auto &f : tresor::list_journal_files(d.path())) {
		auto l = split_lines(read_file(f.path));
		lines.insert(lines.end(), l.begin(), l.end());
	}
	ASSERT_EQ(lines.size(), uid);
	expect_chain(lines);
	tresor::Verifier v(d.path());
	EXPECT_EQ(v.problems().size(), 0u);
	EXPECT_EQ(v.head_seq(), uid);
}

TEST(Journal, YearRollover)
{
	TempDir d;
	Journal j(d.path());
	EXPECT_EQ(j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 12, 31, 23, 59, 59, 999999)), 1u);
	EXPECT_EQ(j.append(save_record(kGuid1, 2, mail_hash("2")), utc(2027, 1, 1, 0, 0, 0, 1)), 2u);
	EXPECT_EQ(j.append(save_record(kGuid1, 3, mail_hash("3")), utc(2027, 1, 1, 0, 0, 1)), 3u);
	auto l2026 = split_lines(read_file(jfile(d, 2026)));
	auto l2027 = split_lines(read_file(jfile(d, 2027)));
	ASSERT_EQ(l2026.size(), 1u);
	ASSERT_EQ(l2027.size(), 2u);
	EXPECT_EQ(json::parse(l2026[0])["time"], "2026-12-31T23:59:59.999999Z");
	EXPECT_EQ(json::parse(l2027[0])["time"], "2027-01-01T00:00:00.000001Z");
	// the first line of the new year's file chains to the old file's last
	EXPECT_EQ(json::parse(l2027[0])["prev"], sha256_oneshot(l2026[0]));
	expect_chain({l2026[0], l2027[0], l2027[1]});
	tresor::Verifier v(d.path());
	EXPECT_EQ(v.problems().size(), 0u);
}

TEST(Journal, ClockGoingBackwards)
{
	TempDir d;
	Journal j(d.path());
	j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 12, 31, 23, 0, 0));
	j.append(save_record(kGuid1, 2, mail_hash("2")), utc(2027, 1, 1, 0, 0, 5));
	// the clock jumps back into 2026: the record goes to the newest file
	EXPECT_EQ(j.append(save_record(kGuid1, 3, mail_hash("3")), utc(2026, 12, 31, 23, 59, 0)), 3u);
	auto l2026 = split_lines(read_file(jfile(d, 2026)));
	auto l2027 = split_lines(read_file(jfile(d, 2027)));
	ASSERT_EQ(l2026.size(), 1u);
	ASSERT_EQ(l2027.size(), 2u);
	EXPECT_EQ(json::parse(l2027[1])["time"], "2026-12-31T23:59:00.000000Z");
	expect_chain({l2026[0], l2027[0], l2027[1]});

	// never an older file than the newest one
	TempDir d2;
	Journal j2(d2.path());
	j2.append(save_record(kGuid1, 1, mail_hash("1")), utc(2027, 6, 1));
	j2.append(save_record(kGuid1, 2, mail_hash("2")), utc(2025, 6, 1));
	EXPECT_FALSE(exists(jfile(d2, 2025)));
	EXPECT_EQ(split_lines(read_file(jfile(d2, 2027))).size(), 2u);
}

TEST(Journal, TornLastLineIsTruncated)
{
	TempDir d;
	Journal j(d.path());
	j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 2, 1));
	j.append(save_record(kGuid1, 2, mail_hash("2")), utc(2026, 2, 2));
	std::string before = read_file(jfile(d, 2026));
	append_file(jfile(d, 2026), "{\"seq\":3,\"time\":\"2026-02-03T00:00:00.0000");
	EXPECT_EQ(tresor::read_journal_head(d.path()).seq, 2u); // the fragment is no record
	EXPECT_EQ(j.append(save_record(kGuid1, 3, mail_hash("3")), utc(2026, 2, 3)), 3u);
	std::string after = read_file(jfile(d, 2026));
	ASSERT_EQ(after.substr(0, before.size()), before);
	auto lines = split_lines(after);
	ASSERT_EQ(lines.size(), 3u);
	EXPECT_EQ(after.back(), '\n');
	expect_chain(lines);
	EXPECT_EQ(tresor::Verifier(d.path()).problems().size(), 0u);
}

TEST(Journal, TornFirstLineOfNewYearFile)
{
	TempDir d;
	Journal j(d.path());
	j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 12, 31));
	write_file(jfile(d, 2027), "{\"seq\":2,\"ti");
	EXPECT_EQ(j.append(save_record(kGuid1, 2, mail_hash("2")), utc(2027, 1, 1)), 2u);
	auto l2026 = split_lines(read_file(jfile(d, 2026)));
	auto l2027 = split_lines(read_file(jfile(d, 2027)));
	ASSERT_EQ(l2027.size(), 1u);
	expect_chain({l2026[0], l2027[0]});
}

TEST(Journal, FailedWriteLeavesFileUnchanged)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 4, 1));
	}
	std::string before = read_file(jfile(d, 2026));
	pid_t pid = ::fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		// a file size limit just above the current size: the write is cut
		::signal(SIGXFSZ, SIG_IGN);
		struct rlimit rl;
		rl.rlim_cur = rl.rlim_max = before.size() + 10;
		if (::setrlimit(RLIMIT_FSIZE, &rl) < 0)
			::_exit(10);
		int rc = 1;
		try {
			Journal j(d.path());
			Record r = save_record(kGuid1, 2, mail_hash("2"));
			r.reason = std::string(500, 'r');
			j.append(r, utc(2026, 4, 2));
		} catch (const std::system_error &e) {
			rc = std::string(e.what()).find("write(") != std::string::npos ? 0 : 3;
		} catch (...) {
			rc = 4;
		}
		::_exit(rc);
	}
	int status = 0;
	ASSERT_EQ(::waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);
	EXPECT_EQ(read_file(jfile(d, 2026)), before);
	// and the next append goes on from there
	Journal j(d.path());
	EXPECT_EQ(j.append(save_record(kGuid1, 2, mail_hash("2")), utc(2026, 4, 3)), 2u);
	expect_chain(split_lines(read_file(jfile(d, 2026))));
}

TEST(Journal, UnparseableHeadStillChains)
{
	TempDir d;
	Journal j(d.path());
	j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 1, 1));
	j.append(save_record(kGuid1, 2, mail_hash("2")), utc(2026, 1, 2));
	append_file(jfile(d, 2026), "this is not json\n");
	// the damaged line counts as seq 3; the chain goes on through it
	EXPECT_EQ(j.append(save_record(kGuid1, 3, mail_hash("3")), utc(2026, 1, 3)), 4u);
	auto lines = split_lines(read_file(jfile(d, 2026)));
	ASSERT_EQ(lines.size(), 4u);
	EXPECT_EQ(json::parse(lines[3])["prev"], sha256_oneshot("this is not json"));
	tresor::Verifier v(d.path());
	ASSERT_EQ(v.problems().size(), 1u);
	EXPECT_EQ(v.problems()[0].seq, 3u);
	EXPECT_EQ(v.problems()[0].detail,
		  "2026.jsonl line 3: not a valid journal record (not a JSON object)");
}

TEST(Journal, AppendViaCApi)
{
	TempDir d;
	char err[256];
	tresor_journal *j = tresor_journal_open(d.path().c_str(), err, sizeof(err));
	ASSERT_NE(j, nullptr) << err;
	tresor_record r{};
	r.event = "save";
	r.mailbox = "INBOX";
	r.mailbox_guid = kGuid1.c_str();
	r.uid = 3;
	std::string h = mail_hash("c");
	r.sha256 = h.c_str();
	std::uint64_t seq = 0;
	ASSERT_EQ(tresor_journal_append(j, &r, &seq, err, sizeof(err)), 0) << err;
	EXPECT_EQ(seq, 1u);
	ASSERT_EQ(tresor_journal_append(j, &r, nullptr, err, sizeof(err)), 0) << err;

	tresor_record bad{};
	EXPECT_EQ(tresor_journal_append(j, &bad, &seq, err, sizeof(err)), -1);
	EXPECT_STREQ(err, "journal record without an event");
	EXPECT_EQ(seq, 1u);

	std::uint32_t uid = 0;
	EXPECT_EQ(tresor_journal_find_duplicate(j, kGuid1.c_str(), h.c_str(), 0, &seq, &uid, err,
						sizeof(err)), 1);
	EXPECT_EQ(seq, 1u);
	EXPECT_EQ(uid, 3u);
	EXPECT_EQ(tresor_journal_find_duplicate(j, kGuid2.c_str(), h.c_str(), 0, &seq, &uid, err,
						sizeof(err)), 0);
	EXPECT_EQ(tresor_journal_find_duplicate(j, nullptr, h.c_str(), 0, &seq, &uid, err,
						sizeof(err)), -1);
	tresor_journal_close(j);

	// the file holds exactly the two records
	auto lines = split_lines(read_file(d / "journal/" +
					   std::to_string(tresor::utc_year(std::chrono::system_clock::now())) +
					   ".jsonl"));
	ASSERT_EQ(lines.size(), 2u);
	expect_chain(lines);
	EXPECT_EQ(json::parse(lines[0]).contains("uidvalidity"), false);
	EXPECT_EQ(json::parse(lines[0]).contains("service"), false);
}

TEST(JournalReader, FieldsAsTextBrokenLinesAsErrorsAndTheStatus)
{
	TempDir d;
	Journal j(d.path());
	Record r = save_record(kGuid1, 7, mail_hash("7"));
	j.append(r, utc(2026, 12, 31, 10));
	Record e = expunge_record(kGuid1, 7);
	j.append(e, utc(2027, 1, 2, 10));
	append_file(jfile(d, 2027), "{broken\n");
	j.append(save_record(kGuid1, 8, mail_hash("8")), utc(2027, 1, 3));
	append_file(jfile(d, 2027), "{\"seq\":5,\"ti"); // interrupted write

	char err[256];
	tresor_journal_reader *rd = tresor_journal_reader_open(d.path().c_str(), err, sizeof(err));
	ASSERT_NE(rd, nullptr) << err;
	const char *const *v = nullptr;
	ASSERT_EQ(tresor_journal_reader_next(rd, &v, err, sizeof(err)), 1);
	EXPECT_STREQ(v[0], "1");
	EXPECT_STREQ(v[1], "2026-12-31T10:00:00.000000Z");
	EXPECT_STREQ(v[2], "save");
	EXPECT_STREQ(v[3], "INBOX");
	EXPECT_STREQ(v[4], kGuid1.c_str());
	EXPECT_STREQ(v[5], "1700000000");
	EXPECT_STREQ(v[6], "7");
	EXPECT_STREQ(v[7], "");
	EXPECT_STREQ(v[8], "1007");
	EXPECT_STREQ(v[9], mail_hash("7").c_str());
	EXPECT_STREQ(v[10], ""); // no NUL bytes: BODY[] hashes to sha256
	EXPECT_STREQ(v[13], ""); // no internaldate: not an adopt record
	EXPECT_STREQ(v[16], ""); // not an archive folder
	EXPECT_STREQ(v[19], "lmtp");
	std::size_t columns = 0;
	while (tresor_journal_field_names()[columns] != nullptr)
		columns++;
	EXPECT_STREQ(tresor_journal_field_names()[columns - 1], "prev");
	EXPECT_STREQ(v[columns - 2], ""); // tsr: a seal's time stamp, not a save's
	EXPECT_STREQ(v[columns - 1], zero_hash.c_str());
	EXPECT_EQ(v[columns], nullptr);
	ASSERT_EQ(tresor_journal_reader_next(rd, &v, err, sizeof(err)), 1);
	EXPECT_STREQ(v[2], "expunge");
	EXPECT_STREQ(v[8], "");
	ASSERT_EQ(tresor_journal_reader_next(rd, &v, err, sizeof(err)), -1);
	EXPECT_STREQ(err, "2027.jsonl line 2: not a valid journal record (expected a JSON object)");
	ASSERT_EQ(tresor_journal_reader_next(rd, &v, err, sizeof(err)), 1);
	EXPECT_STREQ(v[0], "4");
	ASSERT_EQ(tresor_journal_reader_next(rd, &v, err, sizeof(err)), -1);
	EXPECT_STREQ(err, "2027.jsonl line 4: incomplete line (no line end: a write was "
			  "interrupted, the record was never acknowledged)");
	EXPECT_EQ(tresor_journal_reader_next(rd, &v, err, sizeof(err)), 0);
	EXPECT_EQ(tresor_journal_reader_next(rd, &v, err, sizeof(err)), 0);
	tresor_journal_reader_free(rd);

	tresor_journal_status st;
	ASSERT_EQ(tresor_journal_get_status(d.path().c_str(), &st, err, sizeof(err)), 0) << err;
	EXPECT_EQ(st.records, 4u);
	EXPECT_EQ(st.head_seq, 4u);
	auto l2027 = split_lines(read_file(jfile(d, 2027)));
	EXPECT_STREQ(st.head_sha256, sha256_oneshot(l2027[2]).c_str());
	EXPECT_EQ(std::string(st.files), jfile(d, 2026) + " " + jfile(d, 2027));
	// the head alone, without reading the journal: the same
	std::uint64_t head_seq = 0;
	char head_sha256[TRESOR_SHA256_HEX_SIZE];
	ASSERT_EQ(tresor_journal_head(d.path().c_str(), &head_seq, head_sha256, err,
				      sizeof(err)), 0) << err;
	EXPECT_EQ(head_seq, st.head_seq);
	EXPECT_STREQ(head_sha256, st.head_sha256);

	// no journal yet: empty, not an error
	TempDir empty;
	rd = tresor_journal_reader_open((empty / "none").c_str(), err, sizeof(err));
	ASSERT_NE(rd, nullptr);
	EXPECT_EQ(tresor_journal_reader_next(rd, &v, err, sizeof(err)), 0);
	tresor_journal_reader_free(rd);
	ASSERT_EQ(tresor_journal_get_status((empty / "none").c_str(), &st, err, sizeof(err)), 0);
	EXPECT_EQ(st.records, 0u);
	EXPECT_EQ(st.head_seq, 0u);
	EXPECT_STREQ(st.head_sha256, zero_hash.c_str());
	EXPECT_STREQ(st.files, "");
	ASSERT_EQ(tresor_journal_head((empty / "none").c_str(), &head_seq, head_sha256, err,
				      sizeof(err)), 0) << err;
	EXPECT_EQ(head_seq, 0u);
	EXPECT_STREQ(head_sha256, zero_hash.c_str());
	EXPECT_EQ(tresor_journal_head(nullptr, &head_seq, head_sha256, err, sizeof(err)), -1);
}

TEST(JournalFiles, OnlyYearFilesCount)
{
	TempDir d;
	Journal j(d.path());
	j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 1, 1));
	write_file(d / "journal/2026.jsonl.bak", "junk\n");
	write_file(d / "journal/99999.jsonl", "junk\n");
	write_file(d / "journal/abcd.jsonl", "junk\n");
	auto files = tresor::list_journal_files(d.path());
	ASSERT_EQ(files.size(), 1u);
	EXPECT_EQ(files[0].name, "2026.jsonl");
	EXPECT_EQ(files[0].year, 2026);
	EXPECT_EQ(j.append(save_record(kGuid1, 2, mail_hash("2")), utc(2026, 1, 2)), 2u);
	EXPECT_EQ(tresor::Verifier(d.path()).problems().size(), 0u);
}

TEST(Journal, BatchIsOneChainedWriteAndFillsDuplicates)
{
	TempDir d;
	Journal j(d.path());
	std::string h1 = mail_hash("1"), h2 = mail_hash("2");
	ASSERT_EQ(j.append(save_record(kGuid1, 1, h1), utc(2026, 3, 1)), 1u);

	std::vector<Record> batch = {
		save_record(kGuid1, 2, h2),  // new
		save_record(kGuid1, 3, h1),  // duplicate of seq 1 (catalog)
		save_record(kGuid1, 4, h2),  // duplicate of seq 2 (same batch)
		save_record(kGuid2, 1, h1),  // other mailbox: no duplicate
	};
	std::vector<std::uint64_t> seqs = j.append_batch(batch, utc(2026, 3, 2));
	EXPECT_EQ(seqs, (std::vector<std::uint64_t>{2, 3, 4, 5}));

	std::vector<std::string> raw = split_lines(read_file(jfile(d, 2026)));
	ASSERT_EQ(raw.size(), 5u);
	expect_chain(raw);
	auto rec = [&](std::size_t i) { return json::parse(raw[i]); };
	EXPECT_FALSE(rec(1).contains("duplicate_of"));
	EXPECT_EQ(rec(2)["duplicate_of"], 1);
	EXPECT_EQ(rec(3)["duplicate_of"], 2);
	EXPECT_FALSE(rec(4).contains("duplicate_of"));

	// an explicit duplicate_of is kept as given
	Record explicit_dup = save_record(kGuid1, 5, h1);
	explicit_dup.duplicate_of = 3;
	EXPECT_EQ(j.append(explicit_dup, utc(2026, 3, 3)), 6u);
	EXPECT_EQ(json::parse(split_lines(read_file(jfile(d, 2026))).back())["duplicate_of"], 3);

	// copies within one batch name its first copy, per mailbox, by the
	// mail's hash and by its content's
	std::string h3 = mail_hash("3"), c = mail_hash("content");
	std::vector<Record> batch2 = {
		save_record(kGuid2, 2, h3),                   // seq 7, new
		save_record(kGuid2, 3, h3),                   // 8: of 7
		save_record(kGuid2, 4, h3),                   // 9: of 7, not of 8
		save_record(kGuid1, 6, h3),                   // 10: other mailbox, new
		save_record(kGuid1, 7, mail_hash("7"), c),    // 11: content new
		save_record(kGuid1, 8, mail_hash("8"), c),    // 12: content of 11
		save_record(kGuid2, 5, mail_hash("9"), c),    // 13: other mailbox
	};
	EXPECT_EQ(j.append_batch(batch2, utc(2026, 3, 4)),
		  (std::vector<std::uint64_t>{7, 8, 9, 10, 11, 12, 13}));
	raw = split_lines(read_file(jfile(d, 2026)));
	ASSERT_EQ(raw.size(), 13u);
	expect_chain(raw);
	EXPECT_FALSE(rec(6).contains("duplicate_of"));
	EXPECT_EQ(rec(7)["duplicate_of"], 7);
	EXPECT_EQ(rec(8)["duplicate_of"], 7);
	EXPECT_FALSE(rec(9).contains("duplicate_of"));
	EXPECT_FALSE(rec(10).contains("content_duplicate_of"));
	EXPECT_EQ(rec(11)["content_duplicate_of"], 11);
	EXPECT_FALSE(rec(11).contains("duplicate_of"));
	EXPECT_FALSE(rec(12).contains("content_duplicate_of"));
}

TEST(Journal, UnflushedBatchIsWrittenAndFlushedLater)
{
	TempDir d;
	Journal j(d.path());
	j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 4, 1)); // creates the file
	{
		tresor::JournalLock outer(j, 1000);
		auto seqs = j.append_batch_unflushed({save_record(kGuid1, 2, mail_hash("2")),
						      save_record(kGuid1, 3, mail_hash("3"))},
						     utc(2026, 4, 2));
		EXPECT_EQ(seqs, (std::vector<std::uint64_t>{2, 3}));
	}
	j.flush();
	j.flush(); // nothing pending: no-op
	std::vector<std::string> lines = split_lines(read_file(jfile(d, 2026)));
	ASSERT_EQ(lines.size(), 3u);
	expect_chain(lines);
}

// ---------------------------------------------------- reading record fields

namespace {

// What the fields of a line are by definition: the full JSON parser and
// record_seq() / json_string() / json_uint().
tresor::RecordFields fields_by_json(const std::string &line)
{
	tresor::RecordFields f;
	auto j = tresor::parse_line(line);
	if (!j)
		return f;
	f.seq = tresor::record_seq(*j);
	f.event = tresor::json_string(*j, "event");
	f.mailbox = tresor::json_string(*j, "mailbox");
	f.mailbox_guid = tresor::json_string(*j, "mailbox_guid");
	f.uidvalidity = tresor::json_uint(*j, "uidvalidity");
	f.uid = tresor::json_uint(*j, "uid");
	f.guid = tresor::json_string(*j, "guid");
	f.sha256 = tresor::json_string(*j, "sha256");
	f.new_mailbox = tresor::json_string(*j, "new_mailbox");
	f.time = tresor::json_string(*j, "time");
	f.message_id = tresor::json_string(*j, "message_id");
	auto prev = j->find("prev");
	if (prev != j->end() && prev->is_string()) {
		f.has_prev = true;
		f.prev = prev->get<std::string>();
	}
	return f;
}

void expect_same_fields(const tresor::RecordFields &a, const tresor::RecordFields &b,
			const std::string &line)
{
	EXPECT_EQ(a.seq, b.seq) << line;
	EXPECT_EQ(a.event, b.event) << line;
	EXPECT_EQ(a.mailbox, b.mailbox) << line;
	EXPECT_EQ(a.mailbox_guid, b.mailbox_guid) << line;
	EXPECT_EQ(a.uidvalidity, b.uidvalidity) << line;
	EXPECT_EQ(a.uid, b.uid) << line;
	EXPECT_EQ(a.guid, b.guid) << line;
	EXPECT_EQ(a.sha256, b.sha256) << line;
	EXPECT_EQ(a.new_mailbox, b.new_mailbox) << line;
	EXPECT_EQ(a.time, b.time) << line;
	EXPECT_EQ(a.message_id, b.message_id) << line;
	EXPECT_EQ(a.has_prev, b.has_prev) << line;
	EXPECT_EQ(a.prev, b.prev) << line;
}

} // namespace

TEST(RecordFields, LinesTheJournalWritesTakeTheFastPath)
{
	TempDir d;
	Journal j(d.path());
	Record all;
	all.event = "rename";
	all.mailbox = "Archiv/\xc3\x84nderungen \"alt\"\\ \t\x01";
	all.mailbox_guid = kGuid2;
	all.uidvalidity = 4000000000u;
	all.uid = 4294967295u;
	all.guid = "g";
	all.size = 7;
	all.sha256 = std::string(64, 'a');
	all.content_sha256 = "c";
	all.message_id = "<\xe2\x82\xac\xf0\x9d\x84\x9e@x>";
	all.duplicate_of = 1;
	all.content_duplicate_of = 1;
	all.action = "rename";
	all.new_mailbox = "Archiv/Neu";
	all.service = "imap";
	all.session = "sess";
	all.reason = "line\nbreak";
	j.append(all, utc(2026, 11, 23, 9, 6, 0));
	j.append(save_record(kGuid1, 7, mail_hash("7")), utc(2026, 11, 23, 9, 7, 0));
	j.append(delete_record(kGuid1), utc(2026, 11, 23, 9, 8, 0));
	for (const std::string &line : split_lines(read_file(jfile(d, 2026)))) {
		tresor::RecordFields fast, full;
		ASSERT_TRUE(tresor::parse_flat_record_fields(line, fast)) << line;
		ASSERT_TRUE(tresor::parse_record_fields(line, full)) << line;
		expect_same_fields(fast, fields_by_json(line), line);
		expect_same_fields(full, fields_by_json(line), line);
	}
	tresor::RecordFields f;
	ASSERT_TRUE(tresor::parse_record_fields(split_lines(read_file(jfile(d, 2026)))[0], f));
	EXPECT_EQ(f.mailbox, *all.mailbox);
	EXPECT_EQ(f.uid, 4294967295u);
	EXPECT_EQ(f.new_mailbox, "Archiv/Neu");
	EXPECT_EQ(f.prev, zero_hash);
}

TEST(RecordFields, ValidJsonGivesTheSameFieldsEitherWay)
{
	const std::string valid[] = {
		// the fast path's own subset
		"{}",
		" \t{ \"seq\" : 1 , \"prev\" : \"p\" } \r",
		"{\"prev\":\"p\",\"uid\":3,\"seq\":2,\"mailbox_guid\":\"g\",\"event\":\"save\"}",
		"{\"seq\":\"2\",\"uid\":\"3\",\"prev\":4,\"event\":5}",
		"{\"seq\":18446744073709551615,\"uid\":0}",
		"{\"seq\":0}",
		"{\"mailbox\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e4\\u20ac\\u0000\"}",
		"{\"se\\u0071\":5,\"m\\u0061ilbox\":\"escaped key\"}",
		"{\"mailbox\":\"\xc3\xa4\xe2\x82\xac\xf0\x9d\x84\x9e\x7f\"}",
		"{\"other\":1,\"other\":\"twice\",\"seq\":1}",
		// left to the full parser, valid all the same
		"{\"seq\":1,\"x\":{\"nested\":[1,2]}}",
		"{\"seq\":1,\"flag\":true,\"none\":null,\"no\":false}",
		"{\"seq\":-1,\"uid\":-5}",
		"{\"seq\":1.0,\"uid\":2e3}",
		"{\"seq\":18446744073709551616}",
		"{\"mailbox\":\"\\ud834\\udd1e\"}",
		"{\"seq\":1,\"seq\":2}",
		"{\"prev\":\"a\",\"prev\":\"b\"}",
		"\xef\xbb\xbf{\"seq\":1}",
		// the JSON parser takes a NUL byte for the end of its input
		std::string("{\"seq\":1}\0 anything", 20),
	};
	for (const std::string &line : valid) {
		ASSERT_TRUE(tresor::parse_line(line).has_value()) << "test case is JSON: " << line;
		tresor::RecordFields f;
		ASSERT_TRUE(tresor::parse_record_fields(line, f)) << line;
		expect_same_fields(f, fields_by_json(line), line);
		tresor::RecordFields fast;
		if (tresor::parse_flat_record_fields(line, fast))
			expect_same_fields(fast, fields_by_json(line), line);
	}
	tresor::RecordFields f;
	EXPECT_TRUE(tresor::parse_flat_record_fields(valid[1], f));
	EXPECT_TRUE(tresor::parse_flat_record_fields(valid[6], f));
	EXPECT_EQ(f.mailbox, std::string("\"\\/\b\f\n\r\tA\xc3\xa4\xe2\x82\xac\0", 15));
	EXPECT_FALSE(tresor::parse_flat_record_fields(valid[10], f));
	EXPECT_FALSE(tresor::parse_flat_record_fields(valid[16], f));
}

TEST(RecordFields, MalformedLinesAreRejected)
{
	const std::string malformed[] = {
		"",
		"garbage",
		"[1,2]",
		"\"seq\"",
		"{",
		"{\"seq\":1",
		"{\"seq\":1,}",
		"{,\"seq\":1}",
		"{\"seq\" 1}",
		"{\"seq\":}",
		"{seq:1}",
		"{'seq':1}",
		"{\"seq\":01}",
		"{\"seq\":1} x",
		"{\"seq\":1}{}",
		"{\"seq\":1x}",
		"{\"mailbox\":\"unterminated}",
		"{\"mailbox\":\"raw\x01control\"}",
		"{\"mailbox\":\"raw\ttab\"}",
		"{\"mailbox\":\"bad escape \\x\"}",
		"{\"mailbox\":\"short \\u12\"}",
		"{\"mailbox\":\"bad hex \\u12G4\"}",
		"{\"mailbox\":\"lone \\ud834\"}",
		"{\"mailbox\":\"lone low \\udd1e\"}",
		"{\"mailbox\":\"\xc3\x28\"}",         // bad continuation
		"{\"mailbox\":\"\xc0\xaf\"}",         // overlong
		"{\"mailbox\":\"\xe0\x80\xaf\"}",     // overlong
		"{\"mailbox\":\"\xed\xa0\x80\"}",     // encoded surrogate
		"{\"mailbox\":\"\xf4\x90\x80\x80\"}", // beyond U+10FFFF
		"{\"mailbox\":\"\xe2\x82\"}",         // truncated
		"{\"mailbox\":\"\x80\"}",             // lone continuation byte
		"{\"mailbox\":\"\xff\"}",
		std::string("{\"seq\":1\0}", 10),
		std::string("\0{\"seq\":1}", 10),
	};
	for (const std::string &line : malformed) {
		ASSERT_FALSE(tresor::parse_line(line).has_value()) << "test case is not JSON: " << line;
		tresor::RecordFields f;
		f.seq = 99; // must not leak into a rejected line
		EXPECT_FALSE(tresor::parse_flat_record_fields(line, f)) << line;
		EXPECT_FALSE(tresor::parse_record_fields(line, f)) << line;
	}
}

// ---- intents: a commit of the mail store in progress

namespace {

std::string intent_of(const TempDir &d)
{
	return d / "intent.jsonl";
}

// Whether an intent is pending: the file is marked ended in place, not
// removed, when its commit ends.
bool intent_pending(const TempDir &d)
{
	if (!exists(intent_of(d)))
		return false;
	std::string text = read_file(intent_of(d));
	return !text.empty() && text[0] != '#';
}

// A save as the glue announces it before the commit: no UID yet.
Record announced_save(const std::string &guid, const std::string &sha256)
{
	Record r = save_record(kGuid1, 0, sha256);
	r.uidvalidity = 0;
	if (!guid.empty())
		r.guid = guid;
	r.message_id = "<" + guid + "@example.com>";
	return r;
}

// A new holder of the lock finds no left-over intent to journal.
void expect_lock_recovers_nothing(Journal &j)
{
	j.lock(1000);
	EXPECT_EQ(j.last_recovered_count(), 0u);
	EXPECT_EQ(j.last_recovery_error(), "");
	j.unlock();
}

std::vector<json> records_of(const TempDir &d)
{
	std::vector<json> out;
	for (const auto &f : tresor::list_journal_files(d.path()))
		for (const std::string &line : split_lines(read_file(f.path)))
			out.push_back(json::parse(line));
	return out;
}

} // namespace

TEST(JournalIntent, TheAppendEndsIt)
{
	TempDir d;
	Journal j(d.path());
	j.lock(1000);
	j.write_intent({announced_save("g1", mail_hash("1")), expunge_record(kGuid1, 9)});
	ASSERT_TRUE(intent_pending(d));
	auto lines = split_lines(read_file(intent_of(d)));
	ASSERT_EQ(lines.size(), 3u); // where the journal stood, then the records
	EXPECT_EQ(json::parse(lines[0])["seq"], 0);
	EXPECT_EQ(json::parse(lines[1])["guid"], "g1");
	Record saved = announced_save("g1", mail_hash("1"));
	saved.uid = 4;
	j.append_batch({saved, expunge_record(kGuid1, 9)}, utc(2026, 5, 1));
	j.end_intent();
	EXPECT_FALSE(intent_pending(d));
	j.unlock();
	Journal j2(d.path());
	expect_lock_recovers_nothing(j2);
	EXPECT_EQ(records_of(d).size(), 2u);
}

TEST(JournalIntent, LeftBehindItIsJournaledAsInterrupted)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, mail_hash("0")), utc(2026, 5, 1));
		j.lock(1000);
		Record s = announced_save("g1", mail_hash("1"));
		s.session = "sess-1";
		j.write_intent({s, expunge_record(kGuid1, 1)});
		// the process dies here: after the commit, before the append
	}
	ASSERT_TRUE(intent_pending(d));
	Journal j(d.path());
	j.lock(1000);
	EXPECT_EQ(j.last_recovered_count(), 2u);
	EXPECT_EQ(j.last_recovery_error(), "");
	j.unlock();
	EXPECT_FALSE(intent_pending(d));
	auto recs = records_of(d);
	ASSERT_EQ(recs.size(), 3u);
	EXPECT_EQ(recs[1]["event"], "interrupted");
	EXPECT_EQ(recs[1]["action"], "save");
	EXPECT_EQ(recs[1]["guid"], "g1");
	EXPECT_EQ(recs[1]["sha256"], mail_hash("1"));
	EXPECT_EQ(recs[1]["message_id"], "<g1@example.com>");
	EXPECT_EQ(recs[1]["session"], "sess-1");
	EXPECT_EQ(recs[1]["mailbox_guid"], kGuid1);
	EXPECT_FALSE(recs[1].contains("uid"));
	EXPECT_NE(recs[1]["reason"].get<std::string>().find("may or may not have been stored"),
		  std::string::npos);
	EXPECT_EQ(recs[2]["event"], "interrupted");
	EXPECT_EQ(recs[2]["action"], "expunge");
	EXPECT_EQ(recs[2]["uid"], 1);
	expect_chain(split_lines(read_file(jfile(d, 2026))));

	// once journaled, never again
	Journal j2(d.path());
	expect_lock_recovers_nothing(j2);
	EXPECT_EQ(records_of(d).size(), 3u);
}

TEST(JournalIntent, WhatWasJournaledIsNotJournaledAgain)
{
	TempDir d;
	Journal j(d.path());
	j.append(save_record(kGuid1, 1, mail_hash("0")), utc(2026, 5, 1));
	j.lock(1000);
	// two identical mails announced without GUID (known only after the
	// commit), one with: the process died after appending two of them
	Record same1 = announced_save("", mail_hash("same"));
	Record same2 = announced_save("", mail_hash("same"));
	Record other = announced_save("g3", mail_hash("3"));
	j.write_intent({same1, same2, other});
	std::string intent = read_file(intent_of(d));
	Record s1 = same1;
	s1.uid = 2;
	s1.guid = "looked-up-later";
	Record s3 = other;
	s3.uid = 4;
	j.append_batch({s1, s3}, utc(2026, 5, 2));
	// the process dies before ending the intent
	j.unlock();
	EXPECT_EQ(read_file(intent_of(d)), intent);

	Journal j2(d.path());
	j2.lock(1000);
	EXPECT_EQ(j2.last_recovered_count(), 1u);
	j2.unlock();
	auto recs = records_of(d);
	ASSERT_EQ(recs.size(), 4u);
	EXPECT_EQ(recs[3]["event"], "interrupted");
	EXPECT_EQ(recs[3]["sha256"], mail_hash("same"));
	EXPECT_FALSE(recs[3].contains("guid"));
	EXPECT_FALSE(intent_pending(d));
}

TEST(JournalIntent, TheJournalChangedBelowTheIntent)
{
	// the line the intent names is not there any more (the journal was
	// restored from a backup): the whole journal is searched
	TempDir d;
	Journal j(d.path());
	Record s = save_record(kGuid1, 5, mail_hash("5"));
	s.guid = "g5";
	j.append(s, utc(2026, 5, 1));
	j.append(save_record(kGuid1, 6, mail_hash("x")), utc(2026, 5, 1));
	std::uint64_t end = read_file(jfile(d, 2026)).size();
	write_file(intent_of(d),
		   "{\"intent\":1,\"file\":\"2026.jsonl\",\"offset\":" + std::to_string(end) +
		   ",\"seq\":0,\"hash\":\"" + mail_hash("not that line") + "\"}\n"
		   "{\"event\":\"save\",\"mailbox_guid\":\"" + kGuid1 + "\",\"guid\":\"g5\","
		   "\"sha256\":\"" + mail_hash("5") + "\"}\n"
		   "{\"event\":\"save\",\"mailbox_guid\":\"" + kGuid1 + "\",\"guid\":\"g6\","
		   "\"sha256\":\"" + mail_hash("6") + "\"}\n");
	j.lock(1000);
	EXPECT_EQ(j.last_recovered_count(), 1u); // g5 was journaled
	j.unlock();
	auto recs = records_of(d);
	ASSERT_EQ(recs.size(), 3u);
	EXPECT_EQ(recs[2]["guid"], "g6");
}

TEST(JournalIntent, NestedCommits)
{
	// a commit within a commit (lazy_expunge copying expunged mails):
	// the inner one's records are added, the file goes with the outer end
	TempDir d;
	{
		Journal j(d.path());
		j.lock(1000);
		j.write_intent({expunge_record(kGuid1, 3)});
		j.write_intent({announced_save("inner", mail_hash("inner"))});
		Record inner = announced_save("inner", mail_hash("inner"));
		inner.uid = 1;
		j.append(inner, utc(2026, 5, 1));
		j.end_intent();
		EXPECT_TRUE(intent_pending(d));
		EXPECT_EQ(split_lines(read_file(intent_of(d))).size(), 3u);
		// the process dies before the outer append
	}
	Journal j(d.path());
	j.lock(1000);
	EXPECT_EQ(j.last_recovered_count(), 1u); // the expunge only
	j.unlock();
	auto recs = records_of(d);
	ASSERT_EQ(recs.size(), 2u);
	EXPECT_EQ(recs[1]["event"], "interrupted");
	EXPECT_EQ(recs[1]["action"], "expunge");

	j.lock(1000);
	j.write_intent({expunge_record(kGuid1, 4)});
	j.write_intent({announced_save("inner2", mail_hash("inner2"))});
	j.end_intent();
	j.end_intent();
	EXPECT_FALSE(intent_pending(d));
	j.end_intent(); // one too many: nothing
	j.unlock();
}

TEST(JournalIntent, AnEmptyIntentFileAnnouncesNothing)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, mail_hash("1")));
	}
	write_file(intent_of(d), "");
	Journal j(d.path());
	expect_lock_recovers_nothing(j);
	EXPECT_EQ(records_of(d).size(), 1u);
	// and the next commit's intent goes into the same file
	j.lock(1000);
	j.write_intent({announced_save("g2", mail_hash("2"))});
	EXPECT_TRUE(intent_pending(d));
	j.end_intent();
	EXPECT_FALSE(intent_pending(d));
	j.unlock();
}

// Each intent overwrites the last in place; what is left of a longer one
// must not be announced again.
TEST(JournalIntent, AShorterIntentAfterALongerOneAnnouncesOnlyItsOwn)
{
	TempDir d;
	Journal j(d.path());
	std::vector<Record> many;
	for (int i = 0; i < 5; i++)
		many.push_back(announced_save("long" + std::to_string(i),
					      mail_hash("long" + std::to_string(i))));
	j.lock(1000);
	j.write_intent(many);
	for (int i = 0; i < 5; i++) {
		Record saved = many[static_cast<std::size_t>(i)];
		saved.uid = static_cast<std::uint32_t>(i + 1);
		j.append(saved);
	}
	j.end_intent();
	j.unlock();
	std::size_t long_size = read_file(intent_of(d)).size();

	// a short one, and the process dies before the append
	{
		Journal dying(d.path());
		dying.lock(1000);
		dying.write_intent({announced_save("short", mail_hash("short"))});
		EXPECT_TRUE(intent_pending(d));
		EXPECT_EQ(read_file(intent_of(d)).size(), long_size); // padded
		dying.unlock();
	}
	Journal next(d.path());
	next.lock(1000);
	EXPECT_EQ(next.last_recovered_count(), 1u);
	next.unlock();
	auto recs = records_of(d);
	ASSERT_EQ(recs.size(), 6u);
	EXPECT_EQ(recs.back()["event"], "interrupted");
	EXPECT_EQ(recs.back()["guid"], "short");
	EXPECT_FALSE(intent_pending(d));

	// after an intent larger than a page (adopt's windows) the file is
	// cut first: no line of it may be read with a new one cut short
	std::vector<Record> window;
	for (int i = 0; i < 200; i++)
		window.push_back(announced_save("w" + std::to_string(i), mail_hash("w" + std::to_string(i))));
	next.lock(1000);
	next.write_intent(window);
	next.end_intent();
	std::size_t window_size = read_file(intent_of(d)).size();
	ASSERT_GT(window_size, 4096u);
	next.write_intent({announced_save("small", mail_hash("small"))});
	std::string small = read_file(intent_of(d));
	EXPECT_LT(small.size(), 4096u);
	EXPECT_EQ(small.find("\"w1"), std::string::npos) << small;
	next.end_intent();
	next.unlock();
	EXPECT_FALSE(intent_pending(d));
}

TEST(JournalIntent, CancelledOrDamagedLeavesNoRecord)
{
	TempDir d;
	Journal j(d.path());
	j.lock(1000);
	j.write_intent({announced_save("g1", mail_hash("1"))});
	j.end_intent(); // the commit failed: nothing stored
	EXPECT_FALSE(intent_pending(d));
	j.unlock();

	// garbage, and a last line cut off by the writer's death
	write_file(intent_of(d), "\x01garbage\n[1,2]\n{\"event\":\"save\",\"mailbox_guid\":\"x");
	expect_lock_recovers_nothing(j);
	EXPECT_FALSE(intent_pending(d));
	EXPECT_TRUE(records_of(d).empty());
}

TEST(JournalIntent, LeftBehindByAFailedAppendOfTheSameProcess)
{
	TempDir d;
	Journal j(d.path());
	j.lock(1000);
	j.write_intent({announced_save("g1", mail_hash("1"))});
	// the append failed (not simulated: nothing appended); the lock goes
	j.unlock();
	ASSERT_TRUE(intent_pending(d));
	// the next lock, in this process, journals it
	j.lock(1000);
	EXPECT_EQ(j.last_recovered_count(), 1u);
	j.unlock();
	auto recs = records_of(d);
	ASSERT_EQ(recs.size(), 1u);
	EXPECT_EQ(recs[0]["event"], "interrupted");
}

TEST(JournalIntent, NoRoomRefusesTheCommit)
{
	// (A file size limit doesn't stop fallocate(FALLOC_FL_KEEP_SIZE), so
	// here the intent's write fails; a full file system - test_faults.py -
	// stops the reservation.)
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 4, 1));
	}
	std::string before = read_file(jfile(d, 2026));
	pid_t pid = ::fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		// room for a few bytes only
		::signal(SIGXFSZ, SIG_IGN);
		struct rlimit rl;
		rl.rlim_cur = rl.rlim_max = before.size() + 10;
		if (::setrlimit(RLIMIT_FSIZE, &rl) < 0)
			::_exit(10);
		int rc = 1;
		try {
			Journal j(d.path());
			j.lock(1000);
			j.write_intent({announced_save("g2", mail_hash("2"))});
		} catch (const std::system_error &e) {
			std::string what = e.what();
			rc = what.find("fallocate(") != std::string::npos ||
					     what.find("write(" + intent_of(d) + ")") != std::string::npos
				     ? 0 : 3;
		} catch (...) {
			rc = 4;
		}
		::_exit(rc);
	}
	int status = 0;
	ASSERT_EQ(::waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);
	EXPECT_FALSE(intent_pending(d));
	EXPECT_EQ(read_file(jfile(d, 2026)), before);
}

TEST(JournalIntent, ViaCApi)
{
	TempDir d;
	char err[256];
	tresor_journal *j = tresor_journal_open(d.path().c_str(), err, sizeof(err));
	ASSERT_NE(j, nullptr) << err;
	ASSERT_EQ(tresor_journal_lock(j, 1000, err, sizeof(err)), 0) << err;
	tresor_record rec{};
	rec.event = "save";
	rec.mailbox = "INBOX";
	rec.mailbox_guid = kGuid1.c_str();
	std::string sha = mail_hash("c");
	rec.sha256 = sha.c_str();
	rec.guid = "gc";
	ASSERT_EQ(tresor_journal_write_intent(j, &rec, 1, err, sizeof(err)), 0) << err;
	EXPECT_TRUE(intent_pending(d));
	ASSERT_EQ(tresor_journal_end_intent(j, err, sizeof(err)), 0) << err;
	EXPECT_FALSE(intent_pending(d));
	ASSERT_EQ(tresor_journal_write_intent(j, &rec, 1, err, sizeof(err)), 0) << err;
	tresor_journal_unlock(j); // not ended: left behind
	ASSERT_EQ(tresor_journal_lock(j, 1000, err, sizeof(err)), 0) << err;
	std::uint64_t n = 0;
	EXPECT_STREQ(tresor_journal_last_recovery(j, &n), "");
	EXPECT_EQ(n, 1u);
	tresor_journal_unlock(j);
	tresor_journal_close(j);
	EXPECT_EQ(tresor_journal_write_intent(nullptr, &rec, 1, err, sizeof(err)), -1);
}
