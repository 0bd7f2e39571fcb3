// Invoice recognition through the C ABI of tresor-invoice.h: which mails are
// invoices, which supplier sent them, and the verdict. Most tests put a
// scripted document reader in place of the tresor-extract helper; the ones
// named *RealHelper* run the real helper on the e-invoices in
// ../shared/testdata/einvoice when TRESOR_EXTRACT names it.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "invoice/invoice.hpp"
#include "invoice/tresor-invoice.h"
#include "test_util.hpp"

namespace inv = tresor::invoice;

// Substring checks without gmock, so that libgtest-dev alone builds the tests.
#define EXPECT_CONTAINS(text, part)                                                      \
	EXPECT_NE(std::string(text).find(part), std::string::npos)                       \
		<< "expected to contain: " << (part) << "\nactual: " << (text)
#define EXPECT_STARTS_WITH(text, prefix)                                                 \
	EXPECT_TRUE(std::string(text).starts_with(prefix))                               \
		<< "expected to start with: " << (prefix) << "\nactual: " << (text)

using tresor::extract::Document;
using tresor::extract::Kind;
using testutil::TempDir;
using testutil::write_file;

namespace {

// ---- the C ABI, wrapped for the tests

struct LogLine {
	int level;
	std::string message;
};

void capture_log(void *context, int level, const char *message)
{
	static_cast<std::vector<LogLine> *>(context)->push_back({level, message});
}

class Config {
public:
	Config()
	{
		tresor_invoice_config_set_logger(cfg, capture_log, &log);
		inv::analyser_of(cfg).set_supplier_check_interval(std::chrono::milliseconds(0));
	}
	~Config() { tresor_invoice_config_free(cfg); }
	Config(const Config &) = delete;
	Config &operator=(const Config &) = delete;

	void set(const std::string &name, const std::string &value)
	{
		char err[512];
		ASSERT_EQ(tresor_invoice_config_set(cfg, name.c_str(), value.c_str(), err,
						    sizeof(err)),
			  0)
			<< err;
	}
	// The error text of setting name=value; "" when it is accepted.
	std::string set_error(const std::string &name, const std::string &value)
	{
		char err[512] = "unchanged";
		if (tresor_invoice_config_set(cfg, name.c_str(), value.c_str(), err, sizeof(err)) == 0)
			return "";
		return err;
	}
	std::vector<std::string> log_at(int level) const
	{
		std::vector<std::string> out;
		for (const LogLine &l : log) {
			if (l.level == level)
				out.push_back(l.message);
		}
		return out;
	}

	tresor_invoice_config *cfg = tresor_invoice_config_new();
	std::vector<LogLine> log;
};

class Mail {
public:
	Mail() = default;
	~Mail() { tresor_invoice_message_free(msg); }
	Mail(const Mail &) = delete;
	Mail &operator=(const Mail &) = delete;

	Mail &header(const char *name, const std::string &value)
	{
		tresor_invoice_message_add_header(msg, name, value.c_str());
		return *this;
	}
	Mail &part(const char *content_type, const char *filename, bool attachment,
		   const std::string &data)
	{
		tresor_invoice_message_add_part(msg, content_type, filename, attachment ? 1 : 0,
						data.data(), data.size());
		return *this;
	}
	Mail &body(const std::string &text) { return part("text/plain", nullptr, false, text); }

	tresor_invoice_message *msg = tresor_invoice_message_new();
};

// The result with its strings copied, so it can be compared as a whole.
struct Outcome {
	int rc = 0;
	std::string err;
	bool is_invoice = false, is_einvoice = false;
	std::string format, number, date, total, currency, seller, vatid, iban, supplier, folder,
		verdict, reason;
};

Outcome analyse(const Config &config, Mail &mail)
{
	tresor_invoice_result r;
	char err[512] = "";
	Outcome o;
	o.rc = tresor_invoice_analyse(config.cfg, mail.msg, &r, err, sizeof(err));
	o.err = err;
	o.is_invoice = r.is_invoice != 0;
	o.is_einvoice = r.is_einvoice != 0;
	o.format = r.format;
	o.number = r.number;
	o.date = r.date;
	o.total = r.total;
	o.currency = r.currency;
	o.seller = r.seller;
	o.vatid = r.vatid;
	o.iban = r.iban;
	o.supplier = r.supplier;
	o.folder = r.folder;
	o.verdict = r.verdict;
	o.reason = r.reason;
	return o;
}

// ---- a scripted stand-in for tresor-extract

class FakeExtract {
public:
	// What reading exactly `data` gives.
	void add(const std::string &data, Document doc) { answers_[data] = std::move(doc); }
	inv::DocumentReader reader()
	{
		return [this](Kind kind, std::string_view data) {
			calls.emplace_back(kind, std::string(data));
			auto it = answers_.find(std::string(data));
			if (it != answers_.end())
				return it->second;
			Document unknown;
			unknown.warnings.push_back("fake: unknown document");
			return unknown;
		};
	}
	std::vector<std::pair<Kind, std::string>> calls;

private:
	std::map<std::string, Document> answers_;
};

Document einvoice_doc(const std::string &vatid, const std::string &iban)
{
	Document d;
	d.ok = true;
	d.einvoice = tresor::einvoice::Invoice{};
	d.einvoice->format = "xrechnung-ubl";
	d.einvoice->number = "R-2024-17";
	d.einvoice->date = "2024-11-15";
	d.einvoice->total = "1190.00";
	d.einvoice->currency = "EUR";
	d.einvoice->seller = "ACME GmbH";
	d.einvoice->vatid = vatid;
	d.einvoice->iban = iban;
	if (!iban.empty())
		d.einvoice->payee_ibans = {iban};
	return d;
}

Document pdf_doc(const std::string &text)
{
	Document d;
	d.ok = true;
	d.text = text;
	return d;
}

const char kSuppliers[] =
	"name,folder,domains,addresses,vat_ids,ibans\n"
	"ACME GmbH,Rechnungen/ACME,acme-gmbh.de acme.de,,DE111222333,DE89370400440532013000\n"
	"Lieferant GmbH,Rechnungen/Lieferant,lieferant.de,,DE123456789,DE02120300000000202051\n"
	"Hans Müller,Rechnungen/Müller,,hans.mueller@gmail.com,,\n";

const char kTrustedPass[] = "mx.example.net; dmarc=pass header.from=acme-gmbh.de";

// Known IBANs and one nobody has.
const char kAcmeIban[] = "DE89370400440532013000";
const char kStrangerIban[] = "NL91ABNA0417164300";

class InvoiceFixture : public testing::Test {
protected:
	void SetUp() override
	{
		write_file(suppliers_path, kSuppliers);
		config.set("tresor_suppliers", suppliers_path);
		config.set("tresor_authserv_id", "mx.example.net");
		inv::analyser_of(config.cfg).set_document_reader(fake.reader());
		fake.add("<acme/>", einvoice_doc("DE 111 222 333", kAcmeIban));
		fake.add("<acme-rebanked/>", einvoice_doc("DE111222333", kStrangerIban));
		fake.add("<acme-no-iban/>", einvoice_doc("DE111222333", ""));
		fake.add("<stranger/>", einvoice_doc("DE999888777", kStrangerIban));
	}

	// An e-invoice mail: From, Subject, Authentication-Results, XML.
	void einvoice_mail(Mail &mail, const std::string &from, const std::string &xml,
			   const std::string &authres = kTrustedPass)
	{
		mail.header("Authentication-Results", authres)
			.header("From", from)
			.header("Subject", "Ihre Bestellung")
			.body("Guten Tag,\nanbei die Unterlagen.\n")
			.part("application/xml", "invoice.xml", true, xml);
	}

	TempDir dir;
	const std::string suppliers_path = dir / "suppliers.csv";
	Config config;
	FakeExtract fake;
};

// One suite per part of the decision, all on the same suppliers and the
// scripted helper.
class InvoiceVerdict : public InvoiceFixture {};
class InvoiceLookalikeSender : public InvoiceFixture {};
class InvoiceSenderAuthentication : public InvoiceFixture {};
class InvoicePayeeAccounts : public InvoiceFixture {};
class InvoiceDocumentReading : public InvoiceFixture {};
class InvoiceRecognition : public InvoiceFixture {};
class InvoiceSupplierFile : public InvoiceFixture {};
class InvoiceCApiResults : public InvoiceFixture {};
class InvoiceHelperErrors : public InvoiceFixture {};

} // namespace

// ---- the verdict matrix

TEST_F(InvoiceVerdict, TrustedWhenVatIdSenderAndAccountAllMatch)
{
	Mail mail;
	einvoice_mail(mail, "ACME Buchhaltung <billing@acme-gmbh.de>", "<acme/>");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_invoice);
	EXPECT_TRUE(o.is_einvoice);
	EXPECT_EQ(o.format, "xrechnung-ubl");
	EXPECT_EQ(o.number, "R-2024-17");
	EXPECT_EQ(o.date, "2024-11-15");
	EXPECT_EQ(o.total, "1190.00");
	EXPECT_EQ(o.currency, "EUR");
	EXPECT_EQ(o.seller, "ACME GmbH");
	EXPECT_EQ(o.vatid, "DE111222333");
	EXPECT_EQ(o.iban, kAcmeIban);
	EXPECT_EQ(o.supplier, "ACME GmbH");
	EXPECT_EQ(o.folder, "Rechnungen/ACME");
	EXPECT_EQ(o.verdict, "trusted");
	EXPECT_STARTS_WITH(o.reason, "ACME GmbH identified by VAT ID DE111222333, ");
	EXPECT_CONTAINS(o.reason, "dmarc=pass");
	EXPECT_CONTAINS(o.reason, "mx.example.net");
	EXPECT_CONTAINS(o.reason, ", IBAN DE89370400440532013000 is a known account");
	ASSERT_EQ(fake.calls.size(), 1u);
	EXPECT_EQ(fake.calls[0].first, Kind::xml);
}

TEST_F(InvoiceVerdict, TrustedFromSubdomainWithoutIban)
{
	Mail mail;
	einvoice_mail(mail, "billing@eu.mail.acme.de", "<acme-no-iban/>",
		      "mx.example.net; dmarc=pass header.from=eu.mail.acme.de");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "trusted") << o.reason;
	EXPECT_EQ(o.iban, "");
	EXPECT_CONTAINS(o.reason, ", no IBAN in the invoice");
}

TEST_F(InvoiceVerdict, UnknownSupplier)
{
	Mail mail;
	einvoice_mail(mail, "Fremdfirma <rechnung@fremdfirma.example>", "<stranger/>",
		      "mx.example.net; dmarc=pass header.from=fremdfirma.example");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_invoice);
	EXPECT_EQ(o.verdict, "unknown-supplier");
	EXPECT_EQ(o.supplier, "");
	EXPECT_EQ(o.folder, "");
	EXPECT_EQ(o.reason, "no known supplier matches VAT ID DE999888777, "
			    "IBAN NL91ABNA0417164300, sender rechnung@fremdfirma.example");
}

TEST_F(InvoiceLookalikeSender, LookalikeByTwoEditsAlsoForShortNames)
{
	Mail mail;
	// "acnu" is two replacements away from ACME's "acme"
	einvoice_mail(mail, "billing@acnu.de", "<stranger/>",
		      "mx.example.net; dmarc=pass header.from=acnu.de");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "lookalike-domain");
	EXPECT_EQ(o.reason, "sender domain acnu.de is 2 edits away from ACME GmbH's domain acme.de");
}

TEST_F(InvoiceLookalikeSender, LookalikeByEditDistance)
{
	Mail mail;
	einvoice_mail(mail, "billing@acme-gmbb.de", "<stranger/>",
		      "mx.example.net; dmarc=pass header.from=acme-gmbb.de");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "lookalike-domain");
	EXPECT_EQ(o.reason,
		  "sender domain acme-gmbb.de is 1 edit away from ACME GmbH's domain acme-gmbh.de");
	EXPECT_EQ(o.supplier, "") << "look-alike of a supplier, not identified as one";
	EXPECT_EQ(o.folder, "");
}

TEST_F(InvoiceLookalikeSender, LookalikeEvenWhenTheVatIdIsTheSuppliers)
{
	// The forger copied ACME's real e-invoice: VAT ID and IBAN are ACME's,
	// the sender domain only looks like theirs (and passes its own DMARC).
	Mail mail;
	einvoice_mail(mail, "ACME GmbH <billing@acme-gmbb.de>", "<acme/>",
		      "mx.example.net; dmarc=pass header.from=acme-gmbb.de");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "lookalike-domain");
	EXPECT_EQ(o.supplier, "ACME GmbH");
	EXPECT_EQ(o.reason,
		  "sender domain acme-gmbb.de is 1 edit away from ACME GmbH's domain acme-gmbh.de");
}

TEST_F(InvoiceLookalikeSender, LookalikeByConfusableCharacters)
{
	// "аcme.de" with CYRILLIC SMALL LETTER A (U+0430).
	const std::string cyrillic_acme = "\xD0\xB0" "cme.de";
	Mail mail;
	einvoice_mail(mail, "Buchhaltung <billing@" + cyrillic_acme + ">", "<stranger/>",
		      "mx.example.net; dmarc=pass header.from=xn--cme-5cd.de");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "lookalike-domain");
	EXPECT_EQ(o.reason, "sender domain " + cyrillic_acme +
				    " (xn--cme-5cd.de) is confusable with ACME GmbH's domain acme.de");
}

TEST_F(InvoiceLookalikeSender, LookalikeByConfusableLetterPair)
{
	// "rn" reads as "m".
	Mail mail;
	einvoice_mail(mail, "billing@acrne.de", "<stranger/>");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "lookalike-domain");
	EXPECT_EQ(o.reason,
		  "sender domain acrne.de is confusable with ACME GmbH's domain acme.de");
}

TEST_F(InvoiceLookalikeSender, LookalikeUnderAnotherSuffix)
{
	Mail mail;
	einvoice_mail(mail, "billing@acme.com", "<stranger/>");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "lookalike-domain");
	EXPECT_EQ(o.reason, "sender domain acme.com has the same name as ACME GmbH's domain "
			    "acme.de under another suffix");
}

TEST_F(InvoiceLookalikeSender, LookalikeContainingTheName)
{
	Mail mail;
	einvoice_mail(mail, "billing@acme-gmbh.rechnungen-online.example", "<stranger/>");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "lookalike-domain");
	EXPECT_EQ(o.reason, "sender domain acme-gmbh.rechnungen-online.example contains the "
			    "name acme-gmbh from ACME GmbH's domain acme-gmbh.de");
}

TEST_F(InvoiceLookalikeSender, LookalikeByDisplayName)
{
	Mail mail;
	einvoice_mail(mail, "ACME GmbH <billing@evil.example>", "<stranger/>",
		      "mx.example.net; dmarc=pass header.from=evil.example");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "lookalike-domain");
	EXPECT_EQ(o.reason, "sender name \"ACME GmbH\" names ACME GmbH, but the address "
			    "billing@evil.example is not theirs");
}

TEST_F(InvoiceLookalikeSender, DisplayNameMatchesWholeWordsOnly)
{
	// "ACME GmbHx" is not "ACME GmbH"; the sender is simply unknown.
	Mail mail;
	einvoice_mail(mail, "\"ACME GmbHx Partner\" <billing@evil.example>", "<stranger/>");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "unknown-supplier") << o.reason;
}

TEST_F(InvoiceLookalikeSender, LookalikeByEncodedDisplayNameInOtherCase)
{
	Mail mail;
	einvoice_mail(mail, "=?UTF-8?Q?Hans_M=C3=9CLLER?= <hans.mueller@gmx.example>",
		      "<stranger/>");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "lookalike-domain");
	EXPECT_EQ(o.reason, "sender name \"Hans MÜLLER\" names Hans Müller, but the address "
			    "hans.mueller@gmx.example is not theirs");
}

TEST_F(InvoiceLookalikeSender, AnotherSuppliersDomainIsNoLookalike)
{
	// lieferant.de belongs to a supplier: not an imitation of acme-gmbh.de,
	// but not ACME's domain either.
	Mail mail;
	einvoice_mail(mail, "ACME GmbH <billing@lieferant.de>", "<acme/>",
		      "mx.example.net; dmarc=pass header.from=lieferant.de");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "unauthenticated");
	EXPECT_EQ(o.supplier, "ACME GmbH");
	EXPECT_EQ(o.reason, "invoice of ACME GmbH (by VAT ID DE111222333) sent from foreign "
			    "domain lieferant.de, not one of ACME GmbH's domains");
}

TEST_F(InvoiceSenderAuthentication, UnauthenticatedWhenOnlyAnUntrustedServerSaysPass)
{
	Mail mail;
	einvoice_mail(mail, "billing@acme-gmbh.de", "<acme/>",
		      "mx.evil.example; dmarc=pass header.from=acme-gmbh.de");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "unauthenticated");
	EXPECT_EQ(o.supplier, "ACME GmbH");
	EXPECT_EQ(o.folder, "Rechnungen/ACME");
	EXPECT_STARTS_WITH(o.reason, "mail from acme-gmbh.de for ACME GmbH is not authenticated: ");
	EXPECT_CONTAINS(o.reason, "mx.evil.example");
}

TEST_F(InvoiceSenderAuthentication, UnauthenticatedWhenDmarcFails)
{
	Mail mail;
	einvoice_mail(mail, "billing@acme-gmbh.de", "<acme/>",
		      "mx.example.net; dmarc=fail header.from=acme-gmbh.de");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "unauthenticated");
	EXPECT_CONTAINS(o.reason, "dmarc=fail");
}

TEST_F(InvoiceSenderAuthentication, UnauthenticatedWithoutConfiguredAuthservId)
{
	config.set("tresor_authserv_id", "");
	Mail mail;
	einvoice_mail(mail, "billing@acme-gmbh.de", "<acme/>");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "unauthenticated");
	EXPECT_EQ(o.reason, "mail from acme-gmbh.de for ACME GmbH is not authenticated: no "
			    "trusted authserv-id is configured (tresor_authserv_id)");
}

TEST_F(InvoiceSenderAuthentication, UnauthenticatedFromForeignDomain)
{
	Mail mail;
	einvoice_mail(mail, "Buchhaltung <office@kanzlei-weber.example>", "<acme/>",
		      "mx.example.net; dmarc=pass header.from=kanzlei-weber.example");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "unauthenticated");
	EXPECT_EQ(o.supplier, "ACME GmbH");
	EXPECT_EQ(o.reason, "invoice of ACME GmbH (by VAT ID DE111222333) sent from foreign "
			    "domain kanzlei-weber.example, not one of ACME GmbH's domains");
}

TEST_F(InvoicePayeeAccounts, BankAccountChanged)
{
	Mail mail;
	einvoice_mail(mail, "billing@acme-gmbh.de", "<acme-rebanked/>");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "bank-account-changed");
	EXPECT_EQ(o.supplier, "ACME GmbH");
	EXPECT_EQ(o.folder, "Rechnungen/ACME");
	EXPECT_EQ(o.iban, kStrangerIban);
	EXPECT_EQ(o.reason, "IBAN NL91ABNA0417164300 in the e-invoice XML 'invoice.xml' is not one "
			    "of ACME GmbH's known accounts");
}

TEST_F(InvoicePayeeAccounts, AnotherSuppliersIbanIsAChangedAccountToo)
{
	// The VAT ID decides who it is; Lieferant's account is not ACME's.
	fake.add("<acme-lieferant-iban/>", einvoice_doc("DE111222333", "DE02120300000000202051"));
	Mail mail;
	einvoice_mail(mail, "billing@acme-gmbh.de", "<acme-lieferant-iban/>");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "bank-account-changed");
	EXPECT_EQ(o.reason,
		  "IBAN DE02120300000000202051 in the e-invoice XML 'invoice.xml' is not one of "
		  "ACME GmbH's known accounts");
}

TEST_F(InvoicePayeeAccounts, PdfInvoiceIdentifiedByAddressWithNoKnownAccounts)
{
	fake.add("%PDF-rechnung", pdf_doc("Rechnung Nr. 17\nBitte überweisen Sie auf\n"
					  "IBAN: AT61 1904 3002 3457 3201\nDanke."));
	Mail mail;
	mail.header("Authentication-Results",
		    "mx.example.net; dmarc=pass header.from=gmail.com")
		.header("From", "Hans Müller <Hans.Mueller@GMAIL.com>")
		.header("Subject", "Meine Arbeit im März")
		.body("Hallo,\nanbei.\n")
		.part("application/pdf", "2024-03.pdf", true, "%PDF-rechnung");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_invoice);
	EXPECT_FALSE(o.is_einvoice);
	EXPECT_EQ(o.format, "pdf");
	EXPECT_EQ(o.iban, "AT611904300234573201");
	EXPECT_EQ(o.vatid, "");
	EXPECT_EQ(o.number, "");
	EXPECT_EQ(o.supplier, "Hans Müller");
	EXPECT_EQ(o.folder, "Rechnungen/Müller");
	EXPECT_EQ(o.verdict, "bank-account-changed");
	EXPECT_EQ(o.reason, "IBAN AT611904300234573201 in the PDF '2024-03.pdf' is not one of "
			    "Hans Müller's known accounts (the supplier file lists none)");
}

TEST_F(InvoicePayeeAccounts, PdfInvoiceIdentifiedByIbanFromTheBody)
{
	fake.add("%PDF-plain", pdf_doc("Leistungen im März"));
	Mail mail;
	mail.header("Authentication-Results", kTrustedPass)
		.header("From", "billing@acme-gmbh.de")
		.header("Subject", "Ihre Rechnung 2024-17")
		.body("Bitte zahlen Sie auf DE89370400440532013000.\n")
		.part("application/pdf", "beleg.pdf", true, "%PDF-plain");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.format, "pdf");
	EXPECT_EQ(o.iban, kAcmeIban);
	EXPECT_EQ(o.supplier, "ACME GmbH");
	EXPECT_EQ(o.verdict, "trusted") << o.reason;
	EXPECT_STARTS_WITH(o.reason, "ACME GmbH identified by IBAN DE89370400440532013000, ");
}

TEST_F(InvoicePayeeAccounts, IbansInHtmlAndAttachedTextCountToo)
{
	fake.add("%PDF-plain", pdf_doc("Leistungen im März"));
	Mail mail;
	mail.header("Authentication-Results", kTrustedPass)
		.header("From", "billing@acme-gmbh.de")
		.header("Subject", "Ihre Rechnung 2024-17")
		.part("text/html", nullptr, false, "<p>IBAN NL91&nbsp;ABNA 0417 1643 00</p>")
		.part("text/plain", "notes.txt", true, "IBAN NL91 ABNA 0417 1643 00")
		.part("application/pdf", "beleg.pdf", true, "%PDF-plain");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_invoice);
	EXPECT_EQ(o.iban, kStrangerIban);
	EXPECT_EQ(o.verdict, "bank-account-changed");
	EXPECT_EQ(o.reason, "IBAN NL91ABNA0417164300 in the HTML mail text and the text attachment "
			    "'notes.txt' is not one of ACME GmbH's known accounts");
}

TEST_F(InvoicePayeeAccounts, PdfTextIbanComesBeforeTheBodys)
{
	fake.add("%PDF-iban", pdf_doc("Invoice 17, pay to NL91 ABNA 0417 1643 00 please"));
	Mail mail;
	mail.header("From", "billing@acme-gmbh.de")
		.header("Authentication-Results", kTrustedPass)
		.header("Subject", "Documents")
		.body("Our account: DE89 3704 0044 0532 0130 00\n")
		.part("application/pdf", "doc.pdf", true, "%PDF-iban");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_invoice);
	EXPECT_EQ(o.iban, kStrangerIban);
	EXPECT_EQ(o.verdict, "bank-account-changed");
}

TEST_F(InvoicePayeeAccounts, EinvoiceWithoutIbanFallsBackToPdfText)
{
	fake.add("%PDF-visual", pdf_doc("Zahlbar auf NL91ABNA0417164300"));
	Mail mail;
	mail.header("From", "billing@acme-gmbh.de")
		.header("Authentication-Results", kTrustedPass)
		.part("application/xml", "invoice.xml", true, "<acme-no-iban/>")
		.part("application/pdf", "invoice.pdf", true, "%PDF-visual");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_einvoice);
	EXPECT_EQ(o.iban, kStrangerIban);
	EXPECT_EQ(o.verdict, "bank-account-changed");
}

// ---- every payee account (issue 13): a compromised supplier mailbox
// (authenticated, known domain, known VAT ID) adds a new account somewhere

// A trusted ACME mail with the known e-invoice and more parts.
void acme_mail(Mail &mail)
{
	mail.header("Authentication-Results", kTrustedPass)
		.header("From", "ACME Buchhaltung <billing@acme-gmbh.de>")
		.header("Subject", "Rechnung R-2024-17");
}

TEST_F(InvoicePayeeAccounts, NewIbanInAnyNotationInTheMailTextIsFound)
{
	const char *const notations[] = {
		"neue Bankverbindung: nl91abna0417164300",
		"neue Bankverbindung: IBAN nl91 abna 0417 1643 00",
		"neue Bankverbindung: NL91-ABNA-0417-1643-00",
		"neue Bankverbindung: NL 91 ABNA 0417 1643 00",
		"neue Bankverbindung: NL91\xC2\xA0" "ABNA\xC2\xA0" "0417\xC2\xA0" "1643\xC2\xA0" "00",
	};
	for (const char *text : notations) {
		Mail mail;
		acme_mail(mail);
		mail.body(std::string("Guten Tag,\n") + text + "\n")
			.part("application/xml", "invoice.xml", true, "<acme/>");
		Outcome o = analyse(config, mail);
		ASSERT_EQ(o.rc, 0) << o.err;
		EXPECT_EQ(o.verdict, "bank-account-changed") << text << ": " << o.reason;
		EXPECT_EQ(o.iban, kAcmeIban) << "the e-invoice's account stays ${invoice.iban}";
		EXPECT_EQ(o.reason, "IBAN NL91ABNA0417164300 in the mail text is not one of ACME "
				    "GmbH's known accounts")
			<< text;
	}
}

TEST_F(InvoicePayeeAccounts, KnownIbanFirstAndNewOneSecondInThePdf)
{
	fake.add("%PDF-two", pdf_doc("Rechnung 17\nBisher: DE89 3704 0044 0532 0130 00\n"
				     "NEU ab sofort: IBAN NL91 ABNA 0417 1643 00\n"));
	Mail mail;
	acme_mail(mail);
	mail.body("Anbei die Rechnung.\n").part("application/pdf", "r17.pdf", true, "%PDF-two");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.format, "pdf");
	EXPECT_EQ(o.iban, kAcmeIban) << "the first account shown";
	EXPECT_EQ(o.verdict, "bank-account-changed");
	EXPECT_EQ(o.reason,
		  "IBAN NL91ABNA0417164300 in the PDF 'r17.pdf' is not one of ACME GmbH's known "
		  "accounts");
}

TEST_F(InvoicePayeeAccounts, KnownIbanInXmlAndNewOneInThePdfOrHtml)
{
	fake.add("%PDF-new", pdf_doc("Rechnung\nZahlbar auf NL91ABNA0417164300"));
	{
		Mail mail;
		acme_mail(mail);
		mail.part("application/xml", "invoice.xml", true, "<acme/>")
			.part("application/pdf", "invoice.pdf", true, "%PDF-new");
		Outcome o = analyse(config, mail);
		EXPECT_EQ(o.verdict, "bank-account-changed");
		EXPECT_EQ(o.iban, kAcmeIban);
		EXPECT_CONTAINS(o.reason, "NL91ABNA0417164300 in the PDF 'invoice.pdf'");
	}
	{
		Mail mail;
		acme_mail(mail);
		mail.part("text/plain", nullptr, false, "Anbei die Rechnung.")
			.part("text/html", nullptr, false,
			      "<p>Neue <b>Bankverbindung</b>: NL91<span>&nbsp;ABNA</span>&#32;0417 "
			      "1643 00</p>")
			.part("application/xml", "invoice.xml", true, "<acme/>");
		Outcome o = analyse(config, mail);
		EXPECT_EQ(o.verdict, "bank-account-changed");
		EXPECT_EQ(o.reason, "IBAN NL91ABNA0417164300 in the HTML mail text is not one of "
				    "ACME GmbH's known accounts");
	}
}

TEST_F(InvoicePayeeAccounts, EveryUnknownAccountIsNamed)
{
	fake.add("%PDF-at", pdf_doc("Rechnung, IBAN AT61 1904 3002 3457 3201"));
	Mail mail;
	acme_mail(mail);
	mail.body("Bitte auf NL91ABNA0417164300 zahlen, nicht auf DE89370400440532013000.")
		.part("application/xml", "invoice.xml", true, "<acme/>")
		.part("application/pdf", "r.pdf", true, "%PDF-at");
	Outcome o = analyse(config, mail);
	EXPECT_EQ(o.verdict, "bank-account-changed");
	EXPECT_EQ(o.reason, "IBAN AT611904300234573201 in the PDF 'r.pdf', IBAN "
			    "NL91ABNA0417164300 in the mail text are not one of ACME GmbH's known "
			    "accounts");
}

TEST_F(InvoicePayeeAccounts, KnownAccountEverywhereIsTrusted)
{
	fake.add("%PDF-known", pdf_doc("Rechnung\nIBAN DE89 3704 0044 0532 0130 00"));
	Mail mail;
	acme_mail(mail);
	mail.body("Zahlbar auf de89-3704-0044-0532-0130-00.")
		.part("text/html", nullptr, false, "<p>DE89 3704 0044 0532 0130 00</p>")
		.part("application/xml", "invoice.xml", true, "<acme/>")
		.part("application/pdf", "r.pdf", true, "%PDF-known");
	Outcome o = analyse(config, mail);
	EXPECT_EQ(o.verdict, "trusted") << o.reason;
	EXPECT_EQ(o.iban, kAcmeIban);
}

TEST_F(InvoicePayeeAccounts, InvalidIbanInTheEinvoiceIsReportedAsWritten)
{
	// One check digit off: not dropped, not replaced by the PDF's valid one.
	fake.add("<acme-typo/>", einvoice_doc("DE111222333", "DE89370400440532013001"));
	fake.add("%PDF-known", pdf_doc("Rechnung\nIBAN DE89 3704 0044 0532 0130 00"));
	Mail mail;
	acme_mail(mail);
	mail.part("application/xml", "invoice.xml", true, "<acme-typo/>")
		.part("application/pdf", "r.pdf", true, "%PDF-known");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.iban, "DE89370400440532013001");
	EXPECT_EQ(o.verdict, "bank-account-changed");
	EXPECT_EQ(o.reason, "IBAN DE89370400440532013001 in the e-invoice XML 'invoice.xml' is no "
			    "valid IBAN (wrong check digits, length or format)");
}

// A direct debit: the e-invoice names the buyer's account, the PDF prints it.
Document direct_debit_doc(const std::string &payee, const std::string &debtor)
{
	Document d = einvoice_doc("DE111222333", payee);
	d.einvoice->direct_debit = true;
	d.einvoice->debtor_ibans = {debtor};
	return d;
}

TEST_F(InvoicePayeeAccounts, DirectDebitFromAnOwnAccountIsTrusted)
{
	const std::string own = "AT611904300234573201";
	fake.add("<acme-sepa/>", direct_debit_doc("", own));
	fake.add("%PDF-sepa", pdf_doc("Rechnung\nDer Betrag wird von Ihrem Konto "
				      "AT61 1904 3002 3457 3201 abgebucht."));
	auto mail_with = [&](Mail &mail) {
		acme_mail(mail);
		mail.part("application/xml", "invoice.xml", true, "<acme-sepa/>")
			.part("application/pdf", "r.pdf", true, "%PDF-sepa");
	};
	{
		// Not configured: the buyer's account is one ACME doesn't have.
		Mail mail;
		mail_with(mail);
		Outcome o = analyse(config, mail);
		EXPECT_EQ(o.verdict, "bank-account-changed");
		EXPECT_EQ(o.iban, own);
		EXPECT_CONTAINS(o.reason, "list your own accounts in tresor_own_ibans");
	}
	config.set("tresor_own_ibans", "AT61 1904 3002 3457 3201");
	{
		Mail mail;
		mail_with(mail);
		Outcome o = analyse(config, mail);
		EXPECT_EQ(o.verdict, "trusted") << o.reason;
		EXPECT_EQ(o.iban, "") << "no payee account";
		EXPECT_CONTAINS(o.reason, ", paid by direct debit, no payee IBAN in the mail");
	}
	{
		// An own account never counts, but another unknown one still does.
		Mail mail;
		mail_with(mail);
		mail.body("Oder überweisen Sie auf NL91ABNA0417164300.");
		Outcome o = analyse(config, mail);
		EXPECT_EQ(o.verdict, "bank-account-changed");
		EXPECT_EQ(o.iban, kStrangerIban);
		EXPECT_EQ(o.reason, "IBAN NL91ABNA0417164300 in the mail text is not one of ACME "
				    "GmbH's known accounts");
	}
	{
		// With the supplier's creditor account as payee.
		fake.add("<acme-sepa-payee/>", direct_debit_doc(kAcmeIban, own));
		Mail mail;
		acme_mail(mail);
		mail.part("application/xml", "invoice.xml", true, "<acme-sepa-payee/>")
			.part("application/pdf", "r.pdf", true, "%PDF-sepa");
		Outcome o = analyse(config, mail);
		EXPECT_EQ(o.verdict, "trusted") << o.reason;
		EXPECT_EQ(o.iban, kAcmeIban);
	}
}

TEST_F(InvoicePayeeAccounts, OwnAccountsAreNoPayeeAccountsAnywhere)
{
	config.set("tresor_own_ibans", "NL91ABNA0417164300");
	fake.add("<acme-own/>", einvoice_doc("DE111222333", kStrangerIban));
	Mail mail;
	acme_mail(mail);
	mail.body("Ihr Konto NL91 ABNA 0417 1643 00 wird belastet.")
		.part("application/xml", "invoice.xml", true, "<acme-own/>");
	Outcome o = analyse(config, mail);
	EXPECT_EQ(o.verdict, "trusted") << o.reason;
	EXPECT_EQ(o.iban, "");
}

TEST_F(InvoiceSenderAuthentication, SeveralFromAddressesAreNeverTrusted)
{
	const char *const froms[] = {
		"billing@acme-gmbh.de, other@acme-gmbh.de",
		"ACME <billing@acme-gmbh.de>, Fraud <pay@evil.example>",
		"Rechnungen: billing@acme-gmbh.de, chef@acme-gmbh.de;",
	};
	for (const char *from : froms) {
		Mail mail;
		einvoice_mail(mail, from, "<acme/>");
		Outcome o = analyse(config, mail);
		ASSERT_EQ(o.rc, 0) << o.err;
		EXPECT_EQ(o.verdict, "unauthenticated") << from << ": " << o.reason;
		EXPECT_STARTS_WITH(o.reason, "From names 2 senders (");
		EXPECT_CONTAINS(o.reason, "an invoice is trusted only from a single sender");
		EXPECT_EQ(o.supplier, "ACME GmbH");
	}
	// Two From fields are as many senders.
	Mail mail;
	einvoice_mail(mail, "billing@acme-gmbh.de", "<acme/>");
	mail.header("From", "billing@acme-gmbh.de");
	Outcome o = analyse(config, mail);
	EXPECT_EQ(o.verdict, "unauthenticated");
	// One address with a comma in its display name is one sender.
	Mail one;
	einvoice_mail(one, "\"Buchhaltung, ACME\" <billing@acme-gmbh.de>", "<acme/>");
	EXPECT_EQ(analyse(config, one).verdict, "trusted");
}

TEST_F(InvoiceDocumentReading, DocumentsOverTheBudgetAreNotAnalysedAndGoToReview)
{
	config.set("tresor_invoice_budget", "100ms");
	std::vector<std::string> read;
	inv::analyser_of(config.cfg).set_document_reader([&](Kind, std::string_view data) {
		read.emplace_back(data);
		std::this_thread::sleep_for(std::chrono::milliseconds(150));
		return data == "<acme/>" ? einvoice_doc("DE111222333", kAcmeIban) :
					   pdf_doc("Rechnung, IBAN NL91 ABNA 0417 1643 00");
	});
	Mail mail;
	acme_mail(mail);
	mail.part("application/xml", "invoice.xml", true, "<acme/>")
		.part("application/pdf", "neue-bank.pdf", true, "%PDF-late");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(read, std::vector<std::string>{"<acme/>"}) << "the PDF came after the budget";
	EXPECT_TRUE(o.is_einvoice);
	EXPECT_EQ(o.iban, kAcmeIban);
	EXPECT_EQ(o.verdict, "bank-account-changed");
	EXPECT_EQ(o.reason, "attachment 'neue-bank.pdf' was not analysed (the per-mail budget "
			    "tresor_invoice_budget (100ms) was used up): its accounts are unknown");
	EXPECT_EQ(config.log_at(2), std::vector<std::string>{
					    "tresor invoice: attachment 'neue-bank.pdf' not analysed: the "
					    "per-mail budget tresor_invoice_budget (100ms) was used up"});

	// Within the budget both are read and the PDF's account counts.
	config.set("tresor_invoice_budget", "15s");
	read.clear();
	Mail again;
	acme_mail(again);
	again.part("application/xml", "invoice.xml", true, "<acme/>")
		.part("application/pdf", "neue-bank.pdf", true, "%PDF-late");
	o = analyse(config, again);
	EXPECT_EQ(read.size(), 2u);
	EXPECT_EQ(o.reason, "IBAN NL91ABNA0417164300 in the PDF 'neue-bank.pdf' is not one of "
			    "ACME GmbH's known accounts");
}

TEST_F(InvoiceDocumentReading, UnreadableDocumentOfATrustedInvoiceGoesToReview)
{
	Mail mail;
	acme_mail(mail);
	mail.part("application/xml", "invoice.xml", true, "<acme/>")
		.part("application/pdf", "kaputt.pdf", true, "%PDF-unknown-to-the-fake");
	Outcome o = analyse(config, mail);
	EXPECT_EQ(o.verdict, "bank-account-changed");
	EXPECT_EQ(o.reason, "attachment 'kaputt.pdf' could not be analysed: its accounts are unknown");
}

// ---- invoice or not

TEST_F(InvoiceRecognition, NewsletterSayingRechnungWithoutAttachmentIsNoInvoice)
{
	Mail mail;
	mail.header("From", "news@acme-gmbh.de")
		.header("Subject", "Neu: Ihre Rechnung jetzt online! Rechnung Rechnung")
		.body("Rechnung, Invoice, Facture: alles im Kundenportal. IBAN DE89 3704 0044 "
		      "0532 0130 00\n")
		.part("text/html", nullptr, false, "<p>Rechnung</p>");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_FALSE(o.is_invoice);
	EXPECT_FALSE(o.is_einvoice);
	EXPECT_EQ(o.verdict, "");
	EXPECT_EQ(o.reason, "");
	EXPECT_EQ(o.supplier, "");
	EXPECT_EQ(o.iban, "");
	EXPECT_TRUE(fake.calls.empty()) << "nothing to extract";
}

TEST_F(InvoiceRecognition, PdfWithKeywordOnlyInFilenameIsAnInvoice)
{
	fake.add("%PDF-neutral", pdf_doc("Sehr geehrte Damen und Herren, anbei die Unterlagen."));
	Mail mail;
	mail.header("From", "billing@acme-gmbh.de")
		.header("Subject", "Unterlagen")
		.body("Anbei.\n")
		.part("application/pdf", "Rechnung_2024-17.pdf", true, "%PDF-neutral");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_invoice);
	EXPECT_FALSE(o.is_einvoice);
	EXPECT_EQ(o.format, "pdf");
	EXPECT_EQ(o.supplier, "ACME GmbH");
	EXPECT_EQ(o.verdict, "unauthenticated") << "no Authentication-Results at all";
	ASSERT_EQ(fake.calls.size(), 1u);
	EXPECT_EQ(fake.calls[0].first, Kind::pdf);
}

TEST_F(InvoiceRecognition, PdfWithoutKeywordIsNoInvoice)
{
	fake.add("%PDF-neutral", pdf_doc("Sehr geehrte Damen und Herren, anbei die Unterlagen."));
	Mail mail;
	mail.header("From", "billing@acme-gmbh.de")
		.header("Subject", "Unterlagen")
		.body("Anbei das Angebot.\n")
		.part("application/pdf", "Angebot.pdf", true, "%PDF-neutral");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_FALSE(o.is_invoice);
	EXPECT_EQ(o.format, "");
	EXPECT_EQ(o.verdict, "");
	EXPECT_EQ(fake.calls.size(), 1u) << "the PDF's text was looked at";
}

TEST_F(InvoiceRecognition, KeywordInPdfTextCaseInsensitively)
{
	fake.add("%PDF-facture", pdf_doc("FACTURE N° 2024-17"));
	Mail mail;
	mail.header("From", "compta@fournisseur.example")
		.header("Subject", "Documents")
		.part("application/pdf", "doc.pdf", true, "%PDF-facture");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_invoice);
	EXPECT_EQ(o.verdict, "unknown-supplier");
}

TEST_F(InvoiceRecognition, KeywordInEncodedSubject)
{
	struct Case {
		const char *subject;
		bool invoice;
	};
	const Case cases[] = {
		{"=?ISO-8859-1?Q?Ihre_Gutschrift_f=FCr_M=E4rz?=", true},
		{"=?UTF-8?B?SWhyZSBSRUNITlVORw==?=", true},                 // "Ihre RECHNUNG"
		{"=?windows-1252?Q?Creditnota_=96_maart?=", true},
		{"=?UTF-8?Q?Re?= =?UTF-8?Q?ch?= =?UTF-8?Q?nung?=", true}, // split words
		{"=?UTF-8?B?UmVjaG51bmc?= fehlt", true},                    // no padding
		{"Ihre Bestellung", false},
		{"=?UTF-8?Q?Rech_nung?=", false},
	};
	fake.add("%PDF-neutral", pdf_doc("Anbei."));
	for (const Case &c : cases) {
		Mail mail;
		mail.header("From", "billing@acme-gmbh.de")
			.header("Subject", c.subject)
			.part("application/pdf", "scan0001.pdf", true, "%PDF-neutral");
		Outcome o = analyse(config, mail);
		ASSERT_EQ(o.rc, 0) << o.err;
		EXPECT_EQ(o.is_invoice, c.invoice) << c.subject;
	}
}

TEST_F(InvoiceRecognition, ConfiguredKeywordsReplaceTheDefaults)
{
	config.set("tresor_invoice_keywords", "Abrechnung \"Nota de crédito\"");
	fake.add("%PDF-neutral", pdf_doc("Anbei."));
	struct Case {
		const char *subject;
		bool invoice;
	};
	const Case cases[] = {
		{"Ihre Abrechnung", true},
		{"NOTA DE CRÉDITO 17", true},
		// "e" + COMBINING ACUTE ACCENT: the same text after normalisation.
		{"nota de cre\xCC\x81" "dito", true},
		{"Ihre Rechnung", false},
		{"Nota de", false},
	};
	for (const Case &c : cases) {
		Mail mail;
		mail.header("From", "billing@acme-gmbh.de")
			.header("Subject", c.subject)
			.part("application/pdf", "scan.pdf", true, "%PDF-neutral");
		EXPECT_EQ(analyse(config, mail).is_invoice, c.invoice) << c.subject;
	}
}

TEST_F(InvoiceRecognition, OctetStreamWithPdfMagicIsAPdf)
{
	fake.add("%PDF-1.7 scanned", pdf_doc("Rechnung"));
	Mail mail;
	mail.header("From", "billing@acme-gmbh.de")
		.part("application/octet-stream", "scan", true, "%PDF-1.7 scanned");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_invoice);
	ASSERT_EQ(fake.calls.size(), 1u);
	EXPECT_EQ(fake.calls[0].first, Kind::pdf);
}

TEST_F(InvoiceRecognition, OtherAttachmentsAreNotDocuments)
{
	Mail mail;
	mail.header("From", "billing@acme-gmbh.de")
		.header("Subject", "Rechnung")
		.part("application/octet-stream", "rechnung.bin", true, "not a pdf")
		.part("image/png", "rechnung.png", true, "\x89PNG")
		.part("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
		      "Rechnung.docx", true, "PK");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_FALSE(o.is_invoice);
	EXPECT_TRUE(fake.calls.empty());
}

TEST_F(InvoiceRecognition, XmlRecognisedByNameAndType)
{
	Mail mail;
	mail.header("From", "billing@acme-gmbh.de")
		.header("Authentication-Results", kTrustedPass)
		.part("application/octet-stream", "RECHNUNG.XML", true, "<acme/>")
		.part("text/xml", nullptr, false, "<stranger/>");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_einvoice);
	EXPECT_EQ(o.vatid, "DE111222333") << "the first e-invoice counts";
	ASSERT_EQ(fake.calls.size(), 2u);
	EXPECT_EQ(fake.calls[0].first, Kind::xml);
	EXPECT_EQ(fake.calls[1].first, Kind::xml);
}

TEST_F(InvoiceRecognition, XmlThatIsNoInvoiceWithKeywordIsNoInvoice)
{
	Document order;
	order.ok = true;
	fake.add("<order/>", order);
	Mail mail;
	mail.header("From", "billing@acme-gmbh.de")
		.header("Subject", "Rechnung")
		.part("application/xml", "Rechnung.xml", true, "<order/>");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_FALSE(o.is_invoice) << "a keyword needs a PDF";
}

TEST_F(InvoiceDocumentReading, BrokenAttachmentIsLoggedAndTheKeywordStillCounts)
{
	Document broken;
	broken.warnings = {"timed out after 10000 ms"};
	fake.add("%PDF-broken", broken);
	Document warned = pdf_doc("");
	warned.warnings = {"text cut at 1048576 bytes"};
	fake.add("%PDF-long", warned);
	Mail mail;
	mail.header("From", "billing@acme-gmbh.de")
		.header("Subject", "Rechnung 17")
		.part("application/pdf", "rechnung.pdf", true, "%PDF-broken")
		.part("application/pdf", nullptr, true, "%PDF-long");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_invoice);
	EXPECT_EQ(config.log_at(2),
		  (std::vector<std::string>{
			  "tresor invoice: attachment 'rechnung.pdf' could not be analysed: "
			  "timed out after 10000 ms",
			  "tresor invoice: attachment #2 (application/pdf): text cut at 1048576 bytes",
		  }));
}

TEST_F(InvoiceDocumentReading, AtMostEightDocumentsAreAnalysed)
{
	fake.add("%PDF-x", pdf_doc("nothing"));
	Mail mail;
	mail.header("From", "billing@acme-gmbh.de");
	for (int i = 0; i < 10; i++)
		mail.part("application/pdf", "x.pdf", true, "%PDF-x");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(fake.calls.size(), 8u);
	EXPECT_EQ(config.log_at(2), (std::vector<std::string>{
					    "tresor invoice: 10 documents attached, only the first 8 "
					    "are analysed"}));
}

// ---- the supplier file through the C ABI

TEST_F(InvoiceSupplierFile, MissingSupplierFileIsLoggedAndEveryoneUnknown)
{
	config.set("tresor_suppliers", dir / "nonexistent.csv");
	Mail mail;
	einvoice_mail(mail, "billing@acme-gmbh.de", "<acme/>");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.verdict, "unknown-supplier");
	EXPECT_EQ(o.reason, "no supplier is known (the supplier file is missing, unreadable or empty)");
	EXPECT_EQ(config.log_at(3),
		  (std::vector<std::string>{"tresor_suppliers: " + (dir / "nonexistent.csv") +
					    ": No such file or directory; no supplier is known, "
					    "every invoice counts as from an unknown supplier"}));
}

TEST_F(InvoiceSupplierFile, SkippedSupplierLinesReachTheLogger)
{
	write_file(suppliers_path, std::string(kSuppliers) + "Broken,/Rechnungen,,,,\n");
	Mail mail;
	einvoice_mail(mail, "billing@acme-gmbh.de", "<acme/>");
	ASSERT_EQ(analyse(config, mail).verdict, "trusted");
	EXPECT_EQ(config.log_at(2),
		  (std::vector<std::string>{"tresor_suppliers: " + suppliers_path +
					    " line 5 skipped: invalid folder name '/Rechnungen' "
					    "(expected a non-empty name without control characters, "
					    "'..', empty levels or '/' at either end)"}));
}

TEST_F(InvoiceSupplierFile, SupplierFileChangesAreSeen)
{
	Mail first;
	einvoice_mail(first, "billing@acme-gmbh.de", "<acme-rebanked/>");
	EXPECT_EQ(analyse(config, first).verdict, "bank-account-changed");

	// The accountant confirmed the new account by phone and added it.
	write_file(suppliers_path,
		   "name,folder,domains,vat_ids,ibans\n"
		   "ACME GmbH,Rechnungen/ACME,acme-gmbh.de,DE111222333,"
		   "\"DE89370400440532013000 NL91ABNA0417164300\"\n");
	struct timespec times[2] = {{1800000000, 0}, {1800000000, 0}};
	ASSERT_EQ(::utimensat(AT_FDCWD, suppliers_path.c_str(), times, 0), 0);
	Mail second;
	einvoice_mail(second, "billing@acme-gmbh.de", "<acme-rebanked/>");
	EXPECT_EQ(analyse(config, second).verdict, "trusted");
}

// ---- the C ABI itself

TEST_F(InvoiceCApiResults, ResultsStayValidUntilTheMessageIsFreed)
{
	Mail mail;
	einvoice_mail(mail, "billing@acme-gmbh.de", "<acme/>");
	tresor_invoice_result first, second;
	char err[256];
	ASSERT_EQ(tresor_invoice_analyse(config.cfg, mail.msg, &first, err, sizeof(err)), 0);
	ASSERT_EQ(tresor_invoice_analyse(config.cfg, mail.msg, &second, err, sizeof(err)), 0);
	EXPECT_STREQ(first.verdict, "trusted");
	EXPECT_STREQ(first.supplier, "ACME GmbH");
	EXPECT_STREQ(first.iban, kAcmeIban);
	EXPECT_STREQ(second.verdict, "trusted");
}

TEST_F(InvoiceHelperErrors, MissingHelperIsAnErrorOnlyWhenItIsNeeded)
{
	Config plain;
	plain.set("tresor_extract", "/nonexistent/tresor-extract");
	Mail text_only;
	text_only.header("From", "billing@acme-gmbh.de").header("Subject", "Rechnung").body("Hi");
	Outcome o = analyse(plain, text_only);
	EXPECT_EQ(o.rc, 0) << o.err;
	EXPECT_FALSE(o.is_invoice);

	Mail with_pdf;
	with_pdf.header("From", "billing@acme-gmbh.de")
		.header("Subject", "Rechnung")
		.part("application/pdf", "r.pdf", true, "%PDF-1.4");
	o = analyse(plain, with_pdf);
	EXPECT_EQ(o.rc, -1);
	EXPECT_EQ(o.err, "tresor_extract: can't run /nonexistent/tresor-extract: "
			 "No such file or directory");
	EXPECT_EQ(o.verdict, "") << "the result is cleared";
	EXPECT_FALSE(o.is_invoice);
}

TEST(InvoiceCApi, NullArgumentsAreRefused)
{
	tresor_invoice_result r;
	char err[128];
	EXPECT_EQ(tresor_invoice_analyse(nullptr, nullptr, &r, err, sizeof(err)), -1);
	EXPECT_STREQ(err, "invalid arguments");
	EXPECT_EQ(tresor_invoice_config_set(nullptr, "tresor_extract", "/x", err, sizeof(err)), -1);
	// Must not crash.
	tresor_invoice_message_add_header(nullptr, "From", "x");
	tresor_invoice_message_add_part(nullptr, "application/pdf", nullptr, 1, "x", 1);
	tresor_invoice_config_free(nullptr);
	tresor_invoice_message_free(nullptr);
}

TEST(InvoiceCApi, IncompleteMessageIsNotAnalysed)
{
	Config config;
	Mail mail;
	tresor_invoice_message_add_header(mail.msg, "From", nullptr);
	Outcome o = analyse(config, mail);
	EXPECT_EQ(o.rc, -1);
	EXPECT_CONTAINS(o.err, "could not be stored completely");
}

TEST(InvoiceCApi, ContentTypeIsComparedInLowercase)
{
	Config config;
	FakeExtract fake;
	fake.add("%PDF-x", pdf_doc("Invoice"));
	inv::analyser_of(config.cfg).set_document_reader(fake.reader());
	Mail mail;
	mail.part("Application/PDF", nullptr, true, "%PDF-x");
	EXPECT_TRUE(analyse(config, mail).is_invoice);
}

// ---- settings

TEST(InvoiceSettings, Names)
{
	std::vector<std::string> names;
	for (const char *const *n = tresor_invoice_setting_names(); *n != nullptr; n++)
		names.push_back(*n);
	EXPECT_EQ(names, (std::vector<std::string>{"tresor_invoice_keywords", "tresor_suppliers",
						   "tresor_authserv_id", "tresor_extract",
						   "tresor_extract_timeout",
						   "tresor_extract_memory", "tresor_own_ibans",
						   "tresor_invoice_budget"}));
}

TEST(InvoiceSettings, Defaults)
{
	inv::Settings s;
	EXPECT_EQ(s.keywords,
		  (std::vector<std::string>{"Rechnung", "Gutschrift", "Invoice", "Credit note",
					    "Factuur", "Creditnota", "Facture", "Avoir", "Faktura",
					    "Fattura", "Factura"}));
	EXPECT_EQ(s.suppliers, "");
	EXPECT_TRUE(s.authserv_ids.empty());
	EXPECT_EQ(s.helper.path, TRESOR_EXTRACT_DEFAULT_PATH);
	EXPECT_EQ(s.helper.limits.timeout_ms, 10000u);
	EXPECT_EQ(s.helper.limits.cpu_seconds, 5u);
	EXPECT_EQ(s.helper.limits.memory_bytes, 256ull << 20);
	EXPECT_TRUE(s.own_ibans.empty());
	EXPECT_EQ(s.budget, std::chrono::seconds(15));
}

TEST(InvoiceSettings, ValidValues)
{
	inv::Settings s;
	s.set("tresor_invoice_keywords", "Rechnung \"Tax invoice\"  Beleg");
	EXPECT_EQ(s.keywords, (std::vector<std::string>{"Rechnung", "Tax invoice", "Beleg"}));
	s.set("tresor_invoice_keywords", "");
	EXPECT_TRUE(s.keywords.empty());
	s.set("tresor_suppliers", " /etc/dovecot/suppliers.csv ");
	EXPECT_EQ(s.suppliers, "/etc/dovecot/suppliers.csv");
	s.set("tresor_authserv_id", "mx1.example.net  mx2.example.net");
	EXPECT_EQ(s.authserv_ids,
		  (std::vector<std::string>{"mx1.example.net", "mx2.example.net"}));
	s.set("tresor_extract", "/opt/tresor/tresor-extract");
	EXPECT_EQ(s.helper.path, "/opt/tresor/tresor-extract");
	s.set("tresor_extract_timeout", "500ms");
	EXPECT_EQ(s.helper.limits.timeout_ms, 500u);
	EXPECT_EQ(s.helper.limits.cpu_seconds, 1u);
	s.set("tresor_extract_timeout", "30s");
	EXPECT_EQ(s.helper.limits.timeout_ms, 30000u);
	EXPECT_EQ(s.helper.limits.cpu_seconds, 5u);
	s.set("tresor_extract_timeout", "2 min");
	EXPECT_EQ(s.helper.limits.timeout_ms, 120000u);
	s.set("tresor_extract_timeout", "3");
	EXPECT_EQ(s.helper.limits.timeout_ms, 3000u);
	EXPECT_EQ(s.helper.limits.cpu_seconds, 3u);
	s.set("tresor_extract_memory", "512M");
	EXPECT_EQ(s.helper.limits.memory_bytes, 512ull << 20);
	s.set("tresor_extract_memory", "1G");
	EXPECT_EQ(s.helper.limits.memory_bytes, 1ull << 30);
	s.set("tresor_extract_memory", "65536 kB");
	EXPECT_EQ(s.helper.limits.memory_bytes, 64ull << 20);
	s.set("tresor_own_ibans", "de89 3704 0044 0532 0130 00  AT611904300234573201 "
				  "DE89370400440532013000");
	EXPECT_EQ(s.own_ibans, (std::vector<std::string>{"DE89370400440532013000",
							 "AT611904300234573201"}))
		<< "normalised, printed groups joined, repeats once";
	s.set("tresor_own_ibans", "");
	EXPECT_TRUE(s.own_ibans.empty());
	s.set("tresor_invoice_budget", "1min");
	EXPECT_EQ(s.budget, std::chrono::minutes(1));
	s.set("tresor_invoice_budget", "500ms");
	EXPECT_EQ(s.budget, std::chrono::milliseconds(500));
}

TEST(InvoiceSettings, BadValuesNameTheSetting)
{
	Config config;
	EXPECT_EQ(config.set_error("tresor_extract_timeout", "10 parsecs"),
		  "tresor_extract_timeout: invalid value '10 parsecs' (unknown unit 'parsecs'; "
		  "expected e.g. 10s or 500ms)");
	EXPECT_EQ(config.set_error("tresor_extract_timeout", "-1s"),
		  "tresor_extract_timeout: invalid value '-1s' (expected a number; "
		  "expected e.g. 10s or 500ms)");
	EXPECT_EQ(config.set_error("tresor_extract_timeout", "50ms"),
		  "tresor_extract_timeout: invalid value '50ms' (expected between 100ms and 1h)");
	EXPECT_EQ(config.set_error("tresor_extract_timeout", "99999999999999999999s"),
		  "tresor_extract_timeout: invalid value '99999999999999999999s' (number too "
		  "large; expected e.g. 10s or 500ms)");
	EXPECT_EQ(config.set_error("tresor_extract_memory", "256"),
		  "tresor_extract_memory: invalid value '256' (expected between 32M and 64G)");
	EXPECT_EQ(config.set_error("tresor_extract_memory", "lots"),
		  "tresor_extract_memory: invalid value 'lots' (expected a number; expected e.g. "
		  "256M or 1G)");
	EXPECT_EQ(config.set_error("tresor_extract_memory", "256Q"),
		  "tresor_extract_memory: invalid value '256Q' (unknown unit 'Q'; expected e.g. "
		  "256M or 1G)");
	EXPECT_EQ(config.set_error("tresor_extract", "tresor-extract"),
		  "tresor_extract: invalid value 'tresor-extract' (expected the absolute path of "
		  "the tresor-extract helper)");
	EXPECT_EQ(config.set_error("tresor_extract", ""),
		  "tresor_extract: invalid value '' (expected the absolute path of the "
		  "tresor-extract helper)");
	EXPECT_EQ(config.set_error("tresor_suppliers", "suppliers.csv"),
		  "tresor_suppliers: invalid value 'suppliers.csv' (expected an absolute path, or "
		  "nothing for no supplier file)");
	EXPECT_EQ(config.set_error("tresor_invoice_keywords", "Rechnung \"Credit note"),
		  "tresor_invoice_keywords: invalid value 'Rechnung \"Credit note' (unterminated "
		  "double quote)");
	EXPECT_EQ(config.set_error("tresor_invoice_keywords", "Rechnung \"\""),
		  "tresor_invoice_keywords: invalid value 'Rechnung \"\"' (empty keyword)");
	EXPECT_EQ(config.set_error("tresor_authserv_id", "mx.example.net;"),
		  "tresor_authserv_id: invalid value 'mx.example.net;' (expected authserv-ids "
		  "such as mx.example.com, separated by spaces)");
	EXPECT_EQ(config.set_error("tresor_own_ibans", "DE89370400440532013000 DE89370400440532013001"),
		  "tresor_own_ibans: invalid value 'DE89370400440532013000 DE89370400440532013001' "
		  "(invalid IBAN 'DE89370400440532013001': wrong format or check digits)");
	EXPECT_EQ(config.set_error("tresor_own_ibans", "12345"),
		  "tresor_own_ibans: invalid value '12345' (invalid IBAN '12345': wrong format or "
		  "check digits)");
	EXPECT_EQ(config.set_error("tresor_invoice_budget", "2h"),
		  "tresor_invoice_budget: invalid value '2h' (expected between 100ms and 1h)");
	EXPECT_EQ(config.set_error("tresor_invoice_budget", "soon"),
		  "tresor_invoice_budget: invalid value 'soon' (expected a number; expected e.g. "
		  "15s or 1min)");
	EXPECT_STARTS_WITH(config.set_error("tresor_invoice_kewords", "x"),
			   "unknown setting 'tresor_invoice_kewords' (known settings: "
			   "tresor_invoice_keywords, ");
	// A refused value leaves the setting as it was.
	EXPECT_EQ(inv::analyser_of(config.cfg).settings().helper.limits.timeout_ms, 10000u);
	EXPECT_EQ(inv::analyser_of(config.cfg).settings().helper.path,
		  TRESOR_EXTRACT_DEFAULT_PATH);
}

// ---- building blocks

TEST(InvoiceHeaderText, DecodeHeaderText)
{
	EXPECT_EQ(inv::decode_header_text("plain text"), "plain text");
	EXPECT_EQ(inv::decode_header_text("=?ISO-8859-1?Q?f=FCr_M=E4rz?="), "für März");
	EXPECT_EQ(inv::decode_header_text("=?utf-8?b?ZsO8cg==?= M\xC3\xA4rz"), "für März");
	EXPECT_EQ(inv::decode_header_text("=?UTF-8?Q?a?= =?UTF-8?Q?b?=  c"), "ab  c")
		<< "space between encoded words goes, space after them stays";
	// A UTF-8 character split over two B words.
	EXPECT_EQ(inv::decode_header_text("=?UTF-8?B?w6Q=?= =?UTF-8?B?w7Y=?="), "äö");
	EXPECT_EQ(inv::decode_header_text("=?UTF-8?B?ww==?= =?UTF-8?B?pA==?="), "ä")
		<< "the bytes of adjacent words are joined before decoding";
	EXPECT_EQ(inv::decode_header_text("=?UTF-8?Q?=C3?= =?UTF-8?Q?=A4?="), "ä");
	EXPECT_EQ(inv::decode_header_text("=?UTF-8*de?Q?Gr=C3=BC=C3=9Fe?="), "Grüße");
	EXPECT_EQ(inv::decode_header_text("=?windows-1252?Q?=80_10?="), "€ 10");
	EXPECT_EQ(inv::decode_header_text("=?KOI8-R?B?8NLJ18XU?="), "Привет");
	EXPECT_EQ(inv::decode_header_text("=?x-unknown?Q?abc?="), "abc");
	EXPECT_EQ(inv::decode_header_text("=?UTF-8?X?abc?="), "=?UTF-8?X?abc?=");
	EXPECT_EQ(inv::decode_header_text("=?UTF-8?Q?not closed"), "=?UTF-8?Q?not closed");
	EXPECT_EQ(inv::decode_header_text("Gr\xFC\xDF" "e"), "Grüße") << "raw Latin-1";
	EXPECT_EQ(inv::decode_header_text(""), "");
}

TEST(InvoiceHeaderText, ParseFrom)
{
	auto check = [](const char *value, const char *name, const char *address) {
		inv::FromAddress f = inv::parse_from(value);
		EXPECT_EQ(f.display_name, name) << value;
		EXPECT_EQ(f.address, address) << value;
	};
	check("ACME GmbH <billing@acme.de>", "ACME GmbH", "billing@acme.de");
	check("\"ACME, GmbH \\\"Nord\\\"\" <billing@acme.de>", "ACME, GmbH \"Nord\"",
	      "billing@acme.de");
	check("billing@acme.de", "", "billing@acme.de");
	check("billing@acme.de (ACME GmbH)", "ACME GmbH", "billing@acme.de");
	check("<billing@acme.de>", "", "billing@acme.de");
	check("=?UTF-8?Q?M=C3=BCller?= <m@x.de>", "Müller", "m@x.de");
	check("A <a@x.de>, B <b@y.de>", "A", "a@x.de");
	check("a@x.de, b@y.de", "", "a@x.de");
	check("Rechnungen: billing@acme.de;", "", "billing@acme.de");
	check("<@relay.example:billing@acme.de>", "", "billing@acme.de");
	check("", "", "");
}

// The IBANs find_ibans() sees in text.
std::vector<std::string> ibans(const std::string &text)
{
	return inv::find_ibans(text);
}
using Ibans = std::vector<std::string>;

TEST(InvoiceIbanSearch, FindIbansInEveryNotation)
{
	const Ibans de = {"DE89370400440532013000"};
	EXPECT_EQ(ibans("IBAN: DE89 3704 0044 0532 0130 00, BIC: COBADEFFXXX"), de);
	EXPECT_EQ(ibans("IBAN DE89370400440532013000."), de) << "compact";
	EXPECT_EQ(ibans("DE89370400440532013000"), de) << "without a label";
	EXPECT_EQ(ibans("iban: de89 3704 0044 0532 0130 00"), de) << "lower case";
	EXPECT_EQ(ibans("de89370400440532013000"), de) << "lower case, compact";
	EXPECT_EQ(ibans("De89 3704 0044 0532 0130 00"), de) << "mixed case";
	EXPECT_EQ(ibans("DE89-3704-0044-0532-0130-00"), de) << "dashes";
	EXPECT_EQ(ibans("de89-3704-0044-0532-0130-00"), de) << "dashes, lower case";
	EXPECT_EQ(ibans("DE 89 3704 0044 0532 0130 00"), de) << "space after the country code";
	EXPECT_EQ(ibans("DE 89370400440532013000"), de);
	EXPECT_EQ(ibans("DE89 370 400 440 532 013 000"), de) << "groups of three";
	EXPECT_EQ(ibans("DE89  3704  0044  0532  0130  00"), de) << "double spaces (PDF layout)";
	EXPECT_EQ(ibans("IBAN DE89\xC2\xA0" "3704\xC2\xA0" "0044\xC2\xA0" "0532\xC2\xA0" "0130\xC2\xA0" "00"),
		  de)
		<< "no-break spaces";
	EXPECT_EQ(ibans("DE89\xE2\x80\xAF" "3704\xE2\x80\xAF" "0044\xE2\x80\xAF" "0532\xE2\x80\xAF"
			"0130\xE2\x80\xAF" "00"),
		  de)
		<< "narrow no-break spaces";
	EXPECT_EQ(ibans("DE89\xE2\x80\x91" "3704\xE2\x80\x91" "0044\xE2\x80\x91" "0532\xE2\x80\x91"
			"0130\xE2\x80\x91" "00"),
		  de)
		<< "non-breaking hyphens";
	EXPECT_EQ(ibans("DE89 37\xC2\xAD" "04 0044 0532 0130 00"), de) << "soft hyphen";
	EXPECT_EQ(ibans("DE89 3704\xE2\x80\x8B" "0044 0532 0130 00"), de) << "zero-width space";
	EXPECT_EQ(ibans("\xEF\xBC\xA4\xEF\xBC\xA5" "89 3704 0044 0532 0130 00"), de)
		<< "full-width letters";
	EXPECT_EQ(ibans("IBAN:DE89 3704 0044 0532 0130 00"), de);
	// What a reader still sees as the account: a label or a word glued on.
	EXPECT_EQ(ibans("IBANDE89370400440532013000"), de) << "label glued on";
	EXPECT_EQ(ibans("KontoDE89 3704 0044 0532 0130 00"), de);
	EXPECT_EQ(ibans("DE89370400440532013000Bitte"), de) << "the next word is cut off";
	EXPECT_EQ(ibans("DE89 3704 0044 0532 0130 00BIC COBADEFFXXX"), de);
	EXPECT_EQ(ibans("MT84MALT011000012345MTLCAST001S"), Ibans{"MT84MALT011000012345MTLCAST001S"});
	EXPECT_EQ(ibans("(DE89 3704 0044 0532 0130 00)"), de);
	EXPECT_EQ(ibans("\xE2\x80\x9E" "DE89 3704 0044 0532 0130 00\xE2\x80\x9C"), de)
		<< "German quotes";
	EXPECT_EQ(ibans("DE89 3704\n0044 0532 0130 00"), de) << "wrapped once";
	EXPECT_EQ(ibans("nl91 abna 0417 1643 00"), Ibans{"NL91ABNA0417164300"})
		<< "letters in the account part";
	EXPECT_EQ(ibans("GB82-WEST-1234-5698-7654-32"), Ibans{"GB82WEST12345698765432"});
	EXPECT_EQ(ibans("FR14 2004 1010 0505 0001 3M02 606"), Ibans{"FR1420041010050500013M02606"});
	EXPECT_EQ(ibans("Konto: at61 1904 3002 3457 3201"), Ibans{"AT611904300234573201"});
}

TEST(InvoiceIbanSearch, FindIbansFindsEveryOneInOrder)
{
	EXPECT_EQ(ibans("Bisher: DE89 3704 0044 0532 0130 00\nNEU ab sofort: IBAN "
			"de02-1203-0000-0000-2020-51"),
		  (Ibans{"DE89370400440532013000", "DE02120300000000202051"}));
	EXPECT_EQ(ibans("DE89370400440532013000 DE89 3704 0044 0532 0130 00"),
		  Ibans{"DE89370400440532013000"})
		<< "repeats once";
	EXPECT_EQ(ibans("first DE02 1203 0000 0000 2020 52 then AT61 1904 3002 3457 3201"),
		  Ibans{"AT611904300234573201"})
		<< "a wrong check digit is no IBAN in text";
	EXPECT_EQ(ibans("DE89370400440532013000,NL91ABNA0417164300"),
		  (Ibans{"DE89370400440532013000", "NL91ABNA0417164300"}));
}

TEST(InvoiceIbanSearch, FindIbansRefusesWhatIsNoIban)
{
	EXPECT_EQ(ibans(""), Ibans{});
	EXPECT_EQ(ibans("123DE89370400440532013000"), Ibans{}) << "a number runs on before it";
	EXPECT_EQ(ibans("DE893704004405320130001"), Ibans{}) << "one digit too many";
	EXPECT_EQ(ibans("MT84MALT011000012345MTLCAST001SX"), Ibans{})
		<< "ends in a letter that runs on";
	EXPECT_EQ(ibans("DE89 3704 0044 0532 0130 0012"), Ibans{}) << "length ends inside a group";
	EXPECT_EQ(ibans("DE89 3704 0044 0532 0130 0"), Ibans{}) << "too short";
	EXPECT_EQ(ibans("DE89 3704 0044 0532 0130 01"), Ibans{}) << "check digits";
	EXPECT_EQ(ibans("Rechnung DE12 vom 2024"), Ibans{});
	EXPECT_EQ(ibans("Kundennummer 8937040044053201300012345678"), Ibans{})
		<< "a long digit string";
	EXPECT_EQ(ibans("Referenz 1234567890123456789012345678901234"), Ibans{});
	EXPECT_EQ(ibans("USt-IdNr. DE 123 456 789, Steuernr. 201/113/40209"), Ibans{})
		<< "a VAT ID";
	EXPECT_EQ(ibans("QQ89370400440532013000"), Ibans{}) << "no such country";
	// Valid mod 97 with a neighbour's check digits (02 and 99 differ by 97).
	EXPECT_EQ(ibans("DE99120300000000202051"), Ibans{}) << "check digits 99";
	EXPECT_EQ(ibans("DE89 3704 0044 0532 0130 00 COBADEFFXXX"), Ibans{"DE89370400440532013000"})
		<< "a following BIC is not glued on";
	EXPECT_EQ(ibans("DE89 3704 0044 0532 0130 00 12 Stück"), Ibans{"DE89370400440532013000"})
		<< "a following number in its own group is not glued on";
	EXPECT_EQ(ibans("DE89 3704 0044 0532 0130 00\n\n\n1234"), Ibans{"DE89370400440532013000"});
}

TEST(InvoiceHtmlToText, HtmlToText)
{
	EXPECT_EQ(inv::html_to_text("<p>IBAN&nbsp;DE89&#160;3704&#xA0;0044</p>"),
		  "\nIBAN\xC2\xA0" "DE89\xC2\xA0" "3704\xC2\xA0" "0044\n");
	EXPECT_EQ(inv::html_to_text("DE89<b>3704</b><span style=\"x\">0044</span>"), "DE8937040044")
		<< "inline tags vanish";
	EXPECT_EQ(inv::html_to_text("<td>DE89</td><td>12</td>"), "\nDE89\n\n12\n")
		<< "cells stay apart";
	EXPECT_EQ(inv::html_to_text("a<br/>b<BR>c"), "a\nb\nc");
	EXPECT_EQ(inv::html_to_text("a<!-- DE89 --><script>var x='<p>';</script><style>p{}</style>b"),
		  "ab");
	EXPECT_EQ(inv::html_to_text("&lt;&amp;&gt;&quot;&unknown;&#0;&#x110000;"),
		  "<&>\"&unknown;\xEF\xBF\xBD\xEF\xBF\xBD");
	EXPECT_EQ(inv::html_to_text("Stra&szlig;e &uuml;"), "Stra\xC3\x9F" "e \xC3\xBC");
	EXPECT_EQ(inv::html_to_text("a < b"), "a < b") << "an unclosed '<'";
	EXPECT_EQ(ibans(inv::html_to_text("<p>IBAN:&nbsp;de89&nbsp;3704&nbsp;0044&nbsp;0532&nbsp;"
					  "0130&nbsp;00</p>")),
		  Ibans{"DE89370400440532013000"});
}

TEST(InvoiceEditDistance, EditDistance)
{
	EXPECT_EQ(inv::edit_distance(U"acme-gmbh", U"acme-gmbb"), 1u);
	EXPECT_EQ(inv::edit_distance(U"acme", U"amce"), 1u) << "a swap is one edit";
	EXPECT_EQ(inv::edit_distance(U"acme", U"acme"), 0u);
	EXPECT_EQ(inv::edit_distance(U"acme", U"acmee"), 1u);
	EXPECT_EQ(inv::edit_distance(U"acme", U"cme"), 1u);
	EXPECT_EQ(inv::edit_distance(U"acme", U""), 4u);
	EXPECT_EQ(inv::edit_distance(U"lieferant", U"lieferamt"), 1u);
	EXPECT_EQ(inv::edit_distance(U"kitten", U"sitting"), 3u);
	EXPECT_EQ(inv::edit_distance(U"\u0430cme", U"acme"), 1u) << "code points, not bytes";
}

TEST(InvoiceKeywordMatching, KeywordsAreCaseFolded)
{
	const std::vector<std::string> keywords = {"Rechnung", "Straße", "Credit note"};
	EXPECT_TRUE(inv::contains_keyword("EINGANGSRECHNUNG", keywords));
	EXPECT_TRUE(inv::contains_keyword("Ihre STRASSE", keywords));
	EXPECT_TRUE(inv::contains_keyword("CREDIT NOTE 17", keywords));
	EXPECT_TRUE(inv::contains_keyword("Ｒｅｃｈｎｕｎｇ", keywords)) << "full-width letters";
	EXPECT_TRUE(inv::contains_keyword("Rech\xC2\xADnung", keywords)) << "soft hyphen";
	EXPECT_TRUE(inv::contains_keyword("Credit  note", keywords)) << "words of a phrase";
	EXPECT_FALSE(inv::contains_keyword("Credit card note", keywords));
	EXPECT_FALSE(inv::contains_keyword("Rechnen", keywords));
	EXPECT_FALSE(inv::contains_keyword("Rechnung", {}));
}

// Words that make a PDF an invoice with the default keywords, and words
// that don't (the bug: substrings, so Berechnung and savoir counted).
TEST(InvoiceKeywordMatching, DefaultKeywordsMatchWordsAndGermanCompounds)
{
	const std::vector<std::string> keywords = inv::Settings::default_keywords();
	const char *const invoices[] = {
		"Rechnung", "Rechnungen", "RECHNUNG", "Ihre Rechnung Nr. 17", "Rechnung:",
		"Rechnungsnummer", "Rechnungsdatum", "Rechnungs-Nr.", "Rechnungsbetrag",
		"Eingangsrechnung", "Stromrechnung", "Schlussrechnung", "Abschlagsrechnung",
		"Teilrechnung", "Sammelrechnungen", "Handwerkerrechnung", "Telefonrechnung",
		"Strom-Rechnung", "Zahnarztrechnung", "Proformarechnung", "Rechnung_2024-17.pdf",
		"RE2024Rechnung", "Gutschrift", "Gutschriften", "Zinsgutschrift",
		"Gutschriftsnummer", "Invoice", "invoices", "INVOICE 2024-17", "Invoice_17.pdf",
		"AcmeInvoice.pdf", "invoiced", "Credit note", "credit notes", "Factuur", "facturen",
		"Creditnota", "creditnota's", "Facture", "factures", "Avoir", "avoirs", "Faktura",
		"faktury", "fakturor", "Fattura", "fatture", "Factura", "facturas",
	};
	for (const char *word : invoices)
		EXPECT_TRUE(inv::contains_keyword(word, keywords)) << word;
	const char *const no_invoices[] = {
		"Berechnung", "Berechnungen", "Neuberechnung", "Preisberechnung", "Umrechnung",
		"Währungsumrechnung", "Verrechnung", "Kostenverrechnung", "Anrechnung",
		"Steueranrechnung", "Zurechnung", "Hochrechnung", "Hochrechnungen",
		"Nachrechnung", "Aufrechnung", "Gegenrechnung", "Berechnungsgrundlage",
		"rechnen", "Rechner", "Abrechner", "savoir", "Savoir-faire", "manufactura",
		"Manufacturer", "manufacturing", "invoiceless", "voice", "Factual", "Fakt",
		"Bestellbestätigung", "Lieferschein", "Creditcard",
	};
	for (const char *word : no_invoices)
		EXPECT_FALSE(inv::contains_keyword(word, keywords)) << word;
}

// ---- the real helper on real e-invoices

namespace {

// The helper the build made (testutil::extract_helper_path); "" when that
// isn't an executable file.
std::string helper_path()
{
	std::string path = testutil::extract_helper_path();
	if (path.empty() || ::access(path.c_str(), X_OK) != 0)
		return "";
	return path;
}

using testutil::einvoice_dir;

// A one-page PDF showing the lines in Helvetica (ASCII only).
std::string make_pdf(const std::vector<std::string> &lines)
{
	std::string content = "BT /F1 12 Tf 14 TL 72 720 Td";
	for (const std::string &line : lines) {
		std::string escaped;
		for (char c : line) {
			if (c == '(' || c == ')' || c == '\\')
				escaped += '\\';
			escaped += c;
		}
		content += " (" + escaped + ") Tj T*";
	}
	content += " ET";
	const std::vector<std::string> objects = {
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
		"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		"<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content +
			"\nendstream",
	};
	return testutil::pdf_from_objects(objects, "%PDF-1.4\n");
}

class InvoiceWithRealHelper : public testing::Test {
protected:
	void SetUp() override
	{
		helper = helper_path();
		if (helper.empty())
			GTEST_SKIP() << "no executable tresor-extract helper (set TRESOR_EXTRACT or "
					"build with -DTRESOR_EXTRACT_BUILD_PATH); the tests on real "
					"e-invoices need it";
		ASSERT_TRUE(std::filesystem::is_directory(einvoice_dir())) << einvoice_dir();
		write_file(suppliers_path,
			   "name,folder,domains,vat_ids,ibans\n"
			   "Lieferant GmbH,Rechnungen/Lieferant,lieferant.de,DE123456789,"
			   "\"DE02 1203 0000 0000 2020 51\"\n");
		config.set("tresor_extract", helper);
		config.set("tresor_suppliers", suppliers_path);
		config.set("tresor_authserv_id", "mx.example.net");
	}

	Outcome analyse_file(const std::string &name, const char *content_type)
	{
		Mail mail;
		mail.header("Authentication-Results",
			    "mx.example.net; dkim=pass header.d=lieferant.de; "
			    "dmarc=pass header.from=lieferant.de")
			.header("From", "Lieferant GmbH <rechnung@lieferant.de>")
			.header("Subject", "Ihre Bestellung 471102")
			.body("Guten Tag,\nanbei.\n")
			.part(content_type, name.c_str(), true,
			      testutil::read_file(einvoice_dir() / name));
		return analyse(config, mail);
	}

	std::string helper;
	TempDir dir;
	const std::string suppliers_path = dir / "suppliers.csv";
	Config config;
};

} // namespace

TEST_F(InvoiceWithRealHelper, XRechnungUblIsTrusted)
{
	Outcome o = analyse_file("zugferd-corpus--XML-Rechnung_UBL_XRECHNUNG_Einfach.ubl.xml",
				 "application/xml");
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_invoice);
	EXPECT_TRUE(o.is_einvoice);
	EXPECT_EQ(o.format, "xrechnung-ubl");
	EXPECT_EQ(o.number, "471102");
	EXPECT_EQ(o.date, "2024-11-15");
	EXPECT_EQ(o.total, "529.87");
	EXPECT_EQ(o.currency, "EUR");
	EXPECT_EQ(o.seller, "Lieferant GmbH");
	EXPECT_EQ(o.vatid, "DE123456789");
	EXPECT_EQ(o.iban, "DE02120300000000202051");
	EXPECT_EQ(o.supplier, "Lieferant GmbH");
	EXPECT_EQ(o.folder, "Rechnungen/Lieferant");
	EXPECT_EQ(o.verdict, "trusted") << o.reason;
	EXPECT_TRUE(config.log_at(2).empty());
}

TEST_F(InvoiceWithRealHelper, XRechnungCii)
{
	Outcome o = analyse_file("zugferd-corpus--XML-Rechnung_CII_XRECHNUNG_Einfach.cii.xml",
				 "text/xml");
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_einvoice);
	EXPECT_EQ(o.format, "xrechnung-cii");
	EXPECT_EQ(o.vatid, "DE123456789");
	EXPECT_EQ(o.iban, "DE02120300000000202051");
	EXPECT_EQ(o.verdict, "trusted") << o.reason;
}

TEST_F(InvoiceWithRealHelper, FacturXPdf)
{
	Outcome o = analyse_file("zugferd-corpus--XML-Rechnung_FX_XRECHNUNG_Einfach.pdf",
				 "application/pdf");
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_einvoice);
	EXPECT_EQ(o.format, "factur-x");
	EXPECT_EQ(o.number, "471102");
	EXPECT_EQ(o.iban, "DE02120300000000202051");
	EXPECT_EQ(o.verdict, "trusted") << o.reason;
}

TEST_F(InvoiceWithRealHelper, ZugferdOnePdfWithAnotherAccount)
{
	Outcome o = analyse_file(
		"zugferd-corpus--ZUGFeRDv1_correct_Intarsys_ZUGFeRD_1p0_BASIC_Einfach.pdf",
		"application/pdf");
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_einvoice);
	EXPECT_EQ(o.format, "zugferd-1");
	EXPECT_EQ(o.iban, "DE08700901001234567890");
	EXPECT_EQ(o.verdict, "bank-account-changed");
	EXPECT_EQ(o.reason,
		  "IBAN DE08700901001234567890 in the e-invoice XML in PDF "
		  "'zugferd-corpus--ZUGFeRDv1_correct_Intarsys_ZUGFeRD_1p0_BASIC_Einfach.pdf' and the PDF "
		  "'zugferd-corpus--ZUGFeRDv1_correct_Intarsys_ZUGFeRD_1p0_BASIC_Einfach.pdf' is not one "
		  "of Lieferant GmbH's known accounts");
}

TEST_F(InvoiceWithRealHelper, BankAccountChangedOnTheRealXRechnung)
{
	write_file(suppliers_path, "name,folder,domains,vat_ids,ibans\n"
				   "Lieferant GmbH,Rechnungen/Lieferant,lieferant.de,DE123456789,"
				   "DE89370400440532013000\n");
	Outcome o = analyse_file("xrechnung-testsuite--01.01a-INVOICE_ubl.xml", "application/xml");
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.format, "xrechnung-ubl");
	EXPECT_EQ(o.verdict, "bank-account-changed");
	EXPECT_EQ(o.reason,
		  "IBAN DE79000000001234567890 in the e-invoice XML "
		  "'xrechnung-testsuite--01.01a-INVOICE_ubl.xml' is not one of Lieferant GmbH's known "
		  "accounts");
}

TEST_F(InvoiceWithRealHelper, PlainPdfKeywordOnlyInFilename)
{
	const std::string pdf = make_pdf({"Sehr geehrte Damen und Herren,",
					  "anbei die Unterlagen zum Projekt."});
	Mail mail;
	mail.header("From", "rechnung@lieferant.de")
		.header("Subject", "Unterlagen")
		.part("application/pdf", "Rechnung-17.pdf", true, pdf);
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_invoice);
	EXPECT_FALSE(o.is_einvoice);
	EXPECT_EQ(o.format, "pdf");
	EXPECT_EQ(o.supplier, "Lieferant GmbH");

	Mail other;
	other.header("From", "rechnung@lieferant.de")
		.header("Subject", "Unterlagen")
		.part("application/pdf", "Projekt.pdf", true, pdf);
	o = analyse(config, other);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_FALSE(o.is_invoice) << "no keyword anywhere";
	EXPECT_TRUE(config.log_at(2).empty());
}

TEST_F(InvoiceWithRealHelper, PlainPdfKeywordAndIbanInText)
{
	const std::string pdf = make_pdf({"INVOICE 2024-17", "Total EUR 119.00",
					  "IBAN NL91 ABNA 0417 1643 00"});
	Mail mail;
	mail.header("Authentication-Results", "mx.example.net; dmarc=pass header.from=lieferant.de")
		.header("From", "rechnung@lieferant.de")
		.header("Subject", "Documents")
		.part("application/pdf", "doc.pdf", true, pdf);
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_invoice);
	EXPECT_EQ(o.format, "pdf");
	EXPECT_EQ(o.iban, "NL91ABNA0417164300");
	EXPECT_EQ(o.verdict, "bank-account-changed");
}

TEST_F(InvoiceWithRealHelper, BrokenPdfIsLoggedNotFatal)
{
	Mail mail;
	mail.header("From", "rechnung@lieferant.de")
		.header("Subject", "Rechnung 17")
		.part("application/pdf", "rechnung.pdf", true, "%PDF-1.4\nthis is no PDF\n");
	Outcome o = analyse(config, mail);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_TRUE(o.is_invoice) << "the keyword in the Subject is enough";
	ASSERT_FALSE(config.log_at(2).empty());
	EXPECT_STARTS_WITH(config.log_at(2)[0], "tresor invoice: attachment 'rechnung.pdf'");
}
