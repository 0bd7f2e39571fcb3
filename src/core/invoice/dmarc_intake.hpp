// DMARC aggregate reports at intake: which attachment of a mail is one
// (Analyser::find_dmarc_report, invoice.hpp), and the digest of many
// reports that `doveadm tresor dmarc` prints - per policy domain and
// sending source, failing sources first.
//
// Receivers (Google, Microsoft, GMX, ...) send one report per day and
// domain to the address in the domain's DMARC record (rua). A source that
// fails DMARC sends mail in the company's name without its DKIM key or
// its SPF permission: a forger, or one of the company's own services that
// is set up wrong. Both need the admin.
//
// Candidates: attachments whose bytes are a zip archive, gzip data or an
// XML document ("<?xml" or "<feedback" after an optional byte order mark
// and white space), whatever their declared type (receivers label them
// application/zip, application/gzip, application/octet-stream, text/xml,
// ...); at most kMaxDmarcCandidates per mail, read by the tresor-extract
// helper (--mode=dmarc, out of process, with its limits) within the mail's
// budget (tresor_invoice_budget).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "extract/dmarc.hpp"

namespace tresor::invoice {

struct Part;

constexpr std::size_t kMaxDmarcCandidates = 4;

// Whether the part's bytes may hold a report (see above).
bool may_be_dmarc_report(const Part &part);

} // namespace tresor::invoice

namespace tresor::dmarc {

// One sending source of one policy domain, over every report added.
struct DigestRow {
	std::string domain;       // the policy domain (policy_published)
	std::string source_ip;
	// "example.com=pass mailer.example=fail": the domains the receivers
	// saw in DKIM signatures and SPF checks, each with its results
	// (sorted, "none" when a record had none)
	std::string dkim_domains;
	std::string spf_domains;
	std::string header_from;  // the From domains seen, space-separated
	std::uint64_t messages = 0;
	std::uint64_t dmarc_fail = 0; // neither DKIM nor SPF passed aligned
	std::uint64_t dkim_fail = 0;  // DKIM not aligned-pass
	std::uint64_t spf_fail = 0;   // SPF not aligned-pass
	// what the receivers did: "none=10 quarantine=2 reject=1"
	std::string disposition;
	std::string reporters;        // the receivers' names, sorted
	std::int64_t begin = 0;       // the earliest report period's start
	std::int64_t end = 0;         // the latest report period's end
};

class Digest {
public:
	// Reports whose period ended before `since` (Unix time) are left out.
	explicit Digest(std::int64_t since = std::numeric_limits<std::int64_t>::min())
		: since_(since)
	{
	}

	enum class Added { added, duplicate, too_old };
	// A report that came twice (the same receiver, report ID and domain,
	// e.g. to two rua addresses) counts once.
	Added add(const Report &report);

	std::size_t reports() const { return seen_.size(); }
	// Failing sources first (most failing messages first), then by
	// messages, domain and address.
	std::vector<DigestRow> rows() const;

private:
	struct Totals {
		std::uint64_t messages = 0, dmarc_fail = 0, dkim_fail = 0, spf_fail = 0;
		std::map<std::string, std::uint64_t> dispositions;
		std::map<std::string, std::set<std::string>> dkim, spf; // domain: results
		std::set<std::string> header_from, reporters;
		std::int64_t begin = std::numeric_limits<std::int64_t>::max();
		std::int64_t end = std::numeric_limits<std::int64_t>::min();
	};
	std::int64_t since_;
	std::set<std::string> seen_;
	std::map<std::pair<std::string, std::string>, Totals> sources_;
};

} // namespace tresor::dmarc
