"""doveadm tresor adopt: mail that was in the store before the plugin
(UNJOURNALED) gets one adopt record each, so that verify is clean; adopt
is idempotent, journals beside racing LMTP deliveries without losing or
doubling a record, never covers a changed mail (MODIFIED stays), and the
evidence export carries the adopt records."""

import calendar
import os
import pty
import re
import subprocess
import tempfile
import threading
import time
import zlib

from harness import (MAIL_USER, SRCDIR, chown_mail_user, crlf, option_args, sha256_hex,
                     TRESOR_DOVEADM_PLUGIN, TRESOR_MAIL_PLUGIN)
from mailgen import MailGenerator
from test_seal import run_verify_txt
from test_verify import VerifyCase


class AdoptCase(VerifyCase):
    """verify's helpers, and adopt's."""

    def setUp(self):
        super().setUp()
        self.gen = MailGenerator(seed=zlib.crc32(self.id().encode()))

    def adopt(self, u, *mailboxes, expect_rc=0):
        """The summary row of adopt -f json, as numbers."""
        rc, data, err = self.dc.doveadm_json("tresor", "adopt", "-u", u,
                                             *mailboxes)
        self.assertEqual(rc, expect_rc, err)
        self.assertEqual(len(data), 1, data)
        row = data[0]
        self.assertEqual(set(row), {"adopted", "mailboxes", "journaled",
                                    "modified", "unreadable"}, row)
        return {k: int(v) for k, v in row.items()}

    def records(self, u, event):
        return [r for r in self.dc.journal(u) if r["event"] == event]

    def plant(self, u, mailbox, n):
        """n mails put into the folder (made first) behind the plugin's
        back. Each of its own size: maildir names planted files by time
        and size."""
        c = self.imap(u)
        if mailbox == "INBOX":
            self.assertOK(c.cmd("SELECT INBOX"))
        else:
            c.cmd("CREATE %s" % mailbox)
        c.logout()
        sizes = set()
        for _ in range(n):
            data = self.gen.mail().replace(b"\r\n", b"\n")
            while len(data) in sizes:
                data += b"\n"
            sizes.add(len(data))
            self.dc.plant_mail(u, mailbox, data)

    def assertOneRecordPerMail(self, u, mailbox):
        """Every mail of the folder has exactly one save or adopt record."""
        c = self.imap(u)
        uids = c.uids(mailbox)
        c.logout()
        recs = [r for r in self.dc.journal(u)
                if r["event"] in ("save", "adopt")
                and r.get("mailbox") == mailbox]
        self.assertEqual(sorted(r["uid"] for r in recs), uids)
        return recs


class AdoptTests(AdoptCase):
    required_plugins = (TRESOR_MAIL_PLUGIN, TRESOR_DOVEADM_PLUGIN)

    def test_mail_from_before_the_plugin_is_adopted_once(self):
        u = self.user()
        # a mail server that ran without tresor
        self.dc.restart(mail_plugins=[])
        self.addCleanup(self.dc.restart, mail_plugins=["tresor"])
        c = self.imap(u)
        self.assertOK(c.cmd("CREATE Archiv"))
        for _ in range(3):
            c.append_msg("INBOX", self.gen.mail())
        old = self.gen.invoice()
        typ, _ = c.append("Archiv", None, '"05-Jan-2019 10:00:00 +0000"',
                          crlf(old))
        self.assertEqual(typ, "OK")
        c.append_msg("Archiv", self.gen.letter())
        c.logout()
        self.dc.restart(mail_plugins=["tresor"])

        self.assertProblems(u, [("UNJOURNALED", {"mailbox": "INBOX"})] * 3 +
                            [("UNJOURNALED", {"mailbox": "Archiv"})] * 2)
        before = time.time()
        rc, out, err = self.dc.doveadm("tresor", "adopt", "-u", u)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip(), "adopted 5 mails in 2 mailboxes, 0 "
                         "already journaled")
        self.assertNotIn("mails read", err)  # stderr is no terminal
        self.assertClean(u)

        adopted = self.records(u, "adopt")
        self.assertEqual(len(adopted), 5)
        for r in adopted:
            for k in ("mailbox", "mailbox_guid", "uidvalidity", "uid", "guid",
                      "size", "sha256", "content_sha256", "internaldate",
                      "service", "session", "reason"):
                self.assertIn(k, r, r)
            self.assertEqual(r.get("archive", 0),
                             1 if r["mailbox"] == "Archiv" else 0, r)
            # the time of the adoption, never one of the past
            t = calendar.timegm(time.strptime(r["time"][:19],
                                              "%Y-%m-%dT%H:%M:%S"))
            self.assertGreaterEqual(t, int(before) - 1, r)
            # hashed as a save is: the mail as IMAP serves it
            self.assertEqual(r["sha256"], sha256_hex(self.dc.served_body(
                u, r["mailbox"], r["uid"])), r)
        dated = [r for r in adopted if r["internaldate"].startswith("2019")]
        self.assertEqual([r["internaldate"] for r in dated],
                         ["2019-01-05T10:00:00Z"])
        self.assertEqual(dated[0]["mailbox"], "Archiv")

        # idempotent
        self.assertEqual(self.adopt(u), {"adopted": 0, "mailboxes": 0,
                                         "journaled": 5, "modified": 0,
                                         "unreadable": 0})
        self.assertEqual(len(self.records(u, "adopt")), 5)
        self.assertClean(u)

        # a mail appearing later without a record is UNJOURNALED again
        self.plant(u, "INBOX", 1)
        self.assertProblems(u, [("UNJOURNALED", {"mailbox": "INBOX"})])
        # adopting only another folder leaves it so
        self.assertEqual(self.adopt(u, "Archiv")["adopted"], 0)
        self.assertProblems(u, [("UNJOURNALED", {"mailbox": "INBOX"})])
        self.assertEqual(self.adopt(u, "INBOX")["adopted"], 1)
        self.assertClean(u)
        self.assertOneRecordPerMail(u, "INBOX")
        self.assertOneRecordPerMail(u, "Archiv")
        self.assertChainIntact(u)

    def test_a_large_folder_is_adopted_in_chunks(self):
        # adopt writes its records 256 at a time (memory bounded by the
        # chunk, not the folder) and fdatasyncs once: every mail still
        # gets exactly one record, in one run of seqs, the chain whole
        u = self.user()
        self.plant(u, "INBOX", 600)
        self.assertEqual(self.adopt(u), {"adopted": 600, "mailboxes": 1,
                                         "journaled": 0, "modified": 0,
                                         "unreadable": 0})
        self.assertClean(u)
        recs = self.assertOneRecordPerMail(u, "INBOX")
        seqs = [r["seq"] for r in self.records(u, "adopt")]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 600)))
        self.assertEqual(len(recs), 600)
        self.assertChainIntact(u)
        self.assertEqual(self.adopt(u)["journaled"], 600)

    def test_a_changed_journaled_mail_is_not_adopted(self):
        u = self.user()
        for _ in range(2):
            self.assertEqual(self.dc.lmtp_deliver("%s@example.com" % u,
                                                  self.gen.invoice())
                             ["%s@example.com" % u][0], 250)
        self.dc.flip_stored_byte(u, "INBOX", 1)
        self.plant(u, "INBOX", 1)
        self.assertProblems(u, [("MODIFIED", {"uid": 1}),
                                ("UNJOURNALED", {"mailbox": "INBOX"})])
        rc, out, err = self.dc.doveadm("tresor", "adopt", "-u", u)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip(), "adopted 1 mails in 1 mailboxes, 2 "
                         "already journaled (1 of them MODIFIED: see "
                         "doveadm tresor verify)")
        self.assertEqual([r["uid"] for r in self.records(u, "adopt")], [3])
        self.assertProblems(u, [("MODIFIED", {"uid": 1, "seq": 1})])
        self.assertEqual(self.adopt(u)["adopted"], 0)
        self.assertProblems(u, [("MODIFIED", {"uid": 1, "seq": 1})])

    def test_adopt_beside_racing_deliveries(self):
        u = self.user()
        self.plant(u, "INBOX", 120)
        results, errors = [], []

        def deliver(n):
            try:
                for _ in range(n):
                    results.append(self.dc.lmtp_deliver(
                        "%s@example.com" % u, self.gen.mail())
                        ["%s@example.com" % u][0])
            except Exception as e:  # reported below
                errors.append(e)

        def adopt():
            try:
                results.append(("adopt", self.dc.doveadm("tresor", "adopt",
                                                         "-u", u)))
            except Exception as e:
                errors.append(e)

        threads = [threading.Thread(target=deliver, args=(15,))
                   for _ in range(2)] + [threading.Thread(target=adopt)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        (rc, out, err), = [r[1] for r in results if isinstance(r, tuple)]
        self.assertEqual(rc, 0, err)
        self.assertIn("adopted 120 mails in 1 mailboxes", out)
        self.assertEqual([r for r in results if not isinstance(r, tuple)],
                         [250] * 30)
        self.assertClean(u)
        recs = self.assertOneRecordPerMail(u, "INBOX")
        self.assertEqual(sorted(r["event"] for r in recs),
                         ["adopt"] * 120 + ["save"] * 30)
        self.assertEqual(self.adopt(u)["adopted"], 0)
        self.assertChainIntact(u)

    def test_a_folder_larger_than_a_window_beside_deliveries(self):
        # adopt's second pass takes 8,192 mails per journal lock (memory
        # bounded by that, not by the folder): a larger folder is adopted
        # over several windows, and the journal is read again when a
        # delivery appended between them - still one record per mail
        if self.dc.mail_format in ("sdbox", "mdbox"):
            self.skipTest("planting 8,500 mails takes a doveadm save each "
                          "on %s (the window is the same code on every "
                          "format)" % self.dc.mail_format)
        u = self.user()
        planted = 8192 + 300
        self.plant(u, "INBOX", planted)
        done = threading.Event()
        delivered, errors = [], []

        def deliver():
            try:
                while not done.is_set() or not delivered:
                    delivered.append(self.dc.lmtp_deliver(
                        "%s@example.com" % u, self.gen.mail())
                        ["%s@example.com" % u][0])
            except Exception as e:  # reported below
                errors.append(e)

        t = threading.Thread(target=deliver)
        t.start()
        try:
            rc, out, err = self.dc.doveadm("tresor", "adopt", "-u", u)
        finally:
            done.set()
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(rc, 0, err)
        self.assertIn("adopted %d mails in 1 mailboxes" % planted, out)
        self.assertEqual(set(delivered), {250})
        self.assertClean(u)
        recs = self.assertOneRecordPerMail(u, "INBOX")
        self.assertEqual(sorted(r["event"] for r in recs),
                         ["adopt"] * planted + ["save"] * len(delivered))
        self.assertChainIntact(u)
        self.assertEqual(self.adopt(u)["adopted"], 0)

    def test_export_carries_adopt_records(self):
        u = self.user()
        self.plant(u, "INBOX", 2)
        self.assertEqual(self.adopt(u)["adopted"], 2)
        work = tempfile.mkdtemp(prefix="tresor-adopt-work-", dir=self.dc.tmp)
        chown_mail_user(work)
        os.chmod(work, 0o755)
        out_dir = os.path.join(work, "export")
        rc, out, err = self.dc.doveadm("tresor", "export", "-u", u, "--from",
                                       "2000-01-01", "--to", "2999-12-31",
                                       out_dir)
        self.assertEqual(rc, 0, out + err)
        with open(os.path.join(out_dir, "mails.csv")) as f:
            lines = f.read().splitlines()
        header = lines[0].split(",")
        rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
        self.assertEqual([(r["event"], r["status"]) for r in rows],
                         [("adopt", "exported")] * 2)
        for r in rows:
            self.assertRegex(r["internaldate"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        results = run_verify_txt(self, out_dir)
        self.assertIn(b"mails: all 2 OK", results[3].stdout)

    def on_a_terminal(self, *args):
        """(exit code, stdout, what doveadm ARGS wrote to a pty as stderr)."""
        master, slave = pty.openpty()
        try:
            p = subprocess.run(["doveadm", "-c", self.dc.conf_path] +
                               list(args), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=slave,
                               timeout=60)
            os.close(slave)
            slave = None
            shown = b""
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                shown += chunk
        finally:
            if slave is not None:
                os.close(slave)
            os.close(master)
        return p.returncode, p.stdout, shown

    def test_progress_on_a_terminal(self):
        u = self.user()
        self.plant(u, "INBOX", 3)
        rc, out, shown = self.on_a_terminal("tresor", "adopt", "-u", u)
        self.assertEqual(rc, 0, shown)
        self.assertIn(b"tresor adopt: INBOX: 3/3 mails read", shown)
        self.assertIn(b"tresor adopt: INBOX: 3 mails journaled", shown)
        self.assertEqual(out.strip(),
                         b"adopted 3 mails in 1 mailboxes, 0 already journaled")
        rc, out, shown = self.on_a_terminal("tresor", "verify", "-u", u)
        self.assertEqual(rc, 0, shown)
        self.assertIn(b"tresor verify: INBOX: 3/3 mails read", shown)
        work = tempfile.mkdtemp(prefix="tresor-progress-", dir=self.dc.tmp)
        rc, out, shown = self.on_a_terminal("tresor", "export", "-u", u, "--from",
                                            "2000-01-01", "--to", "2999-12-31",
                                            os.path.join(work, "export"))
        self.assertEqual(rc, 0, shown)
        self.assertIn(b"tresor export: INBOX: 3/3 mails written", shown)
        retention = option_args({"plugin/tresor_archive": "INBOX",
                                 "plugin/tresor_retention": "INBOX=1y"})
        rc, out, shown = self.on_a_terminal(*retention, "tresor", "purge", "-n", "-u", u)
        self.assertEqual(rc, 0, shown)
        self.assertIn(b"tresor purge: INBOX: 3/3 mails checked", shown)
        self.assertIn(b"tresor purge: 0 mails purgeable, 0 held, 0 modified (kept), "
                      b"0 unjournaled (kept), 0 of an interrupted purge pending", shown)
        # not a terminal (the daily timer, a pipe): no progress
        for args in (("verify", "-u", u), ("purge", "-n", "-u", u)):
            rc, out, err = self.dc.doveadm(*retention, "tresor", *args)
            self.assertEqual(rc, 0, err)
            self.assertNotIn("3/3", err)


class AdoptArchiveScopeTests(AdoptCase):
    """With tresor_journal = archive only archive folders are journaled,
    and only they are adopted."""
    required_plugins = (TRESOR_MAIL_PLUGIN, TRESOR_DOVEADM_PLUGIN)

    @classmethod
    def dovecot_options(cls):
        return {"plugin": {"tresor_archive": "Archiv",
                           "tresor_journal": "archive"}}

    def test_only_archive_folders_are_adopted(self):
        u = self.user()
        self.assertOK(self.imap(u).cmd("CREATE Archiv"))
        self.plant(u, "INBOX", 2)
        self.plant(u, "Archiv", 2)
        self.assertProblems(u, [("UNJOURNALED", {"mailbox": "Archiv"})] * 2)
        self.assertEqual(self.adopt(u), {"adopted": 2, "mailboxes": 1,
                                         "journaled": 0, "modified": 0,
                                         "unreadable": 0})
        self.assertEqual({r["mailbox"] for r in self.records(u, "adopt")},
                         {"Archiv"})
        self.assertClean(u)
        # naming a folder outside the scope adopts nothing, and says so
        rc, data, err = self.dc.doveadm_json("tresor", "adopt", "-u", u,
                                             "INBOX")
        self.assertEqual(rc, 0, err)
        self.assertEqual(data[0]["adopted"], "0")
        self.assertIn("INBOX is not a journaled folder", err)


def doc_recipe(name):
    """The ```sh block docs/admin.md marks '<!-- tested: NAME'."""
    with open(os.path.join(SRCDIR, "docs", "admin.md")) as f:
        text = f.read()
    m = re.search(r"<!-- tested: %s\b[^\n]*\n```sh\n(.*?)\n```" % re.escape(name),
                  text, re.S)
    if m is None:
        raise AssertionError("docs/admin.md has no recipe marked %s" % name)
    return m.group(1)


def old_mail(n, date):
    """A mail of an earlier archive, LF line ends, with a Date: header
    unless date is None."""
    head = "From: Lieferant %d <rechnung@lieferant%d.example>\n" % (n, n)
    if date is not None:
        head += "Date: %s\n" % date
    return (head + "Subject: Rechnung %d aus dem Altbestand\n"
            "Message-ID: <alt-%d@lieferant.example>\n\n"
            "Rechnung Nr. %d\nFrom the old archive, a line starting with From.\n"
            % (n, n, n)).encode()


class ImportTests(AdoptCase):
    """docs/admin.md's recipes for bringing old archives in (an mbox file,
    a Maildir, a folder of .eml files), run as written: every mail becomes
    a save record of service doveadm in the archive folder, with its
    original INTERNALDATE, and verify is clean."""

    PARENT = "Archiv/Altbestand"

    def run_recipe(self, name, u, **paths):
        env = dict(os.environ, USER=u, MAIL_OWNER=MAIL_USER,
                   PARENT=self.PARENT, **paths)
        script = ('doveadm() { command doveadm -c "%s" "$@"; }\nset -e\n%s\n'
                  % (self.dc.conf_path, doc_recipe(name)))
        p = subprocess.run(["bash", "-c", script], env=env, capture_output=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, "%s\n%s%s" % (
            name, p.stdout.decode(), p.stderr.decode()))

    def internaldates(self, u, mailbox):
        """{Message-ID: INTERNALDATE as a UTC timestamp} of the folder."""
        c = self.imap(u)
        self.assertOK(c.cmd('EXAMINE "%s"' % mailbox))
        res = c.cmd("UID FETCH 1:* (INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        c.logout()
        dates = {}
        for line in res.untagged:
            d = re.search(rb'INTERNALDATE "([^"]+)"', line)
            mid = re.search(rb"Message-ID: (<[^>]+>)", line, re.I)
            if d and mid:
                dates[mid.group(1).decode()] = calendar.timegm(time.strptime(
                    d.group(1).decode()[:20], "%d-%b-%Y %H:%M:%S")) - tz_seconds(
                    d.group(1).decode()[21:])
        return dates

    def assertImported(self, u, folders, expected_dates):
        """Each folder's mails are save records of doveadm in an archive
        folder, with the INTERNALDATEs expected, and verify is clean."""
        sep = self.separator(u)
        names = [f.replace("/", sep) for f in folders]
        saves = self.records(u, "save")
        self.assertEqual(sorted({r["mailbox"] for r in saves}), sorted(names))
        for r in saves:
            self.assertEqual(r.get("service"), "doveadm", r)
            self.assertEqual(r.get("archive"), 1, r)
            self.assertTrue(r.get("uid"), r)
        dates = {}
        for name in names:
            dates.update(self.internaldates(u, name))
        self.assertEqual(dates, expected_dates)
        self.assertEqual(len(saves), len(expected_dates))
        self.assertClean(u)

    def separator(self, u):
        c = self.imap(u)
        res = c.cmd('LIST "" ""')
        c.logout()
        return re.search(rb'\(.*?\) "(.)"', b" ".join(res.untagged)).group(1).decode()

    def staging_dir(self):
        d = tempfile.mkdtemp(prefix="tresor-import-src-", dir=self.dc.tmp)
        os.chmod(d, 0o755)
        return d

    def test_import_mbox_file(self):
        u = self.user()
        src = self.staging_dir()
        mbox = os.path.join(src, "rechnungen-2019.mbox")
        stamps = [(1, "Mon Mar  4 10:00:00 2019", 1551693600),
                  (2, "Tue Dec 31 23:59:59 2019", 1577836799)]
        with open(mbox, "wb") as f:
            for n, from_date, _ in stamps:
                body = old_mail(n, None).replace(b"\nFrom ", b"\n>From ")
                f.write(b"From rechnung@lieferant.example " + from_date.encode()
                        + b"\n" + body + b"\n")
        self.run_recipe("import-mbox", u, MBOX=mbox)
        self.assertImported(u, [self.PARENT + "/INBOX"],
                            {"<alt-%d@lieferant.example>" % n: ts
                             for n, _, ts in stamps})
        self.assertEqual(os.listdir(src), ["rechnungen-2019.mbox"])

    def test_import_maildir_with_subfolders(self):
        u = self.user()
        maildir = os.path.join(self.staging_dir(), "Maildir")
        expected = {}
        for folder, n, ts in (("", 1, 1262304000), ("", 2, 1300000000),
                              (".Gesendet", 3, 1400000000)):
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(maildir, folder, sub), exist_ok=True)
            path = os.path.join(maildir, folder, "cur", "%d.old%d:2,S" % (ts, n))
            with open(path, "wb") as f:
                f.write(old_mail(n, None))
            os.utime(path, (ts, ts))
            expected["<alt-%d@lieferant.example>" % n] = ts
        self.run_recipe("import-maildir", u, MAILDIR=maildir)
        self.assertImported(u, [self.PARENT + "/INBOX", self.PARENT + "/Gesendet"],
                            expected)

    def test_import_eml_folder(self):
        u = self.user()
        eml_dir = os.path.join(self.staging_dir(), "eml")
        os.makedirs(eml_dir)
        mails = [(1, "Wed, 06 Feb 2019 08:30:00 +0100", 1549438200),
                 (2, "Fri, 1 Nov 2019 12:00:00 -0000 (UTC)", 1572609600),
                 (3, None, 1234567890)]  # no Date: the file's time
        for n, date, ts in mails:
            path = os.path.join(eml_dir, "mail %d.eml" % n)
            with open(path, "wb") as f:
                f.write(crlf(old_mail(n, date)))
            os.utime(path, (ts, ts))
        self.run_recipe("import-eml", u, EML_DIR=eml_dir)
        self.assertImported(u, [self.PARENT + "/INBOX"],
                            {"<alt-%d@lieferant.example>" % n: ts
                             for n, _, ts in mails})


def tz_seconds(zone):
    """'+0100' -> 3600."""
    sign = -1 if zone[0] == "-" else 1
    return sign * (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60)
