// Seals: Ed25519 signatures over the journal's head, written into the
// journal as "seal" records, and RFC 3161 time-stamp responses over them
// ("tsr" records). docs/archive.md section 7 ("Seals") defines the exact bytes.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "archive/record.hpp"

struct evp_pkey_st;

namespace tresor {

class Journal; // archive/journal.hpp

// A seal key, public key file or CA file that can't be used; what() names
// the setting (tresor_seal_key, tresor_seal_pubkey, tresor_tsa_ca).
class SealSetupError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// "tresor-seal-v1\nuser=...\nseq=...\nhash=...\ntime=...\n": what a seal
// signs and what a time-stamp request's message imprint is the SHA-256 of.
// Throws std::invalid_argument for a user name with a control character
// (the text must be reproducible with printf, line by line).
std::string seal_signed_text(std::string_view user, std::uint64_t head_seq,
			     std::string_view head_hash, std::string_view time);

// An Ed25519 key (private or public) with its key_id: the lowercase hex
// SHA-256 of the DER SubjectPublicKeyInfo of the public key, i.e. of
// `openssl pkey -pubin -outform DER`.
class SealKey {
public:
	~SealKey();
	SealKey(SealKey &&other) noexcept;
	SealKey &operator=(SealKey &&other) noexcept;
	SealKey(const SealKey &) = delete;
	SealKey &operator=(const SealKey &) = delete;

	// A PEM private key file (tresor_seal_key). Throws SealSetupError.
	static SealKey load_private(const std::string &path);
	// Every public key of a PEM file (tresor_seal_pubkey: the current key
	// and, after a key change, the earlier ones). Throws SealSetupError.
	static std::vector<SealKey> load_public(const std::string &path);
	// From PEM text (tests, and the key pair a test generates).
	static SealKey from_private_pem(std::string_view pem);

	const std::string &key_id() const { return key_id_; }
	bool has_private() const { return private_; }
	// The public key as PEM ("-----BEGIN PUBLIC KEY-----").
	std::string public_pem() const;

	// The 64-byte Ed25519 signature of data. Needs the private key.
	std::string sign(std::string_view data) const;
	bool verify(std::string_view data, std::string_view signature) const;

private:
	SealKey(evp_pkey_st *key, bool has_private);
	evp_pkey_st *key_ = nullptr;
	bool private_ = false;
	std::string key_id_;
};

// The signed text of a seal record as it was written ("" when a member is
// missing or unusable, with the reason in why_r).
std::string seal_record_signed_text(const json &record, std::string &why_r);

std::string base64_encode(std::string_view data);
// Standard alphabet with padding; nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view text);

// ---- sealing

struct SealOptions {
	std::string user;
	// Also make an RFC 3161 TimeStampReq (DER) with a random nonce; the
	// nonce is kept in the seal record (tsq_nonce) so that --tsr can check
	// the response against it.
	bool make_request = false;
};

struct SealResult {
	std::uint64_t seq = 0;        // the seal record
	std::uint64_t head_seq = 0;   // the line it seals
	std::string head_hash;
	std::string time;
	std::string key_id;
	std::string signature_b64;
	std::string signed_text;
	std::string request_der;      // when make_request
	std::string nonce_hex;        // when make_request
};

// Appends a seal record over the current head, holding the journal lock
// from reading the head to writing the record, so that a concurrent
// delivery can't slip in between. Throws on failure (nothing written).
// The seal's time is taken once the lock is held (so it never precedes
// the head's), unless a test passes one.
SealResult seal_journal(Journal &journal, const SealKey &key, const SealOptions &opts,
			std::optional<Clock::time_point> now = std::nullopt);

// An RFC 3161 TimeStampReq (DER) over SHA-256(data), certReq true, with
// the nonce (big-endian bytes, may be empty for none).
std::string make_timestamp_request(std::string_view data, std::string_view nonce);

// Checks a TimeStampResp (DER) as `openssl ts -verify -data` does: status
// granted, imprint = SHA-256(data), nonce (hex, "" = don't check) and,
// with a CA file, the TSA's signature and certificate chain (TSA
// certificate with the critical timeStamping extended key usage).
// Returns "" when it checks out, else the reason. gen_time_r (may be
// null) receives the TSA's time as RFC 3339.
std::string check_timestamp_response(std::string_view der, std::string_view data,
				     std::string_view nonce_hex,
				     const std::string &ca_file,
				     std::string *gen_time_r = nullptr);

struct AttachResult {
	std::uint64_t seq = 0;       // the tsr record
	std::uint64_t seal_seq = 0;  // the seal it belongs to
	std::string gen_time;
};

// Finds the seal whose signed text the response's imprint covers (newest
// first), checks the response (nonce, and the CA when ca_file isn't ""),
// and appends a tsr record. Throws std::runtime_error with the reason
// when it doesn't match any seal or doesn't check out.
AttachResult attach_timestamp_response(Journal &journal, std::string_view der,
				       const std::string &ca_file,
				       Clock::time_point now = Clock::now());

// ---- verification (a hook of Verifier)

struct SealProblem {
	std::uint64_t seq = 0;
	std::string detail;
};

struct SealCheckSettings {
	std::string user;        // "" = don't compare the sealed user
	std::string pubkey_file; // tresor_seal_pubkey, "" = not set
	std::string tsa_ca_file; // tresor_tsa_ca, "" = not set
};

// Fed every journal line in order by the verifier; reports what is wrong
// with seals and time-stamp responses. The constructor throws
// SealSetupError when the public key file can't be used.
class SealChecker {
public:
	explicit SealChecker(SealCheckSettings settings);
	~SealChecker();

	// One journal line: its seq, the hash of the line before it (zeros
	// for the first), whether its link to that line is intact (no CHAIN
	// problem), its event ("" if unparseable) and its bytes.
	void line(std::uint64_t seq, std::string_view previous_hash, bool chain_ok,
		  std::string_view event, std::string_view line);
	std::vector<SealProblem> finish();

	std::uint64_t seals() const { return seal_count_; }

private:
	struct SealSeen {
		std::string signed_text;
		std::string nonce_hex;
		bool reported_break_after = false;
	};
	void check_seal(std::uint64_t seq, std::string_view previous_hash, const json &j);
	void check_tsr(std::uint64_t seq, const json &j);
	void problem(std::uint64_t seq, std::string detail);

	SealCheckSettings settings_;
	std::vector<SealKey> keys_;
	std::map<std::uint64_t, SealSeen> seals_;
	std::vector<SealProblem> problems_;
	std::uint64_t seal_count_ = 0;
	// the earliest broken link not yet reported by a seal after it
	std::optional<std::uint64_t> unreported_break_;
	std::uint64_t last_seal_ = 0;
	std::uint64_t unchecked_seals_ = 0, first_unchecked_seal_ = 0;
	std::uint64_t unchecked_tsrs_ = 0, first_unchecked_tsr_ = 0;
};

} // namespace tresor
