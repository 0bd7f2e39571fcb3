#include "invoice/dmarc_intake.hpp"

#include <algorithm>
#include <chrono>
#include <tuple>

#include "common/text.hpp"
#include "invoice/invoice.hpp"

namespace tresor::invoice {

bool may_be_dmarc_report(const Part &part)
{
	std::string_view data = part.data;
	if (data.starts_with("PK\x03\x04") || data.starts_with("\x1f\x8b"))
		return true;
	if (data.starts_with("\xef\xbb\xbf"))
		data.remove_prefix(3);
	data = text::trim_space(data.substr(0, 256));
	return data.starts_with("<?xml") || data.starts_with("<feedback");
}

DmarcFinding Analyser::find_dmarc_report(const Message &msg) const
{
	DmarcFinding found;
	const auto start = std::chrono::steady_clock::now();
	std::size_t tried = 0;
	for (std::size_t i = 0; i < msg.parts.size() && !found.report; i++) {
		const Part &p = msg.parts[i];
		if (!may_be_dmarc_report(p))
			continue;
		const std::string what = describe_part(p, i);
		if (tried == kMaxDmarcCandidates) {
			found.problems.push_back(what + " was not read (more than " +
						 std::to_string(kMaxDmarcCandidates) +
						 " candidates)");
			break;
		}
		auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
			std::chrono::steady_clock::now() - start);
		if (spent >= settings_.budget) {
			found.problems.push_back(what + " was not read (time budget used up)");
			break;
		}
		tried++;
		extract::Document d = read_document(extract::Kind::dmarc, p.data,
						    settings_.budget - spent);
		if (d.ok && d.dmarc) {
			found.report = std::move(d.dmarc);
			found.place = what;
			for (const std::string &w : d.warnings)
				log(1, "tresor dmarc: " + what + ": " + w);
			continue;
		}
		std::string why = d.warnings.empty() ? "no DMARC aggregate report"
						     : text::join(d.warnings, "; ");
		if (!d.ok)
			log(2, "tresor dmarc: " + what + " could not be read: " + why);
		found.problems.push_back(what + ": " + why);
	}
	return found;
}

} // namespace tresor::invoice

namespace tresor::dmarc {

Digest::Added Digest::add(const Report &report)
{
	if (report.end < since_)
		return Added::too_old;
	if (!seen_.insert(report.org_name + '\n' + report.report_id + '\n' + report.domain).second)
		return Added::duplicate;

	auto note_results = [](std::map<std::string, std::set<std::string>> &into,
			       const std::vector<AuthResult> &results) {
		if (results.empty())
			into["none"];
		for (const AuthResult &r : results)
			into[text::ascii_lowercase(r.domain)].insert(
				r.result.empty() ? "none" : text::ascii_lowercase(r.result));
	};
	for (const Record &rec : report.records) {
		// receivers write IPv6 addresses in either case
		Totals &t = sources_[{report.domain, text::ascii_lowercase(rec.source_ip)}];
		add_saturating(t.messages, rec.count);
		if (!rec.dmarc_pass())
			add_saturating(t.dmarc_fail, rec.count);
		if (rec.dkim != "pass")
			add_saturating(t.dkim_fail, rec.count);
		if (rec.spf != "pass")
			add_saturating(t.spf_fail, rec.count);
		add_saturating(t.dispositions[rec.disposition.empty() ? "unknown" : rec.disposition],
			       rec.count);
		note_results(t.dkim, rec.dkim_results);
		note_results(t.spf, rec.spf_results);
		if (!rec.header_from.empty())
			t.header_from.insert(rec.header_from);
		t.reporters.insert(report.org_name.empty() ? report.email : report.org_name);
		t.begin = std::min(t.begin, report.begin);
		t.end = std::max(t.end, report.end);
	}
	return Added::added;
}

std::vector<DigestRow> Digest::rows() const
{
	auto results_text = [](const std::map<std::string, std::set<std::string>> &by_domain) {
		std::vector<std::string> items;
		for (const auto &[domain, results] : by_domain) {
			if (domain == "none") {
				items.push_back("none");
				continue;
			}
			std::vector<std::string> r(results.begin(), results.end());
			items.push_back(domain + "=" + text::join(r, "/"));
		}
		return text::join(items, " ");
	};
	std::vector<DigestRow> rows;
	rows.reserve(sources_.size());
	for (const auto &[key, t] : sources_) {
		DigestRow row;
		row.domain = key.first;
		row.source_ip = key.second;
		row.dkim_domains = results_text(t.dkim);
		row.spf_domains = results_text(t.spf);
		row.header_from = text::join(std::vector<std::string>(t.header_from.begin(),
								      t.header_from.end()),
					     " ");
		row.messages = t.messages;
		row.dmarc_fail = t.dmarc_fail;
		row.dkim_fail = t.dkim_fail;
		row.spf_fail = t.spf_fail;
		std::vector<std::string> dispositions;
		for (const auto &[what, n] : t.dispositions)
			dispositions.push_back(what + "=" + std::to_string(n));
		row.disposition = text::join(dispositions, " ");
		row.reporters = text::join(std::vector<std::string>(t.reporters.begin(),
								    t.reporters.end()),
					   ", ");
		row.begin = t.begin;
		row.end = t.end;
		rows.push_back(std::move(row));
	}
	std::sort(rows.begin(), rows.end(), [](const DigestRow &a, const DigestRow &b) {
		return std::forward_as_tuple(b.dmarc_fail, b.messages, a.domain, a.source_ip) <
		       std::forward_as_tuple(a.dmarc_fail, a.messages, b.domain, b.source_ip);
	});
	return rows;
}

} // namespace tresor::dmarc
