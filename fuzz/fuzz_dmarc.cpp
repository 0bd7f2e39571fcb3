// The DMARC aggregate report reader: XML, gzip'd or zipped, from anyone.
#include <string>

#include "fuzz_util.hpp"
#include "tresor-extract/dmarc_report.hpp"

using namespace tresor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	std::string why;
	std::optional<dmarc::Report> r = dmarc::read_report(fuzz::input(data, size), why);
	if (!r) {
		FUZZ_CHECK(!why.empty());
		return 0;
	}
	FUZZ_CHECK(r->records.size() <= dmarc::kMaxRecords);
	FUZZ_CHECK(r->failing() <= r->messages());
	for (const std::string *f : {&r->org_name, &r->email, &r->report_id, &r->domain, &r->policy})
		FUZZ_CHECK(f->size() <= dmarc::kMaxFieldBytes);
	for (const dmarc::Record &rec : r->records) {
		FUZZ_CHECK(rec.source_ip.size() <= dmarc::kMaxFieldBytes);
		FUZZ_CHECK(rec.dkim_results.size() <= dmarc::kMaxAuthResults);
		FUZZ_CHECK(rec.spf_results.size() <= dmarc::kMaxAuthResults);
	}
	return 0;
}
