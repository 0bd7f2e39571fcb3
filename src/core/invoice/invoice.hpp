// Invoice recognition for the Sieve extension vnd.tresor.invoice: is this
// mail an invoice, which supplier sent it, and may it be trusted?
//
// The attacker is anyone who can send the business a mail: typically a
// fraudster posing as a real supplier (a look-alike domain, a display name,
// a forged From) with an invoice whose bank account is theirs. Three
// sources of evidence combine, and none alone is enough: the supplier file
// (tresor_suppliers: who the suppliers are, their domains, addresses, VAT
// IDs and known accounts - the admin's ground truth), authentication
// (Authentication-Results from the trusted authserv-ids: the From domain
// really sent it), and the documents (the e-invoice's structured fields,
// else the PDF's text: what is asked for and where the money goes). The
// invoice names the supplier, the authenticated sender must be that
// supplier, and every account the mail shows must be one the file knows.
// Anything that can't be checked counts against the mail: an unread
// document, an invalid IBAN, several senders. A verdict is advice for the
// Sieve script, which files or flags the mail; nothing is paid or blocked
// here.
//
// Untrusted documents (XML and PDF attachments) are only ever read through
// the tresor-extract helper (extract::analyse), never in this process.
//
// Documents: parts typed application/xml or text/xml or named *.xml (read
// as XML), and parts typed application/pdf or application/x-pdf, named
// *.pdf, or application/octet-stream starting with "%PDF-" (read as PDF),
// attached or inline; at most 8 per mail. No document, no invoice.
//
// Documents are read within a per-mail budget (tresor_invoice_budget): each
// gets at most what is left of it, and those after it is used up, beyond
// the eighth, or that the helper could not read are logged as not analysed.
//
// Invoice: an e-invoice in any document (the first one's fields count), or
// else a PDF together with a keyword (contains_keyword(): words, plurals,
// German compounds) in the decoded Subject, a PDF's file name or a PDF's
// text.
//
// Payee accounts: every account a person or an ERP could pay to: the payee
// accounts of every e-invoice (as written, valid or not), and every IBAN
// find_ibans() sees in the PDFs' text and in every text/plain and text/html
// part (html_to_text()), without the business's own (tresor_own_ibans). A
// direct debit's buyer account (the e-invoice's debtor account) is none.
// ${invoice.iban}: the first e-invoice's first payee account, else the first
// payee account found; "" when there is none.
//
// Supplier: the first that matches, by the invoice's VAT ID, a payee IBAN,
// the From address, the From domain (a supplier domain or a subdomain of
// one). The sender "belongs" to a supplier when the From domain is one of
// its domains (or below one) or the From address is one of its addresses.
//
// Verdict, the first that applies:
//  1. lookalike-domain: the sender belongs to no supplier, and for some
//     supplier (the identified one first) its registrable domain (public
//     suffix list) differs from the supplier domain's but
//       - has the same first label under another suffix (acme.com/acme.de),
//       - is confusable with it (UTS #39 skeleton of the Unicode form, of
//         the whole registrable domain or of its first label),
//       - has a first label within Damerau-Levenshtein distance 2 of the
//         supplier's (1 for labels of 3-4 characters, 0 below), or
//       - contains the supplier's first label (4+ characters) as a
//         dot/hyphen-separated part (acme.de.evil.example); or
//     the From display name contains the supplier's name or one of its
//     domains as whole words (case-folded).
//  2. unauthenticated: From names more than one address, or the mail has
//     more than one From field.
//  3. unknown-supplier: no supplier identified.
//  4. unauthenticated: the sender doesn't belong to the identified supplier
//     (invoice carries its VAT ID or IBAN but comes from elsewhere), or
//     authres::authenticate_from() refuses the From domain.
//  5. bank-account-changed: a payee account is not among the supplier's
//     (also when the file lists none for it), an e-invoice's account is no
//     valid IBAN, or a document was not analysed (its accounts unknown).
//  6. trusted.
// supplier and folder name the identified supplier whatever the verdict
// (empty when none was identified, also for a pure look-alike).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/setting_values.hpp"
#include "extract/extract_client.hpp"
#include "extract/helper_settings.hpp"
#include "invoice/suppliers.hpp"
#include "invoice/tresor-invoice.h"

namespace tresor::invoice {

using Logger = suppliers::Logger;

struct Settings {
	std::vector<std::string> keywords = default_keywords(); // tresor_invoice_keywords
	std::string suppliers;                                  // tresor_suppliers
	std::vector<std::string> authserv_ids;                  // tresor_authserv_id
	// tresor_extract, tresor_extract_timeout, tresor_extract_memory
	extract::HelperSettings helper;
	// tresor_own_ibans: the business's own accounts, normalised and valid.
	// Never a supplier's payee account wherever they appear (a direct
	// debit invoice prints the account it draws on).
	std::vector<std::string> own_ibans;
	// tresor_invoice_budget: wall-clock time for all documents of one mail;
	// the documents after it is used up are not analysed.
	std::chrono::milliseconds budget = std::chrono::seconds(15);

	Settings();
	static std::vector<std::string> default_keywords();
	// NULL-terminated list of the setting names.
	static const char *const *setting_names();
	// Sets one setting from its string value; throws ConfigError naming it.
	void set(std::string_view name, std::string_view value);
};

struct Part {
	std::string content_type; // lowercase type/subtype
	std::string filename;     // UTF-8, "" when none
	bool is_attachment = false;
	std::string data;         // transfer-decoded
};

struct Message {
	std::vector<std::pair<std::string, std::string>> headers; // in order, unfolded
	std::vector<Part> parts;
};

struct Result {
	bool is_invoice = false;
	bool is_einvoice = false;
	std::string format, number, date, total, currency, seller, vatid, iban;
	std::string supplier, folder;
	std::string verdict; // "" when not an invoice
	std::string reason;
};

// What find_dmarc_report() saw in a mail: the first attachment that is a
// DMARC aggregate report (RFC 7489 appendix C: XML, gzip'd or zipped),
// where it was, and why other candidates were none.
struct DmarcFinding {
	std::optional<dmarc::Report> report;
	std::string place; // "attachment 'google.com!example.com!...zip'"
	std::vector<std::string> problems;
};

// Reads one untrusted document. The default runs extract::analyse with the
// configured helper and limits; tests substitute their own.
using DocumentReader =
	std::function<extract::Document(extract::Kind kind, std::string_view data)>;

// Thrown when the helper can't be run at all (not installed, not
// executable): an installation problem, not a property of the mail.
class HelperError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

class Analyser {
public:
	Analyser();
	Analyser(const Analyser &) = delete;
	Analyser &operator=(const Analyser &) = delete;

	const Settings &settings() const { return settings_; }
	// As Settings::set; a new tresor_suppliers path starts a new registry.
	void set(std::string_view name, std::string_view value);
	void set_logger(Logger logger) { logger_ = std::move(logger); }
	void set_document_reader(DocumentReader reader) { reader_ = std::move(reader); }
	// How often tresor_suppliers is checked for changes (default 1 s).
	void set_supplier_check_interval(std::chrono::milliseconds interval);

	// Never throws for anything in the message; throws HelperError or
	// std::bad_alloc on problems of the installation or the system.
	Result analyse(const Message &msg) const;

	// The DMARC aggregate report the mail carries (dmarc_intake.hpp).
	// Same guarantees as analyse().
	DmarcFinding find_dmarc_report(const Message &msg) const;

private:
	// What the documents of a mail yielded.
	struct Findings {
		bool any_document = false;
		struct Einvoice {
			einvoice::Invoice invoice;
			std::string place; // where it was found, for reasons
		};
		std::vector<Einvoice> einvoices; // the first one's fields count
		struct Pdf {
			std::string filename;
			std::string text;
			std::string place;
		};
		std::vector<Pdf> pdfs;
		// Documents not analysed (over the budget, beyond the count,
		// the helper failed), each with why: their accounts are unknown.
		std::vector<std::string> unanalysed;
	};
	Findings read_documents(const Message &msg) const;
	bool recognise_invoice(const Message &msg, const Findings &found, Result &r) const;
	void log(int level, const std::string &message) const;
	extract::Document read_document(extract::Kind kind, std::string_view data,
					std::chrono::milliseconds time_left) const;

	Settings settings_;
	Logger logger_;
	DocumentReader reader_;
	std::chrono::milliseconds supplier_check_interval_ = std::chrono::seconds(1);
	std::unique_ptr<suppliers::Registry> registry_;
};

// The analyser behind a config of the C ABI (invoice_c_api.cpp), for C++
// callers and tests: substitute the document reader, the reload interval.
Analyser &analyser_of(tresor_invoice_config *cfg);

// ---- building blocks, exposed for tests

// Decodes RFC 2047 encoded-words (Q and B, any charset ICU converts) and
// turns raw 8-bit text that isn't UTF-8 into UTF-8 (as Windows-1252).
std::string decode_header_text(std::string_view raw);

struct FromAddress {
	std::string display_name; // decoded, unquoted
	std::string address;      // as written, "" when none
};
// The first mailbox of a From value: "Name <a@b>", "a@b (Name)", "a@b".
FromAddress parse_from(std::string_view value);

// Whether any keyword occurs in text as a word (NFKC case-folded; words
// split at non-letters and where a lower-case letter meets an upper-case
// one): the keyword itself, with a plural or inflection ending (Rechnungen,
// invoices, facturen, fatture), and for the German compounding keywords
// (Rechnung, Gutschrift) also as the first part of a word (Rechnungsnummer)
// or its last part (Eingangsrechnung), but not after the prefixes of the
// verb derivations that are no invoice (Berechnung, Umrechnung,
// Verrechnung, Anrechnung, Zurechnung, Hochrechnung, Nachrechnung,
// Aufrechnung, Gegenrechnung). A phrase's words must follow each other.
bool contains_keyword(std::string_view text, const std::vector<std::string> &keywords);

// Every IBAN printed in text, normalised, in order, without repeats: upper
// or lower case, with or without an "IBAN" label, compact or in groups
// separated by spaces, dashes or no-break spaces, the country code apart
// ("DE 89 3704 ..."), full-width digits, a label glued on ("IBANDE89...").
// A candidate counts only with a country of the IBAN register, exactly that
// country's length (a following BIC or word is never glued on; a number
// that runs on before or after is no IBAN), and valid check digits (mod 97,
// 02..98).
std::vector<std::string> find_ibans(std::string_view text);

// The text a reader sees in an HTML body: tags removed (block elements
// become line breaks, inline ones vanish), comments, scripts and styles
// dropped, character references and the common named entities decoded.
std::string html_to_text(std::string_view html);

// "attachment 'name.pdf'", or "attachment #3 (application/pdf)" for a
// part without a name (index counts from 0): for log lines and reasons.
std::string describe_part(const Part &p, std::size_t index);

// Damerau-Levenshtein (optimal string alignment) distance over code points.
std::size_t edit_distance(std::u32string_view a, std::u32string_view b);

} // namespace tresor::invoice
