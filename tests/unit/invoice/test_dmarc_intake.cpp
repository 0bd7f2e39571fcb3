// DMARC aggregate reports at intake: which attachment is one, what the C
// ABI tells the Sieve test (vnd.tresor.invoice's dmarc_report), and the
// digest `doveadm tresor dmarc` prints. The *RealHelper* tests read the
// reports with the tresor-extract helper.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <unistd.h>

#include "dmarc_samples.hpp"
#include "invoice/dmarc_intake.hpp"
#include "invoice/invoice.hpp"
#include "invoice/tresor-invoice.h"
#include "test_util.hpp"

namespace inv = tresor::invoice;
using tresor::dmarc::Digest;
using tresor::dmarc::Record;
using tresor::dmarc::Report;
using tresor::extract::Document;
using tresor::extract::Kind;

namespace {

inv::Part part(const std::string &type, const std::string &name, const std::string &data)
{
	inv::Part p;
	p.content_type = type;
	p.filename = name;
	p.is_attachment = !name.empty();
	p.data = data;
	return p;
}

struct Message {
	Message() { msg = tresor_invoice_message_new(); }
	~Message() { tresor_invoice_message_free(msg); }
	Message(const Message &) = delete;
	Message &operator=(const Message &) = delete;
	void add(const std::string &type, const std::string &name, const std::string &data)
	{
		tresor_invoice_message_add_part(msg, type.c_str(),
						name.empty() ? nullptr : name.c_str(), 1,
						data.data(), data.size());
	}
	tresor_invoice_message *msg;
};

struct Config {
	Config() { cfg = tresor_invoice_config_new(); }
	~Config() { tresor_invoice_config_free(cfg); }
	Config(const Config &) = delete;
	Config &operator=(const Config &) = delete;
	// reads documents with the real helper (in ASSERT_NO_FATAL_FAILURE)
	void use_helper(const std::string &helper)
	{
		char err[512];
		ASSERT_EQ(tresor_invoice_config_set(cfg, "tresor_extract", helper.c_str(), err,
						    sizeof(err)),
			  0)
			<< err;
	}
	tresor_invoice_config *cfg;
};

Record record(const std::string &ip, std::uint64_t count, const std::string &dkim,
	      const std::string &spf, const std::string &disposition = "none")
{
	Record r;
	r.source_ip = ip;
	r.count = count;
	r.dkim = dkim;
	r.spf = spf;
	r.disposition = disposition;
	r.header_from = "example.com";
	return r;
}

Report report(const std::string &org, const std::string &id, std::int64_t begin,
	      std::vector<Record> records)
{
	Report r;
	r.org_name = org;
	r.report_id = id;
	r.domain = "example.com";
	r.policy = "none";
	r.begin = begin;
	r.end = begin + 86399;
	r.records = std::move(records);
	return r;
}

} // namespace

TEST(DmarcIntake, CandidatesAreRecognisedByTheirBytesNotTheirLabel)
{
	EXPECT_TRUE(inv::may_be_dmarc_report(part("application/octet-stream", "", "PK\x03\x04...")));
	EXPECT_TRUE(inv::may_be_dmarc_report(part("text/plain", "", "\x1f\x8b\x08\x00")));
	EXPECT_TRUE(inv::may_be_dmarc_report(part("text/xml", "", "\xef\xbb\xbf\n <?xml version")));
	EXPECT_TRUE(inv::may_be_dmarc_report(part("text/plain", "", "<feedback><report_metadata>")));
	EXPECT_FALSE(inv::may_be_dmarc_report(part("application/zip", "a.zip", "not a zip")));
	EXPECT_FALSE(inv::may_be_dmarc_report(part("text/html", "", "<html><body>")));
	EXPECT_FALSE(inv::may_be_dmarc_report(part("application/pdf", "r.pdf", "%PDF-1.7")));
	EXPECT_FALSE(inv::may_be_dmarc_report(part("text/plain", "", "")));
}

TEST(DmarcIntake, TheFirstCandidateThatIsAReportIsTakenAndTheOthersSayWhyNot)
{
	inv::Analyser analyser;
	std::vector<std::string> read;
	analyser.set_document_reader([&](Kind kind, std::string_view data) {
		EXPECT_EQ(kind, Kind::dmarc);
		read.emplace_back(data);
		Document d;
		d.ok = true;
		if (data == "<?xml report")
			d.dmarc = report("google.com", "1", 1767225600, {});
		else
			d.warnings.push_back("no DMARC aggregate report (feedback with ...)");
		return d;
	});
	inv::Message msg;
	msg.parts.push_back(part("text/plain", "", "Report for example.com"));
	msg.parts.push_back(part("application/pdf", "x.pdf", "%PDF-1.4"));
	msg.parts.push_back(part("text/xml", "invoice.xml", "<?xml invoice"));
	msg.parts.push_back(part("application/gzip", "g.xml.gz", "<?xml report"));
	msg.parts.push_back(part("application/gzip", "late.xml.gz", "<?xml another"));
	inv::DmarcFinding found = analyser.find_dmarc_report(msg);
	ASSERT_TRUE(found.report);
	EXPECT_EQ(found.report->org_name, "google.com");
	EXPECT_EQ(found.place, "attachment 'g.xml.gz'");
	EXPECT_EQ(read, (std::vector<std::string>{"<?xml invoice", "<?xml report"}));
	ASSERT_EQ(found.problems.size(), 1u);
	EXPECT_EQ(found.problems[0],
		  "attachment 'invoice.xml': no DMARC aggregate report (feedback with ...)");
}

TEST(DmarcIntake, AtMostFourCandidatesAreReadAndAFailedHelperIsLogged)
{
	inv::Analyser analyser;
	std::vector<std::string> logged;
	analyser.set_logger([&](int, const std::string &m) { logged.push_back(m); });
	int reads = 0;
	analyser.set_document_reader([&](Kind, std::string_view) {
		reads++;
		Document d;
		d.warnings.push_back("timed out after 10000 ms");
		return d;
	});
	inv::Message msg;
	for (int i = 0; i < 6; i++)
		msg.parts.push_back(part("application/zip", "r" + std::to_string(i) + ".zip",
					 "PK\x03\x04"));
	inv::DmarcFinding found = analyser.find_dmarc_report(msg);
	EXPECT_FALSE(found.report);
	EXPECT_EQ(reads, static_cast<int>(inv::kMaxDmarcCandidates));
	ASSERT_EQ(found.problems.size(), inv::kMaxDmarcCandidates + 1);
	EXPECT_EQ(found.problems.back(),
		  "attachment 'r4.zip' was not read (more than 4 candidates)");
	ASSERT_EQ(logged.size(), inv::kMaxDmarcCandidates);
	EXPECT_EQ(logged[0], "tresor dmarc: attachment 'r0.zip' could not be read: "
			     "timed out after 10000 ms");
}

TEST(DmarcIntake, RealHelperReadsGzippedAndZippedReportsThroughTheCAbi)
{
	HELPER_OR_FAIL(helper);
	Config config;
	ASSERT_NO_FATAL_FAILURE(config.use_helper(helper));
	char err[512];
	for (const char *packer : {testutil::kGzip, testutil::kZip}) {
		Message m;
		m.add("text/plain", "", "This is an aggregate report from google.com.");
		m.add("application/octet-stream", "google.com!example.com!1767225600!1767311999.bin",
		      testutil::made_by_python(packer, testutil::report_text()));
		tresor_dmarc_result r;
		ASSERT_EQ(tresor_dmarc_analyse(config.cfg, m.msg, &r, err, sizeof(err)), 0) << err;
		ASSERT_TRUE(r.is_report) << r.problems;
		EXPECT_STREQ(r.org, "google.com");
		EXPECT_STREQ(r.email, "noreply-dmarc-support@google.com");
		EXPECT_STREQ(r.report_id, "1234567890");
		EXPECT_STREQ(r.domain, "example.com");
		EXPECT_STREQ(r.policy, "quarantine");
		EXPECT_STREQ(r.begin, "2026-01-01T00:00:00Z");
		EXPECT_STREQ(r.end, "2026-01-01T23:59:59Z");
		EXPECT_EQ(r.begin_unix, 1767225600);
		EXPECT_EQ(r.messages, 9u);
		EXPECT_EQ(r.failing, 7u);
		EXPECT_EQ(r.records, 2u);
		EXPECT_EQ(r.failing_sources, 1u);
		EXPECT_STREQ(r.problems, "");
	}

	// a mail without a report, and one whose zip is broken
	Message plain;
	plain.add("text/plain", "", "Hello");
	tresor_dmarc_result r;
	ASSERT_EQ(tresor_dmarc_analyse(config.cfg, plain.msg, &r, err, sizeof(err)), 0) << err;
	EXPECT_FALSE(r.is_report);
	EXPECT_STREQ(r.domain, "");
	EXPECT_STREQ(r.problems, "");
	Message broken;
	broken.add("application/zip", "report.zip", "PK\x03\x04 cut off");
	ASSERT_EQ(tresor_dmarc_analyse(config.cfg, broken.msg, &r, err, sizeof(err)), 0) << err;
	EXPECT_FALSE(r.is_report);
	EXPECT_NE(std::string(r.problems).find("attachment 'report.zip': "), std::string::npos)
		<< r.problems;
}

TEST(DmarcDigest, SourcesAreSummedOverReportsAndFailingOnesComeFirst)
{
	Digest digest;
	Record own = record("203.0.113.5", 20, "pass", "pass");
	own.dkim_results = {{"example.com", "s1", "pass"}};
	own.spf_results = {{"example.com", "mfrom", "pass"}};
	Record forger = record("198.51.100.66", 3, "fail", "fail", "quarantine");
	forger.spf_results = {{"rechnung-example.net", "mfrom", "pass"}};
	Record newsletter = record("192.0.2.9", 5, "fail", "pass");
	newsletter.dkim_results = {{"mailer.example", "k1", "pass"}};
	EXPECT_EQ(digest.add(report("google.com", "g1", 1767225600, {own, forger, newsletter})),
		  Digest::Added::added);
	Record forger2 = forger;
	forger2.count = 4;
	forger2.disposition = "reject";
	EXPECT_EQ(digest.add(report("Outlook.com", "o1", 1767312000, {own, forger2})),
		  Digest::Added::added);
	// the same report again (sent to two rua addresses)
	EXPECT_EQ(digest.add(report("google.com", "g1", 1767225600, {own, forger, newsletter})),
		  Digest::Added::duplicate);
	EXPECT_EQ(digest.reports(), 2u);

	auto rows = digest.rows();
	ASSERT_EQ(rows.size(), 3u);
	EXPECT_EQ(rows[0].source_ip, "198.51.100.66");
	EXPECT_EQ(rows[0].domain, "example.com");
	EXPECT_EQ(rows[0].messages, 7u);
	EXPECT_EQ(rows[0].dmarc_fail, 7u);
	EXPECT_EQ(rows[0].dkim_fail, 7u);
	EXPECT_EQ(rows[0].spf_fail, 7u);
	EXPECT_EQ(rows[0].disposition, "quarantine=3 reject=4");
	EXPECT_EQ(rows[0].dkim_domains, "none");
	EXPECT_EQ(rows[0].spf_domains, "rechnung-example.net=pass");
	EXPECT_EQ(rows[0].reporters, "Outlook.com, google.com");
	EXPECT_EQ(rows[0].begin, 1767225600);
	EXPECT_EQ(rows[0].end, 1767312000 + 86399);
	// DMARC passes through SPF, but DKIM fails: listed after the failing
	EXPECT_EQ(rows[1].source_ip, "203.0.113.5");
	EXPECT_EQ(rows[1].messages, 40u);
	EXPECT_EQ(rows[1].dmarc_fail, 0u);
	EXPECT_EQ(rows[1].dkim_domains, "example.com=pass");
	EXPECT_EQ(rows[2].source_ip, "192.0.2.9");
	EXPECT_EQ(rows[2].dmarc_fail, 0u);
	EXPECT_EQ(rows[2].dkim_fail, 5u);
	EXPECT_EQ(rows[2].spf_fail, 0u);
	EXPECT_EQ(rows[2].header_from, "example.com");
}

TEST(DmarcDigest, ReportsBeforeSinceAreLeftOutAndCountsSaturate)
{
	Digest digest(1767312000);
	EXPECT_EQ(digest.add(report("google.com", "old", 1767225600 - 86400, {})),
		  Digest::Added::too_old);
	// a report whose period ends after since counts, also when it began before
	EXPECT_EQ(digest.add(report("google.com", "g1", 1767225600 + 3600,
				    {record("192.0.2.1", UINT64_MAX, "fail", "fail")})),
		  Digest::Added::added);
	EXPECT_EQ(digest.add(report("yahoo.com", "y1", 1767312000,
				    {record("192.0.2.1", 5, "fail", "fail")})),
		  Digest::Added::added);
	EXPECT_EQ(digest.add(report("gmx.net", "x1", 1767312000,
				    {record("2001:DB8::1", 2, "fail", "fail"),
				     record("2001:db8::1", 3, "fail", "fail")})),
		  Digest::Added::added);
	auto rows = digest.rows();
	ASSERT_EQ(rows.size(), 2u);
	EXPECT_EQ(rows[1].source_ip, "2001:db8::1") << "one source, however it is written";
	EXPECT_EQ(rows[1].messages, 5u);
	EXPECT_EQ(rows[0].messages, UINT64_MAX);
	EXPECT_EQ(rows[0].dmarc_fail, UINT64_MAX);
	EXPECT_EQ(rows[0].disposition, "none=" + std::to_string(UINT64_MAX));
}

TEST(DmarcDigest, RealHelperDigestThroughTheCAbi)
{
	HELPER_OR_FAIL(helper);
	Config config;
	ASSERT_NO_FATAL_FAILURE(config.use_helper(helper));
	char err[512];
	tresor_dmarc_digest *digest = tresor_dmarc_digest_new(0);
	ASSERT_NE(digest, nullptr);
	Message m;
	m.add("application/gzip", "r.xml.gz",
	      testutil::made_by_python(testutil::kGzip, testutil::report_text()));
	Message none;
	none.add("text/plain", "", "no report");
	tresor_dmarc_result r;
	ASSERT_EQ(tresor_dmarc_digest_add(digest, m.msg, err, sizeof(err)), 0)
		<< "nothing before the analysis";
	ASSERT_EQ(tresor_dmarc_analyse(config.cfg, m.msg, &r, err, sizeof(err)), 0) << err;
	ASSERT_EQ(tresor_dmarc_analyse(config.cfg, none.msg, &r, err, sizeof(err)), 0) << err;
	EXPECT_EQ(tresor_dmarc_digest_add(digest, m.msg, err, sizeof(err)), 1) << err;
	EXPECT_EQ(tresor_dmarc_digest_add(digest, m.msg, err, sizeof(err)), 0) << "duplicate";
	EXPECT_EQ(tresor_dmarc_digest_add(digest, none.msg, err, sizeof(err)), 0);
	EXPECT_EQ(tresor_dmarc_digest_reports(digest), 1u);
	const tresor_dmarc_row *rows;
	ASSERT_EQ(tresor_dmarc_digest_rows(digest, &rows, err, sizeof(err)), 2) << err;
	EXPECT_STREQ(rows[0].source_ip, "198.51.100.66");
	EXPECT_EQ(rows[0].dmarc_fail, 7u);
	EXPECT_STREQ(rows[0].disposition, "quarantine=7");
	EXPECT_STREQ(rows[0].spf_domains, "rechnung-example.net=pass");
	EXPECT_STREQ(rows[0].begin, "2026-01-01T00:00:00Z");
	EXPECT_STREQ(rows[1].source_ip, "203.0.113.5");
	EXPECT_STREQ(rows[1].dkim_domains, "example.com=pass");
	tresor_dmarc_digest_free(digest);
}
