"""tresor-extract as Dovecot's fts_decoder for another FTS backend.

Debian's fts_xapian indexes attachments only through an fts_decoder. With
the service configured exactly as documented at the end of
conf.d/90-tresor.conf (the script service running `tresor-extract
--decoder`), a word that occurs only inside a PDF, a docx or an XRechnung
XML attachment is found by IMAP SEARCH BODY; without the decoder it is not.
A truncated PDF gets indexed without text and hurts nothing.
"""

import base64
import io
import os
import re
import subprocess
import unittest
import zipfile

from harness import Dovecot, HarnessError, crlf, extract_path, skip_reason

EXTRACT = extract_path()
TESTDATA = os.environ.get("TRESOR_TESTDATA") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared",
    "testdata")
EINVOICE_DIR = os.path.join(TESTDATA, "einvoice")

CRASH_RE = re.compile(r"Panic:|Fatal:|killed with signal|Segmentation fault")


def decoder_conf():
    """The documented service block, with the built helper's path."""
    return (
        "service tresor-decoder {\n"
        "  executable = script %s --decoder\n"
        "  user = dovenull\n"
        "  unix_listener tresor-decoder {\n"
        "    mode = 0666\n"
        "  }\n"
        "}\n" % EXTRACT)


def mail_with(filename, ctype, data, subject):
    b64 = base64.encodebytes(data).decode().replace("\n", "\r\n")
    return crlf(
        "From: Lieferant <rechnung@lieferant.example>\n"
        "To: alice@example.com\n"
        "Subject: %s\n"
        "Message-ID: <%s@decoder.test>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"b1\"\n"
        "\n"
        "--b1\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Anbei das Dokument.\n"
        "--b1\n"
        "Content-Type: %s; name=\"%s\"\n"
        "Content-Disposition: attachment; filename=\"%s\"\n"
        "Content-Transfer-Encoding: base64\n"
        "\n" % (subject, subject.replace(" ", "-"), ctype, filename, filename)
    ) + b64.encode() + b"\r\n--b1--\r\n"


def docx(text):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Override PartName="/word/document.xml" '
                   'ContentType="application/vnd.openxmlformats-officedocument.'
                   'wordprocessingml.document.main+xml"/></Types>')
        z.writestr("word/document.xml",
                   '<?xml version="1.0"?><w:document xmlns:w="http://schemas.'
                   'openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p>'
                   '<w:r><w:t>%s</w:t></w:r></w:p></w:body></w:document>' % text)
    return buf.getvalue()


def pdf_words(path):
    """Words of at least 8 letters in the PDF's text (pdftotext)."""
    out = subprocess.run(["pdftotext", "-q", path, "-"], capture_output=True,
                         check=False).stdout.decode("utf-8", "replace")
    return set(w for w in re.findall(r"[A-Za-z]{8,}", out))


@unittest.skipIf(skip_reason(), skip_reason() or "")
class FtsDecoderTests(unittest.TestCase):

    def setUp(self):
        if not os.access(EXTRACT, os.X_OK):
            raise HarnessError("built helper missing: %s" % EXTRACT)
        pdfs = sorted(f for f in os.listdir(EINVOICE_DIR) if f.endswith(".pdf"))
        if not pdfs:
            raise HarnessError("no PDFs in %s" % EINVOICE_DIR)
        with open(os.path.join(EINVOICE_DIR, pdfs[0]), "rb") as f:
            self.pdf = f.read()
        xmls = sorted(f for f in os.listdir(EINVOICE_DIR) if f.endswith(".xml"))
        with open(os.path.join(EINVOICE_DIR, xmls[0]), "rb") as f:
            self.xml = f.read()
        # a word of the PDF's text that is in no other attachment or text
        # of this test
        words = pdf_words(os.path.join(EINVOICE_DIR, pdfs[0]))
        xml_text = self.xml.decode("utf-8", "replace").lower()
        candidates = sorted(w for w in words if w.lower() not in xml_text
                            and w.lower() not in ("lieferant", "dokument",
                                                  "angebotsnummer"))
        if not candidates:
            raise HarnessError("no PDF-only word in %s" % pdfs[0])
        self.pdf_word = candidates[len(candidates) // 2]

    def run_backend(self, with_decoder):
        plugin = {"fts": "xapian", "fts_xapian": "partial=3 full=20 verbose=0",
                  "fts_autoindex": "no", "fts_enforced": "yes"}
        extra = ""
        if with_decoder:
            plugin["fts_decoder"] = "tresor-decoder"
            extra = decoder_conf()
        dc = Dovecot(mail_plugins=["fts", "fts_xapian"], plugin=plugin,
                     extra_conf=extra, name="tresor-dec")
        with dc:
            mails = [
                mail_with("rechnung.pdf", "application/pdf", self.pdf, "PDF"),
                mail_with("angebot.docx", "application/vnd.openxmlformats-"
                          "officedocument.wordprocessingml.document",
                          docx("Angebotsnummer Zauberwortdocx"), "DOCX"),
                mail_with("xrechnung.xml", "application/xml", self.xml, "XML"),
                mail_with("kaputt.pdf", "application/pdf", self.pdf[:len(self.pdf) // 2],
                          "TRUNCATED"),
            ]
            for m in mails:
                res = dc.lmtp_deliver("alice@example.com", m)
                self.assertEqual(res["alice@example.com"][0], 250, res)
            rc, out, err = dc.doveadm("index", "-u", "alice", "INBOX")
            self.assertEqual(rc, 0, out + err)
            c = dc.imap("alice")
            c.select_box("INBOX")
            found = {}
            for word in (self.pdf_word, "zauberwortdocx"):
                r = c.cmd("UID SEARCH BODY %s" % word)
                self.assertEqual(r.status, "OK", r)
                found[word] = [int(x) for x in b" ".join(r.untagged).split()[1:]]
            # the XRechnung's invoice number element text
            m = re.search(rb"<cbc:ID>([^<]{4,})</cbc:ID>", self.xml) or \
                re.search(rb"<ram:ID>([^<]{4,})</ram:ID>", self.xml)
            self.assertIsNotNone(m, "no invoice number in the XML")
            xml_word = m.group(1).decode()
            r = c.cmd('UID SEARCH BODY "%s"' % xml_word)
            found["xml"] = [int(x) for x in b" ".join(r.untagged).split()[1:]]
            log = dc.log()
            self.assertEqual([l for l in log.splitlines() if CRASH_RE.search(l)],
                             [], "crash in the log")
            return found

    def test_decoder_makes_attachments_searchable(self):
        with_decoder = self.run_backend(True)
        # (the truncated copy, mail 4, has no readable text)
        self.assertEqual(with_decoder[self.pdf_word], [1],
                         "PDF-only word %r" % self.pdf_word)
        self.assertEqual(with_decoder["zauberwortdocx"], [2])
        self.assertIn(3, with_decoder["xml"])
        without = self.run_backend(False)
        self.assertEqual(without[self.pdf_word], [],
                         "fts_xapian alone must not find the PDF's words")
        self.assertEqual(without["zauberwortdocx"], [])


if __name__ == "__main__":
    unittest.main()
