// Helpers of the C ABIs (tresor.h, tresor-invoice.h): errors go into the
// caller's buffer, and no exception crosses into C.
#pragma once

#include <cstddef>
#include <cstdio>
#include <new>
#include <stdexcept>

struct tresor_config;
namespace tresor {
struct Config;
}

namespace tresor::c_abi {

// The settings behind a tresor_config (the defaults for NULL), for C ABI
// parts outside c_api.cpp.
const Config &config_of(const tresor_config *cfg);

inline void set_error(char *err, std::size_t err_size, const char *msg)
{
	if (err != nullptr && err_size > 0)
		std::snprintf(err, err_size, "%s", msg);
}

inline void clear_error(char *err, std::size_t err_size)
{
	if (err != nullptr && err_size > 0)
		err[0] = '\0';
}

// Runs f, turning any exception into -1 and an error text.
template <class F> int guarded(char *err, std::size_t err_size, F &&f) noexcept
{
	try {
		return f();
	} catch (const std::bad_alloc &) {
		set_error(err, err_size, "out of memory");
	} catch (const std::exception &e) {
		set_error(err, err_size, e.what());
	} catch (...) {
		set_error(err, err_size, "unknown error");
	}
	return -1;
}

} // namespace tresor::c_abi
