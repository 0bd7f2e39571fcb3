// The journal's files in dir: journal/YYYY.jsonl, one per year, and
// intent.jsonl of a commit in progress. Reading them - file names, lines
// from an offset, the line before an offset, the head - is shared by the
// writer (journal.hpp), the catalog, verify, retention and the export;
// what a line holds is record.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/sha256.hpp"

namespace tresor {

// How much of a journal file is read at a time.
inline constexpr std::size_t kJournalReadChunk = 64 * 1024;

std::string journal_dir_path(const std::string &dir);
// dir/intent.jsonl: the records of the commit in progress (Journal::write_intent()).
std::string intent_path(const std::string &dir);

struct JournalFile {
	int year = 0;
	std::string name; // "2026.jsonl"
	std::string path;
};
// Files named YYYY.jsonl in dir/journal, oldest year first. A missing
// journal directory gives an empty list.
std::vector<JournalFile> list_journal_files(const std::string &dir);
bool parse_journal_file_name(std::string_view name, int *year_r);
// The file of that year's records (which may not exist yet).
JournalFile journal_file_of_year(const std::string &dir, int year);
// Opens a year's journal file for appending; want_new creates it (created
// says whether this call did: another writer may have been first).
// Throws std::system_error.
int open_journal_file(const std::string &path, bool want_new, bool &created);

// Reads a file line by line from a byte offset.
class LineReader {
public:
	LineReader(const std::string &path, std::uint64_t offset = 0);
	~LineReader();
	LineReader(const LineReader &) = delete;
	LineReader &operator=(const LineReader &) = delete;

	// The next line without its '\n'; terminated_r tells whether it had
	// one. False at the end of the file.
	bool next(std::string &line, bool &terminated_r);
	// Byte offset just after the line last returned.
	std::uint64_t offset() const { return offset_; }

private:
	bool fill();
	std::string path_;
	int fd_ = -1;
	std::string buf_;
	std::size_t pos_ = 0;
	bool eof_ = false;
	std::uint64_t offset_ = 0;
};

// The line ending at byte `end` of fd (its '\n' at end-1, if any, is not
// part of it). Reads backwards from `end` only as far as needed.
std::string read_line_before(int fd, std::uint64_t end, const std::string &path);
// The end of the last complete line of a file of `size` bytes: `size`
// when it is empty or ends with '\n', else just after its last '\n' (0
// without one) - what is left without an unterminated tail.
std::uint64_t end_of_complete_lines(int fd, std::uint64_t size, const std::string &path);


// A position in the journal: just after the line with this seq and hash.
// The empty journal is {"" , 0, 0, 64 zeros}.
struct JournalPos {
	std::string file;
	std::uint64_t offset = 0;
	std::uint64_t seq = 0;
	std::string hash = std::string(kZeroHash);

	bool operator==(const JournalPos &) const = default;
};

// Calls visit(file, line, end) for each complete line of the journal from
// files[first] at byte offset on, in order; end is the offset just after
// the line. An unterminated tail of the newest file - an interrupted write
// - is not a line. Whatever visit throws ends the walk.
using JournalLineVisitor =
	std::function<void(const JournalFile &file, const std::string &line, std::uint64_t end)>;
void for_each_journal_line(const std::vector<JournalFile> &files, std::size_t first,
			   std::uint64_t offset, const JournalLineVisitor &visit);
// Where a reader that stopped at pos (its file, offset and hash) can go
// on: the index of pos.file in files, when the line ending at pos.offset
// there is still the one it read. nullopt when the file is gone or the
// line changed.
std::optional<std::size_t> journal_resume_point(const std::vector<JournalFile> &files,
						const JournalPos &pos);

// The head: the last line of the journal (an unterminated tail of the
// newest file, i.e. an interrupted write, is not part of it). seq is that
// line's seq; when the line can't be parsed, it is counted from the last
// parseable line before it.
JournalPos read_journal_head(const std::string &dir);
// The same, from a listing of the journal's files just made.
JournalPos read_journal_head(const std::vector<JournalFile> &files);

} // namespace tresor
