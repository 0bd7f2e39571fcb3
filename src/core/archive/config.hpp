// tresor_* settings: parsing, validation and mailbox pattern matching.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "archive/retention_rule.hpp"
#include "common/setting_values.hpp"

namespace tresor {

enum class JournalScope { All = 0, Archive = 1 };
enum class DuplicatePolicy { Keep = 0, Drop = 1 };

struct Config {
	std::vector<std::string> archive;          // tresor_archive
	std::string dir = "~/tresor";              // tresor_dir
	JournalScope journal = JournalScope::All;  // tresor_journal
	std::vector<std::string> secret_headers;   // tresor_secret_headers
	std::vector<std::string> content_headers = default_content_headers();
	DuplicatePolicy duplicates = DuplicatePolicy::Keep;
	DuplicatePolicy content_duplicates = DuplicatePolicy::Keep;
	// seals (docs/archive.md section 7); absolute paths, "" = not set
	std::string seal_key;     // tresor_seal_key
	std::string seal_pubkey;  // tresor_seal_pubkey
	std::string tsa_ca;       // tresor_tsa_ca
	// tresor_retention: the first matching rule counts; none = never purged
	std::vector<RetentionRule> retention;

	static std::vector<std::string> default_content_headers();
	// NULL-terminated list of every setting name.
	static const char *const *setting_names();

	// Sets one setting from its string value; throws ConfigError.
	void set(std::string_view name, std::string_view value);

	bool is_archive(std::string_view mailbox, char sep) const;
	bool has_archive_children(std::string_view mailbox, char sep) const;
	bool is_journaled(std::string_view mailbox, char sep) const;
	// The retention rule of an archive folder, nullptr when it has none
	// (or is no archive folder).
	const RetentionRule *retention_rule(std::string_view mailbox, char sep) const;
};

// IMAP LIST pattern match: '*' matches any sequence, '%' any sequence
// without sep; case-sensitive except for a leading "INBOX".
bool mailbox_pattern_match(std::string_view pattern, std::string_view name,
			   char sep);
// True when pattern can match some name "mailbox<sep>X" with X non-empty.
bool mailbox_pattern_may_match_child(std::string_view pattern,
				     std::string_view mailbox, char sep);

// RFC 5322 field name: one or more printable ASCII characters except ':'.
bool is_valid_header_name(std::string_view name);

} // namespace tresor
