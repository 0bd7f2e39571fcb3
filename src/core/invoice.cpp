#include "invoice.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>

#include <unistd.h>

#include <unicode/normalizer2.h>
#include <unicode/ucnv.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/uspoof.h>

#include "authres.hpp"
#include "einvoice.hpp"
#include "tresor-invoice.h"
#include "text.hpp"

namespace tresor::invoice {

namespace {

using tresor::text::ascii_lowercase;
using tresor::text::iequals;

// A mail with more documents than this gets the first ones analysed: each
// may cost the helper's full time limit, and lmtp is waiting.
constexpr std::size_t max_documents = 8;
constexpr std::size_t max_header_text = 64 * 1024;

const char *const setting_name_list[] = {
	"tresor_invoice_keywords",
	"tresor_suppliers",
	"tresor_authserv_id",
	"tresor_extract",
	"tresor_extract_timeout",
	"tresor_extract_memory",
	nullptr,
};

bool ends_with_ci(std::string_view s, std::string_view suffix)
{
	return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ascii_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_ascii_alnum(char c)
{
	return is_ascii_digit(c) || is_ascii_upper(c) || (c >= 'a' && c <= 'z');
}

// The value as it appears in an error message.
std::string quote_value(std::string_view v)
{
	std::string out;
	for (char c : v.substr(0, 200)) {
		unsigned char u = static_cast<unsigned char>(c);
		out += (u < 0x20 || u == 0x7f) ? '?' : c;
	}
	if (v.size() > 200)
		out += "...";
	return "'" + out + "'";
}

// ---- settings values

std::uint64_t parse_number(std::string_view &v)
{
	if (v.empty() || !is_ascii_digit(v.front()))
		throw std::invalid_argument("expected a number");
	std::uint64_t n = 0;
	while (!v.empty() && is_ascii_digit(v.front())) {
		unsigned d = static_cast<unsigned>(v.front() - '0');
		if (n > (std::numeric_limits<std::uint64_t>::max() - d) / 10)
			throw std::invalid_argument("number too large");
		n = n * 10 + d;
		v.remove_prefix(1);
	}
	v = tresor::text::trim_space(v);
	return n;
}

bool unit_is(std::string_view unit, std::initializer_list<const char *> names)
{
	return std::any_of(names.begin(), names.end(),
			   [&](const char *n) { return iequals(unit, n); });
}

std::uint64_t checked_multiply(std::uint64_t n, std::uint64_t factor)
{
	if (factor != 0 && n > std::numeric_limits<std::uint64_t>::max() / factor)
		throw std::invalid_argument("number too large");
	return n * factor;
}

// ---- text helpers on Unicode

// NFKC with case folding: "RECHNUNG", "Rechnung" and "Ｒｅｃｈｎｕｎｇ" compare
// equal, "Straße" matches "STRASSE", soft hyphens and ligatures vanish.
icu::UnicodeString fold(std::string_view utf8)
{
	UErrorCode status = U_ZERO_ERROR;
	const icu::Normalizer2 *nfkc_cf = icu::Normalizer2::getNFKCCasefoldInstance(status);
	icu::UnicodeString s = icu::UnicodeString::fromUTF8(
		icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
	if (U_FAILURE(status))
		return s.foldCase();
	icu::UnicodeString out = nfkc_cf->normalize(s, status);
	if (U_FAILURE(status))
		return s.foldCase();
	return out;
}

std::string to_utf8(const icu::UnicodeString &s)
{
	std::string out;
	s.toUTF8String(out);
	return out;
}

std::u32string to_u32(std::string_view utf8)
{
	icu::UnicodeString s = icu::UnicodeString::fromUTF8(
		icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
	std::u32string out;
	for (int32_t i = 0; i < s.length(); i = s.moveIndex32(i, 1))
		out += static_cast<char32_t>(s.char32At(i));
	return out;
}

bool is_word_char(const icu::UnicodeString &s, int32_t index)
{
	return u_isalnum(s.char32At(index)) != 0;
}

// needle occurs in haystack (both folded) with no letter or digit
// directly before or after it.
bool contains_whole_words(const icu::UnicodeString &haystack, const icu::UnicodeString &needle)
{
	if (needle.isEmpty())
		return false;
	for (int32_t at = haystack.indexOf(needle); at >= 0;
	     at = haystack.indexOf(needle, at + 1)) {
		int32_t end = at + needle.length();
		bool starts_word = at == 0 || !is_word_char(haystack, haystack.moveIndex32(at, -1));
		bool ends_word = end >= haystack.length() || !is_word_char(haystack, end);
		if (starts_word && ends_word)
			return true;
	}
	return false;
}

class KeywordMatcher {
public:
	explicit KeywordMatcher(const std::vector<std::string> &keywords)
	{
		for (const std::string &k : keywords) {
			icu::UnicodeString f = fold(k);
			if (!f.isEmpty())
				folded_.push_back(std::move(f));
		}
	}
	// The keyword (folded, as UTF-8) found in text; "" when none.
	std::string find(std::string_view text) const
	{
		if (folded_.empty() || text.empty())
			return "";
		icu::UnicodeString t = fold(text);
		for (const icu::UnicodeString &k : folded_) {
			if (t.indexOf(k) >= 0)
				return to_utf8(k);
		}
		return "";
	}

private:
	std::vector<icu::UnicodeString> folded_;
};

// ---- RFC 2047

std::optional<std::string> decode_base64(std::string_view in)
{
	std::string out;
	std::uint32_t acc = 0;
	int bits = 0;
	for (char c : in) {
		int v;
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else if (c == '=')
			break;
		else
			return std::nullopt;
		acc = (acc << 6) | static_cast<std::uint32_t>(v);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out += static_cast<char>((acc >> bits) & 0xff);
		}
	}
	return out;
}

std::string decode_q(std::string_view in)
{
	std::string out;
	for (std::size_t i = 0; i < in.size(); i++) {
		char c = in[i];
		if (c == '_') {
			out += ' ';
		} else if (c == '=' && i + 2 < in.size() && text::hex_digit_value(in[i + 1]) >= 0 &&
			   text::hex_digit_value(in[i + 2]) >= 0) {
			out += static_cast<char>(text::hex_digit_value(in[i + 1]) * 16 + text::hex_digit_value(in[i + 2]));
			i += 2;
		} else {
			out += c;
		}
	}
	return out;
}

std::string windows1252_to_utf8(std::string_view bytes)
{
	icu::UnicodeString s(bytes.data(), static_cast<int32_t>(bytes.size()), "windows-1252");
	return to_utf8(s);
}

// Raw header text as UTF-8: kept when it is UTF-8 already, otherwise read
// as Windows-1252 (which every byte decodes in, and what such senders use).
std::string raw_to_utf8(std::string_view bytes)
{
	if (suppliers::is_valid_utf8(bytes))
		return std::string(bytes);
	return windows1252_to_utf8(bytes);
}

std::optional<std::string> charset_to_utf8(std::string_view bytes, std::string charset)
{
	// RFC 2231 adds a language: "utf-8*de".
	std::size_t star = charset.find('*');
	if (star != std::string::npos)
		charset.resize(star);
	if (iequals(charset, "utf-8") || iequals(charset, "us-ascii"))
		return raw_to_utf8(bytes);
	UErrorCode status = U_ZERO_ERROR;
	std::unique_ptr<UConverter, decltype(&ucnv_close)> cnv(ucnv_open(charset.c_str(), &status),
							       &ucnv_close);
	if (U_FAILURE(status) || !cnv)
		return std::nullopt;
	status = U_ZERO_ERROR; // U_AMBIGUOUS_ALIAS_WARNING is no reason to give up
	icu::UnicodeString s(bytes.data(), static_cast<int32_t>(bytes.size()), cnv.get(), status);
	if (U_FAILURE(status))
		return std::nullopt;
	return to_utf8(s);
}

struct EncodedWord {
	std::string charset;
	std::string bytes;
	std::size_t end = 0; // index after "?="
};

// An encoded-word starting at pos ("=?charset?B|Q?text?=").
std::optional<EncodedWord> parse_encoded_word(std::string_view s, std::size_t pos)
{
	if (s.substr(pos, 2) != "=?")
		return std::nullopt;
	std::size_t q1 = s.find('?', pos + 2);
	if (q1 == std::string_view::npos || q1 == pos + 2 || q1 + 2 >= s.size() || s[q1 + 2] != '?')
		return std::nullopt;
	char enc = s[q1 + 1];
	std::size_t text_start = q1 + 3;
	std::size_t close = s.find("?=", text_start);
	if (close == std::string_view::npos)
		return std::nullopt;
	std::string_view text = s.substr(text_start, close - text_start);
	if (std::any_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t'; }))
		return std::nullopt;
	EncodedWord w;
	w.charset = std::string(s.substr(pos + 2, q1 - pos - 2));
	if (enc == 'B' || enc == 'b') {
		std::optional<std::string> b = decode_base64(text);
		if (!b)
			return std::nullopt;
		w.bytes = std::move(*b);
	} else if (enc == 'Q' || enc == 'q') {
		w.bytes = decode_q(text);
	} else {
		return std::nullopt;
	}
	w.end = close + 2;
	return w;
}

// ---- IBANs in text

// ISO 13616 lengths of the countries a German business is likely to pay.
int iban_length(std::string_view country)
{
	static const std::pair<const char *, int> lengths[] = {
		{"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20},
		{"BE", 16}, {"BG", 22}, {"BH", 22}, {"BR", 29}, {"BY", 28}, {"CH", 21},
		{"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DK", 18}, {"DO", 28},
		{"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27},
		{"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28},
		{"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IS", 26}, {"IT", 27},
		{"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LI", 21}, {"LT", 20},
		{"LU", 20}, {"LV", 21}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19},
		{"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18}, {"NO", 15}, {"PK", 24},
		{"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22},
		{"SA", 24}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"TN", 24},
		{"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
	};
	for (const auto &[c, n] : lengths) {
		if (country == c)
			return n;
	}
	return 0;
}

// "DE02 1203 0000 ..." with a single space or no-break space between groups.
std::size_t separator_length(std::string_view text, std::size_t i)
{
	if (text[i] == ' ')
		return 1;
	if (text.substr(i, 2) == "\xC2\xA0")
		return 2;
	return 0;
}

std::string format_iban(std::string_view iban)
{
	std::string out;
	for (std::size_t i = 0; i < iban.size(); i++) {
		if (i > 0 && i % 4 == 0)
			out += ' ';
		out += iban[i];
	}
	return out;
}

// ---- domains

std::string org_domain_or_self(const std::string &domain)
{
	std::string org = authres::organizational_domain(domain);
	return org.empty() ? domain : org;
}

std::string first_label(std::string_view domain)
{
	return std::string(domain.substr(0, domain.find('.')));
}

class SpoofChecker {
public:
	SpoofChecker()
	{
		UErrorCode status = U_ZERO_ERROR;
		checker_ = uspoof_open(&status);
		if (U_FAILURE(status)) {
			if (checker_ != nullptr)
				uspoof_close(checker_);
			checker_ = nullptr;
		}
	}
	~SpoofChecker()
	{
		if (checker_ != nullptr)
			uspoof_close(checker_);
	}
	SpoofChecker(const SpoofChecker &) = delete;
	SpoofChecker &operator=(const SpoofChecker &) = delete;

	// UTS #39 skeleton: strings that look alike have the same one
	// ("аcme" with Cyrillic а, "acrne" and "acme" all give "acme").
	std::string skeleton(std::string_view utf8) const
	{
		if (checker_ == nullptr)
			return std::string(utf8);
		UErrorCode status = U_ZERO_ERROR;
		int32_t len = uspoof_getSkeletonUTF8(checker_, 0, utf8.data(),
						     static_cast<int32_t>(utf8.size()), nullptr,
						     0, &status);
		if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status))
			return std::string(utf8);
		std::string out(static_cast<std::size_t>(len), '\0');
		status = U_ZERO_ERROR;
		uspoof_getSkeletonUTF8(checker_, 0, utf8.data(), static_cast<int32_t>(utf8.size()),
				       out.data(), len, &status);
		if (U_FAILURE(status) && status != U_STRING_NOT_TERMINATED_WARNING)
			return std::string(utf8);
		return out;
	}

private:
	USpoofChecker *checker_ = nullptr;
};

// Edit distance up to which two registrable names count as look-alikes:
// 2, for every length (the issue's rule). For short names that also
// catches unrelated ones ("ibm" vs "abc"); those mails go to review
// either way, only the verdict names the look-alike.
std::size_t lookalike_distance(std::size_t shorter_length)
{
	return shorter_length == 0 ? 0 : 2;
}

// The sender's domain in the forms the look-alike tests compare, computed
// once per mail rather than once per supplier domain.
class SenderDomain {
public:
	SenderDomain(const std::string &canonical, const SpoofChecker &spoof)
		: spoof_(spoof), canonical_(canonical), org_(org_domain_or_self(canonical)),
		  shown_(suppliers::domain_to_unicode(canonical)),
		  org_unicode_(suppliers::domain_to_unicode(org_)), name_(first_label(org_unicode_)),
		  name32_(to_u32(name_)), skeleton_(spoof.skeleton(org_unicode_)),
		  name_skeleton_(spoof.skeleton(name_))
	{
	}

	// How the sender (owned by no supplier) resembles domain `known` of
	// supplier `owner`, as a sentence; "" when it doesn't.
	std::string resemblance(const std::string &known, const std::string &owner) const
	{
		std::string known_org = org_domain_or_self(known);
		// Same registrable domain, same owner: a host the file doesn't
		// list, not somebody else's imitation.
		if (org_ == known_org)
			return "";
		std::string known_unicode = suppliers::domain_to_unicode(known_org);
		std::string known_name = first_label(known_unicode);
		const std::string sender = "sender domain " + shown_;
		const std::string target =
			owner + "'s domain " + suppliers::domain_to_unicode(known);

		if (name_ == known_name)
			return sender + " has the same name as " + target + " under another suffix";
		if (skeleton_ == spoof_.skeleton(known_unicode) ||
		    name_skeleton_ == spoof_.skeleton(known_name)) {
			// The A-label shows what the reader's eye doesn't.
			std::string ascii = shown_ != canonical_ ? " (" + canonical_ + ")" : "";
			return sender + ascii + " is confusable with " + target;
		}
		std::u32string known32 = to_u32(known_name);
		std::size_t distance = edit_distance(name32_, known32);
		if (distance <= lookalike_distance(std::min(name32_.size(), known32.size())))
			return sender + " is " + std::to_string(distance) +
			       (distance == 1 ? " edit" : " edits") + " away from " + target;
		// "acme.de.evil.example", "acme-invoices.com": the name as a part,
		// between dots, hyphens or the ends.
		if (known32.size() >= 4) {
			auto separates = [](char c) { return c == '.' || c == '-'; };
			for (std::size_t at = shown_.find(known_name); at != std::string::npos;
			     at = shown_.find(known_name, at + 1)) {
				std::size_t end = at + known_name.size();
				bool starts_part = at == 0 || separates(shown_[at - 1]);
				bool ends_part = end == shown_.size() || separates(shown_[end]);
				if (starts_part && ends_part)
					return sender + " contains the name " + known_name +
					       " from " + target;
			}
		}
		return "";
	}

private:
	const SpoofChecker &spoof_;
	std::string canonical_, org_, shown_, org_unicode_, name_;
	std::u32string name32_;
	std::string skeleton_, name_skeleton_;
};

// ---- classification of parts

bool is_xml_part(const Part &p)
{
	return p.content_type == "application/xml" || p.content_type == "text/xml" ||
	       ends_with_ci(p.filename, ".xml");
}

bool is_pdf_part(const Part &p)
{
	if (p.content_type == "application/pdf" || p.content_type == "application/x-pdf" ||
	    ends_with_ci(p.filename, ".pdf"))
		return true;
	return p.content_type == "application/octet-stream" && p.data.starts_with("%PDF-");
}

std::string describe_part(const Part &p, std::size_t index)
{
	if (!p.filename.empty())
		return "attachment " + quote_value(p.filename);
	return "attachment #" + std::to_string(index + 1) + " (" + p.content_type + ")";
}

std::string join(const std::vector<std::string> &items, std::string_view sep)
{
	std::string out;
	for (const std::string &i : items) {
		if (!out.empty())
			out += sep;
		out += i;
	}
	return out;
}

const std::string *first_header(const Message &msg, std::string_view name)
{
	for (const auto &[n, v] : msg.headers) {
		if (iequals(n, name))
			return &v;
	}
	return nullptr;
}

} // namespace

// ---- Settings

Settings::Settings() : extract_path(TRESOR_EXTRACT_DEFAULT_PATH) {}

std::vector<std::string> Settings::default_keywords()
{
	// Substrings, so "Rechnung" also covers Rechnungsnummer and
	// Eingangsrechnung, "Factura" the French Facturation.
	return {"Rechnung", "Gutschrift", "Invoice", "Credit note", "Factuur", "Creditnota",
		"Facture",  "Avoir",      "Faktura", "Fattura",     "Factura"};
}

const char *const *Settings::setting_names()
{
	return setting_name_list;
}

void Settings::set(std::string_view name, std::string_view value)
{
	const std::string n(name);
	auto bad = [&](const std::string &why) {
		return ConfigError(n + ": invalid value " + quote_value(value) + " (" + why + ")");
	};
	if (name == "tresor_invoice_keywords") {
		std::vector<std::string> list;
		try {
			list = split_setting_list(value);
		} catch (const std::invalid_argument &e) {
			throw bad(e.what());
		}
		for (const std::string &k : list) {
			if (k.empty())
				throw bad("empty keyword");
			if (!suppliers::is_valid_utf8(k))
				throw bad("keywords must be UTF-8");
		}
		keywords = std::move(list);
	} else if (name == "tresor_suppliers") {
		std::string_view v = tresor::text::trim_space(value);
		if (!v.empty() && v.front() != '/')
			throw bad("expected an absolute path, or nothing for no supplier file");
		suppliers = std::string(v);
	} else if (name == "tresor_authserv_id") {
		std::vector<std::string> list;
		try {
			list = split_setting_list(value);
		} catch (const std::invalid_argument &e) {
			throw bad(e.what());
		}
		for (const std::string &id : list) {
			bool ok = !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
				unsigned char u = static_cast<unsigned char>(c);
				return u > 0x20 && u != 0x7f && c != ';' && c != '"' &&
				       c != '(' && c != ')';
			});
			if (!ok)
				throw bad("expected authserv-ids such as mx.example.com, "
					  "separated by spaces");
		}
		authserv_ids = std::move(list);
	} else if (name == "tresor_extract") {
		std::string_view v = tresor::text::trim_space(value);
		if (v.empty() || v.front() != '/')
			throw bad("expected the absolute path of the tresor-extract helper");
		extract_path = std::string(v);
	} else if (name == "tresor_extract_timeout") {
		std::chrono::milliseconds ms;
		try {
			ms = parse_duration(value);
		} catch (const std::invalid_argument &e) {
			throw bad(std::string(e.what()) + "; expected e.g. 10s or 500ms");
		}
		if (ms.count() < 100 || ms > std::chrono::hours(1))
			throw bad("expected between 100ms and 1h");
		limits.timeout_ms = static_cast<unsigned>(ms.count());
		// The CPU limit never exceeds the wall-clock limit: a helper
		// can't use more CPU than time in one thread anyway, and the
		// limit that fires first should be the one the admin set.
		unsigned timeout_seconds = static_cast<unsigned>((ms.count() + 999) / 1000);
		limits.cpu_seconds = std::min(extract::Limits{}.cpu_seconds, timeout_seconds);
	} else if (name == "tresor_extract_memory") {
		std::uint64_t bytes;
		try {
			bytes = parse_size(value);
		} catch (const std::invalid_argument &e) {
			throw bad(std::string(e.what()) + "; expected e.g. 256M or 1G");
		}
		if (bytes < (32ull << 20) || bytes > (64ull << 30))
			throw bad("expected between 32M and 64G");
		limits.memory_bytes = bytes;
	} else {
		std::string known;
		for (const char *const *k = setting_name_list; *k != nullptr; k++)
			known += std::string(known.empty() ? "" : ", ") + *k;
		throw ConfigError("unknown setting " + quote_value(name) + " (known settings: " +
				  known + ")");
	}
}

std::chrono::milliseconds parse_duration(std::string_view value)
{
	std::string_view v = tresor::text::trim_space(value);
	std::uint64_t n = parse_number(v);
	std::uint64_t factor;
	if (v.empty() || unit_is(v, {"s", "sec", "secs", "second", "seconds"}))
		factor = 1000;
	else if (unit_is(v, {"ms", "msec", "msecs", "millisecond", "milliseconds"}))
		factor = 1;
	else if (unit_is(v, {"m", "min", "mins", "minute", "minutes"}))
		factor = 60 * 1000;
	else if (unit_is(v, {"h", "hour", "hours"}))
		factor = 3600 * 1000;
	else
		throw std::invalid_argument("unknown unit " + quote_value(v));
	std::uint64_t ms = checked_multiply(n, factor);
	if (ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
		throw std::invalid_argument("number too large");
	return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

std::uint64_t parse_size(std::string_view value)
{
	std::string_view v = tresor::text::trim_space(value);
	std::uint64_t n = parse_number(v);
	std::uint64_t factor;
	if (v.empty() || unit_is(v, {"b"}))
		factor = 1;
	else if (unit_is(v, {"k", "kb", "kib"}))
		factor = 1ull << 10;
	else if (unit_is(v, {"m", "mb", "mib"}))
		factor = 1ull << 20;
	else if (unit_is(v, {"g", "gb", "gib"}))
		factor = 1ull << 30;
	else if (unit_is(v, {"t", "tb", "tib"}))
		factor = 1ull << 40;
	else
		throw std::invalid_argument("unknown unit " + quote_value(v));
	return checked_multiply(n, factor);
}

// ---- building blocks

std::string decode_header_text(std::string_view raw)
{
	// Enough for any real Subject or display name; bounds the work a
	// hostile header can cause.
	raw = raw.substr(0, max_header_text);
	std::string out;
	std::string pending_charset, pending_bytes;
	auto flush = [&] {
		if (pending_bytes.empty() && pending_charset.empty())
			return;
		std::optional<std::string> text = charset_to_utf8(pending_bytes, pending_charset);
		out += text ? *text : raw_to_utf8(pending_bytes);
		pending_bytes.clear();
		pending_charset.clear();
	};
	std::size_t pos = 0;
	bool after_word = false;
	while (pos < raw.size()) {
		std::size_t next = raw.find("=?", pos);
		std::optional<EncodedWord> w;
		while (next != std::string_view::npos && !(w = parse_encoded_word(raw, next)))
			next = raw.find("=?", next + 2);
		std::string_view between = raw.substr(pos, (w ? next : raw.size()) - pos);
		// White space between two encoded-words is not part of the text.
		bool only_space = tresor::text::trim_space(between).empty();
		if (!(after_word && w && only_space)) {
			flush();
			out += raw_to_utf8(between);
		}
		if (!w)
			break;
		// Adjacent words in the same charset are joined before converting:
		// senders split multi-byte characters across them.
		if (!iequals(w->charset, pending_charset))
			flush();
		pending_charset = w->charset;
		pending_bytes += w->bytes;
		pos = w->end;
		after_word = true;
	}
	flush();
	return out;
}

FromAddress parse_from(std::string_view value)
{
	FromAddress from;
	std::string display, plain, comment;
	std::size_t i = 0;
	while (i < value.size()) {
		char c = value[i];
		if (c == '"') {
			i++;
			while (i < value.size() && value[i] != '"') {
				if (value[i] == '\\' && i + 1 < value.size())
					i++;
				display += value[i++];
			}
			i++;
		} else if (c == '(') {
			int depth = 0;
			std::string text;
			while (i < value.size()) {
				char d = value[i++];
				if (d == '\\' && i < value.size()) {
					text += value[i++];
					continue;
				}
				if (d == '(' && depth++ == 0)
					continue;
				if (d == ')' && --depth == 0)
					break;
				text += d;
			}
			if (!comment.empty())
				comment += ' ';
			comment += text;
		} else if (c == '<') {
			std::size_t close = value.find('>', i + 1);
			std::string_view addr = value.substr(i + 1, close == std::string_view::npos ?
									    std::string_view::npos :
									    close - i - 1);
			// An obsolete route ("@relay:user@host") is not part of it.
			std::size_t colon = addr.rfind(':');
			if (colon != std::string_view::npos)
				addr.remove_prefix(colon + 1);
			from.address = std::string(tresor::text::trim_space(addr));
			from.display_name = decode_header_text(tresor::text::trim_space(display));
			if (from.display_name.empty())
				from.display_name = decode_header_text(tresor::text::trim_space(comment));
			return from;
		} else if (c == ',') {
			break;
		} else if (c == ':') {
			// "Group: a@b;": the group's name is nobody's display name.
			display.clear();
			plain.clear();
			i++;
		} else {
			display += c;
			if (!tresor::text::is_ascii_space(c))
				plain += c;
			i++;
		}
	}
	std::string_view addr = tresor::text::trim_space(plain);
	if (!addr.empty() && addr.back() == ';')
		addr.remove_suffix(1);
	from.address = std::string(addr);
	from.display_name = decode_header_text(tresor::text::trim_space(comment));
	return from;
}

bool contains_keyword(std::string_view text, const std::vector<std::string> &keywords)
{
	return !KeywordMatcher(keywords).find(text).empty();
}

std::string find_iban(std::string_view text)
{
	for (std::size_t i = 0; i + 4 <= text.size(); i++) {
		if (!(is_ascii_upper(text[i]) && is_ascii_upper(text[i + 1]) &&
		      is_ascii_digit(text[i + 2]) && is_ascii_digit(text[i + 3])))
			continue;
		if (i > 0 && is_ascii_alnum(text[i - 1]))
			continue;
		// Gather the characters, remembering where each group ends: the
		// IBAN must end at a group boundary, not in the middle of a word.
		std::string compact;
		std::vector<std::size_t> ends;
		std::size_t j = i;
		while (j < text.size() && compact.size() <= 34) {
			char c = text[j];
			if (is_ascii_upper(c) || is_ascii_digit(c)) {
				compact += c;
				j++;
				continue;
			}
			std::size_t sep = separator_length(text, j);
			if (sep > 0 && j + sep < text.size() &&
			    (is_ascii_upper(text[j + sep]) || is_ascii_digit(text[j + sep]))) {
				ends.push_back(compact.size());
				j += sep;
				continue;
			}
			break;
		}
		// A lowercase letter or another alphanumeric glued on: a word, not
		// the end of an IBAN.
		if (j >= text.size() || !is_ascii_alnum(text[j]))
			ends.push_back(compact.size());
		int expected = iban_length(compact.substr(0, 2));
		for (auto it = ends.rbegin(); it != ends.rend(); ++it) {
			std::size_t len = *it;
			if (len < 15 || len > 34)
				continue;
			if (expected != 0 && len != static_cast<std::size_t>(expected))
				continue;
			std::string candidate = einvoice::normalise_iban(compact.substr(0, len));
			if (einvoice::iban_valid(candidate))
				return candidate;
		}
	}
	return "";
}

std::size_t edit_distance(std::u32string_view a, std::u32string_view b)
{
	// Optimal string alignment: insertions, deletions, substitutions and
	// swaps of neighbours ("amce") each cost one.
	const std::size_t n = a.size(), m = b.size();
	std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
	for (std::size_t i = 0; i <= n; i++)
		d[i][0] = i;
	for (std::size_t j = 0; j <= m; j++)
		d[0][j] = j;
	for (std::size_t i = 1; i <= n; i++) {
		for (std::size_t j = 1; j <= m; j++) {
			std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
				d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
		}
	}
	return d[n][m];
}

// ---- Analyser

Analyser::Analyser()
	: registry_(std::make_unique<suppliers::Registry>(settings_.suppliers,
							  supplier_check_interval_))
{
}

void Analyser::set(std::string_view name, std::string_view value)
{
	std::string old_suppliers = settings_.suppliers;
	settings_.set(name, value);
	if (settings_.suppliers != old_suppliers)
		registry_ = std::make_unique<suppliers::Registry>(settings_.suppliers,
								  supplier_check_interval_);
}

void Analyser::set_supplier_check_interval(std::chrono::milliseconds interval)
{
	supplier_check_interval_ = interval;
	registry_ = std::make_unique<suppliers::Registry>(settings_.suppliers,
							  supplier_check_interval_);
}

void Analyser::log(int level, const std::string &message) const
{
	if (logger_)
		logger_(level, message);
}

extract::Document Analyser::read_document(extract::Kind kind, std::string_view data) const
{
	if (reader_)
		return reader_(kind, data);
	// Checked here so that a missing helper is reported as what it is,
	// an installation problem, rather than as one broken attachment.
	if (::access(settings_.extract_path.c_str(), X_OK) != 0) {
		int err = errno;
		throw HelperError("tresor_extract: can't run " + settings_.extract_path + ": " +
				  std::strerror(err));
	}
	return extract::analyse(settings_.extract_path, kind, data, settings_.limits);
}

namespace {

struct Sender {
	FromAddress from;
	std::string domain;  // canonical; "" when From names no single domain
	std::string address; // canonical; "" when none
	std::string shown;   // the domain as a reader sees it
};

Sender parse_sender(const Message &msg)
{
	Sender s;
	if (const std::string *raw = first_header(msg, "From")) {
		s.from = parse_from(*raw);
		// authres decides what "the" From domain is (none when From
		// names several domains), so that it is the domain DMARC checked.
		std::string domain = authres::address_domain(*raw);
		if (!domain.empty()) {
			s.domain = suppliers::canonical_domain(domain).value_or(ascii_lowercase(domain));
			s.address = suppliers::canonical_address(s.from.address).value_or("");
		}
	}
	s.shown = s.domain.empty() ? std::string("(none)") : suppliers::domain_to_unicode(s.domain);
	return s;
}

bool belongs_to(const Sender &sender, const suppliers::Supplier &s)
{
	return !sender.domain.empty() &&
	       (s.owns_domain(sender.domain) ||
		(!sender.address.empty() && s.has_address(sender.address)));
}

// Why the sender imitates a supplier; "" when it doesn't (see invoice.hpp).
std::string lookalike_reason(const Sender &sender, const suppliers::SupplierList &list,
			     const suppliers::Supplier *identified)
{
	bool sender_known = list.by_domain(sender.domain) != nullptr ||
			    list.by_address(sender.address) != nullptr;
	if (sender_known || sender.domain.empty())
		return "";
	SpoofChecker spoof;
	SenderDomain domain(sender.domain, spoof);
	icu::UnicodeString display = fold(sender.from.display_name);
	std::vector<const suppliers::Supplier *> candidates;
	// The identified supplier first, so the reason names it.
	if (identified != nullptr)
		candidates.push_back(identified);
	for (const suppliers::Supplier &s : list.all()) {
		if (&s != identified)
			candidates.push_back(&s);
	}
	const std::string but = ", but the address " + sender.from.address + " is not theirs";
	for (const suppliers::Supplier *s : candidates) {
		for (const std::string &d : s->domains) {
			if (std::string why = domain.resemblance(d, s->name); !why.empty())
				return why;
		}
		if (contains_whole_words(display, fold(s->name)))
			return "sender name \"" + sender.from.display_name + "\" names " + s->name +
			       but;
		for (const std::string &d : s->domains) {
			if (contains_whole_words(display, fold(suppliers::domain_to_unicode(d))))
				return "sender name \"" + sender.from.display_name + "\" shows " +
				       s->name + "'s domain" + but;
		}
	}
	return "";
}

std::vector<std::string> authentication_results(const Message &msg)
{
	std::vector<std::string> values;
	for (const auto &[name, value] : msg.headers) {
		if (iequals(name, "Authentication-Results"))
			values.push_back(value);
	}
	return values;
}

} // namespace

Analyser::Findings Analyser::read_documents(const Message &msg) const
{
	Findings f;
	std::size_t analysed = 0, found = 0;
	for (std::size_t i = 0; i < msg.parts.size(); i++) {
		const Part &p = msg.parts[i];
		// text/xml sent inline is still a document, never a readable body.
		extract::Kind kind;
		if (is_xml_part(p))
			kind = extract::Kind::xml;
		else if (is_pdf_part(p))
			kind = extract::Kind::pdf;
		else
			continue;
		found++;
		if (analysed == max_documents)
			continue;
		analysed++;
		f.any_document = true;

		extract::Document d = read_document(kind, p.data);
		const std::string what = describe_part(p, i);
		if (!d.ok) {
			log(2, "tresor invoice: " + what + " could not be analysed" +
				       (d.warnings.empty() ? "" : ": " + join(d.warnings, "; ")));
		} else {
			for (const std::string &w : d.warnings)
				log(2, "tresor invoice: " + what + ": " + w);
		}
		if (d.einvoice && !f.einvoice)
			f.einvoice = std::move(d.einvoice);
		if (kind == extract::Kind::pdf)
			f.pdfs.push_back({p.filename, std::move(d.text)});
	}
	if (found > max_documents)
		log(2, "tresor invoice: " + std::to_string(found) +
			       " documents attached, only the first " +
			       std::to_string(max_documents) + " are analysed");
	return f;
}

Result Analyser::analyse(const Message &msg) const
{
	Result r;
	Findings found = read_documents(msg);
	if (!found.any_document)
		return r;

	// ---- invoice or not
	if (found.einvoice) {
		const einvoice::Invoice &e = *found.einvoice;
		r.is_einvoice = true;
		r.format = e.format;
		r.number = e.number;
		r.date = e.date;
		r.total = e.total;
		r.currency = e.currency;
		r.seller = e.seller;
		r.vatid = einvoice::normalise_vatid(e.vatid);
		std::string iban = einvoice::normalise_iban(e.iban);
		if (!iban.empty() && einvoice::iban_valid(iban))
			r.iban = iban;
	} else {
		if (found.pdfs.empty())
			return r;
		KeywordMatcher keywords(settings_.keywords);
		const std::string *subject = first_header(msg, "Subject");
		bool keyword = subject != nullptr &&
			       !keywords.find(decode_header_text(*subject)).empty();
		for (std::size_t i = 0; !keyword && i < found.pdfs.size(); i++)
			keyword = !keywords.find(found.pdfs[i].filename).empty() ||
				  !keywords.find(found.pdfs[i].text).empty();
		if (!keyword)
			return r;
		r.format = "pdf";
	}
	r.is_invoice = true;
	// No IBAN in the structured data: what a person paying would read,
	// the PDF first, then the mail's text.
	for (std::size_t i = 0; r.iban.empty() && i < found.pdfs.size(); i++)
		r.iban = find_iban(found.pdfs[i].text);
	for (std::size_t i = 0; r.iban.empty() && i < msg.parts.size(); i++) {
		const Part &p = msg.parts[i];
		if (p.content_type == "text/plain" && !p.is_attachment)
			r.iban = find_iban(p.data);
	}

	// ---- the supplier
	const Sender sender = parse_sender(msg);
	std::shared_ptr<const suppliers::SupplierList> list =
		registry_->current([this](int level, const std::string &m) { log(level, m); });
	const suppliers::Supplier *supplier = nullptr;
	std::string identified_by;
	if ((supplier = list->by_vatid(r.vatid)) != nullptr)
		identified_by = "VAT ID " + r.vatid;
	else if ((supplier = list->by_iban(r.iban)) != nullptr)
		identified_by = "IBAN " + format_iban(r.iban);
	else if ((supplier = list->by_address(sender.address)) != nullptr)
		identified_by = "sender address " + sender.address;
	else if ((supplier = list->by_domain(sender.domain)) != nullptr)
		identified_by = "sender domain " + sender.domain;
	if (supplier != nullptr) {
		r.supplier = supplier->name;
		r.folder = supplier->folder;
	}

	// ---- 1. a sender no supplier owns that imitates one
	if (std::string why = lookalike_reason(sender, *list, supplier); !why.empty()) {
		r.verdict = "lookalike-domain";
		r.reason = why;
		return r;
	}

	// ---- 2. nobody we know
	if (supplier == nullptr) {
		r.verdict = "unknown-supplier";
		std::vector<std::string> evidence;
		if (!r.vatid.empty())
			evidence.push_back("VAT ID " + r.vatid);
		if (!r.iban.empty())
			evidence.push_back("IBAN " + format_iban(r.iban));
		if (!sender.domain.empty())
			evidence.push_back("sender " +
					   (sender.address.empty() ? sender.shown : sender.address));
		r.reason = list->empty() ? "no supplier is known (the supplier file is missing, unreadable or empty)" :
		           evidence.empty() ? "no known supplier matches this mail" :
					      "no known supplier matches " + join(evidence, ", ");
		return r;
	}

	// ---- 3. the supplier's invoice, but not from the supplier
	if (!belongs_to(sender, *supplier)) {
		r.verdict = "unauthenticated";
		const std::string whose = "invoice of " + supplier->name + " (by " + identified_by + ")";
		r.reason = sender.domain.empty() ?
				   whose + " has no single From domain" :
				   whose + " sent from foreign domain " + sender.shown +
					   ", not one of " + supplier->name + "'s domains";
		return r;
	}
	authres::Authentication auth = authres::authenticate_from(
		authentication_results(msg), settings_.authserv_ids, sender.domain);
	if (!auth.authenticated) {
		r.verdict = "unauthenticated";
		r.reason = "mail from " + sender.shown + " for " + supplier->name +
			   " is not authenticated: " +
			   (settings_.authserv_ids.empty() ?
				    std::string("no trusted authserv-id is configured "
						"(tresor_authserv_id)") :
				    auth.reason);
		return r;
	}

	// ---- 4. where the money goes
	if (!r.iban.empty() && !supplier->has_iban(r.iban)) {
		r.verdict = "bank-account-changed";
		r.reason = "IBAN " + format_iban(r.iban) + " is not one of " + supplier->name +
			   "'s known accounts" +
			   (supplier->ibans.empty() ? " (the supplier file lists none)" : "");
		return r;
	}

	r.verdict = "trusted";
	r.reason = supplier->name + " identified by " + identified_by + ", " + auth.reason +
		   (r.iban.empty() ? ", no IBAN in the invoice" :
				     ", IBAN " + format_iban(r.iban) + " is a known account");
	return r;
}

} // namespace tresor::invoice
