// The supplier registry (tresor_suppliers): a CSV file naming each supplier
// with the folder its invoices go to and what identifies it — domains,
// sender addresses, VAT IDs and bank accounts.
//
// File format (UTF-8, RFC 4180):
//   - The first record that isn't empty or a comment is the header row; it
//     names the columns, in any order: name, folder, domains, addresses,
//     vat_ids, ibans (case-insensitive). name and folder are required; an
//     unknown column is reported and ignored.
//   - Fields are separated by ',', records end with LF or CRLF. A field in
//     double quotes may contain ',', line breaks and "" for a quote.
//   - domains, addresses, vat_ids and ibans hold several values separated
//     by white space. IBANs and VAT IDs may be written in groups as printed
//     ("DE02 1203 0000 ...", "DE 123 456 789"): a group starting with two
//     letters and two digits begins the next IBAN, a group starting with two
//     letters the next VAT ID; other groups continue the one before.
//   - A line starting with '#' (outside a quoted field) is a comment; empty
//     lines are ignored. A name starting with '#' must be quoted.
//   - A bad record (wrong field count, unbalanced quotes, empty or invalid
//     name, invalid folder, domain, address, VAT ID or IBAN, a domain that
//     is a public suffix (com, co.uk, github.io), a value already
//     claimed by an earlier supplier) is logged with its line number and
//     skipped; the others still count.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tresor::suppliers {

// level as in tresor-invoice.h: 0 debug, 1 info, 2 warning, 3 error.
using Logger = std::function<void(int level, const std::string &message)>;

struct Supplier {
	std::string name;
	std::string folder;
	std::vector<std::string> domains;   // canonical_domain()
	std::vector<std::string> addresses; // canonical_address()
	std::vector<std::string> vat_ids;   // einvoice::normalise_vatid()
	std::vector<std::string> ibans;     // einvoice::normalise_iban(), mod-97 valid
	unsigned line = 0;                  // where the record starts

	// domain (canonical) is one of domains, or a subdomain of one.
	bool owns_domain(std::string_view domain) const;
	bool has_address(std::string_view address) const;
	bool has_iban(std::string_view iban) const;
};

// The suppliers of one version of the file, with look-ups by each key.
class SupplierList {
public:
	const std::vector<Supplier> &all() const { return suppliers_; }
	bool empty() const { return suppliers_.empty(); }

	// Arguments in their normalised form; nullptr when nobody has it.
	const Supplier *by_vatid(std::string_view vatid) const;
	const Supplier *by_iban(std::string_view iban) const;
	const Supplier *by_address(std::string_view address) const;
	// The supplier with the longest domain that is domain or a parent of it.
	const Supplier *by_domain(std::string_view domain) const;

	// Adds s unless one of its keys is taken; returns the reason otherwise.
	std::optional<std::string> add(Supplier s);

private:
	const Supplier *find(const std::unordered_map<std::string, std::size_t> &map,
			     std::string_view key) const;

	std::vector<Supplier> suppliers_;
	std::unordered_map<std::string, std::size_t> names_, vatids_, ibans_, addresses_,
		domains_;
};

// Parses the CSV text; origin names the file in log messages.
SupplierList parse(std::string_view csv, std::string_view origin, const Logger &log);

// The file at path, re-read when it changes. The check (inode, size, mtime)
// runs at most once per check_interval, so a busy lmtp process doesn't stat
// the file for every mail; the parsed list is shared, never copied.
class Registry {
public:
	explicit Registry(std::string path,
			  std::chrono::milliseconds check_interval = std::chrono::seconds(1));
	Registry(const Registry &) = delete;
	Registry &operator=(const Registry &) = delete;

	const std::string &path() const { return path_; }
	// The current list; logs load problems once per version of the file.
	std::shared_ptr<const SupplierList> current(const Logger &log) const;

private:
	struct Signature {
		int error = 0; // errno of stat(), 0 when the file is there
		std::uint64_t dev = 0, ino = 0, size = 0;
		std::int64_t mtime_sec = 0, mtime_nsec = 0;
		bool operator==(const Signature &) const = default;
	};
	std::shared_ptr<const SupplierList> load(Signature &sig_r, const Logger &log) const;

	std::string path_;
	std::chrono::milliseconds check_interval_;
	mutable std::mutex mutex_;
	mutable bool loaded_ = false;
	mutable std::chrono::steady_clock::time_point last_check_;
	mutable Signature signature_;
	mutable std::shared_ptr<const SupplierList> list_;
};

// ---- normalisation, shared with the invoice analysis

// Lowercase ASCII form (IDNA 2008 / UTS #46, punycode A-labels) without a
// trailing dot; nullopt unless it is a valid host name of two or more labels.
std::optional<std::string> canonical_domain(std::string_view domain);
// The Unicode form of a canonical domain (U-labels), for display and for
// comparing what a reader sees; the input itself when it can't be converted.
std::string domain_to_unicode(std::string_view canonical);
// "local@domain" with the local part in lowercase and the domain canonical;
// nullopt when it isn't of that form.
std::optional<std::string> canonical_address(std::string_view address);
// Folder names as a Sieve fileinto or IMAP client would use them, with '/'
// as separator: not empty, no control characters, no '/' at either end,
// no empty level ("a//b"), no ".." anywhere.
bool is_valid_folder_name(std::string_view folder);
// IBANs as accountants paste them: "DE89 3704 0044 0532 0130 00 AT61 ...".
// A group starting with two letters and two digits begins the next IBAN;
// the other groups continue the current one. Not normalised or validated.
std::vector<std::string> split_ibans(std::string_view field);
bool is_valid_utf8(std::string_view s);

} // namespace tresor::suppliers
