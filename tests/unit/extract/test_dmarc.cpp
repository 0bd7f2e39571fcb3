// DMARC aggregate reports (RFC 7489 appendix C) as receivers send them:
// plain, gzip'd and zipped XML, and hostile ones (not XML, another XML,
// entity bombs, gzip and zip bombs, truncated archives, huge counts).
#include <gtest/gtest.h>

#include <string>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "extract/extract_client.hpp"
#include "dmarc_samples.hpp"
#include "test_util.hpp"
#include "tresor-extract/dmarc_report.hpp"

using tresor::dmarc::parse_report;
using tresor::dmarc::read_report;
using tresor::dmarc::Report;
using testutil::kGzip;
using testutil::kZip;
using testutil::made_by_python;
using testutil::report_text;

namespace {

void expect_example(const Report &r)
{
	EXPECT_EQ(r.org_name, "google.com");
	EXPECT_EQ(r.email, "noreply-dmarc-support@google.com");
	EXPECT_EQ(r.report_id, "1234567890");
	EXPECT_EQ(r.begin, 1767225600);
	EXPECT_EQ(r.end, 1767311999);
	EXPECT_EQ(r.domain, "example.com");
	EXPECT_EQ(r.policy, "quarantine");
	ASSERT_EQ(r.records.size(), 2u);
	EXPECT_EQ(r.records[0].source_ip, "203.0.113.5");
	EXPECT_EQ(r.records[0].count, 2u);
	EXPECT_TRUE(r.records[0].dmarc_pass());
	ASSERT_EQ(r.records[0].dkim_results.size(), 1u);
	EXPECT_EQ(r.records[0].dkim_results[0].selector, "s1");
	EXPECT_EQ(r.records[0].spf_results[0].selector, "mfrom");
	EXPECT_EQ(r.records[1].disposition, "quarantine");
	EXPECT_EQ(r.records[1].spf, "fail");
	EXPECT_FALSE(r.records[1].dmarc_pass());
	EXPECT_EQ(r.records[1].spf_results[0].domain, "rechnung-example.net");
	EXPECT_EQ(r.messages(), 9u);
	EXPECT_EQ(r.failing(), 7u);
}

} // namespace

TEST(DmarcReport, PlainGzippedAndZippedReportsReadAlike)
{
	const std::string xml = report_text();
	for (const std::string &data : {xml, made_by_python(kGzip, xml), made_by_python(kZip, xml)}) {
		std::string why;
		auto r = read_report(data, why);
		ASSERT_TRUE(r) << why;
		expect_example(*r);
	}
}

TEST(DmarcReport, ElementsAreMatchedByLocalName)
{
	std::string why;
	auto r = parse_report(report_text("<d:feedback xmlns:d=\"urn:ietf:params:xml:ns:dmarc-2.0\">",
					  "</d:feedback>"),
			      why);
	// (children without the prefix: the default namespace is not the
	// point here, the names are)
	ASSERT_TRUE(r) << why;
	EXPECT_EQ(r->records.size(), 2u);
}

TEST(DmarcReport, WhatIsNoReportIsRefusedWithAReason)
{
	std::string why;
	EXPECT_FALSE(read_report("", why));
	EXPECT_FALSE(read_report("not xml at all <", why));
	EXPECT_NE(why.find("not XML"), std::string::npos) << why;
	EXPECT_FALSE(read_report("<Invoice><ID>1</ID></Invoice>", why));
	EXPECT_NE(why.find("no DMARC aggregate report"), std::string::npos) << why;
	std::string gz = made_by_python(kGzip, report_text());
	EXPECT_FALSE(read_report(gz.substr(0, gz.size() / 2), why));
	EXPECT_EQ(why, "gzip data ends early");
	EXPECT_FALSE(read_report(made_by_python(
		"import io, zipfile, sys\nb = io.BytesIO()\n"
		"with zipfile.ZipFile(b, \"w\") as z:\n    z.writestr(\"readme.txt\", \"x\")\n"
		"sys.stdout.buffer.write(b.getvalue())", ""), why));
	EXPECT_EQ(why, "the zip archive holds no .xml file");
	std::string zip = made_by_python(kZip, report_text());
	EXPECT_FALSE(read_report(zip.substr(0, zip.size() - 30), why));
}

TEST(DmarcReport, BombsAreRefused)
{
	std::string why;
	// 50 MB of one byte: a few kB gzip'd, far beyond the ratio and the size
	std::string bomb = made_by_python(
		"import gzip, sys; sys.stdout.buffer.write(gzip.compress(b\"<\" * 50000000))", "");
	ASSERT_LT(bomb.size(), 200000u);
	EXPECT_FALSE(read_report(bomb, why));
	EXPECT_NE(why.find("gzip bomb"), std::string::npos) << why;
	std::string zip_bomb = made_by_python(
		"import io, zipfile, sys\nb = io.BytesIO()\n"
		"with zipfile.ZipFile(b, \"w\", zipfile.ZIP_DEFLATED) as z:\n"
		"    z.writestr(\"r.xml\", b\"<\" * 50000000)\n"
		"sys.stdout.buffer.write(b.getvalue())", "");
	EXPECT_FALSE(read_report(zip_bomb, why));
	// entities are never expanded
	std::string laughs = "<?xml version=\"1.0\"?><!DOCTYPE feedback [<!ENTITY a \"aaaaaaaaaa\">"
			     "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>";
	std::string xml = report_text();
	xml.replace(0, xml.find("<feedback>"), laughs);
	auto r = parse_report(xml.replace(xml.find("google.com<"), 10, "&b;"), why);
	ASSERT_TRUE(r) << why;
	EXPECT_LE(r->org_name.size(), 10u);
}

TEST(DmarcReport, CountsSaturateAndFieldsAreBounded)
{
	std::string why;
	auto r = parse_report(report_text("<feedback>", "</feedback>",
					  "99999999999999999999999999"),
			      why);
	ASSERT_TRUE(r) << why;
	EXPECT_EQ(r->records[0].count, UINT64_MAX);
	EXPECT_EQ(r->messages(), UINT64_MAX);
	std::string long_name = report_text();
	long_name.replace(long_name.find("google.com<"), 10, std::string(5000, 'x'));
	r = parse_report(long_name, why);
	ASSERT_TRUE(r);
	EXPECT_EQ(r->org_name.size(), tresor::dmarc::kMaxFieldBytes);
}

// The helper reads the report in its own process (--mode=dmarc) and hands
// it over as JSON; the client takes it back only in the shape it expects.
TEST(DmarcReport, TheHelperReadsItAndTheClientChecksTheAnswer)
{
	HELPER_OR_FAIL(helper);
	using tresor::extract::Document;
	using tresor::extract::Kind;
	using tresor::extract::Limits;
	Document doc = tresor::extract::analyse(helper, Kind::dmarc,
						made_by_python(kGzip, report_text()), Limits{});
	ASSERT_TRUE(doc.ok);
	ASSERT_TRUE(doc.dmarc);
	expect_example(*doc.dmarc);
	EXPECT_TRUE(doc.text.empty());

	doc = tresor::extract::analyse(helper, Kind::dmarc, "<Invoice/>", Limits{});
	ASSERT_TRUE(doc.ok);
	EXPECT_FALSE(doc.dmarc);
	ASSERT_EQ(doc.warnings.size(), 1u);
	EXPECT_NE(doc.warnings[0].find("no DMARC aggregate report"), std::string::npos);

	// the JSON both ways, and answers not of that shape
	std::string why;
	auto report = parse_report(report_text(), why);
	ASSERT_TRUE(report);
	nlohmann::json j = tresor::dmarc::report_json(*report);
	auto back = tresor::dmarc::report_from_json(j);
	ASSERT_TRUE(back);
	expect_example(*back);
	for (const char *bad : {R"({"records": 1})", R"({"begin": "x"})", R"({"notes": null})"}) {
		nlohmann::json broken = j;
		broken.merge_patch(nlohmann::json::parse(bad));
		EXPECT_FALSE(tresor::dmarc::report_from_json(broken)) << bad;
	}
	nlohmann::json text_count = j;
	text_count["records"][0]["count"] = "2";
	EXPECT_FALSE(tresor::dmarc::report_from_json(text_count));
	nlohmann::json no_results = j;
	no_results["records"][1].erase("spf_results");
	EXPECT_FALSE(tresor::dmarc::report_from_json(no_results));
	nlohmann::json long_name = j;
	long_name["org_name"] = std::string(tresor::dmarc::kMaxFieldBytes + 1, 'x');
	EXPECT_FALSE(tresor::dmarc::report_from_json(long_name));
	nlohmann::json negative = j;
	negative["records"][0]["count"] = -1;
	EXPECT_FALSE(tresor::dmarc::report_from_json(negative));
	Document garbled;
	EXPECT_FALSE(tresor::extract::parse_answer(
		R"({"einvoice":null,"text":"","warnings":[],"dmarc":{"org_name":1}})", garbled));
	EXPECT_FALSE(garbled.ok);
}
