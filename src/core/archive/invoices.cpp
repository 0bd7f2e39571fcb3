#include "archive/invoices.hpp"

#include <map>
#include <optional>
#include <stdexcept>
#include <utility>

#include "archive/export.hpp"
#include "archive/journal_files.hpp"
#include "archive/record.hpp"
#include "common/text.hpp"

namespace tresor {

const std::vector<std::string> &invoice_field_names()
{
	static const std::vector<std::string> names = {
		"format", "number",   "date",   "total",   "currency", "seller",
		"vatid",  "iban",     "supplier", "folder", "verdict", "reason",
	};
	return names;
}

namespace {

bool matches(const InvoiceEntry &e, const InvoiceFilter &f)
{
	const std::string day = e.time.substr(0, 10);
	if (!f.from.empty() && day < f.from)
		return false;
	if (!f.to.empty() && day > f.to)
		return false;
	const auto &names = invoice_field_names();
	auto field = [&](const char *name) -> const std::string & {
		for (std::size_t i = 0; i < names.size(); i++)
			if (names[i] == name)
				return e.fields[i];
		throw std::logic_error("no invoice field " + std::string(name));
	};
	if (!f.verdict.empty() && field("verdict") != f.verdict)
		return false;
	if (!f.supplier.empty()) {
		const std::string wanted = text::ascii_lowercase(f.supplier);
		if (text::ascii_lowercase(field("supplier")).find(wanted) == std::string::npos &&
		    text::ascii_lowercase(field("seller")).find(wanted) == std::string::npos)
			return false;
	}
	return true;
}

InvoiceEntry entry_of(const json &j, std::uint64_t seq)
{
	InvoiceEntry e;
	e.seq = seq;
	e.time = json_string(j, "time");
	e.save_seq = json_uint(j, "save_seq");
	e.mailbox = json_string(j, "mailbox");
	e.mailbox_guid = json_string(j, "mailbox_guid");
	e.uidvalidity = static_cast<std::uint32_t>(json_uint(j, "uidvalidity"));
	e.uid = static_cast<std::uint32_t>(json_uint(j, "uid"));
	e.guid = json_string(j, "guid");
	e.sha256 = json_string(j, "sha256");
	e.archive = json_uint(j, "archive") != 0;
	e.session = json_string(j, "session");
	auto it = j.find("invoice");
	for (const std::string &name : invoice_field_names())
		e.fields.push_back(it != j.end() && it->is_object() ? json_string(*it, name.c_str())
								    : std::string());
	return e;
}

bool is_negative_number(std::string_view v)
{
	if (v.size() < 2 || v.front() != '-')
		return false;
	for (char c : v.substr(1))
		if (!text::is_ascii_digit(c) && c != '.' && c != ',')
			return false;
	return true;
}

// A text a spreadsheet would evaluate as a formula, made inert; a
// negative amount ("-12.50", a credit note) stays a number. Control
// characters (line breaks) become spaces: one row is one line, which
// VERIFY.txt's checks read line by line.
std::string csv_text(std::string_view v)
{
	std::string one_line(v);
	for (char &c : one_line)
		if (text::is_control_char(c))
			c = ' ';
	if (!one_line.empty() &&
	    std::string_view("=+-@").find(one_line.front()) != std::string_view::npos &&
	    !is_negative_number(one_line))
		return text::csv_field("'" + one_line);
	return text::csv_field(one_line);
}

} // namespace

namespace {

// The register built line by line, in journal order.
class RegisterBuilder {
public:
	explicit RegisterBuilder(const InvoiceFilter &filter) : filter_(filter)
	{
		for (const std::string *d : {&filter.from, &filter.to})
			if (!d->empty() && !valid_date(*d))
				throw std::invalid_argument("dates must be given as YYYY-MM-DD ('" +
							    text::printable(*d) + "')");
	}

	void add_line(std::string_view line)
	{
		if (line.find("\"event\":\"invoice\"") == std::string_view::npos)
			return;
		auto j = parse_line(line);
		std::optional<std::uint64_t> seq;
		if (!j || json_string(*j, "event") != "invoice" || !(seq = record_seq(*j)))
			return; // verify reports what is broken
		InvoiceEntry e = entry_of(*j, *seq);
		auto key = std::make_pair(e.session, e.sha256);
		auto found = delivered_.find(key);
		if (found != delivered_.end()) {
			InvoiceEntry &first = entries_[found->second];
			unsigned copies = first.copies + 1;
			if (e.archive && !first.archive)
				first = std::move(e);
			first.copies = copies;
			return;
		}
		delivered_.emplace(std::move(key), entries_.size());
		entries_.push_back(std::move(e));
	}

	std::vector<InvoiceEntry> finish()
	{
		std::vector<InvoiceEntry> wanted;
		for (InvoiceEntry &e : entries_)
			if (matches(e, filter_))
				wanted.push_back(std::move(e));
		return wanted;
	}

private:
	const InvoiceFilter &filter_;
	std::vector<InvoiceEntry> entries_;
	// one delivery's copies of one mail: (session, sha256) -> entry
	std::map<std::pair<std::string, std::string>, std::size_t> delivered_;
};

} // namespace

std::vector<InvoiceEntry> read_invoice_register(const std::string &tresor_dir,
						const InvoiceFilter &filter)
{
	RegisterBuilder register_(filter);
	for (const JournalFile &file : list_journal_files(tresor_dir)) {
		LineReader reader(file.path);
		std::string line;
		bool terminated;
		// (an unterminated line was never acknowledged)
		while (reader.next(line, terminated))
			if (terminated)
				register_.add_line(line);
	}
	return register_.finish();
}

std::vector<InvoiceEntry> invoice_register_of(const std::vector<std::string> &journal_texts,
					      const InvoiceFilter &filter)
{
	RegisterBuilder register_(filter);
	for (const std::string &text : journal_texts) {
		std::size_t pos = 0, end;
		while ((end = text.find('\n', pos)) != std::string::npos) {
			register_.add_line(std::string_view(text).substr(pos, end - pos));
			pos = end + 1;
		}
	}
	return register_.finish();
}

std::string invoice_register_csv_header()
{
	std::string header = "user,stored";
	for (const std::string &name : invoice_field_names())
		header += "," + name;
	return header + ",mailbox,uid,uidvalidity,sha256,seq\n";
}

std::string invoice_register_csv(const std::string &user, const std::vector<InvoiceEntry> &entries)
{
	const auto &names = invoice_field_names();
	std::string csv;
	for (const InvoiceEntry &e : entries) {
		csv += csv_text(user) + "," + text::csv_field(e.time);
		for (std::size_t i = 0; i < names.size(); i++)
			csv += "," + csv_text(e.fields[i]);
		csv += "," + csv_text(e.mailbox) + "," + std::to_string(e.uid) + "," +
		       std::to_string(e.uidvalidity) + "," + text::csv_field(e.sha256) + "," +
		       std::to_string(e.seq) + "\n";
	}
	return csv;
}

} // namespace tresor
