#include "invoice/suppliers.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <unicode/uidna.h>

#include "common/text.hpp"
#include "extract/einvoice.hpp"
#include "invoice/authres.hpp"

namespace tresor::suppliers {

namespace {

using tresor::text::ascii_lowercase;

// A supplier file this large is a mistake, not a supplier list.
constexpr std::size_t max_file_size = 16u << 20;

const char log_prefix[] = "tresor_suppliers: ";
std::vector<std::string> split_values(std::string_view field)
{
	std::vector<std::string> out;
	std::size_t i = 0;
	while (i < field.size()) {
		while (i < field.size() && tresor::text::is_ascii_space(field[i]))
			i++;
		std::size_t start = i;
		while (i < field.size() && !tresor::text::is_ascii_space(field[i]))
			i++;
		if (i > start)
			out.emplace_back(field.substr(start, i - start));
	}
	return out;
}

bool starts_iban(std::string_view token)
{
	auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
	return token.size() >= 4 && letter(token[0]) && letter(token[1]) && text::is_ascii_digit(token[2]) &&
	       text::is_ascii_digit(token[3]);
}

// VAT IDs as printed on letterheads: "DE 123 456 789 ATU12345678". A group
// starting with two letters begins the next VAT ID.
std::vector<std::string> split_vatids(std::string_view field)
{
	auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
	std::vector<std::string> out;
	for (std::string &token : split_values(field)) {
		if (out.empty() || (token.size() >= 2 && letter(token[0]) && letter(token[1])))
			out.push_back(std::move(token));
		else
			out.back() += token;
	}
	return out;
}

// ---- RFC 4180 records

enum class Column { name, folder, domains, addresses, vat_ids, ibans, unknown };

struct Record {
	unsigned line = 0; // of the first character
	std::vector<std::string> fields;
	std::string error; // non-empty: a syntax error, fields unusable
};

class CsvReader {
public:
	explicit CsvReader(std::string_view data) : data_(data)
	{
		// A BOM is what some spreadsheet programs put first.
		if (data_.substr(0, 3) == "\xEF\xBB\xBF")
			pos_ = 3;
	}

	// The next record, skipping empty and comment lines; false at the end.
	bool next(Record &rec)
	{
		for (;;) {
			if (pos_ >= data_.size())
				return false;
			if (at_line_end()) {
				skip_line_end();
				continue;
			}
			if (data_[pos_] == '#') {
				skip_rest_of_line();
				continue;
			}
			break;
		}
		rec = Record{};
		rec.line = line_;
		const std::size_t start_pos = pos_;
		const unsigned start_line = line_;
		// A syntax error ends the record. When a quoted field had run over
		// line ends, its opening quote was most likely never closed: only
		// the first line is given up, the following ones are read again.
		auto fail = [&](const char *error) {
			if (line_ != start_line) {
				rec.error = "unbalanced double quotes";
				pos_ = start_pos;
				line_ = start_line;
			} else {
				rec.error = error;
			}
			skip_rest_of_line();
			return true;
		};
		for (;;) {
			std::string field;
			if (pos_ < data_.size() && data_[pos_] == '"') {
				if (!read_quoted(field))
					return fail("unbalanced double quotes");
				if (pos_ < data_.size() && data_[pos_] != ',' && !at_line_end())
					return fail("unexpected character after a closing double quote");
			} else {
				while (pos_ < data_.size() && data_[pos_] != ',' && !at_line_end()) {
					if (data_[pos_] == '"')
						return fail("double quote inside an unquoted field");
					field += data_[pos_++];
				}
			}
			rec.fields.push_back(std::move(field));
			if (pos_ < data_.size() && data_[pos_] == ',') {
				pos_++;
				continue;
			}
			skip_line_end();
			return true;
		}
	}

private:
	bool at_line_end() const
	{
		return data_[pos_] == '\n' ||
		       (data_[pos_] == '\r' && pos_ + 1 < data_.size() && data_[pos_ + 1] == '\n');
	}
	void skip_line_end()
	{
		if (pos_ < data_.size() && data_[pos_] == '\r')
			pos_++;
		if (pos_ < data_.size() && data_[pos_] == '\n') {
			pos_++;
			line_++;
		}
	}
	void skip_rest_of_line()
	{
		while (pos_ < data_.size() && data_[pos_] != '\n')
			pos_++;
		if (pos_ < data_.size()) {
			pos_++;
			line_++;
		}
	}
	// At an opening quote; false when the closing one is missing.
	bool read_quoted(std::string &field)
	{
		pos_++;
		while (pos_ < data_.size()) {
			char c = data_[pos_++];
			if (c == '"') {
				if (pos_ < data_.size() && data_[pos_] == '"') {
					field += '"';
					pos_++;
					continue;
				}
				return true;
			}
			if (c == '\n')
				line_++;
			field += c;
		}
		return false;
	}

	std::string_view data_;
	std::size_t pos_ = 0;
	unsigned line_ = 1;
};

Column column_of(std::string_view header_field)
{
	std::string h = ascii_lowercase(tresor::text::trim_space(header_field));
	static const std::array<std::pair<const char *, Column>, 6> names{{
		{"name", Column::name},
		{"folder", Column::folder},
		{"domains", Column::domains},
		{"addresses", Column::addresses},
		{"vat_ids", Column::vat_ids},
		{"ibans", Column::ibans},
	}};
	for (const auto &[n, c] : names) {
		if (h == n)
			return c;
	}
	return Column::unknown;
}

// VAT IDs after normalisation: a two-letter country prefix and 2 to 13
// letters or digits (the EU formats lie within that).
bool is_plausible_vatid(std::string_view v)
{
	if (v.size() < 4 || v.size() > 15)
		return false;
	for (std::size_t i = 0; i < v.size(); i++) {
		char c = v[i];
		bool upper = c >= 'A' && c <= 'Z';
		bool digit = text::is_ascii_digit(c);
		if (i < 2 ? !upper : !(upper || digit))
			return false;
	}
	return true;
}

// Builds a supplier from one record; returns the reason it is bad.
std::optional<std::string> make_supplier(const std::vector<Column> &columns,
					 const Record &rec, Supplier &s)
{
	if (rec.fields.size() != columns.size()) {
		return std::to_string(rec.fields.size()) + " fields, expected " +
		       std::to_string(columns.size());
	}
	for (const std::string &f : rec.fields) {
		if (!is_valid_utf8(f))
			return "not valid UTF-8";
	}
	s.line = rec.line;
	for (std::size_t i = 0; i < columns.size(); i++) {
		const std::string &field = rec.fields[i];
		switch (columns[i]) {
		case Column::name:
			s.name = std::string(tresor::text::trim_space(field));
			break;
		case Column::folder:
			s.folder = std::string(tresor::text::trim_space(field));
			break;
		case Column::domains:
			for (const std::string &v : split_values(field)) {
				// Checked first: "com" is no valid supplier domain either,
				// but this says why.
				if (authres::is_public_suffix(v))
					return "domain " + text::quoted(v) +
					       " is a public suffix (every domain under it would "
					       "count as the supplier's)";
				std::optional<std::string> d = canonical_domain(v);
				if (!d)
					return "invalid domain " + text::quoted(v);
				if (authres::is_public_suffix(*d))
					return "domain " + text::quoted(v) +
					       " is a public suffix (every domain under it would "
					       "count as the supplier's)";
				text::add_unique(s.domains, std::move(*d));
			}
			break;
		case Column::addresses:
			for (const std::string &v : split_values(field)) {
				std::optional<std::string> a = canonical_address(v);
				if (!a)
					return "invalid address " + text::quoted(v);
				text::add_unique(s.addresses, std::move(*a));
			}
			break;
		case Column::vat_ids:
			for (const std::string &v : split_vatids(field)) {
				std::string n = einvoice::normalise_vatid(v);
				if (!is_plausible_vatid(n))
					return "invalid VAT ID " + text::quoted(v);
				text::add_unique(s.vat_ids, std::move(n));
			}
			break;
		case Column::ibans:
			for (const std::string &v : split_ibans(field)) {
				std::string n = einvoice::normalise_iban(v);
				if (n.empty() || !einvoice::iban_valid(n))
					return "invalid IBAN " + text::quoted(v) +
					       " (wrong format or check digits)";
				text::add_unique(s.ibans, std::move(n));
			}
			break;
		case Column::unknown:
			break;
		}
	}
	if (s.name.empty())
		return "empty name";
	if (text::has_control_char(s.name))
		return "name " + text::quoted(s.name) + " contains control characters";
	if (!is_valid_folder_name(s.folder))
		return "invalid folder name " + text::quoted(s.folder) +
		       " (expected a non-empty name without control characters, "
		       "'..', empty levels or '/' at either end)";
	return std::nullopt;
}

std::string describe_errno(int err)
{
	return std::strerror(err);
}

} // namespace

// ---- Supplier

bool Supplier::owns_domain(std::string_view domain) const
{
	return std::any_of(domains.begin(), domains.end(), [&](const std::string &d) {
		if (domain.size() == d.size())
			return domain == d;
		return domain.size() > d.size() && domain.ends_with(d) &&
		       domain[domain.size() - d.size() - 1] == '.';
	});
}

bool Supplier::has_address(std::string_view address) const
{
	return std::find(addresses.begin(), addresses.end(), address) != addresses.end();
}

bool Supplier::has_iban(std::string_view iban) const
{
	return std::find(ibans.begin(), ibans.end(), iban) != ibans.end();
}

// ---- SupplierList

const Supplier *
SupplierList::find(const std::unordered_map<std::string, std::size_t> &map,
		   std::string_view key) const
{
	auto it = map.find(std::string(key));
	return it == map.end() ? nullptr : &suppliers_[it->second];
}

const Supplier *SupplierList::by_vatid(std::string_view vatid) const
{
	return vatid.empty() ? nullptr : find(vatids_, vatid);
}

const Supplier *SupplierList::by_iban(std::string_view iban) const
{
	return iban.empty() ? nullptr : find(ibans_, iban);
}

const Supplier *SupplierList::by_address(std::string_view address) const
{
	return address.empty() ? nullptr : find(addresses_, address);
}

const Supplier *SupplierList::by_domain(std::string_view domain) const
{
	// Walk from the full name up through its parents: the first hit is
	// the longest (most specific) supplier domain.
	while (!domain.empty()) {
		if (const Supplier *s = find(domains_, domain))
			return s;
		std::size_t dot = domain.find('.');
		if (dot == std::string_view::npos)
			break;
		domain.remove_prefix(dot + 1);
	}
	return nullptr;
}

std::optional<std::string> SupplierList::add(Supplier s)
{
	auto taken = [&](const std::unordered_map<std::string, std::size_t> &map,
			 const std::vector<std::string> &keys,
			 const char *what) -> std::optional<std::string> {
		for (const std::string &k : keys) {
			auto it = map.find(k);
			if (it != map.end()) {
				const Supplier &o = suppliers_[it->second];
				return std::string(what) + " " + text::quoted(k) +
				       " already belongs to " + text::quoted(o.name) + " (line " +
				       std::to_string(o.line) + ")";
			}
		}
		return std::nullopt;
	};
	// A key claimed twice would make identification depend on line order;
	// that is a mistake in the file, so the later line loses.
	if (auto it = names_.find(s.name); it != names_.end())
		return "supplier " + text::quoted(s.name) + " is already defined on line " +
		       std::to_string(suppliers_[it->second].line);
	if (auto r = taken(vatids_, s.vat_ids, "VAT ID"))
		return r;
	if (auto r = taken(ibans_, s.ibans, "IBAN"))
		return r;
	if (auto r = taken(addresses_, s.addresses, "address"))
		return r;
	if (auto r = taken(domains_, s.domains, "domain"))
		return r;
	std::size_t index = suppliers_.size();
	names_.emplace(s.name, index);
	for (const std::string &k : s.vat_ids)
		vatids_.emplace(k, index);
	for (const std::string &k : s.ibans)
		ibans_.emplace(k, index);
	for (const std::string &k : s.addresses)
		addresses_.emplace(k, index);
	for (const std::string &k : s.domains)
		domains_.emplace(k, index);
	suppliers_.push_back(std::move(s));
	return std::nullopt;
}

// ---- parsing

SupplierList parse(std::string_view csv, std::string_view origin, const Logger &log)
{
	SupplierList list;
	const std::string where = log_prefix + std::string(origin);
	CsvReader reader(csv);
	Record rec;
	if (!reader.next(rec)) {
		log(3, where + ": no header row; no supplier is known");
		return list;
	}
	if (!rec.error.empty()) {
		log(3, where + " line " + std::to_string(rec.line) + ": header row: " +
			       rec.error + "; no supplier is known");
		return list;
	}
	std::vector<Column> columns;
	for (const std::string &h : rec.fields) {
		Column c = column_of(h);
		if (c == Column::unknown) {
			log(2, where + " line " + std::to_string(rec.line) +
				       ": unknown column " + text::quoted(tresor::text::trim_space(h)) + " ignored");
		} else if (std::find(columns.begin(), columns.end(), c) != columns.end()) {
			log(3, where + " line " + std::to_string(rec.line) +
				       ": column " + text::quoted(tresor::text::trim_space(h)) +
				       " appears twice; no supplier is known");
			return list;
		}
		columns.push_back(c);
	}
	for (Column required : {Column::name, Column::folder}) {
		if (std::find(columns.begin(), columns.end(), required) == columns.end()) {
			log(3, where + " line " + std::to_string(rec.line) +
				       ": header row lacks the column " +
				       (required == Column::name ? "name" : "folder") +
				       "; no supplier is known");
			return list;
		}
	}

	unsigned skipped = 0;
	while (reader.next(rec)) {
		std::optional<std::string> problem;
		Supplier s;
		if (!rec.error.empty())
			problem = rec.error;
		else
			problem = make_supplier(columns, rec, s);
		if (!problem)
			problem = list.add(std::move(s));
		if (problem) {
			skipped++;
			log(2, where + " line " + std::to_string(rec.line) +
				       " skipped: " + *problem);
		}
	}
	log(1, where + ": " + std::to_string(list.all().size()) + " suppliers loaded" +
		       (skipped > 0 ? ", " + std::to_string(skipped) + " lines skipped" : ""));
	return list;
}

// ---- Registry

Registry::Registry(std::string path, std::chrono::milliseconds check_interval)
	: path_(std::move(path)), check_interval_(check_interval)
{
}

std::shared_ptr<const SupplierList> Registry::current(const Logger &log) const
{
	std::lock_guard<std::mutex> lock(mutex_);
	if (path_.empty()) {
		if (!list_)
			list_ = std::make_shared<const SupplierList>();
		return list_;
	}
	auto now = std::chrono::steady_clock::now();
	if (loaded_ && now - last_check_ < check_interval_)
		return list_;
	last_check_ = now;

	Signature sig;
	struct stat st;
	if (::stat(path_.c_str(), &st) < 0) {
		sig.error = errno;
	} else {
		sig.dev = st.st_dev;
		sig.ino = st.st_ino;
		sig.size = static_cast<std::uint64_t>(st.st_size);
		sig.mtime_sec = st.st_mtim.tv_sec;
		sig.mtime_nsec = st.st_mtim.tv_nsec;
	}
	if (loaded_ && sig == signature_)
		return list_;
	list_ = load(sig, log);
	signature_ = sig;
	loaded_ = true;
	return list_;
}

std::shared_ptr<const SupplierList> Registry::load(Signature &sig_r, const Logger &log) const
{
	const std::string where = log_prefix + path_;
	const std::string consequence = "; no supplier is known, every invoice "
					"counts as from an unknown supplier";
	if (sig_r.error != 0) {
		log(3, where + ": " + describe_errno(sig_r.error) + consequence);
		return std::make_shared<const SupplierList>();
	}
	int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		// Remember the failure so that it is logged once, not per mail.
		sig_r.error = errno;
		log(3, where + ": " + describe_errno(sig_r.error) + consequence);
		return std::make_shared<const SupplierList>();
	}
	std::string data;
	struct stat st;
	bool ok = ::fstat(fd, &st) == 0;
	if (ok && S_ISDIR(st.st_mode)) {
		::close(fd);
		sig_r.error = EISDIR;
		log(3, where + ": " + describe_errno(EISDIR) + consequence);
		return std::make_shared<const SupplierList>();
	}
	if (ok) {
		// What was read is what the signature must describe, even when
		// the file was replaced between stat() and open().
		sig_r.dev = st.st_dev;
		sig_r.ino = st.st_ino;
		sig_r.size = static_cast<std::uint64_t>(st.st_size);
		sig_r.mtime_sec = st.st_mtim.tv_sec;
		sig_r.mtime_nsec = st.st_mtim.tv_nsec;
	}
	char buf[65536];
	int read_errno = 0;
	for (;;) {
		ssize_t n = ::read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			read_errno = errno;
			break;
		}
		if (n == 0)
			break;
		data.append(buf, static_cast<std::size_t>(n));
		if (data.size() > max_file_size)
			break;
	}
	::close(fd);
	if (read_errno != 0) {
		log(3, where + ": " + describe_errno(read_errno) + consequence);
		return std::make_shared<const SupplierList>();
	}
	if (data.size() > max_file_size) {
		log(3, where + ": larger than " + std::to_string(max_file_size >> 20) +
			       " MiB" + consequence);
		return std::make_shared<const SupplierList>();
	}
	return std::make_shared<const SupplierList>(parse(data, path_, log));
}

// ---- normalisation

std::optional<std::string> canonical_domain(std::string_view domain)
{
	domain = tresor::text::trim_space(domain);
	if (!domain.empty() && domain.back() == '.')
		domain.remove_suffix(1);
	if (domain.empty() || domain.size() > 1000 || !is_valid_utf8(domain))
		return std::nullopt;

	UErrorCode status = U_ZERO_ERROR;
	// UTS #46 with STD3 rules: lowercases, maps full-width forms and
	// rejects what isn't a host name (underscores, spaces, "a..b").
	static const uint32_t options = UIDNA_USE_STD3_RULES | UIDNA_CHECK_BIDI |
					UIDNA_CHECK_CONTEXTJ |
					UIDNA_NONTRANSITIONAL_TO_ASCII |
					UIDNA_NONTRANSITIONAL_TO_UNICODE;
	std::unique_ptr<UIDNA, decltype(&uidna_close)> idna(uidna_openUTS46(options, &status),
							     &uidna_close);
	if (U_FAILURE(status))
		return std::nullopt;
	char out[512];
	UIDNAInfo info = UIDNA_INFO_INITIALIZER;
	int32_t len = uidna_nameToASCII_UTF8(idna.get(), domain.data(),
					     static_cast<int32_t>(domain.size()), out,
					     sizeof(out), &info, &status);
	if (U_FAILURE(status) || info.errors != 0 || len <= 0 ||
	    len >= static_cast<int32_t>(sizeof(out)))
		return std::nullopt;
	std::string ascii(out, static_cast<std::size_t>(len));
	if (ascii.size() > 253 || ascii.find('.') == std::string::npos)
		return std::nullopt;
	// STD3 rules allow a trailing dot and empty labels in some builds;
	// a host name has neither.
	if (ascii.front() == '.' || ascii.back() == '.' ||
	    ascii.find("..") != std::string::npos)
		return std::nullopt;
	return ascii;
}

std::string domain_to_unicode(std::string_view canonical)
{
	UErrorCode status = U_ZERO_ERROR;
	static const uint32_t options = UIDNA_NONTRANSITIONAL_TO_UNICODE;
	std::unique_ptr<UIDNA, decltype(&uidna_close)> idna(uidna_openUTS46(options, &status),
							     &uidna_close);
	if (U_FAILURE(status) || canonical.size() > 1000)
		return std::string(canonical);
	char out[2048];
	UIDNAInfo info = UIDNA_INFO_INITIALIZER;
	int32_t len = uidna_nameToUnicodeUTF8(idna.get(), canonical.data(),
					      static_cast<int32_t>(canonical.size()), out,
					      sizeof(out), &info, &status);
	if (U_FAILURE(status) || info.errors != 0 || len <= 0 ||
	    len >= static_cast<int32_t>(sizeof(out)))
		return std::string(canonical);
	return std::string(out, static_cast<std::size_t>(len));
}

std::optional<std::string> canonical_address(std::string_view address)
{
	address = tresor::text::trim_space(address);
	std::size_t at = address.rfind('@');
	if (at == std::string_view::npos || at == 0 || at + 1 >= address.size())
		return std::nullopt;
	std::string_view local = address.substr(0, at);
	if (text::has_control_char(local) || local.find(' ') != std::string_view::npos ||
	    !is_valid_utf8(local))
		return std::nullopt;
	std::optional<std::string> domain = canonical_domain(address.substr(at + 1));
	if (!domain)
		return std::nullopt;
	return ascii_lowercase(local) + "@" + *domain;
}

bool is_valid_folder_name(std::string_view folder)
{
	if (folder.empty() || text::has_control_char(folder) || !is_valid_utf8(folder))
		return false;
	if (folder.front() == '/' || folder.back() == '/')
		return false;
	return folder.find("//") == std::string_view::npos &&
	       folder.find("..") == std::string_view::npos;
}

std::vector<std::string> split_ibans(std::string_view field)
{
	std::vector<std::string> out;
	for (std::string &token : split_values(field)) {
		if (out.empty() || starts_iban(token))
			out.push_back(std::move(token));
		else
			out.back() += token;
	}
	return out;
}

bool is_valid_utf8(std::string_view s)
{
	std::size_t i = 0;
	while (i < s.size()) {
		unsigned char c = static_cast<unsigned char>(s[i]);
		std::size_t n;
		char32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			n = 1;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + n >= s.size())
			return false;
		for (std::size_t k = 1; k <= n; k++) {
			unsigned char cc = static_cast<unsigned char>(s[i + k]);
			if ((cc & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (cc & 0x3F);
		}
		// Overlong forms, surrogates and values beyond U+10FFFF.
		static const char32_t min_for_length[] = {0, 0x80, 0x800, 0x10000};
		if (cp < min_for_length[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

} // namespace tresor::suppliers
