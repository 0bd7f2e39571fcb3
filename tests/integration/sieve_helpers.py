"""Helpers for the vnd.tresor.invoice tests: the Sieve environment of a test
Dovecot (plugin directory, supplier file, scripts), mails wrapping an
invoice, hostile documents, and running sieve-test.

    env = SieveEnv(suppliers=SUPPLIERS_CSV)
    dc = Dovecot(plugin=env.plugin_settings(), extra_conf=env.lmtp_conf())
    rc, out = env.sieve_test(dc.conf_path, DEBUG_SCRIPT, mail_bytes)
    values = parse_debug(out)

Python 3.11 standard library only.
"""

import base64
import email.policy
import email.utils
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from email.message import EmailMessage

from harness import (BUILDDIR, INSTALLED, MAIL_FORMAT, MAIL_USER, SRCDIR,
                     HarnessError,
                     built_plugin, crlf, extract_path, option_args,
                     protocol_mail_plugins_conf)
from mailgen import _pdf

SIEVE_PLUGIN = "lib90_sieve_tresor_plugin.so"
SIEVE_TEST_TIMEOUT = 120

# the shared corpus beside the repository; make check and scripts/check
# name it in TRESOR_TESTDATA (make distcheck builds elsewhere)
TESTDATA = os.environ.get("TRESOR_TESTDATA") or os.path.normpath(
    os.path.join(SRCDIR, "..", "shared", "testdata"))
EINVOICE_DIR = os.path.join(TESTDATA, "einvoice")
MALFORMED_DIR = os.path.join(TESTDATA, "mail", "malformed")
RFC_DIR = os.path.join(TESTDATA, "mail", "rfc")

# The documented default script (issue 3, docs/invoices.md), verbatim.
DEFAULT_SCRIPT = """\
require ["fileinto", "mailbox", "variables", "imap4flags", "vnd.tresor.invoice"];
if invoice {
  addflag "$tresor_${invoice.verdict}";
  if string :is "${invoice.verdict}" "trusted" {
    fileinto :create "Rechnungen${invoice.separator}${invoice.folder}";
  } else {
    addflag "$Pruefen";
    fileinto :create "Rechnungen${invoice.separator}Pruefen";
  }
  stop;
}
"""

FIELDS = ("format", "number", "date", "total", "currency", "seller",
          "vatid", "iban", "supplier", "folder", "verdict", "reason")

# Prints every invoice variable through vnd.dovecot.debug (the extension
# must not modify the message, so nothing can be added to it).
DEBUG_SCRIPT = (
    'require ["variables", "vnd.tresor.invoice", "vnd.dovecot.debug"];\n'
    'if invoice :einvoice { debug_log "TRESOR-EINVOICE"; }\n'
    'if invoice {\n'
    '  debug_log "TRESOR-INVOICE|' +
    "|".join("%s=${invoice.%s}" % (f, f) for f in FIELDS) + '|END";\n'
    '} else {\n'
    '  debug_log "TRESOR-NOT-INVOICE|verdict=${invoice.verdict}|END";\n'
    '}\n')


def find_extract(builddir=None):
    """The built tresor-extract helper: $TRESOR_EXTRACT, else the real
    binary in BUILDDIR/.libs (libtool), else BUILDDIR/tresor-extract."""
    if INSTALLED:
        return extract_path()
    env = os.environ.get("TRESOR_EXTRACT")
    if env:
        return env
    builddir = builddir or BUILDDIR
    for p in (os.path.join(builddir, ".libs", "tresor-extract"),
              os.path.join(builddir, "tresor-extract")):
        if os.path.isfile(p) and os.access(p, os.X_OK):
            # a libtool wrapper script is no ELF binary; prefer .libs
            return p
    raise HarnessError(
        "built helper tresor-extract missing in %s (build first, or set "
        "TRESOR_EXTRACT)" % builddir)


class SieveEnv:
    """A directory owned by the mail user holding the Sieve plugin
    directory (a symlink to the built plugin), the supplier file and the
    scripts (Pigeonhole saves compiled binaries next to them)."""

    def __init__(self, suppliers=None, builddir=None, extra_plugin=None):
        self.builddir = builddir or BUILDDIR
        self.plugin_so = built_plugin(SIEVE_PLUGIN, self.builddir)
        if not os.path.isfile(self.plugin_so):
            raise HarnessError(
                "built Sieve plugin missing: %s (build first; "
                "TRESOR_BUILDDIR=%s)" % (self.plugin_so, self.builddir))
        self.extract = find_extract(self.builddir)
        self.dir = tempfile.mkdtemp(prefix="tresor-sieve-")
        pw = pwd.getpwnam(MAIL_USER)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        os.chmod(self.dir, 0o755)
        os.chown(self.dir, self.uid, self.gid)
        self.plugin_dir = os.path.join(self.dir, "plugins")
        os.mkdir(self.plugin_dir, 0o755)
        os.symlink(os.path.abspath(self.plugin_so),
                   os.path.join(self.plugin_dir, SIEVE_PLUGIN))
        self.scripts = os.path.join(self.dir, "scripts")
        self.mails = os.path.join(self.dir, "mails")
        for d in (self.scripts, self.mails):
            os.mkdir(d, 0o755)
            os.chown(d, self.uid, self.gid)
        self.suppliers_path = os.path.join(self.dir, "suppliers.csv")
        if suppliers is not None:
            self.write_file(self.suppliers_path, suppliers)
        self.default_script = self.script("default", DEFAULT_SCRIPT)
        self.extra_plugin = dict(extra_plugin or {})
        self._n = 0

    def write_file(self, path, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
        os.chown(path, self.uid, self.gid)
        return path

    def script(self, name, text):
        return self.write_file(os.path.join(self.scripts, name + ".sieve"),
                               text)

    def mail_file(self, data, name=None):
        self._n += 1
        return self.write_file(os.path.join(
            self.mails, name or "mail-%04d.eml" % self._n), crlf(data))

    def plugin_settings(self):
        """plugin { } settings for Sieve with the tresor extension; the
        personal script of every user is the default script."""
        s = {
            "sieve": self.default_script,
            "sieve_plugins": "sieve_tresor",
            "sieve_plugin_dir": self.plugin_dir,
            "sieve_extensions": "+vnd.tresor.invoice +vnd.dovecot.debug",
            "tresor_suppliers": self.suppliers_path,
            "tresor_authserv_id": "mx.example.com",
            "tresor_extract": self.extract,
        }
        s.update(self.extra_plugin)
        return s

    @staticmethod
    def lmtp_conf():
        return protocol_mail_plugins_conf("lmtp", ["sieve"])

    def sieve_test(self, conf, script, mail, options=None, trace=False):
        """sieve-test -c CONF [-o k=v] SCRIPT MAIL; script and mail may be
        paths or text/bytes. Returns (returncode, stdout+stderr text)."""
        if not os.path.isabs(str(script)) or not os.path.isfile(str(script)):
            self._n += 1
            script = self.script("script-%04d" % self._n, script)
        if isinstance(mail, (bytes, bytearray)) or not os.path.isfile(mail):
            mail = self.mail_file(mail)
        cmd = ["sieve-test", "-c", conf]
        # sieve-test runs for root, whose home the mail user can't read
        # (sdbox then fails to look for its alt root): a mail store of
        # its own here, in the test Dovecot's format
        options = dict(options or {})
        options.setdefault("mail_location", "%s:%s" % (
            MAIL_FORMAT, os.path.join(self.dir, "sieve-test-mail")))
        cmd += option_args(options)
        if trace:
            cmd += ["-t", "-", "-T", "level=tests"]
        cmd += [script, mail]
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=SIEVE_TEST_TIMEOUT)
        return p.returncode, p.stdout.decode("utf-8", "replace")

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------
# sieve-test output


def parse_debug(out):
    """The values the DEBUG_SCRIPT printed: {"invoice": bool, "einvoice":
    bool, field: value...}. AssertionError when the script printed
    nothing (it failed)."""
    res = {"einvoice": "DEBUG: TRESOR-EINVOICE" in out}
    m = re.search(r"DEBUG: TRESOR-INVOICE\|(.*?)\|END", out)
    if m:
        res["invoice"] = True
        for kv in m.group(1).split("|"):
            k, _, v = kv.partition("=")
            res[k] = v
        return res
    m = re.search(r"DEBUG: TRESOR-NOT-INVOICE\|verdict=(.*?)\|END", out)
    if m:
        res["invoice"] = False
        res["verdict"] = m.group(1)
        return res
    raise AssertionError("the debug script printed no result:\n" + out)


def performed_folders(out):
    """Folders of "store message in folder" lines in "Performed actions"
    and "Implicit keep"."""
    return re.findall(r"\* store message in folder: (.*)", out)


# --------------------------------------------------------------------------
# mails


def make_mail(subject="Ihre Rechnung", sender=("Lieferant GmbH",
                                               "rechnung@lieferant.de"),
              to="buchhaltung@example.com", body=None, attachments=(),
              auth_results=(), message_id=None, html=None):
    """A MIME mail (bytes, CRLF). attachments: (data, filename,
    content type) tuples; auth_results: Authentication-Results values
    (added on top, as an MTA does)."""
    m = EmailMessage(policy=email.policy.SMTP)
    for ar in auth_results:
        m["Authentication-Results"] = ar
    m["From"] = email.utils.formataddr(sender) if isinstance(
        sender, tuple) else sender
    m["To"] = to
    m["Subject"] = subject
    m["Date"] = email.utils.formatdate(1700000000, localtime=False)
    m["Message-ID"] = message_id or email.utils.make_msgid(
        domain="test.example")
    m.set_content(body if body is not None else
                  "Sehr geehrte Damen und Herren,\n\n"
                  "anbei erhalten Sie unsere Unterlagen.\n\n"
                  "Mit freundlichen Grüßen\n")
    if html:
        m.add_alternative(html, subtype="html")
    for data, filename, ctype in attachments:
        maintype, _, subtype = ctype.partition("/")
        m.add_attachment(data, maintype=maintype, subtype=subtype,
                         filename=filename)
    return crlf(bytes(m))


def raw_mail(subject, sender, parts, auth_results=(), to="buchhaltung@example.com"):
    """A multipart/mixed mail written by hand, for header forms the
    email package does not produce. parts: (content type value,
    content disposition value or None, body bytes), each sent base64."""
    boundary = "----=_tresor_test_boundary"
    head = "".join("Authentication-Results: %s\r\n" % ar
                   for ar in auth_results)
    head += ("From: %s\r\nTo: %s\r\nSubject: %s\r\n"
             "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
             "Message-ID: %s\r\nMIME-Version: 1.0\r\n"
             "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n"
             % (email.utils.formataddr(sender) if isinstance(sender, tuple)
                else sender, to, subject,
                email.utils.make_msgid(domain="test.example"), boundary))
    out = head.encode("utf-8")
    for ctype, disposition, body in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        out += b"Content-Type: " + ctype.encode() + b"\r\n"
        if disposition is not None:
            out += b"Content-Disposition: " + disposition.encode() + b"\r\n"
        out += b"Content-Transfer-Encoding: base64\r\n\r\n"
        out += base64.encodebytes(body).replace(b"\n", b"\r\n")
    out += b"--" + boundary.encode() + b"--\r\n"
    return out


def read_einvoice(name):
    with open(os.path.join(EINVOICE_DIR, name), "rb") as f:
        return f.read()


def einvoice_mail(name, **kw):
    """One test file wrapped as the attachment of a mail, with a plausible
    name and type (PDFs application/pdf, XML application/xml)."""
    data = read_einvoice(name)
    if name.endswith(".pdf"):
        att = (data, "Rechnung_471102.pdf", "application/pdf")
    else:
        att = (data, "Rechnung_471102.xml", "application/xml")
    kw.setdefault("subject", "Rechnung 471102")
    return make_mail(attachments=[att], **kw)


def pdf(lines):
    """A small valid one-page PDF showing the lines."""
    return _pdf(lines)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>
"""


def ubl_bomb():
    """A UBL invoice whose number is a billion-laughs entity."""
    head = BILLION_LAUGHS.split(b"]>")[0].replace(b"<!DOCTYPE lolz",
                                                  b"<!DOCTYPE Invoice")
    return head + b"""]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:ID>&lol9;</cbc:ID>
  <cbc:IssueDate>2024-01-31</cbc:IssueDate>
  <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
  <cac:LegalMonetaryTotal><cbc:PayableAmount currencyID="EUR">10.00</cbc:PayableAmount></cac:LegalMonetaryTotal>
</Invoice>
"""


def ubl_xxe(path="/etc/hostname"):
    """A UBL invoice whose number is an external entity (a local file)."""
    return ("""<?xml version="1.0"?>
<!DOCTYPE Invoice [ <!ENTITY xxe SYSTEM "file://%s"> ]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:ID>X&xxe;X</cbc:ID>
  <cbc:IssueDate>2024-01-31</cbc:IssueDate>
  <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
  <cac:LegalMonetaryTotal><cbc:PayableAmount currencyID="EUR">10.00</cbc:PayableAmount></cac:LegalMonetaryTotal>
</Invoice>
""" % path).encode()
