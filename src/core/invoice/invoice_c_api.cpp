// The C ABI of tresor-invoice.h: thin wrappers around invoice::Analyser.
// No exception may cross into C: every entry point catches everything.
#include "invoice/tresor-invoice.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <list>
#include <new>
#include <vector>
#include <string>

#include "common/c_abi.hpp"
#include "common/text.hpp"
#include "common/utc_time.hpp"
#include "invoice/dmarc_intake.hpp"
#include "invoice/invoice.hpp"

struct tresor_invoice_config {
	tresor::invoice::Analyser analyser;
	tresor_invoice_log_func *log_func = nullptr;
	void *log_context = nullptr;
};

struct tresor_invoice_message {
	tresor::invoice::Message message;
	// A header or part that couldn't be stored: analysing what is left
	// could call a forged invoice trusted, so the analysis fails instead.
	bool incomplete = false;
	// Every result stays alive until the message is freed, as promised to
	// callers holding pointers into an earlier one.
	std::list<tresor::invoice::Result> results;
	// The last tresor_dmarc_analyse(), and the strings its result shows.
	tresor::invoice::DmarcFinding dmarc;
	struct DmarcText {
		std::string begin, end, problems;
	};
	std::list<DmarcText> dmarc_texts;
};

struct tresor_dmarc_digest {
	explicit tresor_dmarc_digest(long long since) : digest(since) {}
	tresor::dmarc::Digest digest;
	// made by the first tresor_dmarc_digest_rows() after an add
	bool rows_current = false;
	struct Strings {
		std::string begin, end;
	};
	std::vector<tresor::dmarc::DigestRow> rows;
	std::vector<Strings> strings;
	std::vector<tresor_dmarc_row> c_rows;
};

namespace {

using tresor::c_abi::clear_error;
using tresor::c_abi::guarded;
using tresor::c_abi::set_error;

void clear_result(tresor_invoice_result *r)
{
	r->is_invoice = 0;
	r->is_einvoice = 0;
	r->format = r->number = r->date = r->total = r->currency = r->seller = "";
	r->vatid = r->iban = r->supplier = r->folder = r->verdict = r->reason = "";
}

void fill_result(const tresor::invoice::Result &in, tresor_invoice_result *out)
{
	out->is_invoice = in.is_invoice ? 1 : 0;
	out->is_einvoice = in.is_einvoice ? 1 : 0;
	out->format = in.format.c_str();
	out->number = in.number.c_str();
	out->date = in.date.c_str();
	out->total = in.total.c_str();
	out->currency = in.currency.c_str();
	out->seller = in.seller.c_str();
	out->vatid = in.vatid.c_str();
	out->iban = in.iban.c_str();
	out->supplier = in.supplier.c_str();
	out->folder = in.folder.c_str();
	out->verdict = in.verdict.c_str();
	out->reason = in.reason.c_str();
}

// What every analysis of a message needs: the arguments, and the whole
// message (what is left of a partly stored one could pass a forgery).
void require_analysable(const tresor_invoice_config *cfg, const tresor_invoice_message *msg,
			const void *result)
{
	if (cfg == nullptr || msg == nullptr || result == nullptr)
		throw std::invalid_argument("invalid arguments");
	if (msg->incomplete)
		throw std::runtime_error("the message could not be stored completely "
					 "(out of memory or missing header/part data)");
}

std::string utc_text(std::int64_t unix_time)
{
	return tresor::format_utc_seconds(std::chrono::system_clock::time_point{} +
					  std::chrono::seconds(unix_time));
}

} // namespace

tresor::invoice::Analyser &tresor::invoice::analyser_of(tresor_invoice_config *cfg)
{
	return cfg->analyser;
}

extern "C" {

tresor_invoice_config *tresor_invoice_config_new(void)
{
	try {
		return new tresor_invoice_config;
	} catch (...) {
		return nullptr;
	}
}

void tresor_invoice_config_free(tresor_invoice_config *cfg)
{
	delete cfg;
}

const char *const *tresor_invoice_setting_names(void)
{
	return tresor::invoice::Settings::setting_names();
}

int tresor_invoice_config_set(tresor_invoice_config *cfg, const char *name,
			      const char *value, char *err, size_t err_size)
{
	clear_error(err, err_size);
	return guarded(err, err_size, [&] {
		if (cfg == nullptr || name == nullptr)
			throw std::invalid_argument("invalid arguments");
		if (value == nullptr)
			throw std::invalid_argument(std::string(name) + ": no value");
		cfg->analyser.set(name, value);
		return 0;
	});
}

void tresor_invoice_config_set_logger(tresor_invoice_config *cfg,
				      tresor_invoice_log_func *func, void *context)
{
	if (cfg == nullptr)
		return;
	try {
		cfg->log_func = func;
		cfg->log_context = context;
		if (func == nullptr) {
			cfg->analyser.set_logger(nullptr);
			return;
		}
		cfg->analyser.set_logger([cfg](int level, const std::string &message) {
			cfg->log_func(cfg->log_context, level, message.c_str());
		});
	} catch (...) {
		// std::function allocation failed: stay silent rather than crash.
		cfg->log_func = nullptr;
	}
}

tresor_invoice_message *tresor_invoice_message_new(void)
{
	try {
		return new tresor_invoice_message;
	} catch (...) {
		return nullptr;
	}
}

void tresor_invoice_message_free(tresor_invoice_message *msg)
{
	delete msg;
}

void tresor_invoice_message_add_header(tresor_invoice_message *msg, const char *name,
				       const char *value)
{
	if (msg == nullptr)
		return;
	if (name == nullptr || value == nullptr) {
		msg->incomplete = true;
		return;
	}
	try {
		msg->message.headers.emplace_back(name, value);
	} catch (...) {
		msg->incomplete = true;
	}
}

void tresor_invoice_message_add_part(tresor_invoice_message *msg, const char *content_type,
				     const char *filename, int is_attachment,
				     const void *data, size_t size)
{
	if (msg == nullptr)
		return;
	if (data == nullptr && size > 0) {
		msg->incomplete = true;
		return;
	}
	try {
		tresor::invoice::Part part;
		if (content_type != nullptr) {
			// Promised lowercase, but a glue mistake shouldn't hide a PDF.
			part.content_type = tresor::text::ascii_lowercase(content_type);
		}
		if (filename != nullptr)
			part.filename = filename;
		part.is_attachment = is_attachment != 0;
		if (size > 0)
			part.data.assign(static_cast<const char *>(data), size);
		msg->message.parts.push_back(std::move(part));
	} catch (...) {
		msg->incomplete = true;
	}
}

int tresor_invoice_analyse(const tresor_invoice_config *cfg, tresor_invoice_message *msg,
			   tresor_invoice_result *result_r, char *err, size_t err_size)
{
	clear_error(err, err_size);
	if (result_r != nullptr)
		clear_result(result_r);
	return guarded(err, err_size, [&] {
		require_analysable(cfg, msg, result_r);
		msg->results.push_back(cfg->analyser.analyse(msg->message));
		fill_result(msg->results.back(), result_r);
		return 0;
	});
}

int tresor_dmarc_analyse(const tresor_invoice_config *cfg, tresor_invoice_message *msg,
			 tresor_dmarc_result *result_r, char *err, size_t err_size)
{
	clear_error(err, err_size);
	if (result_r != nullptr)
		*result_r = tresor_dmarc_result{};
	return guarded(err, err_size, [&] {
		require_analysable(cfg, msg, result_r);
		msg->dmarc = cfg->analyser.find_dmarc_report(msg->message);
		auto &texts = msg->dmarc_texts.emplace_back();
		texts.problems = tresor::text::join(msg->dmarc.problems, "; ");
		tresor_dmarc_result &r = *result_r;
		r.org = r.email = r.report_id = r.domain = r.policy = "";
		r.problems = texts.problems.c_str();
		const auto &report = msg->dmarc.report;
		if (!report) {
			r.begin = r.end = "";
			return 0;
		}
		texts.begin = utc_text(report->begin);
		texts.end = utc_text(report->end);
		r.is_report = 1;
		r.org = report->org_name.c_str();
		r.email = report->email.c_str();
		r.report_id = report->report_id.c_str();
		r.domain = report->domain.c_str();
		r.policy = report->policy.c_str();
		r.begin = texts.begin.c_str();
		r.end = texts.end.c_str();
		r.begin_unix = report->begin;
		r.end_unix = report->end;
		r.messages = report->messages();
		r.failing = report->failing();
		r.records = static_cast<unsigned>(report->records.size());
		r.failing_sources = static_cast<unsigned>(report->failing_sources());
		return 0;
	});
}

tresor_dmarc_digest *tresor_dmarc_digest_new(long long since_unix)
{
	try {
		return new tresor_dmarc_digest(since_unix);
	} catch (...) {
		return nullptr;
	}
}

void tresor_dmarc_digest_free(tresor_dmarc_digest *digest)
{
	delete digest;
}

int tresor_dmarc_digest_add(tresor_dmarc_digest *digest, const tresor_invoice_message *msg,
			    char *err, size_t err_size)
{
	clear_error(err, err_size);
	return guarded(err, err_size, [&] {
		if (digest == nullptr || msg == nullptr)
			throw std::invalid_argument("invalid arguments");
		if (!msg->dmarc.report)
			return 0;
		digest->rows_current = false;
		return digest->digest.add(*msg->dmarc.report) ==
					       tresor::dmarc::Digest::Added::added
			       ? 1
			       : 0;
	});
}

unsigned int tresor_dmarc_digest_reports(const tresor_dmarc_digest *digest)
{
	return digest == nullptr ? 0 : static_cast<unsigned>(digest->digest.reports());
}

int tresor_dmarc_digest_rows(tresor_dmarc_digest *digest, const tresor_dmarc_row **rows_r,
			     char *err, size_t err_size)
{
	clear_error(err, err_size);
	return guarded(err, err_size, [&] {
		if (digest == nullptr || rows_r == nullptr)
			throw std::invalid_argument("invalid arguments");
		if (!digest->rows_current) {
			digest->rows = digest->digest.rows();
			digest->strings.clear();
			digest->c_rows.clear();
			digest->strings.reserve(digest->rows.size());
			for (const auto &row : digest->rows)
				digest->strings.push_back({utc_text(row.begin), utc_text(row.end)});
			for (std::size_t i = 0; i < digest->rows.size(); i++) {
				const auto &row = digest->rows[i];
				digest->c_rows.push_back(tresor_dmarc_row{
					row.domain.c_str(), row.source_ip.c_str(),
					row.dkim_domains.c_str(), row.spf_domains.c_str(),
					row.header_from.c_str(), row.messages, row.dmarc_fail,
					row.dkim_fail, row.spf_fail, row.disposition.c_str(),
					row.reporters.c_str(), digest->strings[i].begin.c_str(),
					digest->strings[i].end.c_str()});
			}
			digest->rows_current = true;
		}
		*rows_r = digest->c_rows.data();
		return static_cast<int>(digest->c_rows.size());
	});
}

} // extern "C"
