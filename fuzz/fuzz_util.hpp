// Helpers shared by the libFuzzer targets (fuzz/README.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

namespace tresor::fuzz {

inline std::string_view input(const std::uint8_t *data, std::size_t size)
{
	return {reinterpret_cast<const char *>(data), size};
}

// Splits at every sep; always at least one piece.
inline std::vector<std::string_view> split(std::string_view s, char sep)
{
	std::vector<std::string_view> out;
	std::size_t start = 0;
	for (;;) {
		std::size_t p = s.find(sep, start);
		if (p == std::string_view::npos) {
			out.push_back(s.substr(start));
			return out;
		}
		out.push_back(s.substr(start, p - start));
		start = p + 1;
	}
}

// A property the code under test documents was broken: a finding.
[[noreturn]] inline void violated(const char *what)
{
	std::fprintf(stderr, "fuzz: property violated: %s\n", what);
	std::abort();
}
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			::tresor::fuzz::violated(#cond);                       \
	} while (0)

// A private scratch directory for targets that need files: on /dev/shm
// when there is one (no disk writes per input), removed at exit.
inline const std::string &scratch_dir()
{
	static std::string dir = [] {
		std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		std::string tmpl = base + "/tresor-fuzz-XXXXXX";
		std::vector<char> buf(tmpl.begin(), tmpl.end());
		buf.push_back('\0');
		if (mkdtemp(buf.data()) == nullptr) {
			std::perror("mkdtemp");
			std::abort();
		}
		std::string d(buf.data());
		static std::string for_atexit;
		for_atexit = d;
		std::atexit([] {
			std::string cmd = "rm -rf '" + for_atexit + "'";
			(void)!std::system(cmd.c_str());
		});
		return d;
	}();
	return dir;
}

inline void write_file(const std::string &path, std::string_view content)
{
	std::FILE *f = std::fopen(path.c_str(), "wb");
	if (f == nullptr) {
		std::perror(path.c_str());
		std::abort();
	}
	if (!content.empty() && std::fwrite(content.data(), 1, content.size(), f) != content.size())
		std::abort();
	std::fclose(f);
}

} // namespace tresor::fuzz
