// The full-text index of fts_tresor (src/core/fts/fts_index.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <atomic>
#include <thread>
#include <vector>

#include <xapian.h>

#include "fts/fts_index.hpp"
#include "fts/fts_settings.hpp"

namespace fs = std::filesystem;
using namespace tresor::fts;

namespace {

class TempDir {
  public:
	TempDir()
	{
		std::string tmpl = (fs::temp_directory_path() / "tresor-fts-XXXXXX").string();
		if (mkdtemp(tmpl.data()) == nullptr)
			throw std::runtime_error("mkdtemp");
		path_ = tmpl;
	}
	~TempDir() { fs::remove_all(path_); }
	std::string str(const std::string &sub = "idx") const { return (path_ / sub).string(); }

  private:
	fs::path path_;
};

// (Writers keep a vocabulary file from the first mail, unless told
// otherwise: its readers are the ones tested most.)
std::unique_ptr<Index> open_index(const std::string &dir, bool writable, std::uint32_t uidvalidity = 7,
				  unsigned lock_timeout_ms = 30000,
				  std::uint32_t vocabulary_from_documents = 0)
{
	OpenOptions o;
	o.writable = writable;
	o.uidvalidity = uidvalidity;
	o.lock_timeout_ms = lock_timeout_ms;
	o.vocabulary_from_documents = vocabulary_from_documents;
	std::string notice;
	return Index::open(dir, o, notice);
}

std::set<std::uint32_t> uids(const std::vector<Range> &ranges, std::uint32_t cap = 1000)
{
	std::set<std::uint32_t> out;
	for (auto r : ranges)
		for (std::uint32_t u = r.first; u <= r.last && u <= cap; u++)
			out.insert(u);
	return out;
}

struct Answer {
	std::set<std::uint32_t> definite, maybe;
	bool handled = false;
};

Answer ask(Index &idx, std::vector<Key> keys, bool and_args = true)
{
	Answer a;
	auto r = idx.lookup(keys, and_args);
	if (!r)
		return a;
	a.handled = true;
	a.definite = uids(r->definite);
	a.maybe = uids(r->maybe);
	return a;
}

Key key(KeyType type, std::string value, std::string header = "", bool negated = false)
{
	Key k;
	k.type = type;
	k.value = std::move(value);
	k.header_name = std::move(header);
	k.negated = negated;
	return k;
}

// Text as Dovecot's normaliser hands it over: upper case.
void write_corpus(Index &w)
{
	w.begin_document(1);
	w.add_text(Field::header, "SUBJECT", "IHRE EINGANGSRECHNUNG");
	w.end_field();
	w.add_text(Field::body, "", "SEHR GEEHRTE DAMEN, ANBEI RECHNUNG NR. 4711.\r\nGRÜSSE");
	w.end_field();
	w.begin_document(2);
	w.add_text(Field::header, "SUBJECT", "RECHNUNGS");
	w.add_text(Field::header, "SUBJECT", "NUMMER FOLGT");
	w.end_field();
	w.add_text(Field::header, "FROM", "MÜLLER <MUELLER@FIRMA.DE>");
	w.end_field();
	w.add_text(Field::body, "", "NICHTS WEITER");
	w.end_field();
	w.begin_document(3);
	w.add_text(Field::attachment, "", "ZAHLUNGSZIEL 30 TAGE");
	w.end_field();
	w.begin_document(4);
	w.add_text(Field::html, "", "HTMLWORT");
	w.end_field();
	w.add_text(Field::mime_header, "CONTENT-TYPE", "APPLICATION/PDF; NAME=BELEG.PDF");
	w.end_field();
	w.commit();
}

} // namespace

TEST(FtsRunSplitter, SplitsAtWhitespaceAcrossPieces)
{
	RunSplitter s;
	std::vector<std::string> runs;
	auto emit = [&](std::string_view r) { runs.emplace_back(r); };
	s.feed("EIN GANGS", emit);
	s.feed("RECHNUNG\r\nNR.\t4711 ", emit);
	s.feed("END", emit);
	s.finish(emit);
	EXPECT_EQ(runs, (std::vector<std::string>{"EIN", "GANGSRECHNUNG", "NR.", "4711", "END"}));
}

TEST(FtsRunSplitter, LongRunsBecomeWindowsCoveringEveryShortSubstring)
{
	std::mt19937 rng(3);
	std::string run;
	for (int i = 0; i < 500; i++)
		run.push_back(static_cast<char>('A' + rng() % 26));
	RunSplitter s;
	std::vector<std::string> windows;
	s.feed(run, [&](std::string_view r) { windows.emplace_back(r); });
	s.finish([&](std::string_view r) { windows.emplace_back(r); });
	ASSERT_GT(windows.size(), 1u);
	for (const auto &w : windows)
		EXPECT_LE(w.size(), RunSplitter::kMaxRun);
	for (std::size_t len : {1ul, 30ul, RunSplitter::kMaxExact}) {
		for (std::size_t off = 0; off + len <= run.size(); off++) {
			std::string sub = run.substr(off, len);
			bool found = false;
			for (const auto &w : windows)
				found = found || w.find(sub) != std::string::npos;
			ASSERT_TRUE(found) << "offset " << off << " length " << len;
		}
	}
}

TEST(FtsSubstringSearch, SubstringsInsideWordsAreDefinite)
{
	TempDir tmp;
	write_corpus(*open_index(tmp.str(), true));
	auto r = open_index(tmp.str(), false);
	EXPECT_EQ(r->last_uid(), 4u);
	EXPECT_EQ(r->document_count(), 4u);

	auto a = ask(*r, {key(KeyType::body, "RECHNUNG")});
	EXPECT_EQ(a.definite, (std::set<std::uint32_t>{1}));
	EXPECT_TRUE(a.maybe.empty());

	a = ask(*r, {key(KeyType::text, "RECHNUNG")});
	EXPECT_EQ(a.definite, (std::set<std::uint32_t>{1, 2}));

	a = ask(*r, {key(KeyType::header, "GANGSRECH", "SUBJECT")});
	EXPECT_EQ(a.definite, (std::set<std::uint32_t>{1}));

	// pieces of one header value are one run
	a = ask(*r, {key(KeyType::header, "RECHNUNGSNUMMER", "SUBJECT")});
	EXPECT_EQ(a.definite, (std::set<std::uint32_t>{2}));

	a = ask(*r, {key(KeyType::header, "MUELLER@FIRMA", "FROM")});
	EXPECT_EQ(a.definite, (std::set<std::uint32_t>{2}));
	a = ask(*r, {key(KeyType::header, "MUELLER", "SUBJECT")});
	EXPECT_TRUE(a.definite.empty());

	a = ask(*r, {key(KeyType::body, "GRÜSSE")});
	EXPECT_EQ(a.definite, (std::set<std::uint32_t>{1}));
	a = ask(*r, {key(KeyType::body, "NICHTDA")});
	EXPECT_TRUE(a.handled);
	EXPECT_TRUE(a.definite.empty() && a.maybe.empty());
}

TEST(FtsSubstringSearch, AttachmentsHeaderNamesAndMimeHeadersCountForText)
{
	TempDir tmp;
	write_corpus(*open_index(tmp.str(), true));
	auto r = open_index(tmp.str(), false);
	EXPECT_EQ(ask(*r, {key(KeyType::body, "ZAHLUNGSZ")}).definite, (std::set<std::uint32_t>{3}));
	EXPECT_EQ(ask(*r, {key(KeyType::text, "ZAHLUNGSZ")}).definite, (std::set<std::uint32_t>{3}));
	// "SUBJECT:" is part of the text Dovecot's TEXT search looks at
	EXPECT_EQ(ask(*r, {key(KeyType::text, "UBJECT:")}).definite, (std::set<std::uint32_t>{1, 2}));
	EXPECT_EQ(ask(*r, {key(KeyType::text, "BELEG.PDF")}).definite, (std::set<std::uint32_t>{4}));
	EXPECT_TRUE(ask(*r, {key(KeyType::body, "BELEG")}).definite.empty());
}

TEST(FtsSubstringSearch, HtmlPhrasesAndApproximateHeadersAreOnlyMaybe)
{
	TempDir tmp;
	write_corpus(*open_index(tmp.str(), true));
	auto r = open_index(tmp.str(), false);
	auto a = ask(*r, {key(KeyType::body, "HTMLW")});
	EXPECT_TRUE(a.definite.empty());
	EXPECT_EQ(a.maybe, (std::set<std::uint32_t>{4}));

	// whitespace inside the key: candidates only, Dovecot confirms
	a = ask(*r, {key(KeyType::body, "NR. 4711")});
	EXPECT_TRUE(a.definite.empty());
	EXPECT_EQ(a.maybe, (std::set<std::uint32_t>{1}));
	a = ask(*r, {key(KeyType::body, " RECHNUNG")});
	EXPECT_EQ(a.maybe, (std::set<std::uint32_t>{1}));

	a = ask(*r, {key(KeyType::header_approx, "FIRMA", "FROM")});
	EXPECT_TRUE(a.definite.empty());
	EXPECT_EQ(a.maybe, (std::set<std::uint32_t>{2}));
}

TEST(FtsSubstringSearch, NotAndOrCombineThreeValued)
{
	TempDir tmp;
	write_corpus(*open_index(tmp.str(), true));
	auto r = open_index(tmp.str(), false);
	auto a = ask(*r, {key(KeyType::body, "RECHNUNG", "", true)});
	EXPECT_EQ(a.definite, (std::set<std::uint32_t>{2, 3, 4}));
	a = ask(*r, {key(KeyType::body, "HTMLW", "", true)});
	EXPECT_EQ(a.definite, (std::set<std::uint32_t>{1, 2, 3}));
	EXPECT_EQ(a.maybe, (std::set<std::uint32_t>{4}));

	a = ask(*r, {key(KeyType::text, "RECHNUNG"), key(KeyType::header, "FOLGT", "SUBJECT")}, true);
	EXPECT_EQ(a.definite, (std::set<std::uint32_t>{2}));
	a = ask(*r, {key(KeyType::body, "ZAHLUNG"), key(KeyType::body, "HTMLW")}, false);
	EXPECT_EQ(a.definite, (std::set<std::uint32_t>{3}));
	EXPECT_EQ(a.maybe, (std::set<std::uint32_t>{4}));

	std::vector<Key> keys{key(KeyType::body, "")};
	EXPECT_FALSE(r->lookup(keys, true).has_value());
	EXPECT_FALSE(keys[0].handled);
}

TEST(FtsSubstringSearch, IncompleteDocumentsAreMaybe)
{
	TempDir tmp;
	{
		auto w = open_index(tmp.str(), true);
		w->begin_document(5);
		w->add_text(Field::body, "", "WORT");
		w->add_text(Field::header, std::string(100, 'X'), "ODD");
		w->commit();
	}
	auto r = open_index(tmp.str(), false);
	auto a = ask(*r, {key(KeyType::body, "WORT")});
	EXPECT_TRUE(a.definite.empty());
	EXPECT_EQ(a.maybe, (std::set<std::uint32_t>{5}));
}

TEST(FtsSubstringSearch, LongRunsAreFoundExactlyUpToTheWindowOverlap)
{
	TempDir tmp;
	std::string run;
	for (int i = 0; i < 400; i++)
		run.push_back(static_cast<char>('A' + (i * 7) % 26));
	{
		auto w = open_index(tmp.str(), true);
		w->begin_document(1);
		w->add_text(Field::body, "", run);
		w->commit();
	}
	auto r = open_index(tmp.str(), false);
	for (std::size_t off : {0ul, 59ul, 137ul, 339ul}) {
		auto a = ask(*r, {key(KeyType::body, run.substr(off, RunSplitter::kMaxExact))});
		EXPECT_EQ(a.definite, (std::set<std::uint32_t>{1})) << off;
	}
	auto a = ask(*r, {key(KeyType::body, run.substr(10, 90))});
	EXPECT_EQ(a.maybe, (std::set<std::uint32_t>{1}));
}

TEST(FtsIndexLifecycle, UidvalidityChangeStartsAfresh)
{
	TempDir tmp;
	write_corpus(*open_index(tmp.str(), true, 7));
	EXPECT_EQ(open_index(tmp.str(), false, 8)->last_uid(), 0u);
	OpenOptions o;
	o.writable = true;
	o.uidvalidity = 8;
	std::string notice;
	auto w = Index::open(tmp.str(), o, notice);
	EXPECT_NE(notice.find("UIDVALIDITY"), std::string::npos) << notice;
	EXPECT_EQ(w->last_uid(), 0u);
	EXPECT_EQ(w->document_count(), 0u);
}

TEST(FtsIndexLifecycle, MissingIndexReadsAsEmpty)
{
	TempDir tmp;
	auto r = open_index(tmp.str("nothing-here"), false);
	EXPECT_FALSE(r->exists());
	EXPECT_EQ(r->last_uid(), 0u);
	auto a = ask(*r, {key(KeyType::body, "WORT")});
	EXPECT_TRUE(a.handled);
	EXPECT_TRUE(a.definite.empty());
	EXPECT_FALSE(fs::exists(tmp.str("nothing-here")));
}

TEST(FtsIndexLifecycle, DamageIsReportedAsCorrupt)
{
	TempDir tmp;
	write_corpus(*open_index(tmp.str(), true));
	for (auto &e : fs::recursive_directory_iterator(tmp.str())) {
		if (e.is_regular_file() && e.path().filename() != "index") {
			std::ofstream(e.path(), std::ios::trunc) << "garbage, not a Xapian table";
		}
	}
	EXPECT_THROW(
		{
			auto r = open_index(tmp.str(), false);
			ask(*r, {key(KeyType::body, "RECHNUNG")});
		},
		CorruptIndex);
	Index::remove(tmp.str());
	auto w = open_index(tmp.str(), true);
	EXPECT_EQ(w->last_uid(), 0u);
}

TEST(FtsIndexLifecycle, SecondWriterWaitsThenGivesUp)
{
	TempDir tmp;
	auto w1 = open_index(tmp.str(), true);
	EXPECT_THROW(open_index(tmp.str(), true, 7, 200), IndexBusy);
	w1.reset();
	EXPECT_NO_THROW(open_index(tmp.str(), true, 7, 200));
}

TEST(FtsIndexLifecycle, ExpungeReconcileAndCompact)
{
	TempDir tmp;
	{
		auto w = open_index(tmp.str(), true);
		write_corpus(*w);
		w->expunge(2);
		w->expunge(99); // never indexed: no error
		w->commit();
		EXPECT_EQ(w->document_count(), 3u);
		// mail 4 vanished, mails 5 and 2 exist but 2 is no longer indexed
		EXPECT_EQ(w->reconcile({1, 2, 3, 5}), 1u);
		EXPECT_EQ(w->document_count(), 2u);
		w->compact();
		EXPECT_EQ(w->document_count(), 2u);
		EXPECT_EQ(w->last_uid(), 1u);
	}
	auto r = open_index(tmp.str(), false);
	EXPECT_EQ(r->last_uid(), 1u);
	EXPECT_EQ(ask(*r, {key(KeyType::body, "RECHNUNG")}).definite, (std::set<std::uint32_t>{1}));
	int dbs = 0;
	for (auto &e : fs::directory_iterator(tmp.str()))
		dbs += e.is_directory() ? 1 : 0;
	EXPECT_EQ(dbs, 1) << "the database before compaction is removed";
}

TEST(FtsAttachmentText, WorthExtracting)
{
	EXPECT_TRUE(worth_extracting("application/octet-stream", "%PDF-1.7\n"));
	EXPECT_TRUE(worth_extracting("application/octet-stream", std::string("PK\x03\x04", 4)));
	EXPECT_TRUE(worth_extracting("application/xml", "\xEF\xBB\xBF<?xml version"));
	EXPECT_FALSE(worth_extracting("application/octet-stream", "\x7f" "ELF"));
	EXPECT_FALSE(worth_extracting("image/png", "\x89PNG"));
}

TEST(FtsSubstringSearch, HtmlRunsAlreadyInTheBodyAreNotRepeated)
{
	TempDir tmp;
	{
		auto w = open_index(tmp.str(), true);
		w->begin_document(1);
		w->add_text(Field::body, "", "ANGEBOT FÜR SIE");
		w->end_field();
		w->add_text(Field::html, "", "ANGEBOT FÜR SIE NUR-IM-HTML");
		w->end_field();
		w->commit();
	}
	auto r = open_index(tmp.str(), false);
	auto a = ask(*r, {key(KeyType::body, "ANGEBOT")});
	EXPECT_EQ(a.definite, (std::set<std::uint32_t>{1}));
	EXPECT_TRUE(a.maybe.empty());
	a = ask(*r, {key(KeyType::body, "IM-HTML")});
	EXPECT_EQ(a.maybe, (std::set<std::uint32_t>{1}));
}

TEST(FtsIndexLifecycle, AMailIndexedTwiceKeepsItsFirstDocument)
{
	TempDir tmp;
	auto w = open_index(tmp.str(), true);
	w->begin_document(3);
	w->add_text(Field::body, "", "ERSTER");
	w->commit();
	// a second indexer (or a rescan) gets to the same mail
	w->begin_document(3);
	w->add_text(Field::body, "", "ZWEITER");
	w->begin_document(4);
	w->add_text(Field::body, "", "VIERTER");
	// twice before a commit, and once more after a later UID
	w->begin_document(6);
	w->add_text(Field::body, "", "SECHSTER");
	w->begin_document(6);
	w->add_text(Field::body, "", "NOCHMAL");
	w->begin_document(7);
	w->add_text(Field::body, "", "SIEBTER");
	w->begin_document(6);
	w->add_text(Field::body, "", "NOCHMAL");
	w->commit();
	EXPECT_EQ(w->last_uid(), 7u);
	EXPECT_EQ(w->document_count(), 4u);
	auto r = open_index(tmp.str(), false);
	EXPECT_EQ(ask(*r, {key(KeyType::body, "ERSTER")}).definite, (std::set<std::uint32_t>{3}));
	EXPECT_TRUE(ask(*r, {key(KeyType::body, "ZWEITER")}).definite.empty());
	EXPECT_EQ(ask(*r, {key(KeyType::body, "VIERTER")}).definite, (std::set<std::uint32_t>{4}));
	EXPECT_EQ(ask(*r, {key(KeyType::body, "SECHSTER")}).definite, (std::set<std::uint32_t>{6}));
	EXPECT_TRUE(ask(*r, {key(KeyType::body, "NOCHMAL")}).definite.empty());
}

TEST(FtsIndexLifecycle, ExpungedMailsLeaveResultsAtOnceAndPostingsAtCompaction)
{
	TempDir tmp;
	auto w = open_index(tmp.str(), true);
	for (std::uint32_t uid = 1; uid <= 300; uid++) {
		w->begin_document(uid);
		w->add_text(Field::body, "", uid % 2 ? "UNGERADE WORT" : "GERADE WORT");
	}
	w->commit();
	EXPECT_FALSE(w->compact_if_worthwhile()) << "300 new mails are not worth it";
	for (std::uint32_t uid = 1; uid <= 300; uid += 2)
		w->expunge(uid);
	w->commit();
	{
		auto r = open_index(tmp.str(), false);
		auto a = ask(*r, {key(KeyType::body, "UNGERADE")});
		EXPECT_TRUE(a.definite.empty() && a.maybe.empty());
		EXPECT_EQ(ask(*r, {key(KeyType::body, "WORT")}).definite.size(), 150u);
		EXPECT_EQ(r->document_count(), 150u);
	}
	EXPECT_TRUE(w->compact_if_worthwhile()) << "half of the mails are expunged";
	EXPECT_EQ(w->document_count(), 150u);
	EXPECT_EQ(w->last_uid(), 300u);
	auto r = open_index(tmp.str(), false);
	EXPECT_EQ(ask(*r, {key(KeyType::body, "GERADE")}).definite.size(), 150u);
	EXPECT_TRUE(ask(*r, {key(KeyType::body, "UNGERADE")}).definite.empty());
	// and the new mails after the rebuild are indexed as usual
	w->begin_document(301);
	w->add_text(Field::body, "", "NACHZÜGLER");
	w->commit();
	auto r2 = open_index(tmp.str(), false);
	EXPECT_EQ(ask(*r2, {key(KeyType::body, "ZÜGLER")}).definite, (std::set<std::uint32_t>{301}));
}

TEST(FtsIndexLifecycle, AnIndexOfAnOlderFormatStartsAfresh)
{
	TempDir tmp;
	fs::create_directories(tmp.str());
	{
		// format 1: with a termlist
		Xapian::WritableDatabase old(tmp.str() + "/db-1", Xapian::DB_CREATE);
		Xapian::Document doc;
		doc.add_boolean_term("BALT");
		old.replace_document(1, doc);
		old.set_metadata("tresor.format", "1");
		old.set_metadata("tresor.uidvalidity", "7");
		old.set_metadata("tresor.last_uid", "1");
		old.commit();
	}
	std::ofstream(tmp.str() + "/index") << "glass db-1\n";
	EXPECT_EQ(open_index(tmp.str(), false)->last_uid(), 1u);
	OpenOptions o;
	o.writable = true;
	o.uidvalidity = 7;
	std::string notice;
	auto w = Index::open(tmp.str(), o, notice);
	EXPECT_NE(notice.find("format 1"), std::string::npos) << notice;
	EXPECT_EQ(w->last_uid(), 0u);
	EXPECT_EQ(w->document_count(), 0u);
	EXPECT_FALSE(fs::exists(tmp.str() + "/db-1"));
}

TEST(FtsAttachmentText, HeldDocumentsGetTheirAttachmentTextAndCommitWaitsForThem)
{
	TempDir tmp;
	auto w = open_index(tmp.str(), true);
	w->begin_document(1);
	w->add_text(Field::body, "", "ERSTE MAIL");
	w->hold_document(); // its PDF is still being extracted
	w->begin_document(2);
	w->add_text(Field::body, "", "ZWEITE MAIL");
	w->end_document();
	EXPECT_THROW(w->commit(), IndexError) << "UID 1 lacks its attachment text";
	EXPECT_THROW(w->add_held_text(2, "X"), IndexError) << "UID 2 is not held";
	w->add_held_text(1, "RECHNUNGSNUMMER R-2026-0815 ZAHLBAR");
	w->add_held_text(1, "BIS 30.11.");
	w->release_document(1);
	EXPECT_THROW(w->release_document(1), IndexError) << "released twice";
	w->commit();
	EXPECT_EQ(w->last_uid(), 2u);

	auto r = open_index(tmp.str(), false);
	EXPECT_EQ(r->document_count(), 2u);
	EXPECT_EQ(ask(*r, {key(KeyType::text, "NGSNUMMER")}).definite, (std::set<std::uint32_t>{1}));
	EXPECT_EQ(ask(*r, {key(KeyType::body, "R-2026-08")}).definite, (std::set<std::uint32_t>{1}));
	EXPECT_EQ(ask(*r, {key(KeyType::text, "30.11")}).definite, (std::set<std::uint32_t>{1}));
	EXPECT_EQ(ask(*r, {key(KeyType::body, "ERSTE")}).definite, (std::set<std::uint32_t>{1}));
	EXPECT_EQ(ask(*r, {key(KeyType::body, "MAIL")}).definite, (std::set<std::uint32_t>{1, 2}));
	// attachment text is not a header
	EXPECT_TRUE(ask(*r, {key(KeyType::header, "RECHNUNG", "SUBJECT")}).definite.empty());
}

TEST(FtsAttachmentText, AHeldDocumentClosedUnreleasedIsIndexedAgainLater)
{
	TempDir tmp;
	{
		auto w = open_index(tmp.str(), true);
		w->begin_document(1);
		w->add_text(Field::body, "", "EINS");
		w->end_document();
		w->commit();
		w->begin_document(2);
		w->add_text(Field::body, "", "ZWEI");
		w->hold_document();
		// the indexer dies before the text arrives
	}
	auto w = open_index(tmp.str(), true);
	EXPECT_EQ(w->last_uid(), 1u) << "UID 2 must be indexed again";
	EXPECT_EQ(w->document_count(), 1u);
}

TEST(FtsIndexLifecycle, TwoProcessesRemovingOneDamagedIndexBothSucceed)
{
	for (int round = 0; round < 5; round++) {
		TempDir tmp;
		std::string dir = tmp.str() + "/index";
		for (int d = 0; d < 20; d++) {
			std::filesystem::create_directories(dir + "/db-" + std::to_string(d));
			for (int f = 0; f < 100; f++)
				std::ofstream(dir + "/db-" + std::to_string(d) + "/" + std::to_string(f)) << "x";
		}
		std::string errors;
		std::mutex errors_lock;
		auto remove = [&] {
			try {
				Index::remove(dir);
			} catch (const IndexError &e) {
				std::lock_guard<std::mutex> lock(errors_lock);
				errors += e.what();
			}
		};
		std::thread other(remove);
		remove();
		other.join();
		EXPECT_EQ(errors, "");
		EXPECT_FALSE(std::filesystem::exists(dir));
	}
}

// A process still writing to an index that another process removed as
// damaged (an indexer mid-batch while a search found the damage) must not
// write into the database that replaces it: its commit would put its
// version file over the newcomer's tables, and searches would read a
// mixture that can look intact but lack mails.
TEST(FtsIndexLifecycle, AWriterOfARemovedIndexCannotTouchItsSuccessor)
{
	TempDir tmp;
	const std::string dir = tmp.str();
	auto stale = open_index(dir, true);
	stale->begin_document(1);
	stale->add_text(Field::body, "", "ALTER TEXT");
	stale->commit();
	stale->begin_document(2);
	stale->add_text(Field::body, "", "SPAETER TEXT");
	stale->end_document();

	Index::remove(dir);
	{
		auto successor = open_index(dir, true);
		for (std::uint32_t uid = 1; uid <= 40; uid++) {
			successor->begin_document(uid);
			successor->add_text(Field::body, "", "NEUER TEXT NUMMER " + std::to_string(uid));
		}
		successor->commit();
	}
	try {
		stale->commit(); // fails: its database is gone
		ADD_FAILURE() << "a writer of a removed index committed";
	} catch (const CorruptIndex &e) {
		EXPECT_NE(std::string(e.what()).find("removed or replaced"), std::string::npos)
			<< e.what();
	}
	stale.reset();

	auto r = open_index(dir, false);
	EXPECT_EQ(r->last_uid(), 40u);
	auto a = ask(*r, {key(KeyType::body, "NEUER")});
	EXPECT_EQ(a.definite.size(), 40u);
	EXPECT_TRUE(ask(*r, {key(KeyType::body, "SPAETER")}).definite.empty());
}

// Dovecot reads last_uid, then indexes the mails after it. If the index
// was removed as damaged in between, the writer finds an empty one: the
// mails it adds must not raise last_uid over the older ones in no index.
TEST(FtsIndexLifecycle, AWriterBuildingOnALastUidSinceLostDoesNotRaiseIt)
{
	TempDir tmp;
	const std::string dir = tmp.str();
	{
		auto w = open_index(dir, true);
		for (std::uint32_t uid = 1; uid <= 39; uid++) {
			w->begin_document(uid);
			w->add_text(Field::body, "", "ALTER TEXT " + std::to_string(uid));
		}
		w->commit();
	}
	const std::uint32_t told = open_index(dir, false)->last_uid();
	ASSERT_EQ(told, 39u);
	Index::remove(dir); // another process found it damaged

	{
		auto w = open_index(dir, true);
		EXPECT_TRUE(w->builds_on(told));
		for (std::uint32_t uid = 40; uid <= 41; uid++) {
			w->begin_document(uid);
			w->add_text(Field::body, "", "NEUER TEXT");
		}
		w->commit();
	}
	{
		auto r = open_index(dir, false);
		EXPECT_EQ(r->last_uid(), 0u) << "UIDs 1..39 would count as indexed";
	}
	// the next run indexes from UID 1; 40 and 41 are there already
	{
		auto w = open_index(dir, true);
		EXPECT_FALSE(w->builds_on(0));
		for (std::uint32_t uid = 1; uid <= 41; uid++) {
			w->begin_document(uid);
			w->add_text(Field::body, "", "WIEDER TEXT " + std::to_string(uid));
		}
		w->commit();
	}
	auto r = open_index(dir, false);
	EXPECT_EQ(r->last_uid(), 41u);
	EXPECT_TRUE(ask(*r, {key(KeyType::body, "ALTER")}).definite.empty());
	EXPECT_EQ(ask(*r, {key(KeyType::body, "WIEDER")}).definite.size(), 39u);
	EXPECT_EQ(ask(*r, {key(KeyType::body, "NEUER")}).definite,
		  (std::set<std::uint32_t>{40, 41}));
	// a writer told less than the index holds builds on it as usual
	auto w = open_index(dir, true);
	EXPECT_FALSE(w->builds_on(30));
}

// Several processes finding no index at once each build a database; one
// claims the stub, the others write into that one instead of an orphan.
TEST(FtsIndexLifecycle, WritersCreatingAnIndexAtOnceShareOne)
{
	for (int round = 0; round < 5; round++) {
		TempDir tmp;
		const std::string dir = tmp.str();
		std::vector<std::thread> writers;
		std::string errors;
		std::mutex errors_lock;
		for (std::uint32_t uid = 1; uid <= 4; uid++) {
			writers.emplace_back([&, uid] {
				try {
					auto w = open_index(dir, true);
					w->begin_document(uid);
					w->add_text(Field::body, "", "GEMEINSAM");
					w->commit();
				} catch (const IndexError &e) {
					std::lock_guard<std::mutex> lock(errors_lock);
					errors += e.what();
				}
			});
		}
		for (auto &t : writers)
			t.join();
		EXPECT_EQ(errors, "");
		auto r = open_index(dir, false);
		EXPECT_EQ(ask(*r, {key(KeyType::body, "GEMEINSAM")}).definite,
			  (std::set<std::uint32_t>{1, 2, 3, 4}));
		int databases = 0;
		for (auto &e : fs::directory_iterator(dir))
			databases += e.path().filename().string().rfind("db-", 0) == 0;
		EXPECT_EQ(databases, 1);
	}
}

// Dovecot asks for last_uid, then searches. If another process removed the
// index as damaged in between, the search opens a new, emptier index: the
// mails Dovecot takes for indexed must not come back as "no match".
TEST(FtsSubstringSearch, MailsDovecotTakesForIndexedAreMaybeInAShrunkIndex)
{
	TempDir tmp;
	write_corpus(*open_index(tmp.str(), true));
	auto r = open_index(tmp.str(), false);
	std::vector<Key> keys{key(KeyType::body, "RECHNUNG")};
	auto res = r->lookup(keys, true, 4);
	ASSERT_TRUE(res);
	EXPECT_TRUE(res->maybe.empty()); // nothing above last_uid
	for (auto negated : {false, true}) {
		Index::remove(tmp.str());
		auto gone = open_index(tmp.str(), false);
		std::vector<Key> k{key(KeyType::text, "RECHNUNG", "", negated)};
		auto shrunk = gone->lookup(k, true, 4);
		ASSERT_TRUE(shrunk);
		EXPECT_TRUE(shrunk->definite.empty());
		ASSERT_EQ(shrunk->maybe.size(), 1u);
		EXPECT_EQ(shrunk->maybe[0].first, 1u);
		EXPECT_EQ(shrunk->maybe[0].last, 4u);
	}
}

// Runs under 3 bytes are not indexed; a key that is only such runs is left
// to Dovecot, and in a longer key they don't count.
TEST(FtsSubstringSearch, ShortRunsAreLeftToDovecot)
{
	TempDir tmp;
	{
		auto w = open_index(tmp.str(), true);
		w->begin_document(1);
		w->add_text(Field::body, "", "AB RECHNUNG 12 ÄB");
		w->begin_document(2);
		w->add_text(Field::body, "", "ABC");
		w->commit();
	}
	auto r = open_index(tmp.str(), false);
	EXPECT_FALSE(ask(*r, {key(KeyType::body, "AB")}).handled);
	EXPECT_FALSE(ask(*r, {key(KeyType::text, "12 AB")}).handled);
	auto three_bytes = ask(*r, {key(KeyType::body, "ÄB")}); // 3 bytes: indexed
	EXPECT_EQ(three_bytes.definite, (std::set<std::uint32_t>{1}));
	auto mixed = ask(*r, {key(KeyType::body, "AB RECHNUNG")});
	EXPECT_TRUE(mixed.handled);
	EXPECT_TRUE(mixed.definite.empty());
	EXPECT_EQ(mixed.maybe, (std::set<std::uint32_t>{1}));
	EXPECT_EQ(ask(*r, {key(KeyType::body, "ABC")}).definite, (std::set<std::uint32_t>{2}));
	// the short run is not a term of its own
	std::size_t short_terms = 0;
	for (auto &e : fs::directory_iterator(tmp.str()))
		if (e.path().filename().string().rfind("db-", 0) == 0) {
			Xapian::Database db(e.path().string());
			for (auto t = db.allterms_begin("B"); t != db.allterms_end("B"); ++t)
				short_terms += (*t).size() < 1 + RunSplitter::kMinIndexed;
		}
	EXPECT_EQ(short_terms, 0u);
}

// A writer commits without fsync while a marker holding the boot id is on
// disk, and syncs everything and removes the marker when it closes.
TEST(FtsIndexLifecycle, AWriterSyncsAndRemovesItsUnsyncedMarkerWhenItCloses)
{
	TempDir tmp;
	const fs::path marker = fs::path(tmp.str()) / "unsynced";
	{
		auto w = open_index(tmp.str(), true);
		w->begin_document(1);
		w->add_text(Field::body, "", "GESICHERT");
		w->commit();
		std::ifstream in(marker);
		std::string boot_id;
		ASSERT_TRUE(static_cast<bool>(in >> boot_id)) << "no marker while committing";
		std::ifstream now("/proc/sys/kernel/random/boot_id");
		std::string current;
		now >> current;
		EXPECT_EQ(boot_id, current);
	}
	EXPECT_FALSE(fs::exists(marker));
	auto r = open_index(tmp.str(), false);
	EXPECT_EQ(ask(*r, {key(KeyType::body, "GESICHERT")}).definite, (std::set<std::uint32_t>{1}));
}

// Left by a process that was killed, the marker is harmless (the commits
// are in the page cache); left from an earlier boot, the index may miss
// blocks its version file names, so it counts as damaged.
TEST(FtsIndexLifecycle, AnIndexUpdatedWithoutSyncBeforeARestartIsDamaged)
{
	TempDir tmp;
	write_corpus(*open_index(tmp.str(), true));
	const fs::path marker = fs::path(tmp.str()) / "unsynced";
	std::string current;
	std::ifstream("/proc/sys/kernel/random/boot_id") >> current;
	std::ofstream(marker) << current << "\n";
	EXPECT_EQ(open_index(tmp.str(), false)->last_uid(), 4u);
	std::ofstream(marker, std::ios::trunc) << "4f7d0c1e-0000-4000-8000-000000000000\n";
	EXPECT_THROW(open_index(tmp.str(), false), CorruptIndex);
	EXPECT_THROW(open_index(tmp.str(), true), CorruptIndex);
	std::ofstream(marker, std::ios::trunc) << "";
	EXPECT_THROW(open_index(tmp.str(), false), CorruptIndex);
	Index::remove(tmp.str());
	EXPECT_EQ(open_index(tmp.str(), true)->last_uid(), 0u);
}

// Each writer creates the unsynced marker at its first commit and removes
// it when it closes, and each commit discards the revision before the last
// one: a reader opening and searching the index meanwhile, whenever it
// looks, gets an answer - never damage, never "changed during the search".
TEST(FtsIndexLifecycle, ReadersAnswerWhileWritersCommitAndSyncOverAndOver)
{
	TempDir tmp;
	const std::string dir = tmp.str();
	write_corpus(*open_index(dir, true));
	std::atomic<bool> writing{true};
	std::string writer_error;
	std::thread writer([&] {
		try {
			for (std::uint32_t uid = 5; uid < 125 && writer_error.empty(); uid++) {
				auto w = open_index(dir, true);
				w->begin_document(uid);
				w->add_text(Field::body, "", "NACHSCHUB");
				w->commit();
			}
		} catch (const std::exception &e) {
			writer_error = e.what();
		}
		writing = false;
	});
	std::string damage, wrong;
	unsigned opened = 0;
	while (writing) {
		try {
			auto r = open_index(dir, false);
			EXPECT_EQ(ask(*r, {key(KeyType::body, "RECHNUNG")}).definite,
				  (std::set<std::uint32_t>{1}));
			// every mail the reader's revision has, through the
			// vocabulary file the writers append to meanwhile
			std::set<std::uint32_t> want;
			for (std::uint32_t uid = 5; uid <= r->last_uid(); uid++)
				want.insert(uid);
			if (ask(*r, {key(KeyType::body, "CHSCH")}).definite != want && wrong.empty())
				wrong = "a reader at last_uid " + std::to_string(r->last_uid()) +
					" missed mails";
			opened++;
		} catch (const std::exception &e) {
			damage = e.what();
			break;
		}
	}
	writer.join();
	EXPECT_EQ(damage, "") << "after " << opened << " readers";
	EXPECT_EQ(wrong, "");
	EXPECT_EQ(writer_error, "");
	EXPECT_GT(opened, 0u);
}

namespace {

// The directory of the database the index's stub names.
std::string current_db(const std::string &dir)
{
	std::ifstream stub(dir + "/index");
	std::string backend, target;
	if (!(stub >> backend >> target) || backend != "glass")
		throw std::runtime_error("no stub naming a glass database in " + dir);
	return dir + "/" + target;
}

// The vocabulary files of the index's current database (normally one).
std::vector<fs::path> vocabulary_files(const std::string &dir)
{
	std::vector<fs::path> files;
	for (auto &e : fs::directory_iterator(current_db(dir)))
		if (e.path().filename().string().rfind("vocabulary-", 0) == 0)
			files.push_back(e.path());
	return files;
}

std::vector<std::string> lines_of(const fs::path &file)
{
	std::ifstream in(file);
	std::vector<std::string> lines;
	for (std::string line; std::getline(in, line);)
		lines.push_back(line);
	return lines;
}

std::multiset<std::string> all_terms(const std::string &db_dir)
{
	Xapian::Database db(db_dir);
	std::multiset<std::string> terms;
	for (auto t = db.allterms_begin(); t != db.allterms_end(); ++t)
		terms.insert(*t);
	return terms;
}

// The vocabulary holds every term of the database once, nothing else.
void expect_vocabulary_is_the_term_list(const std::string &dir)
{
	auto files = vocabulary_files(dir);
	ASSERT_EQ(files.size(), 1u);
	auto lines = lines_of(files[0]);
	std::multiset<std::string> in_file(lines.begin(), lines.end());
	EXPECT_EQ(in_file, all_terms(current_db(dir)));
}

// A corpus of words shared between mails and fields, with words of their
// own, indexed in batches of 40.
const char *const kWords[] = {"RECHNUNG", "EINGANGSRECHNUNG", "ZAHLUNG", "LIEFERANT", "GMBH",
			      "MAHNUNG", "ÜBERWEISUNG", "KONTO", "DE89370400440532013000",
			      "BESTELLUNG", "ANGEBOT", "MÜLLER", "VERTRAG", "STEUER"};

void write_random_corpus(const std::string &dir, std::uint32_t mails, std::mt19937 &random,
			 std::uint32_t vocabulary_from_documents = 0)
{
	auto w = open_index(dir, true, 7, 30000, vocabulary_from_documents);
	auto word = [&] {
		std::string out = kWords[random() % std::size(kWords)];
		if (random() % 3 == 0)
			out += std::to_string(random() % 500);
		return out;
	};
	for (std::uint32_t uid = 1; uid <= mails; uid++) {
		w->begin_document(uid);
		w->add_text(Field::header, "SUBJECT", word() + " " + word());
		w->end_field();
		w->add_text(Field::header, "X-KUNDE", word());
		w->end_field();
		w->add_text(Field::body, "", word() + " " + word() + "\n" + word());
		w->end_field();
		if (uid % 4 == 0) {
			w->add_text(Field::attachment, "", word() + " " + word());
			w->end_field();
		}
		if (uid % 5 == 0) {
			w->add_text(Field::html, "", word());
			w->end_field();
		}
		if (uid % 40 == 0)
			w->commit();
	}
	w->commit();
}

// The terms of one prefix (the prefix cut off).
std::set<std::string> terms_with_prefix(const std::string &db_dir, char prefix)
{
	std::set<std::string> out;
	for (const std::string &t : all_terms(db_dir))
		if (!t.empty() && t[0] == prefix)
			out.insert(t.substr(1));
	return out;
}

std::vector<Key> random_query(std::mt19937 &random)
{
	std::string w = kWords[random() % std::size(kWords)];
	std::size_t from = random() % (w.size() - 3);
	std::string value = w.substr(from, 3 + random() % (w.size() - from - 2));
	if (random() % 4 == 0)
		value += std::to_string(random() % 500);
	if (random() % 5 == 0)
		value += " " + std::string(kWords[random() % std::size(kWords)]).substr(0, 4);
	switch (random() % 5) {
	case 0:
		return {key(KeyType::body, value)};
	case 1:
		return {key(KeyType::header, value, "SUBJECT")};
	case 2:
		return {key(KeyType::header, value, "X-KUNDE", random() % 2 == 0)};
	case 3:
		return {key(KeyType::header_approx, value, "SUBJECT")};
	default:
		return {key(KeyType::text, value), key(KeyType::body, value.substr(0, 3))};
	}
}

} // namespace

TEST(FtsSubstringSearch, HtmlTermsAreTheRunsTheBodyLacks)
{
	// random body and HTML texts sharing words: a mail's HTML terms ('W') are
	// exactly the runs of its HTML (as a mail with only that HTML gets
	// them) that are not runs of its body
	std::mt19937 random(11);
	auto text = [&](std::size_t words) {
		std::string out;
		for (std::size_t i = 0; i < words; i++) {
			out += kWords[random() % std::size(kWords)];
			if (random() % 3 == 0)
				out += std::to_string(random() % 40);
			out += random() % 4 == 0 ? "\n" : " ";
		}
		return out;
	};
	for (int round = 0; round < 20; round++) {
		std::string body = text(random() % 30), html = text(1 + random() % 30);
		TempDir both, html_only;
		{
			auto w = open_index(both.str(), true);
			w->begin_document(1);
			w->add_text(Field::body, "", body);
			w->end_field();
			w->add_text(Field::html, "", html);
			w->end_field();
			w->commit();
		}
		{
			auto w = open_index(html_only.str(), true);
			w->begin_document(1);
			w->add_text(Field::html, "", html);
			w->end_field();
			w->commit();
		}
		std::set<std::string> body_runs = terms_with_prefix(current_db(both.str()), 'B');
		std::set<std::string> expected;
		for (const std::string &run : terms_with_prefix(current_db(html_only.str()), 'W'))
			if (body_runs.count(run) == 0)
				expected.insert(run);
		EXPECT_EQ(terms_with_prefix(current_db(both.str()), 'W'), expected)
			<< "body: " << body << "\nhtml: " << html;
		EXPECT_FALSE(terms_with_prefix(current_db(html_only.str()), 'W').empty());
	}
}

TEST(FtsVocabulary, HoldsEveryTermOnceAcrossCommits)
{
	TempDir tmp;
	std::mt19937 random(1);
	write_random_corpus(tmp.str(), 200, random);
	expect_vocabulary_is_the_term_list(tmp.str());
	// a second writer adds to it
	{
		auto w = open_index(tmp.str(), true);
		w->begin_document(201);
		w->add_text(Field::body, "", "RECHNUNG BRANDNEU");
		w->commit();
	}
	expect_vocabulary_is_the_term_list(tmp.str());
}

TEST(FtsVocabulary, SearchesAnswerAsTheTermListDoes)
{
	TempDir tmp;
	std::mt19937 random(2);
	write_random_corpus(tmp.str(), 300, random);
	struct Query {
		std::vector<Key> keys;
		bool and_args;
	};
	std::vector<Query> queries;
	for (int i = 0; i < 300; i++)
		queries.push_back({random_query(random), random() % 2 == 0});
	auto answers = [&] {
		auto r = open_index(tmp.str(), false);
		std::vector<Answer> out;
		for (const auto &q : queries)
			out.push_back(ask(*r, q.keys, q.and_args));
		return out;
	};
	const auto with_file = answers();
	std::size_t found = 0;
	for (const auto &a : with_file)
		found += a.definite.size() + a.maybe.size();
	EXPECT_GT(found, 1000u) << "the queries find something";
	// without the file the reader walks Xapian's term list
	for (const auto &file : vocabulary_files(tmp.str()))
		fs::remove(file);
	const auto from_term_list = answers();
	for (std::size_t i = 0; i < queries.size(); i++) {
		EXPECT_EQ(with_file[i].handled, from_term_list[i].handled) << queries[i].keys[0].value;
		EXPECT_EQ(with_file[i].definite, from_term_list[i].definite)
			<< queries[i].keys[0].value;
		EXPECT_EQ(with_file[i].maybe, from_term_list[i].maybe) << queries[i].keys[0].value;
	}
	// the next writer writes the deleted file again
	open_index(tmp.str(), true);
	expect_vocabulary_is_the_term_list(tmp.str());
}

TEST(FtsVocabulary, ATornAppendIsIgnoredThenCutOff)
{
	TempDir tmp;
	write_corpus(*open_index(tmp.str(), true));
	auto files = vocabulary_files(tmp.str());
	ASSERT_EQ(files.size(), 1u);
	const auto committed = fs::file_size(files[0]);
	// a writer killed while appending the terms of a commit it never made
	std::ofstream(files[0], std::ios::app) << "BHALBGESCHRIEB";
	{
		auto r = open_index(tmp.str(), false);
		EXPECT_EQ(ask(*r, {key(KeyType::body, "RECHNUNG")}).definite,
			  (std::set<std::uint32_t>{1}));
		EXPECT_TRUE(ask(*r, {key(KeyType::body, "HALBGE")}).definite.empty());
	}
	{
		auto w = open_index(tmp.str(), true);
		EXPECT_EQ(fs::file_size(files[0]), committed);
		w->begin_document(5);
		w->add_text(Field::body, "", "NEUWORT");
		w->commit();
	}
	expect_vocabulary_is_the_term_list(tmp.str());
	auto r = open_index(tmp.str(), false);
	EXPECT_EQ(ask(*r, {key(KeyType::body, "EUWOR")}).definite, (std::set<std::uint32_t>{5}));
}

TEST(FtsVocabulary, ACommitMadeWithoutItIsNoticedAndTheFileWrittenAfresh)
{
	for (bool drop_metadata : {false, true}) {
		TempDir tmp;
		write_corpus(*open_index(tmp.str(), true));
		const auto old_file = vocabulary_files(tmp.str()).at(0);
		{
			// an older version of this code, or Xapian committing in a
			// destructor: a document and no vocabulary
			Xapian::WritableDatabase raw(current_db(tmp.str()),
						     Xapian::DB_OPEN | Xapian::DB_NO_TERMLIST);
			Xapian::Document doc;
			doc.add_boolean_term("BFREMDWORT");
			raw.replace_document(5, doc);
			raw.set_metadata("tresor.last_uid", "5");
			if (drop_metadata)
				raw.set_metadata("tresor.vocabulary", "");
			raw.commit();
		}
		{
			// the reader scans the term list instead: nothing is missed
			auto r = open_index(tmp.str(), false);
			EXPECT_EQ(ask(*r, {key(KeyType::body, "REMDWO")}).definite,
				  (std::set<std::uint32_t>{5}));
		}
		open_index(tmp.str(), true); // the next writer writes it afresh
		EXPECT_FALSE(fs::exists(old_file));
		expect_vocabulary_is_the_term_list(tmp.str());
		auto r = open_index(tmp.str(), false);
		EXPECT_EQ(ask(*r, {key(KeyType::body, "REMDWO")}).definite,
			  (std::set<std::uint32_t>{5}));
		// and reads it (the term list isn't walked: a term only there
		// is not found)
		{
			Xapian::WritableDatabase raw(current_db(tmp.str()),
						     Xapian::DB_OPEN | Xapian::DB_NO_TERMLIST);
			auto value = raw.get_metadata("tresor.vocabulary");
			Xapian::Document doc;
			doc.add_boolean_term("BNURINXAPIAN");
			raw.replace_document(6, doc);
			raw.set_metadata("tresor.last_uid", "6");
			// as if the vocabulary were for this revision
			auto space = value.find(' ');
			raw.set_metadata("tresor.vocabulary",
					 std::to_string(raw.get_revision() + 1) + value.substr(space));
			raw.commit();
		}
		auto r2 = open_index(tmp.str(), false);
		EXPECT_TRUE(ask(*r2, {key(KeyType::body, "NURINX")}).definite.empty());
	}
}

TEST(FtsVocabulary, CompactionWritesItAfreshWithoutTheExpungedMails)
{
	TempDir tmp;
	{
		auto w = open_index(tmp.str(), true);
		write_corpus(*w);
		w->begin_document(5);
		w->add_text(Field::body, "", "NURHIER");
		w->commit();
		w->expunge(5);
		w->commit();
	}
	auto before = lines_of(vocabulary_files(tmp.str()).at(0));
	EXPECT_NE(std::find(before.begin(), before.end(), "BNURHIER"), before.end());
	open_index(tmp.str(), true)->compact();
	expect_vocabulary_is_the_term_list(tmp.str());
	auto after = lines_of(vocabulary_files(tmp.str()).at(0));
	EXPECT_EQ(std::find(after.begin(), after.end(), "BNURHIER"), after.end());
	auto r = open_index(tmp.str(), false);
	EXPECT_EQ(ask(*r, {key(KeyType::text, "ZAHLUNGSZ")}).definite, (std::set<std::uint32_t>{3}));
	EXPECT_TRUE(ask(*r, {key(KeyType::body, "NURHIER")}).definite.empty());
}

TEST(FtsVocabulary, StartsOnceTheFolderIsLargeAndStays)
{
	TempDir tmp;
	const std::string dir = tmp.str();
	auto write = [&](std::uint32_t first, std::uint32_t last, std::uint32_t from) {
		auto w = open_index(dir, true, 7, 30000, from);
		for (std::uint32_t uid = first; uid <= last; uid++) {
			w->begin_document(uid);
			w->add_text(Field::body, "", "POSTEN" + std::to_string(uid) + " RECHNUNG");
		}
		w->commit();
	};
	write(1, 40, 50);
	EXPECT_TRUE(vocabulary_files(dir).empty()) << "40 mails: the term list is walked";
	EXPECT_EQ(ask(*open_index(dir, false), {key(KeyType::body, "OSTEN3")}).definite.size(), 11u);
	write(41, 60, 50);
	expect_vocabulary_is_the_term_list(dir);
	// a writer told a larger number keeps the file up to date all the same
	write(61, 70, 1000);
	expect_vocabulary_is_the_term_list(dir);
	auto r = open_index(dir, false);
	EXPECT_EQ(ask(*r, {key(KeyType::body, "OSTEN6")}).definite.size(), 11u); // 6, 60-69
	EXPECT_EQ(ask(*r, {key(KeyType::body, "OSTEN70")}).definite, (std::set<std::uint32_t>{70}));
}

TEST(FtsSettings, VocabularyFrom)
{
	Settings s;
	EXPECT_EQ(s.vocabulary_from_mails, 25000u);
	s.set("tresor_fts_vocabulary_from", " 0 ");
	EXPECT_EQ(s.vocabulary_from_mails, 0u);
	s.set("tresor_fts_vocabulary_from", "100000");
	EXPECT_EQ(s.vocabulary_from_mails, 100000u);
	for (const char *bad : {"", "-1", "25k", "1e5", "99999999999", "2147483649"}) {
		try {
			s.set("tresor_fts_vocabulary_from", bad);
			ADD_FAILURE() << "accepted '" << bad << "'";
		} catch (const std::exception &e) {
			EXPECT_NE(std::string(e.what()).find("tresor_fts_vocabulary_from"),
				  std::string::npos) << e.what();
		}
	}
	EXPECT_EQ(s.vocabulary_from_mails, 100000u);
	bool listed = false;
	for (auto name = Settings::setting_names(); *name != nullptr; name++)
		listed = listed || std::string(*name) == "tresor_fts_vocabulary_from";
	EXPECT_TRUE(listed);
}

namespace {

std::unique_ptr<Index> open_writer(const std::string &dir, bool background_writer,
				   std::uint32_t vocabulary_from_documents = 0)
{
	OpenOptions o;
	o.writable = true;
	o.uidvalidity = 7;
	o.vocabulary_from_documents = vocabulary_from_documents;
	o.background_writer = background_writer;
	std::string notice;
	return Index::open(dir, o, notice);
}

// Every term with the UIDs of its postings, and the metadata a reader
// goes by: all there is of a database without a term list.
struct IndexContent {
	std::map<std::string, std::vector<std::uint32_t>> postings;
	std::string last_uid, expunged;
	bool operator==(const IndexContent &) const = default;
};

IndexContent content_of(const std::string &dir)
{
	Xapian::Database db(current_db(dir));
	IndexContent c;
	for (auto t = db.allterms_begin(); t != db.allterms_end(); ++t)
		for (auto p = db.postlist_begin(*t); p != db.postlist_end(*t); ++p)
			c.postings[*t].push_back(*p);
	c.last_uid = db.get_metadata("tresor.last_uid");
	c.expunged = db.get_metadata("tresor.expunged");
	return c;
}

// What the plugin does while Dovecot indexes: mails with an attachment
// are held until the helper's text comes, some mails later; commits in
// the background every 25 mails; a few expunges, and a last commit.
void write_like_the_plugin(Index &w, std::uint32_t mails, std::uint32_t seed)
{
	std::mt19937 random(seed);
	auto word = [&] {
		std::string out = kWords[random() % std::size(kWords)];
		if (random() % 3 == 0)
			out += std::to_string(random() % 500);
		return out;
	};
	std::uint32_t held = 0;
	for (std::uint32_t uid = 1; uid <= mails; uid++) {
		w.begin_document(uid);
		w.add_text(Field::header, "SUBJECT", word() + " " + word());
		w.end_field();
		w.add_text(Field::body, "", word() + " " + word() + "\n" + word() + " " + word());
		w.end_field();
		if (uid % 3 == 0) {
			w.add_text(Field::html, "", word() + " " + word());
			w.end_field();
		}
		if (uid % 50 == 0)
			w.add_text(Field::header, std::string(80, 'Q'), "TOO LONG A NAME");
		const bool with_attachment = uid % 4 == 0;
		if (held != 0 && (with_attachment || uid % 25 == 0)) {
			w.add_held_text(held, word() + " ANHANG" + std::to_string(held) + "X");
			w.release_document(held);
			held = 0;
		}
		if (with_attachment) {
			w.hold_document();
			held = uid;
		} else {
			w.end_document();
		}
		if (uid % 25 == 0 && held == 0)
			w.commit_in_background();
		if (uid == mails / 2) {
			w.expunge(3);
			w.expunge(uid - 1);
		}
	}
	if (held != 0) {
		w.add_held_text(held, "LETZTER ANHANG");
		w.release_document(held);
	}
	w.commit();
}

} // namespace

// The writer's thread builds the same index as the caller's thread does:
// the same postings, the same last_uid, the same expunged mails.
TEST(FtsBackgroundWriter, BuildsTheSameIndexAsTheCallersThread)
{
	TempDir tmp;
	for (bool background : {false, true}) {
		auto w = open_writer(tmp.str(background ? "thread" : "caller"), background);
		write_like_the_plugin(*w, 400, 11);
		EXPECT_EQ(w->last_uid(), 400u);
		EXPECT_EQ(w->document_count(), 398u);
	}
	const IndexContent on_caller = content_of(tmp.str("caller"));
	const IndexContent on_thread = content_of(tmp.str("thread"));
	EXPECT_EQ(on_caller.last_uid, "400");
	EXPECT_FALSE(on_caller.expunged.empty());
	EXPECT_GT(on_caller.postings.size(), 200u);
	EXPECT_TRUE(on_caller.postings.count("Z") != 0) << "the incomplete mails";
	EXPECT_TRUE(on_caller.postings.count("AANHANG8X") != 0) << "held attachment text";
	EXPECT_TRUE(on_thread == on_caller);
	auto r = open_index(tmp.str("thread"), false);
	EXPECT_EQ(ask(*r, {key(KeyType::body, "ANHANG16X")}).definite,
		  (std::set<std::uint32_t>{16}));
}

// A commit in the background runs after the documents before it; until
// it has, last_uid (which waits for it) is not raised past them.
TEST(FtsBackgroundWriter, ACommitInTheBackgroundCoversTheDocumentsBeforeIt)
{
	TempDir tmp;
	auto w = open_writer(tmp.str(), true);
	for (std::uint32_t uid = 1; uid <= 300; uid++) {
		w->begin_document(uid);
		w->add_text(Field::body, "", "TEXT NUMMER" + std::to_string(uid));
		w->end_document();
		if (uid % 100 == 0) {
			w->commit_in_background();
			EXPECT_EQ(w->last_uid(), uid);
			auto r = open_index(tmp.str(), false);
			EXPECT_EQ(r->last_uid(), uid);
			EXPECT_EQ(ask(*r, {key(KeyType::body, "NUMMER")}).definite.size(), uid);
		}
	}
	// a document larger than the writer's queue passes too
	w->begin_document(301);
	w->add_text(Field::attachment, "", std::string(9u << 20, 'X') + " GROSS");
	w->commit();
	auto r = open_index(tmp.str(), false);
	EXPECT_EQ(ask(*r, {key(KeyType::text, "GROSS")}).definite, (std::set<std::uint32_t>{301}));
}

// A failure on the writer's thread is thrown to the caller by its next
// call that can fail, and the writer commits nothing after it: last_uid
// never passes a mail that is in no index.
TEST(FtsBackgroundWriter, AFailureOnTheThreadIsThrownByALaterCall)
{
	TempDir tmp;
	const std::string dir = tmp.str();
	auto w = open_writer(dir, true);
	for (std::uint32_t uid = 1; uid <= 10; uid++) {
		w->begin_document(uid);
		w->add_text(Field::body, "", "ERSTER TEIL");
	}
	w->commit();
	w->begin_document(11);
	w->add_text(Field::body, "", "ZWEITER TEIL");
	Index::remove(dir); // as another process does with a damaged index
	w->commit_in_background(); // fails on the thread
	bool thrown = false;
	try {
		for (std::uint32_t uid = 12; uid <= 5000; uid++) {
			w->begin_document(uid);
			w->add_text(Field::body, "", "DRITTER TEIL");
			w->end_document();
		}
		w->commit();
	} catch (const CorruptIndex &e) {
		thrown = true;
		EXPECT_NE(std::string(e.what()).find("removed or replaced"), std::string::npos)
			<< e.what();
	}
	EXPECT_TRUE(thrown);
	EXPECT_THROW(w->commit(), CorruptIndex) << "and again at every later commit";
	EXPECT_EQ(w->last_uid(), 10u);
	w.reset();
	auto successor = open_writer(dir, true);
	EXPECT_EQ(successor->last_uid(), 0u);
}

namespace {

std::unique_ptr<Index> open_reader(const std::string &dir, std::size_t remembered_term_list_max)
{
	OpenOptions o;
	o.uidvalidity = 7;
	o.remembered_term_list_max = remembered_term_list_max;
	std::string notice;
	return Index::open(dir, o, notice);
}

} // namespace

// A folder without a vocabulary file: readers answer from the term list
// they remember (or, beyond its limit, from Xapian's) exactly as the
// writer does from Xapian's, and a commit in between is seen at once.
TEST(FtsVocabulary, AReaderRemembersTheTermListOfAnUnchangedFolder)
{
	TempDir tmp;
	const std::string dir = tmp.str();
	std::mt19937 random(5);
	write_random_corpus(dir, 300, random, 1000000);
	ASSERT_TRUE(vocabulary_files(dir).empty());
	std::vector<std::vector<Key>> queries;
	for (int i = 0; i < 200; i++)
		queries.push_back(random_query(random));
	queries.push_back({key(KeyType::text, "KUNDE:")});
	queries.push_back({key(KeyType::text, "NEUWORT")});
	auto answers = [&](Index &idx) {
		std::vector<Answer> out;
		for (const auto &q : queries)
			out.push_back(ask(idx, q, false));
		return out;
	};
	auto expect_same = [&](const std::vector<Answer> &got, const std::vector<Answer> &want,
			       const char *what) {
		ASSERT_EQ(got.size(), want.size());
		for (std::size_t i = 0; i < got.size(); i++) {
			EXPECT_EQ(got[i].handled, want[i].handled) << what << " " << queries[i][0].value;
			EXPECT_EQ(got[i].definite, want[i].definite) << what << " " << queries[i][0].value;
			EXPECT_EQ(got[i].maybe, want[i].maybe) << what << " " << queries[i][0].value;
		}
	};
	std::vector<Answer> from_xapian;
	for (int round = 0; round < 2; round++) {
		{
			auto w = open_index(dir, true, 7, 30000, 1000000);
			if (round == 1) {
				w->begin_document(301);
				w->add_text(Field::body, "", "EIN NEUWORT KOMMT DAZU");
				w->commit();
			}
			from_xapian = answers(*w); // a writer walks Xapian's term list
		}
		std::size_t found = 0;
		for (const auto &a : from_xapian)
			found += a.definite.size() + a.maybe.size();
		EXPECT_GT(found, 1000u) << "the queries find something";
		EXPECT_EQ(from_xapian.back().definite.size(), round == 1 ? 1u : 0u);
		// twice: the second search scans what the first remembered
		// (in the second round, of the revision before the commit)
		auto remembering = open_reader(dir, 16u << 20);
		expect_same(answers(*remembering), from_xapian, "remembered");
		expect_same(answers(*remembering), from_xapian, "remembered again");
	}
	auto over_its_limit = open_reader(dir, 100);
	expect_same(answers(*over_its_limit), from_xapian, "over the limit");
	expect_same(answers(*over_its_limit), from_xapian, "over the limit again");
}
