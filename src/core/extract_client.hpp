// Runs the tresor-extract helper on one untrusted document (PDF or XML) in
// a separate process under CPU, memory and wall-clock limits, and reads its
// JSON answer. Made for Dovecot processes (imap, lmtp, indexer-worker): no
// exception but std::bad_alloc escapes, no signal handlers, no threads, no
// file descriptor or zombie left behind, SIGPIPE can't kill the caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "einvoice.hpp"

namespace tresor::extract {

struct Limits {
	unsigned cpu_seconds = 5;                // RLIMIT_CPU; 0 = not limited
	std::uint64_t memory_bytes = 256ull << 20; // RLIMIT_AS; 0 = not limited
	unsigned timeout_ms = 10000;             // wall clock, then SIGKILL
	std::size_t max_output = 8u << 20;       // larger answers are refused
	std::size_t max_text = 1u << 20;         // passed as --max-text
};

enum class Kind { xml, pdf };

struct Document {
	bool ok = false; // the helper produced a valid answer
	std::optional<einvoice::Invoice> einvoice;
	std::string text;
	// the helper's warnings, and why !ok ("timed out after 10000 ms",
	// "killed by signal 9 (memory limit?)", "exit status 3 (out of
	// memory)", "invalid output", ...)
	std::vector<std::string> warnings;
};

// Exit statuses of tresor-extract other than 0 (answer written).
enum ExitStatus : int {
	kExitUsage = 2,
	kExitOutOfMemory = 3,
	kExitInternal = 4,
};

// Runs `helper_path --mode=xml|pdf --max-text=N` with data on its stdin.
// Never fails by exception except std::bad_alloc; every problem ends up as
// ok = false with a warning.
Document analyse(const std::string &helper_path, Kind kind, std::string_view data,
		 const Limits &limits);

// Reads the helper's JSON answer; false (with a warning) when it is not one.
bool parse_answer(std::string_view json, Document &doc);

} // namespace tresor::extract
