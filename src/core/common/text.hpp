// Small ASCII text helpers shared by the core (locale-independent on
// purpose: header names, domains, settings and hex are ASCII).
#pragma once

#include <string>
#include <string_view>
#include <vector>

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

inline bool is_ascii_digit(char c)
{
	return c >= '0' && c <= '9';
}

inline bool is_ascii_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

inline bool is_ascii_alnum(char c)
{
	return is_ascii_digit(c) || is_ascii_upper(c) || (c >= 'a' && c <= 'z');
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

// s ends with suffix, ASCII case ignored.
inline bool iends_with(std::string_view s, std::string_view suffix)
{
	return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
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

// C0 control characters and DEL.
inline bool is_control_char(char c)
{
	auto u = static_cast<unsigned char>(c);
	return u < 0x20 || u == 0x7f;
}

inline bool has_control_char(std::string_view s)
{
	for (char c : s) {
		if (is_control_char(c))
			return true;
	}
	return false;
}

// Foreign text as it may appear in an error message, a log line or a Sieve
// variable: control characters shown as '?', cut after max_bytes ("...").
inline std::string printable(std::string_view s, std::size_t max_bytes = 200)
{
	std::string out;
	for (char c : s.substr(0, max_bytes))
		out += is_control_char(c) ? '?' : c;
	if (s.size() > max_bytes)
		out += "...";
	return out;
}

// printable() in single quotes: a setting value or name in an error.
inline std::string quoted(std::string_view s, std::size_t max_bytes = 200)
{
	return "'" + printable(s, max_bytes) + "'";
}

inline std::string join(const std::vector<std::string> &items, std::string_view sep)
{
	std::string out;
	for (const std::string &item : items) {
		if (!out.empty())
			out += sep;
		out += item;
	}
	return out;
}

// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a
// line end, quotes doubled.
inline std::string csv_field(std::string_view v)
{
	if (v.find_first_of(",\"\r\n") == std::string_view::npos)
		return std::string(v);
	std::string out = "\"";
	for (char c : v) {
		if (c == '"')
			out += '"';
		out += c;
	}
	return out + "\"";
}

// Appends value unless list already holds it: a list without repeats in
// the order items were first seen (the order reasons and logs show, so a
// set won't do; the lists are short).
inline void add_unique(std::vector<std::string> &list, std::string value)
{
	for (const std::string &item : list) {
		if (item == value)
			return;
	}
	list.push_back(std::move(value));
}

} // namespace tresor::text
