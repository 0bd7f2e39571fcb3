// The invoice register: the invoice records of a journal (docs/archive.md
// 3.8), each tied to the save record of the mail it describes, as the
// bookkeeper's list - filtered, and as a CSV an ERP imports.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tresor {

// The fields of an invoice record's "invoice" object, in the register's
// order (the Sieve variables ${invoice.*} of the same names).
const std::vector<std::string> &invoice_field_names();

struct InvoiceEntry {
	std::uint64_t seq = 0;      // of the invoice record
	std::string time;           // when the mail was stored
	std::uint64_t save_seq = 0; // the save record it describes
	std::string mailbox;
	std::string mailbox_guid;
	std::uint32_t uidvalidity = 0;
	std::uint32_t uid = 0;
	std::string guid;
	std::string sha256;
	bool archive = false;       // saved into an archive folder
	std::string session;
	// one delivery stored the invoice this many times (fileinto :copy):
	// the entry names the copy in an archive folder, else the first
	unsigned copies = 1;
	std::vector<std::string> fields; // invoice_field_names() order
};

struct InvoiceFilter {
	std::string from, to;  // YYYY-MM-DD of the time stored (UTC), both included; "" = open
	std::string verdict;   // "" = any
	std::string supplier;  // case-insensitive part of supplier or seller; "" = any
};

// The register of the journal in tresor_dir, oldest first. Throws
// std::invalid_argument for a bad date, std::runtime_error when the
// journal can't be read.
std::vector<InvoiceEntry> read_invoice_register(const std::string &tresor_dir,
						const InvoiceFilter &filter);

// The same from journal files' contents (whole lines; what follows the
// last line end was never acknowledged).
std::vector<InvoiceEntry> invoice_register_of(const std::vector<std::string> &journal_texts,
					      const InvoiceFilter &filter);

// The register as CSV with a header row (docs/invoices.md 9): user,
// stored, the invoice fields, mailbox, uid, uidvalidity, sha256, seq.
// A text field that a spreadsheet would take for a formula (starting
// with = + - @) is prefixed with "'"; control characters become spaces,
// so that each row is one line.
std::string invoice_register_csv_header();
std::string invoice_register_csv(const std::string &user,
				 const std::vector<InvoiceEntry> &entries);

} // namespace tresor
