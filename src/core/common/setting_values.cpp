#include "common/setting_values.hpp"

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <stdexcept>

#include "common/text.hpp"

namespace tresor {

namespace {

// Items of a setting list are separated by SP and HTAB.
bool is_list_space(char c)
{
	return c == ' ' || c == '\t';
}

std::uint64_t parse_number(std::string_view &v)
{
	if (v.empty() || !text::is_ascii_digit(v.front()))
		throw std::invalid_argument("expected a number");
	std::uint64_t n = 0;
	while (!v.empty() && text::is_ascii_digit(v.front())) {
		unsigned d = static_cast<unsigned>(v.front() - '0');
		if (n > (std::numeric_limits<std::uint64_t>::max() - d) / 10)
			throw std::invalid_argument("number too large");
		n = n * 10 + d;
		v.remove_prefix(1);
	}
	v = text::trim_space(v);
	return n;
}

bool unit_is(std::string_view unit, std::initializer_list<const char *> names)
{
	return std::any_of(names.begin(), names.end(),
			   [&](const char *n) { return text::iequals(unit, n); });
}

std::uint64_t checked_multiply(std::uint64_t n, std::uint64_t factor)
{
	if (factor != 0 && n > std::numeric_limits<std::uint64_t>::max() / factor)
		throw std::invalid_argument("number too large");
	return n * factor;
}

} // namespace

std::vector<std::string> split_setting_list(std::string_view value)
{
	std::vector<std::string> out;
	std::size_t i = 0;
	while (i < value.size()) {
		if (is_list_space(value[i])) {
			i++;
			continue;
		}
		std::string item;
		if (value[i] == '"') {
			i++;
			bool closed = false;
			while (i < value.size()) {
				char c = value[i++];
				if (c == '"') {
					closed = true;
					break;
				}
				if (c == '\\' && i < value.size() &&
				    (value[i] == '"' || value[i] == '\\'))
					c = value[i++];
				item += c;
			}
			if (!closed)
				throw std::invalid_argument("unterminated double quote");
			if (i < value.size() && !is_list_space(value[i]))
				throw std::invalid_argument(
					"a closing double quote must be followed by a space");
		} else {
			while (i < value.size() && !is_list_space(value[i]))
				item += value[i++];
		}
		out.push_back(std::move(item));
	}
	return out;
}

std::chrono::milliseconds parse_duration(std::string_view value)
{
	std::string_view v = text::trim_space(value);
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
		throw std::invalid_argument("unknown unit " + text::quoted(v));
	std::uint64_t ms = checked_multiply(n, factor);
	if (ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
		throw std::invalid_argument("number too large");
	return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

std::uint64_t parse_size(std::string_view value)
{
	std::string_view v = text::trim_space(value);
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
		throw std::invalid_argument("unknown unit " + text::quoted(v));
	return checked_multiply(n, factor);
}

} // namespace tresor
