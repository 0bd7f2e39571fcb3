#include "invoice/authres.hpp"
#include "common/text.hpp"

#include <algorithm>

#include <libpsl.h>


namespace tresor::authres {

namespace {

// ---- characters

// RFC 2045 token characters; bytes >= 0x80 are allowed so that an
// internationalised authserv-id (RFC 6532) still parses.
bool is_token_char(char c)
{
	unsigned char u = static_cast<unsigned char>(c);
	if (u <= 0x20 || u == 0x7f)
		return false;
	return std::string_view("()<>@,;:\\\"/[]?=").find(c) == std::string_view::npos;
}

// RFC 8601 Keyword is an ldh-str; '_' is accepted because some verifiers
// use it in property names.
bool is_keyword_char(char c) { return text::is_ascii_alnum(c) || c == '-' || c == '_'; }

// ---- the Authentication-Results scanner; every step moves forward, so a
// whole header costs one pass whatever it contains.

class Scanner {
public:
	explicit Scanner(std::string_view text) : text_(text) {}

	bool at_end() const { return pos_ >= text_.size(); }
	char peek() const { return at_end() ? '\0' : text_[pos_]; }

	bool consume(char c)
	{
		if (at_end() || text_[pos_] != c)
			return false;
		pos_++;
		return true;
	}

	// Folding whitespace and comments, which may nest and contain
	// quoted-pairs, ';' and '='.
	void skip_cfws()
	{
		while (!at_end()) {
			if (text::is_ascii_space(text_[pos_]))
				pos_++;
			else if (text_[pos_] == '(')
				skip_comment();
			else
				break;
		}
	}

	std::string keyword()
	{
		std::size_t start = pos_;
		while (!at_end() && is_keyword_char(text_[pos_]))
			pos_++;
		return tresor::text::ascii_lowercase(text_.substr(start, pos_ - start));
	}

	std::string digits()
	{
		std::size_t start = pos_;
		while (!at_end() && text::is_ascii_digit(text_[pos_]))
			pos_++;
		return std::string(text_.substr(start, pos_ - start));
	}

	std::string token()
	{
		std::size_t start = pos_;
		while (!at_end() && is_token_char(text_[pos_]))
			pos_++;
		return std::string(text_.substr(start, pos_ - start));
	}

	// At '"': the content with quoted-pairs resolved and line breaks of
	// folding removed. An unterminated string runs to the end.
	std::string quoted_string()
	{
		std::string out;
		pos_++;
		while (!at_end()) {
			char c = text_[pos_++];
			if (c == '"')
				break;
			if (c == '\\' && !at_end())
				out += text_[pos_++];
			else if (c != '\r' && c != '\n')
				out += c;
		}
		return out;
	}

	// A reason or property value: a quoted string, a quoted local-part
	// followed by "@domain", or anything up to whitespace, a comment or
	// ';'. Looser than RFC 2045's token on purpose: real verifiers write
	// base64 (header.b=ab/c+d=) and addresses unquoted.
	std::string value()
	{
		std::string out;
		if (peek() == '"') {
			out = quoted_string();
			if (peek() != '@')
				return out;
		}
		std::size_t start = pos_;
		while (!at_end() && !text::is_ascii_space(text_[pos_]) &&
		       std::string_view("();\"").find(text_[pos_]) == std::string_view::npos)
			pos_++;
		out += text_.substr(start, pos_ - start);
		return out;
	}

	// Past a malformed resinfo: to the next ';' outside comments and
	// quoted strings, or the end.
	void skip_to_semicolon()
	{
		while (!at_end() && text_[pos_] != ';') {
			if (text_[pos_] == '(')
				skip_comment();
			else if (text_[pos_] == '"')
				quoted_string();
			else
				pos_++;
		}
	}

private:
	void skip_comment()
	{
		std::size_t depth = 0;
		while (!at_end()) {
			char c = text_[pos_++];
			if (c == '\\') {
				if (!at_end())
					pos_++;
			} else if (c == '(') {
				depth++;
			} else if (c == ')') {
				if (--depth == 0)
					return;
			}
		}
	}

	std::string_view text_;
	std::size_t pos_ = 0;
};

// Parses one resinfo after its ';' and leading CFWS; leaves the scanner
// at the next ';' or the end. Keeps what was read of a resinfo whose tail
// is malformed: its method and result are still the server's word.
void parse_resinfo(Scanner &in, Header &header)
{
	MethodResult r;
	r.method = in.keyword();
	if (r.method.empty()) {
		in.skip_to_semicolon();
		return;
	}
	in.skip_cfws();
	// "authserv-id; none": no method was evaluated.
	if (r.method == "none" && (in.at_end() || in.peek() == ';'))
		return;
	if (in.consume('/')) {
		in.skip_cfws();
		r.method_version = in.digits();
		in.skip_cfws();
		if (r.method_version.empty()) {
			in.skip_to_semicolon();
			return;
		}
	}
	if (!in.consume('=')) {
		in.skip_to_semicolon();
		return;
	}
	in.skip_cfws();
	r.result = in.keyword();
	if (r.result.empty()) {
		in.skip_to_semicolon();
		return;
	}
	for (;;) {
		in.skip_cfws();
		if (in.at_end() || in.peek() == ';')
			break;
		std::string ptype = in.keyword();
		if (ptype.empty()) {
			in.skip_to_semicolon();
			break;
		}
		in.skip_cfws();
		if (ptype == "reason" && in.consume('=')) {
			in.skip_cfws();
			r.reason = in.value();
			continue;
		}
		if (!in.consume('.')) {
			in.skip_to_semicolon();
			break;
		}
		in.skip_cfws();
		std::string property = in.keyword();
		in.skip_cfws();
		if (property.empty() || !in.consume('=')) {
			in.skip_to_semicolon();
			break;
		}
		in.skip_cfws();
		std::string value = in.value();
		r.properties.emplace_back(ptype + "." + property, std::move(value));
	}
	header.results.push_back(std::move(r));
}

// ---- domains

bool is_domain_char(char c)
{
	return text::is_ascii_alnum(c) || c == '-' || c == '_' || c == '.' ||
	       static_cast<unsigned char>(c) >= 0x80;
}

// A domain name lowercased (ASCII; IDN labels as given) without its
// trailing root dot; "" unless it looks like a domain name, so that
// garbage never aligns with anything.
std::string clean_domain(std::string_view s)
{
	s = text::trim_space(s);
	if (!s.empty() && s.back() == '.')
		s.remove_suffix(1);
	if (s.empty() || s.size() > 253 || s.front() == '.' ||
	    s.find("..") != std::string_view::npos)
		return "";
	if (!std::all_of(s.begin(), s.end(), is_domain_char))
		return "";
	return tresor::text::ascii_lowercase(s);
}

// The domain of a property value that is a domain ("example.com"), an
// address ("user@example.com", "<user@example.com>") or a bare "@domain"
// (header.i). The last '@' separates it: a domain never contains one,
// while a quoted local-part may.
std::string property_domain(std::string_view value)
{
	value = text::trim_space(value);
	if (value.size() >= 2 && value.front() == '<' && value.back() == '>')
		value = value.substr(1, value.size() - 2);
	std::size_t at = value.rfind('@');
	if (at != std::string_view::npos)
		value.remove_prefix(at + 1);
	return clean_domain(value);
}

// Loaded once per process: the newer of the system's list (package
// publicsuffix) and the one built into libpsl. Never freed on purpose.
const psl_ctx_t *public_suffix_list()
{
	static const psl_ctx_t *const psl = []() -> const psl_ctx_t * {
		if (const psl_ctx_t *latest = psl_latest(nullptr))
			return latest;
		return psl_builtin();
	}();
	return psl;
}

struct TrustedResult {
	const MethodResult *result;
	const std::string *server;
};

// The domain a dkim result speaks for: header.d, or header.i's domain
// when there is no header.d.
std::string dkim_domain(const MethodResult &r)
{
	if (const std::string *d = r.property("header.d"))
		return property_domain(*d);
	if (const std::string *i = r.property("header.i"))
		return property_domain(*i);
	return "";
}

// The domain a result is about, for messages ("" when none is named).
std::string subject_domain(const MethodResult &r)
{
	if (r.method == "dmarc") {
		const std::string *from = r.property("header.from");
		return from ? property_domain(*from) : "";
	}
	if (r.method == "dkim")
		return dkim_domain(r);
	if (r.method == "spf") {
		const std::string *mailfrom = r.property("smtp.mailfrom");
		return mailfrom ? property_domain(*mailfrom) : "";
	}
	return "";
}

std::string describe(const MethodResult &r)
{
	std::string out = r.method + "=" + r.result;
	std::string domain = subject_domain(r);
	if (!domain.empty())
		out += " for " + domain;
	return out;
}

Authentication refuse(std::string reason)
{
	Authentication a;
	a.reason = std::move(reason);
	return a;
}

Authentication accept(std::string method, std::string reason)
{
	Authentication a;
	a.authenticated = true;
	a.method = std::move(method);
	a.reason = std::move(reason);
	return a;
}

// Distinct items for a reason sentence, the first few only: a mail with
// thousands of headers must neither cost quadratic time nor a page of text.
class ShortList {
public:
	static constexpr std::size_t kMaxItems = 8;

	void add(const std::string &item)
	{
		if (std::find(items_.begin(), items_.end(), item) != items_.end())
			return;
		if (items_.size() < kMaxItems)
			items_.push_back(item);
		else
			more_ = true;
	}
	bool empty() const { return items_.empty(); }
	std::size_t size() const { return items_.size(); }
	std::string text(std::string_view sep) const
	{
		return text::join(items_, sep) + (more_ ? std::string(sep) + "..." : "");
	}

private:
	std::vector<std::string> items_;
	bool more_ = false;
};

std::string untrusted_note(const ShortList &untrusted)
{
	return "Authentication-Results from untrusted server" +
	       std::string(untrusted.size() > 1 ? "s " : " ") + untrusted.text(", ") +
	       " ignored";
}

} // namespace

const std::string *MethodResult::property(std::string_view name) const
{
	for (const auto &[key, value] : properties) {
		if (key == name)
			return &value;
	}
	return nullptr;
}

std::optional<Header> parse(std::string_view value)
{
	if (value.size() > kMaxHeaderLength)
		return std::nullopt;
	Scanner in(value);
	in.skip_cfws();
	Header header;
	header.authserv_id = tresor::text::ascii_lowercase(in.peek() == '"' ? in.quoted_string() : in.token());
	if (header.authserv_id.empty())
		return std::nullopt;
	in.skip_cfws();
	header.authres_version = in.digits();
	in.skip_cfws();
	// Anything else here means the first word was no authserv-id, e.g.
	// a legacy "dkim=pass ..." without one.
	if (!in.at_end() && in.peek() != ';')
		return std::nullopt;
	while (in.consume(';')) {
		in.skip_cfws();
		if (in.at_end() || in.peek() == ';')
			continue;
		parse_resinfo(in, header);
	}
	return header;
}

std::string organizational_domain(std::string_view domain)
{
	std::string clean = clean_domain(domain);
	if (clean.empty())
		return "";
	const psl_ctx_t *psl = public_suffix_list();
	if (psl == nullptr)
		return clean; // no list at all: only exact alignment remains
	if (const char *registrable = psl_registrable_domain(psl, clean.c_str()))
		return registrable;
	if (psl_is_public_suffix2(psl, clean.c_str(), PSL_TYPE_ANY))
		return "";
	return clean;
}

std::vector<std::string> header_addresses(std::string_view value)
{
	// Comments go, quoted strings become one placeholder character: only
	// what is outside both can be an address's '@', '<' or ','.
	std::string plain;
	std::size_t depth = 0;
	bool quoted = false;
	for (std::size_t i = 0; i < value.size(); i++) {
		char c = value[i];
		if (c == '\\' && (quoted || depth > 0)) {
			i++;
		} else if (quoted) {
			if (c == '"')
				quoted = false;
		} else if (depth > 0) {
			if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '"') {
			quoted = true;
			plain += 'q';
		} else if (c == '(') {
			depth = 1;
			plain += ' ';
		} else {
			plain += c;
		}
	}

	std::vector<std::string_view> addresses;
	std::string_view rest = plain;
	while (!rest.empty()) {
		// Only up to the nearest ',' or '<', so that each byte is looked
		// at a bounded number of times however the value is built.
		std::size_t stop = rest.find_first_of(",<");
		if (stop != std::string_view::npos && rest[stop] == '<') {
			// An angle-addr; a ',' inside belongs to an obsolete route.
			std::size_t close = rest.find('>', stop);
			std::string_view addr = rest.substr(stop + 1, close == std::string_view::npos ?
								     std::string_view::npos :
								     close - stop - 1);
			std::size_t colon = addr.rfind(':');
			if (colon != std::string_view::npos)
				addr.remove_prefix(colon + 1);
			addresses.push_back(addr);
			if (close == std::string_view::npos)
				break;
			rest.remove_prefix(close + 1);
			continue;
		}
		std::string_view part = rest.substr(0, stop);
		// "group: a@x" and the ';' closing a group are no part of an addr-spec.
		std::size_t colon = part.rfind(':');
		if (colon != std::string_view::npos)
			part.remove_prefix(colon + 1);
		std::size_t semicolon = part.find(';');
		if (semicolon != std::string_view::npos)
			part = part.substr(0, semicolon);
		addresses.push_back(part);
		if (stop == std::string_view::npos)
			break;
		rest.remove_prefix(stop + 1);
	}

	// Display-name fragments (of "Müller, Hans <h@x.de>") have no '@'.
	std::vector<std::string> out;
	for (std::string_view addr : addresses) {
		if (addr.find('@') != std::string_view::npos)
			out.emplace_back(text::trim_space(addr));
	}
	return out;
}

bool is_public_suffix(std::string_view domain)
{
	std::string clean = clean_domain(domain);
	const psl_ctx_t *psl = public_suffix_list();
	return !clean.empty() && psl != nullptr &&
	       psl_is_public_suffix2(psl, clean.c_str(), PSL_TYPE_ANY) != 0;
}

std::string address_domain(std::string_view value)
{
	std::string found;
	for (const std::string &addr : header_addresses(value)) {
		// Quoted local-parts are gone, so the first '@' separates; a second
		// one makes the domain invalid rather than picking either side.
		std::size_t at = addr.find('@');
		std::string domain = clean_domain(std::string_view(addr).substr(at + 1));
		if (domain.empty() || (!found.empty() && domain != found))
			return "";
		found = std::move(domain);
	}
	return found;
}

namespace {

// A fail wins over a pass: one of them can only be forged, and refusing
// costs a manual look, accepting a forgery costs money. None without a
// DMARC result about from_domain.
std::optional<Authentication> dmarc_verdict(const std::vector<TrustedResult> &results,
					    const std::string &from_domain)
{
	const TrustedResult *dmarc_pass = nullptr;
	for (const TrustedResult &t : results) {
		const MethodResult &r = *t.result;
		if (r.method != "dmarc")
			continue;
		const std::string *header_from = r.property("header.from");
		bool about_from = header_from && property_domain(*header_from) == from_domain;
		// A fail naming no domain is taken as this mail's: fail closed.
		if (r.result == "fail" && (about_from || !header_from)) {
			std::string reason = "dmarc=fail for " + from_domain + " from trusted " +
					     *t.server;
			if (!r.reason.empty())
				reason += " (" + text::printable(r.reason) + ")";
			return refuse(reason);
		}
		if (r.result == "pass" && about_from && dmarc_pass == nullptr)
			dmarc_pass = &t;
	}
	if (dmarc_pass != nullptr)
		return accept("dmarc", "dmarc=pass for " + from_domain + " from trusted " +
					       *dmarc_pass->server);
	return std::nullopt;
}

// The first passing DKIM signature, else SPF check, whose domain has the
// From domain's organizational domain (from_org; "" aligns with nothing).
std::optional<Authentication> aligned_pass(const std::vector<TrustedResult> &results,
					   const std::string &from_domain,
					   const std::string &from_org)
{
	if (from_org.empty())
		return std::nullopt;
	for (const char *method : {"dkim", "spf"}) {
		for (const TrustedResult &t : results) {
			const MethodResult &r = *t.result;
			if (r.method != method || r.result != "pass")
				continue;
			std::string domain = subject_domain(r);
			if (domain.empty() || organizational_domain(domain) != from_org)
				continue;
			std::string reason = std::string(method) + "=pass for " + domain;
			if (domain != from_domain)
				reason += " (aligned with " + from_domain + ")";
			return accept(method, reason + " from trusted " + *t.server);
		}
	}
	return std::nullopt;
}

} // namespace

Authentication authenticate_from(const std::vector<std::string> &header_values,
				 const std::vector<std::string> &trusted_authserv_ids,
				 std::string_view from_domain_in)
{
	std::vector<std::string> trusted_ids;
	for (const std::string &id : trusted_authserv_ids) {
		std::string_view trimmed = text::trim_space(id);
		if (!trimmed.empty())
			text::add_unique(trusted_ids, tresor::text::ascii_lowercase(trimmed));
	}
	if (trusted_ids.empty())
		return refuse("tresor_authserv_id is not set, so no Authentication-Results "
			      "header is trusted and no sender counts as authenticated");
	const std::string configured = "(tresor_authserv_id = " + text::join(trusted_ids, " ") + ")";

	std::string from_domain = from_domain_in.find('@') != std::string_view::npos ?
					  address_domain(from_domain_in) :
					  clean_domain(from_domain_in);
	if (from_domain.empty())
		return refuse("the From address has no usable domain ('" +
			      text::printable(from_domain_in) + "')");

	std::vector<Header> headers;
	ShortList untrusted;
	for (const std::string &value : header_values) {
		std::optional<Header> header = parse(value);
		if (!header)
			continue;
		if (std::find(trusted_ids.begin(), trusted_ids.end(), header->authserv_id) !=
		    trusted_ids.end())
			headers.push_back(std::move(*header));
		else
			untrusted.add(text::printable(header->authserv_id));
	}
	if (headers.empty()) {
		std::string none = "no Authentication-Results from a trusted server " + configured;
		if (untrusted.empty())
			return refuse(none);
		return refuse(untrusted_note(untrusted) + ", and " + none);
	}

	std::vector<TrustedResult> results;
	std::vector<std::string> servers;
	for (const Header &header : headers) {
		text::add_unique(servers, header.authserv_id);
		for (const MethodResult &r : header.results)
			results.push_back({&r, &header.authserv_id});
	}
	const std::string from_servers = "from trusted " + text::join(servers, ", ");

	// 1. The trusted server's DMARC verdict for this From domain.
	if (std::optional<Authentication> verdict = dmarc_verdict(results, from_domain))
		return *verdict;
	// 2. No DMARC verdict (or none/temperror/permerror): relaxed
	// alignment of a passing DKIM signature or SPF check.
	std::string from_org = organizational_domain(from_domain);
	if (std::optional<Authentication> pass = aligned_pass(results, from_domain, from_org))
		return *pass;

	ShortList seen;
	for (const TrustedResult &t : results) {
		const std::string &m = t.result->method;
		if (m == "dmarc" || m == "dkim" || m == "spf")
			seen.add(describe(*t.result));
	}
	std::string reason = "no dmarc, dkim or spf pass aligned with " + from_domain;
	if (from_org.empty())
		reason += " (a public suffix, which nothing aligns with)";
	reason += " " + from_servers;
	if (!seen.empty())
		reason += " (seen: " + seen.text("; ") + ")";
	if (!untrusted.empty())
		reason += "; " + untrusted_note(untrusted);
	return refuse(reason);
}

} // namespace tresor::authres
