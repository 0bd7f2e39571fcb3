// HashPipeline: hashes on its own thread what a Hasher gives in the
// caller's, in the order the mails were begun, with the queue bounded.
#include <gtest/gtest.h>

#include <csignal>
#include <pthread.h>
#include <random>
#include <string>
#include <vector>

#include "archive/config.hpp"
#include "archive/hash_pipeline.hpp"
#include "archive/hasher.hpp"
#include "archive/tresor.h"
#include "common/threads.hpp"

using tresor::Config;
using tresor::HashPipeline;
using tresor::Hasher;

namespace {

std::string hash_here(const Config &cfg, const std::string &mail)
{
	Hasher h(cfg, Hasher::Hashes::Sha256Only);
	h.update(mail.data(), mail.size());
	return h.finish().sha256;
}

// Mails of every shape the hasher treats differently: empty, LF, CRLF,
// lone CRs, NUL bytes, a CR at a piece boundary, larger than a piece
// (64 KB) and than the whole queue.
std::vector<std::string> assorted_mails(std::size_t big)
{
	std::vector<std::string> mails = {
		"",
		"Subject: a\n\nbody\n",
		"Subject: b\r\n\r\nbody\r\n",
		"Subject: c\r\rX: y\n\nlone\rCR\n",
		std::string("Subject: d\n\nN\0L\n", 15),
		"Received: secret\nSubject: e\n\nbody\n",
	};
	std::mt19937 random(42);
	for (std::size_t size : {std::size_t(65535), std::size_t(65536), std::size_t(65537), big}) {
		std::string m = "Subject: big\n\n";
		while (m.size() < size) {
			m += static_cast<char>('a' + random() % 26);
			if (random() % 50 == 0)
				m += (random() % 2) ? "\n" : "\r\n";
		}
		m.resize(size);
		m[65535 < size ? 65535 : size - 1] = '\r'; // at the piece boundary
		mails.push_back(m);
	}
	for (int i = 0; i < 300; i++)
		mails.push_back("Subject: " + std::to_string(i) + "\n\n" +
				std::string(random() % 5000, 'x') + "\n");
	return mails;
}

} // namespace

TEST(HashPipeline, GivesWhatAHasherGivesInOrder)
{
	Config cfg;
	cfg.secret_headers = {"Received"};
	// a queue smaller than some mails: append() waits for the worker
	const std::size_t budget = 256 * 1024;
	auto mails = assorted_mails(3 * budget + 17);
	HashPipeline pipeline(cfg, Hasher::Hashes::Sha256Only, budget);
	std::mt19937 random(7);
	std::vector<std::string> got(mails.size());
	std::vector<std::uint64_t> order;
	HashPipeline::Result r;
	for (std::size_t i = 0; i < mails.size(); i++) {
		pipeline.begin(1000 + i);
		const std::string &m = mails[i];
		for (std::size_t at = 0; at < m.size();) {
			std::size_t n = std::min<std::size_t>(m.size() - at, 1 + random() % 9000);
			pipeline.append(m.data() + at, n);
			at += n;
		}
		pipeline.end();
		while (pipeline.next(r, false)) {
			ASSERT_TRUE(r.ok);
			order.push_back(r.tag);
			got[r.tag - 1000] = r.hashes.sha256;
		}
	}
	while (pipeline.next(r, true)) {
		ASSERT_TRUE(r.ok);
		order.push_back(r.tag);
		got[r.tag - 1000] = r.hashes.sha256;
	}
	EXPECT_EQ(pipeline.pending(), 0u);
	ASSERT_EQ(order.size(), mails.size());
	for (std::size_t i = 0; i < mails.size(); i++) {
		EXPECT_EQ(order[i], 1000 + i);
		EXPECT_EQ(got[i], hash_here(cfg, mails[i])) << "mail " << i;
	}
	// the secret header is left out, as the caller's hasher leaves it
	EXPECT_NE(got[5], hash_here(Config{}, mails[5]));
}

TEST(HashPipeline, ACancelledMailHasNoResultAndSpoilsNoOther)
{
	Config cfg;
	HashPipeline pipeline(cfg, Hasher::Hashes::Sha256Only, 64 * 1024);
	const std::string big(300 * 1024, 'b');
	const std::string small = "Subject: s\n\nsmall\n";
	HashPipeline::Result r;

	// cancelled after pieces of it went to the worker, then before any did
	pipeline.begin(1);
	pipeline.append(big.data(), big.size());
	pipeline.cancel();
	pipeline.begin(2);
	pipeline.append("Subject: half", 13);
	pipeline.cancel();
	pipeline.cancel(); // nothing open: nothing happens
	pipeline.begin(3);
	pipeline.append(small.data(), 5);
	pipeline.append(small.data() + 5, small.size() - 5);
	pipeline.end();
	EXPECT_EQ(pipeline.pending(), 1u);
	ASSERT_TRUE(pipeline.next(r, true));
	EXPECT_EQ(r.tag, 3u);
	EXPECT_EQ(r.hashes.sha256, hash_here(cfg, small));
	EXPECT_FALSE(pipeline.next(r, true)); // none pending: no wait
	EXPECT_FALSE(pipeline.next(r, false));
}

TEST(HashPipeline, TheQueueHoldsNoMoreThanItsBoundAfterLargeMails)
{
	// large mails leave large buffers to reuse; small mails after them
	// must not each hold one (the bound counts what the buffers hold)
	Config cfg;
	const std::size_t bound = 256 * 1024;
	HashPipeline p(cfg, Hasher::Hashes::Sha256Only, bound);
	std::vector<std::string> mails;
	std::mt19937 random(7);
	for (int round = 0; round < 20; round++) {
		mails.push_back(std::string(300 * 1024 + random() % 1000, 'L'));
		for (int i = 0; i < 200; i++)
			mails.push_back("Subject: " + std::to_string(i) + "\n\n" +
					std::string(random() % 3000, 's'));
	}
	std::size_t taken = 0;
	for (std::size_t i = 0; i < mails.size(); i++) {
		p.begin(i);
		for (std::size_t at = 0; at < mails[i].size(); at += 8192)
			p.append(mails[i].data() + at, std::min<std::size_t>(8192, mails[i].size() - at));
		p.end();
		HashPipeline::Result r;
		// results taken only now and then: the queue fills up
		while (i % 500 == 499 && p.next(r, false))
			taken++;
	}
	HashPipeline::Result r;
	while (p.next(r, true)) {
		ASSERT_TRUE(r.ok);
		EXPECT_EQ(r.hashes.sha256, hash_here(cfg, mails[r.tag]));
		taken++;
	}
	EXPECT_EQ(taken, mails.size());
	EXPECT_GT(p.peak_queued_capacity(), bound / 2);
	EXPECT_LE(p.peak_queued_capacity(), bound);
}

TEST(HashPipeline, Misuse)
{
	HashPipeline pipeline(Config{}, Hasher::Hashes::Sha256Only);
	EXPECT_THROW(pipeline.append("x", 1), std::logic_error);
	EXPECT_THROW(pipeline.end(), std::logic_error);
	pipeline.begin(1);
	EXPECT_THROW(pipeline.begin(2), std::logic_error);
	pipeline.end();
	HashPipeline::Result r;
	ASSERT_TRUE(pipeline.next(r, true));
	EXPECT_EQ(r.tag, 1u);
	EXPECT_EQ(r.hashes.sha256, hash_here(Config{}, ""));
}

TEST(HashPipeline, StopsWithMailsUnhashed)
{
	// the destructor drops what is queued and joins the worker
	std::string big(2 * 1024 * 1024, 'z');
	for (int i = 0; i < 20; i++) {
		HashPipeline pipeline(Config{}, Hasher::Hashes::Sha256Only);
		for (std::uint64_t tag = 0; tag < 3; tag++) {
			pipeline.begin(tag);
			pipeline.append(big.data(), big.size());
			pipeline.end();
		}
	}
}

TEST(HashPipeline, TheWorkerHasEverySignalBlockedAndTheCallerNone)
{
	sigset_t before, inside, after;
	ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &before), 0);
	ASSERT_FALSE(sigismember(&before, SIGTERM));
	tresor::threads::with_signals_blocked([&] {
		EXPECT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &inside), 0);
		return 0;
	});
	for (int sig : {SIGTERM, SIGINT, SIGCHLD, SIGPIPE, SIGALRM, SIGHUP, SIGUSR1})
		EXPECT_TRUE(sigismember(&inside, sig)) << sig;
	EXPECT_THROW(tresor::threads::with_signals_blocked([]() -> int {
			     throw std::runtime_error("start failed");
		     }),
		     std::runtime_error);
	{
		HashPipeline pipeline(Config{}, Hasher::Hashes::Sha256Only);
		ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &after), 0);
		for (int sig = 1; sig < NSIG; sig++)
			EXPECT_EQ(sigismember(&before, sig), sigismember(&after, sig)) << sig;
	}
}

TEST(HashPipeline, CApi)
{
	char err[256];
	tresor_config *cfg = tresor_config_new();
	ASSERT_EQ(tresor_config_set(cfg, "tresor_secret_headers", "Received", err, sizeof(err)), 0)
		<< err;
	tresor_hash_pipeline *p = tresor_hash_pipeline_new_sha256_only(cfg, err, sizeof(err));
	ASSERT_NE(p, nullptr) << err;
	tresor_hasher *h = tresor_hasher_new_sha256_only(cfg);
	const std::string mails[] = {"Received: x\nSubject: 1\n\none\n", "Subject: 2\r\n\r\ntwo"};
	for (std::uint64_t i = 0; i < 2; i++) {
		ASSERT_EQ(tresor_hash_pipeline_begin(p, i + 7, err, sizeof(err)), 0) << err;
		ASSERT_EQ(tresor_hash_pipeline_append(p, mails[i].data(), mails[i].size(), err,
						      sizeof(err)), 0) << err;
		ASSERT_EQ(tresor_hash_pipeline_end(p, err, sizeof(err)), 0) << err;
	}
	EXPECT_EQ(tresor_hash_pipeline_pending(p), 2u);
	for (std::uint64_t i = 0; i < 2; i++) {
		std::uint64_t tag = 0;
		int hashed = -1;
		tresor_hash_result got, want;
		ASSERT_EQ(tresor_hash_pipeline_next(p, 1, &tag, &hashed, &got, err, sizeof(err)), 1)
			<< err;
		EXPECT_EQ(tag, i + 7);
		EXPECT_EQ(hashed, 1);
		tresor_hasher_reset(h);
		tresor_hasher_update(h, mails[i].data(), mails[i].size());
		ASSERT_EQ(tresor_hasher_finish(h, &want), 0);
		EXPECT_STREQ(got.sha256, want.sha256);
		EXPECT_EQ(got.size, want.size);
	}
	std::uint64_t tag = 0;
	int hashed = -1;
	tresor_hash_result none;
	EXPECT_EQ(tresor_hash_pipeline_next(p, 1, &tag, &hashed, &none, err, sizeof(err)), 0);
	// misuse is an error, not an exception into C
	EXPECT_EQ(tresor_hash_pipeline_end(p, err, sizeof(err)), -1);
	EXPECT_NE(std::string(err).find("outside a mail"), std::string::npos) << err;
	ASSERT_EQ(tresor_hash_pipeline_begin(p, 1, err, sizeof(err)), 0);
	tresor_hash_pipeline_cancel(p);
	tresor_hash_pipeline_free(p);
	tresor_hasher_free(h);
	tresor_config_free(cfg);
}
