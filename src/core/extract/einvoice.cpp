#include "extract/einvoice.hpp"

#include "common/text.hpp"

namespace tresor::einvoice {

namespace {

// The ISO 13616 IBAN register: country and IBAN length.
struct IbanLength {
	char country[3];
	unsigned length;
};
constexpr IbanLength kIbanLengths[] = {
	{"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
	{"BG", 22}, {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22},
	{"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20},
	{"EG", 29}, {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22},
	{"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HN", 28}, {"HR", 21},
	{"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30},
	{"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
	{"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20},
	{"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23},
	{"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22},
	{"RU", 33}, {"SA", 24}, {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24},
	{"SM", 27}, {"SO", 23}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26},
	{"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}, {"YE", 30},
};

} // namespace

std::string normalise_vatid(std::string_view vatid)
{
	std::string out;
	for (char c : vatid) {
		if (text::is_ascii_space(c) || c == '.' || c == '-')
			continue;
		out += text::ascii_upper(c);
	}
	return out;
}

std::string normalise_iban(std::string_view iban)
{
	std::string out;
	for (char c : iban) {
		if (text::is_ascii_space(c))
			continue;
		out += text::ascii_upper(c);
	}
	return out;
}

unsigned iban_length(std::string_view country)
{
	for (const IbanLength &known : kIbanLengths) {
		if (country == known.country)
			return known.length;
	}
	return 0;
}

bool iban_valid(std::string_view iban)
{
	if (iban.size() < 15 || iban.size() > 34)
		return false;
	auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
	if (!upper(iban[0]) || !upper(iban[1]) || !text::is_ascii_digit(iban[2]) || !text::is_ascii_digit(iban[3]))
		return false;
	// ISO 7064 MOD 97-10 only computes 02..98; 00, 01 and 99 pass the
	// remainder test for the IBAN whose check digits are 97, 98 or 02.
	if (iban.substr(2, 2) == "00" || iban.substr(2, 2) == "01" || iban.substr(2, 2) == "99")
		return false;
	unsigned length = iban_length(iban.substr(0, 2));
	if (length != 0 && iban.size() != length)
		return false;

	// Country code and check digits move to the end, letters count as
	// 10..35, and the whole number mod 97 must be 1.
	unsigned remainder = 0;
	for (std::size_t i = 0; i < iban.size(); i++) {
		char c = iban[(i + 4) % iban.size()];
		if (text::is_ascii_digit(c))
			remainder = (remainder * 10 + static_cast<unsigned>(c - '0')) % 97;
		else if (upper(c))
			remainder = (remainder * 100 + static_cast<unsigned>(c - 'A' + 10)) % 97;
		else
			return false;
	}
	return remainder == 1;
}

} // namespace tresor::einvoice
