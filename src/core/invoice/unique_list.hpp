// Lists without repeats, in the order items were first seen: the order is
// what reasons and logs show, so a set won't do. The lists are short
// (accounts, domains, authserv-ids of one mail or supplier line).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

namespace tresor {

// Appends value unless list already holds it.
inline void add_unique(std::vector<std::string> &list, std::string value)
{
	if (std::find(list.begin(), list.end(), value) == list.end())
		list.push_back(std::move(value));
}

} // namespace tresor
