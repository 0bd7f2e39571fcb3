// Authentication-Results (RFC 8601) parsing and the authentication
// decision on hostile header values. Input: header values separated by
// NUL; the last piece is the From domain (or address). The authserv-id of
// the first value that parses is trusted, so the decision logic runs.
#include <optional>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "invoice/authres.hpp"

using namespace tresor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	std::string_view in = fuzz::input(data, size);

	std::optional<authres::Header> whole = authres::parse(in);
	if (whole) {
		FUZZ_CHECK(in.size() <= authres::kMaxHeaderLength);
		for (const authres::MethodResult &r : whole->results) {
			(void)r.property("header.from");
			(void)r.property("smtp.mailfrom");
		}
	}
	(void)authres::address_domain(in);
	(void)authres::organizational_domain(in.substr(0, 512));

	std::vector<std::string_view> pieces = fuzz::split(in, '\0');
	std::string_view from = pieces.back();
	std::vector<std::string> values(pieces.begin(), pieces.end() - 1);
	std::vector<std::string> trusted{"mx.example.org"};
	for (const std::string &v : values) {
		if (auto h = authres::parse(v); h && !h->authserv_id.empty()) {
			trusted.push_back(h->authserv_id);
			break;
		}
	}
	authres::Authentication a = authres::authenticate_from(values, trusted, from);
	FUZZ_CHECK(a.authenticated == !a.method.empty());
	return 0;
}
