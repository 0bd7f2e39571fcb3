// DMARC aggregate reports (RFC 7489 appendix C): what the tresor-extract
// helper reads from one (src/tresor-extract/dmarc_report.hpp) and hands
// over as JSON, and what the client makes of that answer again - checked,
// since the answer of a helper that parsed a stranger's file is untrusted
// too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tresor::dmarc {

// Records read; the rest is left out with a note.
constexpr std::size_t kMaxRecords = 100000;
// Longest value kept (bytes); longer ones are cut at a UTF-8 boundary.
constexpr std::size_t kMaxFieldBytes = 256;
// Authentication results read per record and method.
constexpr std::size_t kMaxAuthResults = 16;

// sum += n, at most UINT64_MAX: counts come from strangers' reports.
inline void add_saturating(std::uint64_t &sum, std::uint64_t n)
{
	sum = n > UINT64_MAX - sum ? UINT64_MAX : sum + n;
}

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
	// distinct source addresses with messages failing DMARC
	std::size_t failing_sources() const;
};

// The report as the helper's answer carries it, and back: nullopt when
// the JSON is not such a report (a member missing or of another type, a
// list or a value longer than the limits above).
nlohmann::json report_json(const Report &report);
std::optional<Report> report_from_json(const nlohmann::json &j);

} // namespace tresor::dmarc
