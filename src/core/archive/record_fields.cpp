// parse_record_fields(): the members of a journal line that verify,
// retention and recovery look at, without building a JSON tree for the
// lines the journal writes (flat objects of strings and unsigned numbers).
#include "archive/record.hpp"

#include <cstdint>
#include <string>
#include <string_view>

#include "common/text.hpp"

namespace tresor {

namespace {

bool is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Length of the well-formed UTF-8 sequence starting at s[0] with a lead
// byte >= 0x80 (Unicode table 3-7, as the JSON parser checks it), or 0.
std::size_t utf8_sequence_length(std::string_view s)
{
	auto byte = [&s](std::size_t i) {
		return i < s.size() ? static_cast<unsigned char>(s[i]) : 0u;
	};
	auto in = [](unsigned c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
	unsigned c0 = byte(0);
	if (in(c0, 0xC2, 0xDF))
		return in(byte(1), 0x80, 0xBF) ? 2 : 0;
	if (in(c0, 0xE0, 0xEF)) {
		unsigned lo = c0 == 0xE0 ? 0xA0 : 0x80;
		unsigned hi = c0 == 0xED ? 0x9F : 0xBF;
		return in(byte(1), lo, hi) && in(byte(2), 0x80, 0xBF) ? 3 : 0;
	}
	if (in(c0, 0xF0, 0xF4)) {
		unsigned lo = c0 == 0xF0 ? 0x90 : 0x80;
		unsigned hi = c0 == 0xF4 ? 0x8F : 0xBF;
		return in(byte(1), lo, hi) && in(byte(2), 0x80, 0xBF) &&
		       in(byte(3), 0x80, 0xBF) ? 4 : 0;
	}
	return 0;
}

// The members RecordFields holds; each may be given once on the fast path.
enum class RecordMember {
	Seq, Event, Mailbox, MailboxGuid, Uidvalidity, Uid, Guid, Sha256,
	NewMailbox, Prev, Time, MessageId, Archive, Other
};

RecordMember record_member(std::string_view key)
{
	static constexpr std::pair<std::string_view, RecordMember> members[] = {
		{"seq", RecordMember::Seq},
		{"event", RecordMember::Event},
		{"mailbox", RecordMember::Mailbox},
		{"mailbox_guid", RecordMember::MailboxGuid},
		{"uidvalidity", RecordMember::Uidvalidity},
		{"uid", RecordMember::Uid},
		{"guid", RecordMember::Guid},
		{"sha256", RecordMember::Sha256},
		{"new_mailbox", RecordMember::NewMailbox},
		{"prev", RecordMember::Prev},
		{"time", RecordMember::Time},
		{"message_id", RecordMember::MessageId},
		{"archive", RecordMember::Archive},
	};
	for (const auto &[name, member] : members) {
		if (key == name)
			return member;
	}
	return RecordMember::Other;
}

// A strict reader of one flat JSON object: "{" (string ":" (string |
// unsigned integer)) ... "}" with JSON white space. Every method returns
// false for input it doesn't handle; the caller then uses the full parser.
class FlatObjectReader {
public:
	explicit FlatObjectReader(std::string_view text) : s_(text) {}

	bool read(RecordFields &f)
	{
		f.clear();
		unsigned seen = 0; // bit per RecordMember already given
		skip_space();
		if (!take('{'))
			return false;
		skip_space();
		if (!take('}')) {
			for (;;) {
				if (!string(key_))
					return false;
				skip_space();
				if (!take(':'))
					return false;
				skip_space();
				RecordMember m = record_member(key_);
				if (m != RecordMember::Other) {
					unsigned bit = 1u << static_cast<unsigned>(m);
					if ((seen & bit) != 0)
						return false; // the full parser keeps the last one
					seen |= bit;
				}
				if (!value(m, f))
					return false;
				skip_space();
				if (take('}'))
					break;
				if (!take(','))
					return false;
				skip_space();
			}
		}
		skip_space();
		return pos_ == s_.size();
	}

private:
	void skip_space()
	{
		while (pos_ < s_.size() && is_json_space(s_[pos_]))
			pos_++;
	}

	bool take(char c)
	{
		if (pos_ < s_.size() && s_[pos_] == c) {
			pos_++;
			return true;
		}
		return false;
	}

	bool value(RecordMember m, RecordFields &f)
	{
		if (pos_ >= s_.size())
			return false;
		if (s_[pos_] == '"') {
			std::string *target = &scratch_;
			switch (m) {
			case RecordMember::Event: target = &f.event; break;
			case RecordMember::Mailbox: target = &f.mailbox; break;
			case RecordMember::MailboxGuid: target = &f.mailbox_guid; break;
			case RecordMember::Guid: target = &f.guid; break;
			case RecordMember::Sha256: target = &f.sha256; break;
			case RecordMember::NewMailbox: target = &f.new_mailbox; break;
			case RecordMember::Prev: target = &f.prev; break;
			case RecordMember::Time: target = &f.time; break;
			case RecordMember::MessageId: target = &f.message_id; break;
			default: break; // a number member given as a string reads as unset
			}
			if (!string(*target))
				return false;
			if (m == RecordMember::Prev)
				f.has_prev = true;
			return true;
		}
		std::uint64_t n;
		if (!unsigned_number(n))
			return false;
		switch (m) {
		case RecordMember::Seq: f.seq = n; break;
		case RecordMember::Uidvalidity: f.uidvalidity = n; break;
		case RecordMember::Uid: f.uid = n; break;
		case RecordMember::Archive: f.archive = n; break;
		default: break; // a string member given as a number reads as ""
		}
		return true;
	}

	// At the opening quote; leaves pos_ after the closing one.
	bool string(std::string &out)
	{
		if (!take('"'))
			return false;
		out.clear();
		std::size_t run = pos_; // start of bytes not yet copied
		while (pos_ < s_.size()) {
			auto c = static_cast<unsigned char>(s_[pos_]);
			if (c == '"') {
				out.append(s_.substr(run, pos_ - run));
				pos_++;
				return true;
			}
			if (c == '\\') {
				out.append(s_.substr(run, pos_ - run));
				if (!escape(out))
					return false;
				run = pos_;
			} else if (c < 0x20) {
				return false; // control characters must be escaped
			} else if (c < 0x80) {
				pos_++;
			} else {
				std::size_t n = utf8_sequence_length(s_.substr(pos_));
				if (n == 0)
					return false;
				pos_ += n;
			}
		}
		return false; // no closing quote
	}

	// At the backslash.
	bool escape(std::string &out)
	{
		if (pos_ + 1 >= s_.size())
			return false;
		char e = s_[pos_ + 1];
		pos_ += 2;
		switch (e) {
		case '"': out += '"'; return true;
		case '\\': out += '\\'; return true;
		case '/': out += '/'; return true;
		case 'b': out += '\b'; return true;
		case 'f': out += '\f'; return true;
		case 'n': out += '\n'; return true;
		case 'r': out += '\r'; return true;
		case 't': out += '\t'; return true;
		case 'u': break;
		default: return false;
		}
		if (pos_ + 4 > s_.size())
			return false;
		unsigned cp = 0;
		for (int i = 0; i < 4; i++) {
			int d = text::hex_digit_value(s_[pos_ + i]);
			if (d < 0)
				return false;
			cp = cp * 16 + static_cast<unsigned>(d);
		}
		pos_ += 4;
		if (cp >= 0xD800 && cp <= 0xDFFF)
			return false; // surrogate pairs: left to the full parser
		if (cp < 0x80) {
			out += static_cast<char>(cp);
		} else if (cp < 0x800) {
			out += static_cast<char>(0xC0 | (cp >> 6));
			out += static_cast<char>(0x80 | (cp & 0x3F));
		} else {
			out += static_cast<char>(0xE0 | (cp >> 12));
			out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
			out += static_cast<char>(0x80 | (cp & 0x3F));
		}
		return true;
	}

	// Digits without a leading zero, fitting 64 bits, not followed by a
	// fraction or exponent (those, and negative numbers, aren't seqs or
	// UIDs anyway - the full parser decides what they mean).
	bool unsigned_number(std::uint64_t &out)
	{
		std::size_t start = pos_;
		std::uint64_t n = 0;
		while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
			auto d = static_cast<std::uint64_t>(s_[pos_] - '0');
			if (n > (UINT64_MAX - d) / 10)
				return false;
			n = n * 10 + d;
			pos_++;
		}
		std::size_t len = pos_ - start;
		if (len == 0 || (len > 1 && s_[start] == '0'))
			return false;
		if (pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E'))
			return false;
		out = n;
		return true;
	}

	std::string_view s_;
	std::size_t pos_ = 0;
	std::string key_;
	std::string scratch_; // string values of members not kept
};

} // namespace

void RecordFields::clear()
{
	seq.reset();
	event.clear();
	mailbox.clear();
	mailbox_guid.clear();
	uidvalidity = 0;
	uid = 0;
	guid.clear();
	sha256.clear();
	new_mailbox.clear();
	time.clear();
	message_id.clear();
	archive = 0;
	has_prev = false;
	prev.clear();
}

bool parse_flat_record_fields(std::string_view line, RecordFields &fields_r)
{
	return FlatObjectReader(line).read(fields_r);
}

bool parse_record_fields(std::string_view line, RecordFields &fields_r)
{
	if (parse_flat_record_fields(line, fields_r))
		return true;
	fields_r.clear();
	auto j = parse_line(line);
	if (!j)
		return false;
	fields_r.seq = record_seq(*j);
	fields_r.event = json_string(*j, "event");
	fields_r.mailbox = json_string(*j, "mailbox");
	fields_r.mailbox_guid = json_string(*j, "mailbox_guid");
	fields_r.uidvalidity = json_uint(*j, "uidvalidity");
	fields_r.uid = json_uint(*j, "uid");
	fields_r.guid = json_string(*j, "guid");
	fields_r.sha256 = json_string(*j, "sha256");
	fields_r.new_mailbox = json_string(*j, "new_mailbox");
	fields_r.time = json_string(*j, "time");
	fields_r.message_id = json_string(*j, "message_id");
	fields_r.archive = json_uint(*j, "archive");
	auto prev = j->find("prev");
	if (prev != j->end() && prev->is_string()) {
		fields_r.has_prev = true;
		fields_r.prev = prev->get<std::string>();
	}
	return true;
}
} // namespace tresor
