// Settings of the FTS backend (plugin { } block), parsed and checked here
// so that a bad value is an error naming the setting.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "extract/helper_settings.hpp"

namespace tresor::fts {

struct Settings {
	// tresor_extract, tresor_extract_timeout, tresor_extract_memory: the
	// same helper and limits as the invoice extension, by the same parser.
	extract::HelperSettings helper;
	bool attachments = true;                    // tresor_fts_attachments
	std::uint64_t attachment_max_size = 32ull << 20; // tresor_fts_attachment_max_size
	unsigned lock_timeout_ms = 30000;           // tresor_fts_lock_timeout
	// tresor_fts_vocabulary_from (fts::OpenOptions::vocabulary_from_documents)
	std::uint32_t vocabulary_from_mails = 25000;

	static const char *const *setting_names();
	// Throws ConfigError (common/setting_values.hpp) naming the setting.
	void set(std::string_view name, std::string_view value);
};

} // namespace tresor::fts
