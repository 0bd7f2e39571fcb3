// Copies of many short strings kept in a few large blocks.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace tresor {

// One allocation per 64 KB block instead of one (with its malloc overhead)
// per string: what a structure with a few strings per journal record
// needs to stay small at hundreds of thousands of records. The views it
// returns stay valid, unchanged, for the arena's life; it never frees a
// single string.
class StringArena {
public:
	StringArena() = default;
	StringArena(const StringArena &) = delete;
	StringArena &operator=(const StringArena &) = delete;
	StringArena(StringArena &&) = default;
	StringArena &operator=(StringArena &&) = default;

	// A copy of s (an empty view for an empty s).
	std::string_view keep(std::string_view s);
	// A copy of s shared by every equal s: for the few names (folders)
	// that many records repeat.
	std::string_view intern(std::string_view s);
	// Bytes held in blocks.
	std::size_t capacity() const { return capacity_; }

private:
	std::vector<std::unique_ptr<char[]>> blocks_;
	char *free_ = nullptr;
	std::size_t left_ = 0;
	std::size_t capacity_ = 0;
	std::unordered_set<std::string_view> interned_;
};

} // namespace tresor
