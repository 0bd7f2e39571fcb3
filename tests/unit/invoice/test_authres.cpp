// Authentication-Results parsing (RFC 8601, also hostile input), the
// organizational domain from the public suffix list, From-address
// domains, and the decision whether a From domain is authenticated by a
// trusted server.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "invoice/authres.hpp"
#include "test_util.hpp"

using tresor::authres::address_domain;
using tresor::authres::authenticate_from;
using tresor::authres::Authentication;
using tresor::authres::Header;
using tresor::authres::kMaxHeaderLength;
using tresor::authres::MethodResult;
using tresor::authres::organizational_domain;
using tresor::authres::parse;

namespace {

using Properties = std::vector<std::pair<std::string, std::string>>;

// The header, failing the test (not crashing it) when there is none.
Header parsed(const std::string &value)
{
	std::optional<Header> h = parse(value);
	EXPECT_TRUE(h.has_value()) << "not parsed: " << value;
	return h.value_or(Header{});
}

// ---- the shared mail corpus

using testutil::read_file;

std::filesystem::path corpus_dir()
{
	return testutil::testdata_dir() / "mail" / "authres";
}

bool iequals(std::string_view a, std::string_view b)
{
	if (a.size() != b.size())
		return false;
	for (std::size_t i = 0; i < a.size(); i++) {
		if (std::tolower(static_cast<unsigned char>(a[i])) !=
		    std::tolower(static_cast<unsigned char>(b[i])))
			return false;
	}
	return true;
}

// The values of every header field named `name` (any case) in the header
// section of a mail, folded as in the file ("\n" plus the continuation).
std::vector<std::string> header_values(const std::string &mail, std::string_view name)
{
	std::vector<std::pair<std::string, std::string>> fields;
	std::istringstream in(mail);
	std::string line;
	while (std::getline(in, line)) {
		if (!line.empty() && line.back() == '\r')
			line.pop_back();
		if (line.empty())
			break;
		if ((line[0] == ' ' || line[0] == '\t') && !fields.empty()) {
			fields.back().second += "\n" + line;
			continue;
		}
		std::size_t colon = line.find(':');
		if (colon == std::string::npos)
			continue;
		fields.emplace_back(line.substr(0, colon), line.substr(colon + 1));
	}
	std::vector<std::string> values;
	for (const auto &[field, value] : fields) {
		if (iequals(field, name))
			values.push_back(value);
	}
	return values;
}

// The corpus file's Authentication-Results values, skipping the test when
// the shared test data is not there at all.
#define LOAD_AUTHRES(file, values_var)                                                   \
	std::filesystem::path dir = corpus_dir();                                       \
	if (!std::filesystem::is_directory(dir))                                        \
		GTEST_SKIP() << "shared test data not found at " << dir.string()        \
			     << " (set TRESOR_SRCDIR to the repository root)";             \
	std::string mail = read_file(dir / (file));                                     \
	ASSERT_FALSE(mail.empty()) << "can't read " << (dir / (file)).string();         \
	std::vector<std::string> values_var = header_values(mail, "Authentication-Results")

const std::vector<std::string> kTrusted = {"mx.example.net"};

} // namespace

// ------------------------------------------------ RFC 8601 Appendix B

TEST(AuthresParse, Rfc8601NoAuthenticationDone)
{
	// B.2
	Header h = parsed("example.org 1; none");
	EXPECT_EQ(h.authserv_id, "example.org");
	EXPECT_EQ(h.authres_version, "1");
	EXPECT_TRUE(h.results.empty());
}

TEST(AuthresParse, Rfc8601SpfDone)
{
	// B.3
	Header h = parsed("example.com;\r\n          spf=pass smtp.mailfrom=example.net");
	EXPECT_EQ(h.authserv_id, "example.com");
	EXPECT_EQ(h.authres_version, "");
	ASSERT_EQ(h.results.size(), 1u);
	EXPECT_EQ(h.results[0].method, "spf");
	EXPECT_EQ(h.results[0].result, "pass");
	EXPECT_EQ(h.results[0].reason, "");
	EXPECT_EQ(h.results[0].properties, (Properties{{"smtp.mailfrom", "example.net"}}));
}

TEST(AuthresParse, Rfc8601SeveralAuthenticationsSingleMta)
{
	// B.4
	Header first = parsed("example.com;\r\n"
			      "          auth=pass (cram-md5) smtp.auth=sender@example.net;\r\n"
			      "          spf=pass smtp.mailfrom=example.net");
	ASSERT_EQ(first.results.size(), 2u);
	EXPECT_EQ(first.results[0].method, "auth");
	EXPECT_EQ(first.results[0].result, "pass");
	EXPECT_EQ(first.results[0].properties,
		  (Properties{{"smtp.auth", "sender@example.net"}}));
	EXPECT_EQ(first.results[1].method, "spf");
	EXPECT_EQ(first.results[1].properties, (Properties{{"smtp.mailfrom", "example.net"}}));

	Header second = parsed("example.com; iprev=pass\r\n          policy.iprev=192.0.2.200");
	ASSERT_EQ(second.results.size(), 1u);
	EXPECT_EQ(second.results[0].method, "iprev");
	EXPECT_EQ(second.results[0].result, "pass");
	EXPECT_EQ(second.results[0].properties, (Properties{{"policy.iprev", "192.0.2.200"}}));
}

TEST(AuthresParse, Rfc8601SeveralAuthenticationsDifferentMtas)
{
	// B.5
	Header outer = parsed("example.com;\r\n"
			      "          dkim=pass (good signature) header.d=example.com");
	ASSERT_EQ(outer.results.size(), 1u);
	EXPECT_EQ(outer.results[0].method, "dkim");
	EXPECT_EQ(outer.results[0].result, "pass");
	EXPECT_EQ(outer.results[0].properties, (Properties{{"header.d", "example.com"}}));

	Header inner = parsed("example.com;\r\n"
			      "          auth=pass (cram-md5) smtp.auth=sender@example.com;\r\n"
			      "          spf=fail smtp.mailfrom=example.com");
	ASSERT_EQ(inner.results.size(), 2u);
	EXPECT_EQ(inner.results[1].method, "spf");
	EXPECT_EQ(inner.results[1].result, "fail");
	EXPECT_EQ(inner.results[1].properties, (Properties{{"smtp.mailfrom", "example.com"}}));
}

TEST(AuthresParse, Rfc8601MultiTiered)
{
	// B.6
	Header h = parsed("example.com;\r\n"
			  "      dkim=pass reason=\"good signature\"\r\n"
			  "        header.i=@mail-router.example.net;\r\n"
			  "      dkim=fail reason=\"bad signature\"\r\n"
			  "        header.i=@newyork.example.com");
	ASSERT_EQ(h.results.size(), 2u);
	EXPECT_EQ(h.results[0].method, "dkim");
	EXPECT_EQ(h.results[0].result, "pass");
	EXPECT_EQ(h.results[0].reason, "good signature");
	EXPECT_EQ(h.results[0].properties, (Properties{{"header.i", "@mail-router.example.net"}}));
	EXPECT_EQ(h.results[1].result, "fail");
	EXPECT_EQ(h.results[1].reason, "bad signature");
	EXPECT_EQ(h.results[1].properties, (Properties{{"header.i", "@newyork.example.com"}}));

	Header other = parsed("example.net;\r\n"
			      "      dkim=pass (good signature) header.i=@newyork.example.com");
	EXPECT_EQ(other.authserv_id, "example.net");
	ASSERT_EQ(other.results.size(), 1u);
	EXPECT_EQ(other.results[0].properties, (Properties{{"header.i", "@newyork.example.com"}}));
}

TEST(AuthresParse, Rfc8601CommentHeavy)
{
	// B.7: comments between every token, also inside method/version and
	// ptype.property.
	Header h = parsed("foo.example.net (foobar) 1 (baz);\r\n"
			  "    dkim (Because I like it) / 1 (One yay) = (wait for it) fail\r\n"
			  "      policy (A dot can go here) . (like that) expired\r\n"
			  "      (this surprised me) = (as I wasn't expecting it) 1362471462");
	EXPECT_EQ(h.authserv_id, "foo.example.net");
	EXPECT_EQ(h.authres_version, "1");
	ASSERT_EQ(h.results.size(), 1u);
	EXPECT_EQ(h.results[0].method, "dkim");
	EXPECT_EQ(h.results[0].method_version, "1");
	EXPECT_EQ(h.results[0].result, "fail");
	EXPECT_EQ(h.results[0].properties, (Properties{{"policy.expired", "1362471462"}}));
}

// ------------------------------------------------ robustness

TEST(AuthresParse, CommentsWithSemicolonsEqualsAndNesting)
{
	Header h = parsed("mx.example.net (relay; a=b (nested; dmarc=pass) c);"
			  " dkim=pass (sig ok; (really; header.d=evil.example)) header.d=example.com;"
			  " spf=pass (x;) smtp.mailfrom=user@example.org (trailing; =)");
	EXPECT_EQ(h.authserv_id, "mx.example.net");
	ASSERT_EQ(h.results.size(), 2u);
	EXPECT_EQ(h.results[0].method, "dkim");
	EXPECT_EQ(h.results[0].properties, (Properties{{"header.d", "example.com"}}));
	EXPECT_EQ(h.results[1].method, "spf");
	EXPECT_EQ(h.results[1].properties, (Properties{{"smtp.mailfrom", "user@example.org"}}));
}

TEST(AuthresParse, EscapedParenthesisInComment)
{
	Header h = parsed("mx.example.net; dkim=pass (a \\) still comment; spf=pass) header.d=example.com");
	ASSERT_EQ(h.results.size(), 1u);
	EXPECT_EQ(h.results[0].properties, (Properties{{"header.d", "example.com"}}));
}

TEST(AuthresParse, QuotedReasonWithSemicolonAndEscapedQuotes)
{
	Header h = parsed("mx.example.net; dmarc=fail reason=\"policy; said \\\"no\\\" (really)\""
			  " header.from=example.com; spf=pass smtp.mailfrom=example.org");
	ASSERT_EQ(h.results.size(), 2u);
	EXPECT_EQ(h.results[0].method, "dmarc");
	EXPECT_EQ(h.results[0].result, "fail");
	EXPECT_EQ(h.results[0].reason, "policy; said \"no\" (really)");
	EXPECT_EQ(h.results[0].properties, (Properties{{"header.from", "example.com"}}));
	EXPECT_EQ(h.results[1].method, "spf");
}

TEST(AuthresParse, UnquotedReason)
{
	Header h = parsed("mx.example.net; dkim=neutral reason=nokey header.d=example.com");
	ASSERT_EQ(h.results.size(), 1u);
	EXPECT_EQ(h.results[0].result, "neutral");
	EXPECT_EQ(h.results[0].reason, "nokey");
	EXPECT_EQ(h.results[0].properties, (Properties{{"header.d", "example.com"}}));
}

TEST(AuthresParse, VersionNumbers)
{
	Header h = parsed("example.org 1; dkim/1=pass header.d=example.org");
	EXPECT_EQ(h.authserv_id, "example.org");
	EXPECT_EQ(h.authres_version, "1");
	ASSERT_EQ(h.results.size(), 1u);
	EXPECT_EQ(h.results[0].method, "dkim");
	EXPECT_EQ(h.results[0].method_version, "1");
	EXPECT_EQ(h.results[0].result, "pass");

	Header no_space = parsed("example.org;spf=pass smtp.mailfrom=example.org");
	EXPECT_EQ(no_space.authres_version, "");
	ASSERT_EQ(no_space.results.size(), 1u);
	EXPECT_EQ(no_space.results[0].method, "spf");
}

TEST(AuthresParse, NoneResultAndNoneAsMethodResult)
{
	Header none = parsed("  mx.example.net ;  none  ");
	EXPECT_EQ(none.authserv_id, "mx.example.net");
	EXPECT_TRUE(none.results.empty());

	// "none" as a result value is an ordinary result.
	Header h = parsed("mx.example.net; dkim=none; dmarc=none (p=none) header.from=example.com");
	ASSERT_EQ(h.results.size(), 2u);
	EXPECT_EQ(h.results[0].method, "dkim");
	EXPECT_EQ(h.results[0].result, "none");
	EXPECT_TRUE(h.results[0].properties.empty());
	EXPECT_EQ(h.results[1].method, "dmarc");
	EXPECT_EQ(h.results[1].result, "none");
	EXPECT_EQ(h.results[1].properties, (Properties{{"header.from", "example.com"}}));
}

TEST(AuthresParse, MultipleMethodsAndProperties)
{
	Header h = parsed("mx.example.net; arc=pass smtp.remote-ip=192.0.2.1;"
			  " dkim=pass header.d=example.com header.s=sel1 header.b=AbC/+d==;"
			  " spf=softfail smtp.mailfrom=bounce@example.com smtp.helo=mail.example.com;"
			  " dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com");
	ASSERT_EQ(h.results.size(), 4u);
	EXPECT_EQ(h.results[0].method, "arc");
	EXPECT_EQ(h.results[0].properties, (Properties{{"smtp.remote-ip", "192.0.2.1"}}));
	EXPECT_EQ(h.results[1].properties, (Properties{{"header.d", "example.com"},
						       {"header.s", "sel1"},
						       {"header.b", "AbC/+d=="}}));
	EXPECT_EQ(h.results[2].result, "softfail");
	EXPECT_EQ(h.results[2].properties, (Properties{{"smtp.mailfrom", "bounce@example.com"},
						       {"smtp.helo", "mail.example.com"}}));
	EXPECT_EQ(h.results[3].method, "dmarc");
	EXPECT_EQ(*h.results[3].property("header.from"), "example.com");
	EXPECT_EQ(h.results[3].property("header.d"), nullptr);
}

TEST(AuthresParse, CaseInsensitiveNamesValuesAsGiven)
{
	Header h = parsed("MX.Example.NET; DKIM=PASS Header.D=Example.COM; "
			  "Spf=Pass SMTP.MailFrom=User@Example.com REASON=\"Fine\"");
	EXPECT_EQ(h.authserv_id, "mx.example.net");
	ASSERT_EQ(h.results.size(), 2u);
	EXPECT_EQ(h.results[0].method, "dkim");
	EXPECT_EQ(h.results[0].result, "pass");
	EXPECT_EQ(h.results[0].properties, (Properties{{"header.d", "Example.COM"}}));
	EXPECT_EQ(h.results[1].method, "spf");
	EXPECT_EQ(h.results[1].result, "pass");
	EXPECT_EQ(h.results[1].reason, "Fine");
	EXPECT_EQ(h.results[1].properties, (Properties{{"smtp.mailfrom", "User@Example.com"}}));
}

TEST(AuthresParse, FoldingWhitespace)
{
	Header h = parsed("\r\n\tmx.example.net\r\n 2\r\n\t;\r\n dkim\r\n =\r\n pass\r\n"
			  "\theader.d\r\n =\r\n example.com\r\n");
	EXPECT_EQ(h.authserv_id, "mx.example.net");
	EXPECT_EQ(h.authres_version, "2");
	ASSERT_EQ(h.results.size(), 1u);
	EXPECT_EQ(h.results[0].properties, (Properties{{"header.d", "example.com"}}));

	// A line break inside a quoted string is folding, not content.
	Header q = parsed("mx.example.net; dkim=fail reason=\"bad\r\n signature\"");
	ASSERT_EQ(q.results.size(), 1u);
	EXPECT_EQ(q.results[0].reason, "bad signature");
}

TEST(AuthresParse, QuotedValues)
{
	Header h = parsed("\"MX.example.net\"; spf=pass smtp.mailfrom=\"john doe\"@example.com;"
			  " dkim=pass header.i=\"@example.org\" header.d=\"\"");
	EXPECT_EQ(h.authserv_id, "mx.example.net");
	ASSERT_EQ(h.results.size(), 2u);
	EXPECT_EQ(h.results[0].properties, (Properties{{"smtp.mailfrom", "john doe@example.com"}}));
	EXPECT_EQ(h.results[1].properties,
		  (Properties{{"header.i", "@example.org"}, {"header.d", ""}}));
}

TEST(AuthresParse, MalformedResinfoIsSkippedOthersKept)
{
	Header h = parsed("mx.example.net; header.From=a@b.example; =broken; dkim=pass"
			  " header.d=example.com !junk header.s=x; spf; dkim/x=pass;"
			  " dmarc=; ;; spf=pass smtp.mailfrom=example.org;");
	ASSERT_EQ(h.results.size(), 2u);
	// The tail after junk is lost, the server's method and result are not.
	EXPECT_EQ(h.results[0].method, "dkim");
	EXPECT_EQ(h.results[0].result, "pass");
	EXPECT_EQ(h.results[0].properties, (Properties{{"header.d", "example.com"}}));
	EXPECT_EQ(h.results[1].method, "spf");
	EXPECT_EQ(h.results[1].properties, (Properties{{"smtp.mailfrom", "example.org"}}));
}

TEST(AuthresParse, NotParseableAtAll)
{
	EXPECT_FALSE(parse(""));
	EXPECT_FALSE(parse("   \r\n\t"));
	EXPECT_FALSE(parse(";"));
	EXPECT_FALSE(parse("; dkim=pass header.d=example.com"));
	EXPECT_FALSE(parse("(only a comment; dkim=pass)"));
	EXPECT_FALSE(parse("(unterminated comment; dkim=pass"));
	EXPECT_FALSE(parse("\"\"; dkim=pass"));
	// Legacy form without authserv-id: "dkim" must not become one.
	EXPECT_FALSE(parse("dkim=pass header.d=example.com"));
	EXPECT_FALSE(parse("mx.example.net dkim=pass header.d=example.com"));
	EXPECT_FALSE(parse("mx.example.net 1.0; dkim=pass"));
}

TEST(AuthresParse, UnterminatedQuoteAndCommentSwallowTheRest)
{
	Header q = parsed("mx.example.net; dkim=pass reason=\"abc; spf=pass smtp.mailfrom=x.example");
	ASSERT_EQ(q.results.size(), 1u);
	EXPECT_EQ(q.results[0].method, "dkim");
	EXPECT_EQ(q.results[0].reason, "abc; spf=pass smtp.mailfrom=x.example");

	Header c = parsed("mx.example.net; dkim=pass (abc; spf=pass smtp.mailfrom=x.example");
	ASSERT_EQ(c.results.size(), 1u);
	EXPECT_TRUE(c.results[0].properties.empty());

	Header bare = parsed("mx.example.net");
	EXPECT_EQ(bare.authserv_id, "mx.example.net");
	EXPECT_TRUE(bare.results.empty());
}

TEST(AuthresParse, NulAndHighBytes)
{
	std::string value = "mx.example.net; dkim=pass header.d=ex";
	value += '\0';
	value += "ample.com; spf=pass smtp.mailfrom=\xc3\xa4rger.example";
	Header h = parsed(value);
	ASSERT_EQ(h.results.size(), 2u);
	EXPECT_EQ(h.results[0].properties[0].second, std::string("ex\0ample.com", 12));
	EXPECT_EQ(h.results[1].properties[0].second, "\xc3\xa4rger.example");
}

TEST(AuthresParse, LengthLimit)
{
	std::string prefix = "mx.example.net; dkim=pass header.d=example.com (";
	std::string at_limit = prefix + std::string(kMaxHeaderLength - prefix.size() - 1, 'x') + ")";
	ASSERT_EQ(at_limit.size(), kMaxHeaderLength);
	Header h = parsed(at_limit);
	ASSERT_EQ(h.results.size(), 1u);
	EXPECT_EQ(h.results[0].properties, (Properties{{"header.d", "example.com"}}));

	EXPECT_FALSE(parse(at_limit + " "));
	EXPECT_FALSE(parse(std::string(10 * 1024 * 1024, 'a')));
}

TEST(AuthresParse, PathologicalInputsTakeLinearTime)
{
	const std::size_t n = kMaxHeaderLength - 20;
	std::vector<std::string> inputs = {
		"mx; " + std::string(n, '('),
		"mx; (" + std::string(n, ')'),
		"mx; " + std::string(n, '"'),
		"mx; " + std::string(n, '\\'),
		"mx; (" + std::string(n, '\\'),
		"mx; " + std::string(n, ';'),
		"mx; " + std::string(n, '='),
		"mx; dkim=pass " + std::string(n, '.'),
		"mx; dkim=pass header.d=" + std::string(n, '@'),
		std::string(n, 'a'),
		std::string(n, ' '),
	};
	std::string repeated = "mx;";
	while (repeated.size() + 40 < n)
		repeated += " dkim=pass header.d=example.com (x;";
	inputs.push_back(repeated);
	std::string many = "mx";
	while (many.size() + 40 < n)
		many += "; dkim=pass header.d=example.com h.i=x";
	inputs.push_back(many);

	auto start = std::chrono::steady_clock::now();
	for (const std::string &input : inputs) {
		std::optional<Header> h = parse(input);
		(void)authenticate_from({input}, {"mx"}, "example.com");
	}
	// Quadratic work on 64 KiB would take seconds per input.
	auto elapsed = std::chrono::steady_clock::now() - start;
	EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 2000);

	std::optional<Header> m = parse(many);
	ASSERT_TRUE(m);
	EXPECT_GT(m->results.size(), 1000u);
	EXPECT_EQ(m->results.back().properties,
		  (Properties{{"header.d", "example.com"}, {"h.i", "x"}}));
}

TEST(AuthresParse, RandomGarbageNeverCrashes)
{
	std::mt19937 rng(20250101);
	const std::string alphabet = "abcdmx.;=()\"\\/@<> \t\r\n12spfdkimpassfail.header.d";
	std::size_t parsed_count = 0;
	for (int round = 0; round < 3000; round++) {
		std::string value;
		std::size_t len = rng() % 200;
		for (std::size_t i = 0; i < len; i++) {
			value += (rng() % 8 == 0) ? static_cast<char>(rng() % 256) :
						    alphabet[rng() % alphabet.size()];
		}
		if (std::optional<Header> h = parse(value)) {
			parsed_count++;
			EXPECT_FALSE(h->authserv_id.empty());
			for (const MethodResult &r : h->results) {
				EXPECT_FALSE(r.method.empty());
				EXPECT_FALSE(r.result.empty());
			}
		}
		(void)authenticate_from({value, value}, {"mx", "abc"}, "example.com");
		(void)address_domain(value);
		(void)organizational_domain(value);
	}
	// The generator does produce parseable values, so the checks above ran.
	EXPECT_GT(parsed_count, 100u);
}

// ------------------------------------------------ the shared corpus

TEST(AuthresCorpus, SpamAssassinAuthresHeaders)
{
	LOAD_AUTHRES("spamassassin-authres.txt", values);
	ASSERT_EQ(values.size(), 8u);

	std::vector<Header> h;
	for (const std::string &v : values)
		h.push_back(parsed(v));
	ASSERT_EQ(h.size(), 8u);

	EXPECT_EQ(h[0].authserv_id, "authrestest1int");
	ASSERT_EQ(h[0].results.size(), 3u);
	EXPECT_EQ(h[0].results[0].method, "spf");
	EXPECT_EQ(h[0].results[0].result, "pass");
	EXPECT_EQ(h[0].results[0].properties, (Properties{{"smtp.mailfrom", "bounce.example.org"}}));
	EXPECT_EQ(h[0].results[1].method, "dkim");
	EXPECT_EQ(h[0].results[1].result, "pass");
	EXPECT_EQ(h[0].results[1].properties, (Properties{{"header.i", "@example.org"}}));
	EXPECT_EQ(h[0].results[2].method, "dkim");
	EXPECT_EQ(h[0].results[2].result, "fail");
	EXPECT_EQ(h[0].results[2].properties,
		  (Properties{{"header.i", "@another.signing.domain.example"}}));

	EXPECT_EQ(h[1].authserv_id, "authrestest2int");
	ASSERT_EQ(h[1].results.size(), 1u);
	EXPECT_EQ(h[1].results[0].method, "dmarc");
	EXPECT_EQ(h[1].results[0].result, "none");
	EXPECT_EQ(h[1].results[0].properties, (Properties{{"header.from", "ximian.com"}}));

	// Field name in lower case in the file.
	EXPECT_EQ(h[2].authserv_id, "authrestest3int");
	ASSERT_EQ(h[2].results.size(), 1u);
	EXPECT_EQ(h[2].results[0].method, "spf");
	EXPECT_EQ(h[2].results[0].result, "fail");
	EXPECT_EQ(h[2].results[0].properties, (Properties{{"smtp.mailfrom", "dogma.slashnull.org"}}));

	// Version, a comment between "reason" and "=", odd characters in quotes.
	EXPECT_EQ(h[3].authserv_id, "authrestest4int");
	EXPECT_EQ(h[3].authres_version, "2");
	ASSERT_EQ(h[3].results.size(), 1u);
	EXPECT_EQ(h[3].results[0].method, "spf");
	EXPECT_EQ(h[3].results[0].result, "fail");
	EXPECT_EQ(h[3].results[0].reason, "just some (<>.%&! reason");
	EXPECT_EQ(h[3].results[0].properties, (Properties{{"smtp.mailfrom", "dogma.slashnull.org"}}));

	EXPECT_EQ(h[4].authserv_id, "authrestest5int");
	ASSERT_EQ(h[4].results.size(), 1u);
	EXPECT_EQ(h[4].results[0].method, "dkim");
	EXPECT_EQ(h[4].results[0].result, "pass");
	EXPECT_EQ(h[4].results[0].properties, (Properties{{"header.d", "gmail.com"},
							 {"header.i", "@gmail.com"},
							 {"header.b", "SI+iqkld"}}));

	EXPECT_EQ(h[5].authserv_id, "authrestest6int");
	ASSERT_EQ(h[5].results.size(), 1u);
	EXPECT_EQ(h[5].results[0].result, "fail");
	EXPECT_EQ(h[5].results[0].properties, (Properties{{"header.d", "gmail.com"},
							 {"header.i", " foo bar \"xyz\"@gmail.com"},
							 {"header.b", "SI+iqkld"}}));

	EXPECT_EQ(h[6].authserv_id, "authrestest7tru");
	ASSERT_EQ(h[6].results.size(), 1u);
	EXPECT_EQ(h[6].results[0].result, "fail");
	EXPECT_EQ(h[6].results[0].properties,
		  (Properties{{"smtp.mailfrom", "last.trusted@example.com"}}));

	EXPECT_EQ(h[7].authserv_id, "authrestest8ext");
	ASSERT_EQ(h[7].results.size(), 1u);
	EXPECT_EQ(h[7].results[0].method, "spf");
	EXPECT_EQ(h[7].results[0].result, "pass");
	EXPECT_EQ(h[7].results[0].properties,
		  (Properties{{"smtp.mailfrom", "untrusted@example.com"}}));
}

TEST(AuthresCorpus, SpamAssassinMultipleAuthRes)
{
	LOAD_AUTHRES("spamassassin-MultipleAuthRes_10.eml", values);
	ASSERT_EQ(values.size(), 2u);
	for (const std::string &v : values) {
		// "header.From=..." where a method belongs is skipped; the dkim
		// result with a ';' in its comment and a trailing ';' remains.
		Header h = parsed(v);
		EXPECT_EQ(h.authserv_id, "somewhere.someplace.org");
		ASSERT_EQ(h.results.size(), 1u);
		EXPECT_EQ(h.results[0].method, "dkim");
		EXPECT_EQ(h.results[0].result, "pass");
		EXPECT_TRUE(h.results[0].properties.empty());
	}

	// A dkim=pass naming no domain aligns with nothing.
	std::vector<std::string> from = header_values(mail, "From");
	ASSERT_EQ(from.size(), 1u);
	EXPECT_EQ(address_domain(from[0]), "dkim.org");
	Authentication a = authenticate_from(values, {"somewhere.someplace.org"}, "dkim.org");
	EXPECT_FALSE(a.authenticated);
	EXPECT_EQ(a.reason, "no dmarc, dkim or spf pass aligned with dkim.org from trusted "
			    "somewhere.someplace.org (seen: dkim=pass)");
}

TEST(AuthresCorpus, SpamAssassinAuthresDecisions)
{
	LOAD_AUTHRES("spamassassin-authres.txt", values);
	std::vector<std::string> from = header_values(mail, "From");
	ASSERT_EQ(from.size(), 1u);
	EXPECT_EQ(address_domain(from[0]), "ximian.com");

	// dmarc=none leaves it to alignment, and nothing aligns with ximian.com.
	Authentication ximian = authenticate_from(values, {"authrestest2int"}, "ximian.com");
	EXPECT_FALSE(ximian.authenticated);
	EXPECT_EQ(ximian.method, "");
	EXPECT_EQ(ximian.reason,
		  "no dmarc, dkim or spf pass aligned with ximian.com from trusted authrestest2int"
		  " (seen: dmarc=none for ximian.com); Authentication-Results from untrusted servers"
		  " authrestest1int, authrestest3int, authrestest4int, authrestest5int,"
		  " authrestest6int, authrestest7tru, authrestest8ext ignored");

	Authentication dkim = authenticate_from(values, {"authrestest1int"}, "example.org");
	EXPECT_TRUE(dkim.authenticated);
	EXPECT_EQ(dkim.method, "dkim");
	EXPECT_EQ(dkim.reason, "dkim=pass for example.org from trusted authrestest1int");

	// dkim for example.org is preferred; spf for bounce.example.org aligns too.
	Authentication sub = authenticate_from(values, {"authrestest1int"}, "bounce.example.org");
	EXPECT_TRUE(sub.authenticated);
	EXPECT_EQ(sub.method, "dkim");
	EXPECT_EQ(sub.reason, "dkim=pass for example.org (aligned with bounce.example.org) "
			      "from trusted authrestest1int");

	Authentication gmail = authenticate_from(values, {"authrestest5int"}, "gmail.com");
	EXPECT_TRUE(gmail.authenticated);
	EXPECT_EQ(gmail.method, "dkim");

	// authrestest6int's dkim failed for gmail.com.
	EXPECT_FALSE(authenticate_from(values, {"authrestest6int"}, "gmail.com").authenticated);

	Authentication ext = authenticate_from(values, {"authrestest8ext"}, "example.com");
	EXPECT_TRUE(ext.authenticated);
	EXPECT_EQ(ext.method, "spf");
	EXPECT_EQ(ext.reason, "spf=pass for example.com from trusted authrestest8ext");

	Authentication tru = authenticate_from(values, {"authrestest7tru"}, "example.com");
	EXPECT_FALSE(tru.authenticated);
	EXPECT_EQ(tru.method, "");
}

// ------------------------------------------------ organizational domain

TEST(AuthresOrganizationalDomain, FromPublicSuffixList)
{
	EXPECT_EQ(organizational_domain("mail.example.co.uk"), "example.co.uk");
	EXPECT_EQ(organizational_domain("example.co.uk"), "example.co.uk");
	EXPECT_EQ(organizational_domain("a.b.c.example.com"), "example.com");
	EXPECT_EQ(organizational_domain("Sub.Example.COM."), "example.com");
	EXPECT_EQ(organizational_domain("example.de"), "example.de");
	// Private section: tenants of a shared domain are separate organizations.
	EXPECT_EQ(organizational_domain("foo.github.io"), "foo.github.io");
	EXPECT_EQ(organizational_domain("www.foo.github.io"), "foo.github.io");
	// IDN as given, in UTF-8.
	EXPECT_EQ(organizational_domain("www.\xe9\xa3\x9f\xe7\x8b\xae.\xe4\xb8\xad\xe5\x9b\xbd"),
		  "\xe9\xa3\x9f\xe7\x8b\xae.\xe4\xb8\xad\xe5\x9b\xbd");
}

TEST(AuthresOrganizationalDomain, PublicSuffixesAndGarbageHaveNone)
{
	EXPECT_EQ(organizational_domain("co.uk"), "");
	EXPECT_EQ(organizational_domain("com"), "");
	EXPECT_EQ(organizational_domain("github.io"), "");
	EXPECT_EQ(organizational_domain(""), "");
	EXPECT_EQ(organizational_domain("."), "");
	EXPECT_EQ(organizational_domain("a..example.com"), "");
	EXPECT_EQ(organizational_domain(".example.com"), "");
	EXPECT_EQ(organizational_domain("exa mple.com"), "");
	EXPECT_EQ(organizational_domain("user@example.com"), "");
	EXPECT_EQ(organizational_domain(std::string("example.com\0.evil", 17)), "");
}

// ------------------------------------------------ From domain

TEST(AuthresAddressDomain, Forms)
{
	EXPECT_EQ(address_domain("Name <user@Example.COM>"), "example.com");
	EXPECT_EQ(address_domain("user@example.com"), "example.com");
	EXPECT_EQ(address_domain("  <user@example.com.>  "), "example.com");
	EXPECT_EQ(address_domain("\"Ximian, Inc.\" <evolve@ximian.com>"), "ximian.com");
	EXPECT_EQ(address_domain("M\xc3\xbcller, Hans <h@example.de>"), "example.de");
	EXPECT_EQ(address_domain("\"john doe\"@example.com"), "example.com");
	EXPECT_EQ(address_domain("<@relay.example:user@example.com>"), "example.com");
	EXPECT_EQ(address_domain("user@example.com (Example Inc.)"), "example.com");
	EXPECT_EQ(address_domain("a@example.com, B <b@EXAMPLE.com>"), "example.com");
	EXPECT_EQ(address_domain("team: a@example.com, b@example.com;"), "example.com");
}

TEST(AuthresAddressDomain, SpoofingShapes)
{
	// What a mail client shows is not the address.
	EXPECT_EQ(address_domain("\"ceo@bank.example\" <x@evil.example>"), "evil.example");
	EXPECT_EQ(address_domain("ceo@bank.example <x@evil.example>"), "evil.example");
	EXPECT_EQ(address_domain("\"<x@bank.example>\" <y@evil.example>"), "evil.example");
	EXPECT_EQ(address_domain("x@evil.example (ceo@bank.example)"), "evil.example");
	EXPECT_EQ(address_domain("x@evil.example (a (nested) <b@bank.example>)"), "evil.example");
	// Two domains: none of them can be the authenticated one.
	EXPECT_EQ(address_domain("a@bank.example, b@evil.example"), "");
	EXPECT_EQ(address_domain("<a@bank.example> <b@evil.example>"), "");
	EXPECT_EQ(address_domain("a@bank.example, b@[192.0.2.1]"), "");
	// Not an address at all: neither side of the second '@' counts.
	EXPECT_EQ(address_domain("x@bank.example@evil.example"), "");
	EXPECT_EQ(address_domain("<x@bank.example@evil.example>"), "");
}

TEST(AuthresAddressDomain, NoDomain)
{
	EXPECT_EQ(address_domain(""), "");
	EXPECT_EQ(address_domain("no address here"), "");
	EXPECT_EQ(address_domain("user@"), "");
	EXPECT_EQ(address_domain("<>"), "");
	EXPECT_EQ(address_domain("undisclosed-recipients:;"), "");
	EXPECT_EQ(address_domain("\"a@example.com\""), "");
}

// ------------------------------------------------ the decision

TEST(AuthresAuthenticate, TrustedDmarcPassAligned)
{
	Authentication a = authenticate_from(
		{"mx.example.net; dkim=pass header.d=example.com; dmarc=pass header.from=example.com"},
		kTrusted, "example.com");
	EXPECT_TRUE(a.authenticated);
	EXPECT_EQ(a.method, "dmarc");
	EXPECT_EQ(a.reason, "dmarc=pass for example.com from trusted mx.example.net");
}

TEST(AuthresAuthenticate, DmarcHeaderFromAsAddressAndCaseInsensitive)
{
	Authentication a = authenticate_from(
		{"MX.EXAMPLE.NET; DMARC=Pass header.from=Someone@Example.COM"},
		{"Mx.Example.Net"}, "Example.com");
	EXPECT_TRUE(a.authenticated);
	EXPECT_EQ(a.method, "dmarc");
	EXPECT_EQ(a.reason, "dmarc=pass for example.com from trusted mx.example.net");

	// from_domain given as an address is reduced to its domain.
	EXPECT_TRUE(authenticate_from({"mx.example.net; dmarc=pass header.from=example.com"},
				      kTrusted, "Name <u@example.com>")
			    .authenticated);
}

TEST(AuthresAuthenticate, DmarcPassForAnotherDomain)
{
	Authentication a = authenticate_from(
		{"mx.example.net; dmarc=pass header.from=evil.example"}, kTrusted, "example.com");
	EXPECT_FALSE(a.authenticated);
	EXPECT_EQ(a.method, "");
	EXPECT_EQ(a.reason, "no dmarc, dkim or spf pass aligned with example.com from trusted "
			    "mx.example.net (seen: dmarc=pass for evil.example)");

	// A subdomain's DMARC pass is not the parent's either.
	EXPECT_FALSE(authenticate_from({"mx.example.net; dmarc=pass header.from=mail.example.com"},
				       kTrusted, "example.com")
			     .authenticated);
	// Nor a pass naming no domain.
	EXPECT_FALSE(authenticate_from({"mx.example.net; dmarc=pass"}, kTrusted, "example.com")
			     .authenticated);
}

TEST(AuthresAuthenticate, UntrustedServerWithPassIsIgnored)
{
	Authentication a = authenticate_from(
		{"evil.example; dmarc=pass header.from=example.com; dkim=pass header.d=example.com"},
		kTrusted, "example.com");
	EXPECT_FALSE(a.authenticated);
	EXPECT_EQ(a.method, "");
	EXPECT_EQ(a.reason, "Authentication-Results from untrusted server evil.example ignored, "
			    "and no Authentication-Results from a trusted server "
			    "(tresor_authserv_id = mx.example.net)");

	// Exact match only: no suffix or prefix of a trusted id counts.
	for (const char *id : {"example.net", "mx.example.net.evil.example", "x-mx.example.net",
			       "\"mx.example.net \""}) {
		std::string header = std::string(id) + "; dmarc=pass header.from=example.com";
		EXPECT_FALSE(authenticate_from({header}, kTrusted, "example.com").authenticated)
			<< header;
	}
}

TEST(AuthresAuthenticate, NoTrustedListFailsClosed)
{
	const std::vector<std::string> header = {
		"mx.example.net; dmarc=pass header.from=example.com"};
	for (const std::vector<std::string> &trusted :
	     {std::vector<std::string>{}, std::vector<std::string>{"", "  "}}) {
		Authentication a = authenticate_from(header, trusted, "example.com");
		EXPECT_FALSE(a.authenticated);
		EXPECT_EQ(a.method, "");
		EXPECT_EQ(a.reason, "tresor_authserv_id is not set, so no Authentication-Results "
				    "header is trusted and no sender counts as authenticated");
	}
}

TEST(AuthresAuthenticate, NoHeadersFailsClosed)
{
	Authentication a = authenticate_from({}, {"mx.example.net", "MX2.example.net"}, "example.com");
	EXPECT_FALSE(a.authenticated);
	EXPECT_EQ(a.reason, "no Authentication-Results from a trusted server "
			    "(tresor_authserv_id = mx.example.net mx2.example.net)");

	// Unparseable values count as absent.
	Authentication garbage = authenticate_from({"", "dkim=pass header.d=example.com", ";;"},
						   kTrusted, "example.com");
	EXPECT_FALSE(garbage.authenticated);
	EXPECT_EQ(garbage.reason, "no Authentication-Results from a trusted server "
				  "(tresor_authserv_id = mx.example.net)");

	// So does "none".
	EXPECT_FALSE(authenticate_from({"mx.example.net; none"}, kTrusted, "example.com")
			     .authenticated);
}

TEST(AuthresAuthenticate, RelaxedDkimAlignment)
{
	Authentication a = authenticate_from(
		{"mx.example.net; dkim=pass header.d=mail.example.co.uk header.s=s1"}, kTrusted,
		"example.co.uk");
	EXPECT_TRUE(a.authenticated);
	EXPECT_EQ(a.method, "dkim");
	EXPECT_EQ(a.reason, "dkim=pass for mail.example.co.uk (aligned with example.co.uk) "
			    "from trusted mx.example.net");

	// And the other way round: parent signature, subdomain From.
	EXPECT_TRUE(authenticate_from({"mx.example.net; dkim=pass header.d=example.co.uk"},
				      kTrusted, "invoices.example.co.uk")
			    .authenticated);
}

TEST(AuthresAuthenticate, DkimHeaderIWhenNoHeaderD)
{
	Authentication a = authenticate_from({"mx.example.net; dkim=pass header.i=@Mail.Example.com"},
					     kTrusted, "example.com");
	EXPECT_TRUE(a.authenticated);
	EXPECT_EQ(a.method, "dkim");
	EXPECT_EQ(a.reason,
		  "dkim=pass for mail.example.com (aligned with example.com) from trusted mx.example.net");

	// header.d decides when both are there.
	EXPECT_FALSE(authenticate_from(
			     {"mx.example.net; dkim=pass header.d=evil.example header.i=@example.com"},
			     kTrusted, "example.com")
			     .authenticated);
}

TEST(AuthresAuthenticate, RelaxedSpfAlignment)
{
	Authentication a = authenticate_from(
		{"mx.example.net; spf=pass smtp.mailfrom=bounce@sub.example.com"}, kTrusted,
		"example.com");
	EXPECT_TRUE(a.authenticated);
	EXPECT_EQ(a.method, "spf");
	EXPECT_EQ(a.reason,
		  "spf=pass for sub.example.com (aligned with example.com) from trusted mx.example.net");

	// A bare domain as mailfrom, and a quoted local-part.
	EXPECT_TRUE(authenticate_from({"mx.example.net; spf=pass smtp.mailfrom=example.com"},
				      kTrusted, "example.com")
			    .authenticated);
	EXPECT_TRUE(authenticate_from({"mx.example.net; spf=pass smtp.mailfrom=\"a b\"@example.com"},
				      kTrusted, "example.com")
			    .authenticated);
}

TEST(AuthresAuthenticate, SpfNeedsTheMailfromDomain)
{
	// An empty mailfrom (bounce) is not replaced by the HELO name.
	Authentication a = authenticate_from(
		{"mx.example.net; spf=pass smtp.mailfrom=\"\" smtp.helo=mail.example.com"}, kTrusted,
		"example.com");
	EXPECT_FALSE(a.authenticated);
	EXPECT_FALSE(authenticate_from({"mx.example.net; spf=pass smtp.helo=mail.example.com"},
				       kTrusted, "example.com")
			     .authenticated);
	// The domain is what follows the last '@', whatever a quoted local-part holds.
	EXPECT_FALSE(authenticate_from(
			     {"mx.example.net; spf=pass smtp.mailfrom=\"x@example.com\"@evil.example",
			      "mx.example.net; spf=pass smtp.mailfrom=\"<x@example.com>\"@evil.example"},
			     kTrusted, "example.com")
			     .authenticated);
}

TEST(AuthresAuthenticate, LookalikeDomainsDoNotAlign)
{
	for (const char *signer : {"example.co", "example.com.evil.example", "evil-example.com",
				   "examp1e.com", "co.uk", "com"}) {
		std::string header = std::string("mx.example.net; dkim=pass header.d=") + signer +
				     "; spf=pass smtp.mailfrom=b@" + signer;
		Authentication a = authenticate_from({header}, kTrusted, "example.com");
		EXPECT_FALSE(a.authenticated) << signer;
		EXPECT_EQ(a.method, "") << signer;
	}
	// Tenants of a private public suffix are different organizations.
	EXPECT_FALSE(authenticate_from({"mx.example.net; dkim=pass header.d=evil.github.io"},
				       kTrusted, "bank.github.io")
			     .authenticated);
}

TEST(AuthresAuthenticate, PublicSuffixFromAlignsWithNothing)
{
	Authentication a = authenticate_from({"mx.example.net; dkim=pass header.d=co.uk"},
					     kTrusted, "co.uk");
	EXPECT_FALSE(a.authenticated);
	EXPECT_EQ(a.reason, "no dmarc, dkim or spf pass aligned with co.uk (a public suffix, "
			    "which nothing aligns with) from trusted mx.example.net "
			    "(seen: dkim=pass for co.uk)");
}

TEST(AuthresAuthenticate, TrustedDmarcFailBeatsDkimPass)
{
	Authentication a = authenticate_from(
		{"mx.example.net; dkim=pass header.d=example.com;"
		 " dmarc=fail reason=\"p=reject\" header.from=example.com"},
		kTrusted, "example.com");
	EXPECT_FALSE(a.authenticated);
	EXPECT_EQ(a.method, "");
	EXPECT_EQ(a.reason, "dmarc=fail for example.com from trusted mx.example.net (p=reject)");

	// A fail without header.from is taken as this mail's.
	EXPECT_FALSE(authenticate_from({"mx.example.net; dkim=pass header.d=example.com; dmarc=fail"},
				       kTrusted, "example.com")
			     .authenticated);
	// A fail for another From domain does not concern this one.
	EXPECT_TRUE(authenticate_from({"mx.example.net; dkim=pass header.d=example.com;"
				       " dmarc=fail header.from=other.example"},
				      kTrusted, "example.com")
			    .authenticated);
}

TEST(AuthresAuthenticate, TrustedDmarcFailBeatsForgedTrustedPass)
{
	// A sender can inject a header carrying our authserv-id when the MTA
	// doesn't strip it; a real fail must still win, in either order.
	const std::string pass = "mx.example.net; dmarc=pass header.from=example.com";
	const std::string fail = "mx.example.net; dmarc=fail header.from=example.com";
	for (const std::vector<std::string> &values :
	     {std::vector<std::string>{pass, fail}, std::vector<std::string>{fail, pass}}) {
		Authentication a = authenticate_from(values, kTrusted, "example.com");
		EXPECT_FALSE(a.authenticated);
		EXPECT_EQ(a.reason, "dmarc=fail for example.com from trusted mx.example.net");
	}
}

TEST(AuthresAuthenticate, DmarcNoneOrTemperrorLeavesItToAlignment)
{
	for (const char *result : {"none", "temperror", "permerror"}) {
		std::string header = std::string("mx.example.net; dmarc=") + result +
				     " header.from=example.com; dkim=pass header.d=example.com";
		Authentication a = authenticate_from({header}, kTrusted, "example.com");
		EXPECT_TRUE(a.authenticated) << result;
		EXPECT_EQ(a.method, "dkim") << result;
		EXPECT_EQ(a.reason, "dkim=pass for example.com from trusted mx.example.net");
	}
	Authentication alone = authenticate_from(
		{"mx.example.net; dmarc=temperror header.from=example.com"}, kTrusted, "example.com");
	EXPECT_FALSE(alone.authenticated);
	EXPECT_EQ(alone.reason, "no dmarc, dkim or spf pass aligned with example.com from trusted "
				"mx.example.net (seen: dmarc=temperror for example.com)");
}

TEST(AuthresAuthenticate, FailedChecksAreListed)
{
	Authentication a = authenticate_from(
		{"mx.example.net; dkim=fail header.d=example.com; spf=softfail smtp.mailfrom=a@example.com;"
		 " iprev=pass policy.iprev=192.0.2.1"},
		kTrusted, "example.com");
	EXPECT_FALSE(a.authenticated);
	EXPECT_EQ(a.reason, "no dmarc, dkim or spf pass aligned with example.com from trusted "
			    "mx.example.net (seen: dkim=fail for example.com; spf=softfail for "
			    "example.com)");
}

TEST(AuthresAuthenticate, MultipleHeadersOnlyOneTrusted)
{
	const std::string forged = "evil.example; dmarc=pass header.from=example.com";
	const std::string real_other = "mx.example.net; dkim=pass header.d=other.example";
	Authentication refused = authenticate_from({forged, real_other}, kTrusted, "example.com");
	EXPECT_FALSE(refused.authenticated);
	EXPECT_EQ(refused.reason, "no dmarc, dkim or spf pass aligned with example.com from "
				  "trusted mx.example.net (seen: dkim=pass for other.example); "
				  "Authentication-Results from untrusted server evil.example ignored");

	const std::string forged_fail = "evil.example; dmarc=fail header.from=example.com";
	const std::string real_pass = "mx.example.net; dmarc=pass header.from=example.com";
	Authentication accepted = authenticate_from({forged_fail, real_pass, "relay.example.org; none"},
						    kTrusted, "example.com");
	EXPECT_TRUE(accepted.authenticated);
	EXPECT_EQ(accepted.method, "dmarc");
	EXPECT_EQ(accepted.reason, "dmarc=pass for example.com from trusted mx.example.net");
}

TEST(AuthresAuthenticate, SeveralTrustedServers)
{
	Authentication a = authenticate_from(
		{"mx1.example.net; spf=fail smtp.mailfrom=example.com",
		 "mx2.example.net; dkim=pass header.d=example.com"},
		{"mx1.example.net", "mx2.example.net"}, "example.com");
	EXPECT_TRUE(a.authenticated);
	EXPECT_EQ(a.method, "dkim");
	EXPECT_EQ(a.reason, "dkim=pass for example.com from trusted mx2.example.net");
}

TEST(AuthresAuthenticate, FromWithoutDomain)
{
	for (const char *from : {"", "   ", "example..com", "<>", "user@"}) {
		Authentication a = authenticate_from(
			{"mx.example.net; dmarc=pass header.from=example.com"}, kTrusted, from);
		EXPECT_FALSE(a.authenticated) << from;
		EXPECT_EQ(a.reason.rfind("the From address has no usable domain", 0), 0u) << a.reason;
	}
}

TEST(AuthresAuthenticate, ReasonsAreOneLineOfBoundedLength)
{
	// Foreign text in a reason can't break a log line or a Sieve variable.
	Authentication untrusted = authenticate_from({"\"evil\x01X-Injected:\t1\"; dmarc=pass"},
						     kTrusted, "example.com");
	EXPECT_EQ(untrusted.reason, "Authentication-Results from untrusted server evil?x-injected:?1"
				    " ignored, and no Authentication-Results from a trusted server"
				    " (tresor_authserv_id = mx.example.net)");
	Authentication fail = authenticate_from(
		{"mx.example.net; dmarc=fail reason=\"a\\\tb\" header.from=example.com"}, kTrusted,
		"example.com");
	EXPECT_EQ(fail.reason, "dmarc=fail for example.com from trusted mx.example.net (a?b)");

	Authentication from = authenticate_from({}, kTrusted, std::string(1000, '\n'));
	EXPECT_EQ(from.reason, "the From address has no usable domain ('" + std::string(200, '?') +
				       "...')");
}

TEST(AuthresAuthenticate, ManyHeadersStayCheap)
{
	// 20 trusted headers of ~64 KiB with distinct failed results, and 200
	// untrusted servers: linear work, and a reason of a few lines at most.
	std::vector<std::string> values;
	for (int i = 0; i < 200; i++)
		values.push_back("evil" + std::to_string(i) + ".example; dmarc=pass header.from=example.com");
	for (int i = 0; i < 20; i++) {
		std::string header = "mx.example.net";
		for (int j = 0; header.size() + 60 < kMaxHeaderLength; j++)
			header += "; dkim=fail header.d=d" + std::to_string(i) + "-" + std::to_string(j) +
				  ".example";
		values.push_back(header);
	}
	auto start = std::chrono::steady_clock::now();
	Authentication a = authenticate_from(values, kTrusted, "example.com");
	auto elapsed = std::chrono::steady_clock::now() - start;
	EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 3000);
	EXPECT_FALSE(a.authenticated);
	EXPECT_EQ(a.reason, "no dmarc, dkim or spf pass aligned with example.com from trusted "
			    "mx.example.net (seen: dkim=fail for d0-0.example; dkim=fail for "
			    "d0-1.example; dkim=fail for d0-2.example; dkim=fail for d0-3.example; "
			    "dkim=fail for d0-4.example; dkim=fail for d0-5.example; dkim=fail for "
			    "d0-6.example; dkim=fail for d0-7.example; ...); Authentication-Results "
			    "from untrusted servers evil0.example, evil1.example, evil2.example, "
			    "evil3.example, evil4.example, evil5.example, evil6.example, "
			    "evil7.example, ... ignored");
}

TEST(AuthresAddressDomain, PathologicalInputsTakeLinearTime)
{
	const std::size_t n = 256 * 1024;
	std::vector<std::string> inputs = {
		std::string(n, '<'), std::string(n, ','), std::string(n, '('), std::string(n, '"'),
		std::string(n, '@'), std::string(n, '\\'), std::string(n, ':'),
	};
	std::string angles;
	while (angles.size() < n)
		angles += "<a@example.com>";
	inputs.push_back(angles + ",");
	std::string commas;
	while (commas.size() < n)
		commas += "a@example.com,";
	inputs.push_back(commas + "<");

	auto start = std::chrono::steady_clock::now();
	for (const std::string &input : inputs)
		(void)address_domain(input);
	auto elapsed = std::chrono::steady_clock::now() - start;
	EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 2000);
	EXPECT_EQ(address_domain(angles), "example.com");
	EXPECT_EQ(address_domain(commas), "example.com");
}
