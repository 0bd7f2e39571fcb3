// Helpers of the C ABIs (tresor.h, tresor-invoice.h, tresor-fts.h): errors
// go into the caller's buffer, and no exception crosses into C.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string_view>
#include <type_traits>

namespace tresor::c_abi {

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

// Copies s into dst (size bytes with the NUL), cut at a UTF-8 character
// boundary when it doesn't fit.
inline void copy_out(char *dst, std::size_t size, std::string_view s)
{
	if (size == 0)
		return;
	std::size_t n = s.size();
	if (n >= size) {
		n = size - 1;
		while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
			n--;
	}
	std::memcpy(dst, s.data(), n);
	dst[n] = '\0';
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

// Runs make, which returns a new C handle as a std::unique_ptr or throws,
// like guarded(): the handle, or NULL with the error text.
template <class F> auto new_handle(char *err, std::size_t err_size, F &&make) noexcept ->
	typename std::invoke_result_t<F>::pointer
{
	typename std::invoke_result_t<F>::pointer handle = nullptr;
	guarded(err, err_size, [&]() {
		handle = make().release();
		clear_error(err, err_size);
		return 0;
	});
	return handle;
}

} // namespace tresor::c_abi
