// The journal reader: one line through parse_line(), the fast path
// parse_flat_record_fields() (which must agree with the JSON parser) and
// the other line helpers; the whole input as a journal file through
// JournalReader, read_journal_head(), journal_status(), the retention
// replay and verify's chain check.
#include <optional>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "archive/journal.hpp"
#include "archive/journal_reader.hpp"
#include "archive/retention.hpp"
#include "archive/verify.hpp"

using namespace tresor;

namespace {

void check_line(std::string_view line)
{
	std::optional<json> j = parse_line(line);
	RecordFields flat, any;
	bool fast = parse_flat_record_fields(line, flat);
	bool ok = parse_record_fields(line, any);
	FUZZ_CHECK(ok == j.has_value());
	if (fast) {
		// "It accepts nothing that parse_line() rejects", and the result is
		// what the JSON tree gives.
		FUZZ_CHECK(j.has_value());
		FUZZ_CHECK(flat.seq == record_seq(*j));
		FUZZ_CHECK(flat.event == json_string(*j, "event"));
		FUZZ_CHECK(flat.mailbox == json_string(*j, "mailbox"));
		FUZZ_CHECK(flat.mailbox_guid == json_string(*j, "mailbox_guid"));
		FUZZ_CHECK(flat.uidvalidity == json_uint(*j, "uidvalidity"));
		FUZZ_CHECK(flat.uid == json_uint(*j, "uid"));
		FUZZ_CHECK(flat.guid == json_string(*j, "guid"));
		FUZZ_CHECK(flat.sha256 == json_string(*j, "sha256"));
		FUZZ_CHECK(flat.new_mailbox == json_string(*j, "new_mailbox"));
		FUZZ_CHECK(flat.time == json_string(*j, "time"));
		FUZZ_CHECK(flat.message_id == json_string(*j, "message_id"));
		auto prev = j->find("prev");
		bool has_prev = prev != j->end() && prev->is_string();
		FUZZ_CHECK(flat.has_prev == has_prev);
		if (has_prev)
			FUZZ_CHECK(flat.prev == prev->get<std::string>());
	}
	if (j) {
		std::string dumped = dump_line(*j);
		std::optional<json> again = parse_line(dumped);
		FUZZ_CHECK(again.has_value());
		if (j->is_object() && json_string(*j, "event") == "hold")
			(void)hold_from_record(*j, 1);
	}
	(void)parse_utc_time(line.substr(0, 64));
	(void)normalize_message_id(line);
	int year;
	(void)parse_journal_file_name(line.substr(0, 64), &year);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	std::string_view in = fuzz::input(data, size);
	for (std::string_view line : fuzz::split(in, '\n'))
		check_line(line);

	static const std::string dir = [] {
		std::string d = fuzz::scratch_dir() + "/journal-user";
		(void)!std::system(("mkdir -p '" + d + "/journal'").c_str());
		return d;
	}();
	fuzz::write_file(dir + "/journal/2026.jsonl", in);

	JournalReader reader(dir);
	std::vector<std::string> values;
	std::string error;
	for (int i = 0; i < 100000; i++) {
		int r = reader.next(values, error);
		if (r == 0)
			break;
		if (r == 1)
			FUZZ_CHECK(values.size() == journal_field_count());
	}
	(void)read_journal_head(dir);
	(void)journal_status(dir);
	RetentionJournal retention(dir);
	Verifier verifier(dir);
	verifier.finish(false);
	(void)verifier.problems();
	return 0;
}
