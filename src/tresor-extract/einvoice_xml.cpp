#include "einvoice_xml.hpp"

#include "common/text.hpp"

#include <algorithm>
#include <initializer_list>
#include <map>
#include <set>
#include <utility>

#include <pugixml.hpp>

namespace tresor::einvoice {

namespace {

// A namespace an element must be in. Some vocabularies carry their version
// at the end of the URI (ram ...:100 in CII, ...:12 in ZUGFeRD 1), so those
// match any URI starting with `uri`. or_else: another namespace that is
// accepted as well (drafts wrote the same elements in several).
struct Ns {
	std::string_view uri;
	bool any_version = false;
	const Ns *or_else = nullptr;

	bool matches(std::string_view actual) const
	{
		bool own = any_version ? actual.size() > uri.size() && actual.starts_with(uri) :
					 actual == uri;
		return own || (or_else != nullptr && or_else->matches(actual));
	}
};

constexpr Ns kUblInvoice{"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"};
constexpr Ns kUblCreditNote{"urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"};
constexpr Ns kCbc{"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"};
constexpr Ns kCac{"urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"};
constexpr Ns kCiiRsm{"urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"};
constexpr Ns kZugferd1Rsm{"urn:ferd:CrossIndustryDocument:invoice:1p0"};
// ZUGFeRD's 2013/14 release candidate: root rsm:Invoice in this namespace.
constexpr Ns kZugferdRcRsm{"urn:un:unece:uncefact:data:standard:CBFBUY:5"};
constexpr Ns kRam{
	"urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:", true};
constexpr Ns kUdt{"urn:un:unece:uncefact:data:standard:UnqualifiedDataType:", true};
// The release candidate's generators wrote the ram elements unqualified (no
// namespace), in the draft ram namespace, or in the standard one.
constexpr Ns kNoNamespace{""};
constexpr Ns kRamDraft{"urn:un:unece:uncefact:data:draft:ReusableAggregateBusinessInformationEntity:",
		       true, &kNoNamespace};
constexpr Ns kRamRc{kRam.uri, true, &kRamDraft};

std::string_view local_name(pugi::xml_node node)
{
	std::string_view name = node.name();
	std::size_t colon = name.find(':');
	return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

// Finds the namespace URI of elements. Each element's xmlns declarations
// are read once into one map, so that a document declaring thousands of
// prefixes on the root costs a lookup per step, not a scan.
class Namespaces {
public:
	// The URI the element's prefix (or the default namespace) is bound to
	// by the nearest declaration in scope; "" when unbound.
	std::string_view uri(pugi::xml_node element)
	{
		std::string_view name = element.name();
		std::size_t colon = name.find(':');
		std::string_view prefix = colon == std::string_view::npos ?
			std::string_view() : name.substr(0, colon);
		for (pugi::xml_node n = element; n; n = n.parent()) {
			if (n.type() != pugi::node_element)
				continue;
			const void *id = n.internal_object();
			if (scanned_.insert(id).second)
				scan(n, id);
			auto it = declared_.find({id, prefix});
			if (it != declared_.end())
				return it->second;
		}
		return {};
	}

private:
	void scan(pugi::xml_node element, const void *id)
	{
		for (pugi::xml_attribute attr : element.attributes()) {
			std::string_view aname = attr.name();
			if (aname == "xmlns")
				declared_.emplace(Key{id, {}}, attr.value());
			else if (aname.starts_with("xmlns:"))
				declared_.emplace(Key{id, aname.substr(6)}, attr.value());
		}
	}

	using Key = std::pair<const void *, std::string_view>;
	std::set<const void *> scanned_;
	std::map<Key, std::string_view> declared_;
};

struct Step {
	const Ns &ns;
	std::string_view local;
};

// Finds elements by local name and namespace.
class Finder {
public:
	bool is(pugi::xml_node node, const Ns &ns, std::string_view local)
	{
		return node.type() == pugi::node_element && local_name(node) == local &&
			ns.matches(namespaces_.uri(node));
	}

	// The first child element with that name, or an empty node.
	pugi::xml_node child(pugi::xml_node parent, const Ns &ns, std::string_view local)
	{
		if (!parent)
			return {};
		for (pugi::xml_node c : parent.children())
			if (is(c, ns, local))
				return c;
		return {};
	}

	// Follows child steps, taking the first match at each.
	pugi::xml_node path(pugi::xml_node from, std::initializer_list<Step> steps)
	{
		pugi::xml_node n = from;
		for (const Step &step : steps)
			n = child(n, step.ns, step.local);
		return n;
	}

private:
	Namespaces namespaces_;
};

// Cuts to at most max bytes without splitting a UTF-8 sequence.
void cut_utf8(std::string &s, std::size_t max)
{
	if (s.size() <= max)
		return;
	std::size_t n = max;
	while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
		n--;
	s.resize(n);
}

// The element's own character data (text and CDATA children, not those of
// its child elements), white space runs made one space and trimmed.
std::string text(pugi::xml_node node)
{
	std::string out;
	if (!node)
		return out;
	bool pending_space = false;
	for (pugi::xml_node c : node.children()) {
		if (c.type() != pugi::node_pcdata && c.type() != pugi::node_cdata)
			continue;
		for (const char *p = c.value(); *p != '\0' && out.size() <= kMaxFieldBytes; p++) {
			if (text::is_ascii_space(*p)) {
				pending_space = !out.empty();
				continue;
			}
			if (pending_space)
				out += ' ';
			pending_space = false;
			out += *p;
		}
	}
	cut_utf8(out, kMaxFieldBytes);
	return out;
}

bool all_digits(std::string_view s)
{
	return !s.empty() && std::all_of(s.begin(), s.end(), text::is_ascii_digit);
}

bool plausible_date(std::string_view year, std::string_view month, std::string_view day)
{
	if (!all_digits(year) || !all_digits(month) || !all_digits(day))
		return false;
	int m = (month[0] - '0') * 10 + (month[1] - '0');
	int d = (day[0] - '0') * 10 + (day[1] - '0');
	return m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

// YYYYMMDD (UN/CEFACT format 102) or an ISO date, possibly with a time
// zone or time after it, becomes YYYY-MM-DD; anything else stays as written.
std::string iso_date(const std::string &value, std::string_view format)
{
	std::string_view v = value;
	if ((format.empty() || format == "102") && v.size() == 8 &&
	    plausible_date(v.substr(0, 4), v.substr(4, 2), v.substr(6, 2)))
		return value.substr(0, 4) + "-" + value.substr(4, 2) + "-" + value.substr(6, 2);
	if (v.size() >= 10 && v[4] == '-' && v[7] == '-' &&
	    plausible_date(v.substr(0, 4), v.substr(5, 2), v.substr(8, 2)) &&
	    (v.size() == 10 || !text::is_ascii_digit(v[10])))
		return value.substr(0, 10);
	return value;
}

// Adds an account number as written (normalised, valid or not) unless it
// is empty or already listed.
void add_account(std::string_view written, std::vector<std::string> &accounts)
{
	std::string iban = normalise_iban(written);
	if (!iban.empty())
		text::add_unique(accounts, std::move(iban));
}

// UNTDID 4461: 49 direct debit, 59 SEPA direct debit.
bool is_direct_debit_code(std::string_view code)
{
	return code == "49" || code == "59";
}

void parse_ubl(Finder &find, pugi::xml_node root, Invoice &inv)
{
	inv.format = "xrechnung-ubl";
	inv.number = text(find.child(root, kCbc, "ID"));
	inv.date = iso_date(text(find.child(root, kCbc, "IssueDate")), {});
	inv.currency = text(find.child(root, kCbc, "DocumentCurrencyCode"));
	inv.total = text(find.path(root, {{kCac, "LegalMonetaryTotal"}, {kCbc, "PayableAmount"}}));

	pugi::xml_node party = find.path(root, {{kCac, "AccountingSupplierParty"},
						{kCac, "Party"}});
	inv.seller = text(find.path(party, {{kCac, "PartyLegalEntity"},
					    {kCbc, "RegistrationName"}}));
	if (inv.seller.empty())
		inv.seller = text(find.path(party, {{kCac, "PartyName"}, {kCbc, "Name"}}));

	// A party may list several tax schemes (VAT, FC = tax office number).
	for (pugi::xml_node scheme : party.children()) {
		if (!find.is(scheme, kCac, "PartyTaxScheme"))
			continue;
		std::string id = text(find.path(scheme, {{kCac, "TaxScheme"}, {kCbc, "ID"}}));
		if (id != "VAT")
			continue;
		inv.vatid = normalise_vatid(text(find.child(scheme, kCbc, "CompanyID")));
		if (!inv.vatid.empty())
			break;
	}

	for (pugi::xml_node means : root.children()) {
		if (!find.is(means, kCac, "PaymentMeans"))
			continue;
		if (is_direct_debit_code(text(find.child(means, kCbc, "PaymentMeansCode"))))
			inv.direct_debit = true;
		add_account(text(find.path(means, {{kCac, "PayeeFinancialAccount"}, {kCbc, "ID"}})),
			    inv.payee_ibans);
		for (pugi::xml_node mandate : means.children()) {
			if (find.is(mandate, kCac, "PaymentMandate"))
				add_account(text(find.path(mandate, {{kCac, "PayerFinancialAccount"},
								     {kCbc, "ID"}})),
					    inv.debtor_ibans);
		}
	}
}

// Element names of the two CII generations: CrossIndustryInvoice (ZUGFeRD 2,
// Factur-X, XRechnung CII) and ZUGFeRD 1's CrossIndustryDocument.
struct CiiNames {
	const Ns *rsm;
	const Ns *ram;
	std::string_view document, transaction, agreement, settlement, summation;
};

constexpr CiiNames kCii{&kCiiRsm, &kRam, "ExchangedDocument", "SupplyChainTradeTransaction",
			"ApplicableHeaderTradeAgreement", "ApplicableHeaderTradeSettlement",
			"SpecifiedTradeSettlementHeaderMonetarySummation"};
constexpr CiiNames kZugferd1{&kZugferd1Rsm, &kRam, "HeaderExchangedDocument",
			     "SpecifiedSupplyChainTradeTransaction",
			     "ApplicableSupplyChainTradeAgreement",
			     "ApplicableSupplyChainTradeSettlement",
			     "SpecifiedTradeSettlementMonetarySummation"};
constexpr CiiNames kZugferdRc{&kZugferdRcRsm, &kRamRc, "HeaderExchangedDocument",
			      "SpecifiedSupplyChainTradeTransaction",
			      "ApplicableSupplyChainTradeAgreement",
			      "ApplicableSupplyChainTradeSettlement",
			      "SpecifiedTradeSettlementMonetarySummation"};

void parse_cii(Finder &find, pugi::xml_node root, const CiiNames &names, Invoice &inv)
{
	const Ns &ram = *names.ram;
	pugi::xml_node doc = find.child(root, *names.rsm, names.document);
	inv.number = text(find.child(doc, ram, "ID"));
	pugi::xml_node issued = find.child(doc, ram, "IssueDateTime");
	pugi::xml_node date = find.child(issued, kUdt, "DateTimeString");
	// The release candidate wrote the date straight into IssueDateTime.
	if (!date)
		date = issued;
	inv.date = iso_date(text(date), date.attribute("format").value());

	pugi::xml_node transaction = find.child(root, *names.rsm, names.transaction);
	pugi::xml_node seller = find.path(transaction, {{ram, names.agreement},
							{ram, "SellerTradeParty"}});
	inv.seller = text(find.child(seller, ram, "Name"));
	// schemeID VA is the VAT ID, FC the tax office number.
	for (pugi::xml_node reg : seller.children()) {
		if (!find.is(reg, ram, "SpecifiedTaxRegistration"))
			continue;
		pugi::xml_node id = find.child(reg, ram, "ID");
		if (std::string_view(id.attribute("schemeID").value()) != "VA")
			continue;
		inv.vatid = normalise_vatid(text(id));
		if (!inv.vatid.empty())
			break;
	}

	pugi::xml_node settlement = find.child(transaction, ram, names.settlement);
	inv.currency = text(find.child(settlement, ram, "InvoiceCurrencyCode"));
	for (pugi::xml_node means : settlement.children()) {
		if (!find.is(means, ram, "SpecifiedTradeSettlementPaymentMeans"))
			continue;
		if (is_direct_debit_code(text(find.child(means, ram, "TypeCode"))))
			inv.direct_debit = true;
		// An account without IBAN (ProprietaryID) is still where the money
		// would go: kept, so that it is reported rather than ignored.
		pugi::xml_node payee = find.child(means, ram, "PayeePartyCreditorFinancialAccount");
		std::string account = text(find.child(payee, ram, "IBANID"));
		if (account.empty())
			account = text(find.child(payee, ram, "ProprietaryID"));
		add_account(account, inv.payee_ibans);
		add_account(text(find.path(means, {{ram, "PayerPartyDebtorFinancialAccount"},
						   {ram, "IBANID"}})),
			    inv.debtor_ibans);
	}
	pugi::xml_node summation = find.child(settlement, ram, names.summation);
	inv.total = text(find.child(summation, ram, "DuePayableAmount"));
	if (inv.total.empty())
		inv.total = text(find.child(summation, ram, "GrandTotalAmount"));
}

} // namespace

std::optional<Invoice> parse_xml(std::string_view xml, bool inside_pdf)
{
	if (xml.empty() || xml.size() > kMaxXmlBytes)
		return std::nullopt;

	// parse_default leaves DOCTYPE declarations unparsed and custom entity
	// references unexpanded, which is what keeps entity bombs and external
	// entities harmless. Don't add parse_doctype or entity handling.
	pugi::xml_document doc;
	pugi::xml_parse_result parsed = doc.load_buffer(xml.data(), xml.size(),
							pugi::parse_default,
							pugi::encoding_auto);
	if (!parsed)
		return std::nullopt;
	pugi::xml_node root = doc.document_element();
	if (!root)
		return std::nullopt;

	Finder find;
	Invoice inv;
	if (find.is(root, kUblInvoice, "Invoice") || find.is(root, kUblCreditNote, "CreditNote")) {
		parse_ubl(find, root, inv);
	} else if (find.is(root, kCiiRsm, "CrossIndustryInvoice")) {
		inv.format = inside_pdf ? "factur-x" : "xrechnung-cii";
		parse_cii(find, root, kCii, inv);
	} else if (find.is(root, kZugferd1Rsm, "CrossIndustryDocument")) {
		inv.format = "zugferd-1";
		parse_cii(find, root, kZugferd1, inv);
	} else if (find.is(root, kZugferdRcRsm, "Invoice")) {
		inv.format = "zugferd-1";
		parse_cii(find, root, kZugferdRc, inv);
	} else {
		return std::nullopt;
	}
	if (!inv.payee_ibans.empty())
		inv.iban = inv.payee_ibans.front();
	return inv;
}

} // namespace tresor::einvoice
