// tresor_retention rules: PATTERN=PERIOD, parsed and matched. Kept apart
// from retention.hpp (which needs the journal) so that the settings don't
// pull in the journal's headers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tresor {

// A retention period: whole years and/or months ("10y", "6m").
struct RetentionPeriod {
	unsigned years = 0;
	unsigned months = 0;

	std::string text() const;
	bool operator==(const RetentionPeriod &) const = default;
};

// One PATTERN=PERIOD item of tresor_retention.
struct RetentionRule {
	std::string pattern; // as tresor_archive: '*' and '%'
	RetentionPeriod period;

	// "Rechnungen/*=10y", as written into purge records
	std::string text() const;
};

// "10y", "6m" (1..999 of either); nullopt for anything else.
std::optional<RetentionPeriod> parse_retention_period(std::string_view text);
// One "PATTERN=PERIOD" item (split at the last '='). Throws
// std::invalid_argument with the reason.
RetentionRule parse_retention_rule(std::string_view item);
// The whole tresor_retention value; throws ConfigError naming the setting.
std::vector<RetentionRule> parse_retention_setting(std::string_view value);

// The first rule whose pattern matches the mailbox, or nullptr: folders
// without a rule are never purged.
const RetentionRule *find_retention_rule(const std::vector<RetentionRule> &rules,
					 std::string_view mailbox, char sep);

} // namespace tresor
