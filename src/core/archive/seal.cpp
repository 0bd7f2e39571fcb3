#include "archive/seal.hpp"
#include "common/text.hpp"

#include <algorithm>
#include <stdexcept>
#include <system_error>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "archive/journal.hpp"
#include "common/posix_io.hpp"

namespace tresor {

namespace {

constexpr std::size_t kEd25519SignatureSize = 64;
constexpr std::size_t kNonceBytes = 8;

// OpenSSL objects freed on scope exit.
template <class T, void (*Free)(T *)> struct Owned {
	T *p = nullptr;
	Owned() = default;
	explicit Owned(T *x) : p(x) {}
	~Owned()
	{
		if (p != nullptr)
			Free(p);
	}
	Owned(const Owned &) = delete;
	Owned &operator=(const Owned &) = delete;
	T *release() { return std::exchange(p, nullptr); }
};
void bio_free(BIO *b) { BIO_free(b); }
using OwnedBio = Owned<BIO, bio_free>;
using OwnedMdCtx = Owned<EVP_MD_CTX, EVP_MD_CTX_free>;
using OwnedTsReq = Owned<TS_REQ, TS_REQ_free>;
using OwnedTsResp = Owned<TS_RESP, TS_RESP_free>;
using OwnedImprint = Owned<TS_MSG_IMPRINT, TS_MSG_IMPRINT_free>;
using OwnedAlgor = Owned<X509_ALGOR, X509_ALGOR_free>;
using OwnedAsn1Int = Owned<ASN1_INTEGER, ASN1_INTEGER_free>;
using OwnedBn = Owned<BIGNUM, BN_free>;
using OwnedVerifyCtx = Owned<TS_VERIFY_CTX, TS_VERIFY_CTX_free>;
using OwnedStore = Owned<X509_STORE, X509_STORE_free>;

// The queued OpenSSL errors as one text (and the queue emptied).
std::string openssl_errors()
{
	std::string out;
	unsigned long e;
	while ((e = ERR_get_error()) != 0) {
		char buf[256];
		ERR_error_string_n(e, buf, sizeof(buf));
		if (!out.empty())
			out += "; ";
		out += buf;
	}
	return out.empty() ? std::string("unknown OpenSSL error") : out;
}

// A whole file, or SealSetupError naming the setting.
std::string read_setting_file(const char *setting, const std::string &path)
{
	if (path.empty())
		throw SealSetupError(std::string(setting) + " is not set");
	try {
		return read_small_file(path, 16 * 1024 * 1024);
	} catch (const std::system_error &e) {
		throw SealSetupError(std::string(setting) + ": can't read " + path + ": " +
				     e.code().message());
	} catch (const std::length_error &) {
		throw SealSetupError(std::string(setting) + ": " + path +
				     " is too large for a key or certificate file");
	}
}

std::string key_id_of(EVP_PKEY *key)
{
	unsigned char *der = nullptr;
	int len = i2d_PUBKEY(key, &der);
	if (len <= 0)
		throw std::runtime_error("can't encode the public key: " + openssl_errors());
	std::string id = sha256_hex(std::string_view(reinterpret_cast<char *>(der),
						     static_cast<std::size_t>(len)));
	OPENSSL_free(der);
	return id;
}

std::string key_type_name(EVP_PKEY *key)
{
	const char *name = OBJ_nid2sn(EVP_PKEY_get_base_id(key));
	return name != nullptr ? name : "unknown";
}

std::string format_asn1_time(const ASN1_GENERALIZEDTIME *t)
{
	struct tm tm;
	if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1)
		return "";
	char buf[64];
	std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
		      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return buf;
}

std::string lowercase_hex(const char *hex)
{
	std::string s(hex);
	for (char &c : s)
		c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
	return s;
}

// The nonce of a response as lowercase hex of its value ("" if none).
std::string integer_hex(const ASN1_INTEGER *n)
{
	if (n == nullptr)
		return "";
	OwnedBn bn(ASN1_INTEGER_to_BN(n, nullptr));
	if (bn.p == nullptr)
		return "";
	char *hex = BN_bn2hex(bn.p);
	if (hex == nullptr)
		return "";
	std::string s = lowercase_hex(hex);
	OPENSSL_free(hex);
	return s;
}

TS_RESP *parse_response(std::string_view der)
{
	const auto *p = reinterpret_cast<const unsigned char *>(der.data());
	return d2i_TS_RESP(nullptr, &p, static_cast<long>(der.size()));
}

std::string digest_bytes(std::string_view data)
{
	Sha256 sha;
	sha.update(data);
	Sha256::Digest d = sha.finish();
	return std::string(reinterpret_cast<const char *>(d.data()), d.size());
}

} // namespace

std::string seal_record_signed_text(const json &j, std::string &why_r)
{
	const char *missing = nullptr;
	for (const char *key : {"user", "head_hash", "time"}) {
		auto it = j.find(key);
		if (it == j.end() || !it->is_string()) {
			missing = key;
			break;
		}
	}
	auto hs = j.find("head_seq");
	if (missing == nullptr && (hs == j.end() || !hs->is_number_unsigned()))
		missing = "head_seq";
	if (missing != nullptr) {
		why_r = std::string("not a valid seal record (") + missing +
			" is missing or of the wrong type)";
		return "";
	}
	try {
		return seal_signed_text(j["user"].get<std::string>(),
					hs->get<std::uint64_t>(),
					j["head_hash"].get<std::string>(),
					j["time"].get<std::string>());
	} catch (const std::invalid_argument &e) {
		why_r = std::string("not a valid seal record (") + e.what() + ")";
		return "";
	}
}

// ---------------------------------------------------------------- text

std::string seal_signed_text(std::string_view user, std::uint64_t head_seq,
			     std::string_view head_hash, std::string_view time)
{
	auto check = [](const char *what, std::string_view v) {
		if (text::has_control_char(v))
			throw std::invalid_argument(std::string(what) +
						    " contains a control character");
	};
	check("the user name", user);
	check("the head hash", head_hash);
	check("the time", time);
	std::string s = "tresor-seal-v1\nuser=";
	s += user;
	s += "\nseq=";
	s += std::to_string(head_seq);
	s += "\nhash=";
	s += head_hash;
	s += "\ntime=";
	s += time;
	s += "\n";
	return s;
}

// ---------------------------------------------------------------- keys

SealKey::SealKey(EVP_PKEY *key, bool has_private) : key_(key), private_(has_private)
{
	key_id_ = key_id_of(key_);
}

SealKey::~SealKey()
{
	if (key_ != nullptr)
		EVP_PKEY_free(key_);
}

SealKey::SealKey(SealKey &&other) noexcept
	: key_(std::exchange(other.key_, nullptr)), private_(other.private_),
	  key_id_(std::move(other.key_id_))
{
}

SealKey &SealKey::operator=(SealKey &&other) noexcept
{
	if (this != &other) {
		if (key_ != nullptr)
			EVP_PKEY_free(key_);
		key_ = std::exchange(other.key_, nullptr);
		private_ = other.private_;
		key_id_ = std::move(other.key_id_);
	}
	return *this;
}

SealKey SealKey::load_private(const std::string &path)
{
	std::string pem = read_setting_file("tresor_seal_key", path);
	OwnedBio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
	if (bio.p == nullptr)
		throw std::bad_alloc();
	EVP_PKEY *key = PEM_read_bio_PrivateKey(bio.p, nullptr, nullptr, nullptr);
	if (key == nullptr) {
		ERR_clear_error();
		throw SealSetupError("tresor_seal_key: " + path +
				     " is not a PEM private key (create one with "
				     "openssl genpkey -algorithm ed25519)");
	}
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
		std::string type = key_type_name(key);
		EVP_PKEY_free(key);
		throw SealSetupError("tresor_seal_key: " + path + " is an " + type +
				     " key, not an Ed25519 key");
	}
	return SealKey(key, true);
}

std::vector<SealKey> SealKey::load_public(const std::string &path)
{
	std::string pem = read_setting_file("tresor_seal_pubkey", path);
	OwnedBio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
	if (bio.p == nullptr)
		throw std::bad_alloc();
	std::vector<SealKey> keys;
	for (;;) {
		EVP_PKEY *key = PEM_read_bio_PUBKEY(bio.p, nullptr, nullptr, nullptr);
		if (key == nullptr)
			break;
		if (EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
			std::string type = key_type_name(key);
			EVP_PKEY_free(key);
			throw SealSetupError("tresor_seal_pubkey: " + path + " holds an " +
					     type + " key, not an Ed25519 key");
		}
		keys.push_back(SealKey(key, false));
	}
	ERR_clear_error(); // the end of the file reads as an error
	if (keys.empty()) {
		throw SealSetupError("tresor_seal_pubkey: " + path +
				     " holds no PEM public key (make it with openssl "
				     "pkey -in KEY -pubout)");
	}
	return keys;
}

SealKey SealKey::from_private_pem(std::string_view pem)
{
	OwnedBio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
	if (bio.p == nullptr)
		throw std::bad_alloc();
	EVP_PKEY *key = PEM_read_bio_PrivateKey(bio.p, nullptr, nullptr, nullptr);
	if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
		if (key != nullptr)
			EVP_PKEY_free(key);
		ERR_clear_error();
		throw std::invalid_argument("not a PEM Ed25519 private key");
	}
	return SealKey(key, true);
}

std::string SealKey::public_pem() const
{
	OwnedBio bio(BIO_new(BIO_s_mem()));
	if (bio.p == nullptr || PEM_write_bio_PUBKEY(bio.p, key_) != 1)
		throw std::runtime_error("can't write the public key: " + openssl_errors());
	char *data = nullptr;
	long len = BIO_get_mem_data(bio.p, &data);
	return std::string(data, static_cast<std::size_t>(len));
}

std::string SealKey::sign(std::string_view data) const
{
	if (!private_)
		throw std::logic_error("signing needs the private key");
	OwnedMdCtx ctx(EVP_MD_CTX_new());
	if (ctx.p == nullptr)
		throw std::bad_alloc();
	std::string sig(kEd25519SignatureSize, '\0');
	std::size_t len = sig.size();
	if (EVP_DigestSignInit(ctx.p, nullptr, nullptr, nullptr, key_) != 1 ||
	    EVP_DigestSign(ctx.p, reinterpret_cast<unsigned char *>(sig.data()), &len,
			   reinterpret_cast<const unsigned char *>(data.data()),
			   data.size()) != 1)
		throw std::runtime_error("Ed25519 signing failed: " + openssl_errors());
	sig.resize(len);
	return sig;
}

bool SealKey::verify(std::string_view data, std::string_view signature) const
{
	OwnedMdCtx ctx(EVP_MD_CTX_new());
	if (ctx.p == nullptr)
		throw std::bad_alloc();
	bool ok = EVP_DigestVerifyInit(ctx.p, nullptr, nullptr, nullptr, key_) == 1 &&
		  EVP_DigestVerify(ctx.p,
				   reinterpret_cast<const unsigned char *>(signature.data()),
				   signature.size(),
				   reinterpret_cast<const unsigned char *>(data.data()),
				   data.size()) == 1;
	ERR_clear_error();
	return ok;
}

// ---------------------------------------------------------------- base64

namespace {
constexpr char kBase64Alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(std::string_view data)
{
	std::string out;
	out.reserve((data.size() + 2) / 3 * 4);
	std::size_t i = 0;
	for (; i + 3 <= data.size(); i += 3) {
		std::uint32_t v = (static_cast<unsigned char>(data[i]) << 16) |
				  (static_cast<unsigned char>(data[i + 1]) << 8) |
				  static_cast<unsigned char>(data[i + 2]);
		out += kBase64Alphabet[(v >> 18) & 63];
		out += kBase64Alphabet[(v >> 12) & 63];
		out += kBase64Alphabet[(v >> 6) & 63];
		out += kBase64Alphabet[v & 63];
	}
	std::size_t rest = data.size() - i;
	if (rest > 0) {
		std::uint32_t v = static_cast<unsigned char>(data[i]) << 16;
		if (rest == 2)
			v |= static_cast<unsigned char>(data[i + 1]) << 8;
		out += kBase64Alphabet[(v >> 18) & 63];
		out += kBase64Alphabet[(v >> 12) & 63];
		out += rest == 2 ? kBase64Alphabet[(v >> 6) & 63] : '=';
		out += '=';
	}
	return out;
}

std::optional<std::string> base64_decode(std::string_view text)
{
	if (text.size() % 4 != 0)
		return std::nullopt;
	auto value = [](char c) -> int {
		const char *p = std::strchr(kBase64Alphabet, c);
		return (c != '\0' && p != nullptr) ? static_cast<int>(p - kBase64Alphabet) : -1;
	};
	std::string out;
	out.reserve(text.size() / 4 * 3);
	for (std::size_t i = 0; i < text.size(); i += 4) {
		bool last = i + 4 == text.size();
		int pad = 0;
		if (last && text[i + 3] == '=')
			pad = text[i + 2] == '=' ? 2 : 1;
		std::uint32_t v = 0;
		for (int k = 0; k < 4; k++) {
			int d = k >= 4 - pad ? 0 : value(text[i + k]);
			if (d < 0)
				return std::nullopt;
			v = (v << 6) | static_cast<std::uint32_t>(d);
		}
		out += static_cast<char>((v >> 16) & 0xff);
		if (pad < 2)
			out += static_cast<char>((v >> 8) & 0xff);
		if (pad < 1)
			out += static_cast<char>(v & 0xff);
	}
	// the canonical encoding only (unused bits zero)
	if (base64_encode(out) != text)
		return std::nullopt;
	return out;
}

// ---------------------------------------------------------------- sealing

SealResult seal_journal(Journal &journal, const SealKey &key, const SealOptions &opts,
			std::optional<Clock::time_point> now_override)
{
	if (!key.has_private())
		throw std::logic_error("sealing needs the private key");
	// The head must not move between reading it and appending the seal:
	// the append takes the same (reentrant) lock again.
	JournalLock guard(journal, Journal::kAppendLockTimeoutMs);
	JournalPos head = read_journal_head(journal.dir());
	const Clock::time_point now = now_override.value_or(Clock::now());

	SealResult r;
	r.head_seq = head.seq;
	r.head_hash = head.hash;
	r.time = format_time(now);
	r.key_id = key.key_id();
	r.signed_text = seal_signed_text(opts.user, head.seq, head.hash, r.time);
	r.signature_b64 = base64_encode(key.sign(r.signed_text));

	Record rec;
	rec.event = "seal";
	rec.extra = {
		{"user", opts.user},
		{"head_seq", head.seq},
		{"head_hash", head.hash},
		{"key_id", r.key_id},
		{"sig", r.signature_b64},
	};
	if (opts.make_request) {
		std::string nonce(kNonceBytes, '\0');
		if (RAND_bytes(reinterpret_cast<unsigned char *>(nonce.data()),
			       static_cast<int>(nonce.size())) != 1)
			throw std::runtime_error("no random bytes for the nonce: " +
						 openssl_errors());
		nonce[0] = static_cast<char>(nonce[0] | 0x40); // 8 significant bytes
		nonce[0] = static_cast<char>(nonce[0] & 0x7f);
		r.nonce_hex = to_hex(reinterpret_cast<const unsigned char *>(nonce.data()),
				     nonce.size());
		r.request_der = make_timestamp_request(r.signed_text, nonce);
		rec.extra.emplace_back("tsq_nonce", r.nonce_hex);
	}
	r.seq = journal.append(rec, now);
	if (r.seq != head.seq + 1)
		throw std::runtime_error("the journal moved while sealing (seal written as seq " +
					 std::to_string(r.seq) + " over head seq " +
					 std::to_string(head.seq) + ")");
	return r;
}

// ---------------------------------------------------------------- RFC 3161

namespace {

// The request for SHA-256(data): certReq true, the nonce when not null,
// no policy - the same as openssl ts -query -sha256 -cert.
TS_REQ *build_request(std::string_view data, const BIGNUM *nonce)
{
	std::string digest = digest_bytes(data);
	OwnedTsReq req(TS_REQ_new());
	OwnedImprint imprint(TS_MSG_IMPRINT_new());
	OwnedAlgor algo(X509_ALGOR_new());
	if (req.p == nullptr || imprint.p == nullptr || algo.p == nullptr)
		throw std::bad_alloc();
	// AlgorithmIdentifier sha256 with NULL parameters, as openssl ts -query
	if (X509_ALGOR_set0(algo.p, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, nullptr) != 1 ||
	    TS_MSG_IMPRINT_set_algo(imprint.p, algo.p) != 1 ||
	    TS_MSG_IMPRINT_set_msg(imprint.p,
				   reinterpret_cast<unsigned char *>(digest.data()),
				   static_cast<int>(digest.size())) != 1 ||
	    TS_REQ_set_version(req.p, 1) != 1 ||
	    TS_REQ_set_msg_imprint(req.p, imprint.p) != 1 ||
	    TS_REQ_set_cert_req(req.p, 1) != 1)
		throw std::runtime_error("can't build the time-stamp request: " +
					 openssl_errors());
	if (nonce != nullptr) {
		OwnedAsn1Int n(BN_to_ASN1_INTEGER(nonce, nullptr));
		if (n.p == nullptr || TS_REQ_set_nonce(req.p, n.p) != 1)
			throw std::runtime_error("can't set the nonce: " + openssl_errors());
	}
	return req.release();
}

} // namespace

std::string make_timestamp_request(std::string_view data, std::string_view nonce)
{
	OwnedBn bn;
	if (!nonce.empty()) {
		bn.p = BN_bin2bn(reinterpret_cast<const unsigned char *>(nonce.data()),
				 static_cast<int>(nonce.size()), nullptr);
		if (bn.p == nullptr)
			throw std::bad_alloc();
	}
	OwnedTsReq req(build_request(data, bn.p));
	unsigned char *der = nullptr;
	int len = i2d_TS_REQ(req.p, &der);
	if (len <= 0)
		throw std::runtime_error("can't encode the time-stamp request: " +
					 openssl_errors());
	std::string out(reinterpret_cast<char *>(der), static_cast<std::size_t>(len));
	OPENSSL_free(der);
	return out;
}

std::string check_timestamp_response(std::string_view der, std::string_view data,
				     std::string_view nonce_hex, const std::string &ca_file,
				     std::string *gen_time_r)
{
	OwnedTsResp resp(parse_response(der));
	if (resp.p == nullptr) {
		ERR_clear_error();
		return "not a time-stamp response (DER TimeStampResp expected)";
	}
	TS_TST_INFO *info = TS_RESP_get_tst_info(resp.p);
	if (info != nullptr && gen_time_r != nullptr)
		*gen_time_r = format_asn1_time(TS_TST_INFO_get_time(info));

	OwnedBn nonce;
	if (!nonce_hex.empty()) {
		std::string hex(nonce_hex);
		if (BN_hex2bn(&nonce.p, hex.c_str()) != static_cast<int>(hex.size()))
			return "the seal's tsq_nonce is not hexadecimal";
	}
	// the request it answers, rebuilt: imprint (with its algorithm) and
	// nonce are then compared as openssl ts -verify -queryfile does
	OwnedTsReq req(build_request(data, nonce.p));
	OwnedVerifyCtx ctx(TS_REQ_to_TS_VERIFY_CTX(req.p, nullptr));
	if (ctx.p == nullptr)
		throw std::runtime_error("can't set up the time-stamp check: " + openssl_errors());
	int flags = TS_VFY_VERSION | TS_VFY_IMPRINT;
	if (nonce.p != nullptr)
		flags |= TS_VFY_NONCE;
	if (!ca_file.empty()) {
		// fails loudly when the CA file can't be used at all
		read_setting_file("tresor_tsa_ca", ca_file);
		OwnedStore store(X509_STORE_new());
		if (store.p == nullptr)
			throw std::bad_alloc();
		if (X509_STORE_load_file(store.p, ca_file.c_str()) != 1) {
			std::string why = openssl_errors();
			throw SealSetupError("tresor_tsa_ca: " + ca_file +
					     " holds no usable PEM certificate (" + why + ")");
		}
		TS_VERIFY_CTX_set_store(ctx.p, store.release()); // owns it
		flags |= TS_VFY_SIGNATURE | TS_VFY_SIGNER;
	}
	TS_VERIFY_CTX_set_flags(ctx.p, flags);
	if (TS_RESP_verify_response(ctx.p, resp.p) != 1)
		return openssl_errors();
	ERR_clear_error();
	return "";
}

AttachResult attach_timestamp_response(Journal &journal, std::string_view der,
				       const std::string &ca_file, Clock::time_point now)
{
	OwnedTsResp resp(parse_response(der));
	if (resp.p == nullptr) {
		ERR_clear_error();
		throw std::runtime_error("not a time-stamp response (DER TimeStampResp expected)");
	}
	TS_TST_INFO *info = TS_RESP_get_tst_info(resp.p);
	if (info == nullptr) {
		throw std::runtime_error("the time-stamp response carries no time stamp "
					 "(the TSA refused the request)");
	}
	ASN1_OCTET_STRING *msg = TS_MSG_IMPRINT_get_msg(TS_TST_INFO_get_msg_imprint(info));
	std::string imprint(reinterpret_cast<const char *>(ASN1_STRING_get0_data(msg)),
			    static_cast<std::size_t>(ASN1_STRING_length(msg)));

	JournalLock guard(journal, Journal::kAppendLockTimeoutMs);
	// the newest seal whose signed text the imprint covers
	std::optional<std::uint64_t> seal_seq;
	std::string signed_text, nonce_hex;
	for (const JournalFile &f : list_journal_files(journal.dir())) {
		LineReader reader(f.path);
		std::string line;
		bool term;
		while (reader.next(line, term)) {
			if (line.find("\"event\":\"seal\"") == std::string::npos)
				continue;
			auto j = parse_line(line);
			if (!j || json_string(*j, "event") != "seal")
				continue;
			auto seq = record_seq(*j);
			std::string why;
			std::string text = seal_record_signed_text(*j, why);
			if (!seq || text.empty() || digest_bytes(text) != imprint)
				continue;
			seal_seq = *seq;
			signed_text = std::move(text);
			nonce_hex = json_string(*j, "tsq_nonce");
		}
	}
	if (!seal_seq) {
		throw std::runtime_error("the time-stamp response's message imprint matches "
					 "no seal in the journal (was it requested for "
					 "another user, or with another file?)");
	}
	if (!nonce_hex.empty() &&
	    integer_hex(TS_TST_INFO_get_nonce(info)) != nonce_hex) {
		throw std::runtime_error("the time-stamp response's nonce is not the one of the "
					 "request made with the seal at seq " +
					 std::to_string(*seal_seq) +
					 " (a response to another request)");
	}
	AttachResult r;
	std::string why = check_timestamp_response(der, signed_text, nonce_hex, ca_file,
						   &r.gen_time);
	if (!why.empty()) {
		throw std::runtime_error("the time-stamp response for the seal at seq " +
					 std::to_string(*seal_seq) +
					 " does not check out: " + why);
	}
	Record rec;
	rec.event = "tsr";
	rec.extra = {
		{"seal_seq", *seal_seq},
		{"gen_time", r.gen_time},
		{"tsr", base64_encode(der)},
	};
	r.seal_seq = *seal_seq;
	r.seq = journal.append(rec, now);
	return r;
}

// ---------------------------------------------------------------- checking

SealChecker::SealChecker(SealCheckSettings settings) : settings_(std::move(settings))
{
	if (!settings_.pubkey_file.empty())
		keys_ = SealKey::load_public(settings_.pubkey_file);
	if (!settings_.tsa_ca_file.empty()) {
		read_setting_file("tresor_tsa_ca", settings_.tsa_ca_file);
		OwnedStore store(X509_STORE_new());
		if (store.p == nullptr)
			throw std::bad_alloc();
		if (X509_STORE_load_file(store.p, settings_.tsa_ca_file.c_str()) != 1) {
			std::string why = openssl_errors();
			throw SealSetupError("tresor_tsa_ca: " + settings_.tsa_ca_file +
					     " holds no usable PEM certificate (" + why + ")");
		}
	}
}

SealChecker::~SealChecker() = default;

void SealChecker::problem(std::uint64_t seq, std::string detail)
{
	problems_.push_back(SealProblem{seq, std::move(detail)});
}

void SealChecker::line(std::uint64_t seq, std::string_view previous_hash, bool chain_ok,
		       std::string_view event, std::string_view line)
{
	if (!chain_ok) {
		// the journal after the last seal doesn't continue it
		if (last_seal_ != 0) {
			SealSeen &s = seals_[last_seal_];
			if (!s.reported_break_after) {
				s.reported_break_after = true;
				problem(last_seal_,
					"the records after this seal do not continue the "
					"sealed journal: the chain is broken at seq " +
						std::to_string(seq));
			}
		}
		if (!unreported_break_)
			unreported_break_ = seq;
	}
	if (event != "seal" && event != "tsr")
		return;
	auto j = parse_line(line);
	if (!j)
		return;
	if (event == "seal")
		check_seal(seq, previous_hash, *j);
	else
		check_tsr(seq, *j);
}

void SealChecker::check_seal(std::uint64_t seq, std::string_view previous_hash,
			     const json &j)
{
	seal_count_++;
	last_seal_ = seq;
	std::vector<std::string> reasons;
	std::string why;
	std::string text = seal_record_signed_text(j, why);
	SealSeen &seen = seals_[seq];
	seen.signed_text = text;
	seen.nonce_hex = json_string(j, "tsq_nonce");

	if (unreported_break_) {
		reasons.push_back("it seals a journal whose chain is broken at seq " +
				  std::to_string(*unreported_break_) +
				  " (lines up to the sealed head were removed, inserted, "
				  "reordered or edited after they were written)");
		unreported_break_.reset();
	}
	if (text.empty()) {
		reasons.push_back(why);
	} else {
		std::uint64_t head_seq = json_uint(j, "head_seq");
		std::string head_hash = json_string(j, "head_hash");
		if (head_seq + 1 != seq) {
			reasons.push_back("it seals seq " + std::to_string(head_seq) +
					  ", which is not the line before it (seq " +
					  std::to_string(seq - 1) + ")");
		} else if (head_hash != previous_hash) {
			reasons.push_back("it seals seq " + std::to_string(head_seq) +
					  " with sha256 " + head_hash + ", but that line now has "
					  "sha256 " + std::string(previous_hash) +
					  ": the sealed head is not in the chain (the journal "
					  "up to it was rewritten)");
		}
		std::string user = json_string(j, "user");
		if (!settings_.user.empty() && user != settings_.user) {
			reasons.push_back("it was made for user '" + user + "', not for '" +
					  settings_.user + "'");
		}
		std::string key_id = json_string(j, "key_id");
		auto sig = base64_decode(json_string(j, "sig"));
		if (keys_.empty()) {
			if (unchecked_seals_++ == 0)
				first_unchecked_seal_ = seq;
		} else if (!sig || sig->size() != kEd25519SignatureSize) {
			reasons.push_back("its sig is not a base64 Ed25519 signature");
		} else {
			auto key = std::find_if(keys_.begin(), keys_.end(), [&](const SealKey &k) {
				return k.key_id() == key_id;
			});
			if (key == keys_.end()) {
				std::string ids;
				for (const SealKey &k : keys_)
					ids += (ids.empty() ? "" : ", ") + k.key_id();
				reasons.push_back("it is signed by key " + key_id +
						  ", which is not in tresor_seal_pubkey (" +
						  ids + ")");
			} else if (!key->verify(text, *sig)) {
				reasons.push_back("its signature does not verify with key " +
						  key_id +
						  " (the seal record was altered, or forged)");
			}
		}
	}
	if (!reasons.empty()) {
		std::string detail = "seal: ";
		for (std::size_t i = 0; i < reasons.size(); i++)
			detail += (i > 0 ? "; " : "") + reasons[i];
		problem(seq, detail);
	}
}

void SealChecker::check_tsr(std::uint64_t seq, const json &j)
{
	auto ss = j.find("seal_seq");
	auto der = base64_decode(json_string(j, "tsr"));
	if (ss == j.end() || !ss->is_number_unsigned() || !der) {
		problem(seq, "time-stamp response: not a valid tsr record (seal_seq or a "
			     "base64 tsr is missing)");
		return;
	}
	std::uint64_t seal_seq = ss->get<std::uint64_t>();
	auto s = seals_.find(seal_seq);
	if (s == seals_.end() || seal_seq >= seq) {
		problem(seq, "time-stamp response: it refers to seq " + std::to_string(seal_seq) +
				     ", which is not an earlier seal");
		return;
	}
	if (s->second.signed_text.empty()) {
		problem(seq, "time-stamp response: the seal at seq " + std::to_string(seal_seq) +
				     " it belongs to is not a valid seal record");
		return;
	}
	if (settings_.tsa_ca_file.empty()) {
		if (unchecked_tsrs_++ == 0)
			first_unchecked_tsr_ = seq;
		return;
	}
	std::string why = check_timestamp_response(*der, s->second.signed_text,
						   s->second.nonce_hex, settings_.tsa_ca_file);
	if (!why.empty()) {
		problem(seq, "time-stamp response for the seal at seq " +
				     std::to_string(seal_seq) + " does not check out against "
				     "tresor_tsa_ca: " + why);
	}
}

std::vector<SealProblem> SealChecker::finish()
{
	if (unchecked_seals_ > 0) {
		problem(first_unchecked_seal_,
			std::to_string(unchecked_seals_) +
				(unchecked_seals_ == 1 ? " seal was" : " seals were") +
				" not checked: tresor_seal_pubkey is not set");
	}
	if (unchecked_tsrs_ > 0) {
		problem(first_unchecked_tsr_,
			std::to_string(unchecked_tsrs_) +
				(unchecked_tsrs_ == 1 ? " time-stamp response was"
						      : " time-stamp responses were") +
				" not checked: tresor_tsa_ca is not set");
	}
	std::stable_sort(problems_.begin(), problems_.end(),
			 [](const SealProblem &a, const SealProblem &b) { return a.seq < b.seq; });
	return std::move(problems_);
}

} // namespace tresor
