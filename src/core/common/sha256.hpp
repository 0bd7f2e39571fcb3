// Streaming SHA-256 over OpenSSL EVP, with lowercase hex output.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace tresor {

inline constexpr std::string_view kZeroHash =
	"0000000000000000000000000000000000000000000000000000000000000000";

class Sha256 {
public:
	using Digest = std::array<unsigned char, 32>;

	Sha256();
	~Sha256();
	Sha256(const Sha256 &) = delete;
	Sha256 &operator=(const Sha256 &) = delete;
	Sha256(Sha256 &&other) noexcept;
	Sha256 &operator=(Sha256 &&other) noexcept;

	// A second digest going on from the state this one is in.
	void copy_state_to(Sha256 &other) const;

	void update(const void *data, std::size_t size);
	void update(std::string_view data) { update(data.data(), data.size()); }
	// Completes the digest and starts a new one.
	Digest finish();
	std::string finish_hex();

private:
	void init();
	evp_md_ctx_st *ctx_ = nullptr;
};

std::string to_hex(const unsigned char *data, std::size_t size);
// Lowercase hex SHA-256 of data.
std::string sha256_hex(std::string_view data);
// True for exactly 64 lowercase or uppercase hex digits.
bool is_sha256_hex(std::string_view s);
// The digest written as exactly 64 lowercase hex digits (as the journal
// writes it); false, out unchanged, for any other text.
bool sha256_from_lowercase_hex(std::string_view hex, Sha256::Digest &out);

} // namespace tresor
