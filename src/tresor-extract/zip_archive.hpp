// Zip archives from outside, read in memory with libzip under the limits
// of documents.hpp (entries considered, bytes per entry and in total, the
// compression ratio): office documents and zipped DMARC reports. Only
// ever used inside the tresor-extract helper.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <zip.h>

#include "documents.hpp"

namespace tresor::extract {

// A zip archive in memory, read with libzip. Entry sizes the archive
// declares are not trusted: every read goes through a capped loop.
class ZipArchive {
public:
	ZipArchive(std::string_view data, Warnings &warnings) : warnings_(warnings)
	{
		zip_error_t error;
		zip_error_init(&error);
		zip_source_t *source = zip_source_buffer_create(data.data(), data.size(), 0, &error);
		if (source != nullptr) {
			archive_ = zip_open_from_source(source, ZIP_RDONLY, &error);
			if (archive_ == nullptr)
				zip_source_free(source);
		}
		if (archive_ == nullptr)
			warnings_.add(std::string("not a readable zip archive: ") +
				      zip_error_strerror(&error));
		zip_error_fini(&error);
		if (archive_ != nullptr)
			index_names();
	}
	~ZipArchive()
	{
		if (archive_ != nullptr)
			zip_discard(archive_);
	}
	ZipArchive(const ZipArchive &) = delete;
	ZipArchive &operator=(const ZipArchive &) = delete;

	explicit operator bool() const { return archive_ != nullptr; }

	bool has(const std::string &name) const { return entries_.count(name) != 0; }

	// The names of the entries considered, sorted.
	std::vector<std::string> names() const
	{
		std::vector<std::string> out;
		out.reserve(entries_.size());
		for (const auto &entry : entries_)
			out.push_back(entry.first);
		return out;
	}

	struct Entry {
		std::string bytes;
		bool complete = true; // false: cut at a limit or broken
	};

	// At most cap bytes of the entry (fewer when a limit is hit: then
	// with a warning); nullopt when it is missing or can't be opened.
	std::optional<Entry> read(const std::string &name, std::size_t cap)
	{
		auto found = entries_.find(name);
		if (found == entries_.end())
			return std::nullopt;
		std::uint64_t index = found->second;

		std::size_t limit = std::min({cap, kMaxZipEntryBytes, total_left_});
		std::string why_cut;
		if (limit == total_left_ && limit < cap)
			why_cut = "the archive inflates to more than " +
				  std::to_string(kMaxZipTotalBytes >> 20) + " MiB";
		else if (limit == kMaxZipEntryBytes && limit < cap)
			why_cut = "inflates to more than " +
				  std::to_string(kMaxZipEntryBytes >> 20) + " MiB";
		else
			why_cut = "larger than " + std::to_string(cap >> 20) + " MiB";

		zip_stat_t stat;
		zip_stat_init(&stat);
		if (zip_stat_index(archive_, index, 0, &stat) == 0 &&
		    (stat.valid & ZIP_STAT_COMP_SIZE) != 0) {
			std::uint64_t by_ratio = stat.comp_size > kMaxZipEntryBytes ?
				kMaxZipEntryBytes : stat.comp_size * kMaxZipRatio;
			by_ratio = std::max<std::uint64_t>(by_ratio, kZipRatioFloorBytes);
			if (by_ratio < limit) {
				limit = static_cast<std::size_t>(by_ratio);
				why_cut = "inflates more than " + std::to_string(kMaxZipRatio) +
					  " times its compressed size (zip bomb?)";
			}
		}

		zip_file_t *file = zip_fopen_index(archive_, index, 0);
		if (file == nullptr) {
			warnings_.add(name + ": can't read: " + zip_strerror(archive_));
			return std::nullopt;
		}
		Entry entry;
		std::string &out = entry.bytes;
		char buf[64 * 1024];
		bool cut = false;
		for (;;) {
			// one byte beyond the limit tells whether there is more
			std::size_t want = std::min(sizeof(buf), limit + 1 - out.size());
			zip_int64_t got = zip_fread(file, buf, want);
			if (got < 0) {
				warnings_.add(name + ": broken: " + zip_file_strerror(file));
				entry.complete = false;
				break;
			}
			if (got == 0)
				break;
			out.append(buf, static_cast<std::size_t>(got));
			if (out.size() > limit) {
				out.resize(limit);
				cut = true;
				break;
			}
		}
		zip_fclose(file);
		if (cut) {
			warnings_.add(name + ": " + why_cut + ", cut");
			entry.complete = false;
		}
		total_left_ -= std::min(total_left_, out.size());
		return entry;
	}

private:
	void index_names()
	{
		zip_int64_t count = zip_get_num_entries(archive_, 0);
		if (count < 0)
			count = 0;
		std::uint64_t considered = static_cast<std::uint64_t>(count);
		if (considered > kMaxZipEntries) {
			warnings_.add("zip archive has " + std::to_string(count) +
				      " entries, only the first " + std::to_string(kMaxZipEntries) +
				      " are considered");
			considered = kMaxZipEntries;
		}
		for (std::uint64_t i = 0; i < considered; i++) {
			const char *name = zip_get_name(archive_, i, ZIP_FL_ENC_RAW);
			if (name != nullptr)
				entries_.emplace(name, i); // a duplicate name keeps the first
		}
	}

	Warnings &warnings_;
	zip_t *archive_ = nullptr;
	std::map<std::string, std::uint64_t> entries_;
	std::size_t total_left_ = kMaxZipTotalBytes;
};

} // namespace tresor::extract
