// The ASCII text helpers of the core (common/text.hpp).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/text.hpp"

namespace text = tresor::text;

TEST(TextControlChars, C0AndDelCountOthersDoNot)
{
	EXPECT_TRUE(text::has_control_char(std::string("a\0b", 3)));
	EXPECT_TRUE(text::has_control_char("tab\there"));
	EXPECT_TRUE(text::has_control_char("del\x7f"));
	EXPECT_FALSE(text::has_control_char("Gr\xc3\xbc\xc3\x9f" "e ~"));
	EXPECT_FALSE(text::has_control_char(""));
}

TEST(TextPrintable, ControlCharsShownAndLengthBounded)
{
	EXPECT_EQ(text::printable("a\r\nb"), "a??b");
	EXPECT_EQ(text::printable(std::string(250, 'x')), std::string(200, 'x') + "...");
	EXPECT_EQ(text::printable("abcdef", 3), "abc...");
	EXPECT_EQ(text::printable("abc", 3), "abc");
	EXPECT_EQ(text::quoted("x\ty"), "'x?y'");
}

TEST(TextJoin, SeparatorOnlyBetweenItems)
{
	EXPECT_EQ(text::join({}, ", "), "");
	EXPECT_EQ(text::join({"a"}, ", "), "a");
	EXPECT_EQ(text::join({"a", "", "c"}, ","), "a,,c");
}

TEST(TextAscii, CaseAndSpaceAreAsciiOnly)
{
	EXPECT_TRUE(text::iequals("INBOX", "inbox"));
	EXPECT_FALSE(text::iequals("\xc3\x84", "\xc3\xa4")); // Ä, ä: not ASCII
	EXPECT_EQ(text::trim_space(" \t\r\nx y\n"), "x y");
	EXPECT_EQ(text::hex_digit_value('F'), 15);
	EXPECT_EQ(text::hex_digit_value('g'), -1);
	EXPECT_TRUE(text::is_ascii_digit('7'));
	EXPECT_FALSE(text::is_ascii_digit('x'));
}

TEST(TextAscii, ClassesAndSuffixIgnoreCaseOnlyForAscii)
{
	EXPECT_TRUE(text::is_ascii_alnum('z'));
	EXPECT_TRUE(text::is_ascii_alnum('0'));
	EXPECT_FALSE(text::is_ascii_alnum('-'));
	EXPECT_FALSE(text::is_ascii_alnum('\xc3'));
	EXPECT_TRUE(text::is_ascii_upper('Q'));
	EXPECT_FALSE(text::is_ascii_upper('q'));
	EXPECT_TRUE(text::iends_with("Rechnung.PDF", ".pdf"));
	EXPECT_FALSE(text::iends_with("pdf", ".pdf"));
	EXPECT_TRUE(text::iends_with("x", ""));
}

TEST(TextUniqueList, KeepsFirstSeenOrderWithoutRepeats)
{
	std::vector<std::string> list;
	text::add_unique(list, "DE02");
	text::add_unique(list, "AT61");
	text::add_unique(list, "DE02");
	text::add_unique(list, "");
	EXPECT_EQ(list, (std::vector<std::string>{"DE02", "AT61", ""}));
}
