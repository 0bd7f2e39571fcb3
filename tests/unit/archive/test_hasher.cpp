// Message hashing: sha256, content_sha256, size and Message-ID, checked
// against values computed by hand over explicitly normalised strings.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "archive/config.hpp"
#include "archive/hasher.hpp"
#include "archive/tresor.h"
#include "test_util.hpp"

using testutil::sha256_oneshot;
using tresor::Config;
using tresor::HashResult;
using tresor::Hasher;

namespace {

HashResult hash_chunked(const Config &cfg, const std::string &msg, std::size_t chunk)
{
	Hasher h(cfg);
	for (std::size_t i = 0; i < msg.size(); i += chunk)
		h.update(msg.data() + i, std::min(chunk, msg.size() - i));
	return h.finish();
}

HashResult hash_all(const Config &cfg, const std::string &msg)
{
	return hash_chunked(cfg, msg, msg.empty() ? 1 : msg.size());
}

void expect_same(const HashResult &a, const HashResult &b, const std::string &what)
{
	EXPECT_EQ(a.sha256, b.sha256) << what;
	EXPECT_EQ(a.content_sha256, b.content_sha256) << what;
	EXPECT_EQ(a.size, b.size) << what;
	EXPECT_EQ(a.message_id, b.message_id) << what;
}

const std::string kInvoiceLf =
	"Return-Path: <billing@lieferant.example>\n"
	"Received: from mx.lieferant.example by mail.firma.example\n"
	"\twith ESMTPS id 4711; Mon, 23 Nov 2026 09:05:00 +0100\n"
	"From: Lieferant GmbH <billing@lieferant.example>\n"
	"To: buchhaltung@firma.example\n"
	"Subject: Rechnung  Nr.\n"
	"   2026-042\n"
	"Date: Mon, 23 Nov 2026 09:04:58 +0100\n"
	"Message-ID: <rechnung-2026-042@lieferant.example>\n"
	"\n"
	"Sehr geehrte Damen und Herren,\n"
	"anbei die Rechnung.\n";

// The same message as IMAP FETCH BODY[] returns it, written out by hand.
const std::string kInvoiceCrlf =
	"Return-Path: <billing@lieferant.example>\r\n"
	"Received: from mx.lieferant.example by mail.firma.example\r\n"
	"\twith ESMTPS id 4711; Mon, 23 Nov 2026 09:05:00 +0100\r\n"
	"From: Lieferant GmbH <billing@lieferant.example>\r\n"
	"To: buchhaltung@firma.example\r\n"
	"Subject: Rechnung  Nr.\r\n"
	"   2026-042\r\n"
	"Date: Mon, 23 Nov 2026 09:04:58 +0100\r\n"
	"Message-ID: <rechnung-2026-042@lieferant.example>\r\n"
	"\r\n"
	"Sehr geehrte Damen und Herren,\r\n"
	"anbei die Rechnung.\r\n";

// content_sha256 input for it under the default tresor_content_headers
// (X-Real-Mailfrom X-Real-Rcptto Return-Path Subject Message-Id Date From To Cc).
const std::string kInvoiceContent =
	"return-path:<billing@lieferant.example>\r\n"
	"subject:Rechnung Nr. 2026-042\r\n"
	"message-id:<rechnung-2026-042@lieferant.example>\r\n"
	"date:Mon, 23 Nov 2026 09:04:58 +0100\r\n"
	"from:Lieferant GmbH <billing@lieferant.example>\r\n"
	"to:buchhaltung@firma.example\r\n"
	"\r\n"
	"Sehr geehrte Damen und Herren,\r\n"
	"anbei die Rechnung.\r\n";

} // namespace

TEST(Hasher, KnownMessage)
{
	Config cfg;
	HashResult r = hash_all(cfg, kInvoiceLf);
	EXPECT_EQ(r.sha256, sha256_oneshot(kInvoiceCrlf));
	EXPECT_EQ(r.content_sha256, sha256_oneshot(kInvoiceContent));
	EXPECT_EQ(r.size, kInvoiceCrlf.size());
	EXPECT_EQ(r.size, 419u);
	EXPECT_EQ(r.message_id, "<rechnung-2026-042@lieferant.example>");
}

TEST(Hasher, FixedValues)
{
	// Plain values anyone can recompute: printf 'a\r\n\r\nb' | sha256sum
	Config cfg;
	HashResult r = hash_all(cfg, "a\n\nb");
	EXPECT_EQ(r.sha256, sha256_oneshot("a\r\n\r\nb"));
	EXPECT_EQ(r.size, 6u);
	HashResult empty = hash_all(cfg, "");
	EXPECT_EQ(empty.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	// content of an empty message: no fields, the separating CRLF, no body
	EXPECT_EQ(empty.content_sha256, sha256_oneshot("\r\n"));
	EXPECT_EQ(empty.size, 0u);
	EXPECT_EQ(empty.message_id, "");
}

TEST(Hasher, LfAndCrlfAgree)
{
	Config cfg;
	expect_same(hash_all(cfg, kInvoiceLf), hash_all(cfg, kInvoiceCrlf), "LF vs CRLF");
	// mixed line ends, too
	std::string mixed = kInvoiceCrlf;
	for (std::size_t pos = 0; (pos = mixed.find("\r\n", pos)) != std::string::npos; pos += 1) {
		if ((pos / 7) % 2 == 0)
			mixed.erase(pos, 1);
		else
			pos++;
	}
	expect_same(hash_all(cfg, mixed), hash_all(cfg, kInvoiceCrlf), "mixed");
}

TEST(Hasher, EveryChunking)
{
	Config cfg;
	cfg.secret_headers = {"Received"};
	for (const std::string *msg : {&kInvoiceLf, &kInvoiceCrlf}) {
		HashResult whole = hash_all(cfg, *msg);
		for (std::size_t chunk = 1; chunk <= 9; chunk++)
			expect_same(hash_chunked(cfg, *msg, chunk), whole,
				    "chunk " + std::to_string(chunk));
		// every two-piece split, including between CR and LF
		for (std::size_t split = 0; split <= msg->size(); split++) {
			Hasher h(cfg);
			h.update(msg->data(), split);
			h.update(msg->data() + split, msg->size() - split);
			expect_same(h.finish(), whole, "split at " + std::to_string(split));
		}
	}
}

TEST(Hasher, CrAtChunkEndFollowedByLf)
{
	Config cfg;
	Hasher h(cfg);
	h.update("Subject: x\r", 11);
	h.update("\n\r", 2);
	h.update("\nbody\r", 6);
	h.update("\n", 1);
	HashResult r = h.finish();
	EXPECT_EQ(r.sha256, sha256_oneshot("Subject: x\r\n\r\nbody\r\n"));
	EXPECT_EQ(r.size, 20u);
	EXPECT_EQ(r.content_sha256, sha256_oneshot("subject:x\r\n\r\nbody\r\n"));
}

TEST(Hasher, LoneCrStays)
{
	Config cfg;
	// a CR not followed by LF is an ordinary byte; "\r\r\n" is CR + line end
	HashResult r = hash_all(cfg, "Subject: a\rb\n\nx\ry\r\r\nz\r");
	EXPECT_EQ(r.sha256, sha256_oneshot("Subject: a\rb\r\n\r\nx\ry\r\r\nz\r"));
	EXPECT_EQ(r.size, 24u);
	EXPECT_EQ(r.content_sha256, sha256_oneshot("subject:a\rb\r\n\r\nx\ry\r\r\nz\r"));
	// split between the two CRs of "\r\r\n" and after the last CR
	std::string msg = "Subject: a\rb\n\nx\ry\r\r\nz\r";
	expect_same(hash_chunked(cfg, msg, 1), r, "1-byte chunks");
}

TEST(Hasher, SecretHeadersRemoved)
{
	Config cfg;
	cfg.set("tresor_secret_headers", "X-Envelope-To bcc");
	const std::string msg =
		"X-Envelope-To: chef@firma.example,\n"
		"  buchhaltung@firma.example\n"
		"\tgeheim@firma.example\n"
		"From: a@example.org\n"
		"BCC: versteckt@example.org\n"
		"Subject: Hallo\n"
		"x-envelope-to : zweites@firma.example\n"
		"\n"
		"X-Envelope-To: in the body this is text\n";
	const std::string kept =
		"From: a@example.org\r\n"
		"Subject: Hallo\r\n"
		"\r\n"
		"X-Envelope-To: in the body this is text\r\n";
	HashResult r = hash_all(cfg, msg);
	EXPECT_EQ(r.sha256, sha256_oneshot(kept));
	// size counts the whole message, secret fields included
	EXPECT_EQ(r.size, msg.size() + 9);
	for (std::size_t chunk : {1, 2, 3, 5})
		expect_same(hash_chunked(cfg, msg, chunk), r, "chunk " + std::to_string(chunk));
	// without secret headers the hash covers everything
	Config plain;
	EXPECT_NE(hash_all(plain, msg).sha256, r.sha256);
}

TEST(Hasher, SecretHeaderAtEndWithoutBody)
{
	Config cfg;
	cfg.secret_headers = {"X-Secret"};
	HashResult r = hash_all(cfg, "Subject: s\nX-Secret: 1\n 2");
	EXPECT_EQ(r.sha256, sha256_oneshot("Subject: s\r\n"));
	EXPECT_EQ(r.size, 27u);
	EXPECT_EQ(r.content_sha256, sha256_oneshot("subject:s\r\n\r\n"));
}

TEST(Hasher, ContentHashIgnoresTransportHeaders)
{
	Config cfg;
	const std::string a =
		"Return-Path: <a@example.org>\n"
		"Delivered-To: user1@firma.example\n"
		"Received: from lmtp by mail (Dovecot) with LMTP id AAAA; Mon, 23 Nov 2026\n"
		"From: a@example.org\nTo: b@firma.example\nSubject: Rechnung 7\n"
		"Message-ID: <7@example.org>\n\nText\n";
	const std::string b =
		"Return-Path: <a@example.org>\n"
		"Delivered-To: user2@firma.example\n"
		"Received: from lmtp by mail (Dovecot) with LMTP id BBBB;\n"
		"  Mon, 23 Nov 2026\n"
		"Received: from mx2 by relay\n"
		"From: a@example.org\nTo:   b@firma.example\nSubject:\tRechnung   7 \n"
		"Message-ID: <7@example.org>\n\nText\n";
	HashResult ra = hash_all(cfg, a), rb = hash_all(cfg, b);
	EXPECT_NE(ra.sha256, rb.sha256);
	EXPECT_EQ(ra.content_sha256, rb.content_sha256);
	EXPECT_EQ(ra.content_sha256,
		  sha256_oneshot("return-path:<a@example.org>\r\nsubject:Rechnung 7\r\n"
				 "message-id:<7@example.org>\r\nfrom:a@example.org\r\n"
				 "to:b@firma.example\r\n\r\nText\r\n"));

	std::string c = a;
	c.replace(c.find("Rechnung 7"), 10, "Rechnung 8");
	EXPECT_NE(hash_all(cfg, c).content_sha256, ra.content_sha256);
	std::string d = a;
	d.replace(d.find("\nText"), 5, "\nText!");
	EXPECT_NE(hash_all(cfg, d).content_sha256, ra.content_sha256);
}

TEST(Hasher, ContentHeaderOrderAndRepeats)
{
	Config cfg;
	cfg.set("tresor_content_headers", "To Subject X-Real-Rcptto");
	const std::string msg =
		"Subject: S\n"
		"To: eins@example.org\n"
		"X-Real-Rcptto: r1\n"
		"Cc: ignored@example.org\n"
		"TO: zwei@example.org,\n"
		"    drei@example.org\n"
		"x-real-rcptto:r2\n"
		"\n"
		"body";
	// configured order; every occurrence in message order; names lowercased
	const std::string content =
		"to:eins@example.org\r\n"
		"to:zwei@example.org, drei@example.org\r\n"
		"subject:S\r\n"
		"x-real-rcptto:r1\r\n"
		"x-real-rcptto:r2\r\n"
		"\r\n"
		"body";
	EXPECT_EQ(hash_all(cfg, msg).content_sha256, sha256_oneshot(content));
	EXPECT_EQ(hash_chunked(cfg, msg, 1).content_sha256, sha256_oneshot(content));

	cfg.set("tresor_content_headers", "");
	EXPECT_EQ(hash_all(cfg, msg).content_sha256, sha256_oneshot("\r\nbody"));
}

TEST(Hasher, NoEmptyLineMeansNoBody)
{
	Config cfg;
	HashResult r = hash_all(cfg, "Subject: nur Kopf\nFrom: a@b");
	EXPECT_EQ(r.sha256, sha256_oneshot("Subject: nur Kopf\r\nFrom: a@b"));
	EXPECT_EQ(r.content_sha256, sha256_oneshot("subject:nur Kopf\r\nfrom:a@b\r\n\r\n"));
	EXPECT_EQ(r.size, 28u);
	// a message that starts with the empty line has an empty header
	HashResult b = hash_all(cfg, "\nSubject: this is body\n");
	EXPECT_EQ(b.sha256, sha256_oneshot("\r\nSubject: this is body\r\n"));
	EXPECT_EQ(b.content_sha256, sha256_oneshot("\r\nSubject: this is body\r\n"));
	// a whitespace-only line is not the empty line: it continues a field
	HashResult c = hash_all(cfg, "Subject: a\n \nFrom: x\n\nB");
	EXPECT_EQ(c.content_sha256, sha256_oneshot("subject:a\r\nfrom:x\r\n\r\nB"));
}

TEST(Hasher, MessageId)
{
	Config cfg;
	EXPECT_EQ(hash_all(cfg, "Message-ID:\n  <folded@example.org> \n\nx").message_id,
		  "<folded@example.org>");
	EXPECT_EQ(hash_all(cfg, "message-id: <first@x>\nMessage-Id: <second@x>\n\n").message_id,
		  "<first@x>");
	EXPECT_EQ(hash_all(cfg, "Subject: none\n\nMessage-ID: <body@x>\n").message_id, "");
	// also when Message-Id isn't a content header
	cfg.set("tresor_content_headers", "Subject");
	EXPECT_EQ(hash_all(cfg, "Message-ID: <m@x>\n\n").message_id, "<m@x>");
}

TEST(Hasher, CApiAndMessageIdTruncation)
{
	tresor_config *cfg = tresor_config_new();
	ASSERT_NE(cfg, nullptr);
	char err[256];
	ASSERT_EQ(tresor_config_set(cfg, "tresor_secret_headers", "Received", err, sizeof(err)), 0);
	std::string id = "<" + std::string(1500, 'a') + "@example.org>";
	std::string msg = "Received: x\nMessage-ID: " + id + "\nSubject: t\n\nbody\n";
	tresor_hasher *h = tresor_hasher_new(cfg);
	ASSERT_NE(h, nullptr);
	for (char c : msg)
		tresor_hasher_update(h, &c, 1);
	tresor_hash_result r;
	tresor_hasher_finish(h, &r);
	EXPECT_STREQ(r.sha256, sha256_oneshot("Message-ID: " + id + "\r\nSubject: t\r\n\r\nbody\r\n").c_str());
	EXPECT_EQ(r.size, msg.size() + 5);
	EXPECT_EQ(std::strlen(r.message_id), TRESOR_MESSAGE_ID_MAX - 1u);
	EXPECT_EQ(std::string(r.message_id), id.substr(0, TRESOR_MESSAGE_ID_MAX - 1));
	// updates after finish are ignored; finish again gives the same
	tresor_hasher_update(h, "more", 4);
	tresor_hash_result again;
	tresor_hasher_finish(h, &again);
	EXPECT_STREQ(again.sha256, r.sha256);
	tresor_hasher_free(h);

	// a truncated Message-ID never ends inside a UTF-8 character
	std::string utf8_id = std::string(TRESOR_MESSAGE_ID_MAX - 2, 'b') + "\xc3\xa4" + "x";
	h = tresor_hasher_new(cfg);
	std::string m2 = "Message-ID: " + utf8_id + "\n\n";
	tresor_hasher_update(h, m2.data(), m2.size());
	tresor_hasher_finish(h, &r);
	EXPECT_EQ(std::string(r.message_id), std::string(TRESOR_MESSAGE_ID_MAX - 2, 'b'));
	tresor_hasher_free(h);

	// NULL config: the defaults
	h = tresor_hasher_new(nullptr);
	ASSERT_NE(h, nullptr);
	tresor_hasher_update(h, kInvoiceLf.data(), kInvoiceLf.size());
	tresor_hasher_finish(h, &r);
	EXPECT_STREQ(r.sha256, sha256_oneshot(kInvoiceCrlf).c_str());
	EXPECT_STREQ(r.content_sha256, sha256_oneshot(kInvoiceContent).c_str());
	tresor_hasher_free(h);
	tresor_config_free(cfg);
}

TEST(Hasher, LargeBodyRandomChunks)
{
	Config cfg;
	std::mt19937 rng(42);
	std::string body;
	for (int i = 0; i < 200000; i++) {
		char c = static_cast<char>("abc \r\n\t\n"[rng() % 8]);
		body += c;
	}
	std::string msg = "Subject: big\n\n" + body;
	// normalise by hand: every LF without CR before it gets one
	std::string norm;
	for (std::size_t i = 0; i < msg.size(); i++) {
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			norm += '\r';
		norm += msg[i];
	}
	std::string norm_body = norm.substr(norm.find("\r\n\r\n") + 4);
	Hasher h(cfg);
	std::size_t pos = 0;
	while (pos < msg.size()) {
		std::size_t n = std::min<std::size_t>(1 + rng() % 9000, msg.size() - pos);
		h.update(msg.data() + pos, n);
		pos += n;
	}
	HashResult r = h.finish();
	EXPECT_EQ(r.sha256, sha256_oneshot(norm));
	EXPECT_EQ(r.size, norm.size());
	EXPECT_EQ(r.content_sha256, sha256_oneshot("subject:big\r\n\r\n" + norm_body));
}

TEST(Hasher, HeaderNameWithSpaceBeforeColon)
{
	Config cfg;
	cfg.set("tresor_secret_headers", "X-Secret");
	HashResult r = hash_all(cfg, "Subject  : Hallo\nX-Secret\t: s\nno colon line\n\nB");
	EXPECT_EQ(r.sha256, sha256_oneshot("Subject  : Hallo\r\nno colon line\r\n\r\nB"));
	EXPECT_EQ(r.content_sha256, sha256_oneshot("subject:Hallo\r\n\r\nB"));
}

TEST(Hasher, Sha256OnlySkipsTheContentHash)
{
	const std::string msg = "From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n";
	tresor::Hasher both(std::vector<std::string>{}, std::vector<std::string>{"Subject"});
	both.update(msg.data(), msg.size());
	tresor::HashResult full = both.finish();

	tresor::Hasher only(std::vector<std::string>{}, std::vector<std::string>{"Subject"},
			    tresor::Hasher::Hashes::Sha256Only);
	only.update(msg.data(), msg.size());
	tresor::HashResult partial = only.finish();

	EXPECT_EQ(partial.sha256, full.sha256);
	EXPECT_EQ(partial.sha256, testutil::sha256_oneshot(msg));
	EXPECT_EQ(partial.size, full.size);
	EXPECT_EQ(partial.content_sha256, "");
	EXPECT_EQ(full.content_sha256.size(), 64u);
}

namespace {

// sha256 and size of Sha256Only (no secret headers: the CRLF-only path) in
// the given pieces.
HashResult hash_sha256_only(const std::vector<std::string> &pieces,
			    const std::vector<std::string> &secret = {})
{
	Hasher h(secret, std::vector<std::string>{"Subject"}, Hasher::Hashes::Sha256Only);
	for (const std::string &p : pieces)
		h.update(p.data(), p.size());
	return h.finish();
}

// Line ends that the CRLF-only path must treat exactly as the full one.
const std::vector<std::string> kLineEndCases = {
	"",
	"\n",
	"\r",
	"\r\n",
	"\n\n\n",
	"\r\r\n",
	"\r\r",
	"no line end at all",
	"Subject: x\n\nbody",
	"Subject: x\r\n\r\nbody\r\n",
	"\nleading empty line\n",
	"lone\rCR\rstays\r\n\rand\n\r",
	"Subject: no separator\nFrom: a\n",
	"a\n\nb",
};

} // namespace

TEST(Hasher, Sha256OnlyWithoutSecretsMatchesTheFullHasher)
{
	Config cfg; // no secret headers
	for (const std::string &msg : kLineEndCases) {
		const std::string what = "message '" + msg + "'";
		HashResult full = hash_all(cfg, msg);
		HashResult whole = hash_sha256_only({msg});
		EXPECT_EQ(whole.sha256, full.sha256) << what;
		EXPECT_EQ(whole.size, full.size) << what;
		EXPECT_EQ(whole.content_sha256, "") << what;
		EXPECT_EQ(whole.message_id, "") << what;
		// every two-piece split, including between CR and LF
		for (std::size_t split = 0; split <= msg.size(); split++) {
			HashResult r = hash_sha256_only({msg.substr(0, split), msg.substr(split)});
			EXPECT_EQ(r.sha256, full.sha256) << what << " split at " << split;
			EXPECT_EQ(r.size, full.size) << what << " split at " << split;
		}
	}
	for (const std::string *msg : {&kInvoiceLf, &kInvoiceCrlf}) {
		HashResult r = hash_sha256_only({*msg});
		EXPECT_EQ(r.sha256, sha256_oneshot(kInvoiceCrlf));
		EXPECT_EQ(r.size, kInvoiceCrlf.size());
		EXPECT_EQ(r.message_id, "") << "Sha256Only doesn't read the header";
	}
}

TEST(Hasher, Sha256OnlyLongLinesAndManyChunks)
{
	// lines longer than the internal buffer go to SHA-256 directly
	std::mt19937 rng(7);
	std::string msg = "Subject: big\n\n";
	for (int line = 0; line < 40; line++) {
		std::size_t len = (line % 5 == 0) ? 70000 + rng() % 70000 : rng() % 200;
		for (std::size_t i = 0; i < len; i++)
			msg += static_cast<char>('a' + rng() % 26);
		msg += (line % 3 == 0) ? "\r\n" : "\n";
	}
	Config cfg;
	HashResult full = hash_all(cfg, msg);
	EXPECT_EQ(hash_sha256_only({msg}).sha256, full.sha256);
	std::vector<std::string> pieces;
	for (std::size_t pos = 0; pos < msg.size();) {
		std::size_t n = std::min<std::size_t>(1 + rng() % 100000, msg.size() - pos);
		pieces.push_back(msg.substr(pos, n));
		pos += n;
	}
	HashResult chunked = hash_sha256_only(pieces);
	EXPECT_EQ(chunked.sha256, full.sha256);
	EXPECT_EQ(chunked.size, full.size);
}

TEST(Hasher, Sha256OnlyWithSecretHeadersLeavesThemOut)
{
	const std::string msg = "Subject: x\nX-Secret: s\n\tfolded\nMessage-ID: <m@x>\n\nbody\n";
	HashResult r = hash_sha256_only({msg}, {"X-Secret"});
	EXPECT_EQ(r.sha256, sha256_oneshot("Subject: x\r\nMessage-ID: <m@x>\r\n\r\nbody\r\n"));
	EXPECT_EQ(r.content_sha256, "");
	EXPECT_EQ(r.message_id, "");
	Config cfg;
	cfg.secret_headers = {"X-Secret"};
	EXPECT_EQ(r.sha256, hash_all(cfg, msg).sha256);
}

TEST(Hasher, ResetHashesTheNextMessageAfresh)
{
	Config cfg;
	cfg.secret_headers = {"Received"};
	for (auto hashes : {Hasher::Hashes::Both, Hasher::Hashes::Sha256Only}) {
		for (const Config &c : {Config(), cfg}) {
			Hasher reused(c, hashes);
			for (const std::string *msg : {&kInvoiceLf, &kInvoiceCrlf, &kLineEndCases[5]}) {
				Hasher fresh(c, hashes);
				fresh.update(msg->data(), msg->size());
				HashResult expected = fresh.finish();
				reused.update(msg->data(), msg->size());
				expect_same(reused.finish(), expected, "after finish");
				reused.reset();
				// a message given up halfway leaves nothing behind
				reused.update("Subject: dropped\r\n\r", 19);
				reused.reset();
				reused.update(msg->data(), msg->size());
				expect_same(reused.finish(), expected, "after an abandoned message");
				reused.reset();
			}
		}
	}
}

TEST(Hasher, CApiReset)
{
	tresor_hasher *h = tresor_hasher_new_sha256_only(nullptr);
	ASSERT_NE(h, nullptr);
	tresor_hash_result r;
	for (const std::string *msg : {&kInvoiceLf, &kInvoiceCrlf}) {
		tresor_hasher_update(h, msg->data(), msg->size());
		ASSERT_EQ(tresor_hasher_finish(h, &r), 0);
		EXPECT_EQ(std::string(r.sha256), sha256_oneshot(kInvoiceCrlf));
		EXPECT_EQ(r.size, kInvoiceCrlf.size());
		EXPECT_EQ(std::string(r.content_sha256), "");
		// finished: further input is ignored until reset
		tresor_hasher_update(h, "x", 1);
		ASSERT_EQ(tresor_hasher_finish(h, &r), 0);
		EXPECT_EQ(std::string(r.sha256), sha256_oneshot(kInvoiceCrlf));
		tresor_hasher_reset(h);
	}
	ASSERT_EQ(tresor_hasher_finish(h, &r), 0);
	EXPECT_EQ(std::string(r.sha256), sha256_oneshot(""));
	tresor_hasher_reset(nullptr); // harmless
	tresor_hasher_free(h);
}

TEST(Hasher, MailWithNulsAlsoGetsTheHashOfWhatImapServes)
{
	// IMAP's BODY[] serves each NUL byte as 0x80: the auditor's sha256 of
	// BODY[] is imap_sha256, the stored bytes' sha256
	Config cfg;
	static const char raw[] =
		"Subject: utf-16\nContent-Transfer-Encoding: binary\n\nR\0e\0c\0h\0n\0u\0n\0g\0\n";
	const std::string msg(raw, sizeof(raw) - 1);
	auto crlf = [](std::string s) {
		std::string out;
		for (char c : s) {
			if (c == '\n')
				out += '\r';
			out += c;
		}
		return out;
	};
	std::string served = msg;
	std::replace(served.begin(), served.end(), '\0', '\x80');
	for (std::size_t chunk : {1u, 3u, 7u, 64u, 100000u}) {
		HashResult r = hash_chunked(cfg, msg, chunk);
		EXPECT_EQ(r.sha256, hash_all(cfg, msg).sha256);
		EXPECT_EQ(r.imap_sha256, tresor::sha256_hex(crlf(served))) << chunk;
		EXPECT_NE(r.imap_sha256, r.sha256);
	}
	// the same hasher, reset, for a mail without NULs: none
	tresor::Hasher h(cfg);
	h.update(msg.data(), msg.size());
	(void)h.finish();
	h.reset();
	const std::string plain = "Subject: x\n\nok\n";
	h.update(plain.data(), plain.size());
	EXPECT_EQ(h.finish().imap_sha256, "");
	// a long run written past the buffer keeps both hashes right
	const std::string big = "Subject: big\n\n" + std::string(300000, 'a') + std::string(1, '\0') +
			  std::string(300000, 'b') + "\n";
	std::string big_served = big;
	std::replace(big_served.begin(), big_served.end(), '\0', '\x80');
	HashResult r = hash_chunked(cfg, big, 200000);
	EXPECT_EQ(r.sha256, tresor::sha256_hex(crlf(big)));
	EXPECT_EQ(r.imap_sha256, tresor::sha256_hex(crlf(big_served)));
}
