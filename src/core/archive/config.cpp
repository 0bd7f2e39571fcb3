#include "archive/config.hpp"
#include "common/text.hpp"

#include <algorithm>
#include <cstddef>

namespace tresor {

namespace {

using tresor::text::iequals;

const char *const setting_name_list[] = {
	"tresor_archive",
	"tresor_dir",
	"tresor_journal",
	"tresor_secret_headers",
	"tresor_content_headers",
	"tresor_duplicates",
	"tresor_content_duplicates",
	"tresor_seal_key",
	"tresor_seal_pubkey",
	"tresor_tsa_ca",
	"tresor_retention",
	nullptr,
};

DuplicatePolicy parse_policy(std::string_view name, std::string_view value)
{
	std::string_view v = text::trim_space(value);
	if (v == "keep")
		return DuplicatePolicy::Keep;
	if (v == "drop")
		return DuplicatePolicy::Drop;
	throw ConfigError(std::string(name) + ": invalid value " +
			  text::quoted(value) + " (expected keep or drop)");
}

// A key or certificate file: empty (not set) or an absolute path. Whether
// it can be read is checked where it is used (the key only by the seal
// job, which may be the only one allowed to read it).
std::string parse_file_path(std::string_view name, std::string_view value)
{
	std::string_view v = text::trim_space(value);
	if (!v.empty() && (v.front() != '/' || text::has_control_char(v))) {
		throw ConfigError(std::string(name) + ": invalid value " + text::quoted(value) +
				  " (expected an absolute path)");
	}
	return std::string(v);
}

std::vector<std::string> parse_list(std::string_view name, std::string_view value)
{
	try {
		return split_setting_list(value);
	} catch (const std::invalid_argument &e) {
		throw ConfigError(std::string(name) + ": invalid value " +
				  text::quoted(value) + " (" + e.what() + ")");
	}
}

std::vector<std::string> parse_header_list(std::string_view name,
					   std::string_view value)
{
	std::vector<std::string> out;
	for (std::string &h : parse_list(name, value)) {
		if (!is_valid_header_name(h)) {
			throw ConfigError(std::string(name) +
					  ": invalid header field name " +
					  text::quoted(h) +
					  " (expected printable ASCII characters "
					  "other than ':' and space)");
		}
		bool dup = std::any_of(out.begin(), out.end(), [&](const std::string &o) {
			return iequals(o, h);
		});
		if (!dup)
			out.push_back(std::move(h));
	}
	return out;
}

// ---- pattern matching: a small NFA over the pattern positions

using States = std::vector<char>;

void closure(std::string_view p, States &st)
{
	// Wildcards may match the empty string: epsilon moves only go forward.
	for (std::size_t i = 0; i < p.size(); i++) {
		if (st[i] && (p[i] == '*' || p[i] == '%'))
			st[i + 1] = 1;
	}
}

States run(std::string_view p, std::string_view text, char sep)
{
	States st(p.size() + 1, 0);
	st[0] = 1;
	closure(p, st);
	States next(p.size() + 1, 0);
	for (char c : text) {
		std::fill(next.begin(), next.end(), 0);
		bool any = false;
		for (std::size_t i = 0; i < p.size(); i++) {
			if (!st[i])
				continue;
			if (p[i] == '*' || (p[i] == '%' && c != sep)) {
				next[i] = 1;
				any = true;
			} else if (p[i] == c || (p[i] == '/' && c == sep)) {
				// '/' in a pattern is the hierarchy separator,
				// whatever the namespace uses ('.' in Debian's
				// maildir default)
				next[i + 1] = 1;
				any = true;
			}
		}
		st.swap(next);
		if (!any)
			return st;
		closure(p, st);
	}
	return st;
}

bool has_inbox_prefix(std::string_view name, char sep)
{
	return name.size() >= 5 && iequals(name.substr(0, 5), "INBOX") &&
	       (name.size() == 5 || name[5] == sep);
}

// The INBOX-canonical forms of pattern and name, when both start with an
// INBOX that is to be compared case-insensitively.
bool inbox_variant(std::string_view pattern, std::string_view name, char sep,
		   std::string &p_r, std::string &n_r)
{
	if (!has_inbox_prefix(name, sep))
		return false;
	if (pattern.size() < 5 || !iequals(pattern.substr(0, 5), "INBOX"))
		return false;
	p_r = "INBOX" + std::string(pattern.substr(5));
	n_r = "INBOX" + std::string(name.substr(5));
	return true;
}

bool may_match_child_exact(std::string_view p, std::string_view mailbox, char sep)
{
	std::string text(mailbox);
	text += sep;
	States st = run(p, text, sep);
	// Any live state before the end of the pattern can go on to match a
	// non-empty rest: literals as written, wildcards as a non-separator.
	for (std::size_t i = 0; i < p.size(); i++) {
		if (st[i])
			return true;
	}
	return false;
}

} // namespace

std::vector<std::string> Config::default_content_headers()
{
	return {"X-Real-Mailfrom", "X-Real-Rcptto", "Return-Path",
		"Subject",         "Message-Id",    "Date",
		"From",            "To",            "Cc"};
}

const char *const *Config::setting_names()
{
	return setting_name_list;
}

void Config::set(std::string_view name, std::string_view value)
{
	if (name == "tresor_archive") {
		std::vector<std::string> list = parse_list(name, value);
		for (const std::string &p : list) {
			if (p.empty()) {
				throw ConfigError("tresor_archive: invalid value " +
						  text::quoted(value) +
						  " (a mailbox pattern must not be empty)");
			}
			if (text::has_control_char(p)) {
				throw ConfigError("tresor_archive: invalid pattern " +
						  text::quoted(p) +
						  " (a mailbox pattern must not contain "
						  "control characters)");
			}
		}
		archive = std::move(list);
	} else if (name == "tresor_dir") {
		std::string_view v = text::trim_space(value);
		bool ok = !v.empty() && !text::has_control_char(v) &&
			  (v.front() == '/' || v.substr(0, 2) == "~/");
		if (!ok) {
			throw ConfigError("tresor_dir: invalid value " + text::quoted(value) +
					  " (expected an absolute path or one "
					  "starting with ~/)");
		}
		dir = std::string(v);
	} else if (name == "tresor_journal") {
		std::string_view v = text::trim_space(value);
		if (v == "all")
			journal = JournalScope::All;
		else if (v == "archive")
			journal = JournalScope::Archive;
		else
			throw ConfigError("tresor_journal: invalid value " +
					  text::quoted(value) +
					  " (expected all or archive)");
	} else if (name == "tresor_secret_headers") {
		secret_headers = parse_header_list(name, value);
	} else if (name == "tresor_content_headers") {
		content_headers = parse_header_list(name, value);
	} else if (name == "tresor_duplicates") {
		duplicates = parse_policy(name, value);
	} else if (name == "tresor_content_duplicates") {
		content_duplicates = parse_policy(name, value);
	} else if (name == "tresor_seal_key") {
		seal_key = parse_file_path(name, value);
	} else if (name == "tresor_seal_pubkey") {
		seal_pubkey = parse_file_path(name, value);
	} else if (name == "tresor_tsa_ca") {
		tsa_ca = parse_file_path(name, value);
	} else if (name == "tresor_retention") {
		retention = parse_retention_setting(value);
	} else {
		std::string known;
		for (const char *const *n = setting_name_list; *n != nullptr; n++) {
			if (!known.empty())
				known += ", ";
			known += *n;
		}
		throw ConfigError("unknown setting " + text::quoted(name) +
				  " (known settings: " + known + ")");
	}
}

bool Config::is_archive(std::string_view mailbox, char sep) const
{
	return std::any_of(archive.begin(), archive.end(), [&](const std::string &p) {
		return mailbox_pattern_match(p, mailbox, sep);
	});
}

bool Config::has_archive_children(std::string_view mailbox, char sep) const
{
	return std::any_of(archive.begin(), archive.end(), [&](const std::string &p) {
		return mailbox_pattern_may_match_child(p, mailbox, sep);
	});
}

bool Config::is_journaled(std::string_view mailbox, char sep) const
{
	return journal == JournalScope::All || is_archive(mailbox, sep);
}

const RetentionRule *Config::retention_rule(std::string_view mailbox, char sep) const
{
	if (!is_archive(mailbox, sep))
		return nullptr;
	return find_retention_rule(retention, mailbox, sep);
}

bool mailbox_pattern_match(std::string_view pattern, std::string_view name, char sep)
{
	if (run(pattern, name, sep)[pattern.size()])
		return true;
	std::string p, n;
	if (inbox_variant(pattern, name, sep, p, n))
		return run(p, n, sep)[p.size()] != 0;
	return false;
}

bool mailbox_pattern_may_match_child(std::string_view pattern,
				     std::string_view mailbox, char sep)
{
	if (may_match_child_exact(pattern, mailbox, sep))
		return true;
	std::string p, n;
	if (inbox_variant(pattern, mailbox, sep, p, n))
		return may_match_child_exact(p, n, sep);
	return false;
}

bool is_valid_header_name(std::string_view name)
{
	if (name.empty())
		return false;
	return std::all_of(name.begin(), name.end(), [](char c) {
		unsigned char u = static_cast<unsigned char>(c);
		return u >= 33 && u <= 126 && c != ':';
	});
}

} // namespace tresor
