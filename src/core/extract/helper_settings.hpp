// The settings of the tresor-extract helper, shared by every plugin that
// runs it (the invoice extension, the FTS backend): one parser, so that the
// same plugin { } value means the same helper and limits everywhere, and so
// that a plugin needs only this library, not another plugin's.
#pragma once

#include <string>
#include <string_view>

#include "extract/extract_client.hpp"

namespace tresor::extract {

struct HelperSettings {
	std::string path; // tresor_extract; default where make install puts it
	Limits limits;    // tresor_extract_timeout, tresor_extract_memory

	HelperSettings();
	// Sets one of the three settings from its string value and returns
	// true; false (nothing changed) for any other name. Throws ConfigError
	// (common/setting_values.hpp) naming the setting for a bad value.
	bool set(std::string_view name, std::string_view value);
};

} // namespace tresor::extract
