#include "extract/dmarc.hpp"

#include <set>
#include <string_view>
#include <type_traits>

namespace tresor::dmarc {

namespace {

nlohmann::json auth_json(const std::vector<AuthResult> &results)
{
	nlohmann::json list = nlohmann::json::array();
	for (const AuthResult &r : results)
		list.push_back({{"domain", r.domain}, {"selector", r.selector}, {"result", r.result}});
	return list;
}

// Reads a string member of at most kMaxFieldBytes bytes into out.
bool take(const nlohmann::json &j, const char *key, std::string &out)
{
	auto it = j.find(key);
	if (it == j.end() || !it->is_string())
		return false;
	out = it->get<std::string>();
	return out.size() <= kMaxFieldBytes;
}

template <class Int> bool take_number(const nlohmann::json &j, const char *key, Int &out)
{
	auto it = j.find(key);
	if (it == j.end() || !it->is_number_integer())
		return false;
	if constexpr (std::is_unsigned_v<Int>) {
		if (!it->is_number_unsigned())
			return false;
		out = it->get<Int>();
	} else {
		out = it->get<Int>();
	}
	return true;
}

bool take_auth(const nlohmann::json &j, const char *key, std::vector<AuthResult> &out)
{
	auto it = j.find(key);
	if (it == j.end() || !it->is_array() || it->size() > kMaxAuthResults)
		return false;
	for (const nlohmann::json &r : *it) {
		AuthResult a;
		if (!r.is_object() || !take(r, "domain", a.domain) ||
		    !take(r, "selector", a.selector) || !take(r, "result", a.result))
			return false;
		out.push_back(std::move(a));
	}
	return true;
}

} // namespace

std::uint64_t Report::messages() const
{
	std::uint64_t n = 0;
	for (const Record &r : records)
		add_saturating(n, r.count);
	return n;
}

std::uint64_t Report::failing() const
{
	std::uint64_t n = 0;
	for (const Record &r : records)
		if (!r.dmarc_pass())
			add_saturating(n, r.count);
	return n;
}

std::size_t Report::failing_sources() const
{
	std::set<std::string_view> sources;
	for (const Record &r : records)
		if (!r.dmarc_pass() && r.count > 0)
			sources.insert(r.source_ip);
	return sources.size();
}

nlohmann::json report_json(const Report &report)
{
	nlohmann::json records = nlohmann::json::array();
	for (const Record &r : report.records) {
		records.push_back({
			{"source_ip", r.source_ip},
			{"count", r.count},
			{"disposition", r.disposition},
			{"dkim", r.dkim},
			{"spf", r.spf},
			{"header_from", r.header_from},
			{"envelope_from", r.envelope_from},
			{"dkim_results", auth_json(r.dkim_results)},
			{"spf_results", auth_json(r.spf_results)},
		});
	}
	return {
		{"org_name", report.org_name}, {"email", report.email},
		{"report_id", report.report_id}, {"begin", report.begin},
		{"end", report.end},             {"domain", report.domain},
		{"policy", report.policy},       {"records", records},
		{"notes", report.notes},
	};
}

std::optional<Report> report_from_json(const nlohmann::json &j)
{
	Report r;
	if (!j.is_object() || !take(j, "org_name", r.org_name) || !take(j, "email", r.email) ||
	    !take(j, "report_id", r.report_id) || !take_number(j, "begin", r.begin) ||
	    !take_number(j, "end", r.end) || !take(j, "domain", r.domain) ||
	    !take(j, "policy", r.policy))
		return std::nullopt;
	auto records = j.find("records");
	if (records == j.end() || !records->is_array() || records->size() > kMaxRecords)
		return std::nullopt;
	for (const nlohmann::json &rec : *records) {
		Record out;
		if (!rec.is_object() || !take(rec, "source_ip", out.source_ip) ||
		    !take_number(rec, "count", out.count) ||
		    !take(rec, "disposition", out.disposition) || !take(rec, "dkim", out.dkim) ||
		    !take(rec, "spf", out.spf) || !take(rec, "header_from", out.header_from) ||
		    !take(rec, "envelope_from", out.envelope_from) ||
		    !take_auth(rec, "dkim_results", out.dkim_results) ||
		    !take_auth(rec, "spf_results", out.spf_results))
			return std::nullopt;
		r.records.push_back(std::move(out));
	}
	auto notes = j.find("notes");
	if (notes == j.end() || !notes->is_array() || notes->size() > 16)
		return std::nullopt;
	for (const nlohmann::json &n : *notes) {
		if (!n.is_string() || n.get_ref<const std::string &>().size() > kMaxFieldBytes)
			return std::nullopt;
		r.notes.push_back(n.get<std::string>());
	}
	return r;
}

} // namespace tresor::dmarc
