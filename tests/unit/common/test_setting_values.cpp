// Setting values every library parses the same way (common/setting_values).
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "common/setting_values.hpp"

using tresor::parse_duration;
using tresor::parse_size;
using tresor::split_setting_list;
using Items = std::vector<std::string>;

TEST(SettingDuration, UnitsAndSpacesAreAccepted)
{
	EXPECT_EQ(parse_duration("10s").count(), 10000);
	EXPECT_EQ(parse_duration("10").count(), 10000); // bare number: seconds
	EXPECT_EQ(parse_duration(" 500 ms ").count(), 500);
	EXPECT_EQ(parse_duration("1h").count(), 3600000);
	EXPECT_EQ(parse_duration("2 mins").count(), 120000);
	EXPECT_EQ(parse_duration("3 Minutes").count(), 180000);
}

TEST(SettingDuration, MalformedValuesAreRefused)
{
	EXPECT_THROW(parse_duration(""), std::invalid_argument);
	EXPECT_THROW(parse_duration("s"), std::invalid_argument);
	EXPECT_THROW(parse_duration("1.5s"), std::invalid_argument);
	EXPECT_THROW(parse_duration("-1s"), std::invalid_argument);
	EXPECT_THROW(parse_duration("10 fortnights"), std::invalid_argument);
	EXPECT_THROW(parse_duration("99999999999999999999"), std::invalid_argument);
	EXPECT_THROW(parse_duration("9999999999999999h"), std::invalid_argument);
}

TEST(SettingSize, UnitsAre1024Based)
{
	EXPECT_EQ(parse_size("256M"), 256ull << 20);
	EXPECT_EQ(parse_size("256 MiB"), 256ull << 20);
	EXPECT_EQ(parse_size("2g"), 2ull << 30);
	EXPECT_EQ(parse_size("64k"), 64ull << 10);
	EXPECT_EQ(parse_size("4096"), 4096u);
	EXPECT_EQ(parse_size("4096 b"), 4096u);
}

TEST(SettingSize, MalformedOrOverflowingValuesAreRefused)
{
	EXPECT_THROW(parse_size("99999999999T"), std::invalid_argument);
	EXPECT_THROW(parse_size("1,5G"), std::invalid_argument);
	EXPECT_THROW(parse_size("G"), std::invalid_argument);
	EXPECT_THROW(parse_size(""), std::invalid_argument);
	EXPECT_THROW(parse_size("12 apples"), std::invalid_argument);
}

TEST(SettingList, SpacesAndTabsSeparateItems)
{
	EXPECT_EQ(split_setting_list("Archiv  Archiv/*\tRechnungen/*"),
		  (Items{"Archiv", "Archiv/*", "Rechnungen/*"}));
	EXPECT_EQ(split_setting_list(""), Items{});
	EXPECT_EQ(split_setting_list("   "), Items{});
}

TEST(SettingList, QuotedItemsKeepSpacesAndEscapes)
{
	EXPECT_EQ(split_setting_list("\"Sent Items\" Archiv"),
		  (Items{"Sent Items", "Archiv"}));
	EXPECT_EQ(split_setting_list("\"a \\\"b\\\" \\\\c\""), Items{"a \"b\" \\c"});
	EXPECT_EQ(split_setting_list("\"\""), Items{""});
}

TEST(SettingList, BadQuotingIsRefused)
{
	EXPECT_THROW(split_setting_list("\"Sent Items"), std::invalid_argument);
	EXPECT_THROW(split_setting_list("\"Sent\"Items"), std::invalid_argument);
}
