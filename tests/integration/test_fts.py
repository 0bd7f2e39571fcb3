"""The FTS backend fts_tresor (lib21_fts_tresor_plugin.so, plugin { fts =
tresor }) in a real Dovecot:

- oracle: a seeded corpus (fts_corpus.py, 300 text-only mails) in two
  Dovecots, one without FTS and one with fts_tresor and fts_enforced; more
  than 200 generated UID SEARCH queries over TEXT BODY SUBJECT FROM TO CC
  BCC HEADER and AND/OR/NOT combinations must give the same UIDs in both.
  Every mismatch is listed (query, missing and extra UIDs, where the
  string occurs in the mail, the mail's first bytes). The FTS instance
  must really have used its index (index directory, doveadm fts lookup,
  a word only in a docx attachment);
- attachments: each PDF of ../shared/testdata/einvoice (a word only in
  that PDF's text, picked with pdftotext), a docx, an xlsx and an odt made
  here, an XRechnung XML and a text/plain attachment are found by TEXT and
  BODY; a truncated PDF and a zip bomb neither break indexing nor the
  search of the other mails nor any Dovecot process;
- lifecycle: expunge, rename, delete + re-create, doveadm fts rescan /
  index / optimize, a corrupt or deleted index, a UIDVALIDITY change;
- concurrency: parallel LMTP deliveries, IMAP searches and doveadm index
  lose nothing and never stall a delivery; fts_autoindex indexes without a
  search;
- memory: 2,000 mails (60 % with PDFs) indexed by the indexer with
  service indexer-worker { vsz_limit = 256M }.

While the plugin did not exist yet these tests were developed against
Debian's fts_xapian (TRESOR_FTS_TEST_BACKEND=xapian); the default and the
only backend that has to pass is tresor. TRESOR_FTS_MEMORY_MAILS changes
the size of the memory test's mailbox (default 2000).
"""

import concurrent.futures
import email.policy
import glob
import hashlib
import io
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import zipfile
from email.message import EmailMessage

from fts_corpus import FtsCorpus, generate_queries
from harness import (BUILDDIR, CRASH_RE, SRCDIR, TRESOR_FTS_PLUGIN, Dovecot,
                     DovecotTestCase, HarnessError, built_plugin,
                     chown_mail_user, crlf, extract_path, quote,
                     sanitizers_enabled, skip_reason)
from mailgen import MailGenerator, _pdf

BACKEND = os.environ.get("TRESOR_FTS_TEST_BACKEND", "tresor")
EXTRACT_PATH = extract_path()
TESTDATA = os.environ.get("TRESOR_TESTDATA") or os.path.normpath(
    os.path.join(SRCDIR, "..", "shared", "testdata"))
EINVOICE_DIR = os.path.join(TESTDATA, "einvoice")
XRECHNUNG_XML = "xrechnung-testsuite--01.01a-INVOICE_ubl.xml"

CORPUS_SEED = 20240815
CORPUS_SIZE = 300
QUERY_COUNT = 240
MEMORY_MAILS = int(os.environ.get("TRESOR_FTS_MEMORY_MAILS", "2000"))
DELIVERY_BOUND = 10.0  # seconds one LMTP delivery may take under load
POLICY = email.policy.SMTP


def fts_options(autoindex=False, plugin=None, extra_conf=""):
    """Dovecot(**options) for the backend under test."""
    if BACKEND == "xapian":
        mail_plugins = ["fts", "fts_xapian"]
        p = {"fts": "xapian", "fts_xapian": "partial=3 full=20 verbose=0"}
    elif BACKEND == "tresor":
        mail_plugins = ["fts", "fts_tresor"]
        p = {"fts": "tresor", "tresor_extract": EXTRACT_PATH}
    else:
        raise HarnessError("TRESOR_FTS_TEST_BACKEND=%r: tresor or xapian"
                           % BACKEND)
    p["fts_enforced"] = "yes"
    p["fts_autoindex"] = "yes" if autoindex else "no"
    p.update(plugin or {})
    return {"mail_plugins": mail_plugins, "plugin": p,
            "extra_conf": extra_conf}


def fts_setup_error():
    """Why the FTS tests can't run (built files missing), or None."""
    if BACKEND != "tresor":
        return None
    missing = [p for p in (built_plugin(TRESOR_FTS_PLUGIN),
                           EXTRACT_PATH) if not os.path.isfile(p)]
    if missing:
        return ("built file(s) missing: %s - build first and point "
                "TRESOR_BUILDDIR at the build directory (now %s)"
                % (", ".join(missing), BUILDDIR))
    return None


# --------------------------------------------------------------------------
# helpers


def index_root(dc, user):
    """Where the backend keeps the user's indexes."""
    sub = "tresor-fts" if BACKEND == "tresor" else "xapian-indexes"
    return os.path.join(dc.index_dir(user), sub)


def mailbox_index_dir(dc, user, box="INBOX"):
    """The backend's index directory of one mailbox (xapian: the user's)."""
    if BACKEND == "tresor":
        return os.path.join(index_root(dc, user), dc.mailbox_guid(user, box))
    return index_root(dc, user)


def files_under(path):
    """{relative path: (size, mtime_ns)} of every file below path."""
    out = {}
    for root, _, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            try:
                st = os.stat(p)
            except OSError:
                continue
            out[os.path.relpath(p, path)] = (st.st_size, st.st_mtime_ns)
    return out


def xapian_dbs(path):
    """Directories below path holding a Xapian database."""
    return sorted(root for root, _, files in os.walk(path)
                  if any(f.startswith("iam") for f in files))


def literal(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return b"{%d+}\r\n" % len(b) + b


def search(client, template, strings=()):
    """UID SEARCH CHARSET UTF-8 <template with literals>: (status, set of
    UIDs, IMAPResult)."""
    line = b"UID SEARCH CHARSET UTF-8 " + (
        template.encode() % tuple(literal(s) for s in strings))
    res = client.cmd(line)
    uids = set()
    for u in res.untagged:
        if u.upper().startswith(b"SEARCH"):
            uids |= {int(x) for x in u.split()[1:] if x.isdigit()}
    return res.status, uids, res


def display(template, strings):
    return template % tuple('"%s"' % s for s in strings)


def make_mail(subject, body, attachments=(), sender="Lieferant GmbH "
              "<rechnung@lieferant.example>", to="kunde@example.com",
              message_id=None):
    """A mail with a text/plain body and attachments given as (bytes or
    str, filename, content type[, charset])."""
    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Mon, 02 Sep 2024 10:00:00 +0200"
    if message_id:
        msg["Message-ID"] = message_id
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    for att in attachments:
        data, name, ctype = att[:3]
        maintype, subtype = ctype.split("/")
        if isinstance(data, str):
            charset = att[3] if len(att) > 3 else "utf-8"
            msg.add_attachment(data.encode(charset), maintype=maintype,
                               subtype=subtype, filename=name,
                               params={"charset": charset})
        else:
            msg.add_attachment(data, maintype=maintype, subtype=subtype,
                               filename=name)
    if msg.is_multipart():
        # the email package's own boundary is a random 19-digit number,
        # which could hold a number a test picked as found nowhere else
        seed = repr((subject, [(a[1], len(a[0])) for a in attachments]))
        digest = hashlib.sha256(seed.encode()).hexdigest()[:24]
        msg.set_boundary("=_tresor_" + "".join(
            chr(ord("a") + int(c, 16)) for c in digest))
    return crlf(msg.as_bytes(policy=POLICY))


def crash_lines(log_text, allow_extract=True):
    """Log lines saying a process crashed; lines about the extraction
    helper (tresor-extract) are allowed when allow_extract."""
    bad = []
    for line in log_text.splitlines():
        if not CRASH_RE.search(line):
            continue
        if (allow_extract and "tresor-extract" in line
                and "Panic" not in line and "service(" not in line):
            continue
        bad.append(line)
    return bad


def _short(uids, n=12):
    uids = sorted(uids)
    return "%s%s" % (uids[:n], " +%d more" % (len(uids) - n)
                     if len(uids) > n else "")


def error_lines(log_text):
    return [l for l in log_text.splitlines()
            if re.search(r"\b(Error|Panic|Fatal):", l)]


# ---------------------------------------------------------- documents


def docx(text):
    """A minimal valid Word document with one paragraph."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                   '<Types xmlns="http://schemas.openxmlformats.org/package/'
                   '2006/content-types"><Default Extension="rels" ContentType='
                   '"application/vnd.openxmlformats-package.relationships+xml"'
                   '/><Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/word/document.xml" ContentType="'
                   'application/vnd.openxmlformats-officedocument.'
                   'wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels",
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                   '<Relationships xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/relationships"><Relationship Id="rId1" Type='
                   '"http://schemas.openxmlformats.org/officeDocument/2006/'
                   'relationships/officeDocument" Target="word/document.xml"/>'
                   '</Relationships>')
        z.writestr("word/document.xml",
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                   '<w:document xmlns:w="http://schemas.openxmlformats.org/'
                   'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>'
                   '%s</w:t></w:r></w:p></w:body></w:document>' % text)
    return buf.getvalue()


def xlsx(text):
    """A minimal spreadsheet whose one cell is a shared string."""
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http:'
                   '//schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.'
                   'openxmlformats-package.relationships+xml"/><Default '
                   'Extension="xml" ContentType="application/xml"/><Override '
                   'PartName="/xl/workbook.xml" ContentType="application/vnd.'
                   'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"'
                   '/><Override PartName="/xl/worksheets/sheet1.xml" Content'
                   'Type="application/vnd.openxmlformats-officedocument.'
                   'spreadsheetml.worksheet+xml"/><Override PartName="/xl/'
                   'sharedStrings.xml" ContentType="application/vnd.openxml'
                   'formats-officedocument.spreadsheetml.sharedStrings+xml"/>'
                   '</Types>')
        z.writestr("_rels/.rels",
                   '<?xml version="1.0" encoding="UTF-8"?><Relationships '
                   'xmlns="http://schemas.openxmlformats.org/package/2006/'
                   'relationships"><Relationship Id="rId1" Type="%s/'
                   'officeDocument" Target="xl/workbook.xml"/>'
                   '</Relationships>' % rel)
        z.writestr("xl/workbook.xml",
                   '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="%s" '
                   'xmlns:r="%s"><sheets><sheet name="Tabelle1" sheetId="1" '
                   'r:id="rId1"/></sheets></workbook>' % (ns, rel))
        z.writestr("xl/_rels/workbook.xml.rels",
                   '<?xml version="1.0" encoding="UTF-8"?><Relationships '
                   'xmlns="http://schemas.openxmlformats.org/package/2006/'
                   'relationships"><Relationship Id="rId1" Type="%s/worksheet"'
                   ' Target="worksheets/sheet1.xml"/><Relationship Id="rId2" '
                   'Type="%s/sharedStrings" Target="sharedStrings.xml"/>'
                   '</Relationships>' % (rel, rel))
        z.writestr("xl/worksheets/sheet1.xml",
                   '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="%s">'
                   '<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row>'
                   '</sheetData></worksheet>' % ns)
        z.writestr("xl/sharedStrings.xml",
                   '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="%s" '
                   'count="1" uniqueCount="1"><si><t>%s</t></si></sst>'
                   % (ns, text))
    return buf.getvalue()


def odt(text):
    """A minimal valid OpenDocument text (mimetype stored first)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"),
                   "application/vnd.oasis.opendocument.text",
                   compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/manifest.xml",
                   '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                   'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:'
                   'manifest:1.0" manifest:version="1.2"><manifest:file-entry '
                   'manifest:full-path="/" manifest:media-type="application/'
                   'vnd.oasis.opendocument.text"/><manifest:file-entry '
                   'manifest:full-path="content.xml" manifest:media-type='
                   '"text/xml"/></manifest:manifest>')
        z.writestr("content.xml",
                   '<?xml version="1.0" encoding="UTF-8"?><office:document-'
                   'content xmlns:office="urn:oasis:names:tc:opendocument:'
                   'xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:'
                   'opendocument:xmlns:text:1.0" office:version="1.2">'
                   '<office:body><office:text><text:p>%s</text:p>'
                   '</office:text></office:body></office:document-content>'
                   % text)
    return buf.getvalue()


_BOMB = None


def zip_bomb():
    """A docx-named zip whose document.xml declares 2 GiB of zeros (about
    2 MB compressed; built streaming, once per run)."""
    global _BOMB
    if _BOMB is None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("[Content_Types].xml",
                       '<?xml version="1.0"?><Types xmlns="http://schemas.'
                       'openxmlformats.org/package/2006/content-types"/>')
            with z.open("word/document.xml", "w", force_zip64=True) as f:
                f.write(b'<?xml version="1.0"?><w:document xmlns:w="http://'
                        b'schemas.openxmlformats.org/wordprocessingml/2006/'
                        b'main"><w:body><w:p><w:r><w:t>')
                chunk = b"\0" * (1 << 20)
                for _ in range(2048):
                    f.write(chunk)
        _BOMB = buf.getvalue()
    return _BOMB


def pdf_text(data):
    """pdftotext's text of a PDF ("" when it can't read it)."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(data)
        f.flush()
        p = subprocess.run(["pdftotext", "-enc", "UTF-8", f.name, "-"],
                           capture_output=True, timeout=60)
        return p.stdout.decode("utf-8", "replace")


def pdf_embedded_text(data):
    """The text of the files embedded in a PDF (pdfdetach -saveall)."""
    d = tempfile.mkdtemp(prefix="fts-detach-")
    try:
        path = os.path.join(d, "in.pdf")
        with open(path, "wb") as f:
            f.write(data)
        out = os.path.join(d, "out")
        os.mkdir(out)
        subprocess.run(["pdfdetach", "-saveall", "-o", out, path],
                       capture_output=True, timeout=60)
        text = ""
        for p in sorted(glob.glob(os.path.join(out, "*"))):
            with open(p, "rb") as f:
                text += f.read().decode("utf-8", "replace") + "\n"
        return text
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------


class FtsCase(DovecotTestCase):
    """One FTS Dovecot for the class (fts_options()); plugin/extra_conf
    of the subclass are merged in."""

    required_plugins = ()
    autoindex = False
    plugin = None
    extra_conf = ""

    @classmethod
    def dovecot_options(cls):
        return fts_options(cls.autoindex, cls.plugin, cls.extra_conf)

    @classmethod
    def setUpClass(cls):
        err = fts_setup_error() if skip_reason() is None else None
        if err:
            cls.dc = None
            cls._skip = None
            cls._setup_error = err
            return
        super().setUpClass()

    def assertNoCrash(self, allow_extract=True):
        bad = crash_lines(self.dc.log_since_mark(), allow_extract)
        self.assertEqual(bad, [], "Dovecot processes crashed or gave up:\n"
                         + "\n".join(bad))

    def index(self, user, box="INBOX", timeout=180):
        t = time.time()
        rc, out, err = self.dc.doveadm("index", "-u", user, box,
                                       timeout=timeout)
        self.assertEqual(rc, 0, "doveadm index -u %s %s: rc %d\n%s%s"
                         % (user, box, rc, out, err))
        bad = crash_lines(err)
        self.assertEqual(bad, [], "doveadm index -u %s %s:\n%s"
                         % (user, box, "\n".join(bad)))
        self.last_index_stderr = err
        return time.time() - t

    def fts_lookup_split(self, user, box, *query):
        """(definite UIDs, maybe UIDs) the backend itself has for a
        doveadm search query (doveadm fts lookup: no indexing, no
        verification by Dovecot)."""
        rc, out, err = self.dc.doveadm("fts", "lookup", "-u", user,
                                       "mailbox", box, *query)
        self.assertEqual(rc, 0, "doveadm fts lookup %s: %s%s"
                         % (" ".join(query), out, err))
        definite, maybe = set(), set()
        for line in out.splitlines():
            m = re.match(r"^\s*(- maybe: |.*?: )([\d:,]+)$", line)
            if not m:
                continue
            target = maybe if "maybe" in m.group(1) else definite
            for r in m.group(2).split(","):
                a, _, b = r.partition(":")
                a, b = int(a), int(b or a)
                # (the backend cuts its ranges at the mailbox's last UID)
                self.assertLess(b - a, 1000000, "doveadm fts lookup: UID "
                                "range %s beyond any mailbox" % r)
                target |= set(range(a, b + 1))
        return definite, maybe

    def fts_lookup(self, user, box, key, value):
        """Every UID (definite or maybe) the backend has for key value."""
        definite, maybe = self.fts_lookup_split(user, box, key, value)
        return definite | maybe

    def assertFinds(self, c, template, strings, expected, what=""):
        status, uids, res = search(c, template, strings)
        self.assertEqual(status, "OK", "%s %s: %r" % (
            what, display(template, strings), res))
        self.assertEqual(uids, set(expected), "%s UID SEARCH %s" % (
            what, display(template, strings)))


def token_mail(token, subject=None, extra=""):
    return make_mail(subject or "Vorgang %s" % token,
                     "Hallo,\n\nder Vorgang %s ist erledigt.%s\n\nGrüße\n"
                     % (token, extra))


# --------------------------------------------------------------------------
# 1. the oracle


class FtsOracleTests(FtsCase):
    """The corpus in a plain Dovecot and in one with FTS: the same UIDs
    for every generated query."""

    USER = "oracle"
    ATTACHMENT_WORD = "Kranichfedernversand"
    plain = None
    corpus = None
    queries = None
    _populate_error = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.plain = None
        cls._populate_error = None
        if cls.dc is None:
            return
        try:
            cls.plain = Dovecot(mail_plugins=[], name="tresor-it-plain")
            cls.plain.start()
            cls.corpus = FtsCorpus(CORPUS_SEED, CORPUS_SIZE)
            cls.queries = generate_queries(cls.corpus, QUERY_COUNT,
                                           CORPUS_SEED)
            t = time.time()
            for dc in (cls.plain, cls.dc):
                c = dc.imap(cls.USER)
                for i, m in enumerate(cls.corpus.mails, 1):
                    typ, text, _, uid = c.append_msg("INBOX", m.raw)
                    if typ != "OK" or uid != i:
                        raise HarnessError("APPEND %d: %s %s (uid %r)"
                                           % (i, typ, text, uid))
                # a word only in an attachment, in a mailbox of its own
                c.cmd("CREATE Anhang")
                typ, text, _, _ = c.append_msg("Anhang", make_mail(
                    "Unterlagen", "Anbei die Unterlagen.\n",
                    [(docx("Lieferung per " + cls.ATTACHMENT_WORD),
                      "unterlagen.docx", "application/vnd.openxmlformats-"
                      "officedocument.wordprocessingml.document")]))
                if typ != "OK":
                    raise HarnessError("APPEND Anhang: %s %s" % (typ, text))
                c.close_quietly()
            cls.append_seconds = time.time() - t
            t = time.time()
            rc, out, err = cls.dc.doveadm("index", "-u", cls.USER, "INBOX",
                                          timeout=300)
            if rc != 0:
                raise HarnessError("doveadm index: rc %d %s%s"
                                   % (rc, out, err))
            cls.index_seconds = time.time() - t
        except Exception as e:  # noqa: BLE001 - reported by every test
            cls._populate_error = "%s: %s" % (type(e).__name__, e)

    @classmethod
    def tearDownClass(cls):
        if cls.plain is not None:
            cls.plain.stop()
            cls.plain = None
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        if self._populate_error:
            self.fail("setting up the corpus: " + self._populate_error)

    def test_01_index_used(self):
        """doveadm index built an index; the backend itself answers
        (doveadm fts lookup); a word only inside a docx attachment is
        found with FTS and not without."""
        d = mailbox_index_dir(self.dc, self.USER)
        files = files_under(d)
        self.assertTrue(files, "no index files under %s" % d)
        self.assertGreater(sum(s for s, _ in files.values()), 0)
        if BACKEND == "tresor" and shutil.which("xapian-check"):
            dbs = xapian_dbs(d)
            self.assertTrue(dbs, "no Xapian database below %s: %s"
                            % (d, sorted(files)))
            for db in dbs:
                p = subprocess.run(["xapian-check", db], capture_output=True,
                                   timeout=60)
                self.assertEqual(p.returncode, 0, "xapian-check %s: %s%s" % (
                    db, p.stdout.decode(errors="replace"),
                    p.stderr.decode(errors="replace")))
        # a word that is in exactly the known mails, asked of the backend
        want = {i for i, m in enumerate(self.corpus.mails, 1)
                if "eingangsrechnung" in "\n".join(m.meta["bodies"]).lower()}
        self.assertTrue(want)
        got = self.fts_lookup(self.USER, "INBOX", "body", "eingangsrechnung")
        self.assertTrue(want <= got, "doveadm fts lookup body "
                        "eingangsrechnung: missing %s" % sorted(want - got))
        # the backend alone gives exactly Dovecot's answers (definite
        # UIDs, no "maybe" left for Dovecot to verify)
        cp = self.plain.imap(self.USER)
        self.addCleanup(cp.close_quietly)
        cp.select_box("INBOX", readonly=True)
        single = [q for q in self.queries if q.kind.split(":")[0] in (
            "substring", "word") and re.match(
                r"^(TEXT|BODY|SUBJECT|FROM|TO|CC|BCC) %s$", q.template)]
        self.assertGreater(len(single), 20)
        wrong = []
        for q in single[:40]:
            st, want, res = search(cp, q.template, q.strings)
            self.assertEqual(st, "OK", res)
            definite, maybe = self.fts_lookup_split(
                self.USER, "INBOX", q.template.split()[0].lower(),
                q.strings[0])
            if definite != want or maybe:
                wrong.append("doveadm fts lookup %s: definite %s maybe %s, "
                             "Dovecot's own search: %s (missing %s, extra %s)"
                             % (q.display(), _short(definite), _short(maybe),
                                _short(want), _short(want - definite),
                                _short(definite - want)))
        if wrong:
            self.fail("the backend's own answers differ from Dovecot's "
                      "search:\n" + "\n".join(wrong))
        cp.close_quietly()
        # the attachment-only word
        cf = self.imap(self.USER)
        cf.select_box("Anhang")
        cp = self.plain.imap(self.USER)
        self.addCleanup(cp.close_quietly)
        cp.select_box("Anhang")
        for key in ("TEXT %s", "BODY %s"):
            st, uids, res = search(cf, key, [self.ATTACHMENT_WORD.lower()])
            self.assertEqual((st, uids), ("OK", {1}),
                             "FTS %s: %r" % (key, res))
            st, uids, res = search(cp, key, [self.ATTACHMENT_WORD.lower()])
            self.assertEqual((st, uids), ("OK", set()),
                             "without FTS %s: %r" % (key, res))
        self.assertNoCrash()

    def test_02_oracle(self):
        """Every generated query: the same UIDs with and without FTS."""
        self.assertGreaterEqual(len(self.queries), 200)
        cf = self.imap(self.USER)
        cf.select_box("INBOX", readonly=True)
        cp = self.plain.imap(self.USER)
        self.addCleanup(cp.close_quietly)
        cp.select_box("INBOX", readonly=True)
        mismatches = []  # (query, want, got, status, result)
        nonempty = 0
        t_fts = t_plain = 0.0
        for q in self.queries:
            t = time.time()
            st_p, want, res_p = search(cp, q.template, q.strings)
            t_plain += time.time() - t
            t = time.time()
            st_f, got, res_f = search(cf, q.template, q.strings)
            t_fts += time.time() - t
            self.assertEqual(st_p, "OK", "the plain Dovecot refused %s: %r "
                             "(a bug of the test)" % (q.display(), res_p))
            nonempty += bool(want)
            if st_f != "OK" or got != want:
                mismatches.append((q, want, got, st_f, res_f))
        # the queries must discriminate: most find something, not all
        self.assertGreater(nonempty, len(self.queries) // 2,
                           "too few queries find anything: the generator "
                           "is broken")
        errors = error_lines(self.dc.log_since_mark())
        if not mismatches and not errors:
            return
        kinds = {}
        for q, *_ in mismatches:
            k = q.kind.split(":")[0]
            kinds[k] = kinds.get(k, 0) + 1
        report = ["%d of %d queries differ from Dovecot's own search "
                  "(by kind: %s; FTS %.1fs, plain %.1fs)" % (
                      len(mismatches), len(self.queries),
                      ", ".join("%s %d" % kv for kv in sorted(kinds.items())),
                      t_fts, t_plain), "", "ALL MISMATCHES:"]
        for q, want, got, st, res in mismatches:
            if st != "OK":
                report.append("  %s [%s]: FTS search failed: %s %s"
                              % (q.display(), q.kind, st, res.text))
            else:
                report.append("  %s [%s]: expected %d, got %d; missing %s; "
                              "extra %s" % (q.display(), q.kind, len(want),
                                            len(got), _short(want - got),
                                            _short(got - want)))
        report += ["", "DETAILS (first %d):" % min(len(mismatches), 30)]
        for m in mismatches[:30]:
            report.append(self._describe(*m))
        if errors:
            report += ["", "errors in the FTS Dovecot's log (first 30 of "
                       "%d):" % len(errors)] + errors[:30]
        self.fail("\n".join(report))

    def _describe(self, q, want, got, status, res):
        missing = sorted(want - got)
        extra = sorted(got - want)
        out = ["QUERY %s  [%s]" % (q.display(), q.kind)]
        if status != "OK":
            out.append("  FTS search failed: %s %s" % (status, res.text))
            return "\n".join(out)
        out.append("  expected %d UIDs, got %d; missing %s; extra %s" % (
            len(want), len(got), _short(missing), _short(extra)))
        for label, uids in (("missing", missing), ("extra", extra)):
            for uid in uids[:1]:
                m = self.corpus.mails[uid - 1]
                out.append("  %s UID %d: %s" % (label, uid,
                                                self._where(m, q.strings)))
                raw = m.raw[:600].decode("utf-8", "replace")
                out.append("    | " + raw.replace("\r\n", "\n    | "))
        return "\n".join(out)

    @staticmethod
    def _where(mail, strings):
        """Where the query strings occur in the mail's decoded text."""
        found = []
        for s in strings:
            for field, text in mail.texts().items():
                i = text.lower().find(s.lower())
                if i >= 0:
                    ctx = text[max(0, i - 30):i + len(s) + 30]
                    found.append("%r in %s: ...%s..." % (
                        s, field, ctx.replace("\n", " ")))
                    break
            else:
                found.append("%r not in the generated text (MIME headers, "
                             "Date, Content-Type or raw bytes?)" % s)
        return "; ".join(found)


# --------------------------------------------------------------------------
# 2. attachments


class WithVocabularyFiles:
    """Mixin: every folder's index keeps a vocabulary file
    (tresor_fts_vocabulary_from = 0; by default only folders of 25,000
    mails and more do), which each search reads instead of Xapian's term
    list."""
    plugin = {"tresor_fts_vocabulary_from": "0"}

    @classmethod
    def setUpClass(cls):
        if BACKEND != "tresor":
            raise unittest.SkipTest("the vocabulary file is fts_tresor's")
        super().setUpClass()


class FtsOracleVocabularyTests(WithVocabularyFiles, FtsOracleTests):
    """The oracle again, with vocabulary files."""


class FtsAttachmentTests(FtsCase):
    """Text inside attachments is found by TEXT and BODY; broken or
    hostile attachments hurt nothing."""

    USER = "anhang"
    plain = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.plain = None
        if cls.dc is None:
            return
        try:
            cls.plain = Dovecot(mail_plugins=[], name="tresor-it-plain")
            cls.plain.start()
        except HarnessError as e:
            cls._setup_error = str(e)

    @classmethod
    def tearDownClass(cls):
        if cls.plain is not None:
            cls.plain.stop()
            cls.plain = None
        super().tearDownClass()

    def _pick_token(self, text, exclude, raw, prefer_umlaut=False):
        """A word of >= 5 characters from text that occurs (as a
        case-insensitive substring) in none of the exclude texts;
        preferably letters only and not in raw (the attachment's own bytes,
        where Dovecot's own search would see it). (word, in_raw)."""
        excl = [e.lower() for e in exclude]
        raw_l = raw.decode("latin-1").lower()
        cands = []
        for w in re.findall(r"[^\W_]{5,}", text):
            lw = w.lower()
            if any(lw in e for e in excl):
                continue
            if not any(c.isdigit() for c in w) and not any(
                    c.isalpha() for c in w):
                continue
            in_raw = lw in raw_l or lw.encode() in raw.lower()
            score = (in_raw, any(c.isdigit() for c in w),
                     not (prefer_umlaut and re.search("[äöüß]", lw)), -len(w))
            cands.append((score, w, in_raw))
        if not cands:
            return None, None
        cands.sort(key=lambda t: t[0])
        return cands[0][1], cands[0][2]

    def test_attachments(self):
        pdf_names = sorted(f for f in os.listdir(EINVOICE_DIR)
                           if f.endswith(".pdf"))
        self.assertTrue(pdf_names, "no PDFs in %s" % EINVOICE_DIR)
        pdfs = {}
        for n in pdf_names:
            with open(os.path.join(EINVOICE_DIR, n), "rb") as f:
                data = f.read()
            pdfs[n] = (data, pdf_text(data), pdf_embedded_text(data))
            self.assertTrue(pdfs[n][1].strip(), "pdftotext gave no text for %s"
                            % n)
        with open(os.path.join(EINVOICE_DIR, XRECHNUNG_XML), "rb") as f:
            xml = f.read()

        # ordinary mails with their own tokens, before and after the
        # attachments
        tokens = ["Vorgangsmarke%s" % w for w in
                  ("Amsel", "Buchfink", "Dohle", "Elster", "Fasan", "Gimpel",
                   "Habicht", "Ibis")]
        docx_word, odt_word, xlsx_word, txt_word = (
            "Kranichfedern", "Zaunkönigweg", "Seidenreiherliste",
            "Leuchtturmwärter")
        mails = []  # (description, bytes, attachment bytes or None)
        for t in tokens[:4]:
            mails.append(("mail " + t, token_mail(t), None))
        truncated = pdfs[pdf_names[0]][0]
        truncated = truncated[:len(truncated) * 2 // 5]
        t0 = time.time()
        bomb = zip_bomb()
        bomb_seconds = time.time() - t0
        specials = {
            "docx": (docx("Lieferung %s Hafen" % docx_word), "angebot.docx",
                     "application/vnd.openxmlformats-officedocument."
                     "wordprocessingml.document"),
            "xlsx": (xlsx(xlsx_word), "liste.xlsx",
                     "application/vnd.openxmlformats-officedocument."
                     "spreadsheetml.sheet"),
            "odt": (odt("Adresse: %s 7" % odt_word), "adresse.odt",
                    "application/vnd.oasis.opendocument.text"),
            "xml": (xml, "xrechnung.xml", "application/xml"),
            "txt": ("Notiz für den %s\n" % txt_word, "notiz.txt",
                    "text/plain", "iso-8859-1"),
            "truncated-pdf": (truncated, "kaputt.pdf", "application/pdf"),
            "zip-bomb": (bomb, "bombe.docx",
                         "application/vnd.openxmlformats-officedocument."
                         "wordprocessingml.document"),
        }
        for n in pdf_names:
            mails.append(("pdf " + n, make_mail(
                "Rechnung (PDF)", "Anbei die Rechnung als PDF.\n",
                [(pdfs[n][0], "rechnung.pdf", "application/pdf")]),
                pdfs[n][0]))
        for kind, att in specials.items():
            mails.append((kind, make_mail("Anhang " + kind,
                                          "Siehe Anhang.\n", [att]),
                          att[0] if isinstance(att[0], bytes)
                          else att[0].encode(att[3])))
        # two attachments in one mail: the second is extracted only after
        # the first one's text is in
        pair_words = ("Wiedehopfnest", "Eisvogelufer")
        pair = [(docx("Vermerk %s Ende" % pair_words[0]), "vermerk.docx",
                 specials["docx"][2]),
                (odt("Ort: %s 3" % pair_words[1]), "ort.odt",
                 specials["odt"][2])]
        mails.append(("pair", make_mail("Zwei Dokumente", "Siehe beide.\n",
                                        pair), None))
        for t in tokens[4:]:
            mails.append(("mail " + t, token_mail(t), None))
        uid_of = {desc: i for i, (desc, _, _) in enumerate(mails, 1)}

        # what each attachment could contribute (for the allowed extras)
        content = {}
        for desc, _, att in mails:
            if att is None:
                continue
            text = att.decode("latin-1") + att.decode("utf-8", "replace")
            if desc.startswith("pdf ") or desc == "truncated-pdf":
                text += pdf_text(att) + pdf_embedded_text(att)
            if desc in ("docx", "xlsx", "odt"):
                with zipfile.ZipFile(io.BytesIO(att)) as z:
                    text += "".join(z.read(n).decode("utf-8", "replace")
                                    for n in z.namelist())
            content[desc] = text.lower()
        content["pair"] = "".join(
            a[0].decode("latin-1") + "".join(
                zipfile.ZipFile(io.BytesIO(a[0])).read(n).decode("utf-8",
                                                                 "replace")
                for n in zipfile.ZipFile(io.BytesIO(a[0])).namelist())
            for a in pair).lower()

        # the words to look for: [(desc, word, check_plain)]
        checks = []
        for n in pdf_names:
            data, text, _ = pdfs[n]
            others = [pdfs[o][1] for o in pdf_names if o != n]
            others += [m.decode("utf-8", "replace") for _, m, _ in mails]
            word, in_raw = self._pick_token(text, others, data)
            self.assertIsNotNone(word, "no word only in %s's text" % n)
            checks.append(("pdf " + n, word, not in_raw))
        xml_text = " ".join(re.findall(r">([^<]+)<", xml.decode("utf-8")))
        others = [pdfs[o][1] + pdfs[o][2] for o in pdf_names]
        others += [m.decode("utf-8", "replace") for _, m, _ in mails]
        word, _ = self._pick_token(xml_text, others, b"", prefer_umlaut=True)
        self.assertIsNotNone(word, "no word only in %s" % XRECHNUNG_XML)
        checks.append(("xml", word, False))
        checks += [("docx", docx_word, True), ("xlsx", xlsx_word, True),
                   ("odt", odt_word, True), ("txt", txt_word, False),
                   ("pair", pair_words[0], True), ("pair", pair_words[1], True)]
        for _, w, _ in checks:
            for _, m, _ in mails:
                self.assertNotIn(w.lower().encode(), m.lower(),
                                 "test bug: %s in a mail's raw bytes" % w)

        for dc in (self.dc, self.plain):
            c = dc.imap(self.USER)
            for i, (desc, raw, _) in enumerate(mails, 1):
                typ, text, _, uid = c.append_msg("INBOX", raw)
                self.assertEqual((typ, uid), ("OK", i), "APPEND %s: %s"
                                 % (desc, text))
            c.close_quietly()
        seconds = self.index(self.USER, timeout=300)

        c = self.imap(self.USER)
        c.select_box("INBOX", readonly=True)
        cp = self.plain.imap(self.USER)
        self.addCleanup(cp.close_quietly)
        cp.select_box("INBOX", readonly=True)
        failures = []
        for desc, word, check_plain in checks:
            target = uid_of[desc]
            inner = word[1:-1] if len(word) >= 6 else word
            for key, w in (("TEXT %s", word), ("BODY %s", word.upper()),
                           ("TEXT %s", inner.lower())):
                # other attachments with the string, and what Dovecot's own
                # search finds (a short inner string may occur by chance
                # in another mail's Message-ID or boundary)
                st_plain, plain_uids, _ = search(cp, key, [w])
                allowed = {uid_of[d] for d, t in content.items()
                           if w.lower() in t} | {target} | plain_uids
                st, uids, res = search(c, key, [w])
                if st != "OK" or target not in uids or not uids <= allowed:
                    failures.append(
                        "%s: UID SEARCH %s gave %s %s, expected UID %d%s"
                        % (desc, display(key, [w]), st, sorted(uids), target,
                           " (others allowed: %s)" % sorted(allowed - {target})
                           if allowed != {target} else ""))
            if check_plain:
                st, uids, res = search(cp, "TEXT %s", [word])
                if st != "OK" or uids:
                    failures.append(
                        "test premise: without FTS TEXT \"%s\" gave %s %s "
                        "(%s should be invisible to Dovecot's own search)"
                        % (word, st, sorted(uids), desc))
        # the ordinary mails around the broken attachments
        for t in tokens:
            st, uids, res = search(c, "TEXT %s", [t.lower()])
            if (st, uids) != ("OK", {uid_of["mail " + t]}):
                failures.append("mail %s: TEXT gave %s %s, expected %d"
                                % (t, st, sorted(uids), uid_of["mail " + t]))
        st, uids, res = search(c, "SUBJECT %s", ["Anhang"])
        want = {uid_of[k] for k in specials}
        if (st, uids) != ("OK", want):
            failures.append("SUBJECT Anhang gave %s %s, expected %s"
                            % (st, sorted(uids), sorted(want)))
        if failures:
            self.fail("\n".join(
                ["%d attachment checks failed" % len(failures)] + failures
                + ["", "attachment words (UID): %s" % ", ".join(
                    "%s=%s (%d)" % (d, w, uid_of[d]) for d, w, _ in checks),
                   "doveadm index took %.1fs (zip bomb built in %.1fs)"
                   % (seconds, bomb_seconds),
                   "doveadm index said:", self.last_index_stderr[-3000:]]))
        self.assertNoCrash()


# --------------------------------------------------------------------------
# 3. lifecycle


class FtsLifecycleTests(FtsCase):
    """Expunge, rename, delete, rescan, optimize, corruption, UIDVALIDITY."""

    def fill(self, user, box="INBOX", n=6, prefix="tok"):
        """n mails with tokens <prefix>a<user>... in box; {token: uid}."""
        c = self.imap(user)
        if box != "INBOX":
            c.cmd("CREATE %s" % quote(box))
        out = {}
        tag = re.sub(r"[^a-z]", "", user)[:10]
        for i in range(n):
            token = "%s%s%sz" % (prefix, tag, "abcdefghijklmnop"[i] * 3)
            typ, text, _, uid = c.append_msg(box, token_mail(token))
            self.assertEqual(typ, "OK", text)
            out[token] = uid
        c.close_quietly()
        return out

    def assertTokens(self, c, tokens, key="TEXT %s"):
        """Each token finds exactly its UID (the selected mailbox)."""
        bad = []
        for token, uid in tokens.items():
            st, uids, res = search(c, key, [token])
            if (st, uids) != ("OK", {uid}):
                bad.append("%s: %s %s, expected {%d}" % (
                    display(key, [token]), st, sorted(uids), uid))
        self.assertEqual(bad, [], "\n".join(bad))

    def test_expunge(self):
        user = self.user()
        tokens = self.fill(user)
        self.index(user)
        c = self.imap(user)
        c.select_box("INBOX")
        self.assertTokens(c, tokens)
        gone = sorted(tokens)[2]
        uid = tokens.pop(gone)
        self.assertOK(c.cmd("UID STORE %d +FLAGS.SILENT (\\Deleted)" % uid))
        self.assertOK(c.cmd("EXPUNGE"))
        self.assertFinds(c, "TEXT %s", [gone], set(), "after EXPUNGE")
        self.assertFinds(c, "BODY %s", [gone], set(), "after EXPUNGE")
        self.assertTokens(c, tokens)
        # the document left the index itself
        self.index(user)
        self.assertEqual(self.fts_lookup(user, "INBOX", "body", gone), set(),
                         "doveadm fts lookup still has the expunged UID %d"
                         % uid)
        self.assertEqual(self.fts_lookup(user, "INBOX", "body",
                                         sorted(tokens)[0]),
                         {tokens[sorted(tokens)[0]]})
        rc, out, err = self.dc.doveadm("fts", "rescan", "-u", user)
        self.assertEqual(rc, 0, out + err)
        self.assertFinds(c, "TEXT %s", [gone], set(), "after rescan")
        self.assertTokens(c, tokens)
        self.assertNoCrash()

    def test_rename(self):
        user = self.user()
        tokens = self.fill(user, "Projekt")
        c = self.imap(user)
        c.select_box("Projekt")
        self.assertTokens(c, tokens)  # indexes (fts_enforced)
        old_dir = mailbox_index_dir(self.dc, user, "Projekt")
        self.assertTrue(files_under(old_dir), "no index in %s" % old_dir)
        c.cmd("UNSELECT")
        self.assertOK(c.cmd('RENAME "Projekt" "Archiv/Projekt 2024"'))
        c.select_box("Archiv/Projekt 2024")
        self.assertTokens(c, tokens)
        typ, _, _, uid = c.append_msg("Archiv/Projekt 2024",
                                      token_mail("nachumbenennung"))
        self.assertEqual(typ, "OK")
        c.cmd("NOOP")
        self.assertFinds(c, "BODY %s", ["umbenennung"], {uid})
        res = c.cmd('SELECT "Projekt"')
        self.assertEqual(res.status, "NO", "the old name still exists")
        self.assertNoCrash()

    def test_delete_recreate(self):
        user = self.user()
        old = self.fill(user, "Temp", prefix="alt")
        c = self.imap(user)
        c.select_box("Temp")
        self.assertTokens(c, old)
        old_guid = self.dc.mailbox_guid(user, "Temp")
        c.cmd("UNSELECT")
        self.assertOK(c.cmd('DELETE "Temp"'))
        self.assertOK(c.cmd('CREATE "Temp"'))
        typ, _, _, uid = c.append_msg("Temp", token_mail("neuerinhalt"))
        self.assertEqual(typ, "OK")
        c.select_box("Temp")
        for token in old:
            self.assertFinds(c, "TEXT %s", [token], set(),
                             "re-created folder")
        self.assertFinds(c, "TEXT %s", ["vorgang"], {uid})
        self.assertFinds(c, "BODY %s", ["neuerinhalt"], {uid})
        if BACKEND == "tresor":
            rc, out, err = self.dc.doveadm("fts", "optimize", "-u", user)
            self.assertEqual(rc, 0, out + err)
            stale = os.path.join(index_root(self.dc, user), old_guid)
            self.assertFalse(os.path.exists(stale), "the deleted folder's "
                             "index %s is still there (after DELETE and "
                             "doveadm fts optimize)" % stale)
        self.assertNoCrash()

    def test_rescan_index_optimize(self):
        user = self.user()
        tokens = self.fill(user, n=8)
        self.index(user)
        rc, out, err = self.dc.doveadm("fts", "rescan", "-u", user)
        self.assertEqual(rc, 0, "fts rescan: " + out + err)
        self.index(user)
        self.assertTrue(files_under(mailbox_index_dir(self.dc, user)))
        c = self.imap(user)
        c.select_box("INBOX")
        self.assertTokens(c, tokens)
        self.assertTokens(c, tokens, "BODY %s")
        rc, out, err = self.dc.doveadm("fts", "optimize", "-u", user)
        self.assertEqual(rc, 0, "fts optimize: " + out + err)
        self.assertTokens(c, tokens)
        c2 = self.imap(user)
        c2.select_box("INBOX")
        self.assertTokens(c2, tokens, "BODY %s")
        # rescan without an explicit index: the next search catches up
        rc, out, err = self.dc.doveadm("fts", "rescan", "-u", user)
        self.assertEqual(rc, 0, out + err)
        c3 = self.imap(user)
        c3.select_box("INBOX")
        self.assertTokens(c3, tokens)
        self.assertNoCrash()

    def _corrupt(self, user, how):
        tokens = self.fill(user, n=6)
        self.index(user)
        c = self.imap(user)
        c.select_box("INBOX")
        self.assertTokens(c, tokens)  # this process has the index open
        root = index_root(self.dc, user)
        self.assertTrue(files_under(root), "no index under %s" % root)
        self.dc.mark_log()
        if how == "garbage":
            rng = random.Random(7)
            for rel in files_under(root):
                p = os.path.join(root, rel)
                with open(p, "r+b") as f:
                    size = os.path.getsize(p)
                    f.write(bytes(rng.getrandbits(8)
                                  for _ in range(max(size, 64))))
        else:
            shutil.rmtree(root)
        typ, _, _, uid = c.append_msg("INBOX", token_mail("nachdemschaden"))
        self.assertEqual(typ, "OK")
        tokens["nachdemschaden"] = uid
        c.cmd("NOOP")
        self.assertTokens(c, tokens)  # the open connection
        c2 = self.imap(user)
        c2.select_box("INBOX")
        self.assertTokens(c2, tokens, "BODY %s")  # a new process
        self.assertFinds(c2, "TEXT %s", ["vorgang"], set(tokens.values()))
        return c2

    def test_corrupt_index(self):
        user = self.user()
        self._corrupt(user, "garbage")
        log = self.dc.log_since_mark()
        if BACKEND == "tresor":
            self.assertRegex(log, r"(?i)corrupt|rebuil|recreat|reindex",
                             "the log does not mention the rebuild")
        self.assertNoCrash()

    def test_deleted_index(self):
        user = self.user()
        self._corrupt(user, "delete")
        self.assertTrue(files_under(index_root(self.dc, user)),
                        "the index was not rebuilt")
        self.assertNoCrash()

    def test_uidvalidity_change(self):
        """Dovecot forgets the mailbox's UIDs (dovecot-uidlist and index
        files removed) and a mail that sorts first appears: every old mail
        gets UID+1 under a new UIDVALIDITY; search must follow."""
        if self.dc.mail_format != "maildir":
            self.skipTest("the UID list is maildir's; the FTS backend "
                          "follows UIDVALIDITY the same way on any format")
        user = self.user()
        tokens = self.fill(user, n=5)
        self.index(user)
        c = self.imap(user)
        res = c.select_box("INBOX")
        self.assertTokens(c, tokens)
        old_validity = re.search(rb"UIDVALIDITY (\d+)",
                                 b"\n".join(res.untagged)).group(1)
        c.close_quietly()
        time.sleep(0.3)
        md = self.dc.maildir(user)
        for f in glob.glob(os.path.join(md, "dovecot-uidlist")) + glob.glob(
                os.path.join(md, "dovecot.index*")):
            os.unlink(f)
        first = os.path.join(md, "cur", "1000000000.M1P1.fts-test:2,")
        with open(first, "wb") as f:
            f.write(token_mail("zuerstsortiert"))
        chown_mail_user(first)
        time.sleep(1.1)  # a new UIDVALIDITY is a timestamp
        c = self.imap(user)
        res = c.select_box("INBOX")
        new_validity = re.search(rb"UIDVALIDITY (\d+)",
                                 b"\n".join(res.untagged)).group(1)
        self.assertNotEqual(old_validity, new_validity)
        expected = {t: u + 1 for t, u in tokens.items()}
        expected["zuerstsortiert"] = 1
        self.assertEqual(sorted(c.uids()), sorted(expected.values()))
        self.assertTokens(c, expected)
        self.assertTokens(c, expected, "BODY %s")
        self.assertNoCrash()

    def test_uidvalidity_doveadm(self):
        """doveadm mailbox update --uid-validity: results stay right."""
        user = self.user()
        tokens = self.fill(user, n=4)
        self.index(user)
        rc, out, err = self.dc.doveadm("mailbox", "update", "-u", user,
                                       "--uid-validity", "12345", "INBOX")
        self.assertEqual(rc, 0, out + err)
        c = self.imap(user)
        res = c.select_box("INBOX")
        self.assertIn(b"UIDVALIDITY 12345", b"\n".join(res.untagged))
        self.assertTokens(c, tokens)
        self.assertNoCrash()


# --------------------------------------------------------------------------
# 4. concurrency and fts_autoindex


class FtsLifecycleVocabularyTests(WithVocabularyFiles, FtsLifecycleTests):
    """Expunge, rename, delete, rescan, optimize, corruption and
    UIDVALIDITY with vocabulary files."""

    def test_vocabulary_files_exist(self):
        """The setting reaches the index: each indexed folder's database
        has its vocabulary file, holding the folder's words."""
        user = self.user()
        tokens = self.fill(user, n=3)
        self.index(user)
        files = glob.glob(os.path.join(mailbox_index_dir(self.dc, user),
                                       "db-*", "vocabulary-*"))
        self.assertEqual(len(files), 1, files)
        with open(files[0], "rb") as f:
            words = f.read()
        for token in tokens:
            self.assertIn(b"B" + token.upper().encode() + b"\n", words)


class FtsConcurrencyTests(FtsCase):
    autoindex = True

    def test_autoindex(self):
        """A delivered mail is indexed by the indexer without any search."""
        user = self.user()
        tokens = ["autoindexamsel", "autoindexdrossel", "autoindexfink"]
        for t in tokens:
            res = self.dc.lmtp_deliver("%s@example.com" % user, token_mail(t))
            self.assertEqual(res["%s@example.com" % user][0], 250, res)
        deadline = time.time() + 60
        found = {}
        while time.time() < deadline:
            found = {t: self.fts_lookup(user, "INBOX", "body", t)
                     for t in tokens}
            if all(found.values()):
                break
            time.sleep(0.5)
        self.assertEqual(found, {t: {i} for i, t in enumerate(tokens, 1)},
                         "the indexer did not index the delivered mails "
                         "within 60 s (doveadm fts lookup)")
        self.assertTrue(files_under(mailbox_index_dir(self.dc, user)))
        c = self.imap(user)
        c.select_box("INBOX")
        t0 = time.time()
        for i, t in enumerate(tokens, 1):
            self.assertFinds(c, "TEXT %s", [t[4:]], {i})
        self.assertLess(time.time() - t0, 5)
        self.assertNoCrash()

    def test_parallel(self):
        """4 LMTP streams x 50 mails, 3 IMAP clients searching all the
        time (each search indexes first: fts_enforced), two doveadm index
        loops and the indexer (fts_autoindex), all on one mailbox: every
        mail is found by its token, no delivery takes longer than
        DELIVERY_BOUND seconds, and the indexers really overlapped."""
        user = self.user()
        rcpt = "%s@example.com" % user
        gen = MailGenerator(seed=99)
        streams, per_stream = 4, 50
        plan = []
        for s in range(streams):
            mails = []
            for i in range(per_stream):
                token = "parallel%sx%03d" % ("abcd"[s], i)
                atts = []
                if i % 2 == 0:
                    atts = [(_pdf(["Beleg " + token, "Rechnung %d" % i]),
                             "beleg.pdf", "application/pdf")]
                body = gen.letter().decode("utf-8", "replace")[-600:]
                mails.append((token, make_mail("Lieferung " + token,
                                               "%s\n\n%s" % (token, body),
                                               atts)))
            plan.append(mails)
        # the mailbox exists and has an index before the storm
        self.dc.lmtp_deliver(rcpt, token_mail("vorherda"))
        done = threading.Event()
        problems = []
        durations = []
        counts = {"search": 0, "index": 0}
        search_times = [0.0]
        lock = threading.Lock()

        def deliver(mails):
            for token, raw in mails:
                t = time.time()
                try:
                    res = self.dc.lmtp_deliver(rcpt, raw)
                except Exception as e:  # noqa: BLE001
                    res = {rcpt: (0, repr(e))}
                d = time.time() - t
                with lock:
                    durations.append((d, token))
                    if res[rcpt][0] != 250:
                        problems.append("delivery %s: %r" % (token, res))
                time.sleep(0.1)  # a storm of some seconds, not a burst

        def searcher(n):
            try:
                c = self.dc.imap(user)
                c.select_box("INBOX", readonly=True)
                i = 0
                while not done.is_set():
                    q = ["rechnung", "lieferung", "parallel", "beleg"][i % 4]
                    t = time.time()
                    st, uids, res = search(c, ["TEXT %s", "BODY %s"][n % 2],
                                           [q])
                    with lock:
                        search_times.append(time.time() - t)
                        if not done.is_set():
                            counts["search"] += 1
                        if st != "OK":
                            problems.append("search %s: %r" % (q, res))
                    i += 1
                c.close_quietly()
            except Exception as e:  # noqa: BLE001
                with lock:
                    problems.append("searcher %d: %r" % (n, e))

        def indexer():
            while not done.is_set():
                rc, out, err = self.dc.doveadm("index", "-u", user, "INBOX",
                                               timeout=120)
                with lock:
                    if not done.is_set():
                        counts["index"] += 1
                    if rc != 0:
                        problems.append("doveadm index rc %d: %s%s"
                                        % (rc, out, err))
                    bad = crash_lines(err)
                    if bad:
                        problems += bad

        helpers = [threading.Thread(target=searcher, args=(n,))
                   for n in range(3)] + [threading.Thread(target=indexer)
                                         for _ in range(2)]
        for t in helpers:
            t.start()
        t0 = time.time()
        try:
            with concurrent.futures.ThreadPoolExecutor(streams) as ex:
                list(ex.map(deliver, plan))
        finally:
            done.set()
            for t in helpers:
                t.join(180)
        total = time.time() - t0
        slow = sorted(d for d in durations if d[0] > DELIVERY_BOUND)
        print("\n    [%d deliveries in %.1fs, slowest %.2fs; meanwhile %d "
              "searches (slowest %.1fs), %d doveadm index runs]"
              % (len(durations), total, max(durations)[0], counts["search"],
                 max(search_times), counts["index"]), end=" ")
        # the point is overlap: indexers and searches finished while the
        # deliveries went on
        self.assertGreaterEqual(counts["index"], 2, "doveadm index did not "
                                "run during the deliveries")
        self.assertGreaterEqual(counts["search"], 6, "too few searches "
                                "during the deliveries")
        self.assertEqual(problems, [], "\n".join(problems[:30]))
        self.assertEqual(slow, [], "deliveries slower than %ss (max %.1fs, "
                         "all %d in %.1fs)" % (DELIVERY_BOUND,
                                               max(durations)[0],
                                               len(durations), total))
        # nothing lost
        c = self.imap(user)
        c.select_box("INBOX", readonly=True)
        self.assertEqual(len(c.uids()), streams * per_stream + 1)
        lost = []
        for mails in plan:
            for token, _ in mails:
                st, uids, res = search(c, "TEXT %s", [token])
                if st != "OK" or len(uids) != 1:
                    lost.append("%s: %s %s" % (token, st, sorted(uids)))
                    continue
                body = c.fetch_body(next(iter(uids)))
                if token.encode() not in body:
                    lost.append("%s: UID %s does not contain it"
                                % (token, uids))
        self.assertEqual(lost, [], "\n".join(lost))
        self.assertFinds(c, "SUBJECT %s", ["parallelc"],
                         set(range(1, streams * per_stream + 2))
                         & set(self._uids_with(c, b"parallelc")))
        self.assertNoCrash()

    @staticmethod
    def _uids_with(c, needle):
        return [u for u in c.uids() if needle in c.fetch_body(u).split(
            b"\r\n\r\n", 1)[0]]


# --------------------------------------------------------------------------
# 5. memory


class FtsMemoryTests(FtsCase):
    extra_conf = ("service indexer-worker {\n  vsz_limit = 256M\n}\n"
                  "service doveadm {\n  vsz_limit = 256M\n}\n")

    def test_large_mailbox_256m(self):
        if sanitizers_enabled():
            self.skipTest("sanitizer build: ASan can't run under a vsz_limit")
        if self.dc.mail_format != "maildir":
            self.skipTest("writes its 20,000 mails as maildir files for "
                          "speed; the FTS backend's memory does not depend "
                          "on the mailbox format")
        user = self.user()
        c = self.imap(user)
        c.select_box("INBOX")  # creates the Maildir
        c.close_quietly()
        md = self.dc.maildir(user)
        gen = MailGenerator(seed=2024)
        ids = []
        t0 = time.time()
        probes = {}  # word only inside a docx attachment: UID
        for i in range(MEMORY_MAILS):
            if i % 200 == 100:
                word = "Speicherprobe" + "".join(
                    "abcdefghijklmnopqrstuvwxyz"[(i // 200 + k * 7) % 26]
                    for k in range(3))
                probes[word] = i + 1
                raw = make_mail("Unterlagen %d" % i, "Siehe Anhang.\n", [
                    (docx("Probe %s Ende" % word), "probe.docx",
                     "application/vnd.openxmlformats-officedocument."
                     "wordprocessingml.document")],
                    message_id="<probe.%d@example.com>" % i)
            else:
                raw = crlf(gen.mail())
            mid = re.search(rb"(?im)^Message-ID: <([^>]+)>", raw).group(1)
            ids.append(mid.decode())
            p = os.path.join(md, "new", "%d.M%dP1.fts-mem,S=%d" % (
                1700000000 + i, i, len(raw)))
            with open(p, "wb") as f:
                f.write(raw)
            chown_mail_user(p)
        last = os.path.join(md, "new", "%d.M%dP1.fts-mem" % (
            1700000000 + MEMORY_MAILS, MEMORY_MAILS))
        with open(last, "wb") as f:
            f.write(token_mail("letztemailimgrossenpostfach"))
        chown_mail_user(last)
        written = time.time() - t0
        # through the indexer (indexer-worker runs with vsz_limit 256M)
        t0 = time.time()
        rc, out, err = self.dc.doveadm("index", "-q", "-u", user, "INBOX")
        self.assertEqual(rc, 0, out + err)
        deadline = time.time() + 300
        got = set()
        while time.time() < deadline:
            got = self.fts_lookup(user, "INBOX", "body",
                                  "letztemailimgrossenpostfach")
            if got:
                break
            bad = crash_lines(self.dc.log_since_mark())
            self.assertEqual(bad, [], "\n".join(bad))
            time.sleep(1)
        took = time.time() - t0
        self.assertEqual(got, {MEMORY_MAILS + 1}, "the indexer did not "
                         "finish %d mails within 300 s" % MEMORY_MAILS)
        self.assertNoCrash()
        c = self.imap(user)
        c.select_box("INBOX", readonly=True)
        rng = random.Random(3)
        for i in sorted(rng.sample(range(MEMORY_MAILS), 15)):
            self.assertFinds(c, "HEADER Message-ID %s", [ids[i]], {i + 1})
        self.assertFinds(c, "BODY %s", ["grossenpostfach"],
                         {MEMORY_MAILS + 1})
        for word, uid in probes.items():
            self.assertFinds(c, "TEXT %s", [word.lower()], {uid},
                             "attachment-only word")
        print("\n    [%d mails written in %.1fs, indexed in %.1fs]"
              % (MEMORY_MAILS, written, took), end=" ")


if __name__ == "__main__":
    unittest.main()
