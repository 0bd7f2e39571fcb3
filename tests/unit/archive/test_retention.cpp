// Retention rules, their end at the turn of the year, legal holds, purge
// decisions from the journal, and verify's check of purge records.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "archive/config.hpp"
#include "archive/journal.hpp"
#include "archive/retention.hpp"
#include "archive/tresor-retention.h"
#include "archive/verify.hpp"
#include "test_util.hpp"

using namespace testutil;
using tresor::Config;
using tresor::ConfigError;
using tresor::Hold;
using tresor::HoldSet;
using tresor::Journal;
using tresor::ProblemKind;
using tresor::PurgeStatus;
using tresor::Record;
using tresor::RetentionJournal;
using tresor::RetentionPeriod;
using tresor::RetentionRule;
using tresor::Verifier;

namespace {

std::string config_error(std::string_view value)
{
	Config c;
	try {
		c.set("tresor_retention", value);
	} catch (const ConfigError &e) {
		return e.what();
	}
	return "(accepted)";
}

std::string end_of(const std::string &saved, const std::string &period)
{
	auto t = tresor::parse_utc_time(saved);
	auto p = tresor::parse_retention_period(period);
	if (!t || !p)
		return "(bad input)";
	return tresor::format_utc_seconds(tresor::retention_end(*t, *p));
}

Record hold_record(const std::string &mailbox_guid, std::uint32_t uid,
		   const std::string &message_id)
{
	Record r;
	r.event = "hold";
	if (!mailbox_guid.empty()) {
		r.mailbox = "Rechnungen";
		r.mailbox_guid = mailbox_guid;
	}
	r.uid = uid;
	if (!message_id.empty())
		r.message_id = message_id;
	r.reason = "Betriebsprüfung 2026";
	return r;
}

Record unhold_record(std::uint64_t hold_seq)
{
	Record r;
	r.event = "unhold";
	r.extra.emplace_back("hold_seq", hold_seq);
	return r;
}

Record archived_save(std::uint32_t uid, const std::string &message_id = "")
{
	Record r = save_record(kGuid1, uid, mail_hash(std::to_string(uid)), "", "Rechnungen");
	if (!message_id.empty())
		r.message_id = message_id;
	return r;
}

RetentionRule rule_10y()
{
	return RetentionRule{"Rechnungen", RetentionPeriod{10, 0}};
}

} // namespace

// ---------------------------------------------------------------- rules

TEST(Retention, Periods)
{
	EXPECT_EQ(tresor::parse_retention_period("10y"), (RetentionPeriod{10, 0}));
	EXPECT_EQ(tresor::parse_retention_period("6m"), (RetentionPeriod{0, 6}));
	EXPECT_EQ(tresor::parse_retention_period("999y"), (RetentionPeriod{999, 0}));
	for (const char *bad : {"", "y", "0y", "10", "10d", "01y", "1000y", "10Y", "-1y",
				"1.5y", "10 y", "10ym", "6M"})
		EXPECT_FALSE(tresor::parse_retention_period(bad)) << bad;
	EXPECT_EQ((RetentionPeriod{10, 0}).text(), "10y");
	EXPECT_EQ((RetentionPeriod{0, 18}).text(), "18m");
}

TEST(Retention, Setting)
{
	Config c;
	c.set("tresor_retention", "Rechnungen/*=10y Archiv=6y \"Alte Belege=8y\"");
	ASSERT_EQ(c.retention.size(), 3u);
	EXPECT_EQ(c.retention[0].pattern, "Rechnungen/*");
	EXPECT_EQ(c.retention[0].period, (RetentionPeriod{10, 0}));
	EXPECT_EQ(c.retention[1].text(), "Archiv=6y");
	EXPECT_EQ(c.retention[2].pattern, "Alte Belege");
	// the last '=' separates: a pattern may contain one
	c.set("tresor_retention", "A=B=6m");
	ASSERT_EQ(c.retention.size(), 1u);
	EXPECT_EQ(c.retention[0].pattern, "A=B");
	c.set("tresor_retention", "");
	EXPECT_TRUE(c.retention.empty());
}

TEST(Retention, BadSettingNamesIt)
{
	EXPECT_EQ(config_error("Archiv"),
		  "tresor_retention: invalid rule 'Archiv' (expected PATTERN=PERIOD, "
		  "e.g. Rechnungen/*=10y)");
	EXPECT_EQ(config_error("=10y"),
		  "tresor_retention: invalid rule '=10y' (the mailbox pattern before '=' "
		  "is empty)");
	EXPECT_EQ(config_error("Archiv=10x"),
		  "tresor_retention: invalid retention period '10x' in 'Archiv=10x' "
		  "(expected 1 to 999 years or months, e.g. 10y or 6m)");
	EXPECT_EQ(config_error("Archiv=6y Rechnungen/*="),
		  "tresor_retention: invalid retention period '' in 'Rechnungen/*=' "
		  "(expected 1 to 999 years or months, e.g. 10y or 6m)");
	EXPECT_EQ(config_error("\"Archiv=6y"),
		  "tresor_retention: unterminated double quote");
	// through the C ABI too
	tresor_config *cfg = tresor_config_new();
	char err[256];
	EXPECT_EQ(tresor_config_set(cfg, "tresor_retention", "Archiv=0y", err, sizeof(err)), -1);
	EXPECT_EQ(std::string(err).rfind("tresor_retention: ", 0), 0u) << err;
	tresor_config_free(cfg);
}

TEST(Retention, FirstMatchingRuleWins)
{
	Config c;
	c.set("tresor_archive", "Archiv Archiv/* Rechnungen/*");
	c.set("tresor_retention", "Rechnungen/Alt=6y Rechnungen/*=10y Archiv/%=8y Privat=1y");
	EXPECT_EQ(c.retention_rule("Rechnungen/Alt", '/')->text(), "Rechnungen/Alt=6y");
	EXPECT_EQ(c.retention_rule("Rechnungen/Lieferant", '/')->text(), "Rechnungen/*=10y");
	EXPECT_EQ(c.retention_rule("Archiv/2020", '/')->text(), "Archiv/%=8y");
	// no rule: never purged
	EXPECT_EQ(c.retention_rule("Archiv", '/'), nullptr);
	EXPECT_EQ(c.retention_rule("Archiv/2020/Q1", '/'), nullptr);
	// a rule for a folder that is no archive folder counts for nothing
	EXPECT_EQ(c.retention_rule("Privat", '/'), nullptr);
	tresor_config *cfg = tresor_config_new();
	char err[256];
	ASSERT_EQ(tresor_config_set(cfg, "tresor_archive", "Rechnungen/*", err, sizeof(err)), 0);
	ASSERT_EQ(tresor_config_set(cfg, "tresor_retention", "Rechnungen/*=10y", err,
				    sizeof(err)), 0);
	EXPECT_STREQ(tresor_config_retention_rule(cfg, "Rechnungen/X", '/'), "Rechnungen/*=10y");
	EXPECT_EQ(tresor_config_retention_rule(cfg, "INBOX", '/'), nullptr);
	tresor_config_free(cfg);
}

// ---------------------------------------------------------------- time

TEST(Retention, EndsAtTheTurnOfTheYear)
{
	// §147 Abs. 4 AO: from the end of the calendar year of the save
	EXPECT_EQ(end_of("2016-03-01T10:00:00Z", "10y"), "2027-01-01T00:00:00Z");
	EXPECT_EQ(end_of("2016-01-01T00:00:00Z", "10y"), "2027-01-01T00:00:00Z");
	EXPECT_EQ(end_of("2016-12-31T23:59:59.999999Z", "10y"), "2027-01-01T00:00:00Z");
	EXPECT_EQ(end_of("2017-01-01T00:00:00Z", "10y"), "2028-01-01T00:00:00Z");
	// leap days change nothing
	EXPECT_EQ(end_of("2016-02-29T12:00:00Z", "1y"), "2018-01-01T00:00:00Z");
	EXPECT_EQ(end_of("2024-12-31T23:59:59Z", "4y"), "2029-01-01T00:00:00Z");
	// months are counted from the same turn of the year
	EXPECT_EQ(end_of("2016-05-05T00:00:00Z", "6m"), "2017-07-01T00:00:00Z");
	EXPECT_EQ(end_of("2016-05-05T00:00:00Z", "13m"), "2018-02-01T00:00:00Z");
	EXPECT_EQ(end_of("2016-05-05T00:00:00Z", "24m"), "2019-01-01T00:00:00Z");
	// a save before 1970 (a restored old journal) still works
	EXPECT_EQ(end_of("1969-12-31T23:59:59Z", "1y"), "1971-01-01T00:00:00Z");
}

TEST(Retention, UtcTimes)
{
	auto t = tresor::parse_utc_time("2026-11-23T09:05:00.123456Z");
	ASSERT_TRUE(t);
	EXPECT_EQ(tresor::format_time(*t), "2026-11-23T09:05:00.123456Z");
	EXPECT_EQ(*tresor::parse_utc_time("2030-01-01"), utc(2030, 1, 1));
	EXPECT_EQ(*tresor::parse_utc_time("2030-01-01T12:30:01Z"), utc(2030, 1, 1, 12, 30, 1));
	EXPECT_TRUE(tresor::parse_utc_time("2024-02-29"));
	for (const char *bad : {"", "2023-02-29", "2026-13-01", "2026-1-1", "2026-01-01T24:00:00Z",
				"2026-01-01T10:00:00", "2026-01-01T10:00:00+01:00",
				"2026-01-01 10:00:00Z", "2026-01-01T10:00:00.Z", "tomorrow"})
		EXPECT_FALSE(tresor::parse_utc_time(bad)) << bad;
	std::int64_t secs = 0;
	EXPECT_EQ(tresor_parse_utc_time("1970-01-02", &secs), 0);
	EXPECT_EQ(secs, 86400);
	EXPECT_EQ(tresor_parse_utc_time("1970-01-02T", &secs), -1);
}

// ---------------------------------------------------------------- holds

TEST(Retention, HoldMatching)
{
	Hold user;
	EXPECT_TRUE(user.whole_user());
	EXPECT_EQ(user.scope(), "the whole user");
	EXPECT_TRUE(tresor::hold_matches(user, {kGuid1, 4, ""}));

	Hold box;
	box.mailbox = "Rechnungen";
	box.mailbox_guid = kGuid1;
	EXPECT_EQ(box.scope(), "mailbox Rechnungen");
	EXPECT_TRUE(tresor::hold_matches(box, {kGuid1, 4, ""}));
	EXPECT_FALSE(tresor::hold_matches(box, {kGuid2, 4, ""}));

	Hold one = box;
	one.uid = 4;
	EXPECT_EQ(one.scope(), "UID 4 in Rechnungen");
	EXPECT_TRUE(tresor::hold_matches(one, {kGuid1, 4, ""}));
	EXPECT_FALSE(tresor::hold_matches(one, {kGuid1, 5, ""}));
	EXPECT_FALSE(tresor::hold_matches(one, {kGuid2, 4, ""}));

	Hold mid;
	mid.message_id = "rechnung-42@lieferant.example";
	EXPECT_EQ(mid.scope(), "Message-ID rechnung-42@lieferant.example");
	EXPECT_TRUE(tresor::hold_matches(mid, {kGuid2, 9, "<rechnung-42@lieferant.example>"}));
	EXPECT_TRUE(tresor::hold_matches(mid, {kGuid2, 9, " rechnung-42@lieferant.example "}));
	EXPECT_FALSE(tresor::hold_matches(mid, {kGuid2, 9, "<Rechnung-42@lieferant.example>"}));
	EXPECT_FALSE(tresor::hold_matches(mid, {kGuid2, 9, ""}));

	Hold both = box;
	both.message_id = "<a@b>";
	EXPECT_TRUE(tresor::hold_matches(both, {kGuid1, 1, "<a@b>"}));
	EXPECT_FALSE(tresor::hold_matches(both, {kGuid2, 1, "<a@b>"}));
	EXPECT_FALSE(tresor::hold_matches(both, {kGuid1, 1, "<c@d>"}));

	HoldSet set;
	one.seq = 7;
	mid.seq = 9;
	set.add(one);
	set.add(mid);
	EXPECT_EQ(set.first_match({kGuid1, 4, "<rechnung-42@lieferant.example>"})->seq, 7u);
	EXPECT_TRUE(set.remove(7));
	EXPECT_FALSE(set.remove(7));
	EXPECT_EQ(set.first_match({kGuid1, 4, "<rechnung-42@lieferant.example>"})->seq, 9u);
	EXPECT_EQ(set.first_match({kGuid1, 4, ""}), nullptr);
}

// ---------------------------------------------------------------- purge

TEST(Retention, PurgeDecisions)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(archived_save(1), utc(2014, 6, 1));                            // 1
		j.append(archived_save(2, "<held@x>"), utc(2014, 6, 1));                // 2
		j.append(archived_save(3), utc(2016, 12, 31, 23, 59, 59));              // 3
		j.append(archived_save(4), utc(2015, 1, 1));                            // 4
		j.append(hold_record("", 0, "held@x"), utc(2026, 1, 2));                // 5
		j.append(hold_record(kGuid1, 4, ""), utc(2026, 1, 2));                  // 6
		j.append(expunge_record(kGuid1, 9), utc(2026, 1, 2));                   // 7
		Record save_without_uid = archived_save(0);
		save_without_uid.guid = "g-5";
		j.append(save_without_uid, utc(2014, 6, 1));                            // 8
	}
	auto now = utc(2026, 3, 1);
	RetentionRule rule = rule_10y();
	{
		RetentionJournal rj(d.path());
		EXPECT_EQ(rj.head_seq(), 8u);
		EXPECT_EQ(rj.holds().active().size(), 2u);
		auto d1 = tresor::decide_purge(rj, rule, kGuid1, 1, "", now);
		EXPECT_EQ(d1.status, PurgeStatus::Expired);
		EXPECT_EQ(d1.save->seq, 1u);
		EXPECT_EQ(tresor::format_utc_seconds(*d1.end), "2025-01-01T00:00:00Z");
		auto d2 = tresor::decide_purge(rj, rule, kGuid1, 2, "", now);
		EXPECT_EQ(d2.status, PurgeStatus::Held);
		EXPECT_EQ(d2.hold->seq, 5u);
		// saved on the last second of 2016: kept until 2027
		auto d3 = tresor::decide_purge(rj, rule, kGuid1, 3, "", now);
		EXPECT_EQ(d3.status, PurgeStatus::Retained);
		EXPECT_EQ(tresor::format_utc_seconds(*d3.end), "2027-01-01T00:00:00Z");
		EXPECT_EQ(tresor::decide_purge(rj, rule, kGuid1, 3, "", utc(2027, 1, 1)).status,
			  PurgeStatus::Expired);
		EXPECT_EQ(tresor::decide_purge(rj, rule, kGuid1, 3, "",
					       utc(2026, 12, 31, 23, 59, 59)).status,
			  PurgeStatus::Retained);
		EXPECT_EQ(tresor::decide_purge(rj, rule, kGuid1, 4, "", now).status,
			  PurgeStatus::Held);
		// unknown mails are never purged
		EXPECT_EQ(tresor::decide_purge(rj, rule, kGuid1, 9, "", now).status,
			  PurgeStatus::Unjournaled);
		EXPECT_EQ(tresor::decide_purge(rj, rule, kGuid2, 1, "", now).status,
			  PurgeStatus::Unjournaled);
		// found by GUID when journaled without a UID
		auto d5 = tresor::decide_purge(rj, rule, kGuid1, 5, "g-5", now);
		EXPECT_EQ(d5.status, PurgeStatus::Expired);
		EXPECT_EQ(d5.save->seq, 8u);

		Record p = tresor::purge_record(*d1.save, rule, *d1.end, "Rechnungen", kGuid1,
						1700000000, 1, "guid-1");
		auto j = tresor::record_json(p, 10, now, zero_hash);
		EXPECT_EQ(j["event"], "purge");
		EXPECT_EQ(j["uid"], 1);
		EXPECT_EQ(j["guid"], "guid-1");
		EXPECT_EQ(j["sha256"], mail_hash("1"));
		EXPECT_EQ(j["save_seq"], 1);
		EXPECT_EQ(j["retention_rule"], "Rechnungen=10y");
		EXPECT_EQ(j["retention_end"], "2025-01-01T00:00:00Z");
	}
	{
		Journal j(d.path());
		j.append(unhold_record(5), utc(2026, 3, 1));                            // 9
		Record p = expunge_record(kGuid1, 1, "purge");
		j.append(p, utc(2026, 3, 1));                                           // 10
	}
	RetentionJournal rj(d.path());
	EXPECT_EQ(rj.holds().active().size(), 1u);
	EXPECT_EQ(tresor::decide_purge(rj, rule, kGuid1, 2, "", now).status, PurgeStatus::Expired);
	auto pending = tresor::decide_purge(rj, rule, kGuid1, 1, "", now);
	EXPECT_EQ(pending.status, PurgeStatus::Pending);
	EXPECT_EQ(pending.save->purge_seq, 10u);
}

TEST(Retention, PurgeThroughTheCAbi)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(archived_save(1), utc(2014, 6, 1));
		j.append(archived_save(2), utc(2025, 6, 1));
	}
	tresor_config *cfg = tresor_config_new();
	char err[512];
	ASSERT_EQ(tresor_config_set(cfg, "tresor_archive", "Rechnungen", err, sizeof(err)), 0);
	ASSERT_EQ(tresor_config_set(cfg, "tresor_retention", "Rechnungen=10y", err, sizeof(err)),
		  0);
	std::int64_t now = 0;
	ASSERT_EQ(tresor_parse_utc_time("2026-03-01", &now), 0);
	tresor_purge *p = tresor_purge_begin(d.path().c_str(), cfg, now, err, sizeof(err));
	ASSERT_NE(p, nullptr) << err;
	tresor_purge_mail m;
	ASSERT_EQ(tresor_purge_check(p, "Rechnungen", '/', kGuid1.c_str(), 1, "g1", &m, err,
				     sizeof(err)), 0) << err;
	EXPECT_EQ(m.status, TRESOR_PURGE_EXPIRED);
	EXPECT_STREQ(m.status_name, "expired");
	EXPECT_STREQ(m.rule, "Rechnungen=10y");
	EXPECT_STREQ(m.retention_end, "2025-01-01T00:00:00Z");
	EXPECT_EQ(m.save_seq, 1u);
	ASSERT_EQ(tresor_purge_check(p, "Rechnungen", '/', kGuid1.c_str(), 2, "g2", &m, err,
				     sizeof(err)), 0);
	EXPECT_EQ(m.status, TRESOR_PURGE_RETAINED);
	EXPECT_EQ(tresor_purge_check(p, "INBOX", '/', kGuid1.c_str(), 2, "g2", &m, err,
				     sizeof(err)), -1);
	EXPECT_STREQ(err, "INBOX has no tresor_retention rule");
	// only what is expired can be queued
	EXPECT_EQ(tresor_purge_add(p, "Rechnungen", '/', kGuid1.c_str(), 17, 2, "g2", "doveadm",
				   nullptr, err, sizeof(err)), -1);
	ASSERT_EQ(tresor_purge_add(p, "Rechnungen", '/', kGuid1.c_str(), 17, 1, "g1", "doveadm",
				   nullptr, err, sizeof(err)), 0) << err;
	std::uint64_t first = 0;
	ASSERT_EQ(tresor_purge_write(p, &first, err, sizeof(err)), 0) << err;
	EXPECT_EQ(first, 3u);
	tresor_purge_end(p);
	tresor_config_free(cfg);

	auto lines = split_lines(read_file(d / "journal/2026.jsonl"));
	ASSERT_EQ(lines.size(), 1u); // the purge was written now, into this year's file
	auto j = *tresor::parse_line(lines[0]);
	EXPECT_EQ(j["event"], "purge");
	EXPECT_EQ(j["uidvalidity"], 17);
	EXPECT_EQ(j["service"], "doveadm");
	Verifier v(d.path());
	EXPECT_TRUE(v.problems().empty());
}

TEST(Retention, HoldsThroughTheCAbi)
{
	TempDir d;
	char err[512];
	tresor_hold_spec spec{};
	spec.reason = "Rechtsstreit Müller";
	std::uint64_t user_hold = 0, box_hold = 0, unhold = 0;
	ASSERT_EQ(tresor_hold_add(d.path().c_str(), &spec, &user_hold, err, sizeof(err)), 0) << err;
	spec.mailbox = "Rechnungen";
	spec.mailbox_guid = kGuid1.c_str();
	spec.uid = 3;
	spec.reason = nullptr;
	ASSERT_EQ(tresor_hold_add(d.path().c_str(), &spec, &box_hold, err, sizeof(err)), 0) << err;
	EXPECT_EQ(user_hold, 1u);
	EXPECT_EQ(box_hold, 2u);
	spec.mailbox_guid = nullptr;
	EXPECT_EQ(tresor_hold_add(d.path().c_str(), &spec, nullptr, err, sizeof(err)), -1);
	EXPECT_STREQ(err, "a hold by UID needs its mailbox");
	spec.uid = 0;
	spec.message_id = "<>";
	EXPECT_EQ(tresor_hold_add(d.path().c_str(), &spec, nullptr, err, sizeof(err)), -1);

	tresor_holds *h = tresor_holds_read(d.path().c_str(), err, sizeof(err));
	ASSERT_NE(h, nullptr) << err;
	ASSERT_EQ(tresor_holds_count(h), 2u);
	tresor_hold_info info;
	ASSERT_EQ(tresor_holds_get(h, 1, &info), 0);
	EXPECT_EQ(info.seq, 2u);
	EXPECT_EQ(info.uid, 3u);
	EXPECT_STREQ(info.scope, "UID 3 in Rechnungen");
	EXPECT_STREQ(info.reason, "legal hold");
	EXPECT_EQ(tresor_holds_get(h, 2, &info), -1);
	tresor_holds_free(h);

	EXPECT_EQ(tresor_hold_remove(d.path().c_str(), 1, "erledigt", "doveadm", nullptr, &unhold,
				     err, sizeof(err)), 1) << err;
	EXPECT_EQ(unhold, 3u);
	EXPECT_EQ(tresor_hold_remove(d.path().c_str(), 1, nullptr, nullptr, nullptr, &unhold, err,
				     sizeof(err)), 0);
	EXPECT_EQ(tresor_hold_remove(d.path().c_str(), 99, nullptr, nullptr, nullptr, &unhold, err,
				     sizeof(err)), 0);
	h = tresor_holds_read(d.path().c_str(), err, sizeof(err));
	ASSERT_EQ(tresor_holds_count(h), 1u);
	tresor_holds_free(h);
}

// ---------------------------------------------------------------- verify

namespace {

Record purge_of(std::uint32_t uid, std::uint64_t save_seq, const std::string &rule = "Rechnungen=10y")
{
	Record p = expunge_record(kGuid1, uid, "purge");
	p.mailbox = "Rechnungen";
	p.extra.emplace_back("save_seq", save_seq);
	p.extra.emplace_back("retention_rule", rule);
	return p;
}

} // namespace

TEST(Retention, VerifyAcceptsProperPurges)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(archived_save(1), utc(2014, 6, 1));                // 1
		j.append(archived_save(2), utc(2014, 6, 1));                // 2
		j.append(archived_save(3), utc(2014, 6, 1));                // 3
		j.append(hold_record(kGuid1, 2, ""), utc(2025, 6, 1));      // 4
		j.append(purge_of(1, 1), utc(2025, 1, 1));                  // 5: to the second
		j.append(unhold_record(4), utc(2025, 6, 2));                // 6
		j.append(purge_of(2, 2), utc(2025, 6, 3));                  // 7
		j.append(purge_of(3, 3), utc(2025, 6, 3));                  // 8: still there
	}
	Verifier v(d.path());
	EXPECT_TRUE(v.problems().empty());
	EXPECT_EQ(v.expected_count(), 0u);
	v.mailbox_seen(kGuid1, "Rechnungen", 1700000000);
	v.observe(kGuid1, "Rechnungen", 3, mail_hash("3"), true);
	v.finish(false);
	// the mail left behind by an interrupted purge is no problem
	EXPECT_TRUE(v.problems().empty());
	EXPECT_EQ(v.purge_pending_count(), 1u);
	EXPECT_EQ(v.checked_count(), 1u);
}

TEST(Retention, VerifyReportsImproperPurges)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(archived_save(1), utc(2016, 12, 31, 23, 59, 59)); // 1
		j.append(archived_save(2, "<x@y>"), utc(2014, 6, 1));      // 2
		j.append(archived_save(3), utc(2014, 6, 1));               // 3
		j.append(archived_save(4), utc(2014, 6, 1));               // 4
		j.append(hold_record("", 0, "x@y"), utc(2025, 6, 1));      // 5
		j.append(purge_of(1, 1), utc(2026, 12, 31, 23, 59, 59));   // 6: a second early
		j.append(purge_of(2, 2), utc(2026, 1, 1));                 // 7: held
		j.append(purge_of(3, 2, "Rechnungen=banana"), utc(2026, 1, 1)); // 8
		j.append(purge_of(7, 7), utc(2026, 1, 1));                 // 9: no save
		j.append(purge_of(4, 4), utc(2026, 1, 1));                 // 10: fine, but modified
	}
	Verifier v(d.path());
	v.mailbox_seen(kGuid1, "Rechnungen", 1700000000);
	v.observe(kGuid1, "Rechnungen", 4, mail_hash("changed"), true);
	v.finish(false);
	const auto &ps = v.problems();
	ASSERT_EQ(ps.size(), 5u);
	EXPECT_EQ(ps[0].kind, ProblemKind::Modified);
	EXPECT_EQ(ps[0].uid, 4u);
	for (std::size_t i = 1; i < ps.size(); i++)
		EXPECT_EQ(ps[i].kind, ProblemKind::Purge) << ps[i].detail;
	EXPECT_EQ(tresor::problem_kind_name(ProblemKind::Purge), std::string("PURGE"));
	EXPECT_EQ(ps[1].seq, 6u);
	EXPECT_EQ(ps[1].detail,
		  "UID 1 in Rechnungen (saved as seq 1) was purged although it was not "
		  "purgeable: it was written 2026-12-31T23:59:59Z, but under Rechnungen=10y "
		  "the retention of a mail saved 2016-12-31 ends 2027-01-01T00:00:00Z");
	EXPECT_EQ(ps[2].seq, 7u);
	EXPECT_EQ(ps[2].detail,
		  "UID 2 in Rechnungen (saved as seq 2) was purged although it was not "
		  "purgeable: hold seq 5 (Message-ID x@y) stood");
	EXPECT_EQ(ps[3].seq, 8u);
	EXPECT_EQ(ps[3].detail,
		  "UID 3 in Rechnungen (saved as seq 3) was purged although it was not "
		  "purgeable: it names save seq 2, but the mail's save record is seq 3; it "
		  "names no valid retention rule ('Rechnungen=banana')");
	EXPECT_EQ(ps[4].seq, 9u);
	EXPECT_EQ(ps[4].detail,
		  "the purge record for UID 7 in Rechnungen ends no save record that was "
		  "still in force");
}

// Found by fuzz/fuzz_journal: purge_record_problem() matched holds against
// a view of a temporary (the purge record's mailbox_guid), already freed;
// a mailbox hold was then compared with freed memory (ASan:
// heap-use-after-free). The purge of a mail under a mailbox hold, and one
// in another mailbox, must be judged by the real GUID.
TEST(Retention, VerifyMatchesMailboxHoldsAgainstThePurgeRecord)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(archived_save(1), utc(2014, 6, 1));              // 1
		j.append(hold_record(kGuid1, 0, ""), utc(2025, 6, 1));    // 2
		j.append(purge_of(1, 1), utc(2026, 1, 1));                // 3: held
	}
	Verifier v(d.path());
	v.finish(false);
	const auto &ps = v.problems();
	ASSERT_EQ(ps.size(), 1u);
	EXPECT_EQ(ps[0].kind, ProblemKind::Purge);
	EXPECT_EQ(ps[0].seq, 3u);
	EXPECT_EQ(ps[0].detail,
		  "UID 1 in Rechnungen (saved as seq 1) was purged although it was not "
		  "purgeable: hold seq 2 (mailbox Rechnungen) stood");

	// directly, with the record as the journal has it
	HoldSet holds;
	Hold box;
	box.seq = 2;
	box.mailbox = "Rechnungen";
	box.mailbox_guid = kGuid1;
	holds.add(box);
	auto purge = tresor::parse_line(std::string(R"({"seq":3,"time":"2026-01-01T00:00:00.000000Z",)") +
					R"("event":"purge","save_seq":1,"mailbox":"Rechnungen","mailbox_guid":")" +
					kGuid1 + R"(","uid":1,"retention_rule":"Rechnungen=10y"})");
	ASSERT_TRUE(purge.has_value());
	EXPECT_EQ(tresor::purge_record_problem(*purge, 1, tresor::parse_utc_time("2014-06-01T00:00:00.000000Z"), "", holds),
		  "hold seq 2 (mailbox Rechnungen) stood");
	(*purge)["mailbox_guid"] = kGuid2;
	EXPECT_EQ(tresor::purge_record_problem(*purge, 1, tresor::parse_utc_time("2014-06-01T00:00:00.000000Z"), "", holds),
		  "");
}

// Found by fuzz/fuzz_journal and fuzz/fuzz_settings: times beyond what
// the clock's nanoseconds hold (before 1677, after 2262) overflowed
// (UBSan: signed integer overflow) and wrapped: a journal time
// "4537-03-01..." read as a date in the past, and a long retention
// (Archiv=300y) ended before it began, so the mail was purgeable at once.
TEST(Retention, TimesBeyondTheClockDoNotWrap)
{
	EXPECT_FALSE(tresor::parse_utc_time("4537-03-01T10:00:00.000000Z"));
	EXPECT_FALSE(tresor::parse_utc_time("9999-12-31"));
	EXPECT_FALSE(tresor::parse_utc_time("0001-01-01T00:00:00Z"));
	EXPECT_TRUE(tresor::parse_utc_time("2262-04-10T00:00:00Z"));
	EXPECT_TRUE(tresor::parse_utc_time("1678-01-01"));

	auto saved = tresor::parse_utc_time("2026-06-01");
	ASSERT_TRUE(saved);
	auto end = tresor::retention_end(*saved, RetentionPeriod{300, 0});
	EXPECT_GT(end, *saved);
	EXPECT_EQ(end, tresor::Clock::time_point::max());
	EXPECT_EQ(tresor::retention_end(*saved, RetentionPeriod{999, 11}),
		  tresor::Clock::time_point::max());
	EXPECT_EQ(end_of("2026-06-01", "200y"), "2227-01-01T00:00:00Z");
}

// ---------------------------------------------------------------- interrupted saves

namespace {

// An interrupted save (docs/archive.md 3.4) to Rechnungen: no UID.
Record interrupted_save(const std::string &guid, const std::string &what)
{
	return interrupted_record("save", "Rechnungen", 0, guid, mail_hash(what), 1000,
				  "<" + what + "@x>");
}

} // namespace

TEST(Retention, InterruptedSavesArePurgedOnceFound)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(archived_save(1), utc(2014, 6, 1));                       // 1
		j.append(interrupted_save("g-there", "there"), utc(2014, 6, 1));   // 2
		// its GUID lost on the way: found by its hash
		j.append(interrupted_save("g-lost", "lost"), utc(2014, 6, 1));     // 3
		// the GUID was given only at the commit
		j.append(interrupted_save("", "nameless"), utc(2014, 6, 1));       // 4
		// never reached the store
		j.append(interrupted_save("g-never", "never"), utc(2014, 6, 1));   // 5
		j.append(interrupted_save("g-recent", "recent"), utc(2025, 6, 1)); // 6
		j.append(hold_record(kGuid1, 13, ""), utc(2026, 1, 2));            // 7
	}
	tresor_config *cfg = tresor_config_new();
	char err[512];
	ASSERT_EQ(tresor_config_set(cfg, "tresor_archive", "Rechnungen", err, sizeof(err)), 0);
	ASSERT_EQ(tresor_config_set(cfg, "tresor_retention", "Rechnungen=10y", err, sizeof(err)),
		  0);
	std::int64_t now = 0;
	ASSERT_EQ(tresor_parse_utc_time("2026-03-01", &now), 0);
	tresor_purge *p = tresor_purge_begin(d.path().c_str(), cfg, now, err, sizeof(err));
	ASSERT_NE(p, nullptr) << err;
	tresor_purge_mail m;
	auto check = [&](std::uint32_t uid, const char *guid, const char *sha256) {
		EXPECT_EQ(tresor_purge_check_hashed(p, "Rechnungen", '/', kGuid1.c_str(), uid, guid,
						    sha256, &m, err, sizeof(err)),
			  0)
			<< err;
		return m.status;
	};
	// the glue's first pass: by UID and GUID
	EXPECT_EQ(check(1, "g-1", nullptr), TRESOR_PURGE_EXPIRED);
	EXPECT_EQ(check(11, "g-there", nullptr), TRESOR_PURGE_EXPIRED);
	EXPECT_EQ(m.save_seq, 2u);
	EXPECT_STREQ(m.retention_end, "2025-01-01T00:00:00Z");
	EXPECT_EQ(check(12, "file-name-guid", nullptr), TRESOR_PURGE_UNJOURNALED);
	EXPECT_EQ(check(13, "late-guid", nullptr), TRESOR_PURGE_UNJOURNALED);
	EXPECT_EQ(check(14, "g-recent", nullptr), TRESOR_PURGE_RETAINED);
	EXPECT_EQ(check(15, "copy-guid", nullptr), TRESOR_PURGE_UNJOURNALED);
	EXPECT_EQ(tresor_purge_wants_hashes(p, kGuid1.c_str()), 1);
	EXPECT_EQ(tresor_purge_wants_hashes(p, kGuid2.c_str()), 0);
	// the second: the unjournaled ones by their hashes
	EXPECT_EQ(check(12, "file-name-guid", mail_hash("lost").c_str()), TRESOR_PURGE_EXPIRED);
	EXPECT_EQ(m.save_seq, 3u);
	EXPECT_EQ(check(13, "late-guid", mail_hash("nameless").c_str()), TRESOR_PURGE_HELD);
	EXPECT_EQ(m.save_seq, 4u);
	EXPECT_EQ(m.hold_seq, 7u); // a hold by UID matches the UID it was found under
	// the same bytes again: seq 2 is UID 11's, so this copy has no save
	EXPECT_EQ(check(15, "copy-guid", mail_hash("there").c_str()), TRESOR_PURGE_UNJOURNALED);
	// only seq 5 is still not found, and never will be
	EXPECT_EQ(tresor_purge_wants_hashes(p, kGuid1.c_str()), 1);

	for (auto [uid, guid] : {std::pair<std::uint32_t, const char *>{11, "g-there"},
				 {12, "file-name-guid"}}) {
		ASSERT_EQ(tresor_purge_add(p, "Rechnungen", '/', kGuid1.c_str(), 17, uid, guid,
					   "doveadm", nullptr, err, sizeof(err)),
			  0)
			<< err;
	}
	// held: not to be purged
	EXPECT_EQ(tresor_purge_add(p, "Rechnungen", '/', kGuid1.c_str(), 17, 13, "late-guid",
				   "doveadm", nullptr, err, sizeof(err)),
		  -1);
	std::uint64_t first = 0;
	ASSERT_EQ(tresor_purge_write(p, &first, err, sizeof(err)), 0) << err;
	EXPECT_EQ(first, 8u);
	tresor_purge_end(p);
	tresor_config_free(cfg);

	auto lines = split_lines(read_file(d / "journal/2026.jsonl"));
	ASSERT_EQ(lines.size(), 3u);
	auto purge12 = *tresor::parse_line(lines[2]);
	EXPECT_EQ(purge12["uid"], 12);
	EXPECT_EQ(purge12["save_seq"], 3);
	EXPECT_EQ(purge12["sha256"], mail_hash("lost"));

	// verify takes both purges as proper; UID 12 is still there (the
	// expunge did not happen yet): a pending purge, found by its hash
	Verifier v(d.path());
	EXPECT_TRUE(v.problems().empty());
	v.mailbox_seen(kGuid1, "Rechnungen", 17);
	v.observe(kGuid1, "Rechnungen", 1, "g-1", mail_hash("1"), true);
	v.observe(kGuid1, "Rechnungen", 12, "file-name-guid", mail_hash("lost"), true);
	v.observe(kGuid1, "Rechnungen", 13, "late-guid", mail_hash("nameless"), true);
	v.observe(kGuid1, "Rechnungen", 14, "g-recent", mail_hash("recent"), true);
	v.finish(false);
	EXPECT_TRUE(v.problems().empty()) << v.problems()[0].detail;
	EXPECT_EQ(v.purge_pending_count(), 1u);

	// the next purge finishes UID 12 (found again by its hash)
	RetentionJournal rj(d.path());
	RetentionRule rule = rule_10y();
	auto now_tp = utc(2026, 3, 2);
	EXPECT_EQ(tresor::decide_purge(rj, rule, kGuid1, 12, "file-name-guid", now_tp).status,
		  PurgeStatus::Unjournaled);
	auto pending =
		tresor::decide_purge(rj, rule, kGuid1, 12, "file-name-guid", now_tp, mail_hash("lost"));
	EXPECT_EQ(pending.status, PurgeStatus::Pending);
	EXPECT_EQ(pending.save->purge_seq, 9u);
	EXPECT_EQ(tresor::decide_purge(rj, rule, kGuid1, 11, "g-there", now_tp).status,
		  PurgeStatus::Pending);
}

// An adopted mail's retention counts from its adoption: the INTERNALDATE
// is the mail store's claim (anyone appending a mail sets it), and the
// archive holds the mail only from the adoption on.
TEST(Retention, AdoptedMailsCountFromTheirAdoption)
{
	TempDir d;
	{
		Journal j(d.path());
		j.append(archived_save(1), utc(2014, 6, 1));                                 // 1
		Record adopted = adopt_record(kGuid1, 2, mail_hash("2"), "2001-02-03T04:05:06Z",
					      "Rechnungen");
		adopted.archive = 1;
		j.append(adopted, utc(2026, 2, 1));                                          // 2
		// naming a saved mail: counts for nothing, seq 1 still decides
		Record again = adopt_record(kGuid1, 1, mail_hash("1"), "2001-02-03T04:05:06Z",
					    "Rechnungen");
		j.append(again, utc(2026, 2, 1));                                            // 3
	}
	RetentionRule rule = rule_10y();
	RetentionJournal rj(d.path());
	auto d1 = tresor::decide_purge(rj, rule, kGuid1, 1, "", utc(2026, 3, 1));
	EXPECT_EQ(d1.status, PurgeStatus::Expired);
	EXPECT_EQ(d1.save->seq, 1u);
	auto d2 = tresor::decide_purge(rj, rule, kGuid1, 2, "", utc(2030, 3, 1));
	EXPECT_EQ(d2.status, PurgeStatus::Retained);
	EXPECT_EQ(d2.save->seq, 2u);
	EXPECT_EQ(tresor::format_utc_seconds(*d2.end), "2037-01-01T00:00:00Z");

	// a purge by the INTERNALDATE would be premature: verify says so
	{
		Journal j(d.path());
		Record purge = tresor::purge_record(*d2.save, rule,
						    utc(2012, 1, 1), "Rechnungen", kGuid1,
						    1700000000, 2, "");
		j.append(purge, utc(2030, 3, 1));
	}
	Verifier v(d.path());
	ASSERT_EQ(v.problems().size(), 1u);
	EXPECT_EQ(v.problems()[0].kind, ProblemKind::Purge);
	EXPECT_NE(v.problems()[0].detail.find("ends 2037-01-01T00:00:00Z"), std::string::npos)
		<< v.problems()[0].detail;
}

// SaveLocator keeps UIDs mostly in a sorted array appended in ascending
// order; out-of-order, repeated and forgotten UIDs, and save indexes
// beyond 32 bits, must find exactly what a plain map would.
TEST(SaveLocator, FindsByUidAsAMapWould)
{
	std::mt19937 rng(20261207);
	for (int round = 0; round < 20; round++) {
		tresor::SaveLocator locator;
		std::map<std::uint32_t, std::size_t> model;
		std::uint32_t next_uid = 1;
		const auto none = [](std::size_t) { return false; };
		for (std::size_t save = 0; save < 3000; save++) {
			const int what = static_cast<int>(rng() % 20);
			std::uint32_t uid;
			if (what < 14) {
				uid = next_uid++; // as a mailbox hands them out
			} else if (what < 17) {
				uid = 1 + rng() % next_uid; // saved again, or an older one
			} else {
				uid = 1 + rng() % next_uid;
				locator.forget_uid(uid);
				model.erase(uid);
				continue;
			}
			// now and then an index only size_t holds
			const std::size_t index = rng() % 50 == 0 ? (std::size_t{1} << 33) + save : save;
			std::optional<std::size_t> old = locator.add_uid(uid, index);
			auto m = model.find(uid);
			if (m == model.end()) {
				EXPECT_FALSE(old) << "uid " << uid;
				model.emplace(uid, index);
			} else {
				EXPECT_EQ(old, std::optional<std::size_t>(m->second)) << "uid " << uid;
				m->second = index;
			}
		}
		for (std::uint32_t uid = 0; uid <= next_uid + 1; uid++) {
			auto m = model.find(uid);
			std::optional<std::size_t> want;
			if (m != model.end() && uid != 0)
				want = m->second;
			ASSERT_EQ(locator.find(uid, "", none), want) << "round " << round << " uid " << uid;
		}
	}
}
