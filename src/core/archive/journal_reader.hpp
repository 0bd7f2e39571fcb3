// Reading the journal for doveadm tresor journal (the C API's
// tresor_journal_read*() and tresor_journal_get_status()): every record as
// one string per field, and the counts and head without parsing each line.
// Read-only: it takes no lock and repairs nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "archive/journal_files.hpp"
#include "common/sha256.hpp"

namespace tresor {

// The fields JournalReader returns, in this order: "seq", "time",
// "event", ..., "prev", NULL-terminated.
const char *const *journal_field_names();
std::size_t journal_field_count();

class JournalReader {
public:
	explicit JournalReader(const std::string &dir);
	// 1: values_r holds one string per field name; 0: end; -1: a line that
	// can't be parsed (error_r says where); the next call goes on.
	int next(std::vector<std::string> &values_r, std::string &error_r);

private:
	std::vector<JournalFile> files_;
	std::size_t file_idx_ = 0;
	std::unique_ptr<LineReader> reader_;
	std::uint64_t line_no_ = 0;
};

struct JournalStatus {
	std::uint64_t records = 0;
	std::uint64_t head_seq = 0;
	std::string head_sha256 = std::string(kZeroHash);
	std::vector<std::string> files;
};
JournalStatus journal_status(const std::string &dir);

} // namespace tresor
