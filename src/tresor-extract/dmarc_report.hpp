// DMARC aggregate reports (RFC 7489 appendix C, also with DMARCbis's
// namespace), as receivers mail them to a domain's rua address: the XML,
// gzip'd (.xml.gz) or in a zip (.zip). Which servers send mail in the
// domain's name, and whether SPF, DKIM and DMARC passed for them.
// Exception-free on bad input (but std::bad_alloc), and only ever run
// inside the tresor-extract helper, under its limits: the report comes
// from anyone.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "extract/dmarc.hpp"

namespace tresor::dmarc {

// The report's XML, decompressed, is refused beyond this.
constexpr std::size_t kMaxReportBytes = 32u << 20;
// gzip inflating more than this many times its size is a bomb (beyond a
// floor of 1 MiB).
constexpr std::size_t kMaxGzipRatio = 100;

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
