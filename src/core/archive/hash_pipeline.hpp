// Hashing on a thread of its own while the caller reads the next mails.
//
// verify reads every mail through Dovecot, whose mail API allows one
// thread per process; hashing was a fifth of that thread's time. Here the
// caller hands over each mail's bytes as it reads them, a worker thread
// hashes them, and the results come back in the order the mails were
// begun. The bytes queued at once are bounded (append() waits for the
// worker beyond that; the worker holds at most as much again, the batch
// it hashes), so a large mail costs no more memory than a small one.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "archive/config.hpp"
#include "archive/hasher.hpp"

namespace tresor {

class HashPipeline {
public:
	struct Result {
		std::uint64_t tag = 0;
		bool ok = false;   // false: hashing failed (out of memory)
		HashResult hashes; // when ok
	};

	static constexpr std::size_t kDefaultMaxQueuedBytes = 4 * 1024 * 1024;

	HashPipeline(const Config &cfg, Hasher::Hashes hashes,
		     std::size_t max_queued_bytes = kDefaultMaxQueuedBytes);
	// Stops the worker; mails not yet hashed are dropped.
	~HashPipeline();
	HashPipeline(const HashPipeline &) = delete;
	HashPipeline &operator=(const HashPipeline &) = delete;

	// One mail: begin(), its bytes in any chunking, then end() (a result
	// follows) or cancel() (none does: the caller could not read it all).
	void begin(std::uint64_t tag);
	void append(const void *data, std::size_t size);
	void end();
	void cancel();

	// The result of the oldest mail ended and not yet taken. Without wait
	// only one that is ready; with wait, waits for it while mails are
	// pending. false when there is none.
	bool next(Result &out, bool wait);
	// Mails ended whose results were not taken yet.
	std::size_t pending() const;
	// The most memory the queue's buffers have held at once (their
	// capacity, not only the bytes in use): within max_queued_bytes.
	std::size_t peak_queued_capacity() const;

private:
	struct Piece {
		std::uint64_t tag = 0;
		std::string bytes;
		bool first = false; // the mail's first piece: the hasher starts over
		bool last = false;  // its last: a result follows
		bool cancel = false;
	};

	// (with lock_ held) the worker takes what is queued, however little
	void wake_worker(std::unique_lock<std::mutex> &held);
	// Hands the mail's bytes so far to the worker (waiting while the
	// queue is full).
	void flush_building(bool last, bool cancel);
	void run();
	static std::size_t cost(const Piece &piece);

	const std::size_t max_queued_bytes_;
	const std::size_t wake_bytes_;
	Hasher hasher_; // the worker's only

	// the caller's side
	bool building_open_ = false;
	bool building_first_ = false;
	std::uint64_t building_tag_ = 0;
	std::string building_;
	std::size_t pending_ = 0; // ended, not taken

	mutable std::mutex lock_;
	std::condition_variable work_ready_;   // the worker waits for pieces
	std::condition_variable space_ready_;  // append() waits for room
	std::condition_variable result_ready_; // next(wait) waits for results
	std::deque<Piece> queue_;
	std::size_t queued_bytes_ = 0;
	std::size_t queued_capacity_ = 0;
	std::size_t peak_queued_capacity_ = 0;
	std::deque<Result> results_;
	std::vector<std::string> spare_; // consumed buffers, to reuse
	bool worker_idle_ = false;     // waiting for work_ready_
	bool flush_requested_ = false; // the caller waits: take what is queued
	bool stopping_ = false;
	bool broken_ = false; // the worker failed outside a mail's hashing

	std::thread worker_;
};

} // namespace tresor
