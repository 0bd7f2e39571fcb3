// StringArena (common/string_arena.hpp): copies that stay as they were
// while the arena grows; one copy per interned text.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/string_arena.hpp"

using tresor::StringArena;

TEST(StringArena, ViewsStayValidAcrossManyBlocks)
{
	StringArena arena;
	std::vector<std::pair<std::string, std::string_view>> kept;
	// small, medium and (own-block) large strings, well over one block
	for (int i = 0; i < 20000; i++) {
		std::string s = "<" + std::to_string(i) + "." + std::string(i % 50, 'x') + "@a.example>";
		if (i % 997 == 0)
			s += std::string(20000 + i, static_cast<char>('a' + i % 26));
		std::string_view v = arena.keep(s);
		EXPECT_NE(v.data(), s.data());
		kept.emplace_back(std::move(s), v);
	}
	for (const auto &[text, view] : kept)
		ASSERT_EQ(view, text);
	EXPECT_GT(arena.capacity(), 64u * 1024);
}

TEST(StringArena, EmptyTakesNothing)
{
	StringArena arena;
	EXPECT_TRUE(arena.keep("").empty());
	EXPECT_TRUE(arena.intern("").empty());
	EXPECT_EQ(arena.capacity(), 0u);
}

TEST(StringArena, InternedTextIsKeptOnce)
{
	StringArena arena;
	std::string a = "Rechnungen/2026", b = "Rechnungen/2026";
	std::string_view va = arena.intern(a);
	std::string_view vb = arena.intern(b);
	EXPECT_EQ(va.data(), vb.data());
	EXPECT_EQ(va, "Rechnungen/2026");
	EXPECT_NE(arena.intern("Archiv").data(), va.data());
	// keep() always copies
	EXPECT_NE(arena.keep(a).data(), va.data());
	const std::size_t capacity = arena.capacity();
	for (int i = 0; i < 100000; i++)
		arena.intern(a);
	EXPECT_EQ(arena.capacity(), capacity);
}
