// Setting values as every library parses them: lists, durations, sizes,
// and the error a bad value gives.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tresor {

// A bad setting value or an unknown setting; what() names the setting.
class ConfigError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// Splits a space-separated list (SP and HTAB separate items; an item may be
// enclosed in double quotes to contain spaces, with \" and \\ escapes).
// Throws std::invalid_argument with a reason on an unterminated quote.
std::vector<std::string> split_setting_list(std::string_view value);

// "10s", "500ms", "2min", "1h", or a bare number of seconds. Throws
// std::invalid_argument with a reason.
std::chrono::milliseconds parse_duration(std::string_view value);
// "256M", "1G", "65536k", or a bare number of bytes (1024-based units).
// Throws std::invalid_argument with a reason.
std::uint64_t parse_size(std::string_view value);

} // namespace tresor
