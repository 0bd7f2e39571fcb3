#include "archive/hasher.hpp"
#include "common/text.hpp"

#include <algorithm>
#include <cstring>

namespace tresor {

namespace {

constexpr std::size_t kOutFlush = 64 * 1024;

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

std::string trim_unfolded(const std::string &raw)
{
	// value_ never holds the CRLFs of folded lines, so it is unfolded.
	std::size_t b = 0, e = raw.size();
	while (b < e && is_wsp(raw[b]))
		b++;
	while (e > b && is_wsp(raw[e - 1]))
		e--;
	return raw.substr(b, e - b);
}

} // namespace

std::string normalise_header_value(const std::string &raw)
{
	std::string out;
	out.reserve(raw.size());
	bool space = false;
	for (char c : raw) {
		if (is_wsp(c)) {
			space = true;
			continue;
		}
		if (space && !out.empty())
			out += ' ';
		space = false;
		out += c;
	}
	return out;
}

Hasher::Hasher(const Config &cfg, Hashes hashes)
	: Hasher(cfg.secret_headers, cfg.content_headers, hashes)
{
}

Hasher::Hasher(const std::vector<std::string> &secret_headers,
	       const std::vector<std::string> &content_headers, Hashes hashes)
	: want_content_(hashes == Hashes::Both)
{
	for (const std::string &s : secret_headers) {
		std::string l = tresor::text::ascii_lowercase(s);
		max_name_len_ = std::max(max_name_len_, l.size());
		tresor::text::add_unique(secret_, std::move(l));
	}
	for (const std::string &s : content_headers) {
		std::string l = tresor::text::ascii_lowercase(s);
		max_name_len_ = std::max(max_name_len_, l.size());
		tresor::text::add_unique(content_, std::move(l));
	}
	max_name_len_ = std::max(max_name_len_, std::string_view("message-id").size());
	crlf_only_ = !want_content_ && secret_.empty();
	out_.reserve(kOutFlush + 16);
}

void Hasher::reset()
{
	if (!finished_) {
		// drop what was hashed so far (finish() starts a new digest)
		(void)sha_.finish();
		if (want_content_)
			(void)content_sha_.finish();
	}
	if (imap_differs_)
		(void)imap_sha_.finish();
	imap_differs_ = false;
	size_ = 0;
	pending_cr_ = false;
	in_body_ = false;
	finished_ = false;
	line_empty_ = true;
	last_was_cr_ = false;
	field_ = FieldState::None;
	name_buf_.clear();
	secret_field_ = false;
	content_idx_ = -1;
	msgid_field_ = false;
	value_.clear();
	content_fields_.clear();
	have_msgid_ = false;
	message_id_.clear();
	out_.clear();
}

void Hasher::append_out(const char *p, std::size_t size)
{
	size_ += size;
	if (out_.size() + size > kOutFlush) {
		flush_out();
		if (size >= kOutFlush) {
			hash_out(std::string_view(p, size)); // a long run: no detour through out_
			if (sink_)
				sink_(std::string_view(p, size));
			return;
		}
	}
	out_.append(p, size);
}

void Hasher::update_crlf_only(const char *p, std::size_t size)
{
	while (size > 0) {
		const auto *lf = static_cast<const char *>(std::memchr(p, '\n', size));
		std::size_t run = lf != nullptr ? static_cast<std::size_t>(lf - p) : size;
		if (run > 0) {
			append_out(p, run);
			last_was_cr_ = p[run - 1] == '\r';
		}
		if (lf == nullptr)
			break;
		// a bare LF is CR LF in the form IMAP returns
		if (last_was_cr_)
			append_out("\n", 1);
		else
			append_out("\r\n", 2);
		last_was_cr_ = false;
		p += run + 1;
		size -= run + 1;
	}
}

void Hasher::update(const void *data, std::size_t size)
{
	if (finished_)
		return;
	const char *p = static_cast<const char *>(data);
	if (crlf_only_) {
		update_crlf_only(p, size);
		return;
	}
	std::size_t i = 0;
	while (i < size) {
		if (pending_cr_) {
			pending_cr_ = false;
			if (p[i] == '\n') {
				eol();
				i++;
				continue;
			}
			byte('\r');
		}
		if (in_body_ || (field_ == FieldState::Value && !line_empty_)) {
			// fast path: a run of ordinary bytes of the body or of a
			// header field's value goes in one piece
			std::size_t j = i;
			while (j < size && p[j] != '\r' && p[j] != '\n')
				j++;
			if (j > i) {
				if (in_body_)
					out_.append(p + i, j - i);
				else
					header_value_bytes(std::string_view(p + i, j - i));
				size_ += j - i;
				if (out_.size() >= kOutFlush)
					flush_out();
				i = j;
				continue;
			}
		}
		char c = p[i++];
		if (c == '\r')
			pending_cr_ = true;
		else if (c == '\n')
			eol();
		else
			byte(c);
	}
}

void Hasher::byte(char c)
{
	size_++;
	if (in_body_) {
		out_ += c;
		if (out_.size() >= kOutFlush)
			flush_out();
	} else {
		header_byte(c);
	}
}

void Hasher::eol()
{
	size_ += 2;
	if (in_body_) {
		out_ += "\r\n";
		if (out_.size() >= kOutFlush)
			flush_out();
	} else {
		header_eol();
	}
}

void Hasher::header_byte(char c)
{
	if (line_empty_) {
		line_empty_ = false;
		bool continuation = is_wsp(c) && field_ != FieldState::None;
		if (!continuation) {
			end_field();
			field_ = FieldState::Name;
			name_buf_.clear();
		}
	}
	if (field_ == FieldState::Name) {
		name_buf_ += c;
		if (c == ':')
			resolve_name();
		else if (name_buf_.size() > max_name_len_ + 1024)
			resolve_as_other(); // can't be a configured name
	} else {
		header_value_bytes(std::string_view(&c, 1));
	}
	if (out_.size() >= kOutFlush)
		flush_out();
}

void Hasher::header_value_bytes(std::string_view bytes)
{
	if (!secret_field_)
		out_ += bytes;
	if (content_idx_ >= 0)
		value_ += bytes;
	else if (msgid_field_ && value_.size() < kMaxMessageIdBytes)
		value_ += bytes.substr(0, kMaxMessageIdBytes - value_.size());
}

void Hasher::header_eol()
{
	if (line_empty_) {
		// the empty line ends the header; it is kept in sha256
		end_field();
		out_ += "\r\n";
		end_header();
		return;
	}
	if (field_ == FieldState::Name)
		resolve_as_other(); // a line without ':'
	if (!secret_field_)
		out_ += "\r\n";
	line_empty_ = true;
}

void Hasher::resolve_name()
{
	std::string_view name(name_buf_);
	name.remove_suffix(1); // ':'
	while (!name.empty() && is_wsp(name.back()))
		name.remove_suffix(1);
	std::string l = tresor::text::ascii_lowercase(name);
	secret_field_ = std::find(secret_.begin(), secret_.end(), l) != secret_.end();
	content_idx_ = -1;
	msgid_field_ = false;
	if (want_content_) {
		// (Sha256Only collects no values)
		auto it = std::find(content_.begin(), content_.end(), l);
		if (it != content_.end())
			content_idx_ = static_cast<int>(it - content_.begin());
		msgid_field_ = !have_msgid_ && l == "message-id";
	}
	if (msgid_field_)
		have_msgid_ = true;
	if (!secret_field_)
		out_ += name_buf_;
	name_buf_.clear();
	value_.clear();
	field_ = FieldState::Value;
}

void Hasher::resolve_as_other()
{
	secret_field_ = false;
	content_idx_ = -1;
	msgid_field_ = false;
	out_ += name_buf_;
	name_buf_.clear();
	value_.clear();
	field_ = FieldState::Value;
}

void Hasher::end_field()
{
	if (field_ == FieldState::Name)
		resolve_as_other();
	if (field_ == FieldState::Value) {
		if (msgid_field_)
			message_id_ = trim_unfolded(value_);
		if (content_idx_ >= 0)
			content_fields_.emplace_back(content_idx_, std::move(value_));
	}
	field_ = FieldState::None;
	secret_field_ = false;
	content_idx_ = -1;
	msgid_field_ = false;
	value_.clear();
}

void Hasher::end_header()
{
	flush_out(); // header bytes: sha256 only
	in_body_ = true;
	if (!want_content_)
		return;
	for (std::size_t i = 0; i < content_.size(); i++) {
		for (const auto &[idx, value] : content_fields_) {
			if (idx != static_cast<int>(i))
				continue;
			std::string line = content_[i];
			line += ':';
			line += normalise_header_value(value);
			line += "\r\n";
			content_sha_.update(line);
		}
	}
	content_sha_.update("\r\n");
	content_fields_.clear();
}

void Hasher::flush_out()
{
	if (out_.empty())
		return;
	hash_out(out_);
	if (sink_)
		sink_(out_);
	if (in_body_ && want_content_)
		content_sha_.update(out_);
	out_.clear();
}

void Hasher::hash_out(std::string_view bytes)
{
	if (!imap_differs_ && std::memchr(bytes.data(), '\0', bytes.size()) != nullptr) {
		sha_.copy_state_to(imap_sha_);
		imap_differs_ = true;
	}
	sha_.update(bytes);
	if (imap_differs_) {
		imap_buf_.assign(bytes);
		std::replace(imap_buf_.begin(), imap_buf_.end(), '\0', '\x80');
		imap_sha_.update(imap_buf_);
	}
}

HashResult Hasher::finish()
{
	if (finished_)
		throw std::logic_error("Hasher::finish called twice");
	if (pending_cr_) {
		pending_cr_ = false;
		byte('\r');
	}
	if (!in_body_ && !crlf_only_) {
		// no empty line: the whole message is header, the body is empty
		end_field();
		end_header();
	}
	flush_out();
	finished_ = true;
	HashResult r;
	r.sha256 = sha_.finish_hex();
	if (imap_differs_)
		r.imap_sha256 = imap_sha_.finish_hex();
	if (want_content_)
		r.content_sha256 = content_sha_.finish_hex();
	r.size = size_;
	r.message_id = std::move(message_id_);
	return r;
}

} // namespace tresor
