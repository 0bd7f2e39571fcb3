// The invoice register: invoice records tied to the save right before
// them (save_seq), read back as the bookkeeper's list and its CSV.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "archive/invoices.hpp"
#include "archive/journal.hpp"
#include "archive/record.hpp"
#include "archive/tresor.h"
#include "test_util.hpp"

using namespace testutil;
using tresor::InvoiceEntry;
using tresor::InvoiceFilter;
using tresor::Journal;
using tresor::Record;

namespace {

struct Invoice {
	std::string number, total = "529.87", supplier = "Lieferant GmbH",
			    seller = "Lieferant GmbH", verdict = "trusted", reason = "";
};

Record invoice_of(const Record &save, const Invoice &inv)
{
	tresor::json fields = tresor::json::object();
	fields["format"] = "xrechnung-ubl";
	fields["number"] = inv.number;
	fields["date"] = "2026-03-01";
	fields["total"] = inv.total;
	fields["currency"] = "EUR";
	fields["seller"] = inv.seller;
	fields["vatid"] = "DE123456789";
	fields["iban"] = "DE02120300000000202051";
	fields["supplier"] = inv.supplier;
	fields["folder"] = "Lieferant";
	fields["verdict"] = inv.verdict;
	fields["reason"] = inv.reason;
	return invoice_record(save, std::move(fields));
}

// One delivery: the save of the mail and its invoice record, in one batch.
std::vector<std::uint64_t> deliver(Journal &j, Record save, const Invoice &inv,
				   std::chrono::system_clock::time_point when)
{
	return j.append_batch({save, invoice_of(save, inv)}, when);
}

std::string field(const InvoiceEntry &e, const std::string &name)
{
	const auto &names = tresor::invoice_field_names();
	for (std::size_t i = 0; i < names.size(); i++)
		if (names[i] == name)
			return e.fields[i];
	return "?";
}

} // namespace

TEST(InvoiceRegister, AnInvoiceRecordNamesTheSaveRightBeforeIt)
{
	TempDir d;
	Journal j(d.path());
	j.append(save_record(kGuid1, 1, mail_hash("other")), utc(2026, 3, 1));
	auto seqs = deliver(j, save_record(kGuid1, 2, mail_hash("a")), {"R-1"}, utc(2026, 3, 2));
	ASSERT_EQ(seqs, (std::vector<std::uint64_t>{2, 3}));
	std::string lines = read_file(d / "journal/2026.jsonl");
	std::string last = lines.substr(lines.rfind("{\"seq\":3"));
	EXPECT_NE(last.find("\"event\":\"invoice\""), std::string::npos) << last;
	EXPECT_NE(last.find("\"save_seq\":2,\"invoice\":{\"format\":\"xrechnung-ubl\",\"number\":\"R-1\""),
		  std::string::npos)
		<< last;
	// alone, or after another mail's save, it describes nothing
	EXPECT_THROW(j.append(invoice_of(save_record(kGuid1, 4, mail_hash("b")), {"R-2"}),
			      utc(2026, 3, 3)),
		     std::invalid_argument);
	EXPECT_THROW(j.append_batch({save_record(kGuid1, 5, mail_hash("c")),
				     invoice_of(save_record(kGuid1, 6, mail_hash("d")), {"R-3"})},
				    utc(2026, 3, 3)),
		     std::invalid_argument);
	EXPECT_EQ(read_file(d / "journal/2026.jsonl"), lines) << "nothing of a refused batch";
}

TEST(InvoiceRegister, ListsTheInvoicesWithTheirSavesAndFilters)
{
	TempDir d;
	{
		Journal j(d.path());
		Record a = save_record(kGuid1, 1, mail_hash("a"), "", "Rechnungen/Lieferant");
		a.archive = 1;
		deliver(j, a, {"R-1"}, utc(2026, 1, 31, 23));
		j.append(save_record(kGuid2, 1, mail_hash("no invoice")), utc(2026, 2, 1));
		Record b = save_record(kGuid3, 1, mail_hash("b"), "", "Rechnungen/Pruefen");
		deliver(j, b, {"R-2", "100.00", "", "Lieferamt GmbH", "lookalike-domain",
			       "the sender's domain lieferamt.de looks like lieferant.de"},
			utc(2026, 2, 14));
		Record c = save_record(kGuid1, 2, mail_hash("c"), "", "Rechnungen/Lieferant");
		deliver(j, c, {"G-7", "-12.50"}, utc(2026, 3, 1));
	}
	auto all = tresor::read_invoice_register(d.path(), {});
	ASSERT_EQ(all.size(), 3u);
	EXPECT_EQ(all[0].seq, 2u);
	EXPECT_EQ(all[0].save_seq, 1u);
	EXPECT_EQ(all[0].mailbox, "Rechnungen/Lieferant");
	EXPECT_EQ(all[0].uid, 1u);
	EXPECT_EQ(all[0].sha256, mail_hash("a"));
	EXPECT_EQ(field(all[0], "number"), "R-1");
	EXPECT_EQ(field(all[1], "verdict"), "lookalike-domain");
	EXPECT_EQ(field(all[2], "total"), "-12.50");

	auto numbers = [&](const InvoiceFilter &f) {
		std::vector<std::string> out;
		for (const InvoiceEntry &e : tresor::read_invoice_register(d.path(), f))
			out.push_back(field(e, "number"));
		return out;
	};
	EXPECT_EQ(numbers({"2026-02-01", "", "", ""}), (std::vector<std::string>{"R-2", "G-7"}));
	EXPECT_EQ(numbers({"", "2026-01-31", "", ""}), (std::vector<std::string>{"R-1"}));
	EXPECT_EQ(numbers({"2026-02-14", "2026-02-14", "", ""}), (std::vector<std::string>{"R-2"}));
	EXPECT_EQ(numbers({"", "", "trusted", ""}), (std::vector<std::string>{"R-1", "G-7"}));
	// the supplier, or the seller of an invoice from nobody known
	EXPECT_EQ(numbers({"", "", "", "LIEFERAMT"}), (std::vector<std::string>{"R-2"}));
	EXPECT_EQ(numbers({"", "", "", "lieferant"}), (std::vector<std::string>{"R-1", "G-7"}));
	EXPECT_THROW(numbers({"2026-02-30", "", "", ""}), std::invalid_argument);
}

// fileinto :copy stores one delivered invoice twice (an ERP's intake
// folder and the archive): one line, naming the archived copy.
TEST(InvoiceRegister, TheCopiesOfOneDeliveryAreOneInvoice)
{
	TempDir d;
	{
		Journal j(d.path());
		Record intake = save_record(kGuid2, 7, mail_hash("a"), "", "ERP-Import");
		intake.session = "sess-1";
		Record archived = save_record(kGuid1, 3, mail_hash("a"), "", "Rechnungen/Lieferant");
		archived.archive = 1;
		archived.session = "sess-1";
		deliver(j, intake, {"R-1"}, utc(2026, 3, 1));
		deliver(j, archived, {"R-1"}, utc(2026, 3, 1));
		// the same invoice delivered again later is another arrival
		intake.session = "sess-2";
		deliver(j, intake, {"R-1"}, utc(2026, 3, 2));
	}
	auto all = tresor::read_invoice_register(d.path(), {});
	ASSERT_EQ(all.size(), 2u);
	EXPECT_EQ(all[0].mailbox, "Rechnungen/Lieferant");
	EXPECT_EQ(all[0].uid, 3u);
	EXPECT_EQ(all[0].copies, 2u);
	EXPECT_EQ(all[1].mailbox, "ERP-Import");
	EXPECT_EQ(all[1].copies, 1u);
}

TEST(InvoiceRegister, TheCsvImportsAndNoFieldBecomesAFormula)
{
	InvoiceEntry e;
	e.seq = 9;
	e.time = "2026-03-01T10:00:00.000000Z";
	e.mailbox = "Rechnungen/Lieferant";
	e.uid = 4;
	e.uidvalidity = 1700000000;
	e.sha256 = mail_hash("a");
	e.fields = {"factur-x", "=HYPERLINK(\"http://evil\")", "2026-02-28", "-12.50", "EUR",
		    "ACME, Inc.", "DE123456789", "DE02120300000000202051", "ACME",
		    "ACME", "trusted", "+49 is a number"};
	EXPECT_EQ(tresor::invoice_register_csv_header(),
		  "user,stored,format,number,date,total,currency,seller,vatid,iban,supplier,"
		  "folder,verdict,reason,mailbox,uid,uidvalidity,sha256,seq\n");
	EXPECT_EQ(tresor::invoice_register_csv("buchhaltung", {e}),
		  "buchhaltung,2026-03-01T10:00:00.000000Z,factur-x,"
		  "\"'=HYPERLINK(\"\"http://evil\"\")\",2026-02-28,-12.50,EUR,\"ACME, Inc.\","
		  "DE123456789,DE02120300000000202051,ACME,ACME,trusted,'+49 is a number,"
		  "Rechnungen/Lieferant,4,1700000000," + mail_hash("a") + ",9\n");
}

// The mail plugin hands the fields as name, value pairs (tresor.h).
TEST(InvoiceRegister, TheCApiWritesAndReadsTheRegister)
{
	TempDir d;
	char err[256];
	tresor_journal *j = tresor_journal_open(d.path().c_str(), err, sizeof(err));
	ASSERT_NE(j, nullptr) << err;
	const std::string sha = mail_hash("a");
	const char *fields[] = {"number", "R-1", "verdict", "trusted", "supplier", "Lieferant",
				nullptr};
	tresor_record recs[2] = {};
	recs[0].event = "save";
	recs[0].mailbox = "Rechnungen/Lieferant";
	recs[0].mailbox_guid = kGuid1.c_str();
	recs[0].uid = 1;
	recs[0].sha256 = sha.c_str();
	recs[1] = recs[0];
	recs[1].event = "invoice";
	recs[1].invoice = fields;
	uint64_t seqs[2];
	ASSERT_EQ(tresor_journal_append_batch(j, recs, 2, seqs, err, sizeof(err)), 0) << err;
	tresor_journal_close(j);

	tresor_invoices *r = tresor_invoices_read(d.path().c_str(), nullptr, nullptr, "trusted",
						  nullptr, err, sizeof(err));
	ASSERT_NE(r, nullptr) << err;
	ASSERT_EQ(tresor_invoices_count(r), 1u);
	tresor_invoice_entry e;
	ASSERT_EQ(tresor_invoices_get(r, 0, &e), 0);
	EXPECT_EQ(e.seq, seqs[1]);
	EXPECT_EQ(e.save_seq, seqs[0]);
	EXPECT_STREQ(e.mailbox, "Rechnungen/Lieferant");
	EXPECT_STREQ(e.fields[1], "R-1");
	EXPECT_STREQ(e.fields[8], "Lieferant");
	EXPECT_STREQ(e.fields[0], ""); // not given
	EXPECT_EQ(std::string(tresor_invoices_csv(r, "u")).find("u,"), 0u);
	tresor_invoices_free(r);
	EXPECT_EQ(tresor_invoices_read(d.path().c_str(), "2026-13-01", nullptr, nullptr, nullptr,
				       err, sizeof(err)),
		  nullptr);
	EXPECT_NE(std::string(err).find("YYYY-MM-DD"), std::string::npos) << err;
}
