// Authentication-Results (RFC 8601) parsing and the decision whether a
// mail's RFC5322.From domain is authenticated by a trusted server: DMARC's
// own verdict where the trusted server gives one, otherwise relaxed DKIM/SPF
// alignment computed here with the public suffix list (libpsl).
//
// No function here throws anything but std::bad_alloc.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tresor::authres {

// Longer header values are not parsed at all: no real server writes them,
// and a bound keeps a hostile mail from costing more than a glance.
inline constexpr std::size_t kMaxHeaderLength = 64 * 1024;

struct MethodResult {
	std::string method;  // lowercase, e.g. "dmarc", "dkim", "spf"
	std::string result;  // lowercase, e.g. "pass", "fail", "none"
	std::string reason;  // reason= value if any, unquoted
	// ("header.from", "example.com"), ("header.d", ...), ("smtp.mailfrom", ...):
	// "ptype.property" lowercased, values as given without quotes and comments.
	std::vector<std::pair<std::string, std::string>> properties;
	std::string method_version; // "1" for "dkim/1=pass", "" when absent

	// The first value of the property ("header.d"), nullptr when absent.
	const std::string *property(std::string_view name) const;
};

struct Header {
	std::string authserv_id;    // lowercase, unquoted
	std::string authres_version; // "1" for "example.org 1; ...", "" when absent
	std::vector<MethodResult> results; // empty for "example.org; none"
};

// Parses one Authentication-Results field value (unfolded or not).
// nullopt when it can't be parsed at all: no authserv-id, or longer than
// kMaxHeaderLength. A malformed resinfo is skipped up to the next ';'
// outside comments and quotes; the others are still returned.
std::optional<Header> parse(std::string_view value);

// The registrable domain per the public suffix list, lowercase:
// "example.co.uk" for "mail.example.co.uk". "" for a bare public suffix
// ("co.uk", "github.io") and for what isn't a domain name at all; the
// domain itself when libpsl knows no registrable part otherwise.
std::string organizational_domain(std::string_view domain);

struct Authentication {
	bool authenticated = false;
	std::string method; // "dmarc", "dkim" or "spf" that authenticated it, "" if not
	std::string reason; // one human sentence either way
};

// Decides from all Authentication-Results values of a mail (in header
// order) whether from_domain is authenticated. Only headers whose
// authserv-id is in trusted_authserv_ids (case-insensitive, exact) count.
//  1. A trusted dmarc result for from_domain decides: pass authenticates,
//     fail refuses (also when another trusted header says pass: a forged
//     header carrying our authserv-id must not outvote the real one; a
//     fail naming no header.from counts as this mail's).
//     none/temperror/permerror leave it to step 2.
//  2. Relaxed alignment: a trusted dkim=pass whose header.d (or header.i's
//     domain) or a trusted spf=pass whose smtp.mailfrom domain has the same
//     organizational domain as from_domain. An empty mailfrom never
//     falls back to smtp.helo.
// from_domain may also be given as an address; it is then address_domain().
Authentication authenticate_from(const std::vector<std::string> &header_values,
				 const std::vector<std::string> &trusted_authserv_ids,
				 std::string_view from_domain);

// The domain of an address like "Name <user@Example.COM>" or
// "user@example.com", lowercased; "" if there is none, or if the value
// names addresses in different domains (then no single domain can be
// authenticated).
std::string address_domain(std::string_view address_or_header_value);

// The addr-specs of an address-list header value (From, To), in order:
// "a@x.de, Name <b@y.de>" gives both; comments and quoted display names are
// skipped, quoted local-parts are replaced by one character ('q'), so only
// the count and the domains are reliable.
std::vector<std::string> header_addresses(std::string_view header_value);

// The domain is a public suffix (com, co.uk, github.io): registering it
// claims every domain below.
bool is_public_suffix(std::string_view domain);

} // namespace tresor::authres
