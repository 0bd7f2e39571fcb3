// Evidence export: which mails it exports, and that VERIFY.txt checks what
// it wrote - with mails of interrupted saves (docs/archive.md 3.4), found
// as verify finds them.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "archive/config.hpp"
#include "archive/export.hpp"
#include "archive/hasher.hpp"
#include "archive/invoices.hpp"
#include "archive/journal.hpp"
#include "archive/tresor-seal.h"
#include "test_util.hpp"

using namespace testutil;
using tresor::EvidenceExport;
using tresor::ExportMail;
using tresor::ExportOptions;
using tresor::Journal;
using tresor::Record;

namespace {

std::string message(const std::string &what)
{
	return "Message-ID: <" + what + "@x>\r\nSubject: " + what + "\r\n\r\nbody of " + what +
	       "\r\n";
}

// The sha256 a save record of message(what) has.
std::string sha_of(const std::string &what)
{
	tresor::Hasher h(tresor::Config{}, tresor::Hasher::Hashes::Sha256Only);
	std::string m = message(what);
	h.update(m.data(), m.size());
	return h.finish().sha256;
}

Record interrupted_save(const std::string &guid, const std::string &what)
{
	return interrupted_record("save", "INBOX", 0, guid, sha_of(what), message(what).size(),
				  "<" + what + "@x>");
}

struct StoredMail {
	std::uint32_t uid;
	std::string guid;
	std::string what; // its bytes are message(what)
};

const ExportMail *by_seq(EvidenceExport &x, std::uint64_t seq)
{
	for (const ExportMail &m : x.mails()) {
		if (m.seq == seq)
			return &m;
	}
	return nullptr;
}

// An export of alice's journal in d for the days from..to into d/export.
ExportOptions period_of(const TempDir &d, const std::string &from, const std::string &to)
{
	ExportOptions opts;
	opts.tresor_dir = d.path();
	opts.user = "alice";
	opts.from = from;
	opts.to = to;
	opts.out_dir = d / "export";
	return opts;
}

void export_mail(EvidenceExport &x, std::size_t idx, const std::string &what)
{
	x.begin_mail(idx);
	std::string m = message(what);
	x.write(m.data(), m.size());
	x.end_mail();
}

// Runs the ```sh blocks of VERIFY.txt in the export directory; the
// output of each that failed.
std::vector<std::string> failed_verify_blocks(const std::string &dir)
{
	std::string text = read_file(dir + "/VERIFY.txt");
	std::vector<std::string> failed;
	std::size_t pos = 0;
	int n = 0;
	while ((pos = text.find("```sh\n", pos)) != std::string::npos) {
		pos += 6;
		std::size_t end = text.find("\n```", pos);
		std::string script = dir + "/../block" + std::to_string(n++) + ".sh";
		write_file(script, text.substr(pos, end - pos) + "\n");
		ShellRun run = run_shell("cd '" + dir + "' && bash '" + script + "' 2>&1");
		if (exit_code(run) != 0)
			failed.push_back(run.out);
		pos = end;
	}
	EXPECT_EQ(n, 7); // keys, manifest, chain, mails, seals, time stamps, invoices
	return failed;
}

} // namespace

TEST(Export, MailsOfInterruptedSavesAreFoundAsVerifyFindsThem)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, sha_of("one")), utc(2026, 2, 1));     // 1: before
		j.append(save_record(kGuid1, 2, sha_of("two")), utc(2026, 3, 1));     // 2
		j.append(interrupted_save("g-there", "there"), utc(2026, 3, 2));      // 3
		// its GUID lost on the way: found by its hash
		j.append(interrupted_save("g-lost", "lost"), utc(2026, 3, 2));        // 4
		// the GUID was given only at the commit
		j.append(interrupted_save("", "nameless"), utc(2026, 3, 2));          // 5
		j.append(interrupted_save("g-never", "never"), utc(2026, 3, 2));      // 6
		// the bytes of UID 1, which is seq 1's: not this one's
		j.append(interrupted_save("g-again", "one"), utc(2026, 3, 2));        // 7
		j.append(save_record(kGuid1, 3, sha_of("three")), utc(2026, 3, 3));   // 8
		Record gone = expunge_record(kGuid1, 3);
		gone.event = "interrupted";
		gone.action = "expunge";
		j.append(gone, utc(2026, 3, 3));                                      // 9
		j.append(interrupted_save("g-purged", "purged"), utc(2026, 3, 4));    // 10
		Record purge = expunge_record(kGuid1, 20, "purge");
		purge.guid = "store-guid-20";
		purge.sha256 = sha_of("purged");
		purge.extra.emplace_back("save_seq", 10);
		purge.extra.emplace_back("retention_rule", "INBOX=1m");
		j.append(purge, utc(2026, 3, 5));                                     // 11
		j.append(save_record(kGuid1, 4, sha_of("four")), utc(2026, 4, 1));    // 12: after
	}
	const std::vector<StoredMail> store = {
		{1, "g-1", "one"},           {2, "g-2", "two"},
		{11, "g-there", "there"},    {12, "file-name-guid", "lost"},
		{13, "late-guid", "nameless"}, {20, "store-guid-20", "purged"},
		{21, "copy-guid", "there"},  {4, "g-4", "four"},
	};

	ExportOptions opts = period_of(d, "2026-03-01", "2026-03-31");
	EvidenceExport x(opts);
	ASSERT_EQ(x.mails().size(), 8u); // seq 2 to 10, but 9 (an expunge)

	// what the glue does: saves with a UID by their UID...
	for (std::size_t i = 0; i < x.mails().size(); i++) {
		const ExportMail &m = x.mails()[i];
		if (m.uid == 0 || !m.status.empty())
			continue;
		bool found = false;
		for (const StoredMail &s : store) {
			if (s.uid == m.uid) {
				export_mail(x, i, s.what);
				found = true;
			}
		}
		if (!found)
			x.mark(i, "missing", "not in the mailbox");
	}
	// ... the others as the core locates them: by GUID, then by hash
	for (const StoredMail &s : store) {
		if (auto idx = x.locate(kGuid1, s.uid, s.guid))
			export_mail(x, *idx, s.what);
	}
	EXPECT_TRUE(x.wants_hashes(kGuid1));
	EXPECT_FALSE(x.wants_hashes(kGuid2));
	for (const StoredMail &s : store) {
		if (auto idx = x.locate(kGuid1, s.uid, s.guid, sha_of(s.what)))
			export_mail(x, *idx, s.what);
	}
	// each mail is found once
	for (const StoredMail &s : store)
		EXPECT_FALSE(x.locate(kGuid1, s.uid, s.guid, sha_of(s.what))) << s.uid;
	for (std::size_t i = 0; i < x.mails().size(); i++) {
		if (x.mails()[i].status.empty())
			x.mark(i, "missing", "not in the mailbox");
	}
	std::vector<std::string> warnings = x.finish();

	struct Want {
		std::uint64_t seq;
		std::string status;
		std::uint32_t uid;
	};
	for (const Want &w : std::vector<Want>{{2, "exported", 2},
					       {3, "exported", 11},
					       {4, "exported", 12},
					       {5, "exported", 13},
					       {6, "not-stored", 0},
					       {7, "not-stored", 0},
					       {8, "expunged", 3},
					       {10, "purged", 0}}) {
		const ExportMail *m = by_seq(x, w.seq);
		ASSERT_NE(m, nullptr) << w.seq;
		EXPECT_EQ(m->status, w.status) << w.seq << ": " << m->note;
		EXPECT_EQ(m->uid, w.uid) << w.seq;
	}
	EXPECT_EQ(by_seq(x, 6)->note, "the interrupted save journaled as seq 6 did not reach "
				      "the store");
	EXPECT_EQ(by_seq(x, 8)->note, "the interrupted expunge journaled as seq 9 did happen");
	// nothing is reported missing or modified
	for (const std::string &w : warnings) {
		EXPECT_EQ(w.find("missing"), std::string::npos) << w;
		EXPECT_EQ(w.find("modified"), std::string::npos) << w;
	}
	const std::string out = opts.out_dir;
	EXPECT_TRUE(exists(out + "/mails/4.eml"));
	EXPECT_FALSE(exists(out + "/mails/6.eml"));
	EXPECT_FALSE(exists(out + "/mails/10.eml"));
	std::string csv = read_file(out + "/mails.csv");
	EXPECT_NE(csv.find("\n4,2026-03-02T00:00:00.000000Z,INBOX," + kGuid1 + ",0,12," +
			   sha_of("lost") + "," + std::to_string(message("lost").size()) +
			   ",exported,mails/4.eml,interrupted,,\n"),
		  std::string::npos)
		<< csv;
	EXPECT_NE(csv.find(",not-stored,,interrupted,,the interrupted save journaled as seq 7 did not "
			   "reach the store\n"),
		  std::string::npos)
		<< csv;

	// the auditor's checks pass, the mails of interrupted saves included
	std::vector<std::string> failed = failed_verify_blocks(out);
	EXPECT_TRUE(failed.empty()) << failed.front();
	// and they check those mails: one changed is found
	append_file(out + "/mails/4.eml", "changed");
	ShellRun manifest = run_shell("cd '" + out + "' && sha256sum -c --quiet MANIFEST.sha256 "
				      "2>&1");
	EXPECT_NE(exit_code(manifest), 0);
	failed = failed_verify_blocks(out);
	ASSERT_EQ(failed.size(), 2u); // the manifest and the mails
	EXPECT_NE(failed[1].find("FAILED: mails/4.eml"), std::string::npos) << failed[1];
}

TEST(Export, OnlyDatesThatExistAreValid)
{
	for (const char *d : {"2026-01-01", "2024-02-29", "2000-02-29", "2026-12-31", "0001-01-01"})
		EXPECT_EQ(tresor_date_valid(d), 1) << d;
	for (const char *d : {"2026-02-29", "2026-02-30", "1900-02-29", "2026-04-31", "2026-13-01",
			      "2026-00-10", "2026-01-00", "2026-1-01", "2026/01/01", "20260101",
			      "2026-01-01T", "abcd-ef-gh", ""})
		EXPECT_EQ(tresor_date_valid(d), 0) << d;
	EXPECT_EQ(tresor_date_valid(nullptr), 0);
}

// Adopted mails belong to the period of their INTERNALDATE; VERIFY.txt
// checks them against their adopt records.
TEST(Export, AdoptedMailsAreExportedByTheirInternaldate)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, sha_of("saved")), utc(2026, 3, 1));       // 1
		j.append(adopt_record(kGuid1, 2, sha_of("old"), "2019-05-06T07:08:09Z"),
			 utc(2026, 3, 2));                                                  // 2
		j.append(adopt_record(kGuid1, 3, sha_of("older"), "2018-12-31T23:00:00Z"),
			 utc(2026, 3, 2));                                                  // 3
		// naming a saved mail: counts for nothing
		j.append(adopt_record(kGuid1, 1, sha_of("changed"), "2019-01-01T00:00:00Z"),
			 utc(2026, 3, 2));                                                  // 4
	}
	ExportOptions opts = period_of(d, "2019-01-01", "2019-12-31");
	EvidenceExport x(opts);
	ASSERT_EQ(x.mails().size(), 1u);
	const ExportMail &m = x.mails()[0];
	EXPECT_EQ(m.seq, 2u);
	EXPECT_EQ(m.event, "adopt");
	EXPECT_EQ(m.uid, 2u);
	EXPECT_EQ(m.internaldate, "2019-05-06T07:08:09Z");
	export_mail(x, 0, "old");
	EXPECT_TRUE(x.finish().size() > 0); // no public key, no seal: warnings only
	const std::string out = opts.out_dir;
	EXPECT_TRUE(exists(out + "/mails/2.eml"));
	EXPECT_TRUE(exists(out + "/journal/2026.jsonl"));
	std::string csv = read_file(out + "/mails.csv");
	EXPECT_NE(csv.find("\n2,2026-03-02T00:00:00.000000Z,INBOX," + kGuid1 + ",1700000000,2," +
			   sha_of("old") + ",1002,exported,mails/2.eml,adopt,2019-05-06T07:08:09Z,\n"),
		  std::string::npos)
		<< csv;
	std::vector<std::string> failed = failed_verify_blocks(out);
	EXPECT_TRUE(failed.empty()) << failed.front();
	// an adopted mail changed after the export is found
	append_file(out + "/mails/2.eml", "changed");
	failed = failed_verify_blocks(out);
	ASSERT_EQ(failed.size(), 2u); // the manifest and the mails
	EXPECT_NE(failed[1].find("FAILED: mails/2.eml"), std::string::npos) << failed[1];

	// the day of the adoption holds none of the adopted mails
	opts.from = opts.to = "2026-03-02";
	opts.out_dir = d / "export2";
	EvidenceExport y(opts);
	EXPECT_TRUE(y.mails().empty());
}

TEST(Export, MailboxPatternsChooseTheMails)
{
	for (char sep : {'/', '.'}) {
		TempDir d;
		const std::string s(1, sep);
		{
			Journal j(d.path());
			j.append(save_record(kGuid1, 1, sha_of("a"), "", "INBOX"), utc(2026, 3, 1));
			j.append(save_record(kGuid2, 1, sha_of("b"), "", "Rechnungen" + s + "Lieferant"),
				 utc(2026, 3, 1));
			j.append(save_record(kGuid3, 1, sha_of("c"), "", "Rechnungen" + s + "Pruefen"),
				 utc(2026, 3, 1));
			j.append(save_record(kGuid4, 1, sha_of("d"), "", "Archiv"), utc(2026, 3, 1));
		}
		ExportOptions opts = period_of(d, "2026-01-01", "2026-12-31");
		opts.mailbox_patterns = {"Rechnungen/*", "Archiv"};
		opts.separator = sep;
		EvidenceExport x(opts);
		std::vector<std::string> boxes;
		for (const ExportMail &m : x.mails())
			boxes.push_back(m.mailbox);
		EXPECT_EQ(boxes, (std::vector<std::string>{"Rechnungen" + s + "Lieferant",
							   "Rechnungen" + s + "Pruefen",
							   "Archiv"}));
		for (std::size_t i = 0; i < x.mails().size(); i++)
			export_mail(x, i, std::string(1, "bcd"[i]));
		x.finish();
		// the journal is whole; VERIFY.txt says which mails are in it
		EXPECT_TRUE(failed_verify_blocks(opts.out_dir).empty());
		EXPECT_NE(read_file(opts.out_dir + "/VERIFY.txt")
				  .find("Only the mails saved into the mailboxes matching "
					"Rechnungen/*, Archiv"),
			  std::string::npos);
		EXPECT_FALSE(exists(opts.out_dir + "/mails/1.eml"));
		EXPECT_TRUE(exists(opts.out_dir + "/mails/2.eml"));
	}
}

// The target must be an empty directory of its own: a non-empty one, a
// file, and a symbolic link (even to an empty directory) are refused, and
// nothing is written through the link.
TEST(Export, OnlyANewOrEmptyDirectoryOfItsOwnIsATarget)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, sha_of("a")), utc(2026, 3, 1));
	}
	ExportOptions opts = period_of(d, "2026-01-01", "2026-12-31");
	ASSERT_EQ(::mkdir((d / "full").c_str(), 0700), 0);
	write_file(d / "full/keep", "x");
	ASSERT_EQ(::mkdir((d / "empty").c_str(), 0700), 0);
	ASSERT_EQ(::symlink((d / "empty").c_str(), (d / "link").c_str()), 0);
	write_file(d / "file", "x");
	for (const char *target : {"full", "link", "file"}) {
		opts.out_dir = d / target;
		try {
			EvidenceExport x(opts);
			ADD_FAILURE() << target << " accepted";
		} catch (const std::runtime_error &e) {
			const std::string why = e.what();
			EXPECT_TRUE(why.find("is not empty") != std::string::npos ||
				    why.find("symbolic link") != std::string::npos ||
				    why.find("not a directory") != std::string::npos)
				<< target << ": " << why;
		}
	}
	EXPECT_FALSE(exists(d / "empty/mails"));
	opts.out_dir = d / "empty";
	EvidenceExport x(opts);
	EXPECT_TRUE(exists(d / "empty/mails"));
}

// doveadm run by root for a mail user drops only the effective uid: the
// export into root's own directory (an admin's /srv/audit) is created as
// root, file by file, while the process goes on as the mail user.
TEST(Export, RunByRootForAMailUserCreatesItsFilesAsRoot)
{
	if (::getuid() != 0)
		GTEST_SKIP() << "needs root (real uid 0) to drop the effective uid";
	const uid_t mail_user = 65534;
	TempDir d;
	{
		Journal j(d.path());
		j.append(save_record(kGuid1, 1, sha_of("a")), utc(2026, 3, 1));
	}
	ASSERT_EQ(exit_code(run_shell("chown -R " + std::to_string(mail_user) + " '" + d.path() + "'")), 0);
	const std::string audit = d / "audit";
	ASSERT_EQ(::mkdir(audit.c_str(), 0700), 0); // root's, closed to others
	ExportOptions opts = period_of(d, "2026-01-01", "2026-12-31");
	opts.out_dir = audit + "/alice";
	struct BackToRoot {
		~BackToRoot() { EXPECT_EQ(::seteuid(0), 0); }
	} back_to_root;
	ASSERT_EQ(::seteuid(mail_user), 0);
	{
		EvidenceExport x(opts);
		EXPECT_EQ(::geteuid(), mail_user);
		ASSERT_EQ(x.mails().size(), 1u);
		export_mail(x, 0, "a");
		x.finish();
		EXPECT_EQ(::geteuid(), mail_user);
		// as the mail user alone, nothing could be made there
		EXPECT_LT(::mkdir((opts.out_dir + "/mine").c_str(), 0700), 0);
	}
	ASSERT_EQ(::seteuid(0), 0);
	for (const char *rel : {"", "/mails", "/mails/1.eml", "/MANIFEST.sha256", "/VERIFY.txt"}) {
		struct stat st;
		ASSERT_EQ(::lstat((opts.out_dir + rel).c_str(), &st), 0) << rel;
		EXPECT_EQ(st.st_uid, 0u) << rel;
		EXPECT_EQ(st.st_gid, 0u) << rel;
		EXPECT_EQ(st.st_mode & 0777, S_ISDIR(st.st_mode) ? 0700u : 0600u) << rel;
	}
	EXPECT_TRUE(failed_verify_blocks(opts.out_dir).empty());
}

// The register of the period goes into the export (invoices.csv), one row
// per delivery, and VERIFY.txt ties each row to its invoice record and
// counts the period's deliveries.
TEST(Export, TheInvoiceRegisterOfThePeriodIsExportedAndChecked)
{
	TempDir d;
	auto invoice_after = [](const Record &save, const std::string &number) {
		return invoice_record(save, {{"number", number},
					     {"verdict", "trusted"},
					     {"reason", "line\nbreak"}});
	};
	{
		Journal j(d.path());
		Record before = save_record(kGuid1, 1, sha_of("early"));
		before.session = "s0";
		j.append_batch({before, invoice_after(before, "R-0")}, utc(2026, 2, 28));
		Record a = save_record(kGuid1, 2, sha_of("a"));
		a.session = "s1";
		j.append_batch({a, invoice_after(a, "R-1")}, utc(2026, 3, 1));
		Record copy = save_record(kGuid2, 1, sha_of("a"), "", "ERP-Import");
		copy.session = "s1";
		j.append_batch({copy, invoice_after(copy, "R-1")}, utc(2026, 3, 1));
		j.append(save_record(kGuid1, 3, sha_of("plain")), utc(2026, 3, 2));
	}
	ExportOptions opts = period_of(d, "2026-03-01", "2026-03-31");
	EvidenceExport x(opts);
	for (std::size_t i = 0; i < x.mails().size(); i++)
		export_mail(x, i, x.mails()[i].sha256 == sha_of("a") ? "a" : "plain");
	x.finish();
	const std::string out = opts.out_dir;
	std::string csv = read_file(out + "/invoices.csv");
	EXPECT_EQ(csv.substr(0, csv.find('\n') + 1), tresor::invoice_register_csv_header());
	EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 2) << csv; // R-1 once, not R-0
	EXPECT_NE(csv.find(",R-1,"), std::string::npos) << csv;
	EXPECT_NE(csv.find(",line break,"), std::string::npos) << csv;
	EXPECT_TRUE(failed_verify_blocks(out).empty());
	// a row that names another record, and a row missing, are found
	std::string forged = csv;
	forged.replace(forged.rfind(',') + 1, std::string::npos, "2\n");
	write_file(out + "/invoices.csv", forged);
	std::vector<std::string> failed = failed_verify_blocks(out);
	ASSERT_EQ(failed.size(), 2u); // the manifest and the register
	EXPECT_NE(failed[1].find("row with seq 2 is not an invoice record"), std::string::npos)
		<< failed[1];
	write_file(out + "/invoices.csv", tresor::invoice_register_csv_header());
	failed = failed_verify_blocks(out);
	ASSERT_EQ(failed.size(), 2u);
	EXPECT_NE(failed[1].find("invoices.csv has 0 rows, the journal 1 invoice deliveries"),
		  std::string::npos)
		<< failed[1];
}
