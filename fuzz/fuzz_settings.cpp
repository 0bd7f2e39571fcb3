// tresor_* setting values: every setting of the archive plugin (Config),
// of invoice recognition (invoice::Settings) and of the FTS backend
// (fts::Settings) with the input as value. A bad value must be a
// ConfigError and nothing else. Then the parsed patterns and retention
// rules are matched against mailbox names taken from the input.
//
// Input: the first byte chooses the setting, the rest up to the first NUL
// is the value, the NUL-separated pieces after it are mailbox names.
#include <algorithm>
#include <string>
#include <vector>

#include "archive/config.hpp"
#include "archive/retention.hpp"
#include "archive/retention_rule.hpp"
#include "fts/fts_settings.hpp"
#include "fuzz_util.hpp"
#include "invoice/invoice.hpp"

using namespace tresor;

namespace {

std::vector<std::string> count_names(const char *const *names)
{
	std::vector<std::string> out;
	for (; *names != nullptr; names++)
		out.emplace_back(*names);
	return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	if (size == 0)
		return 0;
	static const std::vector<std::string> core = count_names(Config::setting_names());
	static const std::vector<std::string> inv = count_names(invoice::Settings::setting_names());
	static const std::vector<std::string> fts = count_names(fts::Settings::setting_names());
	const std::size_t total = core.size() + inv.size() + fts.size() + 1;

	std::size_t which = data[0] % total;
	std::vector<std::string_view> pieces = fuzz::split(fuzz::input(data + 1, size - 1), '\0');
	std::string_view value = pieces[0];
	std::vector<std::string_view> names(pieces.begin() + 1, pieces.end());

	Config cfg;
	if (which < core.size()) {
		try {
			cfg.set(core[which], value);
		} catch (const ConfigError &) {
		}
	} else if (which < core.size() + inv.size()) {
		invoice::Settings s;
		try {
			s.set(inv[which - core.size()], value);
		} catch (const ConfigError &) {
		}
	} else if (which < core.size() + inv.size() + fts.size()) {
		fts::Settings s;
		try {
			s.set(fts[which - core.size() - inv.size()], value);
		} catch (const ConfigError &) {
		}
	} else {
		// the unknown-name path, with the value as name (which may be a
		// known one: the fuzzer takes names from the code it runs)
		bool known = std::find(core.begin(), core.end(), value) != core.end();
		try {
			cfg.set(value, "x");
			if (!known)
				fuzz::violated("an unknown setting was accepted");
		} catch (const ConfigError &) {
		}
	}

	// The same value as the settings that hold patterns and rules.
	try {
		cfg.set("tresor_archive", value);
	} catch (const ConfigError &) {
	}
	try {
		std::vector<RetentionRule> rules = parse_retention_setting(value);
		for (const RetentionRule &r : rules) {
			auto again = parse_retention_rule(r.text());
			FUZZ_CHECK(again.pattern == r.pattern && again.period == r.period);
			(void)retention_end(Clock::time_point{}, r.period);
		}
		cfg.retention = rules;
	} catch (const ConfigError &) {
	}
	try {
		(void)split_setting_list(value);
	} catch (const std::invalid_argument &) {
	}
	try {
		(void)tresor::parse_duration(value);
	} catch (const std::invalid_argument &) {
	}
	try {
		(void)tresor::parse_size(value);
	} catch (const std::invalid_argument &) {
	}
	(void)parse_retention_period(value);
	(void)is_valid_header_name(value);

	for (std::string_view name : names) {
		for (char sep : {'/', '.'}) {
			(void)cfg.is_archive(name, sep);
			(void)cfg.has_archive_children(name, sep);
			(void)cfg.is_journaled(name, sep);
			(void)cfg.retention_rule(name, sep);
			(void)mailbox_pattern_match(value, name, sep);
			(void)mailbox_pattern_may_match_child(value, name, sep);
		}
	}
	return 0;
}
