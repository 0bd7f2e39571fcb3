#include "common/sha256.hpp"

#include <new>
#include <stdexcept>
#include <utility>

#include <openssl/evp.h>

namespace tresor {

Sha256::Sha256()
{
	ctx_ = EVP_MD_CTX_new();
	if (ctx_ == nullptr)
		throw std::bad_alloc();
	try {
		init();
	} catch (...) {
		EVP_MD_CTX_free(ctx_);
		throw;
	}
}

Sha256::~Sha256()
{
	if (ctx_ != nullptr)
		EVP_MD_CTX_free(ctx_);
}

Sha256::Sha256(Sha256 &&other) noexcept : ctx_(std::exchange(other.ctx_, nullptr))
{
}

Sha256 &Sha256::operator=(Sha256 &&other) noexcept
{
	if (this != &other) {
		if (ctx_ != nullptr)
			EVP_MD_CTX_free(ctx_);
		ctx_ = std::exchange(other.ctx_, nullptr);
	}
	return *this;
}

void Sha256::init()
{
	if (EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1)
		throw std::runtime_error("SHA-256: EVP_DigestInit_ex failed");
}

void Sha256::copy_state_to(Sha256 &other) const
{
	if (EVP_MD_CTX_copy_ex(other.ctx_, ctx_) != 1)
		throw std::runtime_error("sha256: copying the digest state failed");
}

void Sha256::update(const void *data, std::size_t size)
{
	if (ctx_ == nullptr)
		throw std::logic_error("SHA-256: use of a moved-from object");
	if (size == 0)
		return;
	if (EVP_DigestUpdate(ctx_, data, size) != 1)
		throw std::runtime_error("SHA-256: EVP_DigestUpdate failed");
}

Sha256::Digest Sha256::finish()
{
	if (ctx_ == nullptr)
		throw std::logic_error("SHA-256: use of a moved-from object");
	Digest d{};
	unsigned int len = 0;
	if (EVP_DigestFinal_ex(ctx_, d.data(), &len) != 1 || len != d.size())
		throw std::runtime_error("SHA-256: EVP_DigestFinal_ex failed");
	init();
	return d;
}

std::string Sha256::finish_hex()
{
	Digest d = finish();
	return to_hex(d.data(), d.size());
}

std::string to_hex(const unsigned char *data, std::size_t size)
{
	static const char digits[] = "0123456789abcdef";
	std::string out(size * 2, '0');
	for (std::size_t i = 0; i < size; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 0x0f];
	}
	return out;
}

std::string sha256_hex(std::string_view data)
{
	Sha256 h;
	h.update(data);
	return h.finish_hex();
}

bool is_sha256_hex(std::string_view s)
{
	if (s.size() != 64)
		return false;
	for (char c : s) {
		bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			  (c >= 'A' && c <= 'F');
		if (!ok)
			return false;
	}
	return true;
}

bool sha256_from_lowercase_hex(std::string_view hex, Sha256::Digest &out)
{
	if (hex.size() != out.size() * 2)
		return false;
	auto nibble = [](char c) {
		return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
	};
	Sha256::Digest d;
	for (std::size_t i = 0; i < d.size(); i++) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		d[i] = static_cast<unsigned char>(hi << 4 | lo);
	}
	out = d;
	return true;
}

} // namespace tresor
