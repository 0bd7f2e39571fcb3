// The supplier CSV (tresor_suppliers): the parser on the file content,
// the Registry on the same bytes in a file, the normalisation helpers on
// the first line, and the look-ups by every key a parsed supplier has
// (never a public-suffix domain).
#include <chrono>
#include <memory>
#include <string>

#include "fuzz_util.hpp"
#include "invoice/authres.hpp"
#include "invoice/suppliers.hpp"

using namespace tresor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	std::string_view csv = fuzz::input(data, size);
	suppliers::Logger log = [](int, const std::string &) {};

	suppliers::SupplierList list = suppliers::parse(csv, "fuzz.csv", log);
	for (const suppliers::Supplier &s : list.all()) {
		FUZZ_CHECK(!s.name.empty());
		FUZZ_CHECK(suppliers::is_valid_folder_name(s.folder));
		for (const std::string &v : s.vat_ids)
			FUZZ_CHECK(list.by_vatid(v) == &s);
		for (const std::string &v : s.ibans)
			FUZZ_CHECK(list.by_iban(v) == &s && s.has_iban(v));
		for (const std::string &v : s.addresses)
			FUZZ_CHECK(list.by_address(v) == &s && s.has_address(v));
		for (const std::string &v : s.domains) {
			FUZZ_CHECK(s.owns_domain(v));
			FUZZ_CHECK(list.by_domain(v) != nullptr);
			// A public suffix would make every domain below it the supplier's.
			FUZZ_CHECK(!authres::is_public_suffix(v));
			(void)suppliers::domain_to_unicode(v);
		}
	}

	std::string_view line = csv.substr(0, csv.find('\n'));
	if (auto d = suppliers::canonical_domain(line)) {
		FUZZ_CHECK(suppliers::canonical_domain(*d) == d);
		(void)suppliers::domain_to_unicode(*d);
	}
	if (auto a = suppliers::canonical_address(line))
		FUZZ_CHECK(suppliers::canonical_address(*a) == a);
	(void)suppliers::is_valid_folder_name(line);
	(void)authres::is_public_suffix(line);
	for (const std::string &iban : suppliers::split_ibans(line))
		FUZZ_CHECK(!iban.empty());
	(void)suppliers::is_valid_utf8(line);

	// The file path: what lmtp actually reads.
	static const std::string path = fuzz::scratch_dir() + "/suppliers.csv";
	fuzz::write_file(path, csv);
	suppliers::Registry reg(path, std::chrono::milliseconds(0));
	std::shared_ptr<const suppliers::SupplierList> cur = reg.current(log);
	FUZZ_CHECK(cur && cur->all().size() == list.all().size());
	return 0;
}
