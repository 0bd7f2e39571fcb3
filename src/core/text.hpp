// Small ASCII text helpers shared by the core (locale-independent on
// purpose: header names, domains, settings and hex are ASCII).
#pragma once

#include <string>
#include <string_view>

namespace tresor::text {

inline char ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string ascii_lowercase(std::string_view s)
{
	std::string out(s);
	for (char &c : out)
		c = ascii_lower(c);
	return out;
}

inline char ascii_upper(char c)
{
	return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

inline std::string ascii_uppercase(std::string_view s)
{
	std::string out(s);
	for (char &c : out)
		c = ascii_upper(c);
	return out;
}

inline bool iequals(std::string_view a, std::string_view b)
{
	if (a.size() != b.size())
		return false;
	for (std::size_t i = 0; i < a.size(); i++) {
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return false;
	}
	return true;
}

// 0..15 for a hexadecimal digit (either case), -1 otherwise.
inline int hex_digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

// SP, HTAB, CR or LF.
inline bool is_ascii_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Without leading and trailing SP, HTAB, CR and LF.
inline std::string_view trim_space(std::string_view s)
{
	while (!s.empty() && is_ascii_space(s.front()))
		s.remove_prefix(1);
	while (!s.empty() && is_ascii_space(s.back()))
		s.remove_suffix(1);
	return s;
}

} // namespace tresor::text
