"""Seeded generator of realistic business mails (German and English):
invoices, reminders, orders, offers and everyday correspondence, plain or
multipart with PDF / e-invoice XML / CSV attachments, RFC 2047 encoded
headers, unique Message-IDs. The same seed gives the same bytes.

    from mailgen import MailGenerator
    gen = MailGenerator(seed=42)
    raw = gen.mail()                 # bytes, CRLF line ends
    raw = gen.invoice(attachments=("pdf", "xml"))
    raw = gen.simple(subject="Test", body="Hallo")   # minimal, exact
    for raw in gen.mails(1000): ...  # corpora for benchmarks

Command line: python3 mailgen.py [--seed N] [--count N] OUTDIR writes
OUTDIR/00001.eml ... (for benchmarks and manual tests).
"""

import argparse
import datetime
import gzip
import io
import zipfile
import email.policy
import email.utils
import os
import random
from email.message import EmailMessage

POLICY = email.policy.SMTP.clone(max_line_length=78)

COMPANIES = [
    ("Müller Bürobedarf GmbH", "mueller-buerobedarf.de"),
    ("Schröder & Söhne KG", "schroeder-soehne.de"),
    ("Bäckerei Weißbrot OHG", "weissbrot-baeckerei.de"),
    ("Stadtwerke Kühlungsborn", "stadtwerke-kuehlungsborn.de"),
    ("Elektro Jäger e.K.", "elektro-jaeger.de"),
    ("Druckerei Grün & Partner", "druckerei-gruen.de"),
    ("Nordlicht Software AG", "nordlicht-software.de"),
    ("Acme Supplies Ltd", "acme-supplies.co.uk"),
    ("Blue Harbour Logistics BV", "blueharbour.nl"),
    ("Contoso Cloud Services Inc.", "contoso-cloud.example"),
    ("Fabrikam Office Solutions", "fabrikam-office.example"),
    ("Hofmann Steuerberatung", "hofmann-steuer.de"),
]

PEOPLE = [
    ("Jürgen", "Schäfer"), ("Anna", "Köhler"), ("Sören", "Müller"),
    ("Petra", "Weiß"), ("Thomas", "Becker"), ("Zoë", "Fischer"),
    ("Hans-Jörg", "Groß"), ("Maria", "Lehmann"), ("John", "Smith"),
    ("Emily", "Clarke"), ("Lars", "Nyström"), ("Ayşe", "Yılmaz"),
]

PRODUCTS = [
    ("Kopierpapier A4, 80 g/m², 5000 Blatt", 42.90),
    ("Toner schwarz für Laserdrucker", 89.00),
    ("Bürostuhl ergonomisch", 349.00),
    ("Wartungsvertrag Server, monatlich", 120.00),
    ("Softwarelizenz (Jahresabo)", 588.00),
    ("Beratung, Stundensatz", 95.00),
    ("Stromlieferung Abschlag", 210.50),
    ("Transport und Verpackung", 35.00),
    ("Office chairs, black", 199.00),
    ("Cloud hosting, monthly plan", 79.99),
    ("Consulting hours", 110.00),
    ("Shipping and handling", 24.50),
]

DE_SENTENCES = [
    "vielen Dank für Ihren Auftrag und die gute Zusammenarbeit.",
    "anbei erhalten Sie unsere Rechnung für die erbrachten Leistungen.",
    "bitte überweisen Sie den Betrag innerhalb von 14 Tagen ohne Abzug.",
    "die Ware wurde heute an die angegebene Lieferadresse versandt.",
    "bei Rückfragen stehen wir Ihnen selbstverständlich gern zur Verfügung.",
    "wir erlauben uns, Sie an die noch offene Zahlung zu erinnern.",
    "gern bestätigen wir Ihnen den Termin am kommenden Donnerstag.",
    "unser Angebot ist vier Wochen ab Ausstellungsdatum gültig.",
    "die Eingangsrechnung wurde an die Buchhaltung weitergeleitet.",
    "bitte prüfen Sie die beigefügte Gutschrift und geben Sie uns kurz Bescheid.",
    "aufgrund der Feiertage verschiebt sich die Lieferung um zwei Tage.",
    "Zahlungsziel: 30 Tage netto, bei Zahlung innerhalb von 10 Tagen 2 % Skonto.",
]

EN_SENTENCES = [
    "thank you for your order and the pleasant cooperation.",
    "please find attached our invoice for the services rendered.",
    "kindly transfer the amount within 14 days without deduction.",
    "the goods were shipped today to the delivery address you provided.",
    "should you have any questions, please do not hesitate to contact us.",
    "this is a friendly reminder that the payment below is still outstanding.",
    "we are happy to confirm the meeting next Thursday.",
    "our quotation is valid for four weeks from the date of issue.",
    "the incoming invoice has been forwarded to accounting.",
    "please review the attached credit note and let us know.",
]

INVOICE_SUBJECTS_DE = [
    "Rechnung {nr} vom {date}",
    "Ihre Rechnung Nr. {nr}",
    "Eingangsrechnung {nr} – {company}",
    "Zahlungserinnerung zu Rechnung {nr}",
    "1. Mahnung: Rechnung {nr}",
    "Gutschrift {nr}",
    "Rechnung für Ihre Bestellung {nr}",
]

INVOICE_SUBJECTS_EN = [
    "Invoice {nr} dated {date}",
    "Your invoice {nr} from {company}",
    "Payment reminder: invoice {nr}",
    "Credit note {nr}",
]

LETTER_SUBJECTS_DE = [
    "Angebot {nr} für Ihr Büro",
    "Auftragsbestätigung {nr}",
    "Lieferschein zu Bestellung {nr}",
    "Re: Rückfrage zur Lieferung",
    "AW: Terminbestätigung Prüfung Jahresabschluss",
    "WG: Änderung unserer Öffnungszeiten",
]

LETTER_SUBJECTS_EN = [
    "Quotation {nr}",
    "Order confirmation {nr}",
    "Re: Delivery question",
    "Fwd: Updated bank details",
]

GREETINGS_DE = ["Sehr geehrte Damen und Herren,", "Hallo {first},",
                "Guten Tag {first} {last},", "Liebe Kolleginnen und Kollegen,"]
GREETINGS_EN = ["Dear Sir or Madam,", "Hello {first},", "Dear {first} {last},"]
CLOSINGS_DE = ["Mit freundlichen Grüßen", "Viele Grüße", "Beste Grüße"]
CLOSINGS_EN = ["Kind regards", "Best regards", "Sincerely"]


def _pdf(lines):
    """A small valid PDF (one page, Helvetica) showing the lines; its text
    is extractable by pdftotext. Latin-1 text only (others become '?')."""
    def esc(s):
        s = s.encode("latin-1", "replace").decode("latin-1")
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    content = "BT /F1 11 Tf 50 800 Td 14 TL\n"
    for line in lines:
        content += "(%s) '\n" % esc(line)
    content += "ET\n"
    stream = content.encode("latin-1")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
        b"/Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream",
    ]
    out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += (b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objs) + 1, xref))
    return out


def _ubl_invoice(nr, date, seller, buyer, items, currency="EUR"):
    """An XRechnung-like UBL invoice (not schema-complete; realistic enough
    for text extraction and parsers' smoke tests)."""
    total = sum(q * p for _, q, p in items)
    lines = []
    for i, (name, qty, price) in enumerate(items, 1):
        lines.append(
            "  <cac:InvoiceLine>\n"
            "    <cbc:ID>%d</cbc:ID>\n"
            "    <cbc:InvoicedQuantity unitCode=\"C62\">%d</cbc:InvoicedQuantity>\n"
            "    <cbc:LineExtensionAmount currencyID=\"%s\">%.2f</cbc:LineExtensionAmount>\n"
            "    <cac:Item><cbc:Name>%s</cbc:Name></cac:Item>\n"
            "    <cac:Price><cbc:PriceAmount currencyID=\"%s\">%.2f</cbc:PriceAmount></cac:Price>\n"
            "  </cac:InvoiceLine>\n"
            % (i, qty, currency, qty * price, _xml_escape(name), currency, price))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ubl:Invoice xmlns:ubl="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"\n'
        ' xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"\n'
        ' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">\n'
        '  <cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#'
        'urn:xeinkauf.de:kosit:xrechnung_3.0</cbc:CustomizationID>\n'
        '  <cbc:ID>%s</cbc:ID>\n'
        '  <cbc:IssueDate>%s</cbc:IssueDate>\n'
        '  <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>\n'
        '  <cbc:DocumentCurrencyCode>%s</cbc:DocumentCurrencyCode>\n'
        '  <cac:AccountingSupplierParty><cac:Party><cac:PartyLegalEntity>'
        '<cbc:RegistrationName>%s</cbc:RegistrationName>'
        '</cac:PartyLegalEntity></cac:Party></cac:AccountingSupplierParty>\n'
        '  <cac:AccountingCustomerParty><cac:Party><cac:PartyLegalEntity>'
        '<cbc:RegistrationName>%s</cbc:RegistrationName>'
        '</cac:PartyLegalEntity></cac:Party></cac:AccountingCustomerParty>\n'
        '  <cac:LegalMonetaryTotal>'
        '<cbc:PayableAmount currencyID="%s">%.2f</cbc:PayableAmount>'
        '</cac:LegalMonetaryTotal>\n'
        '%s'
        '</ubl:Invoice>\n'
        % (nr, date.isoformat(), currency, _xml_escape(seller),
           _xml_escape(buyer), currency, total, "".join(lines))
    ).encode("utf-8")


def _xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&quot;"))


class MailGenerator:
    """Deterministic mail factory: everything derives from the seed."""

    def __init__(self, seed=1, recipient_domain="example.com",
                 start=datetime.datetime(2024, 1, 2, 8, 0,
                                         tzinfo=datetime.timezone.utc)):
        self.seed = seed
        self.rng = random.Random(seed)
        self.recipient_domain = recipient_domain
        self.clock = start
        self.counter = 0

    # ---------------------------------------------------------- pieces
    def message_id(self, domain=None):
        self.counter += 1
        return "<%d.%d.%08x@%s>" % (self.seed, self.counter,
                                    self.rng.getrandbits(32),
                                    domain or "mail.example.net")

    def _date(self):
        self.clock += datetime.timedelta(minutes=self.rng.randint(1, 600))
        return self.clock

    def _person(self):
        return self.rng.choice(PEOPLE)

    def _number(self, prefix=None):
        prefix = prefix or self.rng.choice(["RE", "INV", "R", "2024-RE"])
        return "%s-%05d" % (prefix, self.rng.randint(1, 99999))

    def _boundaries(self, msg):
        for part in msg.walk():
            if part.is_multipart():
                part.set_boundary("=_tresor_%d_%016x" % (
                    self.seed, self.rng.getrandbits(64)))

    def _headers(self, msg, subject, sender, to, cc=None, date=None,
                 message_id=None, in_reply_to=None):
        msg["From"] = sender
        msg["To"] = to
        if cc:
            msg["Cc"] = cc
        msg["Subject"] = subject
        msg["Date"] = email.utils.format_datetime(date or self._date())
        msg["Message-ID"] = message_id or self.message_id(
            sender.rsplit("@", 1)[-1].rstrip(">"))
        if in_reply_to:
            msg["In-Reply-To"] = in_reply_to
            msg["References"] = in_reply_to
        msg["MIME-Version"] = "1.0"

    def _addresses(self):
        company, domain = self.rng.choice(COMPANIES)
        first, last = self._person()
        local = "buchhaltung" if domain.endswith(".de") else "billing"
        sender = email.utils.formataddr((company, "%s@%s" % (local, domain)))
        rfirst, rlast = self._person()
        to = email.utils.formataddr(
            ("%s %s" % (rfirst, rlast), "%s.%s@%s" % (
                _ascii(rfirst).lower(), _ascii(rlast).lower(),
                self.recipient_domain)))
        return company, domain, (first, last), sender, (rfirst, rlast), to

    def _text(self, german, first, last, closing_name, sentences=3,
              extra=""):
        greet = self.rng.choice(GREETINGS_DE if german else GREETINGS_EN)
        body = [greet.format(first=first, last=last), ""]
        pool = DE_SENTENCES if german else EN_SENTENCES
        for s in self.rng.sample(pool, min(sentences, len(pool))):
            body.append(s[0].upper() + s[1:])
        if extra:
            body += ["", extra]
        body += ["", self.rng.choice(CLOSINGS_DE if german else CLOSINGS_EN),
                 closing_name, ""]
        return "\n".join(body)

    # ---------------------------------------------------------- mails
    def invoice(self, attachments=None, german=None, to=None,
                message_id=None):
        """An invoice / reminder / credit note, usually with a PDF and
        sometimes an XRechnung XML attached."""
        german = self.rng.random() < 0.7 if german is None else german
        company, domain, person, sender, rperson, rto = self._addresses()
        nr = self._number()
        date = self._date()
        subject = self.rng.choice(INVOICE_SUBJECTS_DE if german
                                  else INVOICE_SUBJECTS_EN)
        subject = subject.format(nr=nr, date=date.strftime("%d.%m.%Y"),
                                 company=company)
        items = []
        for name, price in self.rng.sample(PRODUCTS, self.rng.randint(1, 4)):
            items.append((name, self.rng.randint(1, 12), price))
        total = sum(q * p for _, q, p in items)
        table = "\n".join("%3d x %-42s %10.2f EUR" % (q, n, q * p)
                          for n, q, p in items)
        iban = "DE%02d 3705 0198 %04d %04d %02d" % (
            self.rng.randint(10, 99), self.rng.randint(0, 9999),
            self.rng.randint(0, 9999), self.rng.randint(0, 99))
        extra = ("%s\n\n%s: %.2f EUR\n%s: %s" % (
            table, "Gesamtbetrag" if german else "Total", total,
            "Bankverbindung IBAN" if german else "Bank account IBAN", iban))
        text = self._text(german, rperson[0], rperson[1],
                          "%s %s\n%s" % (person[0], person[1], company),
                          extra=extra)
        if attachments is None:
            attachments = ["pdf"]
            if self.rng.random() < 0.3:
                attachments.append("xml")
            if self.rng.random() < 0.1:
                attachments.append("csv")
        msg = EmailMessage(policy=POLICY)
        self._headers(msg, subject, sender, to or rto, date=date,
                      message_id=message_id)
        msg.set_content(text, charset="utf-8", cte="quoted-printable")
        pdf_lines = [company, "", ("Rechnung " if german else "Invoice ") + nr,
                     "Datum: " + date.strftime("%d.%m.%Y"), ""]
        pdf_lines += ["%d x %s  %.2f EUR" % (q, n, q * p) for n, q, p in items]
        pdf_lines += ["", "Gesamt: %.2f EUR" % total, "IBAN " + iban]
        for kind in attachments:
            if kind == "pdf":
                msg.add_attachment(_pdf(pdf_lines), maintype="application",
                                   subtype="pdf", filename="%s.pdf" % nr)
            elif kind == "xml":
                msg.add_attachment(
                    _ubl_invoice(nr, date.date(), company, "%s %s" % rperson,
                                 items),
                    maintype="application", subtype="xml",
                    filename="xrechnung-%s.xml" % nr)
            elif kind == "csv":
                csv = "Position;Menge;Bezeichnung;Betrag\n" + "".join(
                    "%d;%d;%s;%.2f\n" % (i, q, n, q * p)
                    for i, (n, q, p) in enumerate(items, 1))
                msg.add_attachment(csv.encode("utf-8"), maintype="text",
                                   subtype="csv", filename="positionen.csv")
            else:
                raise ValueError("unknown attachment kind %r" % kind)
        self._boundaries(msg)
        return msg.as_bytes(policy=POLICY)

    def letter(self, german=None, html=None, to=None, message_id=None):
        """Everyday business correspondence, sometimes text + HTML."""
        german = self.rng.random() < 0.6 if german is None else german
        company, domain, person, _, rperson, rto = self._addresses()
        sender = email.utils.formataddr(
            ("%s %s" % person, "%s.%s@%s" % (_ascii(person[0]).lower(),
                                              _ascii(person[1]).lower(),
                                              domain)))
        subject = self.rng.choice(LETTER_SUBJECTS_DE if german
                                  else LETTER_SUBJECTS_EN)
        subject = subject.format(nr=self._number("B"),
                                 date=self._date().strftime("%d.%m.%Y"),
                                 company=company)
        text = self._text(german, rperson[0], rperson[1],
                          "%s %s" % person, sentences=self.rng.randint(2, 5))
        msg = EmailMessage(policy=POLICY)
        cc = None
        if self.rng.random() < 0.3:
            f, l = self._person()
            cc = "%s.%s@%s" % (_ascii(f).lower(), _ascii(l).lower(),
                               self.recipient_domain)
        self._headers(msg, subject, sender, to or rto, cc=cc,
                      message_id=message_id)
        msg.set_content(text, charset="utf-8", cte="quoted-printable")
        if html if html is not None else self.rng.random() < 0.4:
            paras = "".join("<p>%s</p>" % _xml_escape(p)
                            for p in text.split("\n\n"))
            msg.add_alternative("<html><body>%s</body></html>\n" % paras,
                                subtype="html", charset="utf-8",
                                cte="quoted-printable")
        self._boundaries(msg)
        return msg.as_bytes(policy=POLICY)

    def mail(self):
        """A random mail: 60 % invoices and reminders, 40 % letters."""
        if self.rng.random() < 0.6:
            return self.invoice()
        return self.letter()

    def mails(self, n):
        for _ in range(n):
            yield self.mail()

    def simple(self, subject=None, body=None, sender="Lieferant <rechnung@lieferant.example>",
               to="alice@example.com", message_id=None, headers=(),
               date=None):
        """A small single-part text mail with exactly the given pieces
        (headers: extra (name, value) pairs, placed before the body)."""
        self.counter += 1
        subject = subject or "Rechnung %s" % self._number()
        body = body if body is not None else (
            "Hallo,\n\nanbei die Rechnung (Mail %d).\n\nGrüße\n" % self.counter)
        lines = [
            "From: %s" % sender,
            "To: %s" % to,
            "Subject: %s" % subject,
            "Date: %s" % (date or email.utils.format_datetime(self._date())),
            "Message-ID: %s" % (message_id or self.message_id()),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ]
        lines += ["%s: %s" % (k, v) for k, v in headers]
        text = "\r\n".join(lines) + "\r\n\r\n" + body.replace(
            "\r\n", "\n").replace("\n", "\r\n")
        return text.encode("utf-8")


# --------------------------------------------------------------------------
# DMARC aggregate reports (RFC 7489 appendix C), as receivers mail them

DAY = 86400
JAN1 = 1767225600  # 2026-01-01T00:00:00Z


def dmarc_report_xml(org="google.com", report_id="r1", domain="example.com",
               begin=JAN1, policy="reject", records=()):
    """A DMARC aggregate report (RFC 7489 appendix C). records: dicts with
    ip, count, dkim, spf (policy_evaluated), disposition, and optional
    auth dkim/spf lists of (domain, result)."""
    rows = []
    for r in records:
        auth = "".join(
            "<dkim><domain>%s</domain><selector>s1</selector>"
            "<result>%s</result></dkim>" % d for d in r.get("auth_dkim", ()))
        auth += "".join(
            "<spf><domain>%s</domain><scope>mfrom</scope>"
            "<result>%s</result></spf>" % s for s in r.get("auth_spf", ()))
        rows.append(
            "<record><row><source_ip>%s</source_ip><count>%d</count>"
            "<policy_evaluated><disposition>%s</disposition><dkim>%s</dkim>"
            "<spf>%s</spf></policy_evaluated></row>"
            "<identifiers><header_from>%s</header_from></identifiers>"
            "<auth_results>%s</auth_results></record>"
            % (r["ip"], r["count"], r.get("disposition", "none"), r["dkim"],
               r["spf"], domain, auth))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<feedback><version>1.0</version><report_metadata>'
            '<org_name>%s</org_name><email>noreply-dmarc@%s</email>'
            '<report_id>%s</report_id><date_range><begin>%d</begin>'
            '<end>%d</end></date_range></report_metadata>'
            '<policy_published><domain>%s</domain><adkim>r</adkim>'
            '<aspf>r</aspf><p>%s</p><sp>%s</sp><pct>100</pct>'
            '</policy_published>%s</feedback>\n'
            % (org, org, report_id, begin, begin + DAY - 1, domain, policy,
               policy, "".join(rows))).encode()


DMARC_OWN = dict(ip="203.0.113.5", count=120, dkim="pass", spf="pass",
           auth_dkim=[("example.com", "pass")],
           auth_spf=[("example.com", "pass")])
DMARC_FORGER = dict(ip="198.51.100.66", count=7, dkim="fail", spf="fail",
              disposition="reject", auth_spf=[("rechnung-example.net", "pass")])
DMARC_NEWSLETTER = dict(ip="192.0.2.9", count=40, dkim="fail", spf="fail",
                  disposition="reject",
                  auth_dkim=[("mailer.example", "pass")],
                  auth_spf=[("bounces.mailer.example", "pass")])


def gz(data):
    return gzip.compress(data)


def zipped(data, name="report.xml"):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return b.getvalue()


def dmarc_report_mail(data, filename, ctype, org="google.com", domain="example.com",
                report_id="r1"):
    """A report mail as receivers send it: a short text and the report
    as an attachment."""
    m = EmailMessage(policy=POLICY)
    m["From"] = email.utils.formataddr(("DMARC Aggregate Report",
                                        "noreply-dmarc@%s" % org))
    m["To"] = "dmarc@example.com"
    m["Subject"] = ("Report Domain: %s Submitter: %s Report-ID: <%s>"
                    % (domain, org, report_id))
    m["Date"] = email.utils.formatdate(JAN1 + 2 * DAY, localtime=False)
    m["Message-ID"] = email.utils.make_msgid(domain=org)
    m.set_content("This is an aggregate report from %s.\n" % org)
    maintype, _, subtype = ctype.partition("/")
    m.add_attachment(data, maintype=maintype, subtype=subtype,
                     filename=filename)
    return bytes(m).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _ascii(s):
    table = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae",
             "Ö": "Oe", "Ü": "Ue", "ë": "e", "ş": "s", "ı": "i",
             "Ş": "S"}
    return "".join(table.get(c, c) for c in s).encode(
        "ascii", "ignore").decode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("outdir")
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    gen = MailGenerator(args.seed)
    for i, raw in enumerate(gen.mails(args.count), 1):
        with open(os.path.join(args.outdir, "%05d.eml" % i), "wb") as f:
            f.write(raw)


if __name__ == "__main__":
    main()
