// The e-invoice XML reader (XRechnung UBL/CII, ZUGFeRD 1, Factur-X).
// Input: the first byte's low bit is inside_pdf, the rest is the XML.
#include <algorithm>
#include <optional>
#include <string>

#include "fuzz_util.hpp"
#include "invoice/suppliers.hpp"
#include "tresor-extract/einvoice_xml.hpp"

using namespace tresor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	if (size == 0)
		return 0;
	bool inside_pdf = data[0] & 1;
	std::string_view xml = fuzz::input(data + 1, size - 1);

	std::optional<einvoice::Invoice> inv = einvoice::parse_xml(xml, inside_pdf);
	if (inv) {
		for (const std::string *f : {&inv->number, &inv->date, &inv->total, &inv->currency,
					     &inv->seller, &inv->vatid, &inv->iban})
			FUZZ_CHECK(f->size() <= einvoice::kMaxFieldBytes);
		// Accounts are kept as written (valid or not), normalised, once each;
		// iban is the first payee account.
		FUZZ_CHECK(inv->iban == (inv->payee_ibans.empty() ? "" : inv->payee_ibans.front()));
		for (const auto *list : {&inv->payee_ibans, &inv->debtor_ibans}) {
			for (std::size_t i = 0; i < list->size(); i++) {
				FUZZ_CHECK(!(*list)[i].empty());
				FUZZ_CHECK(einvoice::normalise_iban((*list)[i]) == (*list)[i]);
				FUZZ_CHECK(std::count(list->begin(), list->end(), (*list)[i]) == 1);
			}
		}
		FUZZ_CHECK(!inv->format.empty());
	}

	std::string_view head = xml.substr(0, 256);
	std::string iban = einvoice::normalise_iban(head);
	(void)einvoice::iban_valid(iban);
	std::string vat = einvoice::normalise_vatid(head);
	FUZZ_CHECK(einvoice::normalise_vatid(vat) == vat);
	return 0;
}
