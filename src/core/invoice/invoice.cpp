#include "invoice/invoice.hpp"

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
#include <unicode/utf8.h>

#include "common/text.hpp"
#include "extract/einvoice.hpp"
#include "invoice/authres.hpp"
#include "invoice/tresor-invoice.h"

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
	"tresor_own_ibans",
	"tresor_invoice_budget",
	nullptr,
};

// ---- settings values

// "15s", "500ms", "2min" for messages.
std::string format_duration(std::chrono::milliseconds ms)
{
	if (ms.count() % 60000 == 0)
		return std::to_string(ms.count() / 60000) + "min";
	if (ms.count() % 1000 == 0)
		return std::to_string(ms.count() / 1000) + "s";
	return std::to_string(ms.count()) + "ms";
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

// ---- invoice keywords as words

// Letters make words; digits, punctuation and spaces separate them.
bool is_letter(UChar32 c)
{
	return u_hasBinaryProperty(c, UCHAR_ALPHABETIC) || u_charType(c) == U_NON_SPACING_MARK;
}

// The text case-folded (NFKC), with a space where a lower-case letter is
// followed by an upper-case one, so that file names like "AcmeInvoice.pdf"
// show their words.
icu::UnicodeString fold_words(std::string_view utf8)
{
	icu::UnicodeString s = icu::UnicodeString::fromUTF8(
		icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
	icu::UnicodeString split;
	UChar32 previous = 0;
	for (int32_t i = 0; i < s.length(); i = s.moveIndex32(i, 1)) {
		UChar32 c = s.char32At(i);
		if (u_islower(previous) && u_isupper(c))
			split.append(static_cast<UChar32>(' '));
		split.append(c);
		previous = c;
	}
	UErrorCode status = U_ZERO_ERROR;
	const icu::Normalizer2 *nfkc_cf = icu::Normalizer2::getNFKCCasefoldInstance(status);
	if (U_FAILURE(status))
		return split.foldCase();
	icu::UnicodeString out = nfkc_cf->normalize(split, status);
	return U_FAILURE(status) ? split.foldCase() : out;
}

// The words of folded text, in order.
std::vector<icu::UnicodeString> words_of(const icu::UnicodeString &folded)
{
	std::vector<icu::UnicodeString> words;
	int32_t start = -1;
	for (int32_t i = 0; i < folded.length(); i = folded.moveIndex32(i, 1)) {
		bool letter = is_letter(folded.char32At(i));
		if (letter && start < 0) {
			start = i;
		} else if (!letter && start >= 0) {
			words.emplace_back(folded, start, i - start); // a copy, not an alias
			start = -1;
		}
	}
	if (start >= 0)
		words.emplace_back(folded, start);
	return words;
}

// German keywords that also count as the last part of a compound noun
// (Eingangsrechnung, Stromrechnung), except after the prefixes that make
// them no invoice (Berechnung, Umrechnung, Verrechnung: calculations and
// set-offs). As first part (Rechnungsnummer) every keyword counts.
struct CompoundTail {
	const char *keyword; // case-folded
	std::vector<const char *> not_after;
};
const CompoundTail compound_tails[] = {
	{"rechnung", {"be", "um", "ver", "an", "zu", "hoch", "nach", "auf", "gegen"}},
	{"gutschrift", {}},
};

// Endings of plurals and inflected forms in the keywords' languages:
// Rechnung-en, invoice-s, factur-en (Dutch factuur), fattur-e, faktur-y,
// faktur-or, creditnota-s, facture-s, avoir-s.
const char *const inflection_endings[] = {"s",  "es", "e",   "en", "n",  "er", "ern",
					  "a",  "as", "i",   "y",  "or", "orna", "an",
					  "ing", "ed", "d", "\u00e9", "\u00e9e", "\u00e9s", "\u00e9es"};

bool is_vowel(UChar32 c)
{
	return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

class KeywordMatcher {
public:
	explicit KeywordMatcher(const std::vector<std::string> &keywords)
	{
		for (const std::string &k : keywords) {
			Keyword kw;
			kw.words = words_of(fold_words(k));
			if (kw.words.empty())
				continue;
			const icu::UnicodeString &last = kw.words.back();
			for (const CompoundTail &t : compound_tails) {
				if (kw.words.size() == 1 && last == icu::UnicodeString::fromUTF8(t.keyword))
					kw.compound = &t;
			}
			// "invoice" -> "invoic" (invoices, invoicing), "factuur" -> "factur"
			// (facturen): stems that need an ending.
			int32_t n = last.length();
			if (n >= 4 && is_vowel(last.char32At(n - 1)))
				kw.stems.emplace_back(last, 0, n - 1);
			if (n >= 4 && is_vowel(last.char32At(n - 2)) &&
			    last.char32At(n - 2) == last.char32At(n - 3))
				kw.stems.push_back(icu::UnicodeString(last, 0, n - 2) +
						   icu::UnicodeString(last, n - 1));
			keywords_.push_back(std::move(kw));
		}
	}
	// The keyword (folded, as UTF-8) found in text; "" when none.
	std::string find(std::string_view text) const
	{
		if (keywords_.empty() || text.empty())
			return "";
		std::vector<icu::UnicodeString> words = words_of(fold_words(text));
		for (const Keyword &k : keywords_) {
			const std::size_t n = k.words.size();
			for (std::size_t i = 0; i + n <= words.size(); i++) {
				bool match = std::equal(k.words.begin(), k.words.end() - 1,
							words.begin() + static_cast<std::ptrdiff_t>(i)) &&
					     last_word_matches(k, words[i + n - 1]);
				if (match) {
					std::string out;
					for (const icu::UnicodeString &w : k.words)
						out += (out.empty() ? "" : " ") + to_utf8(w);
					return out;
				}
			}
		}
		return "";
	}

private:
	struct Keyword {
		std::vector<icu::UnicodeString> words;
		std::vector<icu::UnicodeString> stems; // the last word shortened
		const CompoundTail *compound = nullptr;
	};

	static bool has_inflection_ending(const icu::UnicodeString &word, int32_t from)
	{
		icu::UnicodeString ending = word.tempSubString(from);
		return std::any_of(std::begin(inflection_endings), std::end(inflection_endings),
				   [&](const char *e) {
					   return ending == icu::UnicodeString::fromUTF8(e);
				   });
	}

	static bool last_word_matches(const Keyword &k, const icu::UnicodeString &word)
	{
		const icu::UnicodeString &last = k.words.back();
		if (word == last || (word.startsWith(last) && has_inflection_ending(word, last.length())))
			return true;
		for (const icu::UnicodeString &stem : k.stems) {
			if (word.startsWith(stem) && has_inflection_ending(word, stem.length()))
				return true;
		}
		if (k.compound == nullptr)
			return false;
		for (int32_t at = word.indexOf(last); at >= 0; at = word.indexOf(last, at + 1)) {
			icu::UnicodeString before = word.tempSubString(0, at);
			bool derivation = std::any_of(
				k.compound->not_after.begin(), k.compound->not_after.end(),
				[&](const char *prefix) {
					return before.endsWith(icu::UnicodeString::fromUTF8(prefix));
				});
			if (!derivation)
				return true;
		}
		return false;
	}

	std::vector<Keyword> keywords_;
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

// Characters that may stand between the groups of a printed IBAN, in
// case-folded NFKC text (which already made no-break and thin spaces plain
// spaces and dropped soft hyphens and zero-width characters): white space,
// '-' and the Unicode hyphens and en dash. Returns the length of the run at
// i (at most three characters, at most one line break), 0 when none.
std::size_t iban_separator_length(std::string_view text, std::size_t i)
{
	static constexpr std::string_view dashes[] = {"\xE2\x80\x90", "\xE2\x80\x91",
						      "\xE2\x80\x93"};
	std::size_t j = i;
	int chars = 0, breaks = 0;
	while (j < text.size() && chars < 3) {
		char c = text[j];
		if (c == ' ' || c == '\t' || c == '-') {
			j++;
		} else if (c == '\n' || c == '\r') {
			if (breaks++ > 0)
				break;
			j += text.substr(j, 2) == "\r\n" ? 2 : 1;
		} else if (auto dash = std::find_if(std::begin(dashes), std::end(dashes),
						    [&](std::string_view d) {
							    return text.substr(j).starts_with(d);
						    });
			   dash != std::end(dashes)) {
			j += dash->size();
		} else {
			break;
		}
		chars++;
	}
	return j - i;
}

// The code point before byte offset i (-1 at the start or when invalid).
UChar32 code_point_before(std::string_view text, std::size_t i)
{
	if (i == 0)
		return -1;
	int32_t at = static_cast<int32_t>(i);
	UChar32 c;
	U8_PREV(reinterpret_cast<const uint8_t *>(text.data()), 0, at, c);
	return c;
}

// The code point at byte offset i (-1 at the end or when invalid).
UChar32 code_point_at(std::string_view text, std::size_t i)
{
	if (i >= text.size())
		return -1;
	int32_t at = static_cast<int32_t>(i);
	UChar32 c;
	U8_NEXT(reinterpret_cast<const uint8_t *>(text.data()), at,
		static_cast<int32_t>(text.size()), c);
	return c;
}

// The IBAN printed at i in folded text (lower case), or "" when there is
// none: a country of the IBAN register, two check digits, then letters and
// digits in groups up to exactly that country's length. Not after a digit
// and not followed by one (then it is part of a longer number); a letter
// may precede it ("IBANDE89...", a label glued on, as a reader still sees
// it) or follow its last digit ("...013000Bitte"), never its last letter
// (where that account would end is anyone's guess). end_r: the offset
// after it.
std::string iban_at(std::string_view text, std::size_t i, std::size_t &end_r)
{
	auto lower = [](char c) { return c >= 'a' && c <= 'z'; };
	auto alnum = [&](std::size_t k) {
		return k < text.size() && (lower(text[k]) || text::is_ascii_digit(text[k]));
	};
	if (i + 4 > text.size() || !lower(text[i]) || !lower(text[i + 1]) ||
	    u_isdigit(code_point_before(text, i)))
		return "";
	std::string compact = tresor::text::ascii_uppercase(text.substr(i, 2));
	const std::size_t length = einvoice::iban_length(compact);
	if (length == 0)
		return "";
	std::size_t j = i + 2;
	// "DE 89 3704 ...": the country code may stand apart.
	if (std::size_t sep = iban_separator_length(text, j); sep > 0 && alnum(j + sep))
		j += sep;
	if (!(j + 2 <= text.size() && text::is_ascii_digit(text[j]) && text::is_ascii_digit(text[j + 1])))
		return "";
	while (compact.size() < length) {
		if (alnum(j)) {
			compact += tresor::text::ascii_upper(text[j]);
			j++;
			continue;
		}
		std::size_t sep = iban_separator_length(text, j);
		if (sep == 0 || !alnum(j + sep))
			break;
		j += sep;
	}
	if (compact.size() != length)
		return "";
	UChar32 next = code_point_at(text, j);
	if (u_isdigit(next) || (u_isalpha(next) && !text::is_ascii_digit(compact.back())))
		return "";
	if (!einvoice::iban_valid(compact))
		return "";
	end_r = j;
	return compact;
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
	       text::iends_with(p.filename, ".xml");
}

bool is_pdf_part(const Part &p)
{
	if (p.content_type == "application/pdf" || p.content_type == "application/x-pdf" ||
	    text::iends_with(p.filename, ".pdf"))
		return true;
	return p.content_type == "application/octet-stream" && p.data.starts_with("%PDF-");
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

Settings::Settings() = default;

std::vector<std::string> Settings::default_keywords()
{
	// Matched as words with their plurals; Rechnung and Gutschrift also
	// inside German compounds (see KeywordMatcher).
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
		return ConfigError(n + ": invalid value " + text::quoted(value) + " (" + why + ")");
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
	} else if (name == "tresor_own_ibans") {
		std::vector<std::string> list;
		for (const std::string &written : suppliers::split_ibans(value)) {
			std::string iban = einvoice::normalise_iban(written);
			if (!einvoice::iban_valid(iban))
				throw bad("invalid IBAN " + text::quoted(written) +
					  ": wrong format or check digits");
			text::add_unique(list, std::move(iban));
		}
		own_ibans = std::move(list);
	} else if (name == "tresor_invoice_budget") {
		std::chrono::milliseconds ms;
		try {
			ms = parse_duration(value);
		} catch (const std::invalid_argument &e) {
			throw bad(std::string(e.what()) + "; expected e.g. 15s or 1min");
		}
		if (ms.count() < 100 || ms > std::chrono::hours(1))
			throw bad("expected between 100ms and 1h");
		budget = ms;
	} else if (!helper.set(name, value)) {
		std::string known;
		for (const char *const *k = setting_name_list; *k != nullptr; k++)
			known += std::string(known.empty() ? "" : ", ") + *k;
		throw ConfigError("unknown setting " + text::quoted(name) + " (known settings: " +
				  known + ")");
	}
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

std::vector<std::string> find_ibans(std::string_view text)
{
	// Case-folded NFKC: "de89", full-width digits, no-break spaces, soft
	// hyphens and zero-width characters all become what a reader sees.
	const std::string folded = to_utf8(fold(text));
	std::vector<std::string> found;
	for (std::size_t i = 0; i < folded.size(); i++) {
		std::size_t end = i;
		std::string iban = iban_at(folded, i, end);
		if (iban.empty())
			continue;
		text::add_unique(found, std::move(iban));
		i = end - 1;
	}
	return found;
}

std::string describe_part(const Part &p, std::size_t index)
{
	if (!p.filename.empty())
		return "attachment " + text::quoted(p.filename);
	return "attachment #" + std::to_string(index + 1) + " (" + p.content_type + ")";
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

namespace {

// Appends what the character reference "&ref;" stands for and returns true;
// false for one it doesn't know, which then stays as written.
bool append_character_reference(std::string_view ref, std::string &out)
{
	// What the named entities that matter for words and IBANs stand for.
	static constexpr std::pair<std::string_view, std::string_view> entities[] = {
		{"amp", "&"},          {"apos", "'"},         {"emsp", "\xE2\x80\x83"},
		{"ensp", "\xE2\x80\x82"}, {"gt", ">"},          {"hyphen", "\xE2\x80\x90"},
		{"lt", "<"},           {"mdash", "\xE2\x80\x94"}, {"nbsp", "\xC2\xA0"},
		{"ndash", "\xE2\x80\x93"}, {"quot", "\""},       {"shy", "\xC2\xAD"},
		{"thinsp", "\xE2\x80\x89"}, {"zwj", "\xE2\x80\x8D"}, {"zwnj", "\xE2\x80\x8C"},
		{"auml", "\xC3\xA4"}, {"ouml", "\xC3\xB6"}, {"uuml", "\xC3\xBC"},
		{"Auml", "\xC3\x84"}, {"Ouml", "\xC3\x96"}, {"Uuml", "\xC3\x9C"},
		{"szlig", "\xC3\x9F"}, {"euro", "\xE2\x82\xAC"},
	};
	if (ref.size() >= 2 && ref.front() == '#') {
		bool hex = ref[1] == 'x' || ref[1] == 'X';
		std::string_view digits = ref.substr(hex ? 2 : 1);
		if (digits.empty())
			return false;
		UChar32 cp = 0;
		for (char d : digits) {
			int v = hex ? text::hex_digit_value(d) :
				      (text::is_ascii_digit(d) ? d - '0' : -1);
			if (v < 0 || cp > 0x10FFFF)
				return false;
			cp = cp * (hex ? 16 : 10) + v;
		}
		if (cp == 0 || cp > 0x10FFFF || U_IS_SURROGATE(cp))
			cp = 0xFFFD;
		icu::UnicodeString(cp).toUTF8String(out);
		return true;
	}
	auto known = std::find_if(std::begin(entities), std::end(entities),
				  [&](const auto &e) { return e.first == ref; });
	if (known == std::end(entities))
		return false;
	out += known->second;
	return true;
}

} // namespace

std::string html_to_text(std::string_view html)
{
	// Elements that start a new line where a reader sees them; other tags
	// vanish, so that "DE89<b>3704</b>" reads as one word, as on screen.
	static constexpr std::string_view block_tags[] = {
		"address", "article", "blockquote", "br", "caption", "center", "dd", "div",
		"dl", "dt", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
		"li", "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot", "th",
		"thead", "title", "tr", "ul"};
	std::string out;
	out.reserve(html.size());
	std::size_t i = 0;
	while (i < html.size()) {
		char c = html[i];
		if (c == '<') {
			if (html.substr(i, 4) == "<!--") {
				std::size_t end = html.find("-->", i + 4);
				i = end == std::string_view::npos ? html.size() : end + 3;
				continue;
			}
			std::size_t end = html.find('>', i + 1);
			if (end == std::string_view::npos) {
				out += html.substr(i);
				break;
			}
			std::string_view tag = html.substr(i + 1, end - i - 1);
			bool closing = !tag.empty() && tag.front() == '/';
			bool self_closing = !tag.empty() && tag.back() == '/';
			if (closing)
				tag.remove_prefix(1);
			std::size_t name_end = 0;
			while (name_end < tag.size() && text::is_ascii_alnum(tag[name_end]))
				name_end++;
			std::string name = ascii_lowercase(tag.substr(0, name_end));
			i = end + 1;
			// Script and style content is no text anyone reads.
			if ((name == "script" || name == "style") && !closing && !self_closing) {
				std::size_t close = i;
				while ((close = html.find("</", close)) != std::string_view::npos &&
				       !iequals(html.substr(close + 2, name.size()), name))
					close += 2;
				if (close == std::string_view::npos) {
					i = html.size();
				} else {
					std::size_t gt = html.find('>', close);
					i = gt == std::string_view::npos ? html.size() : gt + 1;
				}
				continue;
			}
			if (std::find(std::begin(block_tags), std::end(block_tags), name) !=
			    std::end(block_tags))
				out += '\n';
			continue;
		}
		if (c == '&') {
			std::size_t semi = html.find(';', i + 1);
			if (semi != std::string_view::npos && semi - i <= 10 &&
			    append_character_reference(html.substr(i + 1, semi - i - 1), out)) {
				i = semi + 1;
				continue;
			}
		}
		out += c;
		i++;
	}
	return out;
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

extract::Document Analyser::read_document(extract::Kind kind, std::string_view data,
					   std::chrono::milliseconds time_left) const
{
	if (reader_)
		return reader_(kind, data);
	// Checked here so that a missing helper is reported as what it is,
	// an installation problem, rather than as one broken attachment.
	if (::access(settings_.helper.path.c_str(), X_OK) != 0) {
		int err = errno;
		throw HelperError("tresor_extract: can't run " + settings_.helper.path + ": " +
				  std::strerror(err));
	}
	// No document may take more than what is left of the mail's budget.
	extract::Limits limits = settings_.helper.limits;
	auto left_ms = static_cast<unsigned>(std::max<std::int64_t>(time_left.count(), 100));
	if (left_ms < limits.timeout_ms) {
		limits.timeout_ms = left_ms;
		limits.cpu_seconds = std::min(limits.cpu_seconds, (left_ms + 999) / 1000);
	}
	return extract::analyse(settings_.helper.path, kind, data, limits);
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
	const auto start = std::chrono::steady_clock::now();
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
		f.any_document = true;
		const std::string what = describe_part(p, i);
		if (analysed == max_documents) {
			f.unanalysed.push_back(what + " was not analysed (more than " +
					       std::to_string(max_documents) + " documents)");
			continue;
		}
		auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
			std::chrono::steady_clock::now() - start);
		if (spent >= settings_.budget) {
			const std::string why = "the per-mail budget tresor_invoice_budget (" +
						format_duration(settings_.budget) + ") was used up";
			log(2, "tresor invoice: " + what + " not analysed: " + why);
			f.unanalysed.push_back(what + " was not analysed (" + why + ")");
			continue;
		}
		analysed++;

		extract::Document d = read_document(kind, p.data, settings_.budget - spent);
		if (!d.ok) {
			log(2, "tresor invoice: " + what + " could not be analysed" +
				       (d.warnings.empty() ? "" : ": " + text::join(d.warnings, "; ")));
			f.unanalysed.push_back(what + " could not be analysed");
		} else {
			for (const std::string &w : d.warnings)
				log(2, "tresor invoice: " + what + ": " + w);
		}
		const std::string name = p.filename.empty() ? "#" + std::to_string(i + 1) :
							      text::quoted(p.filename);
		if (d.einvoice)
			f.einvoices.push_back({std::move(*d.einvoice),
					       kind == extract::Kind::pdf ?
						       "the e-invoice XML in PDF " + name :
						       "the e-invoice XML " + name});
		if (kind == extract::Kind::pdf)
			f.pdfs.push_back({p.filename, std::move(d.text), "the PDF " + name});
	}
	if (found > max_documents)
		log(2, "tresor invoice: " + std::to_string(found) +
			       " documents attached, only the first " +
			       std::to_string(max_documents) + " are analysed");
	return f;
}

namespace {

// An account found in the mail, and everywhere it was found.
struct Sighting {
	std::string iban;  // normalised
	bool valid = true; // false only for an e-invoice's account
	std::vector<std::string> places;
};

std::string text_part_place(const Part &p, std::size_t index)
{
	bool html = p.content_type == "text/html";
	if (!p.is_attachment)
		return html ? "the HTML mail text" : "the mail text";
	return std::string(html ? "the HTML attachment " : "the text attachment ") +
	       (p.filename.empty() ? "#" + std::to_string(index + 1) : text::quoted(p.filename));
}

// Every payee account of the mail in the order a payer meets them: the
// e-invoices' payee accounts, the PDFs' text, the text and HTML parts. The
// business's own accounts are left out wherever they appear.
class PayeeAccounts {
public:
	explicit PayeeAccounts(const std::vector<std::string> &own) : own_(own) {}

	void add(const std::string &iban, bool valid, const std::string &place)
	{
		if (is_own(iban))
			return;
		auto it = std::find_if(list_.begin(), list_.end(),
				       [&](const Sighting &s) { return s.iban == iban; });
		if (it == list_.end()) {
			list_.push_back({iban, valid, {place}});
		} else if (std::find(it->places.begin(), it->places.end(), place) ==
			   it->places.end()) {
			it->places.push_back(place);
		}
	}
	void add_text(std::string_view text, const std::string &place)
	{
		for (const std::string &iban : find_ibans(text))
			add(iban, true, place);
	}
	// Its payee accounts as written (a wrong check digit is reported, not
	// dropped), and the buyer's accounts a direct debit draws on.
	void add_einvoice(const einvoice::Invoice &invoice, const std::string &place)
	{
		for (const std::string &written : invoice.payee_ibans) {
			std::string iban = einvoice::normalise_iban(written);
			add(iban, einvoice::iban_valid(iban), place);
		}
		for (const std::string &iban : invoice.debtor_ibans)
			debtor_ibans_.push_back(einvoice::normalise_iban(iban));
		direct_debit_ = direct_debit_ || invoice.direct_debit;
	}
	void add_text_parts(const Message &msg)
	{
		for (std::size_t i = 0; i < msg.parts.size(); i++) {
			const Part &p = msg.parts[i];
			if (p.content_type == "text/plain")
				add_text(p.data, text_part_place(p, i));
			else if (p.content_type == "text/html")
				add_text(html_to_text(p.data), text_part_place(p, i));
		}
	}
	bool is_own(const std::string &iban) const
	{
		return std::find(own_.begin(), own_.end(), iban) != own_.end();
	}
	bool is_debtor(const std::string &iban) const
	{
		return std::find(debtor_ibans_.begin(), debtor_ibans_.end(), iban) !=
		       debtor_ibans_.end();
	}
	bool direct_debit() const { return direct_debit_; }
	const std::vector<Sighting> &all() const { return list_; }

private:
	const std::vector<std::string> &own_;
	std::vector<Sighting> list_;
	std::vector<std::string> debtor_ibans_;
	bool direct_debit_ = false;
};

std::string describe_sighting(const Sighting &s)
{
	return "IBAN " + s.iban + " in " + text::join(s.places, " and ");
}

// ${invoice.iban}: the e-invoice's payee account as written; without one,
// the first account the mail shows.
std::string shown_payee_iban(const einvoice::Invoice *einvoice, const PayeeAccounts &accounts)
{
	if (einvoice != nullptr) {
		for (const std::string &written : einvoice->payee_ibans) {
			std::string iban = einvoice::normalise_iban(written);
			if (!accounts.is_own(iban))
				return iban;
		}
	}
	return accounts.all().empty() ? std::string() : accounts.all().front().iban;
}

// Every address of every From field; "" for a field without one.
std::vector<std::string> from_addresses(const Message &msg)
{
	std::vector<std::string> all;
	for (const auto &[name, value] : msg.headers) {
		if (!iequals(name, "From"))
			continue;
		std::vector<std::string> addresses = authres::header_addresses(value);
		if (addresses.empty())
			addresses.push_back(""); // a second From field counts even without one
		for (std::string &a : addresses)
			all.push_back(std::move(a));
	}
	return all;
}

struct Identification {
	const suppliers::Supplier *supplier = nullptr;
	std::string by; // "VAT ID ...", "IBAN ...", "sender address ...", ...
};

// The first supplier that matches, by VAT ID, a valid payee IBAN, the From
// address, the From domain.
Identification identify_supplier(const suppliers::SupplierList &list, const std::string &vatid,
				 const PayeeAccounts &accounts, const Sender &sender)
{
	if (const suppliers::Supplier *s = list.by_vatid(vatid))
		return {s, "VAT ID " + vatid};
	for (const Sighting &sighting : accounts.all()) {
		if (!sighting.valid)
			continue;
		if (const suppliers::Supplier *s = list.by_iban(sighting.iban))
			return {s, "IBAN " + sighting.iban};
	}
	if (const suppliers::Supplier *s = list.by_address(sender.address))
		return {s, "sender address " + sender.address};
	if (const suppliers::Supplier *s = list.by_domain(sender.domain))
		return {s, "sender domain " + sender.domain};
	return {};
}

std::string several_senders_reason(const std::vector<std::string> &from_addresses)
{
	std::vector<std::string> shown;
	for (const std::string &a : from_addresses)
		shown.push_back(a.empty() ? std::string("(no address)") : text::quoted(a));
	return "From names " + std::to_string(from_addresses.size()) + " senders (" +
	       text::join(shown, ", ") + "): an invoice is trusted only from a single sender";
}

std::string unknown_supplier_reason(const suppliers::SupplierList &list, const Result &r,
				    const Sender &sender)
{
	if (list.empty())
		return "no supplier is known (the supplier file is missing, unreadable or empty)";
	std::vector<std::string> evidence;
	if (!r.vatid.empty())
		evidence.push_back("VAT ID " + r.vatid);
	if (!r.iban.empty())
		evidence.push_back("IBAN " + r.iban);
	if (!sender.domain.empty())
		evidence.push_back("sender " +
				   (sender.address.empty() ? sender.shown : sender.address));
	return evidence.empty() ? "no known supplier matches this mail" :
				  "no known supplier matches " + text::join(evidence, ", ");
}

std::string foreign_sender_reason(const Identification &id, const Sender &sender)
{
	const std::string &name = id.supplier->name;
	const std::string whose = "invoice of " + name + " (by " + id.by + ")";
	return sender.domain.empty() ? whose + " has no single From domain" :
				       whose + " sent from foreign domain " + sender.shown +
					       ", not one of " + name + "'s domains";
}

// Why the money may not go to the supplier: accounts that are no valid
// IBAN or not the supplier's, documents nobody could read; none when every
// account is known.
std::vector<std::string> account_problems(const PayeeAccounts &accounts,
					  const suppliers::Supplier &supplier,
					  const std::vector<std::string> &unanalysed)
{
	std::vector<std::string> problems, unknown;
	for (const Sighting &s : accounts.all()) {
		if (!s.valid) {
			problems.push_back(describe_sighting(s) +
					   " is no valid IBAN (wrong check digits, length or format)");
		} else if (!supplier.has_iban(s.iban)) {
			std::string line = describe_sighting(s);
			if (accounts.is_debtor(s.iban))
				line += " (the e-invoice names it as the account its direct debit "
					"draws on; list your own accounts in tresor_own_ibans)";
			unknown.push_back(std::move(line));
		}
	}
	// What wasn't read may hold any account: nobody can say it is known.
	for (const std::string &u : unanalysed)
		problems.push_back(u + ": its accounts are unknown");
	if (!unknown.empty()) {
		problems.push_back(text::join(unknown, ", ") +
				   (unknown.size() == 1 ? " is" : " are") + " not one of " +
				   supplier.name + "'s known accounts" +
				   (supplier.ibans.empty() ? " (the supplier file lists none)" : ""));
	}
	return problems;
}

std::string trusted_reason(const Identification &id, const std::string &authentication,
			   const PayeeAccounts &accounts)
{
	std::vector<std::string> known;
	for (const Sighting &s : accounts.all())
		known.push_back(s.iban);
	std::string reason = id.supplier->name + " identified by " + id.by + ", " + authentication;
	if (known.empty())
		return reason + (accounts.direct_debit() ?
					 ", paid by direct debit, no payee IBAN in the mail" :
					 ", no IBAN in the invoice");
	return reason + ", IBAN " + text::join(known, ", ") +
	       (known.size() == 1 ? " is a known account" : " are known accounts");
}

} // namespace

// Fills the invoice fields of r; false when the mail is no invoice.
bool Analyser::recognise_invoice(const Message &msg, const Findings &found, Result &r) const
{
	if (!found.einvoices.empty()) {
		const einvoice::Invoice &e = found.einvoices.front().invoice;
		r.is_einvoice = true;
		r.format = e.format;
		r.number = e.number;
		r.date = e.date;
		r.total = e.total;
		r.currency = e.currency;
		r.seller = e.seller;
		r.vatid = einvoice::normalise_vatid(e.vatid);
	} else {
		if (found.pdfs.empty())
			return false;
		KeywordMatcher keywords(settings_.keywords);
		const std::string *subject = first_header(msg, "Subject");
		bool keyword = subject != nullptr &&
			       !keywords.find(decode_header_text(*subject)).empty();
		for (std::size_t i = 0; !keyword && i < found.pdfs.size(); i++)
			keyword = !keywords.find(found.pdfs[i].filename).empty() ||
				  !keywords.find(found.pdfs[i].text).empty();
		if (!keyword)
			return false;
		r.format = "pdf";
	}
	r.is_invoice = true;
	return true;
}

Result Analyser::analyse(const Message &msg) const
{
	Result r;
	Findings found = read_documents(msg);
	if (!found.any_document || !recognise_invoice(msg, found, r))
		return r;

	// ---- where the money would go: every payee account, from every place
	// a person or an ERP could pay from
	PayeeAccounts accounts(settings_.own_ibans);
	for (const Findings::Einvoice &e : found.einvoices)
		accounts.add_einvoice(e.invoice, e.place);
	for (const Findings::Pdf &pdf : found.pdfs)
		accounts.add_text(pdf.text, pdf.place);
	accounts.add_text_parts(msg);
	const einvoice::Invoice *first_einvoice =
		found.einvoices.empty() ? nullptr : &found.einvoices.front().invoice;
	r.iban = shown_payee_iban(first_einvoice, accounts);

	// ---- the supplier
	const Sender sender = parse_sender(msg);
	const std::vector<std::string> senders = from_addresses(msg);
	std::shared_ptr<const suppliers::SupplierList> list =
		registry_->current([this](int level, const std::string &m) { log(level, m); });
	const Identification id = identify_supplier(*list, r.vatid, accounts, sender);
	if (id.supplier != nullptr) {
		r.supplier = id.supplier->name;
		r.folder = id.supplier->folder;
	}

	// ---- 1. a sender no supplier owns that imitates one
	if (std::string why = lookalike_reason(sender, *list, id.supplier); !why.empty()) {
		r.verdict = "lookalike-domain";
		r.reason = why;
		return r;
	}
	// ---- 2. several senders: none of them alone vouches for the mail,
	// and DMARC authenticates at most one domain
	if (senders.size() > 1) {
		r.verdict = "unauthenticated";
		r.reason = several_senders_reason(senders);
		return r;
	}
	// ---- 3. nobody we know
	if (id.supplier == nullptr) {
		r.verdict = "unknown-supplier";
		r.reason = unknown_supplier_reason(*list, r, sender);
		return r;
	}
	// ---- 4. the supplier's invoice, but not from the supplier
	if (!belongs_to(sender, *id.supplier)) {
		r.verdict = "unauthenticated";
		r.reason = foreign_sender_reason(id, sender);
		return r;
	}
	authres::Authentication auth = authres::authenticate_from(
		authentication_results(msg), settings_.authserv_ids, sender.domain);
	if (!auth.authenticated) {
		r.verdict = "unauthenticated";
		r.reason = "mail from " + sender.shown + " for " + id.supplier->name +
			   " is not authenticated: " +
			   (settings_.authserv_ids.empty() ?
				    std::string("no trusted authserv-id is configured "
						"(tresor_authserv_id)") :
				    auth.reason);
		return r;
	}
	// ---- 5. where the money goes: every account must be the supplier's
	if (std::vector<std::string> problems =
		    account_problems(accounts, *id.supplier, found.unanalysed);
	    !problems.empty()) {
		r.verdict = "bank-account-changed";
		r.reason = text::join(problems, "; ");
		return r;
	}
	r.verdict = "trusted";
	r.reason = trusted_reason(id, auth.reason, accounts);
	return r;
}

} // namespace tresor::invoice
