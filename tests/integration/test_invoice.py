"""The Sieve extension vnd.tresor.invoice (issue 3), with the built plugin
lib90_sieve_tresor_plugin.so, the tresor-extract helper and the tresor
archive plugin in a real Dovecot:

- sieve-test over every e-invoice in ../shared/testdata/einvoice, wrapped
  into a mail: detected, right format, and number, date, total, currency,
  seller, VAT ID and IBAN equal to the values in the file (read by hand:
  the XML files, and pdfdetach -saveall for the PDFs);
- negatives: a newsletter saying "Rechnung" without attachment, a PDF that
  is no invoice, a truncated PDF, XML bombs and external entities, and
  Dovecot's malformed MIME messages (none may fail the script);
- the language: ${invoice.*} read-only and known names only, :einvoice,
  one analysis per message, a bad setting fails the script naming it;
- verdicts through real LMTP delivery running the documented default
  script verbatim: a trusted invoice lands in Rechnungen/<folder> and is
  journaled; forged Authentication-Results, a look-alike domain, a
  display-name spoof, a changed IBAN and an unknown supplier land in
  Rechnungen/Pruefen with $Pruefen. The delivered bytes are the sent ones.
"""

import csv
import decimal
import io
import os
import re
import tempfile
import time
import unittest

from harness import (SRCDIR, TRESOR_DOVEADM_PLUGIN, TRESOR_MAIL_PLUGIN,
                     DovecotTestCase, HarnessError, chown_mail_user, crlf,
                     sha256_hex, skip_reason)
from sieve_helpers import (BILLION_LAUGHS, DEBUG_SCRIPT, DEFAULT_SCRIPT,
                           EINVOICE_DIR, FIELDS, MALFORMED_DIR, RFC_DIR, SieveEnv,
                           einvoice_mail, make_mail, parse_debug,
                           performed_folders, pdf, raw_mail, read_einvoice,
                           ubl_bomb, ubl_xxe)
from test_seal import run_verify_txt

# Known suppliers. Multiple values are space-separated, so VAT IDs and
# IBANs are written without spaces here.
SUPPLIERS = """\
name,folder,domains,addresses,vat_ids,ibans
Lieferant GmbH,Lieferant,lieferant.de,rechnung@lieferant.de,DE123456789,DE02120300000000202051 DE08700901001234567890 DE79000000001234567890
Stadtwerke Kühlungsborn,Stadtwerke,stadtwerke-kuehlungsborn.de,,DE811111110,DE44500105175407324931
"""

AUTHSERV = "mx.example.com"
AR_PASS = ("mx.example.com; dkim=pass header.d=lieferant.de header.s=s1; "
           "spf=pass smtp.mailfrom=lieferant.de; "
           "dmarc=pass (p=reject) header.from=lieferant.de")
LIEFERANT = ("Lieferant GmbH", "rechnung@lieferant.de")
OTHER_IBAN = "DE89370400440532013000"  # valid, but nobody's in SUPPLIERS
LIEFERANT_IBAN = "DE02120300000000202051"
# The receiving business's own account (tresor_own_ibans): what a direct
# debit draws on.
OWN_IBAN = "DE77100100100123456789"

# What the files say (read by hand). format: the syntax found - XRechnung
# UBL / CII as attached XML, ZUGFeRD 1 or Factur-X (= ZUGFeRD 2, also with
# the XRECHNUNG profile) embedded in a PDF. seller is BT-27 (the legal
# name, UBL PartyLegalEntity/RegistrationName, CII SellerTradeParty/Name),
# vatid BT-31 normalised, iban "" where the file has none.
EXPECTED = {
    "xrechnung-testsuite--01.01a-INVOICE_ubl.xml": dict(
        format="xrechnung-ubl", number="123456XX", date="2016-04-04",
        total="336.9", currency="EUR", seller="[Seller name]",
        vatid="DE123456789", iban="DE79000000001234567890"),
    "xrechnung-testsuite--01.01a-INVOICE_uncefact.xml": dict(
        format="xrechnung-cii", number="123456XX", date="2016-04-04",
        total="336.9", currency="EUR", seller="[Seller name]",
        vatid="DE123456789", iban="DE79000000001234567890"),
    "zugferd-corpus--XML-Rechnung_CII_EN16931_Einfach.cii.xml": dict(
        format="xrechnung-cii", number="471102", date="2018-03-05",
        total="529.87", currency="EUR", seller="Lieferant GmbH",
        vatid="DE123456789", iban=""),
    "zugferd-corpus--XML-Rechnung_CII_XRECHNUNG_Einfach.cii.xml": dict(
        format="xrechnung-cii", number="471102", date="2024-11-15",
        total="529.87", currency="EUR", seller="Lieferant GmbH",
        vatid="DE123456789", iban="DE02120300000000202051"),
    "zugferd-corpus--XML-Rechnung_UBL_EN16931_Einfach.ubl.xml": dict(
        format="xrechnung-ubl", number="471102", date="2018-03-05",
        total="529.87", currency="EUR", seller="Lieferant GmbH",
        vatid="DE123456789", iban=""),
    "zugferd-corpus--XML-Rechnung_UBL_XRECHNUNG_Einfach.ubl.xml": dict(
        format="xrechnung-ubl", number="471102", date="2024-11-15",
        total="529.87", currency="EUR", seller="Lieferant GmbH",
        vatid="DE123456789", iban="DE02120300000000202051"),
    # factur-x.xml
    "zugferd-corpus--XML-Rechnung_FX_EN16931_Einfach.pdf": dict(
        format="factur-x", number="471102", date="2018-03-05",
        total="529.87", currency="EUR", seller="Lieferant GmbH",
        vatid="DE123456789", iban=""),
    # xrechnung.xml (CII, XRechnung profile, in a PDF/A-3)
    "zugferd-corpus--XML-Rechnung_FX_XRECHNUNG_Einfach.pdf": dict(
        format="factur-x", number="471102", date="2018-03-05",
        total="529.87", currency="EUR", seller="Lieferant GmbH",
        vatid="DE123456789", iban="DE02120300000000202051"),
    # ZUGFeRD-invoice.xml (urn:ferd:CrossIndustryDocument:invoice:1p0)
    "zugferd-corpus--ZUGFeRDv1_correct_Intarsys_ZUGFeRD_1p0_BASIC_Einfach.pdf": dict(
        format="zugferd-1", number="471102", date="2013-03-05",
        total="235.62", currency="EUR", seller="Lieferant GmbH",
        vatid="DE123456789", iban="DE08700901001234567890"),
    # zugferd-invoice.xml (ZUGFeRD 2.0 BASIC)
    "zugferd-corpus--ZUGFeRDv2_correct_intarsys_BASIC_zugferd_2p0_BASIC_Einfach.pdf": dict(
        format="factur-x", number="471102", date="2018-03-05",
        total="235.62", currency="EUR", seller="Lieferant GmbH",
        vatid="DE123456789", iban=""),
    # zugferd-invoice.xml (ZUGFeRD 2.0 MINIMUM)
    "zugferd-corpus--ZUGFeRDv2_correct_intarsys_MINIMUM_zugferd_2p0_MINIMUM.pdf": dict(
        format="factur-x", number="471102", date="2018-03-05",
        total="235.62", currency="EUR", seller="Lieferant GmbH",
        vatid="DE123456789", iban=""),
}


def ubl_variant(vatid=None, iban=None, seller=None):
    """The UBL XRechnung test file with another seller VAT ID, IBAN or
    name (the same invoice otherwise)."""
    data = read_einvoice(
        "zugferd-corpus--XML-Rechnung_UBL_XRECHNUNG_Einfach.ubl.xml")
    if vatid:
        data = data.replace(b"<cbc:CompanyID>DE123456789</cbc:CompanyID>",
                            b"<cbc:CompanyID>%s</cbc:CompanyID>"
                            % vatid.encode())
    if iban:
        data = data.replace(b"DE02120300000000202051", iban.encode())
    if seller:
        data = data.replace(b"Lieferant GmbH", seller.encode())
    return data


def ubl_direct_debit(debtor_iban=OWN_IBAN):
    """The UBL XRechnung test file paid by SEPA direct debit (UNTDID 4461
    code 59) from the buyer's account, with no payee account."""
    data = read_einvoice(
        "zugferd-corpus--XML-Rechnung_UBL_XRECHNUNG_Einfach.ubl.xml")
    means = (b"<cac:PaymentMeans>"
             b"<cbc:PaymentMeansCode>59</cbc:PaymentMeansCode>"
             b"<cac:PaymentMandate><cbc:ID>MANDAT-0815</cbc:ID>"
             b"<cac:PayerFinancialAccount><cbc:ID>%s</cbc:ID>"
             b"</cac:PayerFinancialAccount></cac:PaymentMandate>"
             b"</cac:PaymentMeans>" % debtor_iban.encode())
    out, n = re.subn(rb"<cac:PaymentMeans>.*?</cac:PaymentMeans>",
                     lambda _: means, data, flags=re.S)
    assert n == 1, "the test file's PaymentMeans changed"
    return out


def xml_att(data, name="Rechnung_471102.xml"):
    return (data, name, "application/xml")


def pdf_att(data, name="Rechnung_471102.pdf"):
    return (data, name, "application/pdf")


FX_XRECHNUNG = "zugferd-corpus--XML-Rechnung_FX_XRECHNUNG_Einfach.pdf"


class InvoiceFixture(DovecotTestCase):
    """One Dovecot with LMTP + Sieve (sieve_tresor plugin) + the tresor
    archive plugin, shared by the class; sieve-test uses its config."""

    env = None

    @classmethod
    def dovecot_options(cls):
        plugin = {"tresor_archive": "Rechnungen/*",
                  "tresor_own_ibans": OWN_IBAN}
        plugin.update(cls.env.plugin_settings())
        return {"plugin": plugin, "extra_conf": SieveEnv.lmtp_conf()}

    @classmethod
    def setUpClass(cls):
        cls.env = None
        env_error = None
        if skip_reason() is None:
            try:
                cls.env = SieveEnv(suppliers=SUPPLIERS)
                cls.prepare_env()
            except HarnessError as e:
                env_error = str(e)
        if env_error is not None:
            cls.dc = None
            cls._skip = None
            cls._setup_error = env_error
            return
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if cls.env is not None:
            cls.env.cleanup()
            cls.env = None

    @classmethod
    def prepare_env(cls):
        """What a subclass adds to the Sieve environment before Dovecot
        starts (scripts)."""

    # -------------------------------------------------- helpers
    def sieve_test(self, script, mail, options=None, trace=False):
        rc, out = self.env.sieve_test(self.dc.conf_path, script, mail,
                                      options=options, trace=trace)
        return rc, out

    def analyse(self, mail, options=None):
        """Runs DEBUG_SCRIPT on the mail; the invoice variables as a dict
        (plus "invoice"/"einvoice" booleans). The script must succeed."""
        rc, out = self.sieve_test(DEBUG_SCRIPT, mail, options=options)
        self.assertEqual(rc, 0, out)
        self.assertIn("final result: success", out, out)
        self.assertNotRegex(out, r"(?i)panic|fatal|segmentation", out)
        return parse_debug(out)

    def assertInvoice(self, res, **expected):
        self.assertTrue(res.get("invoice"), "not recognised as an invoice: "
                        "%r" % res)
        for k, v in expected.items():
            if k == "total" and v and res.get(k):
                self.assertEqual(decimal.Decimal(res[k]), decimal.Decimal(v),
                                 "total: %r" % res)
            else:
                self.assertEqual(res.get(k), v, "%s: %r" % (k, res))


# --------------------------------------------------------------------------
# e-invoices from the public corpora


class EInvoiceTests(InvoiceFixture):
    """Every file in ../shared/testdata/einvoice has a test of its own
    (generated below from EXPECTED)."""

    def test_every_testdata_file_has_expectations(self):
        files = sorted(f for f in os.listdir(EINVOICE_DIR)
                       if f.endswith((".xml", ".pdf")))
        self.assertEqual(files, sorted(EXPECTED),
                         "testdata and EXPECTED differ")

    def check_file(self, name):
        exp = EXPECTED[name]
        res = self.analyse(einvoice_mail(
            name, sender=LIEFERANT, auth_results=[AR_PASS]))
        self.assertTrue(res["einvoice"], "%s: :einvoice false: %r"
                        % (name, res))
        self.assertInvoice(res, **exp)
        # Known supplier (by VAT ID), authenticated, own domain: trusted
        # when the IBAN (if any) is a known one - all of them are.
        self.assertEqual(res["supplier"], "Lieferant GmbH", res)
        self.assertEqual(res["folder"], "Lieferant", res)
        self.assertEqual(res["verdict"], "trusted", res)
        self.assertNotEqual(res["reason"], "", res)


def _make_einvoice_test(name):
    def test(self):
        self.check_file(name)
    test.__doc__ = "e-invoice %s" % name
    return test


for _name in EXPECTED:
    _slug = re.sub(r"[^a-z0-9]+", "_", _name.lower().split("--", 1)[1]
                   .rsplit(".", 1)[0]).strip("_")
    setattr(EInvoiceTests, "test_einvoice_" + _slug,
            _make_einvoice_test(_name))


# --------------------------------------------------------------------------
# PDF invoices, negatives and hostile input


class RecognitionTests(InvoiceFixture):

    def test_pdf_with_keyword_in_subject_is_invoice(self):
        doc = pdf(["Lieferant GmbH", "Leistungsnachweis Maerz 2024",
                   "Summe: 119,00 EUR"])
        res = self.analyse(make_mail(
            subject="Ihre Rechnung 2024-0042", sender=LIEFERANT,
            auth_results=[AR_PASS], attachments=[pdf_att(doc, "doc.pdf")]))
        self.assertInvoice(res, format="pdf", supplier="Lieferant GmbH",
                           folder="Lieferant", verdict="trusted")
        self.assertFalse(res["einvoice"], res)

    def test_pdf_with_keyword_in_filename_is_invoice(self):
        doc = pdf(["Lieferant GmbH", "Leistungen Maerz 2024"])
        res = self.analyse(make_mail(
            subject="Unterlagen", sender=LIEFERANT, auth_results=[AR_PASS],
            attachments=[pdf_att(doc, "Gutschrift_2024-17.pdf")]))
        self.assertInvoice(res, format="pdf", verdict="trusted")

    def test_pdf_with_keyword_in_pdf_text_is_invoice(self):
        doc = pdf(["Lieferant GmbH", "RECHNUNG Nr. 2024-0042",
                   "Gesamtbetrag: 119,00 EUR"])
        res = self.analyse(make_mail(
            subject="Unterlagen", sender=LIEFERANT, auth_results=[AR_PASS],
            attachments=[pdf_att(doc, "scan0001.pdf")]))
        self.assertInvoice(res, format="pdf", verdict="trusted")

    def test_english_dutch_french_keywords(self):
        for subject in ("Your invoice INV-1001", "Credit note CN-7",
                        "Uw factuur 2024-88", "Votre facture F-2024-3"):
            with self.subTest(subject=subject):
                res = self.analyse(make_mail(
                    subject=subject, sender=LIEFERANT, auth_results=[AR_PASS],
                    attachments=[pdf_att(pdf(["Lieferant GmbH"]), "a.pdf")]))
                self.assertInvoice(res, format="pdf")

    def test_rfc2231_and_rfc2047_filenames(self):
        """File names as mailers write them: RFC 2231 (continuations,
        percent-encoded UTF-8), RFC 2047 encoded-words, and only as the
        Content-Type name: the keyword is in the name and nowhere else."""
        doc = pdf(["Lieferant GmbH", "Leistungen Maerz 2024"])
        for disposition in (
                "attachment;\r\n filename*0*=utf-8''Rechnung%20M%C3%A4rz"
                "%202024;\r\n filename*1*=%20Nr%204711.pdf",
                "attachment;\r\n filename=\"=?UTF-8?Q?Rechnung_M=C3=A4rz"
                "_2024.pdf?=\"",
                "attachment; filename=\"=?ISO-8859-1?B?"
                "R3V0c2NocmlmdCBN5HJ6LnBkZg==?=\"",
                None):
            with self.subTest(disposition=disposition):
                ctype = "application/pdf"
                if disposition is None:
                    ctype += '; name="Rechnung-4711.pdf"'
                mail = raw_mail(
                    subject="Unterlagen", sender=LIEFERANT,
                    auth_results=[AR_PASS],
                    parts=[("text/plain; charset=utf-8", None,
                            "Anbei die Unterlagen.".encode()),
                           (ctype, disposition, doc)])
                self.assertInvoice(self.analyse(mail), format="pdf")

    def test_newsletter_saying_rechnung_without_attachment(self):
        res = self.analyse(make_mail(
            subject="Ihre Rechnung ist online", sender=LIEFERANT,
            auth_results=[AR_PASS],
            body="Guten Tag,\n\nIhre Rechnung für März steht ab sofort im "
                 "Kundenportal bereit: https://portal.lieferant.de/rechnung\n"
                 "Rechnungsbetrag: 119,00 EUR\n",
            html="<p>Ihre <b>Rechnung</b> ist online.</p>"))
        self.assertFalse(res["invoice"], res)
        self.assertEqual(res["verdict"], "", res)

    def test_pdf_that_is_not_an_invoice(self):
        doc = pdf(["Produktkatalog Fruehjahr 2024", "Neue Bueromoebel",
                   "Bestellen Sie bis 31. Maerz"])
        res = self.analyse(make_mail(
            subject="Unser neuer Katalog", sender=LIEFERANT,
            auth_results=[AR_PASS],
            body="Anbei unser Katalog.\n",
            attachments=[pdf_att(doc, "Katalog_2024.pdf")]))
        self.assertFalse(res["invoice"], res)

    def test_xml_that_is_not_an_invoice(self):
        xml = (b'<?xml version="1.0"?>\n<order xmlns="urn:example:order">'
               b'<id>4711</id></order>\n')
        res = self.analyse(make_mail(
            subject="Bestellung 4711", sender=LIEFERANT,
            auth_results=[AR_PASS], attachments=[xml_att(xml, "order.xml")]))
        self.assertFalse(res["invoice"], res)

    def test_truncated_pdf(self):
        """A Factur-X PDF cut off after 2 KiB: no e-invoice, the script
        runs to its end; without a keyword not an invoice at all."""
        data = read_einvoice(FX_XRECHNUNG)[:2048]
        res = self.analyse(make_mail(
            subject="Unterlagen", sender=LIEFERANT, auth_results=[AR_PASS],
            attachments=[pdf_att(data, "dokument.pdf")]))
        self.assertFalse(res["invoice"], res)
        self.assertFalse(res["einvoice"], res)

    def test_truncated_pdf_with_keyword(self):
        """Cut in the middle, named Rechnung: at most a plain PDF invoice
        (never a half-read e-invoice), and no failure."""
        data = read_einvoice(FX_XRECHNUNG)
        data = data[:len(data) // 2]
        res = self.analyse(make_mail(
            subject="Rechnung 471102", sender=LIEFERANT,
            auth_results=[AR_PASS], attachments=[pdf_att(data)]))
        if res["invoice"] and not res["einvoice"]:
            self.assertEqual(res["format"], "pdf", res)

    def test_garbage_pdf(self):
        res = self.analyse(make_mail(
            subject="Unterlagen", sender=LIEFERANT, auth_results=[AR_PASS],
            attachments=[pdf_att(os.urandom(50000), "scan.pdf"),
                         pdf_att(b"%PDF-1.7\n" + b"\x00" * 1000, "leer.pdf")]))
        self.assertFalse(res["invoice"], res)

    def test_xml_bomb(self):
        start = time.monotonic()
        res = self.analyse(make_mail(
            subject="Rechnung 4711", sender=LIEFERANT, auth_results=[AR_PASS],
            attachments=[xml_att(BILLION_LAUGHS, "rechnung.xml")]))
        self.assertFalse(res["einvoice"], res)
        self.assertLess(time.monotonic() - start, 60)

    def test_xml_bomb_in_invoice(self):
        """A UBL invoice whose number is a billion laughs: never expanded
        (entity expansion off) - no e-invoice with a giant number."""
        start = time.monotonic()
        res = self.analyse(make_mail(
            subject="Rechnung 4711", sender=LIEFERANT, auth_results=[AR_PASS],
            attachments=[xml_att(ubl_bomb(), "rechnung.xml")]))
        self.assertLess(len(res.get("number", "")), 100, res)
        self.assertNotIn("lollol", res.get("number", ""), res)
        self.assertLess(time.monotonic() - start, 60)

    def test_external_entity_not_resolved(self):
        secret = os.path.join(self.env.dir, "secret.txt")
        self.env.write_file(secret, "GEHEIM-4711\n")
        res = self.analyse(make_mail(
            subject="Rechnung 4711", sender=LIEFERANT, auth_results=[AR_PASS],
            attachments=[xml_att(ubl_xxe(secret), "rechnung.xml")]))
        self.assertNotIn("GEHEIM", res.get("number", ""), res)

    def test_oversized_part_skipped_with_log_line(self):
        """A part above 32 MiB decoded is not analysed (and says so in
        the log); the rest of the message still is."""
        big = b"%PDF-1.4\n" + b"0" * (33 * 1024 * 1024)
        mail = raw_mail(
            subject="Rechnung 4711", sender=LIEFERANT, auth_results=[AR_PASS],
            parts=[("text/plain; charset=utf-8", None, b"Anbei."),
                   ("application/pdf", 'attachment; filename="gross.pdf"',
                    big)])
        rc, out = self.sieve_test(DEBUG_SCRIPT, mail)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"MIME part \d+ \(application/pdf, gross\.pdf\) "
                         r"is larger than 33554432 bytes decoded: not analysed")
        self.assertFalse(parse_debug(out)["invoice"], out)

    def test_malformed_mails_never_fail(self):
        """Dovecot's malformed MIME test messages and the RFC examples:
        the default script runs to its end for each (no crash, no
        failure); none of them is an invoice."""
        names = [os.path.join(d, f) for d in (MALFORMED_DIR, RFC_DIR)
                 for f in sorted(os.listdir(d)) if f.endswith(".eml")]
        self.assertGreater(len(names), 20)
        for path in names:
            with self.subTest(mail=os.path.basename(path)):
                with open(path, "rb") as f:
                    data = f.read()
                rc, out = self.sieve_test(self.env.default_script, data)
                self.assertEqual(rc, 0, out)
                self.assertIn("final result: success", out)
                self.assertNotRegex(out, r"(?i)panic|fatal|error:", out)
                self.assertEqual(performed_folders(out), ["INBOX"], out)

    def test_einvoice_tag(self):
        doc = pdf(["Lieferant GmbH", "Rechnung 2024-0042"])
        script = ('require ["vnd.tresor.invoice", "vnd.dovecot.debug"];\n'
                  'if invoice :einvoice { debug_log "E-YES"; }\n'
                  'else { debug_log "E-NO"; }\n'
                  'if invoice { debug_log "I-YES"; }\n')
        rc, out = self.sieve_test(script, make_mail(
            subject="Rechnung", sender=LIEFERANT, auth_results=[AR_PASS],
            attachments=[pdf_att(doc)]))
        self.assertEqual(rc, 0, out)
        self.assertIn("DEBUG: E-NO", out)
        self.assertIn("DEBUG: I-YES", out)
        rc, out = self.sieve_test(script, einvoice_mail(
            FX_XRECHNUNG, sender=LIEFERANT, auth_results=[AR_PASS]))
        self.assertIn("DEBUG: E-YES", out)
        self.assertIn("DEBUG: I-YES", out)


# --------------------------------------------------------------------------
# the language


class LanguageTests(InvoiceFixture):

    def test_shipped_default_script_is_the_documented_one(self):
        with open(os.path.join(SRCDIR, "sieve", "tresor-invoice.sieve")) as f:
            self.assertEqual(f.read(), DEFAULT_SCRIPT)

    def test_default_script_compiles_and_files_trusted_invoice(self):
        rc, out = self.sieve_test(DEFAULT_SCRIPT, einvoice_mail(
            FX_XRECHNUNG, sender=LIEFERANT, auth_results=[AR_PASS]))
        self.assertEqual(rc, 0, out)
        self.assertEqual(performed_folders(out), ["Rechnungen/Lieferant"],
                         out)
        self.assertNotIn("$Pruefen", out)
        self.assertIn("add IMAP flags: $tresor_trusted", out)

    def test_default_script_reviews_unknown_supplier(self):
        rc, out = self.sieve_test(DEFAULT_SCRIPT, make_mail(
            subject="Rechnung 99", sender=("Fremd", "info@fremdfirma.de"),
            auth_results=["mx.example.com; dmarc=pass header.from="
                          "fremdfirma.de"],
            attachments=[pdf_att(pdf(["Fremdfirma AG", "Rechnung 99"]))]))
        self.assertEqual(rc, 0, out)
        self.assertEqual(performed_folders(out), ["Rechnungen/Pruefen"], out)
        self.assertRegex(out, r"add IMAP flags: (\$tresor_unknown-supplier \$Pruefen|"
                              r"\$Pruefen \$tresor_unknown-supplier)")

    def test_variables_empty_before_and_without_invoice(self):
        script = ('require ["variables", "vnd.tresor.invoice", '
                  '"vnd.dovecot.debug"];\n'
                  'debug_log "BEFORE=[${invoice.format}${invoice.verdict}]";\n'
                  'if invoice { debug_log "YES"; }\n'
                  'debug_log "AFTER=[${invoice.format}|${invoice.verdict}]";\n')
        rc, out = self.sieve_test(script, make_mail(
            subject="Hallo", body="Nur ein Gruss.\n"))
        self.assertEqual(rc, 0, out)
        self.assertIn("DEBUG: BEFORE=[]", out)
        self.assertIn("DEBUG: AFTER=[|]", out)
        self.assertNotIn("DEBUG: YES", out)
        rc, out = self.sieve_test(script, einvoice_mail(
            FX_XRECHNUNG, sender=LIEFERANT, auth_results=[AR_PASS]))
        self.assertIn("DEBUG: BEFORE=[]", out)
        self.assertIn("DEBUG: AFTER=[factur-x|trusted]", out)

    def test_unknown_variable_is_reported(self):
        """A misspelt name is a compile error message. (Pigeonhole then
        drops the reference from the string and compiles on, as with
        ${env.*}: it reads as empty.)"""
        rc, out = self.sieve_test(
            'require ["variables", "vnd.tresor.invoice", '
            '"vnd.dovecot.debug"];\n'
            'if invoice { debug_log "A=[${invoice.amount}${invoice.foo.bar}]"; }\n',
            einvoice_mail(FX_XRECHNUNG, sender=LIEFERANT,
                          auth_results=[AR_PASS]))
        self.assertIn("error: vnd.tresor.invoice: unknown variable "
                      "`invoice.amount'", out)
        self.assertIn("error: vnd.tresor.invoice: invalid variable name", out)
        self.assertIn("DEBUG: A=[]", out)

    def test_invoice_variables_are_read_only(self):
        rc, out = self.sieve_test(
            'require ["variables", "vnd.tresor.invoice"];\n'
            'set "invoice.verdict" "trusted";\n', make_mail())
        self.assertNotEqual(rc, 0, out)
        self.assertIn("cannot assign to `invoice.verdict'", out)

    def test_unknown_tag_is_compile_error(self):
        rc, out = self.sieve_test(
            'require "vnd.tresor.invoice";\nif invoice :pdf { stop; }\n',
            make_mail())
        self.assertNotEqual(rc, 0, out)
        self.assertIn("unknown tagged argument ':pdf'", out)

    def test_extension_must_be_enabled(self):
        rc, out = self.sieve_test(
            'require "vnd.tresor.invoice";\nif invoice { stop; }\n',
            make_mail(), options={"plugin/sieve_extensions":
                                  "+vnd.dovecot.debug"})
        self.assertNotEqual(rc, 0, out)
        self.assertIn("vnd.tresor.invoice", out)

    def test_analysed_once_per_message(self):
        script = ('require ["variables", "vnd.tresor.invoice"];\n'
                  'if invoice :einvoice { set "a" "1"; }\n'
                  'if invoice { set "b" "1"; }\n'
                  'if invoice { set "c" "1"; }\n')
        rc, out = self.sieve_test(script, einvoice_mail(
            FX_XRECHNUNG, sender=LIEFERANT, auth_results=[AR_PASS]),
            trace=True)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.count("message analysed before (cached)"), 2,
                         out)

    def test_bad_setting_fails_script_naming_it(self):
        rc, out = self.sieve_test(
            DEBUG_SCRIPT, einvoice_mail(FX_XRECHNUNG, sender=LIEFERANT,
                                        auth_results=[AR_PASS]),
            options={"plugin/tresor_extract_timeout": "soon"})
        self.assertIn("tresor_extract_timeout", out)
        self.assertNotIn("final result: success", out)
        self.assertNotIn("DEBUG: TRESOR-INVOICE", out)

    def test_missing_helper_fails_script(self):
        rc, out = self.sieve_test(
            DEBUG_SCRIPT, einvoice_mail(FX_XRECHNUNG, sender=LIEFERANT,
                                        auth_results=[AR_PASS]),
            options={"plugin/tresor_extract":
                     os.path.join(self.env.dir, "no-such-helper")})
        self.assertNotIn("final result: success", out)
        self.assertNotIn("DEBUG: TRESOR-INVOICE", out)

    def test_missing_supplier_file(self):
        """Logged; every invoice is then from an unknown supplier."""
        res = self.analyse(einvoice_mail(FX_XRECHNUNG, sender=LIEFERANT,
                                         auth_results=[AR_PASS]),
                           options={"plugin/tresor_suppliers":
                                    os.path.join(self.env.dir, "none.csv")})
        self.assertInvoice(res, verdict="unknown-supplier", supplier="",
                           folder="")


# --------------------------------------------------------------------------
# Debian's namespace: no separator set (maildir then uses '.')


class DefaultSeparatorTests(InvoiceFixture):
    """The default script and tresor_archive = Rechnungen/* as documented,
    with an inbox namespace that sets no separator, as Debian's
    10-mail.conf: folders are Rechnungen.Lieferant with maildir (and
    Rechnungen/Lieferant with mbox), protected all the same."""

    @classmethod
    def dovecot_options(cls):
        options = super().dovecot_options()
        options["separator"] = None
        return options

    def separator(self, user):
        c = self.imap(user)
        res = c.cmd('LIST "" ""')
        c.close_quietly()
        m = re.search(rb'\(.*?\) "(.)"', b" ".join(res.untagged))
        self.assertIsNotNone(m, res)
        return m.group(1).decode()

    def test_invoices_filed_and_protected_with_the_namespace_separator(self):
        u = self.user()
        sep = self.separator(u)
        if self.dc.mail_format == "maildir":
            self.assertEqual(sep, ".")
        for mail, folder in (
                (einvoice_mail(FX_XRECHNUNG, sender=LIEFERANT,
                               auth_results=[AR_PASS]), "Lieferant"),
                (make_mail(subject="Rechnung 99", sender=(
                    "Lieferant GmbH", "rechnung@lieferant-gmbh.de"),
                    auth_results=["mx.example.com; dmarc=pass "
                                  "header.from=lieferant-gmbh.de"],
                    attachments=[pdf_att(pdf(["Lieferant GmbH",
                                              "Rechnung 99"]))]),
                 "Pruefen")):
            res = self.dc.lmtp_deliver("%s@example.com" % u, mail)
            self.assertEqual(res["%s@example.com" % u][0], 250, res)
            box = "Rechnungen" + sep + folder
            c = self.imap(u)
            self.assertEqual(c.uids("INBOX"), [], "%s not filed: %s" % (
                folder, self.dc.log_since_mark()))
            self.assertEqual(len(c.uids(box)), 1, box)
            # Rechnungen/* names it: an archive folder
            c.select_box(box)
            self.assertRefusedIMAP(c.cmd("STORE 1 +FLAGS (\\Deleted)"))
            c.close_quietly()
        saves = [r["mailbox"] for r in self.dc.journal(u)
                 if r["event"] == "save"]
        self.assertEqual(saves, ["Rechnungen%sLieferant" % sep,
                                 "Rechnungen%sPruefen" % sep])


# --------------------------------------------------------------------------
# verdicts (sieve-test for the exact value, LMTP for the delivery)


class VerdictTests(InvoiceFixture):

    def verdict_of(self, mail):
        return self.analyse(mail)

    def deliver(self, user, mail):
        res = self.dc.lmtp_deliver("%s@example.com" % user, mail)
        code, text = res["%s@example.com" % user]
        self.assertEqual(code, 250, text)

    def assertFiled(self, user, mail, folder, flagged, verdict=None):
        """After delivery: exactly this mail in folder (bytes as sent,
        after the headers LMTP adds), nothing in INBOX, $Pruefen set iff
        flagged, the verdict's keyword $tresor_VERDICT (and no other of
        them) when given, and a journaled save in folder."""
        c = self.imap(user)
        self.assertEqual(c.uids("INBOX"), [], "mail went to INBOX")
        uids = c.uids(folder)
        self.assertEqual(len(uids), 1, "%s: %r" % (folder, uids))
        c.select_box(folder, readonly=True)
        body = c.fetch_body(uids[0])
        self.assertTrue(body.endswith(crlf(mail)),
                        "the delivered mail differs from the sent one")
        flags = c.fetch_flags(uids[0])
        if flagged:
            self.assertIn("$Pruefen", flags)
        else:
            self.assertNotIn("$Pruefen", flags)
        if verdict is not None:
            self.assertEqual(sorted(f for f in flags if f.startswith("$tresor_")),
                             ["$tresor_" + verdict], flags)
        saves = [r for r in self.dc.journal(user)
                 if r.get("event") == "save" and r.get("mailbox") == folder]
        self.assertEqual(len(saves), 1, self.dc.journal(user))
        self.assertEqual(saves[0].get("sha256"), sha256_hex(body))
        self.assertEqual(saves[0].get("service"), "lmtp", saves[0])

    def case(self, mail, verdict, folder="Rechnungen/Pruefen", user_suffix=""):
        res = self.verdict_of(mail)
        self.assertInvoice(res, verdict=verdict)
        u = self.user(user_suffix)
        self.deliver(u, mail)
        self.assertFiled(u, mail, folder, flagged=(verdict != "trusted"),
                         verdict=verdict)
        return res

    def test_extension_stays_resident_between_deliveries(self):
        """Pigeonhole loads and unloads its plugins for every LMTP
        delivery; the module pins itself so that its shared configuration
        survives: an lmtp process reads the supplier file once, not for
        every invoice (a module loaded anew lost - and leaked - it, about
        90 KB per invoice, until the process hit its vsz_limit)."""
        u = self.user()
        mail = make_mail(subject="Rechnung 471102", sender=LIEFERANT,
                         auth_results=[AR_PASS],
                         attachments=[xml_att(ubl_variant())])
        for _ in range(10):
            self.deliver(u, mail)
        log = self.dc.log_since_mark()
        self.assertRegex(log, r"lmtp\(%s\)<\d+>.*stored mail into mailbox "
                         r"'Rechnungen/Lieferant'" % re.escape(u))
        pids = re.findall(r"lmtp\(%s\)<(\d+)>.*suppliers loaded"
                          % re.escape(u), log)
        self.assertEqual(len(pids), len(set(pids)),
                         "an lmtp process read the supplier file more than "
                         "once:\n" + log)

    def test_supplier_file_change_seen_by_next_delivery(self):
        """The resident configuration notices a changed supplier file
        (checked at most once a second)."""
        u = self.user()
        mail = make_mail(
            subject="Rechnung 77",
            sender=("Neu Lieferant GmbH", "rechnung@neu-lieferant.de"),
            auth_results=["mx.example.com; dmarc=pass "
                          "header.from=neu-lieferant.de"],
            attachments=[pdf_att(pdf(["Neu Lieferant GmbH", "Rechnung 77"]))])
        self.deliver(u, mail)
        c = self.imap(u)
        self.assertEqual(len(c.uids("Rechnungen/Pruefen")), 1)
        with open(self.env.suppliers_path) as f:
            before = f.read()
        try:
            self.env.write_file(self.env.suppliers_path, before +
                                "Neu Lieferant GmbH,Neu,neu-lieferant.de,,,\n")
            time.sleep(1.2)
            self.deliver(u, mail)
            self.assertEqual(len(c.uids("Rechnungen/Neu")), 1,
                             self.dc.log_since_mark())
        finally:
            self.env.write_file(self.env.suppliers_path, before)

    # ---- LMTP cases required by the issue
    def test_trusted_invoice_filed_and_journaled(self):
        mail = einvoice_mail(FX_XRECHNUNG, sender=LIEFERANT,
                             auth_results=[AR_PASS])
        res = self.case(mail, "trusted", "Rechnungen/Lieferant")
        self.assertEqual(res["supplier"], "Lieferant GmbH")

    def test_forged_authentication_results_untrusted_authserv(self):
        mail = einvoice_mail(FX_XRECHNUNG, sender=LIEFERANT, auth_results=[
            "mail.evil.example; dkim=pass header.d=lieferant.de; "
            "dmarc=pass header.from=lieferant.de"])
        self.case(mail, "unauthenticated")

    def test_lookalike_domain(self):
        mail = einvoice_mail(
            FX_XRECHNUNG, sender=("Lieferant GmbH", "rechnung@lieferamt.de"),
            auth_results=["mx.example.com; dkim=pass header.d=lieferamt.de; "
                          "dmarc=pass header.from=lieferamt.de"])
        self.case(mail, "lookalike-domain")

    def test_display_name_spoof(self):
        mail = einvoice_mail(
            FX_XRECHNUNG,
            sender=("Lieferant GmbH", "buchhaltung@billing-portal.com"),
            auth_results=["mx.example.com; dmarc=pass "
                          "header.from=billing-portal.com"])
        self.case(mail, "lookalike-domain")

    def test_changed_iban(self):
        mail = make_mail(
            subject="Rechnung 471102 - neue Bankverbindung",
            sender=LIEFERANT, auth_results=[AR_PASS],
            attachments=[xml_att(ubl_variant(iban=OTHER_IBAN))])
        res = self.case(mail, "bank-account-changed")
        self.assertEqual(res["iban"], OTHER_IBAN)
        self.assertEqual(res["supplier"], "Lieferant GmbH")

    def test_unknown_supplier(self):
        mail = make_mail(
            subject="Rechnung 471102", sender=("Fremdfirma AG",
                                               "rechnung@fremdfirma.de"),
            auth_results=["mx.example.com; dmarc=pass "
                          "header.from=fremdfirma.de"],
            attachments=[xml_att(ubl_variant(
                vatid="DE811569869", iban=OTHER_IBAN,
                seller="Fremdfirma AG"))])
        res = self.case(mail, "unknown-supplier")
        self.assertEqual(res["supplier"], "")
        self.assertEqual(res["folder"], "")

    def test_erp_variant_copies_trusted_invoice_to_intake(self):
        """sieve/tresor-invoice-erp.sieve: a trusted invoice in its
        supplier folder and, as a copy, in the ERP's intake folder; both
        copies journaled, byte-identical to the sent mail."""
        with open(os.path.join(SRCDIR, "sieve",
                               "tresor-invoice-erp.sieve")) as f:
            script = self.env.script("erp", f.read())
        u = self.user()
        mail = einvoice_mail(FX_XRECHNUNG, sender=LIEFERANT,
                             auth_results=[AR_PASS])
        rc, out = self.sieve_test(script, mail)
        self.assertEqual(rc, 0, out)
        self.assertEqual(sorted(performed_folders(out)),
                         ["ERP-Import", "Rechnungen/Lieferant"], out)
        review = self.sieve_test(script, einvoice_mail(
            FX_XRECHNUNG, sender=LIEFERANT))[1]
        self.assertEqual(performed_folders(review), ["Rechnungen/Pruefen"],
                         review)
        self.dc.restart(plugin={"sieve": script})
        try:
            self.deliver(u, mail)
            c = self.imap(u)
            for folder in ("Rechnungen/Lieferant", "ERP-Import"):
                uids = c.uids(folder)
                self.assertEqual(len(uids), 1, folder)
                c.select_box(folder, readonly=True)
                self.assertTrue(c.fetch_body(uids[0]).endswith(crlf(mail)))
            saved = sorted(r["mailbox"] for r in self.dc.journal(u)
                           if r.get("event") == "save")
            self.assertEqual(saved, ["ERP-Import", "Rechnungen/Lieferant"])
        finally:
            self.dc.restart(plugin={"sieve": self.env.default_script})

    def test_non_invoice_stays_in_inbox(self):
        mail = make_mail(subject="Ihre Rechnung ist online",
                         sender=LIEFERANT, auth_results=[AR_PASS])
        u = self.user()
        self.deliver(u, mail)
        c = self.imap(u)
        self.assertEqual(len(c.uids("INBOX")), 1)

    def test_xml_bomb_delivered_to_inbox(self):
        mail = make_mail(subject="Dokumente", sender=LIEFERANT,
                         auth_results=[AR_PASS],
                         attachments=[xml_att(BILLION_LAUGHS, "daten.xml")])
        u = self.user()
        start = time.monotonic()
        self.deliver(u, mail)
        self.assertLess(time.monotonic() - start, 60)
        c = self.imap(u)
        self.assertEqual(len(c.uids("INBOX")), 1)

    # ---- further verdict rules (sieve-test only)
    def test_no_authentication_results_is_unauthenticated(self):
        res = self.verdict_of(einvoice_mail(FX_XRECHNUNG, sender=LIEFERANT))
        self.assertInvoice(res, verdict="unauthenticated")

    def test_dmarc_fail_with_pass_in_comment_is_unauthenticated(self):
        res = self.verdict_of(einvoice_mail(
            FX_XRECHNUNG, sender=LIEFERANT, auth_results=[
                "mx.example.com; dmarc=fail (dmarc=pass header.from="
                "lieferant.de; \"x\") header.from=lieferant.de"]))
        self.assertInvoice(res, verdict="unauthenticated")

    def test_dmarc_pass_for_other_domain_is_unauthenticated(self):
        res = self.verdict_of(einvoice_mail(
            FX_XRECHNUNG, sender=LIEFERANT, auth_results=[
                "mx.example.com; dmarc=pass header.from=example.org"]))
        self.assertInvoice(res, verdict="unauthenticated")

    def test_relaxed_dkim_alignment_is_trusted(self):
        res = self.verdict_of(einvoice_mail(
            FX_XRECHNUNG, sender=LIEFERANT, auth_results=[
                "mx.example.com; dkim=pass header.d=mail.lieferant.de "
                "header.s=sel1"]))
        self.assertInvoice(res, verdict="trusted")

    def test_trusted_authserv_among_forged_ones(self):
        res = self.verdict_of(einvoice_mail(
            FX_XRECHNUNG, sender=LIEFERANT, auth_results=[
                "mail.evil.example; dmarc=fail header.from=lieferant.de",
                AR_PASS]))
        self.assertInvoice(res, verdict="trusted")

    def test_iban_in_pdf_text_changed(self):
        doc = pdf(["Lieferant GmbH", "Rechnung Nr. 2024-0042",
                   "Bitte ueberweisen Sie auf unser neues Konto:",
                   "IBAN: DE89 3704 0044 0532 0130 00"])
        res = self.verdict_of(make_mail(
            subject="Rechnung 2024-0042", sender=LIEFERANT,
            auth_results=[AR_PASS], attachments=[pdf_att(doc)]))
        self.assertInvoice(res, format="pdf", verdict="bank-account-changed",
                           iban=OTHER_IBAN, supplier="Lieferant GmbH")

    def test_iban_in_body_text_known_is_trusted(self):
        res = self.verdict_of(make_mail(
            subject="Rechnung 2024-0043", sender=LIEFERANT,
            auth_results=[AR_PASS],
            body="Bitte überweisen Sie auf DE02 1203 0000 0000 2020 51.\n",
            attachments=[pdf_att(pdf(["Lieferant GmbH", "Rechnung"]))]))
        self.assertInvoice(res, verdict="trusted",
                           iban="DE02120300000000202051")

    def test_supplier_by_from_address_without_einvoice(self):
        res = self.verdict_of(make_mail(
            subject="Rechnung 5", sender=("Stadtwerke",
                                          "abrechnung@stadtwerke-kuehlungsborn.de"),
            auth_results=["mx.example.com; dmarc=pass header.from="
                          "stadtwerke-kuehlungsborn.de"],
            attachments=[pdf_att(pdf(["Stadtwerke", "Abschlag"]))]))
        self.assertInvoice(res, verdict="trusted",
                           supplier="Stadtwerke Kühlungsborn",
                           folder="Stadtwerke")

    # ---- every payee account counts (issue 13): a compromised supplier
    # mailbox (authenticated, own domain, known VAT ID) adds a new account
    def test_new_iban_in_mail_text_in_any_notation(self):
        """Known account in the XML, a new one in the mail text, written
        in lower case, with dashes, or with the country code apart."""
        for n, notation in enumerate(("de89 3704 0044 0532 0130 00",
                                      "DE89-3704-0044-0532-0130-00",
                                      "DE 89 3704 0044 0532 0130 00")):
            with self.subTest(notation=notation):
                mail = make_mail(
                    subject="Rechnung 471102", sender=LIEFERANT,
                    auth_results=[AR_PASS],
                    body="Guten Tag,\n\nbitte beachten Sie unsere neue "
                         "Bankverbindung: IBAN %s\n" % notation,
                    attachments=[xml_att(ubl_variant())])
                res = self.case(mail, "bank-account-changed",
                                user_suffix="-%d" % n)
                self.assertEqual(res["iban"], LIEFERANT_IBAN,
                                 "the XML's account stays ${invoice.iban}")
                self.assertIn(OTHER_IBAN, res["reason"])
                self.assertIn("mail text", res["reason"])

    def test_known_iban_first_new_one_second_in_pdf(self):
        doc = pdf(["Lieferant GmbH", "Rechnung Nr. 2024-0044",
                   "Bisher: IBAN DE02 1203 0000 0000 2020 51",
                   "NEU ab sofort: IBAN DE89 3704 0044 0532 0130 00"])
        res = self.case(make_mail(
            subject="Rechnung 2024-0044", sender=LIEFERANT,
            auth_results=[AR_PASS], attachments=[pdf_att(doc)]),
            "bank-account-changed")
        self.assertEqual(res["supplier"], "Lieferant GmbH")
        self.assertIn(OTHER_IBAN, res["reason"])
        self.assertIn("PDF", res["reason"])

    def test_known_iban_in_xml_new_one_in_mail_text(self):
        res = self.case(make_mail(
            subject="Rechnung 471102", sender=LIEFERANT,
            auth_results=[AR_PASS],
            body="Hallo,\nwir haben eine neue Bankverbindung: %s\n"
                 % OTHER_IBAN,
            attachments=[xml_att(ubl_variant())]), "bank-account-changed")
        self.assertIn("IBAN %s in the mail text" % OTHER_IBAN, res["reason"])

    def test_new_iban_only_in_html_part(self):
        res = self.case(make_mail(
            subject="Rechnung 471102", sender=LIEFERANT,
            auth_results=[AR_PASS],
            body="Anbei die Rechnung.\n",
            html="<html><body><p>Neue <b>Bankverbindung</b>:<br>"
                 "DE89&nbsp;3704 <span>0044</span> 0532 0130 00</p>"
                 "</body></html>\n",
            attachments=[xml_att(ubl_variant())]), "bank-account-changed")
        self.assertIn("IBAN %s in the HTML mail text" % OTHER_IBAN,
                      res["reason"])

    def test_known_iban_in_xml_new_one_in_pdf(self):
        doc = pdf(["Lieferant GmbH", "Rechnung 471102",
                   "Zahlbar auf IBAN DE89 3704 0044 0532 0130 00"])
        res = self.case(make_mail(
            subject="Rechnung 471102", sender=LIEFERANT,
            auth_results=[AR_PASS],
            attachments=[xml_att(ubl_variant()), pdf_att(doc)]),
            "bank-account-changed")
        self.assertEqual(res["iban"], LIEFERANT_IBAN)
        self.assertIn("IBAN %s in the PDF" % OTHER_IBAN, res["reason"])

    def test_invalid_iban_in_xml_is_reported_as_written(self):
        typo = LIEFERANT_IBAN[:-1] + "2"
        res = self.verdict_of(make_mail(
            subject="Rechnung 471102", sender=LIEFERANT,
            auth_results=[AR_PASS],
            attachments=[xml_att(ubl_variant(iban=typo))]))
        self.assertInvoice(res, verdict="bank-account-changed", iban=typo)
        self.assertIn("is no valid IBAN", res["reason"])

    def test_direct_debit_from_own_account_is_trusted(self):
        """Direct debit (code 59): the XML names the buyer's account, the
        PDF prints it; with that account in tresor_own_ibans the invoice
        is trusted and has no payee IBAN."""
        doc = pdf(["Lieferant GmbH", "Rechnung 471102",
                   "Der Betrag wird per SEPA-Lastschrift von Ihrem Konto",
                   "IBAN DE77 1001 0010 0123 4567 89 eingezogen."])
        mail = make_mail(
            subject="Rechnung 471102", sender=LIEFERANT,
            auth_results=[AR_PASS],
            attachments=[xml_att(ubl_direct_debit()), pdf_att(doc)])
        res = self.case(mail, "trusted", "Rechnungen/Lieferant")
        self.assertEqual(res["iban"], "")
        # Without tresor_own_ibans the buyer's account is an unknown one.
        rc, out = self.sieve_test(DEBUG_SCRIPT, mail,
                                  options={"plugin/tresor_own_ibans": ""})
        self.assertEqual(rc, 0, out)
        res = parse_debug(out)
        self.assertEqual(res["verdict"], "bank-account-changed", res)
        self.assertIn("tresor_own_ibans", res["reason"])

    def test_several_from_addresses_are_unauthenticated(self):
        mail = make_mail(
            subject="Rechnung 471102",
            sender="rechnung@lieferant.de, buchhaltung@lieferant.de",
            auth_results=[AR_PASS], attachments=[xml_att(ubl_variant())])
        res = self.case(mail, "unauthenticated")
        self.assertIn("single sender", res["reason"])

    def test_bad_own_iban_fails_script_naming_the_setting(self):
        rc, out = self.sieve_test(
            DEBUG_SCRIPT, make_mail(attachments=[xml_att(ubl_variant())]),
            options={"plugin/tresor_own_ibans": "DE77100100100123456780"})
        self.assertIn("tresor_own_ibans: invalid value", out)
        self.assertNotIn("final result: success", out)


if __name__ == "__main__":
    unittest.main()


# --------------------------------------------------------------------------
# the invoice register (doveadm tresor invoices)

ERP_SCRIPT_PATH = os.path.join(SRCDIR, "sieve", "tresor-invoice-erp.sieve")


class InvoiceRegisterTests(InvoiceFixture):
    """Each delivered invoice gets an invoice record right after the save
    record of the mail it describes; doveadm tresor invoices lists them."""
    required_plugins = (TRESOR_MAIL_PLUGIN, TRESOR_DOVEADM_PLUGIN)

    def deliver(self, user, mail):
        code, text = self.dc.lmtp_deliver("%s@example.com" % user, mail)[
            "%s@example.com" % user]
        self.assertEqual(code, 250, text)

    def register(self, user, *args):
        rc, rows, err = self.dc.doveadm_json("tresor", "invoices", "-u", user, *args)
        self.assertEqual(rc, 0, err)
        return rows

    def lookalike(self):
        return einvoice_mail(
            FX_XRECHNUNG, sender=("Lieferant GmbH", "rechnung@lieferamt.de"),
            auth_results=["mx.example.com; dkim=pass header.d=lieferamt.de; "
                          "dmarc=pass header.from=lieferamt.de"],
            subject="Rechnung 471102 (Erinnerung)")

    def test_each_delivered_invoice_is_listed_with_its_stored_mail(self):
        u = self.user()
        trusted = einvoice_mail(FX_XRECHNUNG, sender=LIEFERANT, auth_results=[AR_PASS])
        self.deliver(u, trusted)
        self.deliver(u, make_mail(subject="Hallo", body="Nur ein Gruss.\n"))
        self.deliver(u, self.lookalike())
        rows = self.register(u)
        self.assertEqual([r["verdict"] for r in rows], ["trusted", "lookalike-domain"])
        saves = {r["seq"]: r for r in self.dc.journal(u) if r["event"] == "save"}
        self.assertEqual(len(saves), 3)
        for row in rows:
            save = saves[int(row["save_seq"])]
            self.assertEqual(int(row["seq"]), save["seq"] + 1)
            self.assertEqual((row["mailbox"], int(row["uid"]), row["sha256"]),
                             (save["mailbox"], save["uid"], save["sha256"]))
            self.assertEqual(row["copies"], "1")
        self.assertEqual(rows[0]["mailbox"].replace(".", "/"), "Rechnungen/Lieferant")
        self.assertEqual(rows[1]["mailbox"].replace(".", "/"), "Rechnungen/Pruefen")
        # what the invoice test found, as ${invoice.*} show it
        found = self.analyse(trusted)
        for field in FIELDS:
            self.assertEqual(rows[0][field], found.get(field, ""), field)
        self.assertTrue(rows[0]["number"] and rows[0]["total"], rows[0])

        self.assertEqual([r["verdict"] for r in self.register(u, "--verdict", "trusted")],
                         ["trusted"])
        # by the supplier identified (also for the look-alike: by its VAT
        # ID and IBAN), or the seller the invoice names
        self.assertEqual([r["supplier"] for r in rows], ["Lieferant GmbH"] * 2)
        self.assertEqual(len(self.register(u, "--supplier", "LIEFERANT GMBH")), 2)
        self.assertEqual(len(self.register(u, "--supplier", rows[1]["seller"].upper())), 2)
        self.assertEqual([r["verdict"] for r in self.register(
            u, "--supplier", "lieferant", "--verdict", "lookalike-domain")],
            ["lookalike-domain"])
        self.assertEqual(self.register(u, "--supplier", "nobody"), [])
        today = time.strftime("%Y-%m-%d", time.gmtime())
        self.assertEqual(len(self.register(u, "--from", today, "--to", today)), 2)
        self.assertEqual(self.register(u, "--to", "2000-01-01"), [])
        rc, _, err = self.dc.doveadm("tresor", "invoices", "-u", u, "--from", "2026-02-30")
        self.assertEqual(rc, 64, err)

        # the CSV an ERP imports: a header row, a row per invoice
        rc, out, err = self.dc.doveadm("tresor", "invoices", "-u", u, "--csv")
        self.assertEqual(rc, 0, err)
        table = list(csv.DictReader(io.StringIO(out)))
        self.assertEqual([r["number"] for r in table], [r["number"] for r in rows])
        self.assertEqual({r["user"] for r in table}, {u})
        self.assertEqual([r["sha256"] for r in table], [r["sha256"] for r in rows])

        rc, out, err = self.dc.doveadm("tresor", "verify", "-u", u)
        self.assertEqual(rc, 0, out + err)

        # the evidence export carries the register, checked by VERIFY.txt
        work = tempfile.mkdtemp(prefix="tresor-register-", dir=self.dc.tmp)
        chown_mail_user(work)
        out_dir = os.path.join(work, "export")
        rc, out, err = self.dc.doveadm("tresor", "export", "-u", u, "--from", today,
                                       "--to", today, out_dir)
        self.assertEqual(rc, 0, out + err)
        with open(os.path.join(out_dir, "invoices.csv")) as f:
            exported = list(csv.DictReader(f))
        self.assertEqual([r["seq"] for r in exported], [r["seq"] for r in rows])
        results = run_verify_txt(self, out_dir)
        self.assertIn(b"invoices: all 2 OK", results[6].stdout)

    def test_a_script_only_tried_records_nothing(self):
        """sieve-test runs the invoice test but stores nothing: no record."""
        tresor_dir = os.path.join(self.env.dir, "tried")
        rc, out = self.sieve_test(DEFAULT_SCRIPT, einvoice_mail(
            FX_XRECHNUNG, sender=LIEFERANT, auth_results=[AR_PASS]),
            options={"plugin/tresor_dir": tresor_dir})
        self.assertEqual(rc, 0, out)
        self.assertIn("Rechnungen/Lieferant", out)
        self.assertFalse(os.path.exists(os.path.join(tresor_dir, "journal")) and
                         any("invoice" in open(os.path.join(tresor_dir, "journal", f)).read()
                             for f in os.listdir(os.path.join(tresor_dir, "journal"))))


class InvoiceRegisterCopyTests(InvoiceRegisterTests):
    """The ERP script stores a trusted invoice twice (ERP-Import and the
    archive): both saves get their invoice record, the register lists the
    invoice once, naming the archived copy."""

    @classmethod
    def dovecot_options(cls):
        options = super().dovecot_options()
        with open(ERP_SCRIPT_PATH) as f:
            options["plugin"]["sieve"] = cls.env.script("erp", f.read())
        return options

    def test_each_delivered_invoice_is_listed_with_its_stored_mail(self):
        u = self.user()
        self.deliver(u, einvoice_mail(FX_XRECHNUNG, sender=LIEFERANT,
                                      auth_results=[AR_PASS]))
        records = [r for r in self.dc.journal(u) if r["event"] == "invoice"]
        self.assertEqual([r["mailbox"].replace(".", "/") for r in records],
                         ["ERP-Import", "Rechnungen/Lieferant"])
        rows = self.register(u)
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["mailbox"].replace(".", "/"), "Rechnungen/Lieferant")
        self.assertEqual(rows[0]["copies"], "2")
        self.assertEqual(rows[0]["seq"], str(records[1]["seq"]))
