// Structured e-invoices (XRechnung UBL and CII, ZUGFeRD 1 and its 2013/14
// release candidate, ZUGFeRD 2 / Factur-X): the fields invoice routing
// needs, as the tresor-extract helper reads them from the XML
// (src/tresor-extract/einvoice_xml.hpp) and hands them over, and the
// normalisation of VAT IDs and IBANs both sides use.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tresor::einvoice {

struct Invoice {
	// "xrechnung-ubl" (UBL Invoice/CreditNote), "xrechnung-cii" (CII
	// CrossIndustryInvoice), "zugferd-1" (ZUGFeRD 1.0 CrossIndustryDocument),
	// and its pre-1.0 release candidate (rsm:Invoice in CBFBUY:5),
	// "factur-x" (CII embedded in a PDF: ZUGFeRD 2, Factur-X,
	// XRechnung-in-PDF)
	std::string format;
	std::string number;
	// ISO 8601 YYYY-MM-DD when the source is format 102 (YYYYMMDD) or ISO;
	// otherwise as written
	std::string date;
	// amount due (or grand total) as written, e.g. "529.87"
	std::string total;
	std::string currency;
	std::string seller;   // seller name
	std::string vatid;    // seller VAT ID, normalise_vatid()
	// The payee's first account as written, normalise_iban(), valid or not:
	// a wrong check digit is a finding to report, never a reason to drop it.
	std::string iban;
	// Every payee account of every payment means (UBL PayeeFinancialAccount,
	// CII PayeePartyCreditorFinancialAccount), as iban, without repeats.
	std::vector<std::string> payee_ibans;
	// The buyer's accounts a direct debit draws on (UBL
	// PaymentMandate/PayerFinancialAccount, CII
	// PayerPartyDebtorFinancialAccount): never where money is paid to.
	std::vector<std::string> debtor_ibans;
	// A payment means is direct debit (UNTDID 4461 code 49 or 59).
	bool direct_debit = false;
};

// "de 123.456-789" -> "DE123456789": ASCII upper case, without white space,
// dots and dashes.
std::string normalise_vatid(std::string_view vatid);
// White space removed, ASCII upper case.
std::string normalise_iban(std::string_view iban);
// The length of an IBAN of that country (ISO 13616 register, two upper-case
// letters); 0 for a code that has no IBAN.
unsigned iban_length(std::string_view country);
// ISO 13616: country code, check digits, mod-97 == 1, plausible length
// (the exact length for the countries of the register, 15..34 otherwise).
bool iban_valid(std::string_view normalised);

} // namespace tresor::einvoice
