#!/usr/bin/env python3
"""The newcomer's path, checked inside a Debian root where the package is
installed and Dovecot runs with Debian's own configuration files, enabled
only through /etc/dovecot/conf.d/90-tresor.conf as the README and
docs/admin.md say (tests/debian/stock-debian prepares it all and starts
Dovecot).

    stock_check.py ROOT USER PASSWORD

Drives the Dovecot in ROOT as a user would: LMTP delivery (Debian's LMTP
is a UNIX socket), IMAP on port 143 (plaintext on 127.0.0.1, which
Dovecot counts as secured), a refused \\Deleted in an archive folder, the
default invoice script filing a trusted e-invoice into its supplier
folder and a look-alike into review with the namespace's own separator,
and doveadm tresor verify (run in ROOT) clean. Prints one line per check
and "RESULT: N passed, N failed".
"""

import imaplib
import json
import os
import re
import smtplib
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from sieve_helpers import einvoice_mail, make_mail, pdf  # noqa: E402

FX_XRECHNUNG = "zugferd-corpus--XML-Rechnung_FX_XRECHNUNG_Einfach.pdf"
AR_PASS = ("mx.example.com; dkim=pass header.d=lieferant.de header.s=s1; "
           "spf=pass smtp.mailfrom=lieferant.de; "
           "dmarc=pass (p=reject) header.from=lieferant.de")
LIEFERANT = ("Lieferant GmbH", "rechnung@lieferant.de")
# a look-alike of lieferant.de, authenticated for its own domain
LOOKALIKE = ("Lieferant GmbH", "rechnung@lieferant-de.de")
AR_LOOKALIKE = ("mx.example.com; spf=pass smtp.mailfrom=lieferant-de.de; "
                "dmarc=pass header.from=lieferant-de.de")

PLAIN = (b"From: Kunde <kunde@example.org>\r\n"
         b"To: %s@localhost\r\n"
         b"Subject: Anfrage\r\n"
         b"Message-ID: <stock.%d@example.org>\r\n"
         b"\r\n"
         b"Guten Tag,\r\nbitte um ein Angebot.\r\n")


class Checks:
    def __init__(self, root, user, password):
        self.root, self.user, self.password = root, user, password
        self.passed = self.failed = 0

    def check(self, what, ok, detail=""):
        if ok:
            self.passed += 1
            print("ok: %s" % what)
        else:
            self.failed += 1
            print("FAILED: %s%s" % (what, (": " + detail) if detail else ""))
        sys.stdout.flush()
        return ok

    def imap(self):
        c = imaplib.IMAP4("127.0.0.1", 143, timeout=60)
        c.login(self.user, self.password)
        return c

    def lmtp(self, msg):
        """The LMTP reply code of one delivery to the user."""
        sock = os.path.join(self.root, "run", "dovecot", "lmtp")
        s = smtplib.LMTP(sock, timeout=60)
        try:
            s.ehlo("mx.example.com")
            s.mail("sender@example.org")
            code, text = s.rcpt(self.user)
            if code != 250:
                return code, text
            s.putcmd("data")
            code, text = s.getreply()
            if code != 354:
                return code, text
            s.send(smtplib.quotedata(msg.decode("latin-1")).encode(
                "latin-1") + b"\r\n.\r\n")
            return s.getreply()
        finally:
            s.close()

    def doveadm(self, *args):
        p = subprocess.run(["chroot", self.root, "doveadm"] + list(args),
                           capture_output=True, timeout=120)
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))

    def separator(self, c):
        typ, data = c.list('""', '""')
        m = re.search(rb'\(.*?\) "(.)"', data[0] or b"")
        return m.group(1).decode() if m else None

    def count(self, c, mailbox):
        typ, data = c.select('"%s"' % mailbox, readonly=True)
        return int(data[0]) if typ == "OK" else None

    def run(self):
        code, text = self.lmtp(PLAIN % (self.user.encode(), 1))
        self.check("LMTP delivery into INBOX", code == 250, "%d %s" % (code, text))

        c = self.imap()
        sep = self.separator(c)
        self.check("IMAP login and LIST (hierarchy separator %r)" % sep,
                   sep in ("/", "."))
        typ, _ = c.append("INBOX", None, None, PLAIN % (self.user.encode(), 2))
        self.check("IMAP APPEND into INBOX", typ == "OK")

        archive = "Archiv"
        typ, data = c.create(archive)
        self.check("IMAP CREATE %s" % archive, typ == "OK", repr(data))
        typ, data = c.append(archive, None, None,
                             PLAIN % (self.user.encode(), 3))
        self.check("IMAP APPEND into %s" % archive, typ == "OK", repr(data))
        c.select(archive)
        typ, data = c.store("1", "+FLAGS", "(\\Deleted)")
        self.check("\\Deleted in %s refused" % archive, typ == "NO",
                   "%s %r" % (typ, data))
        c.close()
        c.logout()

        # the default invoice script, in the namespace's separator
        for what, mail, folder in (
                ("a trusted e-invoice", einvoice_mail(
                    FX_XRECHNUNG, sender=LIEFERANT, auth_results=[AR_PASS]),
                 "Rechnungen%sLieferant" % sep),
                ("a look-alike sender's invoice", make_mail(
                    subject="Rechnung 4711", sender=LOOKALIKE,
                    auth_results=[AR_LOOKALIKE],
                    attachments=[(pdf(["Lieferant GmbH", "Rechnung 4711"]),
                                  "Rechnung_4711.pdf", "application/pdf")]),
                 "Rechnungen%sPruefen" % sep)):
            code, text = self.lmtp(mail)
            c = self.imap()
            n = self.count(c, folder)
            c.logout()
            self.check("%s delivered (%d) and filed into %s" % (
                what, code, folder), code == 250 and n == 1,
                "%s messages there: %s" % (folder, n))

        c = self.imap()
        c.select("Rechnungen%sPruefen" % sep)
        typ, data = c.store("1", "+FLAGS", "(\\Deleted)")
        self.check("\\Deleted in Rechnungen%sPruefen refused" % sep,
                   typ == "NO", "%s %r" % (typ, data))
        c.logout()

        rc, out, err = self.doveadm("-f", "json", "tresor", "verify", "-u",
                                    self.user)
        problems = []
        try:
            problems = [r for r in json.loads(out or "[]")
                        if r.get("problem")]
        except ValueError:
            problems = ["unparsable: %r" % out]
        self.check("doveadm tresor verify clean", rc == 0 and not problems,
                   "exit %d %s %s" % (rc, problems, err.strip()))
        rc, out, err = self.doveadm("tresor", "journal", "-u", self.user)
        saves = len(re.findall(r"\bsave\b", out))
        self.check("the journal holds the 5 saves", rc == 0 and saves >= 5,
                   "exit %d, %d saves: %s %s" % (rc, saves, out, err))
        print("RESULT: %d passed, %d failed" % (self.passed, self.failed))
        return 0 if self.failed == 0 else 1


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    checks = Checks(*sys.argv[1:])
    try:
        return checks.run()
    except Exception as e:  # noqa: BLE001 - counted, then reported
        checks.check("the checks ran to the end", False, repr(e))
        print("RESULT: %d passed, %d failed" % (checks.passed, checks.failed))
        return 1


if __name__ == "__main__":
    sys.exit(main())
