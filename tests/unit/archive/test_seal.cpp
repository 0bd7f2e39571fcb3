// Seals: the signed text, Ed25519 keys and signatures (also checked with
// the openssl command line), seal records and what the verifier reports
// about them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "archive/config.hpp"
#include "archive/journal.hpp"
#include "archive/seal.hpp"
#include "archive/tresor.h"
#include "archive/verify.hpp"
#include "test_util.hpp"

using namespace testutil;
using tresor::Journal;
using tresor::Record;
using tresor::SealKey;
using json = nlohmann::ordered_json;

namespace {

// A fresh key pair written as PEM files: dir/NAME.key, dir/NAME.pub.
struct KeyFiles {
	std::string key, pub;
};

KeyFiles make_key(const TempDir &d, const std::string &name, const char *type = "ED25519")
{
	EVP_PKEY *k = std::string(type) == "RSA" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA",
								      static_cast<size_t>(2048))
						 : EVP_PKEY_Q_keygen(nullptr, nullptr, type);
	if (k == nullptr)
		throw std::runtime_error("keygen failed");
	KeyFiles f{d / (name + ".key"), d / (name + ".pub")};
	FILE *fp = std::fopen(f.key.c_str(), "w");
	PEM_write_PrivateKey(fp, k, nullptr, nullptr, 0, nullptr, nullptr);
	std::fclose(fp);
	fp = std::fopen(f.pub.c_str(), "w");
	PEM_write_PUBKEY(fp, k);
	std::fclose(fp);
	EVP_PKEY_free(k);
	return f;
}

std::vector<std::string> journal_lines(const TempDir &d)
{
	std::vector<std::string> lines;
	for (const auto &f : tresor::list_journal_files(d.path())) {
		std::string data = read_file(f.path);
		std::size_t pos = 0, nl;
		while ((nl = data.find('\n', pos)) != std::string::npos) {
			lines.push_back(data.substr(pos, nl - pos));
			pos = nl + 1;
		}
	}
	return lines;
}

void write_lines(const TempDir &d, const std::vector<std::string> &lines)
{
	auto files = tresor::list_journal_files(d.path());
	ASSERT_EQ(files.size(), 1u);
	std::string data;
	for (const auto &l : lines)
		data += l + "\n";
	write_file(files[0].path, data);
}

void append_saves(Journal &j, int n)
{
	static int counter = 0;
	for (int i = 0; i < n; i++) {
		Record r;
		r.event = "save";
		r.mailbox = "INBOX";
		r.mailbox_guid = "0123456789abcdef0123456789abcdef";
		r.uid = static_cast<std::uint32_t>(++counter);
		r.sha256 = tresor::sha256_hex("mail " + std::to_string(counter));
		j.append(r);
	}
}

std::vector<tresor::Problem> seal_problems(const TempDir &d, const tresor::SealCheckSettings &s)
{
	tresor::Verifier v(d.path(), s);
	std::vector<tresor::Problem> out;
	for (const auto &p : v.problems()) {
		if (p.kind == tresor::ProblemKind::Seal || p.kind == tresor::ProblemKind::Chain)
			out.push_back(p);
	}
	return out;
}

std::string kinds(const std::vector<tresor::Problem> &ps)
{
	std::string s;
	for (const auto &p : ps)
		s += std::string(tresor::problem_kind_name(p.kind)) + "@" + std::to_string(p.seq) +
		     " ";
	return s;
}

std::string replace_once(std::string s, const std::string &from, const std::string &to)
{
	auto pos = s.find(from);
	if (pos == std::string::npos)
		throw std::runtime_error("not found: " + from);
	return s.replace(pos, from.size(), to);
}

// Rewrites the journal with every prev recomputed (the wholesale attack).
std::vector<std::string> rechain(std::vector<std::string> lines)
{
	std::string prev(tresor::kZeroHash);
	for (auto &l : lines) {
		auto pos = l.rfind("\"prev\":\"");
		l = l.substr(0, pos) + "\"prev\":\"" + prev + "\"}";
		prev = tresor::sha256_hex(l);
	}
	return lines;
}

} // namespace

TEST(Seal, SignedTextIsExact)
{
	EXPECT_EQ(tresor::seal_signed_text("alice@example.com", 41, std::string(64, 'a'),
					   "2026-01-02T03:04:05.000006Z"),
		  "tresor-seal-v1\nuser=alice@example.com\nseq=41\nhash=" + std::string(64, 'a') +
			  "\ntime=2026-01-02T03:04:05.000006Z\n");
	EXPECT_THROW(tresor::seal_signed_text("a\nb", 1, "x", "t"), std::invalid_argument);
}

TEST(Seal, Base64)
{
	for (std::string s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar",
						   std::string("\0\xff", 2)}) {
		auto enc = tresor::base64_encode(s);
		EXPECT_EQ(tresor::base64_decode(enc).value_or("<bad>"), s);
	}
	EXPECT_EQ(tresor::base64_encode("foobar"), "Zm9vYmFy");
	EXPECT_FALSE(tresor::base64_decode("Zm9=").has_value()); // non-zero unused bits
	EXPECT_FALSE(tresor::base64_decode("Zm9v!").has_value());
}

TEST(Seal, KeyLoadingErrorsNameTheSetting)
{
	TempDir d;
	try {
		SealKey::load_private(d / "nope.key");
		FAIL();
	} catch (const tresor::SealSetupError &e) {
		EXPECT_NE(std::string(e.what()).find("tresor_seal_key"), std::string::npos);
		EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos);
	}
	KeyFiles ec = make_key(d, "x", "X25519");
	try {
		SealKey::load_private(ec.key);
		FAIL();
	} catch (const tresor::SealSetupError &e) {
		EXPECT_NE(std::string(e.what()).find("not an Ed25519 key"), std::string::npos)
			<< e.what();
	}
	write_file(d / "junk.pem", "hello\n");
	EXPECT_THROW(SealKey::load_private(d / "junk.pem"), tresor::SealSetupError);
	try {
		SealKey::load_public(d / "junk.pem");
		FAIL();
	} catch (const tresor::SealSetupError &e) {
		EXPECT_NE(std::string(e.what()).find("tresor_seal_pubkey"), std::string::npos);
	}
}

TEST(Seal, SignatureVerifiesWithOpensslCommandLine)
{
	TempDir d;
	KeyFiles kf = make_key(d, "seal");
	SealKey key = SealKey::load_private(kf.key);
	auto pubs = SealKey::load_public(kf.pub);
	ASSERT_EQ(pubs.size(), 1u);
	EXPECT_EQ(pubs[0].key_id(), key.key_id());
	std::string text = tresor::seal_signed_text("bob", 7, std::string(64, 'b'), "T");
	std::string sig = key.sign(text);
	ASSERT_EQ(sig.size(), 64u);
	EXPECT_TRUE(pubs[0].verify(text, sig));
	EXPECT_FALSE(pubs[0].verify(text + "x", sig));

	// the auditor's commands
	write_file(d / "signed.txt", text);
	write_file(d / "sig.bin", sig);
	std::string cmd = "cd " + d.path() +
			  " && openssl pkeyutl -verify -pubin -inkey " + kf.pub +
			  " -rawin -in signed.txt -sigfile sig.bin >/dev/null 2>&1";
	EXPECT_EQ(std::system(cmd.c_str()), 0);
	write_file(d / "signed.txt", text + " ");
	EXPECT_NE(std::system(cmd.c_str()), 0);
	// key_id = sha256 of the DER public key
	std::string id_cmd = "openssl pkey -pubin -in " + kf.pub +
			     " -outform DER | sha256sum | cut -c1-64 > " + (d / "id.txt");
	ASSERT_EQ(std::system(id_cmd.c_str()), 0);
	EXPECT_EQ(read_file(d / "id.txt"), key.key_id() + "\n");
}

TEST(Seal, SealRecordAndCleanVerify)
{
	TempDir d;
	KeyFiles kf = make_key(d, "seal");
	SealKey key = SealKey::load_private(kf.key);
	Journal j(d.path());
	append_saves(j, 3);
	std::string head_hash = tresor::sha256_hex(journal_lines(d).back());
	tresor::SealResult r = tresor::seal_journal(j, key, {"alice", false});
	EXPECT_EQ(r.seq, 4u);
	EXPECT_EQ(r.head_seq, 3u);
	EXPECT_EQ(r.head_hash, head_hash);
	auto rec = json::parse(journal_lines(d).back());
	EXPECT_EQ(rec["event"], "seal");
	EXPECT_EQ(rec["user"], "alice");
	EXPECT_EQ(rec["head_seq"], 3);
	EXPECT_EQ(rec["head_hash"], head_hash);
	EXPECT_EQ(rec["key_id"], key.key_id());
	EXPECT_EQ(rec["time"], r.time);
	EXPECT_EQ(rec["prev"], head_hash);
	EXPECT_FALSE(rec.contains("tsq_nonce"));
	EXPECT_EQ(r.signed_text, tresor::seal_signed_text("alice", 3, head_hash, r.time));
	// doveadm tresor journal shows every field of it
	std::vector<std::string> columns;
	for (const char *const *n = tresor_journal_field_names(); *n != nullptr; n++)
		columns.emplace_back(*n);
	for (const auto &[field, value] : rec.items())
		EXPECT_NE(std::find(columns.begin(), columns.end(), field), columns.end())
			<< field << " is not a column of doveadm tresor journal";

	tresor::SealCheckSettings s{"alice", kf.pub, ""};
	EXPECT_EQ(kinds(seal_problems(d, s)), "");
	// records after the seal keep it clean
	append_saves(j, 2);
	EXPECT_EQ(kinds(seal_problems(d, s)), "");
	// without the public key: one problem saying the seals weren't checked
	auto ps = seal_problems(d, {"alice", "", ""});
	ASSERT_EQ(kinds(ps), "SEAL@4 ");
	EXPECT_NE(ps[0].detail.find("tresor_seal_pubkey is not set"), std::string::npos);
	// another user's name
	EXPECT_EQ(kinds(seal_problems(d, {"mallory", kf.pub, ""})), "SEAL@4 ");
}

TEST(Seal, OtherKeyIsReported)
{
	TempDir d;
	KeyFiles mine = make_key(d, "mine"), other = make_key(d, "other");
	Journal j(d.path());
	append_saves(j, 2);
	tresor::seal_journal(j, SealKey::load_private(other.key), {"u", false});
	auto ps = seal_problems(d, {"u", mine.pub, ""});
	ASSERT_EQ(kinds(ps), "SEAL@3 ");
	EXPECT_NE(ps[0].detail.find("not in tresor_seal_pubkey"), std::string::npos) << ps[0].detail;
	// both keys in the file (a key change): fine
	write_file(d / "both.pub", read_file(mine.pub) + read_file(other.pub));
	EXPECT_EQ(kinds(seal_problems(d, {"u", d / "both.pub", ""})), "");
}

TEST(Seal, EditBeforeTheSealIsChainAndSeal)
{
	TempDir d;
	KeyFiles kf = make_key(d, "k");
	Journal j(d.path());
	append_saves(j, 4);
	tresor::seal_journal(j, SealKey::load_private(kf.key), {"u", false});
	append_saves(j, 1);
	auto lines = journal_lines(d);
	lines[1] = replace_once(lines[1], "\"uid\":", "\"uid\":9");
	write_lines(d, lines);
	EXPECT_EQ(kinds(seal_problems(d, {"u", kf.pub, ""})), "CHAIN@3 SEAL@5 ");
}

TEST(Seal, WholesaleRewriteIsSeal)
{
	TempDir d;
	KeyFiles kf = make_key(d, "k");
	Journal j(d.path());
	append_saves(j, 4);
	tresor::seal_journal(j, SealKey::load_private(kf.key), {"u", false});
	append_saves(j, 1);
	auto lines = journal_lines(d);
	lines[1] = replace_once(lines[1], "\"uid\":", "\"uid\":9");
	write_lines(d, rechain(lines));
	// the forger deletes the catalog too (it remembers the last line)
	std::filesystem::remove(d / "catalog.sqlite");
	auto ps = seal_problems(d, {"u", kf.pub, ""});
	ASSERT_EQ(kinds(ps), "SEAL@5 ");
	EXPECT_NE(ps[0].detail.find("not in the chain"), std::string::npos) << ps[0].detail;

	// the forger also fixes head_hash: the signature fails
	auto forged = rechain(lines);
	std::string real_head = tresor::sha256_hex(forged[3]);
	auto rec = json::parse(forged[4]);
	forged[4] = replace_once(forged[4], rec["head_hash"].get<std::string>(), real_head);
	write_lines(d, rechain(forged));
	ps = seal_problems(d, {"u", kf.pub, ""});
	ASSERT_EQ(kinds(ps), "SEAL@5 ");
	EXPECT_NE(ps[0].detail.find("signature does not verify"), std::string::npos)
		<< ps[0].detail;
}

TEST(Seal, BrokenChainAfterTheSealIsReported)
{
	TempDir d;
	KeyFiles kf = make_key(d, "k");
	Journal j(d.path());
	append_saves(j, 2);
	tresor::seal_journal(j, SealKey::load_private(kf.key), {"u", false});
	append_saves(j, 3);
	auto lines = journal_lines(d);
	lines.erase(lines.begin() + 4); // seq 5
	write_lines(d, lines);
	EXPECT_EQ(kinds(seal_problems(d, {"u", kf.pub, ""})), "CHAIN@6 SEAL@3 ");
}

TEST(Seal, TimestampRequestMatchesOpensslQuery)
{
	TempDir d;
	std::string text = tresor::seal_signed_text("u", 1, std::string(64, 'c'), "T");
	std::string der = tresor::make_timestamp_request(text, std::string("\x41\x02\x03\x04\x05\x06\x07\x08", 8));
	write_file(d / "ours.tsq", der);
	write_file(d / "signed.txt", text);
	std::string cmd = "cd " + d.path() +
			  " && openssl ts -query -data signed.txt -sha256 -cert -no_nonce -out theirs.tsq"
			  " && openssl ts -query -in ours.tsq -text > ours.txt"
			  " && openssl ts -query -in theirs.tsq -text > theirs.txt";
	ASSERT_EQ(std::system(cmd.c_str()), 0);
	std::string ours = read_file(d / "ours.txt"), theirs = read_file(d / "theirs.txt");
	EXPECT_NE(ours.find("Nonce: 0x4102030405060708"), std::string::npos) << ours;
	// the same imprint, algorithm and certificate request
	auto cut = [](const std::string &s) { return s.substr(0, s.find("Nonce:")); };
	EXPECT_EQ(cut(ours), cut(theirs));
}

TEST(Seal, SettingsArePaths)
{
	tresor::Config c;
	c.set("tresor_seal_key", " /etc/dovecot/seal.key ");
	c.set("tresor_seal_pubkey", "/etc/dovecot/seal.pub");
	c.set("tresor_tsa_ca", "/etc/ssl/tsa.pem");
	EXPECT_EQ(c.seal_key, "/etc/dovecot/seal.key");
	EXPECT_EQ(c.seal_pubkey, "/etc/dovecot/seal.pub");
	EXPECT_EQ(c.tsa_ca, "/etc/ssl/tsa.pem");
	c.set("tresor_seal_pubkey", "");
	EXPECT_EQ(c.seal_pubkey, "");
	for (const char *name : {"tresor_seal_key", "tresor_seal_pubkey", "tresor_tsa_ca"}) {
		try {
			c.set(name, "relative/key.pem");
			FAIL() << name;
		} catch (const tresor::ConfigError &e) {
			EXPECT_EQ(std::string(e.what()).rfind(std::string(name) + ": invalid value", 0),
				  0u)
				<< e.what();
		}
	}
}
