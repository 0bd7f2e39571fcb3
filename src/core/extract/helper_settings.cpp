#include "extract/helper_settings.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <stdexcept>

#include "common/setting_values.hpp"
#include "common/text.hpp"

// Where make install puts the helper (the build passes it); tresor_extract
// overrides it.
#ifndef TRESOR_EXTRACT_DEFAULT_PATH
#  define TRESOR_EXTRACT_DEFAULT_PATH "/usr/lib/dovecot/tresor-extract"
#endif

namespace tresor::extract {

HelperSettings::HelperSettings() : path(TRESOR_EXTRACT_DEFAULT_PATH) {}

bool HelperSettings::set(std::string_view name, std::string_view value)
{
	auto bad = [&](const std::string &why) {
		return ConfigError(std::string(name) + ": invalid value " + text::quoted(value) +
				   " (" + why + ")");
	};
	if (name == "tresor_extract") {
		std::string_view v = text::trim_space(value);
		if (v.empty() || v.front() != '/')
			throw bad("expected the absolute path of the tresor-extract helper");
		path = std::string(v);
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
		limits.cpu_seconds = std::min(Limits{}.cpu_seconds, timeout_seconds);
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
		return false;
	}
	return true;
}

} // namespace tresor::extract
