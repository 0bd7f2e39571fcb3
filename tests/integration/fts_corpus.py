"""Seeded corpus of text-only mails (German and English) and search
queries generated from it, for testing an FTS backend against Dovecot's
own search (tests/integration/test_fts.py).

    from fts_corpus import FtsCorpus, generate_queries
    corpus = FtsCorpus(seed=7, count=300)
    for m in corpus.mails:          # CorpusMail: .raw (bytes, CRLF), .meta
        ...
    queries = generate_queries(corpus, count=240, seed=7)
    for q in queries:               # Query: .key (IMAP search key, str), .kind
        ...

The same seed gives the same bytes and the same queries.

What the mails contain: German and English sentences built from a
vocabulary rich in compounds (Eingangsrechnung, Rechnungsnummer,
Zahlungserinnerung, Straßenbahn, ...), umlauts and ß in bodies and headers;
RFC 2047 encoded headers (Q and B, UTF-8 and ISO-8859-1, encoded words
split inside a word, folded), raw UTF-8 headers now and then; bodies in
UTF-8 or ISO-8859-1, 8bit, quoted-printable (soft line breaks inside words)
or base64; single text/plain, multipart/alternative (two text/plain
versions), multipart/mixed with a text/plain attachment, and mixed around
alternative; From/To/Cc/Bcc with display names with umlauts; X-Mailer,
X-Ticket and Message-ID headers; invoice numbers (RE-2024-0815),
IBAN-like numbers and e-mail addresses in the text.

Deliberately absent:
- binary attachments (PDF, office documents): Dovecot's own search can't
  see their text, so they can't be compared against it (test_fts.py tests
  them separately);
- text/html: Dovecot's FTS (fts-parser-html) indexes HTML as stripped
  text while Dovecot's search without FTS looks at the raw markup, so
  every FTS backend legitimately differs from the oracle on it (a search
  for "body" or "nbsp" would find every HTML mail without FTS).
- message/rfc822 parts (their headers count as body for TEXT/BODY in
  Dovecot's own search; a separate question from substring semantics).

Queries (generate_queries): substrings of at least 3 characters of words
that occur in the corpus, mostly from inside a word (so "rechnung" must
find "Eingangsrechnung"), in varied case, with umlauts and ß; words from
encoded headers; address parts ("mueller@", "@firma"); invoice numbers;
Message-ID and X-Ticket values; strings that occur nowhere; every key
(TEXT BODY SUBJECT FROM TO CC BCC HEADER X-Ticket / Message-ID / Subject
/ X-Mailer) and AND / OR / NOT combinations.

Two rules keep the queries inside the contract "equal to Dovecot's own
search for substrings of >= 3 characters":
- a substring never ends right before a letter with a diacritic: Dovecot's
  search compares decomposed titlecase text, so "schro" finds "Schröder"
  (o + combining diaeresis) without FTS - a quirk no word index shares;
- case changes never turn ß into SS (Dovecot's titlecase keeps ß, so
  "GRÖSSE" does not find "Größe" without FTS either).
"""

import base64
import binascii
import datetime
import email.utils
import random
import re
import unicodedata

# --------------------------------------------------------------------------
# vocabulary

DE_NOUNS = [
    "Eingangsrechnung", "Ausgangsrechnung", "Rechnungsnummer",
    "Rechnungsdatum", "Zahlungserinnerung", "Zahlungsziel", "Mahnung",
    "Gutschrift", "Lieferschein", "Auftragsbestätigung", "Bestellnummer",
    "Kundennummer", "Steuernummer", "Umsatzsteuer", "Mehrwertsteuer",
    "Buchhaltung", "Jahresabschluss", "Steuerberaterin", "Straßenbahn",
    "Straßenbahnhaltestelle", "Hauptstraße", "Grüße", "Größe", "Größenangabe",
    "Müllabfuhr", "Bürobedarf", "Kopierpapier", "Büroklammern",
    "Schreibtischlampe", "Drucker", "Tonerkartusche", "Überweisung",
    "Bankverbindung", "Kontoänderung", "Lastschrift", "Fälligkeit",
    "Prüfung", "Außenprüfung", "Gebäudereinigung", "Hausmeisterdienst",
    "Heizkostenabrechnung", "Nebenkostenabrechnung", "Stromzähler",
    "Wasserschaden", "Versicherungsschein", "Schadensmeldung",
    "Lieferverzögerung", "Rücksendung", "Reklamation", "Kostenvoranschlag",
    "Angebot", "Preisänderung", "Rabattstaffel", "Skontoabzug",
    "Dienstreise", "Reisekostenabrechnung", "Fahrkarte", "Übernachtung",
    "Verpflegungspauschale", "Öffnungszeiten", "Feiertag", "Betriebsferien",
    "Geschäftsführung", "Gesellschafterversammlung", "Außendienst",
    "Wärmepumpe", "Fußbodenheizung", "Gewährleistung", "Maßanfertigung",
    "Süßwaren", "Weißwein", "Äpfel", "Öl", "Übergabeprotokoll",
]
DE_ADJ = [
    "freundliche", "dringende", "offene", "überfällige", "geänderte",
    "vollständige", "fehlerhafte", "pünktliche", "größere", "süße",
    "gemäß", "schließlich", "außerordentliche", "monatliche", "jährliche",
]
DE_VERBS = [
    "überweisen", "prüfen", "bestätigen", "weiterleiten", "begleichen",
    "erstatten", "zurücksenden", "ändern", "schließen", "grüßen",
    "verschieben", "abstimmen", "nachreichen", "beifügen",
]
DE_TEMPLATES = [
    "bitte {verb} Sie die {adj} {noun} bis zum {date}.",
    "die {noun} {nr} wurde an die {noun2} weitergeleitet.",
    "anbei erhalten Sie die {noun} für {place}.",
    "wegen der {noun} verschiebt sich die {noun2} um {n} Tage.",
    "wir möchten Sie an die {adj} {noun} {nr} erinnern.",
    "Ihre {noun} ist bei uns eingegangen, vielen Dank.",
    "die {noun2} in der {street} ist ab {date} geschlossen.",
    "Herr {last} aus {place} fragt nach der {noun}.",
    "Frau {last} übernimmt die {noun} während der {noun2}.",
    "Betrag: {amount} EUR, Rechnungsnummer {nr}, fällig am {date}.",
    "IBAN {iban}, Verwendungszweck {nr}.",
    "für Rückfragen erreichen Sie uns unter {addr}.",
    "die {noun} zur {noun2} liegt als Notiz bei.",
]
EN_WORDS = [
    "invoice", "reminder", "payment", "overdue", "delivery", "shipment",
    "warehouse", "purchase", "order", "quotation", "accounting",
    "receivable", "statement", "refund", "cancellation", "subscription",
    "maintenance", "contract", "renewal", "agreement", "schedule",
    "meeting", "headquarters", "spreadsheet", "workflow", "throughput",
    "compliance", "auditor", "ledger", "reconciliation",
]
EN_TEMPLATES = [
    "please find the {w} for order {nr} attached.",
    "the {w} for {place} is scheduled for {date}.",
    "kindly confirm the {w} and the {w2} by {date}.",
    "our {w} team will contact {first} {last} about the {w2}.",
    "amount due: {amount} EUR, reference {nr}.",
    "the {w} was forwarded to {addr} for {w2}.",
    "we noticed a problem with the {w} of {date}.",
]
PLACES = [
    "München", "Köln", "Düsseldorf", "Nürnberg", "Würzburg", "Lübeck",
    "Osnabrück", "Saarbrücken", "Gießen", "Fürth", "Göttingen",
    "Frankfurt", "Hamburg", "Bremen", "Zürich", "Wien", "London", "Leeds",
]
STREETS = ["Hauptstraße", "Bahnhofstraße", "Schloßallee", "Mühlenweg",
           "Gartenstraße", "Königsplatz", "Süderstraße", "Am Großmarkt"]
PEOPLE = [
    ("Sören", "Müller"), ("Jürgen", "Schäfer"), ("Anna", "Köhler"),
    ("Petra", "Weiß"), ("Thomas", "Becker"), ("Björn", "Größel"),
    ("Hans-Jörg", "Groß"), ("Maria", "Lehmann"), ("John", "Smith"),
    ("Emily", "Clarke"), ("Ursula", "Süßmann"), ("Dörte", "Bäumer"),
    ("Käthe", "Fußmann"), ("Günther", "Öztürk"), ("Renée", "Straßer"),
    ("Oliver", "Nußbaum"), ("Clara", "Hoffmann"), ("Lukas", "Wagner"),
]
COMPANIES = [
    ("Müller Bürobedarf GmbH", "firma-mueller.de"),
    ("Schröder & Söhne KG", "schroeder-soehne.de"),
    ("Bäckerei Weißbrot OHG", "weissbrot.de"),
    ("Stadtwerke Kühlungsborn", "stadtwerke-kuehlungsborn.de"),
    ("Elektro Jäger e.K.", "elektro-jaeger.de"),
    ("Nordlicht Software AG", "nordlicht.example"),
    ("Acme Supplies Ltd", "acme-supplies.co.uk"),
    ("Blue Harbour Logistics", "blueharbour.nl"),
    ("Gebäudeservice Großmann", "grossmann-service.de"),
    ("Steuerbüro Weißenfels", "weissenfels-steuer.de"),
]
MAILERS = ["Thunderbird 115.6.0", "Microsoft Outlook 16.0",
           "Apple Mail (2.3731)", "Roundcube Webmail/1.6.5",
           "Sendmäiler Pro 3.1", "kivitendo 3.8.0", "Mutt/2.2.9"]
SUBJECTS_DE = [
    "Eingangsrechnung {nr}", "Rechnung {nr} vom {date}",
    "Zahlungserinnerung zu {nr}", "Ihre Bestellung {nr} – Lieferschein",
    "Grüße aus {place}", "Größenänderung Auftrag {nr}",
    "Straßenbahn-Fahrkarten für die Dienstreise",
    "AW: Rückfrage zur Überweisung {nr}", "WG: Öffnungszeiten über Feiertage",
    "Gutschrift {nr} – Rücksendung", "Mahnung: überfällige Rechnung {nr}",
    "Kostenvoranschlag Fußbodenheizung {place}",
    "Nebenkostenabrechnung {year} für die {street}",
]
SUBJECTS_EN = [
    "Invoice {nr}", "Payment reminder for order {nr}",
    "Re: Delivery schedule {place}", "Fwd: Quotation {nr}",
    "Subscription renewal – {nr}", "Meeting notes from {place}",
]
CLOSINGS = ["Mit freundlichen Grüßen", "Viele Grüße", "Beste Grüße",
            "Kind regards", "Best regards"]

# Words that must never appear in the corpus (the "nothing found" queries
# and the attachment tests rely on it).
ABSENT_WORDS = ["qxzvbnr", "Quarkschnitte", "Zwölfuhrläuten",
                "unobtainium", "Xylophonstraße", "plötzlichkeit", "wqqv@",
                "RE-1999-0000"]


def _ascii(s):
    table = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae",
             "Ö": "Oe", "Ü": "Ue", "é": "e", "è": "e"}
    return "".join(table.get(c, c) for c in s).encode(
        "ascii", "ignore").decode()


def _latin1_ok(s):
    try:
        s.encode("iso-8859-1")
        return True
    except UnicodeEncodeError:
        return False


# --------------------------------------------------------------------------
# RFC 2047


def _q_encode(data, phrase=False):
    """Q encoding of bytes; in a phrase only letters, digits and !*+-/
    stay literal (RFC 2047 5.(3))."""
    safe = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
               b"0123456789!*+-/")
    if not phrase:
        safe |= set(b".,:;()<>'?[]@")
    out = []
    for b in data:
        if b == 0x20:
            out.append("_")
        elif b in safe:
            out.append(chr(b))
        else:
            out.append("=%02X" % b)
    return "".join(out)


def encode_words(text, charset, enc, rng, phrase=False, max_chunk=None):
    """text as one or more encoded words separated by folding whitespace;
    chunks are cut at random character positions, also inside words
    (decoders must join adjacent encoded words without the space)."""
    chars = list(text)
    chunks = []
    i = 0
    while i < len(chars):
        n = rng.randint(4, max_chunk or 18)
        chunks.append("".join(chars[i:i + n]))
        i += n
    words = []
    for chunk in chunks:
        data = chunk.encode(charset)
        if enc == "B":
            body = base64.b64encode(data).decode()
        else:
            body = _q_encode(data, phrase)
        words.append("=?%s?%s?%s?=" % (charset, enc, body))
    return "\r\n ".join(words)


# --------------------------------------------------------------------------


class CorpusMail:
    """One generated mail: raw bytes (CRLF) and what went into it as
    decoded text (meta: subject, from_name, from_addr, to/cc/bcc lists of
    (name, addr), ticket, message_id, mailer, bodies (list of str), nrs
    (invoice numbers))."""

    def __init__(self, raw, meta):
        self.raw = raw
        self.meta = meta

    def texts(self):
        """{field: decoded text} for the query generator."""
        m = self.meta
        return {
            "subject": m["subject"],
            "from": "%s <%s>" % (m["from_name"], m["from_addr"]),
            "to": " ".join("%s <%s>" % a for a in m["to"]),
            "cc": " ".join("%s <%s>" % a for a in m["cc"]),
            "bcc": " ".join("%s <%s>" % a for a in m["bcc"]),
            "ticket": m["ticket"] or "",
            "message_id": m["message_id"],
            "mailer": m["mailer"] or "",
            "body": "\n".join(m["bodies"]),
        }


class FtsCorpus:
    """count text-only mails derived from seed (see the module doc)."""

    def __init__(self, seed=1, count=300, domain="example.com"):
        self.seed = seed
        self.rng = random.Random("fts-corpus-%d" % seed)
        self.domain = domain
        self.clock = datetime.datetime(2024, 3, 1, 7, 30,
                                       tzinfo=datetime.timezone.utc)
        self.mails = [self._mail(i) for i in range(count)]

    # ---------------------------------------------------------- pieces
    def _nr(self):
        r = self.rng
        kind = r.random()
        if kind < 0.5:
            return "RE-%d-%04d" % (r.choice([2023, 2024, 2025]),
                                   r.randint(1, 9999))
        if kind < 0.75:
            return "R%06d" % r.randint(1, 999999)
        return "INV-%05d" % r.randint(1, 99999)

    def _date_text(self):
        d = datetime.date(2024, 1, 1) + datetime.timedelta(
            days=self.rng.randint(0, 700))
        return d.strftime("%d.%m.%Y")

    def _iban(self):
        r = self.rng
        return "DE%02d %04d %04d %04d %04d %02d" % tuple(
            r.randint(10 if i == 0 else 0, 99 if i in (0, 5) else 9999)
            for i in range(6))

    def _person_addr(self, domain=None):
        first, last = self.rng.choice(PEOPLE)
        domain = domain or self.rng.choice(
            [self.domain, self.rng.choice(COMPANIES)[1]])
        local = "%s.%s" % (_ascii(first).lower(), _ascii(last).lower())
        if self.rng.random() < 0.3:
            local = _ascii(last).lower()
        return ("%s %s" % (first, last), "%s@%s" % (local, domain))

    def _sentence(self, german, ctx):
        r = self.rng
        first, last = r.choice(PEOPLE)
        fill = dict(
            noun=r.choice(DE_NOUNS), noun2=r.choice(DE_NOUNS),
            adj=r.choice(DE_ADJ), verb=r.choice(DE_VERBS),
            nr=r.choice(ctx["nrs"]), date=self._date_text(),
            place=r.choice(PLACES), street=r.choice(STREETS),
            n=r.randint(2, 21), first=first, last=last,
            amount="%d,%02d" % (r.randint(10, 99999), r.randint(0, 99)),
            iban=self._iban(), addr=ctx["contact"],
            w=r.choice(EN_WORDS), w2=r.choice(EN_WORDS))
        tpl = r.choice(DE_TEMPLATES if german else EN_TEMPLATES)
        s = tpl.format(**fill)
        return s[0].upper() + s[1:]

    def _text(self, german, ctx, sentences):
        r = self.rng
        lines = [r.choice(["Sehr geehrte Damen und Herren,",
                           "Hallo %s," % ctx["to_first"],
                           "Liebe Frau %s," % ctx["to_last"]]
                          if german else
                          ["Dear Sir or Madam,", "Hello %s," % ctx["to_first"]]),
                 ""]
        para = []
        for _ in range(sentences):
            para.append(self._sentence(german, ctx))
            if r.random() < 0.3:
                lines.append(" ".join(para))
                lines.append("")
                para = []
        if para:
            lines.append(" ".join(para))
            lines.append("")
        if r.random() < 0.25:
            # one long line: quoted-printable soft breaks fall inside words
            lines.append(" ".join(self._sentence(german, ctx)
                                  for _ in range(4)))
            lines.append("")
        lines += [r.choice(CLOSINGS), ctx["from_name"], ""]
        return "\n".join(lines)

    def _header_value(self, text, phrase=False, allow_raw=True):
        """A header value for text: plain ASCII as it is; otherwise RFC
        2047 (Q or B, UTF-8 or ISO-8859-1 when it fits) or, rarely, raw
        UTF-8 (returned as str; the caller encodes UTF-8)."""
        r = self.rng
        if all(ord(c) < 128 for c in text) and r.random() < 0.8:
            return text
        choice = r.random()
        if allow_raw and choice < 0.12:
            if phrase and re.search(r"[^\w \-]", text):
                return '"%s"' % text
            return text
        charset = "iso-8859-1" if (_latin1_ok(text) and r.random() < 0.35) \
            else "utf-8"
        enc = "B" if r.random() < 0.4 else "Q"
        if not phrase and r.random() < 0.4 and " " in text:
            # "Rechnung =?..?= rest": only part of the value encoded
            head, _, tail = text.partition(" ")
            if all(ord(c) < 128 for c in head):
                return head + " " + encode_words(tail, charset, enc, r)
        return encode_words(text, charset, enc, r, phrase=phrase)

    def _addr_header(self, addrs):
        out = []
        for name, addr in addrs:
            if not name:
                out.append(addr)
            else:
                out.append("%s <%s>" % (self._header_value(name, phrase=True),
                                        addr))
        return ",\r\n ".join(out)

    # ---------------------------------------------------------- body parts
    def _part(self, text, extra_headers=()):
        """(header lines, body bytes) of a text/plain part in a random
        charset and transfer encoding."""
        r = self.rng
        charset = "utf-8"
        if _latin1_ok(text) and r.random() < 0.35:
            charset = "iso-8859-1"
        data = text.replace("\n", "\r\n").encode(charset)
        cte = r.choice(["8bit", "quoted-printable", "quoted-printable",
                        "base64"])
        if all(b < 128 for b in data) and cte == "8bit":
            cte = "7bit"
        if cte == "quoted-printable":
            body = binascii.b2a_qp(data.replace(b"\r\n", b"\n"),
                                   istext=True).replace(b"\n", b"\r\n")
        elif cte == "base64":
            body = base64.encodebytes(data).replace(b"\n", b"\r\n")
        else:
            body = data
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        ctype = "text/plain; charset=%s" % charset
        if r.random() < 0.2:
            ctype += "; format=flowed"
        hdrs = ["Content-Type: %s" % ctype,
                "Content-Transfer-Encoding: %s" % cte] + list(extra_headers)
        return hdrs, body

    def _boundary(self):
        return "=_fts_%d_%012x" % (self.seed, self.rng.getrandbits(48))

    @staticmethod
    def _multipart(subtype, boundary, parts):
        """parts: (header lines, body bytes) -> (header lines, body)."""
        body = b"This is a multi-part message in MIME format.\r\n\r\n"
        for hdrs, pbody in parts:
            body += b"--" + boundary.encode() + b"\r\n"
            body += "\r\n".join(hdrs).encode("utf-8") + b"\r\n\r\n" + pbody
        body += b"--" + boundary.encode() + b"--\r\n"
        return ['Content-Type: multipart/%s;\r\n boundary="%s"'
                % (subtype, boundary)], body

    # ---------------------------------------------------------- a mail
    def _mail(self, i):
        r = self.rng
        german = r.random() < 0.7
        company, cdomain = r.choice(COMPANIES)
        if r.random() < 0.5:
            from_name = company
            from_addr = "%s@%s" % (r.choice(["buchhaltung", "rechnung",
                                             "info", "vertrieb", "billing"]),
                                   cdomain)
        else:
            from_name, from_addr = self._person_addr(cdomain)
        to = [self._person_addr(self.domain)]
        if r.random() < 0.2:
            to.append(self._person_addr())
        cc = [self._person_addr() for _ in range(r.choice([0, 0, 1, 2]))]
        bcc = [self._person_addr() for _ in range(r.choice([0, 0, 0, 1]))]
        if r.random() < 0.1:
            to.append(("", "team@%s" % self.domain))
        nrs = [self._nr() for _ in range(r.randint(1, 2))]
        ctx = dict(nrs=nrs, contact=r.choice([from_addr, to[0][1]]),
                   from_name=from_name,
                   to_first=to[0][0].split()[0] if to[0][0] else "Team",
                   to_last=to[0][0].split()[-1] if to[0][0] else "Team")
        subject = r.choice(SUBJECTS_DE if german else SUBJECTS_EN).format(
            nr=nrs[0], date=self._date_text(), place=r.choice(PLACES),
            street=r.choice(STREETS), year=r.choice([2023, 2024]))
        ticket = ("TCK-%05d" % r.randint(1, 99999)) if r.random() < 0.4 \
            else None
        mailer = r.choice(MAILERS) if r.random() < 0.6 else None
        self.clock += datetime.timedelta(minutes=r.randint(3, 900))
        mid_local = "%s.%d.%06x" % (_ascii(r.choice(DE_NOUNS)).lower()[:10],
                                    i, r.getrandbits(24))
        message_id = "<%s@%s>" % (mid_local, cdomain)

        hdrs = [
            "Return-Path: <%s>" % from_addr,
            "From: %s" % self._addr_header([(from_name, from_addr)]),
            "To: %s" % self._addr_header(to),
        ]
        if cc:
            hdrs.append("Cc: %s" % self._addr_header(cc))
        if bcc:
            hdrs.append("Bcc: %s" % self._addr_header(bcc))
        hdrs.append("Subject: %s" % self._header_value(subject))
        hdrs.append("Date: %s" % email.utils.format_datetime(self.clock))
        hdrs.append("Message-ID: %s" % message_id)
        if mailer:
            hdrs.append("X-Mailer: %s" % self._header_value(mailer))
        if ticket:
            hdrs.append("X-Ticket: %s" % ticket)
        hdrs.append("MIME-Version: 1.0")

        main = self._text(german, ctx, r.randint(2, 7))
        bodies = [main]
        structure = r.random()
        if structure < 0.45:
            part_hdrs, body = self._part(main)
        elif structure < 0.65:
            alt_text = self._text(not german, ctx, r.randint(1, 3))
            bodies.append(alt_text)
            part_hdrs, body = self._multipart(
                "alternative", self._boundary(),
                [self._part(main), self._part(alt_text)])
        else:
            note = "Notiz zu %s\n\n%s\n" % (
                nrs[-1], " ".join(self._sentence(german, ctx)
                                  for _ in range(r.randint(1, 3))))
            bodies.append(note)
            fname = r.choice(["notiz.txt", "positionen.txt",
                              "Prüfvermerk.txt", "readme.txt"])
            disp = 'Content-Disposition: attachment; filename="%s"' % fname
            if not all(ord(c) < 128 for c in fname):
                disp = ("Content-Disposition: attachment;\r\n filename*="
                        "utf-8''%s" % "".join(
                            c if ord(c) < 128 else "".join(
                                "%%%02X" % b for b in c.encode())
                            for c in fname))
            att = self._part(note, [disp])
            if structure < 0.85:
                first = self._part(main)
            else:
                alt_text = self._text(not german, ctx, r.randint(1, 2))
                bodies.append(alt_text)
                first = self._multipart(
                    "alternative", self._boundary(),
                    [self._part(main), self._part(alt_text)])
            part_hdrs, body = self._multipart("mixed", self._boundary(),
                                              [first, att])
        raw = ("\r\n".join(hdrs + part_hdrs) + "\r\n\r\n").encode("utf-8") \
            + body
        meta = dict(subject=subject, from_name=from_name,
                    from_addr=from_addr, to=to, cc=cc, bcc=bcc,
                    ticket=ticket, message_id=message_id, mailer=mailer,
                    bodies=bodies, nrs=nrs, german=german)
        return CorpusMail(raw, meta)


# --------------------------------------------------------------------------
# queries


class Query:
    """One UID SEARCH criterion: key is the text after "UID SEARCH
    CHARSET UTF-8 " with every string as a %s placeholder (strings are
    sent as literals), strings the values; kind says how it was made."""

    def __init__(self, template, strings, kind):
        self.template = template
        self.strings = list(strings)
        self.kind = kind

    def display(self):
        return self.template % tuple('"%s"' % s for s in self.strings)

    def __repr__(self):
        return "Query(%s)" % self.display()


def _diacritic(c):
    """A letter that decomposes into a base letter + combining mark."""
    d = unicodedata.normalize("NFD", c)
    return len(d) > 1 and unicodedata.combining(d[1]) != 0


def _case(s, rng):
    """s in a random case; ß stays ß (no SS)."""
    def up(t):
        return "".join(c if c == "ß" else c.upper() for c in t)
    k = rng.random()
    if k < 0.35:
        return s.lower()
    if k < 0.55:
        return up(s)
    if k < 0.75:
        return s[:1].upper() + s[1:].lower()
    if k < 0.9:
        return "".join(up(c) if rng.random() < 0.5 else c.lower() for c in s)
    return s


WORD_RE = re.compile(r"[^\W_]+(?:[-.][^\W_]+)*")


def _words(text):
    return [w for w in WORD_RE.findall(text) if len(w) >= 3]


def substring(word, rng, min_len=3, inner=True):
    """A substring of word of >= min_len characters, preferably from
    inside the word, never ending right before a letter with a
    diacritic. None if there is none."""
    n = len(word)
    cands = []
    for i in range(n):
        for j in range(i + min_len, n + 1):
            if j < n and _diacritic(word[j]):
                continue
            if not (word[i].isalnum() and word[j - 1].isalnum()):
                continue
            cands.append((i, j))
    if not cands:
        return None
    if inner:
        strict = [(i, j) for i, j in cands if i > 0 and (j < n or i > 1)]
        if strict:
            cands = strict
    i, j = rng.choice(cands)
    return word[i:j]


FIELD_KEYS = {
    "subject": ["SUBJECT %s", "HEADER Subject %s", "TEXT %s"],
    "from": ["FROM %s", "TEXT %s", "HEADER From %s"],
    "to": ["TO %s"],
    "cc": ["CC %s"],
    "bcc": ["BCC %s"],
    "ticket": ["HEADER X-Ticket %s"],
    "message_id": ["HEADER Message-ID %s"],
    "mailer": ["HEADER X-Mailer %s"],
    "body": ["BODY %s", "TEXT %s"],
}


def generate_queries(corpus, count=240, seed=1):
    """At least count deterministic Query objects over the corpus (see
    the module doc)."""
    rng = random.Random("fts-queries-%d" % seed)
    mails = corpus.mails
    texts = [m.texts() for m in mails]
    out = []
    seen = set()

    def add(template, strings, kind):
        k = (template, tuple(strings))
        if k not in seen:
            seen.add(k)
            out.append(Query(template, strings, kind))

    def pick(field):
        for _ in range(50):
            t = rng.choice(texts)[field]
            ws = _words(t)
            if ws:
                return rng.choice(ws)
        return None

    def simple(field, kind="substring"):
        """(template, string) for one field, or None."""
        w = pick(field)
        if w is None:
            return None
        if kind == "word":
            s = w
        else:
            s = substring(w, rng)
            if s is None:
                return None
        return rng.choice(FIELD_KEYS[field]), _case(s, rng)

    # 1. fixed probes: compounds, umlauts, ß, address parts, numbers
    fixed = [
        ("BODY %s", "rechnung"), ("TEXT %s", "RECHNUNG"),
        ("SUBJECT %s", "rechnung"), ("BODY %s", "eingangsrechnung"),
        ("TEXT %s", "nummer"), ("BODY %s", "erinnerung"),
        ("TEXT %s", "straße"), ("BODY %s", "STRAßE"),
        ("TEXT %s", "Straßenbahn"), ("BODY %s", "bahn"),
        ("TEXT %s", "grüße"), ("BODY %s", "GRÜßE"), ("TEXT %s", "größe"),
        ("SUBJECT %s", "Größe"), ("FROM %s", "müller"),
        ("TEXT %s", "MÜLLER"), ("FROM %s", "mueller@"),
        ("FROM %s", "@firma"), ("TO %s", "@example.com"),
        ("CC %s", "@weissbrot"), ("BCC %s", "@example"),
        ("TEXT %s", "überweisung"), ("BODY %s", "weisung"),
        ("BODY %s", "äpfel"), ("TEXT %s", "süß"), ("FROM %s", "süßmann"),
        ("TO %s", "Öztürk"), ("CC %s", "fußmann"), ("HEADER X-Mailer %s",
                                                   "sendmäiler"),
        ("HEADER X-Ticket %s", "TCK-"), ("HEADER Message-ID %s", "@firma"),
        ("TEXT %s", "iban"), ("BODY %s", "EUR"),
        ("SUBJECT %s", "AW:"), ("TEXT %s", "Notiz"),
    ]
    for tpl, s in fixed:
        add(tpl, [s], "fixed")
    for w in ABSENT_WORDS:
        add(rng.choice(["TEXT %s", "BODY %s", "SUBJECT %s", "FROM %s"]),
            [w], "absent")

    # 2. invoice numbers, whole and in parts
    for _ in range(12):
        m = rng.choice(mails)
        nr = rng.choice(m.meta["nrs"])
        parts = re.split(r"-", nr)
        variants = [nr, nr.lower(), parts[-1], "-".join(parts[-2:])]
        add(rng.choice(["TEXT %s", "BODY %s", "SUBJECT %s"]),
            [rng.choice(variants)], "number")
    # tickets and Message-IDs
    for _ in range(5):
        m = rng.choice([m for m in mails if m.meta["ticket"]] or mails)
        t = m.meta["ticket"] or "TCK-00000"
        add("HEADER X-Ticket %s", [rng.choice([t, t[4:], t.lower()])],
            "ticket")
        mid = m.meta["message_id"].strip("<>")
        local, _, dom = mid.partition("@")
        add("HEADER Message-ID %s",
            [rng.choice([mid, local, local[3:], "@" + dom.split(".")[0]])],
            "message-id")

    # 3. address parts
    for _ in range(16):
        m = rng.choice(mails)
        field = rng.choice(["from", "to", "cc", "bcc"])
        addrs = ([("", m.meta["from_addr"])] if field == "from"
                 else m.meta[field])
        if not addrs:
            continue
        addr = rng.choice(addrs)[1]
        local, _, dom = addr.partition("@")
        s = rng.choice([local + "@", "@" + dom.split(".")[0],
                        local[1:] + "@" + dom[:3], dom, local])
        add("%s %%s" % field.upper(), [_case(s, rng)], "address")

    # 4. whole words and inner substrings of every field
    weights = [("body", 40), ("subject", 16), ("from", 10), ("to", 6),
               ("cc", 5), ("bcc", 4), ("ticket", 2), ("message_id", 3),
               ("mailer", 2)]
    fields = [f for f, w in weights for _ in range(w)]
    target_simple = max(count - len(out) - 70, 60)
    for _ in range(target_simple):
        field = rng.choice(fields)
        kind = "word" if rng.random() < 0.2 else "substring"
        q = simple(field, kind)
        if q:
            add(q[0], [q[1]], kind + ":" + field)

    # 5. phrases of two words (IMAP substring semantics cross word
    # boundaries)
    for _ in range(6):
        t = rng.choice(texts)["body"]
        ws = re.findall(r"[^\W_]{3,} [^\W_]{3,}", t)
        if ws:
            add(rng.choice(["BODY %s", "TEXT %s"]),
                [_case(rng.choice(ws), rng)], "phrase")

    # 5b. longer phrases, substrings across word boundaries (the end of
    # one word and the start of the next: IMAP SEARCH is a substring of
    # the whole text), search strings in decomposed form (NFD, as some
    # clients send them; Dovecot normalises both sides)
    for _ in range(4):
        t = rng.choice(texts)["body"]
        ws = re.findall(r"[^\W_]{2,}(?: [^\W_]{2,}){3}", t)
        if ws:
            add("TEXT %s", [_case(rng.choice(ws), rng)], "phrase")
    for _ in range(8):
        t = rng.choice(texts)["body"]
        cands = [m.start() for m in re.finditer(r"[^\W_]{3} [^\W_]{3}", t)]
        if not cands:
            continue
        i = rng.choice(cands)
        a = i + rng.randint(0, 2)
        b = i + 4 + rng.randint(1, 3)
        sub = t[a:b]
        if (not sub[0].isalnum() or not sub[-1].isalnum() or "\n" in sub
                or (b < len(t) and _diacritic(t[b]))):
            continue
        add(rng.choice(["TEXT %s", "BODY %s"]), [_case(sub, rng)],
            "cross-word")
    for s in ["Müller", "größe", "Straße", "überweisung", "Köhler"]:
        add(rng.choice(["TEXT %s", "BODY %s", "FROM %s"]),
            [unicodedata.normalize("NFD", s)], "nfd")
    # HEADER name "" matches every mail that has the field
    for h in ["X-Ticket", "X-Mailer", "Cc"]:
        add("HEADER %s %%s" % h, [""], "header-exists")
    add("NOT HEADER X-Ticket %s", [""], "header-exists")

    # 6. combinations
    def any_simple():
        for _ in range(20):
            q = simple(rng.choice(fields))
            if q:
                return q
        return ("TEXT %s", "rechnung")

    def absent():
        return ("TEXT %s", rng.choice(ABSENT_WORDS))

    for _ in range(22):  # AND
        a, b = any_simple(), any_simple()
        add("%s %s" % (a[0], b[0]), [a[1], b[1]], "and")
    for _ in range(16):  # OR
        a, b = any_simple(), any_simple()
        add("OR %s %s" % (a[0], b[0]), [a[1], b[1]], "or")
    for _ in range(10):  # NOT
        a = any_simple()
        add("NOT %s" % a[0], [a[1]], "not")
    for _ in range(6):  # AND NOT
        a, b = any_simple(), any_simple()
        add("%s NOT %s" % (a[0], b[0]), [a[1], b[1]], "and-not")
    for _ in range(10):  # nested
        a, b, c = any_simple(), any_simple(), any_simple()
        add("OR (%s %s) NOT %s" % (a[0], b[0], c[0]), [a[1], b[1], c[1]],
            "nested")
    for _ in range(4):
        a, b = any_simple(), absent()
        add("OR %s %s" % (b[0], a[0]), [b[1], a[1]], "or-absent")
        add("NOT %s" % b[0], [b[1]], "not-absent")
    for _ in range(4):
        a, b, c = any_simple(), any_simple(), any_simple()
        add("OR (OR %s %s) (%s NOT SUBJECT %%s)" % (a[0], b[0], c[0]),
            [a[1], b[1], c[1], "zzzq"], "nested")
    while len(out) < count:
        q = any_simple()
        add(q[0], [q[1]], "filler")
    return out


def main():
    import argparse
    import os
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--queries", action="store_true",
                    help="print the queries instead of writing mails")
    ap.add_argument("outdir", nargs="?")
    args = ap.parse_args()
    corpus = FtsCorpus(args.seed, args.count)
    if args.queries or not args.outdir:
        for q in generate_queries(corpus, seed=args.seed):
            print("%-12s %s" % (q.kind, q.display()))
        return
    os.makedirs(args.outdir, exist_ok=True)
    for i, m in enumerate(corpus.mails, 1):
        with open(os.path.join(args.outdir, "%05d.eml" % i), "wb") as f:
            f.write(m.raw)


if __name__ == "__main__":
    main()
