#include "dmarc_report.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include <pugixml.hpp>
#include <zlib.h>

#include "common/text.hpp"
#include "documents.hpp"
#include "zip_archive.hpp"

namespace tresor::dmarc {

namespace {

constexpr std::size_t kGzipRatioFloorBytes = 1u << 20;

std::string_view local_name(pugi::xml_node node)
{
	std::string_view name = node.name();
	std::size_t colon = name.find(':');
	return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

pugi::xml_node child(pugi::xml_node parent, std::string_view name)
{
	for (pugi::xml_node c : parent.children())
		if (c.type() == pugi::node_element && local_name(c) == name)
			return c;
	return {};
}

// The element's character data, white space trimmed and cut.
std::string text_of(pugi::xml_node node)
{
	std::string out;
	for (pugi::xml_node c : node.children()) {
		if (c.type() != pugi::node_pcdata && c.type() != pugi::node_cdata)
			continue;
		out += c.value();
		if (out.size() > kMaxFieldBytes * 4)
			break;
	}
	std::string trimmed(text::trim_space(out));
	for (char &c : trimmed)
		if (text::is_control_char(c))
			c = ' ';
	trimmed = extract::repair_utf8(trimmed);
	extract::cut_utf8(trimmed, kMaxFieldBytes);
	return trimmed;
}

std::string text_at(pugi::xml_node from, std::initializer_list<std::string_view> path)
{
	pugi::xml_node n = from;
	for (std::string_view step : path) {
		n = child(n, step);
		if (!n)
			return {};
	}
	return text_of(n);
}

// A result word as DMARC writes it ("pass", "fail", ...), lower case.
std::string word_at(pugi::xml_node from, std::initializer_list<std::string_view> path)
{
	return text::ascii_lowercase(text_at(from, path));
}

template <class Int> Int number(std::string_view digits, Int fallback)
{
	Int value{};
	auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
	if (ec == std::errc::result_out_of_range)
		return digits.starts_with('-') ? std::numeric_limits<Int>::min()
					       : std::numeric_limits<Int>::max();
	if (ec != std::errc() || end != digits.data() + digits.size())
		return fallback;
	return value;
}

std::vector<AuthResult> auth_results(pugi::xml_node auth, std::string_view method,
				     std::string_view selector_name)
{
	std::vector<AuthResult> out;
	for (pugi::xml_node r : auth.children()) {
		if (r.type() != pugi::node_element || local_name(r) != method)
			continue;
		if (out.size() == kMaxAuthResults)
			break;
		out.push_back({text_at(r, {"domain"}), text_at(r, {selector_name}),
			       word_at(r, {"result"})});
	}
	return out;
}

std::optional<std::string> gunzip(std::string_view data, std::string &why_r)
{
	const std::size_t limit = std::min<std::size_t>(
		kMaxReportBytes,
		std::max<std::size_t>(kGzipRatioFloorBytes,
				      data.size() > kMaxReportBytes ? kMaxReportBytes
								    : data.size() * kMaxGzipRatio));
	z_stream zs{};
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
		why_r = "can't start gzip decompression";
		return std::nullopt;
	}
	zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
	zs.avail_in = static_cast<uInt>(std::min<std::size_t>(data.size(),
							      std::numeric_limits<uInt>::max()));
	std::string out;
	char buf[64 * 1024];
	int ret = Z_OK;
	while (ret != Z_STREAM_END) {
		zs.next_out = reinterpret_cast<Bytef *>(buf);
		zs.avail_out = sizeof(buf);
		ret = inflate(&zs, Z_NO_FLUSH);
		if (ret != Z_OK && ret != Z_STREAM_END) {
			inflateEnd(&zs);
			why_r = ret == Z_BUF_ERROR ? "gzip data ends early" : "broken gzip data";
			return std::nullopt;
		}
		out.append(buf, sizeof(buf) - zs.avail_out);
		if (out.size() > limit) {
			inflateEnd(&zs);
			why_r = limit == kMaxReportBytes
					? "inflates to more than " +
						  std::to_string(kMaxReportBytes >> 20) + " MiB"
					: "inflates more than " + std::to_string(kMaxGzipRatio) +
						  " times its size (gzip bomb?)";
			return std::nullopt;
		}
	}
	inflateEnd(&zs);
	return out;
}

std::optional<std::string> unzip(std::string_view data, std::string &why_r)
{
	extract::Warnings warnings;
	extract::ZipArchive zip(data, warnings);
	auto first_warning = [&](const char *fallback) {
		std::vector<std::string> w = warnings.finish();
		return w.empty() ? std::string(fallback) : w.front();
	};
	if (!zip) {
		why_r = first_warning("not a readable zip archive");
		return std::nullopt;
	}
	for (const std::string &name : zip.names()) {
		if (!text::iends_with(name, ".xml"))
			continue;
		std::optional<extract::ZipArchive::Entry> entry = zip.read(name, kMaxReportBytes);
		if (!entry || !entry->complete) {
			why_r = first_warning("the report in the zip can't be read");
			return std::nullopt;
		}
		return std::move(entry->bytes);
	}
	why_r = "the zip archive holds no .xml file";
	return std::nullopt;
}

} // namespace

std::optional<std::string> report_xml(std::string_view data, std::string &why_r)
{
	std::optional<std::string> xml;
	if (data.starts_with("\x1f\x8b"))
		xml = gunzip(data, why_r);
	else if (data.starts_with("PK\x03\x04"))
		xml = unzip(data, why_r);
	else if (data.size() > kMaxReportBytes)
		why_r = "larger than " + std::to_string(kMaxReportBytes >> 20) + " MiB";
	else
		xml = std::string(data);
	return xml;
}

std::optional<Report> parse_report(std::string_view xml, std::string &why_r)
{
	if (xml.empty() || xml.size() > kMaxReportBytes) {
		why_r = xml.empty() ? "empty" : "too large";
		return std::nullopt;
	}
	// parse_default leaves DOCTYPE declarations unparsed and custom entity
	// references unexpanded: no entity bombs, no external entities.
	pugi::xml_document doc;
	pugi::xml_parse_result parsed =
		doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_auto);
	if (!parsed) {
		why_r = std::string("not XML: ") + parsed.description();
		return std::nullopt;
	}
	pugi::xml_node root = doc.document_element();
	pugi::xml_node meta = child(root, "report_metadata");
	pugi::xml_node policy = child(root, "policy_published");
	if (local_name(root) != "feedback" || !meta || !policy) {
		why_r = "no DMARC aggregate report (feedback with report_metadata and "
			"policy_published)";
		return std::nullopt;
	}
	Report r;
	r.org_name = text_at(meta, {"org_name"});
	r.email = text_at(meta, {"email"});
	r.report_id = text_at(meta, {"report_id"});
	r.begin = number<std::int64_t>(text_at(meta, {"date_range", "begin"}), 0);
	r.end = number<std::int64_t>(text_at(meta, {"date_range", "end"}), 0);
	r.domain = text::ascii_lowercase(text_at(policy, {"domain"}));
	r.policy = word_at(policy, {"p"});
	std::size_t left_out = 0;
	for (pugi::xml_node rec : root.children()) {
		if (rec.type() != pugi::node_element || local_name(rec) != "record")
			continue;
		if (r.records.size() == kMaxRecords) {
			left_out++;
			continue;
		}
		pugi::xml_node row = child(rec, "row");
		Record out;
		out.source_ip = text_at(row, {"source_ip"});
		out.count = number<std::uint64_t>(text_at(row, {"count"}), 0);
		out.disposition = word_at(row, {"policy_evaluated", "disposition"});
		out.dkim = word_at(row, {"policy_evaluated", "dkim"});
		out.spf = word_at(row, {"policy_evaluated", "spf"});
		out.header_from = text::ascii_lowercase(text_at(rec, {"identifiers", "header_from"}));
		out.envelope_from =
			text::ascii_lowercase(text_at(rec, {"identifiers", "envelope_from"}));
		pugi::xml_node auth = child(rec, "auth_results");
		out.dkim_results = auth_results(auth, "dkim", "selector");
		out.spf_results = auth_results(auth, "spf", "scope");
		r.records.push_back(std::move(out));
	}
	if (left_out > 0)
		r.notes.push_back(std::to_string(left_out) + " records beyond the first " +
				  std::to_string(kMaxRecords) + " left out");
	return r;
}

std::optional<Report> read_report(std::string_view data, std::string &why_r)
{
	std::optional<std::string> xml = report_xml(data, why_r);
	if (!xml)
		return std::nullopt;
	return parse_report(*xml, why_r);
}

} // namespace tresor::dmarc
