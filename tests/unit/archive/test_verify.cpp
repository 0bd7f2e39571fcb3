// Verification: chain problems for removed, edited, reordered and inserted
// lines; expected mails against what the glue observes in the store.
#include <gtest/gtest.h>

#include <malloc.h>
#include <pthread.h>

#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "archive/journal.hpp"
#include "archive/tresor.h"
#include "archive/verify.hpp"
#include "test_util.hpp"

using namespace testutil;
using tresor::Journal;
using tresor::Problem;
using tresor::ProblemKind;
using tresor::Record;
using tresor::Verifier;

namespace {

const std::string kPrevMismatch =
	"prev does not match the hash of the previous line (a line was removed, "
	"inserted, reordered or edited)";

std::string j2026(const TempDir &d)
{
	return d / "journal/2026.jsonl";
}

// Five saves of uid 1..5 in kGuid1 (sha256 mail_hash(uid)), in 2026.
void five_saves(const TempDir &d)
{
	Journal j(d.path());
	for (std::uint32_t i = 1; i <= 5; i++)
		j.append(save_record(kGuid1, i, mail_hash(std::to_string(i))),
			 utc(2026, 3, 1, 8, 0, static_cast<int>(i)));
}

std::vector<std::string> lines_of(const TempDir &d)
{
	return split_lines(read_file(j2026(d)));
}

void rewrite(const TempDir &d, const std::vector<std::string> &lines)
{
	write_file(j2026(d), join_lines(lines));
}

// One member of every problem, in order.
template <class T>
std::vector<T> each(const std::vector<Problem> &ps, T Problem::*member)
{
	std::vector<T> out;
	for (const Problem &p : ps)
		out.push_back(p.*member);
	return out;
}

std::vector<std::uint64_t> seqs(const std::vector<Problem> &ps)
{
	return each(ps, &Problem::seq);
}

} // namespace

TEST(Verify, IntactJournal)
{
	TempDir d;
	five_saves(d);
	Verifier v(d.path());
	EXPECT_TRUE(v.problems().empty());
	EXPECT_EQ(v.head_seq(), 5u);
	EXPECT_EQ(v.lines(), 5u);
	EXPECT_EQ(v.expected_count(), 5u);
	EXPECT_TRUE(v.mailbox_expected(kGuid1));
	EXPECT_FALSE(v.mailbox_expected(kGuid2));
	v.mailbox_seen(kGuid1, "INBOX", 1700000000);
	for (std::uint32_t i = 1; i <= 5; i++)
		v.observe(kGuid1, "INBOX", i, mail_hash(std::to_string(i)), true);
	v.finish(false);
	EXPECT_TRUE(v.problems().empty());
	EXPECT_EQ(v.checked_count(), 5u);
}

TEST(Verify, RemovedLine)
{
	TempDir d;
	five_saves(d);
	auto lines = lines_of(d);
	lines.erase(lines.begin() + 2); // seq 3
	rewrite(d, lines);
	Verifier v(d.path());
	ASSERT_EQ(v.problems().size(), 1u);
	const Problem &p = v.problems()[0];
	EXPECT_EQ(p.kind, ProblemKind::Chain);
	EXPECT_EQ(p.seq, 4u);
	EXPECT_EQ(p.mailbox, "INBOX");
	EXPECT_EQ(p.mailbox_guid, kGuid1);
	EXPECT_EQ(p.uid, 4u);
	EXPECT_EQ(p.detail, "2026.jsonl line 3: seq 4 where 3 was expected; " + kPrevMismatch);
}

TEST(Verify, EditedLine)
{
	TempDir d;
	five_saves(d);
	auto lines = lines_of(d);
	std::string h3 = mail_hash("3");
	lines[2].replace(lines[2].find(h3), h3.size(), mail_hash("forged"));
	rewrite(d, lines);
	Verifier v(d.path());
	ASSERT_EQ(v.problems().size(), 1u);
	EXPECT_EQ(v.problems()[0].seq, 4u); // the next line notices
	EXPECT_EQ(v.problems()[0].detail, "2026.jsonl line 4: " + kPrevMismatch);
}

TEST(Verify, SwappedLines)
{
	TempDir d;
	five_saves(d);
	auto lines = lines_of(d);
	std::swap(lines[2], lines[3]);
	rewrite(d, lines);
	Verifier v(d.path());
	EXPECT_EQ(seqs(v.problems()), (std::vector<std::uint64_t>{3, 4, 5}));
	EXPECT_EQ(v.problems()[0].detail,
		  "2026.jsonl line 4: seq 3 where 5 was expected; " + kPrevMismatch);
	EXPECT_EQ(v.problems()[1].detail,
		  "2026.jsonl line 3: seq 4 where 3 was expected; " + kPrevMismatch);
	EXPECT_EQ(v.problems()[2].detail,
		  "2026.jsonl line 5: seq 5 where 4 was expected; " + kPrevMismatch);
}

TEST(Verify, InsertedLine)
{
	TempDir d;
	five_saves(d);
	auto lines = lines_of(d);
	// a forged record that fits after line 2
	Record r = save_record(kGuid1, 99, mail_hash("99"));
	std::string forged = tresor::dump_line(
		tresor::record_json(r, 3, utc(2026, 3, 1, 8, 0, 2, 500), sha256_oneshot(lines[1])));
	lines.insert(lines.begin() + 2, forged);
	rewrite(d, lines);
	Verifier v(d.path());
	ASSERT_EQ(v.problems().size(), 1u);
	EXPECT_EQ(v.problems()[0].seq, 3u);
	EXPECT_EQ(v.problems()[0].detail,
		  "2026.jsonl line 4: seq 3 where 4 was expected; " + kPrevMismatch);
}

TEST(Verify, GarbageLine)
{
	TempDir d;
	five_saves(d);
	auto lines = lines_of(d);
	lines[1] = "garbage";
	rewrite(d, lines);
	Verifier v(d.path());
	ASSERT_EQ(v.problems().size(), 2u);
	EXPECT_EQ(v.problems()[0].seq, 2u);
	EXPECT_EQ(v.problems()[0].detail,
		  "2026.jsonl line 2: not a valid journal record (not a JSON object)");
	EXPECT_EQ(v.problems()[1].seq, 3u);
	EXPECT_EQ(v.problems()[1].detail, "2026.jsonl line 3: " + kPrevMismatch);
	lines[1] = "{\"seq\":\"2\"}";
	rewrite(d, lines);
	Verifier v2(d.path());
	ASSERT_EQ(v2.problems().size(), 2u);
	EXPECT_EQ(v2.problems()[0].detail,
		  "2026.jsonl line 2: not a valid journal record (seq is missing or not a "
		  "number); prev is missing");
}

TEST(Verify, RemovedLastLine)
{
	TempDir d;
	five_saves(d);
	auto lines = lines_of(d);
	lines.pop_back();
	rewrite(d, lines);
	// the chain alone can't tell; the catalog remembers seq 5
	Verifier v(d.path());
	ASSERT_EQ(v.problems().size(), 1u);
	EXPECT_EQ(v.problems()[0].kind, ProblemKind::Chain);
	EXPECT_EQ(v.problems()[0].seq, 5u);
	EXPECT_EQ(v.problems()[0].detail,
		  "the journal ends at seq 4, but the catalog had already recorded seq 5: "
		  "the last 1 record was removed from the end of the journal (or it was "
		  "replaced by an older copy)");
	// known before any mail is observed: adopt refuses to append over it
	EXPECT_TRUE(v.chain_broken());
	// without a catalog, the removal of the last line goes unnoticed
	for (const char *s : {"", "-wal", "-shm"})
		::unlink((d / "catalog.sqlite" + s).c_str());
	EXPECT_TRUE(Verifier(d.path()).problems().empty());
	EXPECT_FALSE(Verifier(d.path()).chain_broken());
}

TEST(Verify, RemovedJournalIsABrokenChain)
{
	TempDir d;
	five_saves(d);
	EXPECT_FALSE(Verifier(d.path()).chain_broken());
	// the whole journal gone, the catalog left: nothing may start afresh
	// over it as if the archive had been empty
	ASSERT_EQ(::unlink(j2026(d).c_str()), 0);
	Verifier v(d.path());
	EXPECT_TRUE(v.chain_broken());
	ASSERT_FALSE(v.problems().empty());
	EXPECT_EQ(v.problems()[0].kind, ProblemKind::Chain);
}

TEST(Verify, EditedLastLine)
{
	TempDir d;
	five_saves(d);
	auto lines = lines_of(d);
	std::string old_hash = sha256_oneshot(lines[4]);
	std::string h5 = mail_hash("5");
	lines[4].replace(lines[4].find(h5), h5.size(), mail_hash("forged"));
	rewrite(d, lines);
	Verifier v(d.path());
	ASSERT_EQ(v.problems().size(), 1u);
	EXPECT_EQ(v.problems()[0].seq, 5u);
	EXPECT_EQ(v.problems()[0].detail,
		  "the line with seq 5 differs from the one the catalog recorded when it was "
		  "written (sha256 " + old_hash + ", now " + sha256_oneshot(lines[4]) +
			  "): it was edited afterwards");
}

TEST(Verify, UnterminatedLastLine)
{
	TempDir d;
	five_saves(d);
	append_file(j2026(d), "{\"seq\":6,\"ti");
	Verifier v(d.path());
	ASSERT_EQ(v.problems().size(), 1u);
	EXPECT_EQ(v.problems()[0].seq, 6u);
	EXPECT_EQ(v.problems()[0].detail,
		  "2026.jsonl line 6: not a valid journal record (not a JSON object); the last "
		  "line is incomplete (no line end: a write was interrupted, the record was "
		  "never acknowledged)");
	// the next append repairs it
	Journal j(d.path());
	EXPECT_EQ(j.append(save_record(kGuid1, 6, mail_hash("6")), utc(2026, 3, 2)), 6u);
	EXPECT_TRUE(Verifier(d.path()).problems().empty());
}

TEST(Verify, RemovedYearFile)
{
	TempDir d;
	{
		Journal j(d.path());
		for (std::uint32_t i = 1; i <= 5; i++)
			j.append(save_record(kGuid1, i, mail_hash(std::to_string(i))),
				 i <= 3 ? utc(2026, 12, 31) : utc(2027, 1, 1));
	}
	ASSERT_EQ(::unlink(j2026(d).c_str()), 0);
	Verifier v(d.path());
	ASSERT_EQ(v.problems().size(), 1u);
	EXPECT_EQ(v.problems()[0].seq, 4u);
	EXPECT_EQ(v.problems()[0].detail,
		  "2027.jsonl line 1: seq 4 where 1 was expected; " + kPrevMismatch);
}

TEST(Verify, ExpectedMails)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 1, 1));
		j.append(save_record(kGuid1, 2, mail_hash("2")), utc(2026, 1, 1));
		j.append(save_record(kGuid1, 3, mail_hash("3")), utc(2026, 1, 1));
		j.append(expunge_record(kGuid1, 2), utc(2026, 1, 1));
		j.append(save_record(kGuid2, 1, mail_hash("b1"), "", "Belege"), utc(2026, 1, 1));
		j.append(save_record(kGuid2, 2, mail_hash("b2"), "", "Belege"), utc(2026, 1, 1));
		j.append(delete_record(kGuid2, "Belege"), utc(2026, 1, 1));
		j.append(save_record(kGuid3, 1, mail_hash("c1"), "", "Alt"), utc(2015, 1, 1));
		// a purge whose retention (10 years from the end of 2015) ended
		Record purge = expunge_record(kGuid3, 1, "purge");
		purge.extra.emplace_back("save_seq", 8);
		purge.extra.emplace_back("retention_rule", "*=10y");
		j.append(purge, utc(2026, 1, 1));
		Record dupl = save_record(kGuid1, 0, mail_hash("1"));
		dupl.event = "duplicate";
		j.append(dupl, utc(2026, 1, 1));
	}
	Verifier v(d.path());
	EXPECT_TRUE(v.problems().empty());
	EXPECT_EQ(v.expected_count(), 2u);
	EXPECT_TRUE(v.mailbox_expected(kGuid1));
	EXPECT_FALSE(v.mailbox_expected(kGuid2));
	EXPECT_FALSE(v.mailbox_expected(kGuid3));
	v.mailbox_seen(kGuid1, "INBOX", 1700000000);
	v.observe(kGuid1, "INBOX", 1, mail_hash("1"), true);
	v.observe(kGuid1, "INBOX", 3, mail_hash("3"), true);
	v.finish(false);
	EXPECT_TRUE(v.problems().empty());
	EXPECT_EQ(v.checked_count(), 2u);
}

TEST(Verify, ModifiedMissingUnjournaled)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, mail_hash("1"), "", "Rechnungen"), utc(2026, 1, 1));
		j.append(save_record(kGuid1, 2, mail_hash("2"), "", "Rechnungen"), utc(2026, 1, 1));
		j.append(save_record(kGuid1, 3, mail_hash("3"), "", "Rechnungen"), utc(2026, 1, 1));
		j.append(save_record(kGuid2, 1, mail_hash("b1"), "", "Belege"), utc(2026, 1, 1));
	}
	Verifier v(d.path());
	v.mailbox_seen(kGuid1, "Rechnungen", 1700000000);
	v.observe(kGuid1, "Rechnungen", 1, mail_hash("1"), true);
	v.observe(kGuid1, "Rechnungen", 2, mail_hash("changed"), true);
	v.observe(kGuid1, "Rechnungen", 2, mail_hash("changed"), true); // twice: once
	v.observe(kGuid1, "Rechnungen", 7, mail_hash("7"), true);
	v.observe(kGuid1, "Rechnungen", 8, mail_hash("8"), false); // not journaled: fine
	v.mailbox_seen(kGuid3, "Neu", 5);
	v.observe(kGuid3, "Neu", 1, mail_hash("n1"), true);
	v.finish(false);
	const auto &ps = v.problems();
	ASSERT_EQ(ps.size(), 5u);

	EXPECT_EQ(ps[0].kind, ProblemKind::Modified);
	EXPECT_EQ(ps[0].seq, 2u);
	EXPECT_EQ(ps[0].uid, 2u);
	EXPECT_EQ(ps[0].mailbox, "Rechnungen");
	EXPECT_EQ(ps[0].detail, "UID 2 in Rechnungen was changed: the journal recorded sha256 " +
					mail_hash("2") + " when it was saved (seq 2), the stored "
					"mail now has " + mail_hash("changed"));

	EXPECT_EQ(ps[1].kind, ProblemKind::Missing);
	EXPECT_EQ(ps[1].seq, 3u);
	EXPECT_EQ(ps[1].uid, 3u);
	EXPECT_EQ(ps[1].detail, "UID 3 in Rechnungen (saved as seq 3, sha256 " + mail_hash("3") +
					") is no longer in the mailbox, and no expunge or "
					"delete of it was journaled");
	EXPECT_EQ(ps[2].kind, ProblemKind::Missing);
	EXPECT_EQ(ps[2].seq, 4u);
	EXPECT_EQ(ps[2].mailbox, "Belege");
	EXPECT_EQ(ps[2].mailbox_guid, kGuid2);
	EXPECT_EQ(ps[2].detail, "UID 1 in Belege (saved as seq 4, sha256 " + mail_hash("b1") +
					") is gone: the mailbox with GUID " + kGuid2 +
					" was not found, and no delete of it was journaled");

	// equal seq (0): ordered by mailbox GUID, then UID
	EXPECT_EQ(ps[3].kind, ProblemKind::Unjournaled);
	EXPECT_EQ(ps[3].seq, 0u);
	EXPECT_EQ(ps[3].mailbox_guid, kGuid3);
	EXPECT_EQ(ps[3].mailbox, "Neu");
	EXPECT_EQ(ps[4].kind, ProblemKind::Unjournaled);
	EXPECT_EQ(ps[4].mailbox_guid, kGuid1);
	EXPECT_EQ(ps[4].uid, 7u);
	EXPECT_EQ(ps[4].detail,
		  "UID 7 in Rechnungen is in a journaled folder but has no save record in the journal");
	EXPECT_EQ(v.checked_count(), 2u);
}

TEST(Verify, UnjournaledMailsNotListedForAdopt)
{
	// adopt journals what it finds UNJOURNALED: observed as such, kept
	// nowhere; everything else is found as before
	using tresor::Observation;
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, mail_hash("1"), "", "Rechnungen"), utc(2026, 1, 1));
		j.append(save_record(kGuid1, 2, mail_hash("2"), "", "Rechnungen"), utc(2026, 1, 1));
	}
	Verifier v(d.path());
	v.list_unjournaled(false);
	v.mailbox_seen(kGuid1, "Rechnungen", 1700000000);
	EXPECT_EQ(v.observe(kGuid1, "Rechnungen", 1, mail_hash("1"), true), Observation::Journaled);
	EXPECT_EQ(v.observe(kGuid1, "Rechnungen", 2, mail_hash("x"), true), Observation::Modified);
	for (std::uint32_t uid = 3; uid < 1000; uid++)
		EXPECT_EQ(v.observe(kGuid1, "Rechnungen", uid, mail_hash(std::to_string(uid)), true),
			  Observation::Unjournaled);
	EXPECT_EQ(v.observe(kGuid1, "Rechnungen", 1000, mail_hash("1000"), false),
		  Observation::Other);
	v.finish(false);
	ASSERT_EQ(v.problems().size(), 1u);
	EXPECT_EQ(v.problems()[0].kind, ProblemKind::Modified);

	// the C ABI's switch
	char err[256];
	tresor_verify *cv = tresor_verify_new(d.path().c_str(), err, sizeof(err));
	ASSERT_NE(cv, nullptr) << err;
	tresor_verify_list_unjournaled(cv, 0);
	EXPECT_EQ(tresor_verify_observe(cv, kGuid1.c_str(), "Rechnungen", 9, "", mail_hash("9").c_str(), 1),
		  TRESOR_OBSERVED_UNJOURNALED);
	tresor_verify_list_unjournaled(cv, 1);
	EXPECT_EQ(tresor_verify_observe(cv, kGuid1.c_str(), "Rechnungen", 10, "", mail_hash("10").c_str(), 1),
		  TRESOR_OBSERVED_UNJOURNALED);
	tresor_verify_finish(cv, 1); // (no mailbox seen: nothing MISSING)
	ASSERT_EQ(tresor_verify_problem_count(cv), 1u);
	EXPECT_EQ(tresor_verify_problem(cv, 0)->kind, TRESOR_PROBLEM_UNJOURNALED);
	EXPECT_EQ(tresor_verify_problem(cv, 0)->uid, 10u);
	tresor_verify_free(cv);
}

TEST(Verify, OnlySeenMailboxes)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 1, 1));
		j.append(save_record(kGuid2, 1, mail_hash("b1"), "", "Belege"), utc(2026, 1, 1));
	}
	Verifier v(d.path());
	v.mailbox_seen(kGuid1, "INBOX", 1700000000);
	v.finish(true);
	ASSERT_EQ(v.problems().size(), 1u);
	EXPECT_EQ(v.problems()[0].kind, ProblemKind::Missing);
	EXPECT_EQ(v.problems()[0].mailbox_guid, kGuid1);
	v.finish(false); // finishing twice changes nothing
	EXPECT_EQ(v.problems().size(), 1u);
}

TEST(Verify, UidvalidityChangeAndRename)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, mail_hash("1"), "", "Alt"), utc(2026, 1, 1));
		j.append(rename_record(kGuid1, "Alt", "Neu"), utc(2026, 1, 2));
	}
	Verifier v(d.path());
	v.mailbox_seen(kGuid1, "Neu", 1800000000);
	v.finish(false);
	ASSERT_EQ(v.problems().size(), 1u);
	EXPECT_EQ(v.problems()[0].mailbox, "Neu");
	EXPECT_EQ(v.problems()[0].detail,
		  "UID 1 in Neu (saved as seq 1, sha256 " + mail_hash("1") +
			  ") is no longer in the mailbox, and no expunge or delete of it was "
			  "journaled (the mailbox's UIDVALIDITY changed from 1700000000 to "
			  "1800000000: its UIDs were renumbered)");
}

TEST(Verify, SortedByKindThenSeq)
{
	TempDir d;
	five_saves(d);
	auto lines = lines_of(d);
	lines.erase(lines.begin() + 3); // seq 4: CHAIN at seq 5
	rewrite(d, lines);
	Verifier v(d.path());
	v.observe(kGuid1, "INBOX", 9, mail_hash("9"), true);   // UNJOURNALED
	v.observe(kGuid1, "INBOX", 5, mail_hash("x"), true);   // MODIFIED seq 5
	v.observe(kGuid1, "INBOX", 1, mail_hash("y"), true);   // MODIFIED seq 1
	v.mailbox_seen(kGuid1, "INBOX", 1700000000);
	v.finish(false); // MISSING 2, 3
	std::vector<std::pair<ProblemKind, std::uint64_t>> got;
	for (const Problem &p : v.problems())
		got.emplace_back(p.kind, p.seq);
	EXPECT_EQ(got, (std::vector<std::pair<ProblemKind, std::uint64_t>>{
			       {ProblemKind::Chain, 5},
			       {ProblemKind::Modified, 1},
			       {ProblemKind::Modified, 5},
			       {ProblemKind::Missing, 2},
			       {ProblemKind::Missing, 3},
			       {ProblemKind::Unjournaled, 0}}));
}

TEST(Verify, CApi)
{
	TempDir d;
	five_saves(d);
	char err[256];
	tresor_verify *v = tresor_verify_new(d.path().c_str(), err, sizeof(err));
	ASSERT_NE(v, nullptr) << err;
	EXPECT_EQ(tresor_verify_mailbox_expected(v, kGuid1.c_str()), 1);
	EXPECT_EQ(tresor_verify_mailbox_expected(v, kGuid2.c_str()), 0);
	tresor_verify_mailbox_seen(v, kGuid1.c_str(), "INBOX", 1700000000);
	for (std::uint32_t i = 1; i <= 4; i++) {
		std::string h = mail_hash(i == 2 ? "bad" : std::to_string(i));
		tresor_verify_observe(v, kGuid1.c_str(), "INBOX", i, nullptr, h.c_str(), 1);
	}
	tresor_verify_observe(v, kGuid2.c_str(), "Other", 1, nullptr, mail_hash("o").c_str(), 1);
	tresor_verify_finish(v, 0);
	ASSERT_EQ(tresor_verify_problem_count(v), 3u);
	const tresor_problem *p0 = tresor_verify_problem(v, 0);
	const tresor_problem *p1 = tresor_verify_problem(v, 1);
	const tresor_problem *p2 = tresor_verify_problem(v, 2);
	ASSERT_NE(p0, nullptr);
	EXPECT_EQ(p0->kind, TRESOR_PROBLEM_MODIFIED);
	EXPECT_STREQ(p0->kind_name, "MODIFIED");
	EXPECT_EQ(p0->seq, 2u);
	EXPECT_STREQ(p0->mailbox, "INBOX");
	EXPECT_STREQ(p0->mailbox_guid, kGuid1.c_str());
	EXPECT_EQ(p0->uid, 2u);
	EXPECT_EQ(p1->kind, TRESOR_PROBLEM_MISSING);
	EXPECT_STREQ(p1->kind_name, "MISSING");
	EXPECT_EQ(p1->seq, 5u);
	EXPECT_EQ(p2->kind, TRESOR_PROBLEM_UNJOURNALED);
	EXPECT_STREQ(p2->kind_name, "UNJOURNALED");
	EXPECT_STREQ(p2->mailbox, "Other");
	EXPECT_EQ(tresor_verify_problem(v, 3), nullptr);
	EXPECT_EQ(tresor_verify_checked_count(v), 4u);
	tresor_verify_free(v);

	// an empty journal (no journal directory at all) verifies fine
	TempDir e;
	v = tresor_verify_new((e / "nothing").c_str(), err, sizeof(err));
	ASSERT_NE(v, nullptr) << err;
	tresor_verify_finish(v, 0);
	EXPECT_EQ(tresor_verify_problem_count(v), 0u);
	tresor_verify_free(v);

	// a CHAIN problem via the C API
	auto lines = lines_of(d);
	lines.erase(lines.begin());
	rewrite(d, lines);
	v = tresor_verify_new(d.path().c_str(), err, sizeof(err));
	ASSERT_NE(v, nullptr);
	ASSERT_EQ(tresor_verify_problem_count(v), 1u);
	EXPECT_EQ(tresor_verify_problem(v, 0)->kind, TRESOR_PROBLEM_CHAIN);
	EXPECT_STREQ(tresor_verify_problem(v, 0)->kind_name, "CHAIN");
	EXPECT_EQ(tresor_verify_problem(v, 0)->seq, 2u);
	EXPECT_STREQ(tresor_verify_problem(v, 0)->detail,
		     ("2026.jsonl line 1: seq 2 where 1 was expected; " + kPrevMismatch).c_str());
	tresor_verify_free(v);
}

// A save journaled before the backend assigned its UID (maildir without
// the uidlist lock) carries only the mail's GUID: verify finds it by that.
TEST(Verify, SaveWithoutUidIsFoundByGuid)
{
	TempDir d;
	{
		Journal j(d.path());
		Record a = save_record(kGuid1, 0, mail_hash("a"));
		a.guid = "guid-a";
		Record b = save_record(kGuid1, 0, mail_hash("b"));
		b.guid = "guid-b";
		Record c = save_record(kGuid1, 0, mail_hash("c"));
		c.guid = "guid-c";
		j.append(a, utc(2026, 1, 1));
		j.append(b, utc(2026, 1, 1));
		j.append(c, utc(2026, 1, 1));
		Record gone = expunge_record(kGuid1, 7); // c got UID 7 later
		gone.guid = "guid-c";
		j.append(gone, utc(2026, 1, 2));
	}
	Verifier v(d.path());
	EXPECT_TRUE(v.problems().empty());
	EXPECT_EQ(v.expected_count(), 2u);
	v.mailbox_seen(kGuid1, "INBOX", 1700000000);
	v.observe(kGuid1, "INBOX", 5, "guid-a", mail_hash("a"), true);
	v.observe(kGuid1, "INBOX", 6, "guid-x", mail_hash("x"), true);
	v.finish(false);
	const auto &ps = v.problems();
	ASSERT_EQ(ps.size(), 2u);
	EXPECT_EQ(ps[0].kind, ProblemKind::Missing); // b: never observed
	EXPECT_EQ(ps[0].seq, 2u);
	EXPECT_NE(ps[0].detail.find("the mail with GUID guid-b"), std::string::npos);
	EXPECT_EQ(ps[1].kind, ProblemKind::Unjournaled); // uid 6
	EXPECT_EQ(ps[1].uid, 6u);
	EXPECT_EQ(v.checked_count(), 1u);
}

namespace {

// Sets each line's prev from `from` on to the hash of the line before, as
// someone rewriting the journal consistently would, and removes the
// catalog that remembers the old last line.
void rechain(const TempDir &d, std::vector<std::string> &lines, std::size_t from)
{
	for (std::size_t i = from; i < lines.size(); i++) {
		auto j = tresor::parse_line(lines[i]);
		ASSERT_TRUE(j.has_value());
		(*j)["prev"] = i == 0 ? zero_hash : sha256_oneshot(lines[i - 1]);
		lines[i] = tresor::dump_line(*j);
	}
	for (const char *s : {"", "-wal", "-shm"})
		::unlink((d / "catalog.sqlite" + s).c_str());
}

} // namespace

TEST(Verify, LinesInAnotherJsonLayoutAreRead)
{
	// the same record with members reordered, white space and escapes:
	// not what the journal writes, but valid JSON with the same meaning
	TempDir d;
	five_saves(d);
	auto lines = lines_of(d);
	auto j = tresor::parse_line(lines[1]);
	ASSERT_TRUE(j.has_value());
	lines[1] = " { \"prev\" : \"" + (*j)["prev"].get<std::string>() +
		   "\", \"\\u0073eq\":2, \"uid\" : 2,\"event\":\"sa\\u0076e\", "
		   "\"mailbox_guid\":\"" + kGuid1 + "\",\"extra\":[1,{\"x\":null}],"
		   "\"sha256\":\"" + mail_hash("2") + "\" } ";
	rechain(d, lines, 2);
	rewrite(d, lines);
	Verifier v(d.path());
	EXPECT_TRUE(v.problems().empty()) << v.problems()[0].detail;
	EXPECT_EQ(v.expected_count(), 5u);
	v.mailbox_seen(kGuid1, "INBOX", 1700000000);
	for (std::uint32_t i = 1; i <= 5; i++)
		v.observe(kGuid1, "INBOX", i, i == 2 ? mail_hash("changed") : mail_hash(std::to_string(i)),
			  true);
	v.finish(false);
	ASSERT_EQ(v.problems().size(), 1u);
	EXPECT_EQ(v.problems()[0].kind, ProblemKind::Modified);
	EXPECT_EQ(v.problems()[0].seq, 2u);
}

TEST(Verify, MalformedLinesAreReportedEvenWhenRechained)
{
	// lines that are JSON but for one byte, with the chain made to fit:
	// only the JSON check can tell
	const std::string bad_strings[] = {
		"raw\x01" "control",    // control characters must be escaped
		"\xc3\x28",             // not UTF-8
		"\xed\xa0\x80",         // an encoded surrogate
		"bad \\x escape",
	};
	for (const std::string &bad : bad_strings) {
		TempDir d;
		five_saves(d);
		auto lines = lines_of(d);
		std::string line = lines[2];
		std::size_t at = line.find("\"event\":\"save\"");
		ASSERT_NE(at, std::string::npos);
		line.replace(at, 14, "\"event\":\"save\",\"reason\":\"" + bad + "\"");
		ASSERT_FALSE(tresor::parse_line(line).has_value());
		lines[2] = line;
		rechain(d, lines, 3);
		rewrite(d, lines);
		Verifier v(d.path());
		ASSERT_EQ(v.problems().size(), 1u) << bad;
		EXPECT_EQ(v.problems()[0].kind, ProblemKind::Chain);
		EXPECT_EQ(v.problems()[0].seq, 3u);
		EXPECT_EQ(v.problems()[0].detail,
			  "2026.jsonl line 3: not a valid journal record (not a JSON object)");
		// the unreadable save isn't expected: its mail shows as unjournaled
		EXPECT_EQ(v.expected_count(), 4u);
	}
}

// ---- notes: what verify explains instead of reporting

TEST(Verify, ClockGoingBackIsANoteNotAProblem)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 3, 1, 9, 0, 0));
		j.append(save_record(kGuid1, 2, mail_hash("2")), utc(2026, 3, 1, 10, 0, 0));
		// set back by an hour and five minutes
		j.append(save_record(kGuid1, 3, mail_hash("3")), utc(2026, 3, 1, 8, 55, 0));
		j.append(save_record(kGuid1, 4, mail_hash("4")), utc(2026, 3, 1, 8, 56, 0));
		// and by half a second
		j.append(save_record(kGuid1, 5, mail_hash("5")), utc(2026, 3, 1, 8, 55, 59, 500000));
	}
	Verifier v(d.path());
	for (std::uint32_t i = 1; i <= 5; i++)
		v.observe(kGuid1, "INBOX", i, mail_hash(std::to_string(i)), true);
	v.finish(false);
	EXPECT_TRUE(v.problems().empty());
	const auto &notes = v.notes();
	ASSERT_EQ(notes.size(), 2u);
	EXPECT_EQ(notes[0].seq, 3u);
	EXPECT_EQ(notes[0].detail,
		  "seq 3 was written at 2026-03-01T08:55:00.000000Z, 1 hour 5 minutes "
		  "earlier than the record before it (2026-03-01T10:00:00.000000Z): the "
		  "clock went back between the two. The chain is intact; the journal's "
		  "order, not the time, is the order in which records were written");
	EXPECT_EQ(notes[1].seq, 5u);
	EXPECT_NE(notes[1].detail.find(", 0.5 seconds earlier than"), std::string::npos)
		<< notes[1].detail;
}

namespace {

Record interrupted(const std::string &action, std::uint32_t uid, const std::string &guid,
		   const std::string &sha256)
{
	return interrupted_record(action, "INBOX", uid, guid, sha256, 0,
				  "<" + (guid.empty() ? sha256.substr(0, 8) : guid) + "@x>");
}

} // namespace

TEST(Verify, InterruptedSavesMayBeThereOrNot)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 3, 1));
		j.append(interrupted("save", 0, "g-there", mail_hash("there")), utc(2026, 3, 2));
		j.append(interrupted("save", 0, "g-never", mail_hash("never")), utc(2026, 3, 3));
		// GUID known only after the commit: found by its hash
		j.append(interrupted("save", 0, "", mail_hash("nameless")), utc(2026, 3, 4));
		j.append(interrupted("save", 0, "g-changed", mail_hash("orig")), utc(2026, 3, 5));
		// its GUID lost on the way (not in dovecot-uidlist): its hash
		j.append(interrupted("save", 0, "g-lost", mail_hash("lost")), utc(2026, 3, 6));
	}
	Verifier v(d.path());
	EXPECT_TRUE(v.mailbox_expected(kGuid1));
	v.mailbox_seen(kGuid1, "INBOX", 1700000000);
	v.observe(kGuid1, "INBOX", 1, "g-1", mail_hash("1"), true);
	v.observe(kGuid1, "INBOX", 2, "g-there", mail_hash("there"), true);
	v.observe(kGuid1, "INBOX", 3, "g-late", mail_hash("nameless"), true);
	v.observe(kGuid1, "INBOX", 4, "g-changed", mail_hash("edited"), true);
	v.observe(kGuid1, "INBOX", 5, "file-name-guid", mail_hash("lost"), true);
	v.finish(false);
	const auto &ps = v.problems();
	ASSERT_EQ(ps.size(), 1u);
	EXPECT_EQ(ps[0].kind, ProblemKind::Modified); // found, then checked
	EXPECT_EQ(ps[0].seq, 5u);
	EXPECT_EQ(v.checked_count(), 5u);
	const auto &notes = v.notes();
	ASSERT_EQ(notes.size(), 5u);
	EXPECT_EQ(notes[0].detail, "seq 2: the interrupted save did reach the store: it is "
				   "UID 2 in INBOX");
	EXPECT_EQ(notes[1].detail, "seq 3: the interrupted save to INBOX (Message-ID "
				   "<g-never@x>) did not reach the store; nothing is missing");
	EXPECT_EQ(notes[2].detail, "seq 4: the interrupted save did reach the store: it is "
				   "UID 3 in INBOX");
	EXPECT_EQ(notes[3].seq, 5u);
	EXPECT_EQ(notes[4].detail, "seq 6: the interrupted save did reach the store: it is "
				   "UID 5 in INBOX");
}

TEST(Verify, InterruptedExpungesMayHaveHappenedOrNot)
{
	TempDir d;
	{
		Journal j(d.path());
		for (std::uint32_t i = 1; i <= 3; i++)
			j.append(save_record(kGuid1, i, mail_hash(std::to_string(i))), utc(2026, 3, 1));
		j.append(interrupted("expunge", 1, "", ""), utc(2026, 3, 2));
		j.append(interrupted("expunge", 2, "", ""), utc(2026, 3, 2));
	}
	Verifier v(d.path());
	v.mailbox_seen(kGuid1, "INBOX", 1700000000);
	v.observe(kGuid1, "INBOX", 2, mail_hash("2"), true); // 1 is gone, 2 stayed
	v.observe(kGuid1, "INBOX", 3, mail_hash("3"), true);
	v.finish(false);
	EXPECT_TRUE(v.problems().empty());
	const auto &notes = v.notes();
	ASSERT_EQ(notes.size(), 2u);
	EXPECT_EQ(notes[0].detail, "seq 4: the interrupted expunge of UID 1 in INBOX did "
				   "happen: the mail is gone");
	EXPECT_EQ(notes[1].detail, "seq 5: the interrupted expunge of UID 2 in INBOX did not "
				   "happen: the mail is still there");
}

TEST(Verify, NotesViaCApi)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 3, 1, 10));
		j.append(save_record(kGuid1, 2, mail_hash("2")), utc(2026, 3, 1, 9));
	}
	char err[256];
	tresor_verify *v = tresor_verify_new(d.path().c_str(), err, sizeof(err));
	ASSERT_NE(v, nullptr) << err;
	tresor_verify_observe(v, kGuid1.c_str(), "INBOX", 1, nullptr, mail_hash("1").c_str(), 1);
	tresor_verify_observe(v, kGuid1.c_str(), "INBOX", 2, nullptr, mail_hash("2").c_str(), 1);
	tresor_verify_finish(v, 0);
	EXPECT_EQ(tresor_verify_problem_count(v), 0u);
	ASSERT_EQ(tresor_verify_note_count(v), 1u);
	const tresor_note *n = tresor_verify_note(v, 0);
	ASSERT_NE(n, nullptr);
	EXPECT_EQ(n->seq, 2u);
	EXPECT_NE(std::string(n->detail).find("1 hour earlier"), std::string::npos) << n->detail;
	EXPECT_EQ(tresor_verify_note(v, 1), nullptr);
	tresor_verify_free(v);
	EXPECT_EQ(tresor_verify_note_count(nullptr), 0u);
}

// ---- archive protection bypassed, folder identity

namespace {

tresor::Record archived_save(const std::string &guid, std::uint32_t uid,
			     const std::string &mailbox = "Archiv")
{
	tresor::Record r = save_record(guid, uid, mail_hash(mailbox + std::to_string(uid)), "",
				       mailbox);
	r.archive = 1;
	return r;
}

std::vector<ProblemKind> kinds(const std::vector<Problem> &ps)
{
	return each(ps, &Problem::kind);
}

} // namespace

TEST(Verify, ExpungingAnArchivedMailIsABypassWhateverTheSettingsThen)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(archived_save(kGuid1, 1), utc(2026, 1, 1));
		j.append(archived_save(kGuid1, 2), utc(2026, 1, 1));
		// saved before the folder was an archive folder: its own business
		j.append(save_record(kGuid2, 1, mail_hash("n1"), "", "Neu"), utc(2026, 1, 1));
		tresor::Record ex = expunge_record(kGuid1, 2);
		ex.mailbox = "Archiv";
		ex.service = "doveadm";
		j.append(ex, utc(2026, 1, 2));
		tresor::Record ex2 = expunge_record(kGuid2, 1);
		ex2.mailbox = "Neu";
		j.append(ex2, utc(2026, 1, 2));
	}
	Verifier v(d.path());
	v.mailbox_seen(kGuid1, "Archiv", 1700000000);
	v.observe(kGuid1, "Archiv", 1, mail_hash("Archiv1"), true);
	v.mailbox_seen(kGuid2, "Neu", 1700000000);
	v.finish(false);
	ASSERT_EQ(kinds(v.problems()), std::vector<ProblemKind>{ProblemKind::Bypass});
	const Problem &p = v.problems()[0];
	EXPECT_EQ(p.seq, 4u);
	EXPECT_EQ(p.uid, 2u);
	EXPECT_EQ(p.mailbox, "Archiv");
	EXPECT_NE(p.detail.find("saved into an archive folder (seq 2), was expunged at seq 4"),
		  std::string::npos) << p.detail;
}

TEST(Verify, DeletingOrRenamingAFolderWithArchivedMailIsABypass)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(archived_save(kGuid1, 1), utc(2026, 1, 1));
		j.append(archived_save(kGuid2, 1, "Rechnungen"), utc(2026, 1, 1));
		j.append(rename_record(kGuid2, "Rechnungen", "Alt"), utc(2026, 1, 2));
		j.append(delete_record(kGuid1, "Archiv"), utc(2026, 1, 3));
	}
	Verifier v(d.path());
	v.mailbox_seen(kGuid2, "Alt", 1700000000);
	v.observe(kGuid2, "Alt", 1, mail_hash("Rechnungen1"), true);
	v.finish(false);
	ASSERT_EQ(kinds(v.problems()),
		  (std::vector<ProblemKind>{ProblemKind::Bypass, ProblemKind::Bypass}));
	EXPECT_EQ(v.problems()[0].seq, 3u);
	EXPECT_NE(v.problems()[0].detail.find("was renamed to Alt"), std::string::npos);
	EXPECT_EQ(v.problems()[1].seq, 4u);
	EXPECT_NE(v.problems()[1].detail.find("holding 1 mail saved into an archive folder, was deleted"),
		  std::string::npos) << v.problems()[1].detail;
}

TEST(Verify, ADecoysRecordsUnderTheArchivesGuidCountForNothing)
{
	// doveadm mailbox create -g <GUID of Archiv> Decoy: the decoy's own
	// save, expunge and delete must neither stand in for nor cancel the
	// archive's mails
	TempDir d;
	{
		Journal j(d.path());
		j.append(archived_save(kGuid1, 1), utc(2026, 1, 1));
		j.append(archived_save(kGuid1, 2), utc(2026, 1, 1));
		tresor::Record decoy = save_record(kGuid1, 2, mail_hash("forged"), "", "Decoy");
		j.append(decoy, utc(2026, 1, 2));
		tresor::Record ex = expunge_record(kGuid1, 1);
		ex.mailbox = "Decoy";
		j.append(ex, utc(2026, 1, 2));
		j.append(delete_record(kGuid1, "Decoy"), utc(2026, 1, 3));
	}
	Verifier v(d.path());
	// Archiv's UID 1 removed, UID 2 edited (the forged hash)
	v.mailbox_seen(kGuid1, "Archiv", 1700000000);
	v.observe(kGuid1, "Archiv", 2, mail_hash("forged"), true);
	v.finish(false);
	const auto &ps = v.problems();
	ASSERT_EQ(kinds(ps), (std::vector<ProblemKind>{ProblemKind::Modified, ProblemKind::Missing,
						       ProblemKind::Identity, ProblemKind::Identity,
						       ProblemKind::Identity}));
	EXPECT_EQ(ps[0].uid, 2u);
	EXPECT_EQ(ps[1].uid, 1u);
	EXPECT_EQ(seqs(ps), (std::vector<std::uint64_t>{2, 1, 3, 4, 5}));
	EXPECT_NE(ps[2].detail.find("which the journal gives to the folder Archiv (seq 1): two "
				    "folders with one GUID"),
		  std::string::npos) << ps[2].detail;
}

TEST(Verify, AFolderSeenUnderAnotherFoldersGuidIsReported)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(archived_save(kGuid1, 1), utc(2026, 1, 1));
		j.append(save_record(kGuid2, 1, mail_hash("s1"), "", "Scratch"), utc(2026, 1, 1));
	}
	Verifier v(d.path());
	// mailbox update --mailbox-guid <Archiv's> Scratch: both now kGuid1
	v.mailbox_seen(kGuid1, "Archiv", 1700000000);
	v.observe(kGuid1, "Archiv", 1, mail_hash("Archiv1"), true);
	v.mailbox_seen(kGuid1, "Scratch", 1700000000);
	v.observe(kGuid1, "Scratch", 1, mail_hash("s1"), true);
	v.mailbox_seen(kGuid1, "Scratch", 1700000000); // a second look: once
	v.finish(false);
	const auto &ps = v.problems();
	// Scratch's own GUID is gone (MISSING), Scratch has Archiv's GUID and
	// Scratch's journaled GUID changed (IDENTITY twice), its mail under
	// Archiv's GUID has no record of its own (UNJOURNALED)
	ASSERT_EQ(kinds(ps), (std::vector<ProblemKind>{ProblemKind::Missing, ProblemKind::Unjournaled,
						       ProblemKind::Identity, ProblemKind::Identity}))
		<< ps.size();
	EXPECT_EQ(ps[0].mailbox_guid, kGuid2);
	EXPECT_NE(ps[2].detail.find("the folder Scratch has the mailbox GUID " + kGuid1 +
				    ", which the journal gives to the folder Archiv"),
		  std::string::npos) << ps[2].detail;
	EXPECT_NE(ps[3].detail.find("but the journal knows it with the GUID " + kGuid2),
		  std::string::npos) << ps[3].detail;
}

TEST(Verify, RenamedFoldersKeepTheirIdentity)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, mail_hash("p1"), "", "Projekte"), utc(2026, 1, 1));
		j.append(rename_record(kGuid1, "Projekte", "Projekte-alt"), utc(2026, 1, 2));
		j.append(save_record(kGuid1, 2, mail_hash("p2"), "", "Projekte-alt"), utc(2026, 1, 3));
		// a new folder under the old name
		j.append(save_record(kGuid2, 1, mail_hash("n1"), "", "Projekte"), utc(2026, 1, 4));
	}
	Verifier v(d.path());
	v.mailbox_seen(kGuid1, "Projekte-alt", 1700000000);
	v.observe(kGuid1, "Projekte-alt", 1, mail_hash("p1"), true);
	v.observe(kGuid1, "Projekte-alt", 2, mail_hash("p2"), true);
	v.mailbox_seen(kGuid2, "Projekte", 1700000000);
	v.observe(kGuid2, "Projekte", 1, mail_hash("n1"), true);
	v.finish(false);
	EXPECT_TRUE(v.problems().empty()) << v.problems()[0].detail;
}

// doveadm tresor adopt journals what verify calls UNJOURNALED; an adopted
// mail is then expected and checked like a saved one.
TEST(Verify, AdoptedMailsAreCheckedLikeSavedOnes)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 1, 1));      // 1
		j.append(adopt_record(kGuid1, 2, mail_hash("2")), utc(2026, 1, 2));     // 2
		j.append(adopt_record(kGuid1, 3, mail_hash("3")), utc(2026, 1, 2));     // 3
		j.append(adopt_record(kGuid1, 4, mail_hash("4")), utc(2026, 1, 2));     // 4
	}
	Verifier v(d.path());
	EXPECT_EQ(v.expected_count(), 4u);
	v.mailbox_seen(kGuid1, "INBOX", 1700000000);
	using tresor::Observation;
	EXPECT_EQ(v.observe(kGuid1, "INBOX", 1, mail_hash("1"), true), Observation::Journaled);
	EXPECT_EQ(v.observe(kGuid1, "INBOX", 2, mail_hash("2"), true), Observation::Journaled);
	EXPECT_EQ(v.observe(kGuid1, "INBOX", 3, mail_hash("tampered"), true),
		  Observation::Modified);
	// came after the adoption: still no record
	EXPECT_EQ(v.observe(kGuid1, "INBOX", 5, mail_hash("5"), true), Observation::Unjournaled);
	EXPECT_EQ(v.observe(kGuid1, "INBOX", 6, mail_hash("6"), false), Observation::Other);
	v.finish(false);
	const auto &ps = v.problems();
	ASSERT_EQ(ps.size(), 3u);
	EXPECT_EQ(ps[0].kind, ProblemKind::Modified);
	EXPECT_EQ(ps[0].seq, 3u);
	EXPECT_EQ(ps[1].kind, ProblemKind::Missing);
	EXPECT_EQ(ps[1].seq, 4u);
	EXPECT_EQ(ps[2].kind, ProblemKind::Unjournaled);
	EXPECT_EQ(ps[2].uid, 5u);
	EXPECT_EQ(v.checked_count(), 3u);
}

// An adopt record for a mail the journal already has would launder a
// change of it: it counts for nothing, the save still decides.
TEST(Verify, AnAdoptRecordDoesNotReplaceASave)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 1, 1));
		j.append(adopt_record(kGuid1, 1, mail_hash("tampered")), utc(2026, 1, 2));
		j.append(adopt_record(kGuid1, 2, mail_hash("2")), utc(2026, 1, 2));
		j.append(adopt_record(kGuid1, 2, mail_hash("tampered 2")), utc(2026, 1, 3));
	}
	Verifier v(d.path());
	EXPECT_EQ(v.expected_count(), 2u);
	v.mailbox_seen(kGuid1, "INBOX", 1700000000);
	EXPECT_EQ(v.observe(kGuid1, "INBOX", 1, mail_hash("tampered"), true),
		  tresor::Observation::Modified);
	EXPECT_EQ(v.observe(kGuid1, "INBOX", 2, mail_hash("tampered 2"), true),
		  tresor::Observation::Modified);
	v.finish(false);
	const auto &ps = v.problems();
	ASSERT_EQ(ps.size(), 2u);
	EXPECT_EQ(ps[0].kind, ProblemKind::Modified);
	EXPECT_EQ(ps[0].seq, 1u);
	EXPECT_EQ(ps[1].kind, ProblemKind::Modified);
	EXPECT_EQ(ps[1].seq, 3u);
	ASSERT_EQ(v.notes().size(), 2u);
	EXPECT_EQ(v.notes()[0].detail, "seq 2 adopts UID 1 in INBOX, which the journal already "
				       "accounts for (seq 1): the adopt record counts for nothing");
	EXPECT_EQ(v.notes()[1].seq, 4u);
}

// A mail in a folder whose GUID the journal gives to another folder is
// UNJOURNALED, but adopting it there would count for nothing.
TEST(Verify, ObservationsThroughTheCApi)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, mail_hash("1"), "", "Archiv"), utc(2026, 1, 1));
	}
	char err[256];
	tresor_verify *v = tresor_verify_new(d.path().c_str(), err, sizeof(err));
	ASSERT_NE(v, nullptr) << err;
	tresor_verify_mailbox_seen(v, kGuid1.c_str(), "Archiv", 1700000000);
	EXPECT_EQ(tresor_verify_observe(v, kGuid1.c_str(), "Archiv", 1, nullptr,
					mail_hash("1").c_str(), 1),
		  TRESOR_OBSERVED_JOURNALED);
	EXPECT_EQ(tresor_verify_observe(v, kGuid1.c_str(), "Archiv", 1, nullptr,
					mail_hash("1").c_str(), 1),
		  TRESOR_OBSERVED_JOURNALED); // twice: once
	EXPECT_EQ(tresor_verify_observe(v, kGuid1.c_str(), "Archiv", 2, nullptr,
					mail_hash("2").c_str(), 1),
		  TRESOR_OBSERVED_UNJOURNALED);
	tresor_verify_mailbox_seen(v, kGuid1.c_str(), "Decoy", 5);
	EXPECT_EQ(tresor_verify_observe(v, kGuid1.c_str(), "Decoy", 7, nullptr,
					mail_hash("7").c_str(), 1),
		  TRESOR_OBSERVED_OTHER);
	tresor_verify_mailbox_seen(v, kGuid2.c_str(), "Privat", 5);
	EXPECT_EQ(tresor_verify_observe(v, kGuid2.c_str(), "Privat", 1, nullptr,
					mail_hash("p").c_str(), 0),
		  TRESOR_OBSERVED_OTHER);
	tresor_verify_free(v);
}

// verify --since: mails saved before the seq are found by UID, not read.
TEST(Verify, IncrementalFindsOldMailsByUidAndReadsTheRest)
{
	TempDir d;
	five_saves(d);
	Verifier v(d.path());
	EXPECT_EQ(v.last_seal_seq(), 0u);
	v.mailbox_seen(kGuid1, "INBOX", 1700000000);
	// 1 and 2 saved before seq 3: found without their content
	EXPECT_TRUE(v.observe_unread(kGuid1, "INBOX", 1, "", 3));
	EXPECT_TRUE(v.observe_unread(kGuid1, "INBOX", 2, "", 3));
	// 3 and 4 are not: read (4 was changed)
	EXPECT_FALSE(v.observe_unread(kGuid1, "INBOX", 3, "", 3));
	EXPECT_FALSE(v.observe_unread(kGuid1, "INBOX", 4, "", 3));
	v.observe(kGuid1, "INBOX", 3, mail_hash("3"), true);
	v.observe(kGuid1, "INBOX", 4, mail_hash("changed"), true);
	// a mail the journal does not know, and another folder's name for
	// the GUID: read
	EXPECT_FALSE(v.observe_unread(kGuid1, "INBOX", 9, "", 3));
	EXPECT_FALSE(v.observe_unread(kGuid1, "Other", 1, "", 99));
	EXPECT_FALSE(v.observe_unread(kGuid2, "INBOX", 1, "", 99));
	// found once only: the second look reads
	EXPECT_FALSE(v.observe_unread(kGuid1, "INBOX", 1, "", 3));
	v.finish(false);
	EXPECT_EQ(v.unread_count(), 2u);
	EXPECT_EQ(v.checked_count(), 2u);
	// 5 was never seen: MISSING however old; 4: MODIFIED
	ASSERT_EQ(v.problems().size(), 2u);
	EXPECT_EQ(v.problems()[0].kind, ProblemKind::Modified);
	EXPECT_EQ(v.problems()[0].uid, 4u);
	EXPECT_EQ(v.problems()[1].kind, ProblemKind::Missing);
	EXPECT_EQ(v.problems()[1].uid, 5u);
}

TEST(Verify, LastSealSeqIsTheNewestSealRecord)
{
	TempDir d;
	five_saves(d);
	{
		Journal j(d.path());
		tresor::Record seal;
		seal.event = "seal";
		j.append(seal, utc(2026, 3, 2, 8, 0, 0));
		j.append(save_record(kGuid1, 6, mail_hash("6")), utc(2026, 3, 2, 8, 0, 1));
		j.append(seal, utc(2026, 3, 3, 8, 0, 0));
		j.append(save_record(kGuid1, 7, mail_hash("7")), utc(2026, 3, 3, 8, 0, 1));
	}
	Verifier v(d.path());
	EXPECT_EQ(v.last_seal_seq(), 8u);
	EXPECT_TRUE(v.observe_unread(kGuid1, "INBOX", 6, "", v.last_seal_seq()));
	EXPECT_FALSE(v.observe_unread(kGuid1, "INBOX", 7, "", v.last_seal_seq()));
}

// verify reads the journal on a thread of its own while the glue reads the
// mailboxes: the result is the same Verifier, the constructor's errors
// reach the caller, and the caller's signal mask is left as it was.
TEST(Verify, BackgroundVerifierGivesWhatVerifierGives)
{
	TempDir d;
	five_saves(d);
	auto lines = lines_of(d);
	lines[2] = lines[2] + " ";  // edited: a CHAIN problem at seq 4
	rewrite(d, lines);

	sigset_t before, after;
	ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &before), 0);
	tresor::BackgroundVerifier loader(d.path(), {});
	ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &after), 0);
	for (int sig = 1; sig < NSIG; sig++)
		EXPECT_EQ(sigismember(&before, sig), sigismember(&after, sig)) << sig;

	std::unique_ptr<Verifier> bg = loader.get();
	EXPECT_TRUE(loader.ready() == false); // consumed
	EXPECT_THROW(loader.get(), std::logic_error);
	Verifier fg(d.path());
	EXPECT_EQ(seqs(bg->problems()), seqs(fg.problems()));
	EXPECT_EQ(each(bg->problems(), &Problem::detail), each(fg.problems(), &Problem::detail));
	ASSERT_FALSE(bg->problems().empty());
	EXPECT_EQ(bg->lines(), fg.lines());

	// and it observes like the other
	for (Verifier *v : {bg.get(), &fg}) {
		v->mailbox_seen(kGuid1, "INBOX", 1700000000);
		for (std::uint32_t i = 1; i <= 4; i++)
			v->observe(kGuid1, "INBOX", i, mail_hash(i == 3 ? "x" : std::to_string(i)), true);
		v->finish(false);
	}
	EXPECT_EQ(each(bg->problems(), &Problem::kind), each(fg.problems(), &Problem::kind));
	EXPECT_EQ(bg->checked_count(), 4u);
}

TEST(Verify, LoaderCApi)
{
	TempDir d;
	five_saves(d);
	char err[256];
	int config_error = -1;
	tresor_verify_loader *loader =
		tresor_verify_load_begin(d.path().c_str(), nullptr, "alice", err, sizeof(err));
	ASSERT_NE(loader, nullptr) << err;
	for (int i = 0; i < 5000 && tresor_verify_load_ready(loader) == 0; i++)
		std::this_thread::sleep_for(std::chrono::milliseconds(1));
	EXPECT_EQ(tresor_verify_load_ready(loader), 1);
	tresor_verify *v = tresor_verify_load_end(loader, &config_error, err, sizeof(err));
	ASSERT_NE(v, nullptr) << err;
	EXPECT_EQ(config_error, 0);
	EXPECT_EQ(tresor_verify_record_count(v), 5u);
	EXPECT_EQ(tresor_verify_mailbox_expected(v, kGuid1.c_str()), 1);
	tresor_verify_free(v);
	EXPECT_EQ(tresor_verify_load_ready(nullptr), 0);

	// a public key that can't be read: a config error, named, from
	// tresor_verify_load_end() as from tresor_verify_new_with_seals()
	tresor_config *cfg = tresor_config_new();
	std::string missing = d / "no-such.pem";
	ASSERT_EQ(tresor_config_set(cfg, "tresor_seal_pubkey", missing.c_str(), err,
				    sizeof(err)), 0) << err;
	loader = tresor_verify_load_begin(d.path().c_str(), cfg, "alice", err, sizeof(err));
	ASSERT_NE(loader, nullptr) << err;
	v = tresor_verify_load_end(loader, &config_error, err, sizeof(err));
	EXPECT_EQ(v, nullptr);
	EXPECT_EQ(config_error, 1);
	EXPECT_NE(std::string(err).find("tresor_seal_pubkey"), std::string::npos) << err;
	char err2[256];
	int config_error2 = -1;
	EXPECT_EQ(tresor_verify_new_with_seals(d.path().c_str(), cfg, "alice", &config_error2,
					       err2, sizeof(err2)), nullptr);
	EXPECT_EQ(config_error2, 1);
	EXPECT_STREQ(err, err2);
	tresor_config_free(cfg);

	// nothing to read
	EXPECT_EQ(tresor_verify_load_end(nullptr, &config_error, err, sizeof(err)), nullptr);
	EXPECT_EQ(config_error, 0);
}

// verify keeps a journaled sha256 of 64 lowercase hex digits as its 32
// bytes; any other text the journal holds must still compare (and be
// reported) as it did as text: case-insensitively, and as written.
TEST(Verify, JournaledHashesCompareAndReadAsWritten)
{
	TempDir d;
	std::string upper = mail_hash("2");
	for (char &c : upper)
		c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, mail_hash("1")), utc(2026, 1, 1));
		j.append(save_record(kGuid1, 2, upper), utc(2026, 1, 1));
		j.append(save_record(kGuid1, 3, "not-a-hash"), utc(2026, 1, 1));
		j.append(save_record(kGuid1, 4, upper), utc(2026, 1, 1));
		j.append(save_record(kGuid1, 5, ""), utc(2026, 1, 1));
	}
	Verifier v(d.path());
	v.mailbox_seen(kGuid1, "INBOX", 1700000000);
	EXPECT_EQ(v.observe(kGuid1, "INBOX", 1, mail_hash("1"), true),
		  tresor::Observation::Journaled);
	EXPECT_EQ(v.observe(kGuid1, "INBOX", 2, mail_hash("2"), true),
		  tresor::Observation::Journaled);
	EXPECT_EQ(v.observe(kGuid1, "INBOX", 3, mail_hash("3"), true),
		  tresor::Observation::Modified);
	// a record without a sha256 has nothing to compare
	EXPECT_EQ(v.observe(kGuid1, "INBOX", 5, mail_hash("5"), true),
		  tresor::Observation::Journaled);
	v.finish(false);
	const auto &ps = v.problems();
	ASSERT_EQ(ps.size(), 2u);
	EXPECT_EQ(ps[0].kind, ProblemKind::Modified);
	EXPECT_EQ(ps[0].detail, "UID 3 in INBOX was changed: the journal recorded sha256 "
				"not-a-hash when it was saved (seq 3), the stored mail now has " +
					mail_hash("3"));
	EXPECT_EQ(ps[1].kind, ProblemKind::Missing);
	EXPECT_EQ(ps[1].detail, "UID 4 in INBOX (saved as seq 4, sha256 " + upper +
					") is no longer in the mailbox, and no expunge or "
					"delete of it was journaled");
}

namespace {
// Bytes the heap gives out now (glibc's count); 0 where another
// allocator (a sanitizer's) does not keep it.
std::size_t heap_in_use()
{
	struct mallinfo2 m = mallinfo2();
	return m.uordblks + m.hblkhd; // small blocks, and those mmap()ed
}
} // namespace

// A user's journal can hold hundreds of thousands of saves, all of them
// in verify's memory at once, beside Dovecot's index of the mails: what
// verify keeps per save record is bounded (it was about 450 bytes, when
// the hashes, times, folder names and Message-IDs were strings each).
TEST(Verify, MemoryPerSaveRecordIsBounded)
{
	{
		const std::size_t before = heap_in_use();
		// (volatile: the compiler may not leave the allocation out)
		void *volatile probe = std::malloc(1 << 20);
		const bool counted = heap_in_use() >= before + (1u << 20);
		std::free(probe);
		if (!counted)
			GTEST_SKIP() << "the heap's allocator does not report its use (mallinfo2): "
					"a sanitizer's";
	}
	TempDir d;
	const std::uint32_t n = 10000;
	{
		Journal j(d.path());
		std::vector<Record> batch;
		for (std::uint32_t uid = 1; uid <= n; uid++) {
			Record r = save_record(kGuid1, uid, mail_hash(std::to_string(uid)), "",
					       "Rechnungen/2026");
			r.message_id = "<" + std::to_string(uid) + ".1767225600@mail.lieferant.example>";
			batch.push_back(std::move(r));
		}
		j.append_batch(std::move(batch), utc(2026, 1, 1));
	}
	const std::size_t before = heap_in_use();
	auto v = std::make_unique<Verifier>(d.path());
	const std::size_t per_record = (heap_in_use() - before) / n;
	EXPECT_EQ(v->expected_count(), n);
	EXPECT_LE(per_record, 200u) << "bytes of heap per save record";
	RecordProperty("heap_bytes_per_save_record", static_cast<int>(per_record));
}
