#include "fts/fts_settings.hpp"

#include <chrono>

#include "common/setting_values.hpp"
#include "common/text.hpp"

namespace tresor::fts {

namespace {

const char *const kSettingNames[] = {
	"tresor_extract",
	"tresor_extract_timeout",
	"tresor_extract_memory",
	"tresor_fts_attachments",
	"tresor_fts_attachment_max_size",
	"tresor_fts_lock_timeout",
	"tresor_fts_vocabulary_from",
	nullptr,
};

} // namespace

const char *const *Settings::setting_names()
{
	return kSettingNames;
}

void Settings::set(std::string_view name, std::string_view value)
{
	const std::string n(name);
	auto bad = [&](const std::string &why) {
		return ConfigError(n + ": invalid value '" + std::string(value) + "' (" +
					    why + ")");
	};
	if (helper.set(name, value))
		return;
	if (name == "tresor_fts_attachments") {
		std::string_view v = text::trim_space(value);
		if (v == "yes")
			attachments = true;
		else if (v == "no")
			attachments = false;
		else
			throw bad("expected yes or no");
	} else if (name == "tresor_fts_attachment_max_size") {
		try {
			attachment_max_size = tresor::parse_size(value);
		} catch (const std::invalid_argument &e) {
			throw bad(std::string(e.what()) + "; expected e.g. 32M");
		}
		if (attachment_max_size < 1024 || attachment_max_size > (1ull << 30))
			throw bad("expected between 1k and 1G");
	} else if (name == "tresor_fts_lock_timeout") {
		std::chrono::milliseconds ms;
		try {
			ms = tresor::parse_duration(value);
		} catch (const std::invalid_argument &e) {
			throw bad(std::string(e.what()) + "; expected e.g. 30s");
		}
		if (ms.count() < 100 || ms > std::chrono::minutes(10))
			throw bad("expected between 100ms and 10min");
		lock_timeout_ms = static_cast<unsigned>(ms.count());
	} else if (name == "tresor_fts_vocabulary_from") {
		std::string_view v = text::trim_space(value);
		std::uint64_t mails = 0;
		if (v.empty() || v.size() > 10)
			throw bad("expected a number of mails, 0 or more");
		for (char c : v) {
			if (c < '0' || c > '9')
				throw bad("expected a number of mails, 0 or more");
			mails = mails * 10 + static_cast<unsigned>(c - '0');
		}
		if (mails > (1u << 31))
			throw bad("expected at most 2147483648");
		vocabulary_from_mails = static_cast<std::uint32_t>(mails);
	} else {
		throw ConfigError("unknown setting '" + n + "'");
	}
}

} // namespace tresor::fts
