#include "archive/hash_pipeline.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "common/threads.hpp"

namespace tresor {

namespace {

// Bytes handed to the worker at once: few enough hand-overs per mail,
// small enough to keep both threads busy on a large one.
constexpr std::size_t kPieceBytes = 64 * 1024;
// What a queued piece costs besides its bytes, so that many small mails
// are bounded as well as one large one.
constexpr std::size_t kPieceOverhead = 256;
constexpr std::size_t kMaxSpare = 64;
// The worker is woken once this much is queued (at most half the queue),
// or when the caller waits, not for every mail: a wake-up costs a system
// call and a context switch, more than hashing a small mail.
constexpr std::size_t kWakeBytes = 256 * 1024;

} // namespace

HashPipeline::HashPipeline(const Config &cfg, Hasher::Hashes hashes,
			   std::size_t max_queued_bytes)
	: max_queued_bytes_(max_queued_bytes < kPieceBytes ? kPieceBytes : max_queued_bytes),
	  wake_bytes_(std::min(kWakeBytes, max_queued_bytes_ / 2)),
	  hasher_(cfg, hashes)
{
	worker_ = threads::with_signals_blocked([this] { return std::thread([this] { run(); }); });
}

HashPipeline::~HashPipeline()
{
	{
		std::lock_guard<std::mutex> guard(lock_);
		stopping_ = true;
	}
	work_ready_.notify_one();
	worker_.join();
}

// What the piece's buffer holds, not what it uses: a buffer reused from a
// large mail keeps its capacity for a small one.
std::size_t HashPipeline::cost(const Piece &piece)
{
	return piece.bytes.capacity() + kPieceOverhead;
}

void HashPipeline::begin(std::uint64_t tag)
{
	if (building_open_)
		throw std::logic_error("HashPipeline::begin() while a mail is open");
	building_open_ = true;
	building_first_ = true;
	building_tag_ = tag;
	building_.clear();
}

void HashPipeline::append(const void *data, std::size_t size)
{
	if (!building_open_)
		throw std::logic_error("HashPipeline::append() outside a mail");
	const char *p = static_cast<const char *>(data);
	while (size > 0) {
		std::size_t room = kPieceBytes - building_.size();
		std::size_t n = size < room ? size : room;
		building_.append(p, n);
		p += n;
		size -= n;
		if (building_.size() == kPieceBytes)
			flush_building(false, false);
	}
}

void HashPipeline::end()
{
	if (!building_open_)
		throw std::logic_error("HashPipeline::end() outside a mail");
	flush_building(true, false);
	building_open_ = false;
	pending_++;
}

void HashPipeline::cancel()
{
	if (!building_open_)
		return;
	// the worker has the mail's first pieces perhaps: it drops them
	if (!building_first_)
		flush_building(false, true);
	building_.clear();
	building_open_ = false;
}

void HashPipeline::flush_building(bool last, bool cancel)
{
	Piece piece;
	piece.tag = building_tag_;
	piece.first = building_first_;
	piece.last = last;
	piece.cancel = cancel;
	// a small mail's last piece in a buffer grown by a large one: queued
	// as a copy of its size (the queue counts capacity), the buffer kept
	// for the next mail
	const bool copied = !cancel && last && building_.size() * 2 < building_.capacity();
	if (copied)
		piece.bytes.assign(building_.data(), building_.size());
	else if (!cancel)
		piece.bytes.swap(building_);
	building_first_ = false;
	const std::size_t piece_cost = cost(piece);
	const std::size_t piece_capacity = piece.bytes.capacity();
	{
		std::unique_lock<std::mutex> guard(lock_);
		auto has_room = [&] {
			return queued_bytes_ == 0 ||
			       queued_bytes_ + piece_cost <= max_queued_bytes_ || broken_;
		};
		if (!has_room()) {
			wake_worker(guard);
			space_ready_.wait(guard, has_room);
		}
		if (broken_)
			throw std::runtime_error("the hashing thread failed");
		queue_.push_back(std::move(piece));
		queued_bytes_ += piece_cost;
		// (measured apart from the cost the bound uses: what it checks)
		queued_capacity_ += piece_capacity;
		peak_queued_capacity_ = std::max(peak_queued_capacity_, queued_capacity_);
		if (queued_bytes_ >= wake_bytes_ && worker_idle_)
			work_ready_.notify_one();
		// the next piece's buffer: one the worker is done with (under the
		// same lock: one lock per piece)
		if (!cancel && !copied && !spare_.empty()) {
			building_.swap(spare_.back());
			spare_.pop_back();
		}
	}
	building_.clear();
}

void HashPipeline::wake_worker(std::unique_lock<std::mutex> &)
{
	flush_requested_ = true;
	if (worker_idle_)
		work_ready_.notify_one();
}

bool HashPipeline::next(Result &out, bool wait)
{
	std::unique_lock<std::mutex> guard(lock_);
	if (wait && pending_ > 0 && results_.empty()) {
		wake_worker(guard);
		result_ready_.wait(guard, [&] { return !results_.empty() || broken_; });
	}
	if (results_.empty()) {
		if (broken_ && pending_ > 0)
			throw std::runtime_error("the hashing thread failed");
		return false;
	}
	out = std::move(results_.front());
	results_.pop_front();
	pending_--;
	return true;
}

std::size_t HashPipeline::pending() const
{
	return pending_;
}

std::size_t HashPipeline::peak_queued_capacity() const
{
	std::lock_guard<std::mutex> guard(lock_);
	return peak_queued_capacity_;
}

void HashPipeline::run()
{
	std::deque<Piece> batch;
	std::vector<std::string> used;
	std::deque<Result> done;
	bool failed = false; // the current mail's hashing
	try {
		for (;;) {
			{
				std::unique_lock<std::mutex> guard(lock_);
				for (auto &bytes : used) {
					if (spare_.size() < kMaxSpare)
						spare_.push_back(std::move(bytes));
				}
				used.clear();
				const bool had_results = !done.empty();
				for (auto &result : done)
					results_.push_back(std::move(result));
				done.clear();
				if (had_results)
					result_ready_.notify_one();
				worker_idle_ = true;
				work_ready_.wait(guard, [&] {
					return stopping_ || queued_bytes_ >= wake_bytes_ ||
					       (flush_requested_ && !queue_.empty());
				});
				worker_idle_ = false;
				if (stopping_)
					return;
				// everything queued at once: one lock per batch, not per mail
				batch.swap(queue_);
				queued_bytes_ = 0;
				queued_capacity_ = 0;
				flush_requested_ = false;
			}
			space_ready_.notify_one();
			for (Piece &piece : batch) {
				if (piece.first) {
					hasher_.reset();
					failed = false;
				}
				if (piece.cancel) {
					hasher_.reset();
					continue;
				}
				if (!failed) {
					try {
						hasher_.update(piece.bytes.data(), piece.bytes.size());
					} catch (const std::bad_alloc &) {
						failed = true;
					}
				}
				if (piece.last) {
					Result result;
					result.tag = piece.tag;
					if (!failed) {
						try {
							result.hashes = hasher_.finish();
							result.ok = true;
						} catch (const std::bad_alloc &) {
						}
					}
					done.push_back(std::move(result));
				}
				used.push_back(std::move(piece.bytes));
			}
			batch.clear();
		}
	} catch (...) {
		std::lock_guard<std::mutex> guard(lock_);
		broken_ = true;
		result_ready_.notify_all();
		space_ready_.notify_all();
	}
}

} // namespace tresor
