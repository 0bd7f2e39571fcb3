// DMARC aggregate reports (RFC 7489 appendix C, also with DMARCbis's
// namespace), as receivers mail them to a domain's rua address: the XML,
// gzip'd (.xml.gz) or in a zip (.zip). Which servers send mail in the
// domain's name, and whether SPF, DKIM and DMARC passed for them.
// Exception-free on bad input (but std::bad_alloc), and only ever run
// inside the tresor-extract helper, under its limits: the report comes
// from anyone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tresor::dmarc {

// The report's XML, decompressed, is refused beyond this.
constexpr std::size_t kMaxReportBytes = 32u << 20;
// gzip inflating more than this many times its size is a bomb (beyond a
// floor of 1 MiB).
constexpr std::size_t kMaxGzipRatio = 100;
// Records read; the rest is left out with a note.
constexpr std::size_t kMaxRecords = 100000;
// Longest value kept (bytes); longer ones are cut at a UTF-8 boundary.
constexpr std::size_t kMaxFieldBytes = 256;
// Authentication results read per record and method.
constexpr std::size_t kMaxAuthResults = 16;

struct AuthResult {
	std::string domain;
	std::string selector; // dkim: the selector; spf: the scope (mfrom, helo)
	std::string result;   // pass, fail, none, neutral, ...
};

struct Record {
	std::string source_ip;
	std::uint64_t count = 0;
	// policy_evaluated: what the receiver did, and DMARC's view of DKIM
	// and SPF (aligned pass or fail)
	std::string disposition; // none, quarantine, reject
	std::string dkim;        // pass, fail
	std::string spf;         // pass, fail
	std::string header_from;
	std::string envelope_from;
	std::vector<AuthResult> dkim_results;
	std::vector<AuthResult> spf_results;

	// DMARC passes when DKIM or SPF passes aligned.
	bool dmarc_pass() const { return dkim == "pass" || spf == "pass"; }
};

struct Report {
	std::string org_name;   // the reporting receiver
	std::string email;
	std::string report_id;
	std::int64_t begin = 0; // the period, Unix time (UTC)
	std::int64_t end = 0;
	std::string domain;     // policy_published
	std::string policy;     // p: none, quarantine, reject
	std::vector<Record> records;
	std::vector<std::string> notes; // what was left out, and why

	std::uint64_t messages() const;
	std::uint64_t failing() const; // messages of records failing DMARC
};

// The report's XML however it came: gzip (1f 8b), a zip holding one .xml
// entry, or XML as it is. nullopt, with why_r, when it is none of these,
// or larger than kMaxReportBytes decompressed.
std::optional<std::string> report_xml(std::string_view data, std::string &why_r);

// The report in xml: nullopt, with why_r, when it is no DMARC aggregate
// report (root element "feedback" with report_metadata and
// policy_published). Elements are matched by local name; DTDs and
// entities are not processed. Counts that overflow saturate.
std::optional<Report> parse_report(std::string_view xml, std::string &why_r);

// report_xml() then parse_report().
std::optional<Report> read_report(std::string_view data, std::string &why_r);

} // namespace tresor::dmarc
