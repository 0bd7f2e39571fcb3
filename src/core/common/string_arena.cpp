#include "common/string_arena.hpp"

#include <cstring>

namespace tresor {

namespace {
constexpr std::size_t kBlockSize = 64 * 1024;
// Larger strings get a block of their own rather than wasting the rest
// of a shared one.
constexpr std::size_t kOwnBlockFrom = kBlockSize / 8;
} // namespace

std::string_view StringArena::keep(std::string_view s)
{
	if (s.empty())
		return {};
	char *dest;
	if (s.size() >= kOwnBlockFrom) {
		blocks_.push_back(std::make_unique_for_overwrite<char[]>(s.size()));
		capacity_ += s.size();
		dest = blocks_.back().get();
	} else {
		if (left_ < s.size()) {
			blocks_.push_back(std::make_unique_for_overwrite<char[]>(kBlockSize));
			capacity_ += kBlockSize;
			free_ = blocks_.back().get();
			left_ = kBlockSize;
		}
		dest = free_;
		free_ += s.size();
		left_ -= s.size();
	}
	std::memcpy(dest, s.data(), s.size());
	return {dest, s.size()};
}

std::string_view StringArena::intern(std::string_view s)
{
	if (s.empty())
		return {};
	auto it = interned_.find(s);
	if (it != interned_.end())
		return *it;
	std::string_view kept = keep(s);
	interned_.insert(kept);
	return kept;
}

} // namespace tresor
