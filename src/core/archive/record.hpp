// The journal's record format: a Record, the JSON object and the line it
// becomes (keys in the documented order, docs/archive.md), and the ways
// back from a line - the full JSON parser (parse_line()) and the fast
// reader of the members verify, retention and recovery look at
// (parse_record_fields()). No files here: see journal_files.hpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tresor {

using Clock = std::chrono::system_clock;
using json = nlohmann::ordered_json;

// One event; unset strings and zero numbers are left out of the line.
struct Record {
	std::string event;
	std::optional<std::string> mailbox;
	std::optional<std::string> mailbox_guid;
	std::uint32_t uidvalidity = 0;
	std::uint32_t uid = 0;
	std::optional<std::string> guid;
	std::uint64_t size = 0;
	std::optional<std::string> sha256;
	std::optional<std::string> imap_sha256;
	std::optional<std::string> content_sha256;
	std::optional<std::string> message_id;
	// adopt: the mail's INTERNALDATE, "2019-03-04T10:00:00Z"
	std::optional<std::string> internaldate;
	std::uint64_t duplicate_of = 0;
	std::uint64_t content_duplicate_of = 0;
	std::uint32_t archive = 0; // save into an archive folder: 1
	std::optional<std::string> action;
	std::optional<std::string> new_mailbox;
	std::optional<std::string> service;
	std::optional<std::string> session;
	std::optional<std::string> reason;
	// Members of seal and tsr records (docs/archive.md section 4), written
	// in this order after reason and before prev.
	std::vector<std::pair<std::string, json>> extra;
};

// "2026-11-23T09:05:00.123456Z"
std::string format_time(Clock::time_point t);
int utc_year(Clock::time_point t);

// The JSON object of a record (keys in the documented order).
json record_json(const Record &rec, std::uint64_t seq, Clock::time_point t,
		 const std::string &prev);
// One journal line (without "\n"); invalid UTF-8 is replaced by U+FFFD.
std::string dump_line(const json &j);
// Parses a line; nullopt unless it is a JSON object.
std::optional<json> parse_line(std::string_view line);
// The seq of a parsed record, when it is a non-negative integer.
std::optional<std::uint64_t> record_seq(const json &j);
// A string member, or "" when absent or not a string.
std::string json_string(const json &j, const char *key);
// An unsigned member, or 0.
std::uint64_t json_uint(const json &j, const char *key);

// The members of a record that verify reads, with the meaning record_seq(),
// json_string() and json_uint() give them. Kept between lines so that
// reading a journal doesn't allocate per line.
struct RecordFields {
	std::optional<std::uint64_t> seq;
	std::string event;
	std::string mailbox;
	std::string mailbox_guid;
	std::uint64_t uidvalidity = 0;
	std::uint64_t uid = 0;
	std::string guid;
	std::string sha256;
	std::string new_mailbox;
	std::string time;       // purge decisions and verify's purge check
	std::string message_id; // hold matching
	std::uint64_t archive = 0; // a save into an archive folder: 1
	bool has_prev = false; // present and a string
	std::string prev;

	void clear();
};

// Reads a line into fields_r; false unless it is a JSON object (as
// parse_line()). A flat object of strings and unsigned integers - every
// line the journal writes - takes a fast path that doesn't build a JSON
// tree; anything else goes through parse_line(), so the result is the same.
bool parse_record_fields(std::string_view line, RecordFields &fields_r);
// The fast path alone: false for anything it doesn't handle, valid or not
// (nested values, true/false/null, negative or fractional numbers,
// surrogate escapes, a member of RecordFields given twice, and everything
// that isn't JSON). It accepts nothing that parse_line() rejects.
bool parse_flat_record_fields(std::string_view line, RecordFields &fields_r);

} // namespace tresor
