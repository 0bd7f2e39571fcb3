"""Seeded generator of a large business-mail corpus for bench/fts.py:
German and English mail with compounds, umlauts, invoice, customer and
order numbers, names and addresses; plain text, text + HTML, replies with
quoted text, a share with PDF attachments.

    from fts_corpus_big import BigCorpus
    corpus = BigCorpus(seed=42, count=20000, pdf_share=0.15,
                       pdf_image_kb=0)
    for m in corpus.generate():     # BigMail: .raw (bytes, LF), .pdf_text
        ...
    corpus.attachment_words         # [(word, message index)]

The PDFs are one- or two-page text documents (Helvetica, WinAnsiEncoding
so umlauts come out of pdftotext as umlauts, Flate-compressed content
streams; with pdf_image_kb an incompressible image of that size stands
in for the logo or letterhead that makes real PDFs large), so a search
engine finds their words only by extracting the text - never by scanning the mail's bytes. Each PDF carries two invented
words and one project number that occur nowhere else in the corpus (no
header, body or other PDF contains them, not even as a substring): the
attachment-only words the benchmark's queries look for.

Vocabulary: a few hundred real German and English stems, from which a
seeded set of German compounds is formed (Wartungsvertrag,
Stromrechnung, Lieferantenrechnungsprüfung, ...); words are drawn with a
Zipf distribution, so there are frequent words and a long tail, like in
real mail. Every mail also carries numbers of its own (invoice, customer,
order, tracking numbers, amounts, IBANs, phone numbers) and some a DKIM
signature - the high-cardinality tokens real mail is full of.

Python 3.11 standard library only.
"""

import base64
import bisect
import datetime
import email.utils
import quopri
import random
import re
import zlib
from email.header import Header

# --------------------------------------------------------------------------
# vocabulary

DE_STEMS = [
    "Rechnung", "Zahlung", "Lieferung", "Vertrag", "Bestellung", "Auftrag",
    "Angebot", "Kunde", "Lieferant", "Ware", "Wartung", "Steuer",
    "Buchhaltung", "Konto", "Betrag", "Mahnung", "Frist", "Termin",
    "Prüfung", "Jahr", "Abschluss", "Büro", "Material", "Papier", "Druck",
    "Strom", "Gas", "Wasser", "Miete", "Leasing", "Fahrzeug",
    "Versicherung", "Beitrag", "Gebühr", "Porto", "Versand", "Paket",
    "Lager", "Bestand", "Inventur", "Personal", "Gehalt", "Lohn", "Urlaub",
    "Antrag", "Genehmigung", "Reise", "Kosten", "Spesen", "Beleg",
    "Quittung", "Gutschrift", "Storno", "Rabatt", "Preis", "Liste",
    "Katalog", "Muster", "Qualität", "Kontrolle", "Reklamation", "Schaden",
    "Garantie", "Service", "Projekt", "Plan", "Bericht", "Protokoll",
    "Sitzung", "Besprechung", "Kalender", "Woche", "Monat", "Quartal",
    "Umsatz", "Gewinn", "Bilanz", "Budget", "Finanz", "Bank",
    "Überweisung", "Lastschrift", "Mandat", "Anschrift", "Telefon",
    "Nummer", "Vorgang", "Akte", "Ordner", "Archiv", "Datei", "Dokument",
    "Unterlage", "Formular", "Unterschrift", "Stempel", "Zertifikat",
    "Lizenz", "Software", "Server", "Netzwerk", "Drucker", "Toner",
    "Stuhl", "Tisch", "Schrank", "Regal", "Möbel", "Küche", "Kaffee",
    "Reinigung", "Hausmeister", "Gebäude", "Energie", "Heizung",
    "Verbrauch", "Zähler", "Ablesung", "Abschlag", "Nachzahlung",
    "Erstattung", "Vorauszahlung", "Sicherheit", "Schlüssel", "Zugang",
    "Anmeldung", "Schulung", "Seminar", "Messe", "Werbung", "Anzeige",
    "Verpackung", "Transport", "Spedition", "Fracht", "Zoll", "Einfuhr",
    "Finanzamt", "Bescheid", "Einspruch", "Verlängerung", "Kündigung",
    "Änderung", "Öffnung", "Größe", "Gewicht", "Menge", "Stück",
    "Einheit", "Position", "Artikel", "Händler", "Großhandel", "Einkauf",
    "Verkauf", "Vertrieb", "Marketing", "Entwicklung", "Fertigung",
    "Montage", "Ersatzteil", "Werkzeug", "Maschine", "Anlage", "Halle",
    "Parkplatz", "Fuhrpark", "Tankkarte", "Kilometer", "Fahrt", "Hotel",
    "Flug", "Bahn", "Ticket", "Buchung", "Storno", "Teilnahme", "Gast",
    "Mitarbeiter", "Abteilung", "Leitung", "Geschäft", "Führung",
    "Gesellschaft", "Beratung", "Stunde", "Tag", "Satz", "Pauschale",
    "Aufwand", "Leistung", "Zeitraum", "Abrechnung", "Nachweis",
    "Bestätigung", "Mitteilung", "Erinnerung", "Einladung", "Anfrage",
    "Rückfrage", "Auskunft", "Hinweis", "Übersicht", "Aufstellung",
    "Kalkulation", "Schätzung", "Entwurf", "Freigabe", "Korrektur",
    "Daten", "Schutz", "Datenschutz", "Vereinbarung", "Bedingung",
    "Versand", "Adresse", "Empfang", "Eingang", "Ausgang", "Rücksendung",
]
DE_LINK = {"ung": "s", "heit": "s", "keit": "s", "schaft": "s",
           "tion": "s", "tät": "s", "ing": "s", "e": "n"}
DE_FUNCTION = [
    "der", "die", "das", "und", "mit", "für", "von", "bitte", "wir", "Sie",
    "Ihnen", "ist", "sind", "wurde", "haben", "noch", "auch", "bereits",
    "gern", "zur", "zum", "im", "am", "bei", "nach", "vor", "über",
    "unter", "gemäß", "sowie", "oder", "aber", "dass", "wenn", "damit",
    "uns", "unsere", "Ihre", "diese", "eine", "einen", "den", "dem", "des",
]
DE_VERBS = [
    "überweisen", "prüfen", "bestätigen", "weiterleiten", "begleichen",
    "erstatten", "zurücksenden", "ändern", "schließen", "verschieben",
    "abstimmen", "nachreichen", "beifügen", "freigeben", "buchen",
    "erledigen", "klären", "zusenden", "abholen", "liefern", "berechnen",
    "korrigieren", "unterschreiben", "archivieren", "einreichen",
    "mitteilen", "besprechen", "vereinbaren", "kündigen", "verlängern",
]
DE_ADJ = [
    "offene", "dringende", "überfällige", "geänderte", "vollständige",
    "fehlerhafte", "pünktliche", "größere", "monatliche", "jährliche",
    "aktuelle", "neue", "bisherige", "vereinbarte", "gültige", "nächste",
    "letzte", "gesamte", "anteilige", "zusätzliche", "übliche",
    "schriftliche", "verbindliche", "vorläufige", "endgültige",
]
EN_WORDS = [
    "invoice", "reminder", "payment", "overdue", "delivery", "shipment",
    "warehouse", "purchase", "order", "quotation", "accounting",
    "receivable", "statement", "refund", "cancellation", "subscription",
    "maintenance", "contract", "renewal", "agreement", "schedule",
    "meeting", "headquarters", "spreadsheet", "workflow", "compliance",
    "auditor", "ledger", "reconciliation", "supplier", "customer",
    "account", "balance", "budget", "forecast", "quarter", "revenue",
    "expense", "receipt", "voucher", "discount", "price", "quote",
    "proposal", "project", "milestone", "deadline", "report", "summary",
    "review", "approval", "signature", "document", "attachment", "folder",
    "archive", "license", "software", "server", "network", "printer",
    "toner", "office", "furniture", "facility", "cleaning", "security",
    "access", "training", "conference", "travel", "hotel", "flight",
    "booking", "freight", "customs", "shipping", "tracking", "parcel",
    "warranty", "repair", "replacement", "service", "support", "ticket",
]
EN_FUNCTION = [
    "the", "a", "and", "of", "to", "for", "with", "on", "in", "by",
    "please", "we", "you", "your", "our", "is", "are", "was", "has",
    "have", "will", "can", "this", "that", "as", "from", "at", "also",
]
EN_VERBS = [
    "confirm", "review", "forward", "settle", "approve", "send", "check",
    "update", "schedule", "cancel", "renew", "sign", "process", "ship",
    "deliver", "invoice", "transfer", "discuss", "attach", "resolve",
]
FIRST = [
    "Jürgen", "Anna", "Sören", "Petra", "Thomas", "Zoë", "Hans-Jörg",
    "Maria", "John", "Emily", "Lars", "Ayşe", "Günther", "Käthe", "Björn",
    "Dörte", "Ursula", "Renée", "Oliver", "Clara", "Lukas", "Sabine",
    "Michael", "Andrea", "Stefan", "Claudia", "Frank", "Monika", "Jörg",
    "Birgit", "Uwe", "Gabriele", "Matthias", "Susanne", "Ralf", "Heike",
    "Torsten", "Katrin", "Sven", "Nicole", "David", "Sarah", "James",
    "Laura", "Peter", "Julia", "Markus", "Jana", "Tobias", "Lena",
    "Florian", "Mareike", "Henrik", "Ines", "Kai", "Tanja", "Ole", "Nina",
]
LAST = [
    "Schäfer", "Köhler", "Müller", "Weiß", "Becker", "Fischer", "Groß",
    "Lehmann", "Smith", "Clarke", "Nyström", "Yılmaz", "Öztürk", "Süßmann",
    "Bäumer", "Fußmann", "Straßer", "Nußbaum", "Hoffmann", "Wagner",
    "Schmidt", "Schneider", "Meyer", "Weber", "Schulz", "Koch", "Richter",
    "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
    "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner",
    "Schmitz", "Krause", "Meier", "Lang", "Schulze", "Kühn", "Jäger",
    "Günther", "Lorenz", "Frank", "Roth", "Vogel", "Friedrich", "Keller",
    "Böhm", "Möller", "Dietrich", "Sommer", "Brandt", "Haas", "Graf",
    "Thomas", "Walter", "Peters", "Winter", "Jung", "Hahn", "Vogt", "Otto",
    "Busch", "Pohl", "Horn", "Sauer", "Arnold", "Wolff", "Pfeiffer",
    "Ludwig", "Jansen", "Götz", "Fuchs", "Baumann", "Franke", "Albrecht",
]
TRADES = [
    "Bürobedarf", "Elektrotechnik", "Haustechnik", "Logistik",
    "Steuerberatung", "Gebäudereinigung", "Druckerei", "Software",
    "Metallbau", "Sanitär", "Spedition", "Werbeagentur", "Personalservice",
    "Fahrzeugtechnik", "Getränkehandel", "Möbelhaus", "Versicherungsmakler",
    "Rechtsanwälte", "IT-Service", "Großhandel", "Immobilien", "Catering",
    "Sicherheitstechnik", "Verpackungen", "Kältetechnik", "Energieberatung",
]
FORMS = ["GmbH", "GmbH & Co. KG", "KG", "AG", "e.K.", "OHG", "UG", "GbR"]
EN_COMPANIES = [
    "Acme Supplies Ltd", "Blue Harbour Logistics BV",
    "Contoso Cloud Services Inc.", "Fabrikam Office Solutions",
    "Northwind Traders", "Tailspin Freight Ltd", "Globex Hardware Inc.",
    "Initech Consulting LLC", "Umbrella Facility Services",
    "Wayne Printing Co.",
]
CITIES = [
    "München", "Köln", "Düsseldorf", "Nürnberg", "Würzburg", "Lübeck",
    "Osnabrück", "Saarbrücken", "Gießen", "Fürth", "Göttingen", "Frankfurt",
    "Hamburg", "Bremen", "Berlin", "Leipzig", "Dresden", "Münster",
    "Tübingen", "Ulm", "Kühlungsborn", "Zürich", "Wien", "Graz", "Rotterdam",
    "London", "Leeds",
]
STREETS = ["Hauptstraße", "Bahnhofstraße", "Schloßallee", "Mühlenweg",
           "Gartenstraße", "Königsplatz", "Süderstraße", "Am Großmarkt",
           "Industriestraße", "Lindenallee", "Friedrich-Ebert-Straße",
           "Gewerbepark", "Hafenstraße", "Kirchgasse"]
MAILERS = ["Microsoft Outlook 16.0", "Thunderbird 115.6.0",
           "Apple Mail (2.3731)", "Roundcube Webmail/1.6.5",
           "kivitendo 3.8.0", "SAP NetWeaver 7.50", "DATEV Mailversand",
           "Lexware Office", "sevDesk Mailer"]

DE_SUBJECTS = [
    "Rechnung {nr} vom {date}", "Ihre Rechnung Nr. {nr}",
    "Eingangsrechnung {nr} – {company}", "Zahlungserinnerung zu Rechnung {nr}",
    "1. Mahnung: Rechnung {nr}", "Gutschrift {nr}",
    "Angebot {order} für {c1}", "Auftragsbestätigung {order}",
    "Lieferschein zu Bestellung {order}", "Rückfrage zur {c1}",
    "Terminbestätigung {c1} am {date}", "Änderung unserer Öffnungszeiten",
    "{c1} {year}", "Unterlagen zur {c1}", "Ihre Anfrage: {c1}",
    "Kündigung {c1} zum {date}", "Protokoll der {c1} vom {date}",
    "Neue Bankverbindung {company}", "Einladung: {c1} in {city}",
    "Abrechnung {month} {year}", "Kundennummer {cust}: {c1}",
]
EN_SUBJECTS = [
    "Invoice {nr} dated {date}", "Your invoice {nr} from {company}",
    "Payment reminder: invoice {nr}", "Credit note {nr}",
    "Quotation {order}", "Order confirmation {order}",
    "Delivery question about {w}", "Updated bank details",
    "Meeting notes: {w} review", "{w} renewal for {year}",
    "Shipment {track} tracking", "Your {w} request",
]
DE_GREETINGS = ["Sehr geehrte Damen und Herren,", "Hallo {first},",
                "Guten Tag {first} {last},", "Liebe Kolleginnen und Kollegen,",
                "Sehr geehrte Frau {last},", "Sehr geehrter Herr {last},",
                "Moin {first},"]
EN_GREETINGS = ["Dear Sir or Madam,", "Hello {first},", "Dear {first} {last},",
                "Hi {first},", "Dear Ms {last},"]
DE_CLOSINGS = ["Mit freundlichen Grüßen", "Viele Grüße", "Beste Grüße",
               "Freundliche Grüße", "Gruß"]
EN_CLOSINGS = ["Kind regards", "Best regards", "Sincerely", "Cheers",
               "Many thanks"]
DE_TEMPLATES = [
    "anbei erhalten Sie die {C} für {C2} {nr}.",
    "bitte {v} Sie die {a} {C} bis zum {date}.",
    "die {C} wurde am {date} an {company} versandt.",
    "wir bitten um Rückmeldung zur {C} bis {date}.",
    "der Betrag von {amount} EUR ist bis zum {date} fällig.",
    "wie telefonisch besprochen, senden wir Ihnen die {a} {C}.",
    "leider fehlt in der {C} noch die {C2}.",
    "Herr {last} aus {city} fragt nach der {C} zu Auftrag {order}.",
    "Frau {last} übernimmt die {C} während der {C2}.",
    "die {C} {nr} haben wir an die Buchhaltung weitergeleitet.",
    "für Rückfragen erreichen Sie {first} {last} unter {phone}.",
    "unsere {C} in der {street} ist ab {date} geschlossen.",
    "bitte überweisen Sie {amount} EUR auf das Konto {iban}.",
    "die {a} {C} liegt bei, die {C2} folgt in den nächsten Tagen.",
    "wegen der {C} verschiebt sich die {C2} um {n} Tage.",
    "Ihre Kundennummer {cust} bitte bei jeder {C} angeben.",
    "die Sendung {track} ist unterwegs und kommt voraussichtlich am {date}.",
    "wir haben die {C} geprüft und {v} die {C2} gern.",
    "vielen Dank für Ihren Auftrag und die gute Zusammenarbeit.",
    "bei Rückfragen stehen wir Ihnen selbstverständlich gern zur Verfügung.",
    "Zahlungsziel: 30 Tage netto, bei Zahlung innerhalb von 10 Tagen 2 % Skonto.",
    "die Eingangsrechnung wurde an die Buchhaltung weitergeleitet.",
]
EN_TEMPLATES = [
    "please find attached the {w} for {w2} {nr}.",
    "kindly {ev} the {w} by {date}.",
    "the {w} was shipped to {company} on {date}.",
    "amount due: {amount} EUR, reference {nr}.",
    "{first} {last} from {city} asked about the {w} for order {order}.",
    "our {w} team will {ev} the {w2} next week.",
    "you can reach {first} at {phone} for any {w} questions.",
    "tracking number {track}, expected delivery {date}.",
    "please quote customer number {cust} with every {w}.",
    "thank you for your order and the pleasant cooperation.",
    "should you have any questions, please do not hesitate to contact us.",
]
MONTHS = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli",
          "August", "September", "Oktober", "November", "Dezember"]

# Syllables of the attachment-only words: letter pairs (qv, zx, yq, ...)
# that no stem, name or number above contains, so no other text in the
# corpus can contain such a word.
ATT_PREFIX = ["Qv", "Zx", "Yq", "Xj", "Vq", "Jx", "Qz", "Wq"]
ATT_MID = ["ar", "el", "om", "un", "ix", "ä", "ö", "ü", "il", "ur", "an",
           "os", "em", "ab", "ot", "is"]
ATT_SUFFIX = ["qor", "vix", "zan", "jel", "xum", "qäs", "vöt", "züm"]


def ascii_fold(s):
    table = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae",
             "Ö": "Oe", "Ü": "Ue", "ë": "e", "ş": "s", "ı": "i", "Ş": "S",
             "é": "e"}
    return "".join(table.get(c, c) for c in s).encode(
        "ascii", "ignore").decode()


# --------------------------------------------------------------------------
# PDF


def pdf_document(pages, image=b""):
    """A valid PDF with one page per list of lines: Helvetica with
    WinAnsiEncoding (cp1252: umlauts, the euro sign), Flate-compressed
    content streams. pdftotext gives the lines back as text. image: RGB
    bytes (a multiple of 3*64) drawn on the first page as a 64 pixel wide
    Flate-compressed image, the stand-in for a logo or letterhead."""
    def esc(s):
        b = s.encode("cp1252", "replace")
        return (b.replace(b"\\", b"\\\\").replace(b"(", b"\\(")
                .replace(b")", b"\\)"))
    n = len(pages)
    # objects: 1 catalog, 2 pages, 3 font, 4 info, then (page, content)*n
    kids = " ".join("%d 0 R" % (5 + 2 * i) for i in range(n))
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        ("<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n)).encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
        b"/Encoding /WinAnsiEncoding >>",
        b"<< /Producer (fts-bench pdf writer) /Creator (bench/fts.py) >>",
    ]
    first_obj = 5 + 2 * n
    for i, lines in enumerate(pages):
        content = b""
        xobj = ""
        if image and i == 0:
            h = len(image) // (3 * 64)
            content = b"q 64 0 0 %d 470 760 cm /Im1 Do Q\n" % min(h, 64)
            xobj = " /XObject << /Im1 %d 0 R >>" % first_obj
        content += b"BT /F1 10 Tf 56 790 Td 13 TL\n"
        for line in lines:
            content += b"(" + esc(line) + b") '\n"
        content += b"ET\n"
        data = zlib.compress(content, 6)
        objs.append(("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
                     "/Resources << /Font << /F1 3 0 R >>%s >> "
                     "/Contents %d 0 R >>" % (xobj, 6 + 2 * i)).encode())
        objs.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n"
                    % len(data) + data + b"\nendstream")
    if image:
        data = zlib.compress(image, 6)
        objs.append(b"<< /Type /XObject /Subtype /Image /Width 64 /Height %d "
                    b"/ColorSpace /DeviceRGB /BitsPerComponent 8 "
                    b"/Filter /FlateDecode /Length %d >>\nstream\n"
                    % (len(image) // (3 * 64), len(data)) + data
                    + b"\nendstream")
    out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n"
            b"%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    return out


# --------------------------------------------------------------------------


class Zipf:
    """Draws from items with weight 1/rank^s (items in rank order)."""

    def __init__(self, items, rng, s=1.0):
        self.items = list(items)
        self.rng = rng
        cum, total = [], 0.0
        for r in range(len(self.items)):
            total += 1.0 / (r + 1) ** s
            cum.append(total)
        self.cum = cum
        self.total = total

    def __call__(self):
        x = self.rng.random() * self.total
        return self.items[bisect.bisect_left(self.cum, x)]


class BigMail:
    """One generated mail: raw (bytes, LF line ends, as Dovecot stores
    maildir files), searchable (decoded text a reader sees: headers,
    bodies), body (the text body), pdf_text (the PDF's lines as text, or ""), att_words
    (attachment-only strings in its PDF), nrs (numbers in subject or
    body), sender (display name and address)."""

    __slots__ = ("index", "raw", "searchable", "body", "pdf_text",
                 "att_words", "nrs", "sender", "subject", "german")


class BigCorpus:
    def __init__(self, seed=42, count=20000, pdf_share=0.15,
                 pdf_image_kb=0, domain="example.com"):
        self.seed = seed
        self.pdf_image_kb = pdf_image_kb
        self.count = count
        self.pdf_share = pdf_share
        self.domain = domain
        self.rng = random.Random("fts-big-%d" % seed)
        r = self.rng
        self.clock = datetime.datetime(2024, 1, 2, 7, 0,
                                       tzinfo=datetime.timezone.utc)
        # compounds: a seeded set, in a seeded popularity order
        comps = set()
        while len(comps) < 3000:
            parts = r.sample(DE_STEMS, 3 if r.random() < 0.12 else 2)
            w = ""
            for i, p in enumerate(parts):
                form = p if i == 0 else p.lower()
                if i < len(parts) - 1:
                    link = next((v for k, v in DE_LINK.items()
                                 if p.endswith(k)), "")
                    form += link
                w += form
            comps.add(w)
        comps = sorted(comps)
        r.shuffle(comps)
        stems = list(DE_STEMS)
        r.shuffle(stems)
        # plain stems are frequent, compounds the long tail
        self.de_noun = Zipf(stems[:60] + comps + stems[60:], r, 0.9)
        en = list(EN_WORDS)
        r.shuffle(en)
        self.en_word = Zipf(en, r, 0.8)
        self.de_verb = Zipf(DE_VERBS, r)
        self.de_adj = Zipf(DE_ADJ, r)
        self.en_verb = Zipf(EN_VERBS, r)
        self.first = Zipf(FIRST, r, 0.7)
        self.last = Zipf(LAST, r, 0.7)
        companies = []
        seen = set()
        while len(companies) < 240:
            last = r.choice(LAST)
            trade = r.choice(TRADES)
            name = "%s %s %s" % (last, trade, r.choice(FORMS))
            dom = "%s-%s.%s" % (ascii_fold(last).lower(),
                                ascii_fold(trade).lower().replace("-", ""),
                                r.choice(["de", "de", "de", "com", "eu"]))
            if dom not in seen:
                seen.add(dom)
                companies.append((name, dom))
        for name in EN_COMPANIES:
            dom = re.sub(r"[^a-z]+", "-", name.lower()).strip("-") + ".example"
            companies.append((name, dom))
        r.shuffle(companies)
        self.company = Zipf(companies, r, 0.9)
        self.att_seen = set()
        self.attachment_words = []   # (string, message index)
        self.recent = []             # (subject, sender, body) for replies

    # ------------------------------------------------------------ pieces
    def _date(self):
        self.clock += datetime.timedelta(seconds=self.rng.randint(60, 5400))
        return self.clock

    def _date_text(self):
        d = datetime.date(2024, 1, 1) + datetime.timedelta(
            days=self.rng.randint(0, 720))
        return d.strftime("%d.%m.%Y")

    def _nr(self):
        r = self.rng
        k = r.random()
        if k < 0.45:
            return "RE-%d-%05d" % (r.choice([2023, 2024, 2025]),
                                   r.randint(1, 99999))
        if k < 0.7:
            return "R%07d" % r.randint(1, 9999999)
        if k < 0.85:
            return "INV-%06d" % r.randint(1, 999999)
        return "%d/%04d" % (r.choice([2023, 2024]), r.randint(1, 9999))

    def _iban(self):
        r = self.rng
        return "DE%02d %04d %04d %04d %04d %02d" % (
            r.randint(10, 99), r.randint(0, 9999), r.randint(0, 9999),
            r.randint(0, 9999), r.randint(0, 9999), r.randint(0, 99))

    def _phone(self):
        r = self.rng
        return "+49 %d %d-%d" % (r.randint(30, 9999), r.randint(100, 99999),
                                 r.randint(0, 99))

    def _amount(self):
        v = self.rng.randint(100, 2500000)
        euros = "{:,}".format(v // 100).replace(",", ".")
        return "%s,%02d" % (euros, v % 100)

    def _fill(self, ctx):
        r = self.rng
        return dict(
            C=self.de_noun(), C2=self.de_noun(), a=self.de_adj(),
            v=self.de_verb(), w=self.en_word(), w2=self.en_word(),
            ev=self.en_verb(), nr=r.choice(ctx["nrs"]),
            order=ctx["order"], cust=ctx["cust"], track=ctx["track"],
            date=self._date_text(), amount=self._amount(),
            company=ctx["company"], city=r.choice(CITIES),
            street=r.choice(STREETS), first=self.first(), last=self.last(),
            phone=self._phone(), iban=self._iban(), n=r.randint(2, 21))

    def _sentence(self, german, ctx):
        r = self.rng
        if r.random() < 0.75:
            tpl = r.choice(DE_TEMPLATES if german else EN_TEMPLATES)
            s = tpl.format(**self._fill(ctx))
        else:
            # free word salad from the Zipf vocabulary (the long tail)
            words = []
            for _ in range(r.randint(6, 14)):
                k = r.random()
                if german:
                    words.append(self.de_noun() if k < 0.4 else
                                 r.choice(DE_FUNCTION) if k < 0.75 else
                                 self.de_adj() if k < 0.88 else
                                 self.de_verb())
                else:
                    words.append(self.en_word() if k < 0.4 else
                                 r.choice(EN_FUNCTION) if k < 0.8 else
                                 self.en_verb())
            s = " ".join(words) + "."
        return s[0].upper() + s[1:]

    def _signature(self, german, person, company, domain):
        r = self.rng
        lines = ["-- ", "%s %s" % person, company,
                 "%s %d, %05d %s" % (r.choice(STREETS), r.randint(1, 180),
                                     r.randint(1000, 99999), r.choice(CITIES)),
                 "Tel. %s" % self._phone(),
                 "%s.%s@%s" % (ascii_fold(person[0]).lower(),
                               ascii_fold(person[1]).lower(), domain),
                 "https://www.%s" % domain]
        if german and r.random() < 0.7:
            lines += ["Amtsgericht %s HRB %d" % (r.choice(CITIES),
                                                r.randint(1000, 99999)),
                      "USt-IdNr. DE%09d" % r.randint(0, 999999999),
                      "Geschäftsführung: %s %s" % (self.first(), self.last())]
        return "\n".join(lines)

    def _text(self, german, ctx, recipient, sender_person, company, domain):
        r = self.rng
        greet = r.choice(DE_GREETINGS if german else EN_GREETINGS)
        lines = [greet.format(first=recipient[0], last=recipient[1]), ""]
        para = []
        for _ in range(r.randint(3, 16)):
            para.append(self._sentence(german, ctx))
            if r.random() < 0.35:
                lines += _wrap(" ".join(para)) + [""]
                para = []
        if para:
            lines += _wrap(" ".join(para)) + [""]
        lines += [r.choice(DE_CLOSINGS if german else EN_CLOSINGS),
                  "%s %s" % sender_person, ""]
        if r.random() < 0.8:
            lines.append(self._signature(german, sender_person, company,
                                         domain))
        return "\n".join(lines) + "\n"

    def _att_word(self):
        r = self.rng
        while True:
            w = (r.choice(ATT_PREFIX) + r.choice(ATT_MID) + r.choice(ATT_MID)
                 + r.choice(ATT_MID) + r.choice(ATT_SUFFIX))
            if w.lower() not in self.att_seen:
                self.att_seen.add(w.lower())
                return w

    def _att_number(self):
        r = self.rng
        while True:
            w = "PRJ-%d-%06d" % (r.randint(2019, 2026), r.randint(0, 999999))
            if w.lower() not in self.att_seen:
                self.att_seen.add(w.lower())
                return w

    def _pdf_pages(self, german, ctx, company, recipient, kind):
        """Lines of the attachment and its attachment-only strings."""
        r = self.rng
        words = [self._att_word(), self._att_word()]
        number = self._att_number()
        head = [company, "%s %d, %05d %s" % (r.choice(STREETS),
                                             r.randint(1, 180),
                                             r.randint(1000, 99999),
                                             r.choice(CITIES)), "",
                "%s %s" % recipient, ""]
        body = []
        if kind == "invoice":
            body.append(("Rechnung " if german else "Invoice ")
                        + ctx["nrs"][0])
            body.append(("Datum: " if german else "Date: ")
                        + self._date_text())
            body.append(("Kundennummer: " if german else "Customer no.: ")
                        + ctx["cust"])
            body.append("")
            total = 0
            for pos in range(1, r.randint(3, 18)):
                qty = r.randint(1, 40)
                price = r.randint(100, 200000)
                total += qty * price
                body.append("%2d  %3d x %-40s %10.2f EUR" % (
                    pos, qty, self.de_noun() if german else self.en_word(),
                    qty * price / 100))
            body += ["", ("Gesamtbetrag: " if german else "Total: ")
                     + "%.2f EUR" % (total / 100),
                     "IBAN " + self._iban(), ""]
        else:
            body.append(("Protokoll " if german else "Minutes ")
                        + ctx["order"])
            for _ in range(r.randint(4, 30)):
                body += _wrap(self._sentence(german, ctx), 90)
        # the attachment-only strings, inside ordinary text
        body.insert(r.randint(1, len(body)),
                    ("Projekt %s, Kennwort %s" if german else
                     "Project %s, keyword %s") % (number, words[0]))
        body.insert(r.randint(1, len(body)),
                    ("Ansprechpartner: %s (%s)" if german else
                     "Contact: %s (%s)") % (self.last(), words[1]))
        lines = head + body
        pages = [lines[i:i + 58] for i in range(0, len(lines), 58)]
        return pages, words + [number]

    def _headers(self, sender, to, cc, subject, date, msgid, extra):
        r = self.rng
        from_dom = sender[1].rsplit("@", 1)[1]
        h = []
        h.append("Return-Path: <%s>" % sender[1])
        h.append("Delivered-To: %s" % to[0][1])
        for hop in range(r.randint(1, 3)):
            h.append("Received: from mail%d.%s (mail%d.%s [192.0.2.%d])\n"
                     "\tby mx.%s (Postfix) with ESMTPS id %s\n"
                     "\tfor <%s>; %s" % (
                         hop + 1, from_dom, hop + 1, from_dom,
                         r.randint(1, 254), self.domain,
                         "%010X" % r.getrandbits(40), to[0][1],
                         email.utils.format_datetime(date)))
        if r.random() < 0.5:
            sig = base64.b64encode(r.randbytes(128)).decode()
            bh = base64.b64encode(r.randbytes(32)).decode()
            h.append("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; "
                     "d=%s; s=mail;\n\tt=%d; bh=%s;\n\th=From:To:Subject:Date:"
                     "Message-ID;\n\tb=%s\n\t %s" % (
                         from_dom, int(date.timestamp()), bh, sig[:70],
                         sig[70:]))
        h.append("Authentication-Results: mx.%s; dkim=pass header.d=%s; "
                 "spf=pass smtp.mailfrom=%s" % (self.domain, from_dom,
                                                from_dom))
        h.append("From: %s" % _addr(sender))
        h.append("To: %s" % ", ".join(_addr(a) for a in to))
        if cc:
            h.append("Cc: %s" % ", ".join(_addr(a) for a in cc))
        h.append("Subject: %s" % _hdr(subject))
        h.append("Date: %s" % email.utils.format_datetime(date))
        h.append("Message-ID: %s" % msgid)
        h += extra
        if r.random() < 0.6:
            h.append("X-Mailer: %s" % r.choice(MAILERS))
        h.append("MIME-Version: 1.0")
        return h

    def _boundary(self):
        return "----=_Part_%d_%016x" % (self.seed, self.rng.getrandbits(64))

    # ------------------------------------------------------------ mails
    def mail(self, index):
        r = self.rng
        german = r.random() < 0.7
        company, domain = self.company()
        sender_person = (self.first(), self.last())
        if r.random() < 0.45:
            sender = (company, "%s@%s" % (
                r.choice(["buchhaltung", "rechnung", "info", "vertrieb",
                          "service"] if german else
                         ["billing", "accounts", "info", "sales"]), domain))
        else:
            sender = ("%s %s" % sender_person, "%s.%s@%s" % (
                ascii_fold(sender_person[0]).lower(),
                ascii_fold(sender_person[1]).lower(), domain))
        recipient = (self.first(), self.last())
        to = [("%s %s" % recipient, "%s.%s@%s" % (
            ascii_fold(recipient[0]).lower(),
            ascii_fold(recipient[1]).lower(), self.domain))]
        cc = []
        for _ in range(r.choice([0, 0, 0, 1, 2])):
            p = (self.first(), self.last())
            cc.append(("%s %s" % p, "%s.%s@%s" % (
                ascii_fold(p[0]).lower(), ascii_fold(p[1]).lower(),
                r.choice([self.domain, domain]))))
        nrs = [self._nr() for _ in range(r.randint(1, 3))]
        ctx = dict(nrs=nrs, company=company,
                   order="B-%07d" % r.randint(1, 9999999),
                   cust="KD-%06d" % r.randint(1, 999999),
                   track="JJD%014d" % r.randint(0, 10 ** 14 - 1))
        date = self._date()
        has_pdf = r.random() < self.pdf_share
        reply = None
        if not has_pdf and self.recent and r.random() < 0.2:
            reply = r.choice(self.recent)
        if reply:
            subject = ("AW: " if german else "Re: ") + reply[0]
        else:
            tpl = r.choice(DE_SUBJECTS if german else EN_SUBJECTS)
            subject = tpl.format(
                nr=nrs[0], date=self._date_text(), company=company,
                order=ctx["order"], c1=self.de_noun(), year=r.choice(
                    [2023, 2024, 2025]), city=r.choice(CITIES),
                month=r.choice(MONTHS), cust=ctx["cust"], w=self.en_word(),
                track=ctx["track"])
        msgid = "<%d.%d.%012x@%s>" % (self.seed, index, r.getrandbits(48),
                                      domain)
        extra = []
        text = self._text(german, ctx, recipient, sender_person, company,
                          domain)
        if reply:
            extra = ["In-Reply-To: %s" % reply[3], "References: %s" % reply[3]]
            quoted = "\n".join("> " + l if l else ">"
                               for l in reply[2].splitlines())
            text += "\n%s %s:\n%s\n" % (
                "Am %s schrieb" % self._date_text() if german else
                "On %s, wrote" % self._date_text(), reply[1], quoted)
        headers = self._headers(sender, to, cc, subject, date, msgid, extra)
        searchable = [subject, _addr_text(sender),
                      " ".join(_addr_text(a) for a in to + cc), text]

        html = r.random() < 0.35
        pdf_text = ""
        att_words = []
        if has_pdf:
            kind = "invoice" if r.random() < 0.65 else "minutes"
            pages, att_words = self._pdf_pages(german, ctx, company,
                                               recipient, kind)
            image = b""
            if self.pdf_image_kb:
                # its own generator: the text stays the same with or
                # without images
                image = random.Random("fts-big-img-%d-%d" % (
                    self.seed, index)).randbytes(
                        self.pdf_image_kb * 1024 // 192 * 192)
            pdf = pdf_document(pages, image)
            pdf_text = "\n".join(l for p in pages for l in p)
            fname = ("%s.pdf" % nrs[0].replace("/", "-") if kind == "invoice"
                     else "Protokoll_%s.pdf" % ctx["order"] if german
                     else "minutes_%s.pdf" % ctx["order"])
            first = (_alternative(text, self._boundary()) if html
                     else _text_part(text))
            parts = [first, _pdf_part(pdf, fname)]
            top_hdrs, body = _multipart("mixed", self._boundary(), parts)
            for w in att_words:
                self.attachment_words.append((w, index))
        elif html:
            top_hdrs, body = _alternative(text, self._boundary())
        else:
            top_hdrs, body = _text_part(text)
        raw = ("\n".join(headers + top_hdrs) + "\n\n").encode("utf-8") + body
        if len(self.recent) < 200:
            self.recent.append((subject, sender[0], text, msgid))
        elif r.random() < 0.1:
            self.recent[r.randrange(200)] = (subject, sender[0], text, msgid)

        m = BigMail()
        m.index = index
        m.raw = raw
        m.searchable = "\n".join(searchable)
        m.body = text
        m.pdf_text = pdf_text
        m.att_words = att_words
        m.nrs = nrs
        m.sender = sender
        m.subject = subject
        m.german = german
        return m

    def generate(self):
        for i in range(self.count):
            yield self.mail(i)


# --------------------------------------------------------------------------
# MIME helpers (hand-made: fast, and exactly under control)


def _wrap(text, width=72):
    lines, cur = [], ""
    for w in text.split(" "):
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = cur + " " + w if cur else w
    if cur:
        lines.append(cur)
    return lines


def _hdr(value):
    if all(ord(c) < 128 for c in value):
        return value
    return Header(value, "utf-8", maxlinelen=76).encode().replace("\r\n", "\n")


def _addr(pair):
    name, addr = pair
    if all(ord(c) < 128 for c in name):
        if re.search(r'[^\w .-]', name):
            name = '"%s"' % name.replace('"', '')
        return "%s <%s>" % (name, addr)
    return "%s <%s>" % (Header(name, "utf-8").encode(), addr)


def _addr_text(pair):
    return "%s <%s>" % pair


def _qp(text):
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


def _text_part(text):
    return (["Content-Type: text/plain; charset=utf-8",
             "Content-Transfer-Encoding: quoted-printable"],
            _qp(text).encode("ascii"))


def _html(text):
    paras = []
    for block in text.split("\n\n"):
        block = (block.replace("&", "&amp;").replace("<", "&lt;")
                 .replace(">", "&gt;").replace("\n", "<br>\n"))
        paras.append('<p style="margin:0 0 12px 0">%s</p>' % block)
    return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8">\n'
            '<style>body{font-family:Calibri,Arial,sans-serif;font-size:11pt;'
            'color:#1f1f1f}p{margin:0}</style></head>\n'
            '<body><div class="WordSection1">\n%s\n</div></body></html>\n'
            % "\n".join(paras))


def _alternative(text, boundary):
    plain = _text_part(text)
    html = (["Content-Type: text/html; charset=utf-8",
             "Content-Transfer-Encoding: quoted-printable"],
            _qp(_html(text)).encode("ascii"))
    return _multipart("alternative", boundary, [plain, html])


def _pdf_part(pdf, fname):
    b64 = base64.encodebytes(pdf).decode("ascii")
    return (["Content-Type: application/pdf; name=\"%s\"" % fname,
             "Content-Disposition: attachment; filename=\"%s\"" % fname,
             "Content-Transfer-Encoding: base64"], b64.encode("ascii"))


def _multipart(subtype, boundary, parts):
    out = b"This is a multi-part message in MIME format.\n"
    for hdrs, body in parts:
        out += b"\n--" + boundary.encode() + b"\n"
        out += ("\n".join(hdrs) + "\n\n").encode("utf-8") + body
        if not body.endswith(b"\n"):
            out += b"\n"
    out += b"\n--" + boundary.encode() + b"--\n"
    return (["Content-Type: multipart/%s;\n\tboundary=\"%s\""
             % (subtype, boundary)], out)
