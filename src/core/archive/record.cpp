#include "archive/record.hpp"

#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace tresor {

std::string format_time(Clock::time_point t)
{
	using namespace std::chrono;
	std::int64_t us = duration_cast<microseconds>(t.time_since_epoch()).count();
	std::int64_t secs = us / 1000000;
	std::int64_t frac = us % 1000000;
	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	std::time_t tt = static_cast<std::time_t>(secs);
	struct tm tm;
	if (::gmtime_r(&tt, &tm) == nullptr)
		throw std::runtime_error("time out of range");
	char buf[64];
	std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
		      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		      tm.tm_min, tm.tm_sec, static_cast<int>(frac));
	return buf;
}

int utc_year(Clock::time_point t)
{
	std::time_t tt = Clock::to_time_t(t);
	struct tm tm;
	if (::gmtime_r(&tt, &tm) == nullptr)
		throw std::runtime_error("time out of range");
	return tm.tm_year + 1900;
}

json record_json(const Record &rec, std::uint64_t seq, Clock::time_point t,
		 const std::string &prev)
{
	json j = json::object();
	j["seq"] = seq;
	j["time"] = format_time(t);
	j["event"] = rec.event;
	auto str = [&j](const char *key, const std::optional<std::string> &v) {
		if (v)
			j[key] = *v;
	};
	auto num = [&j](const char *key, std::uint64_t v) {
		if (v != 0)
			j[key] = v;
	};
	str("mailbox", rec.mailbox);
	str("mailbox_guid", rec.mailbox_guid);
	num("uidvalidity", rec.uidvalidity);
	num("uid", rec.uid);
	str("guid", rec.guid);
	num("size", rec.size);
	str("sha256", rec.sha256);
	str("imap_sha256", rec.imap_sha256);
	str("content_sha256", rec.content_sha256);
	str("message_id", rec.message_id);
	str("internaldate", rec.internaldate);
	num("duplicate_of", rec.duplicate_of);
	num("content_duplicate_of", rec.content_duplicate_of);
	num("archive", rec.archive);
	str("action", rec.action);
	str("new_mailbox", rec.new_mailbox);
	str("service", rec.service);
	str("session", rec.session);
	str("reason", rec.reason);
	for (const auto &[key, value] : rec.extra)
		j[key] = value;
	j["prev"] = prev;
	return j;
}

std::string dump_line(const json &j)
{
	return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<json> parse_line(std::string_view line)
{
	json j = json::parse(line.begin(), line.end(), nullptr, false);
	if (j.is_discarded() || !j.is_object())
		return std::nullopt;
	return j;
}

std::optional<std::uint64_t> record_seq(const json &j)
{
	auto it = j.find("seq");
	if (it == j.end())
		return std::nullopt;
	if (it->is_number_unsigned())
		return it->get<std::uint64_t>();
	if (it->is_number_integer() && it->get<std::int64_t>() >= 0)
		return static_cast<std::uint64_t>(it->get<std::int64_t>());
	return std::nullopt;
}

std::string json_string(const json &j, const char *key)
{
	auto it = j.find(key);
	if (it == j.end() || !it->is_string())
		return "";
	return it->get<std::string>();
}

std::uint64_t json_uint(const json &j, const char *key)
{
	auto it = j.find(key);
	if (it == j.end())
		return 0;
	if (it->is_number_unsigned())
		return it->get<std::uint64_t>();
	if (it->is_number_integer() && it->get<std::int64_t>() >= 0)
		return static_cast<std::uint64_t>(it->get<std::int64_t>());
	return 0;
}
} // namespace tresor
