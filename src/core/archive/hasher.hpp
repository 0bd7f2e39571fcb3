// Streaming message hasher: sha256 (whole message in CRLF form without the
// secret header fields), content_sha256 (selected header fields, normalised,
// plus the body), RFC822.SIZE and the Message-ID. See docs/archive.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "archive/config.hpp"
#include "common/sha256.hpp"

namespace tresor {

struct HashResult {
	std::string sha256;
	std::string content_sha256;
	std::uint64_t size = 0;   // bytes of the CRLF form
	std::string message_id;   // unfolded and trimmed, "" if none
	// The mail has NUL bytes, which IMAP's BODY[] serves as 0x80: the
	// sha256 of that form ("" for a mail without NULs, where BODY[]
	// hashes to sha256 itself).
	std::string imap_sha256;
};

class Hasher {
public:
	// What to compute: verify needs only sha256, and skipping the
	// content hash halves the work on the body. Sha256Only leaves
	// content_sha256 and message_id "", and without secret headers it
	// doesn't parse the header at all.
	enum class Hashes { Both, Sha256Only };

	explicit Hasher(const Config &cfg, Hashes hashes = Hashes::Both);
	Hasher(const std::vector<std::string> &secret_headers,
	       const std::vector<std::string> &content_headers,
	       Hashes hashes = Hashes::Both);

	// Any chunking; LF, CRLF and lone CR as stored.
	void update(const void *data, std::size_t size);
	// Completes the hashes; update() does nothing afterwards until
	// reset().
	HashResult finish();
	// Starts over for the next message with the same settings, keeping
	// the buffers: hashing many mails needs no allocation per mail.
	void reset();
	// Also hands every byte that goes into sha256 to sink, in order (the
	// evidence export writes them as the .eml file: sha256sum of it is
	// then the journal's sha256). An empty function: none.
	void set_sink(std::function<void(std::string_view)> sink) { sink_ = std::move(sink); }

	// Longest Message-ID value kept (bytes, before trimming).
	static constexpr std::size_t kMaxMessageIdBytes = 16384;

private:
	enum class FieldState { None, Name, Value };

	void byte(char c);
	void eol();
	void header_byte(char c);
	// bytes of a field's value (no CR/LF), past its name
	void header_value_bytes(std::string_view bytes);
	void header_eol();
	void resolve_name();
	void resolve_as_other();
	void end_field();
	void end_header();
	void flush_out();
	// bytes of the CRLF form into sha256 (and, once a NUL was seen, the
	// IMAP form's hash)
	void hash_out(std::string_view bytes);
	// sha256 when nothing is left out: only bare LFs become CR LF
	void update_crlf_only(const char *p, std::size_t size);
	void append_out(const char *p, std::size_t size);

	// configuration (lowercased names)
	std::vector<std::string> secret_;
	std::vector<std::string> content_;
	std::size_t max_name_len_ = 0;

	Sha256 sha_;
	Sha256 imap_sha_;
	bool imap_differs_ = false; // a NUL was seen
	std::string imap_buf_;
	Sha256 content_sha_;
	bool want_content_ = true;
	// Sha256Only without secret headers: update_crlf_only()
	bool crlf_only_ = false;
	bool last_was_cr_ = false; // of update_crlf_only()'s input
	std::uint64_t size_ = 0;
	bool pending_cr_ = false;
	bool in_body_ = false;
	bool finished_ = false;
	bool line_empty_ = true;

	FieldState field_ = FieldState::None;
	std::string name_buf_;
	bool secret_field_ = false;
	int content_idx_ = -1;
	bool msgid_field_ = false;
	std::string value_;
	std::vector<std::pair<int, std::string>> content_fields_;
	bool have_msgid_ = false;
	std::string message_id_;

	// bytes not yet given to the hashes: header phase -> sha only,
	// body phase -> sha and content_sha
	std::string out_;
	std::function<void(std::string_view)> sink_;
};

// A header field value as content_sha256 uses it: SP/HTAB runs made one SP,
// leading and trailing white space removed (raw must already be unfolded).
std::string normalise_header_value(const std::string &raw);

} // namespace tresor
