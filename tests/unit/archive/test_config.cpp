// Settings: defaults, validation with errors that name the setting, and
// IMAP LIST pattern matching for tresor_archive.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "archive/config.hpp"
#include "archive/tresor.h"

using tresor::Config;
using tresor::ConfigError;
using tresor::mailbox_pattern_match;
using tresor::mailbox_pattern_may_match_child;

namespace {

// The error text of cfg.set(name, value), "" when it succeeds.
std::string set_error(Config &cfg, const std::string &name, const std::string &value)
{
	try {
		cfg.set(name, value);
	} catch (const ConfigError &e) {
		return e.what();
	}
	return "";
}

struct CConfig {
	tresor_config *cfg = tresor_config_new();
	~CConfig() { tresor_config_free(cfg); }
};

} // namespace

TEST(Config, Defaults)
{
	Config c;
	EXPECT_TRUE(c.archive.empty());
	EXPECT_EQ(c.dir, "~/tresor");
	EXPECT_EQ(c.journal, tresor::JournalScope::All);
	EXPECT_TRUE(c.secret_headers.empty());
	EXPECT_EQ(c.content_headers,
		  (std::vector<std::string>{"X-Real-Mailfrom", "X-Real-Rcptto", "Return-Path",
					    "Subject", "Message-Id", "Date", "From", "To",
					    "Cc"}));
	EXPECT_EQ(c.duplicates, tresor::DuplicatePolicy::Keep);
	EXPECT_EQ(c.content_duplicates, tresor::DuplicatePolicy::Keep);
	EXPECT_FALSE(c.is_archive("INBOX", '/'));
	EXPECT_TRUE(c.is_journaled("INBOX", '/'));
	EXPECT_FALSE(c.has_archive_children("INBOX", '/'));
}

TEST(Config, SettingNames)
{
	std::vector<std::string> names;
	for (const char *const *n = tresor_config_setting_names(); *n != nullptr; n++)
		names.push_back(*n);
	EXPECT_EQ(names, (std::vector<std::string>{
				 "tresor_archive", "tresor_dir", "tresor_journal",
				 "tresor_secret_headers", "tresor_content_headers",
				 "tresor_duplicates", "tresor_content_duplicates",
				 "tresor_seal_key", "tresor_seal_pubkey", "tresor_tsa_ca",
				 "tresor_retention"}));
	// every listed name is accepted with its default
	CConfig c;
	char err[256];
	EXPECT_EQ(tresor_config_set(c.cfg, "tresor_dir", "~/tresor", err, sizeof(err)), 0);
	EXPECT_EQ(tresor_config_set(c.cfg, "tresor_journal", "all", err, sizeof(err)), 0);
	EXPECT_EQ(tresor_config_set(c.cfg, "tresor_archive", "", err, sizeof(err)), 0);
	EXPECT_EQ(tresor_config_set(c.cfg, "tresor_secret_headers", "", err, sizeof(err)), 0);
	EXPECT_EQ(tresor_config_set(c.cfg, "tresor_content_headers", "Subject", err, sizeof(err)), 0);
	EXPECT_EQ(tresor_config_set(c.cfg, "tresor_duplicates", "keep", err, sizeof(err)), 0);
	EXPECT_EQ(tresor_config_set(c.cfg, "tresor_content_duplicates", "keep", err, sizeof(err)), 0);
}

TEST(Config, DuplicatePolicies)
{
	CConfig c;
	char err[256];
	ASSERT_EQ(tresor_config_duplicates(c.cfg), TRESOR_DUPLICATES_KEEP);
	ASSERT_EQ(tresor_config_set(c.cfg, "tresor_duplicates", "drop", err, sizeof(err)), 0);
	EXPECT_EQ(tresor_config_duplicates(c.cfg), TRESOR_DUPLICATES_DROP);
	EXPECT_EQ(tresor_config_content_duplicates(c.cfg), TRESOR_DUPLICATES_KEEP);
	ASSERT_EQ(tresor_config_set(c.cfg, "tresor_content_duplicates", "drop", err, sizeof(err)), 0);
	EXPECT_EQ(tresor_config_content_duplicates(c.cfg), TRESOR_DUPLICATES_DROP);

	EXPECT_EQ(tresor_config_set(c.cfg, "tresor_duplicates", "maybe", err, sizeof(err)), -1);
	EXPECT_STREQ(err, "tresor_duplicates: invalid value 'maybe' (expected keep or drop)");
	EXPECT_EQ(tresor_config_set(c.cfg, "tresor_content_duplicates", "", err, sizeof(err)), -1);
	EXPECT_STREQ(err, "tresor_content_duplicates: invalid value '' (expected keep or drop)");
	// a failed set leaves the previous value
	EXPECT_EQ(tresor_config_duplicates(c.cfg), TRESOR_DUPLICATES_DROP);
}

TEST(Config, JournalScope)
{
	CConfig c;
	char err[256];
	EXPECT_EQ(tresor_config_journal_scope(c.cfg), TRESOR_JOURNAL_ALL);
	ASSERT_EQ(tresor_config_set(c.cfg, "tresor_archive", "Archiv/*", err, sizeof(err)), 0);
	ASSERT_EQ(tresor_config_set(c.cfg, "tresor_journal", "archive", err, sizeof(err)), 0);
	EXPECT_EQ(tresor_config_journal_scope(c.cfg), TRESOR_JOURNAL_ARCHIVE);
	EXPECT_EQ(tresor_config_is_journaled(c.cfg, "INBOX", '/'), 0);
	EXPECT_EQ(tresor_config_is_journaled(c.cfg, "Archiv/2025", '/'), 1);
	ASSERT_EQ(tresor_config_set(c.cfg, "tresor_journal", "all", err, sizeof(err)), 0);
	EXPECT_EQ(tresor_config_is_journaled(c.cfg, "INBOX", '/'), 1);

	EXPECT_EQ(tresor_config_set(c.cfg, "tresor_journal", "some", err, sizeof(err)), -1);
	EXPECT_STREQ(err, "tresor_journal: invalid value 'some' (expected all or archive)");
}

TEST(Config, Dir)
{
	Config c;
	EXPECT_EQ(set_error(c, "tresor_dir", "/srv/tresor/%u"), "");
	EXPECT_EQ(c.dir, "/srv/tresor/%u");
	EXPECT_EQ(set_error(c, "tresor_dir", "~/Archiv"), "");
	EXPECT_EQ(c.dir, "~/Archiv");
	const std::string expected_suffix =
		" (expected an absolute path or one starting with ~/)";
	for (const char *bad : {"tresor", "./tresor", "~", "~bob/tresor", ""}) {
		std::string e = set_error(c, "tresor_dir", bad);
		EXPECT_EQ(e, "tresor_dir: invalid value '" + std::string(bad) + "'" + expected_suffix)
			<< bad;
	}
	EXPECT_EQ(c.dir, "~/Archiv");

	CConfig cc;
	char err[256];
	EXPECT_STREQ(tresor_config_dir(cc.cfg), "~/tresor");
	ASSERT_EQ(tresor_config_set(cc.cfg, "tresor_dir", "/var/tresor", err, sizeof(err)), 0);
	EXPECT_STREQ(tresor_config_dir(cc.cfg), "/var/tresor");
}

TEST(Config, HeaderLists)
{
	Config c;
	EXPECT_EQ(set_error(c, "tresor_secret_headers", "X-Spam-Score  Bcc\tX-Envelope-To"), "");
	EXPECT_EQ(c.secret_headers,
		  (std::vector<std::string>{"X-Spam-Score", "Bcc", "X-Envelope-To"}));
	EXPECT_EQ(set_error(c, "tresor_secret_headers", ""), "");
	EXPECT_TRUE(c.secret_headers.empty());
	EXPECT_EQ(set_error(c, "tresor_content_headers", "   "), "");
	EXPECT_TRUE(c.content_headers.empty());
	// names are compared case-insensitively: a repeated name counts once
	EXPECT_EQ(set_error(c, "tresor_content_headers", "Subject From subject"), "");
	EXPECT_EQ(c.content_headers, (std::vector<std::string>{"Subject", "From"}));

	EXPECT_EQ(set_error(c, "tresor_secret_headers", "X-Ok X:Bad"),
		  "tresor_secret_headers: invalid header field name 'X:Bad' (expected "
		  "printable ASCII characters other than ':' and space)");
	EXPECT_EQ(set_error(c, "tresor_content_headers", "Subject \xc3\x9c"
							 "berschrift"),
		  "tresor_content_headers: invalid header field name '\xc3\x9c"
		  "berschrift' (expected printable ASCII characters other than ':' and space)");
	EXPECT_EQ(set_error(c, "tresor_content_headers", "Subject X-\x01"),
		  "tresor_content_headers: invalid header field name 'X-?' (expected "
		  "printable ASCII characters other than ':' and space)");
	EXPECT_EQ(c.content_headers, (std::vector<std::string>{"Subject", "From"}));
	EXPECT_TRUE(tresor::is_valid_header_name("X-Real-Rcptto"));
	EXPECT_TRUE(tresor::is_valid_header_name("!#$%&'*+-.^_`|~"));
	EXPECT_FALSE(tresor::is_valid_header_name(""));
	EXPECT_FALSE(tresor::is_valid_header_name("Sub ject"));
	EXPECT_FALSE(tresor::is_valid_header_name("Subject:"));
	EXPECT_FALSE(tresor::is_valid_header_name("X\x7f"));
}

TEST(Config, ArchivePatterns)
{
	Config c;
	EXPECT_EQ(set_error(c, "tresor_archive", "Archiv/* Rechnungen \"Eingang Belege/%\""), "");
	EXPECT_EQ(c.archive,
		  (std::vector<std::string>{"Archiv/*", "Rechnungen", "Eingang Belege/%"}));
	EXPECT_TRUE(c.is_archive("Eingang Belege/2025", '/'));
	EXPECT_EQ(set_error(c, "tresor_archive", ""), "");
	EXPECT_TRUE(c.archive.empty());
	EXPECT_EQ(set_error(c, "tresor_archive", "A\\\"B \"x\\\\y\""), "");
	EXPECT_EQ(c.archive, (std::vector<std::string>{"A\\\"B", "x\\y"}));

	EXPECT_EQ(set_error(c, "tresor_archive", "Archiv \"\""),
		  "tresor_archive: invalid value 'Archiv \"\"' (a mailbox pattern must not be empty)");
	EXPECT_EQ(set_error(c, "tresor_archive", "Arch\x01iv"),
		  "tresor_archive: invalid pattern 'Arch?iv' (a mailbox pattern must not "
		  "contain control characters)");
	EXPECT_EQ(set_error(c, "tresor_archive", "\"Archiv"),
		  "tresor_archive: invalid value '\"Archiv' (unterminated double quote)");
	EXPECT_EQ(c.archive, (std::vector<std::string>{"A\\\"B", "x\\y"}));
}

TEST(Config, UnknownSetting)
{
	Config c;
	EXPECT_EQ(set_error(c, "tresor_archives", "x"),
		  "unknown setting 'tresor_archives' (known settings: tresor_archive, "
		  "tresor_dir, tresor_journal, tresor_secret_headers, "
		  "tresor_content_headers, tresor_duplicates, tresor_content_duplicates, "
		  "tresor_seal_key, tresor_seal_pubkey, tresor_tsa_ca, tresor_retention)");
	CConfig cc;
	char err[512];
	EXPECT_EQ(tresor_config_set(cc.cfg, "tresor_nonsense", "1", err, sizeof(err)), -1);
	EXPECT_EQ(std::string(err).rfind("unknown setting 'tresor_nonsense'", 0), 0u) << err;
	// the error text is cut to the buffer, NUL-terminated
	char small[8];
	EXPECT_EQ(tresor_config_set(cc.cfg, "tresor_nonsense", "1", small, sizeof(small)), -1);
	EXPECT_STREQ(small, "unknown");
	// NULL arguments are errors, not crashes
	EXPECT_EQ(tresor_config_set(cc.cfg, "tresor_dir", nullptr, err, sizeof(err)), -1);
	EXPECT_EQ(tresor_config_set(nullptr, "tresor_dir", "/x", err, sizeof(err)), -1);
	EXPECT_EQ(tresor_config_set(cc.cfg, "tresor_dir", "relative", nullptr, 0), -1);
}

struct MatchCase {
	const char *pattern;
	const char *name;
	char sep;
	bool match;
};

TEST(Config, PatternMatching)
{
	const MatchCase cases[] = {
		{"Archiv", "Archiv", '/', true},
		{"Archiv", "archiv", '/', false},
		{"Archiv", "Archiv/2025", '/', false},
		{"Archiv", "Archiv2", '/', false},
		{"Archiv/*", "Archiv/2025/Q1", '/', true},
		{"Archiv/*", "Archiv/", '/', true},
		{"Archiv/*", "Archiv", '/', false},
		{"Archiv/%", "Archiv/2025", '/', true},
		{"Archiv/%", "Archiv/2025/Q1", '/', false},
		{"Archiv*", "Archiv", '/', true},
		{"Archiv*", "Archiv/2025/Q1", '/', true},
		{"Archiv%", "Archiv-alt", '/', true},
		{"Archiv%", "Archiv/alt", '/', false},
		{"*", "", '/', true},
		{"*", "a/b/c", '/', true},
		{"%", "INBOX", '/', true},
		{"%", "a/b", '/', false},
		{"%/Rechnungen", "Kunde/Rechnungen", '/', true},
		{"%/Rechnungen", "A/B/Rechnungen", '/', false},
		{"*/Rechnungen", "A/B/Rechnungen", '/', true},
		{"*Rechnung*", "Eingangsrechnungen", '/', false},
		{"*Rechnung*", "EingangsRechnungen", '/', true},
		{"R*n*n", "Rechnungen", '/', true},
		{"R%%n", "Rechnungen", '/', true},
		{"R*x", "Rechnungen", '/', false},
		// "INBOX" at the start compares case-insensitively, nothing else
		{"INBOX", "inbox", '/', true},
		{"inbox", "INBOX", '/', true},
		{"INBOX/Rechnungen", "inbox/Rechnungen", '/', true},
		{"Inbox/%", "INBOX/Rechnungen", '/', true},
		{"INBOX/rechnungen", "INBOX/Rechnungen", '/', false},
		{"INBOX*", "inbox/x", '/', true},
		{"INBOX*", "inboxes", '/', false},
		{"inboxes", "INBOXES", '/', false},
		{"Archiv/INBOX", "Archiv/inbox", '/', false},
		// the separator is a parameter
		{"Archiv.%", "Archiv.2025", '.', true},
		{"Archiv.%", "Archiv.2025.Q1", '.', false},
		{"Archiv/%", "Archiv/2025", '.', true},
		{"INBOX.Rechnungen", "inbox.Rechnungen", '.', true},
		// '/' in a pattern stands for the namespace's separator
		{"Archiv/%", "Archiv.2025", '.', true},
		{"Archiv/%", "Archiv.2025.Q1", '.', false},
		{"Rechnungen/*", "Rechnungen.Acme.2025", '.', true},
		{"Rechnungen/*", "Rechnungen", '.', false},
		{"INBOX/Belege", "inbox.Belege", '.', true},
		{"Archiv/2025", "Archiv.2025", '.', true},
		{"Archiv/2025", "Archiv-2025", '.', false},
	};
	for (const MatchCase &c : cases) {
		EXPECT_EQ(mailbox_pattern_match(c.pattern, c.name, c.sep), c.match)
			<< "pattern '" << c.pattern << "' name '" << c.name << "' sep " << c.sep;
	}
}

TEST(Config, IsArchiveViaCApi)
{
	CConfig c;
	char err[256];
	ASSERT_EQ(tresor_config_set(c.cfg, "tresor_archive", "Rechnungen Rechnungen/* INBOX/Belege",
				    err, sizeof(err)), 0) << err;
	EXPECT_EQ(tresor_config_is_archive(c.cfg, "Rechnungen", '/'), 1);
	EXPECT_EQ(tresor_config_is_archive(c.cfg, "Rechnungen/Telekom", '/'), 1);
	EXPECT_EQ(tresor_config_is_archive(c.cfg, "inbox/Belege", '/'), 1);
	EXPECT_EQ(tresor_config_is_archive(c.cfg, "INBOX", '/'), 0);
	EXPECT_EQ(tresor_config_is_archive(c.cfg, "rechnungen", '/'), 0);
	EXPECT_EQ(tresor_config_is_archive(nullptr, "Rechnungen", '/'), 0);
	EXPECT_EQ(tresor_config_is_archive(c.cfg, nullptr, '/'), 0);
}

TEST(Config, HasArchiveChildren)
{
	const MatchCase cases[] = {
		{"Rechnungen/*", "Rechnungen", '/', true},
		{"Rechnungen/*", "Rechnungen/2025", '/', true},
		{"Rechnungen/*", "Rech", '/', false},
		{"Rechnungen", "Rechnungen", '/', false},
		{"Archiv", "Arch", '/', false},
		{"Archiv/2025", "Archiv", '/', true},
		{"Archiv/2025", "Archiv/2025", '/', false},
		{"Archiv/%", "Archiv", '/', true},
		{"Archiv/%", "Archiv/2025", '/', false},
		{"Archiv*", "Archiv", '/', true},
		{"Archiv%", "Archiv", '/', false},
		{"%/Rechnungen", "Kunde", '/', true},
		{"%/Rechnungen", "Kunde/Rechnungen", '/', false},
		{"*/Rechnungen", "Kunde/Rechnungen", '/', true},
		{"*", "x", '/', true},
		{"*", "INBOX", '/', true},
		{"%", "x", '/', false},
		{"INBOX/Belege", "inbox", '/', true},
		{"inbox/Belege", "INBOX", '/', true},
		{"INBOX/Belege", "Inboxes", '/', false},
		{"Archiv.2025", "Archiv", '.', true},
		{"Archiv.2025", "Archiv", '/', false},
		{"Archiv/2025", "Archiv", '.', true},
		{"Rechnungen/*", "Rechnungen", '.', true},
	};
	for (const MatchCase &c : cases) {
		EXPECT_EQ(mailbox_pattern_may_match_child(c.pattern, c.name, c.sep), c.match)
			<< "pattern '" << c.pattern << "' mailbox '" << c.name << "' sep " << c.sep;
	}
	CConfig cc;
	char err[256];
	ASSERT_EQ(tresor_config_set(cc.cfg, "tresor_archive", "Archiv Rechnungen/*", err,
				    sizeof(err)), 0);
	EXPECT_EQ(tresor_config_has_archive_children(cc.cfg, "Rechnungen", '/'), 1);
	EXPECT_EQ(tresor_config_has_archive_children(cc.cfg, "Arch", '/'), 0);
	EXPECT_EQ(tresor_config_has_archive_children(cc.cfg, "Archiv", '/'), 0);
	EXPECT_EQ(tresor_config_has_archive_children(cc.cfg, "INBOX", '/'), 0);
}
