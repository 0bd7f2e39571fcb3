// What src/core does with the header and MIME data of a mail (the MIME
// structure itself is parsed by Dovecot's message parser in the Sieve
// glue): RFC 2047 header decoding, the From address, the IBAN finder (in
// text and HTML) and keyword search, and the whole invoice analysis over a message built from the
// input, with documents read in-process (e-invoice XML through the real
// parser, PDF text taken as given) instead of by the helper.
//
// Input: sections separated by NUL. The first section holds header lines
// ("Name: value", one per line); each further section is a part:
// "content-type\nfilename\nflags\ndata" (flags: '1' = attachment).
#include <algorithm>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "invoice/invoice.hpp"
#include "invoice/suppliers.hpp"
#include "tresor-extract/einvoice_xml.hpp"

using namespace tresor;

namespace {

constexpr const char kSuppliers[] =
	"name,folder,domains,addresses,vat_ids,ibans\n"
	"ACME GmbH,Rechnungen/ACME,acme.de acme-billing.com,billing@acme.example,"
	"DE123456789,DE02120300000000202051\n"
	"\"Müller & Söhne\",Rechnungen/Mueller,müller.de,,ATU12345678,"
	"AT611904300234573201\n"
	"Example Ltd,Rechnungen/Example,example.co.uk,,GB123456789,\n";

invoice::Analyser &analyser()
{
	static invoice::Analyser *a = [] {
		auto *an = new invoice::Analyser;
		std::string path = fuzz::scratch_dir() + "/suppliers.csv";
		fuzz::write_file(path, kSuppliers);
		an->set("tresor_suppliers", path);
		an->set("tresor_authserv_id", "mx.example.org");
		an->set_logger([](int, const std::string &) {});
		an->set_supplier_check_interval(std::chrono::hours(24));
		an->set_document_reader([](extract::Kind kind, std::string_view data) {
			extract::Document d;
			d.ok = true;
			if (kind == extract::Kind::xml)
				d.einvoice = einvoice::parse_xml(data, false);
			else
				d.text = std::string(data);
			return d;
		});
		return an;
	}();
	return *a;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	std::string_view in = fuzz::input(data, size);

	(void)invoice::decode_header_text(in);
	invoice::FromAddress from = invoice::parse_from(in);
	(void)from;
	// Every IBAN found is valid, found once, and found again in its own
	// compact form and in lower case (the notations are one account).
	std::vector<std::string> ibans = invoice::find_ibans(in.substr(0, 16384));
	for (std::size_t i = 0; i < ibans.size(); i++) {
		FUZZ_CHECK(einvoice::iban_valid(ibans[i]));
		FUZZ_CHECK(std::find(ibans.begin() + static_cast<std::ptrdiff_t>(i) + 1, ibans.end(),
				     ibans[i]) == ibans.end());
		FUZZ_CHECK(invoice::find_ibans(ibans[i]) == std::vector<std::string>{ibans[i]});
		std::string lower = ibans[i];
		for (char &c : lower)
			c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
		FUZZ_CHECK(invoice::find_ibans(" " + lower + " ") == std::vector<std::string>{ibans[i]});
	}
	std::string html_text = invoice::html_to_text(in.substr(0, 16384));
	FUZZ_CHECK(html_text.size() <= 3 * std::min<std::size_t>(in.size(), 16384) + 1);
	for (const std::string &iban : invoice::find_ibans(html_text))
		FUZZ_CHECK(einvoice::iban_valid(iban));
	static const std::vector<std::string> keywords = invoice::Settings::default_keywords();
	(void)invoice::contains_keyword(in.substr(0, 4096), keywords);
	// Keywords from the input (as tresor_invoice_keywords would give them).
	std::string_view first_line = in.substr(0, std::min<std::size_t>(in.find('\n'), 64));
	if (suppliers::is_valid_utf8(first_line))
		(void)invoice::contains_keyword(in.substr(0, 4096), {std::string(first_line)});

	std::vector<std::string_view> sections = fuzz::split(in, '\0');
	invoice::Message msg;
	for (std::string_view line : fuzz::split(sections[0], '\n')) {
		std::size_t colon = line.find(':');
		if (colon == std::string_view::npos)
			continue;
		std::string_view value = line.substr(colon + 1);
		if (!value.empty() && value.front() == ' ')
			value.remove_prefix(1);
		msg.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
	}
	for (std::size_t i = 1; i < sections.size() && i <= 20; i++) {
		std::string_view s = sections[i];
		invoice::Part p;
		auto take_line = [&s] {
			std::size_t nl = s.find('\n');
			std::string_view l = s.substr(0, nl);
			s = nl == std::string_view::npos ? std::string_view() : s.substr(nl + 1);
			return std::string(l);
		};
		p.content_type = take_line();
		for (char &c : p.content_type)
			if (c >= 'A' && c <= 'Z')
				c = static_cast<char>(c - 'A' + 'a');
		p.filename = take_line();
		p.is_attachment = take_line() == "1";
		p.data = std::string(s);
		msg.parts.push_back(std::move(p));
	}
	invoice::Result r = analyser().analyse(msg);
	if (!r.is_invoice)
		FUZZ_CHECK(r.verdict.empty());
	else
		FUZZ_CHECK(r.verdict == "trusted" || r.verdict == "lookalike-domain" ||
			   r.verdict == "unauthenticated" || r.verdict == "bank-account-changed" ||
			   r.verdict == "unknown-supplier");
	return 0;
}
