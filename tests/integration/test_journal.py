"""The journal: record format and hash chain, the two message hashes
recomputed independently, what is journaled (scope all / archive,
expunges, deletes), concurrency, duplicate policies, bad settings, and the
doveadm tresor journal / status commands."""

import collections
import datetime
import imaplib
import json
import os
import re
import threading
import unittest
import zlib

from harness import (CRASH_RE, DEFAULT_CONTENT_HEADERS, DOVECOT24, PASSWORD,
                     DovecotTestCase,
                     check_chain, crlf, Dovecot, expected_content_sha256,
                     expected_sha256, sha256_hex, TRESOR_DOVEADM_PLUGIN,
                     TRESOR_MAIL_PLUGIN)
from mailgen import MailGenerator

KEYS = {"seq", "time", "event", "mailbox", "mailbox_guid", "uidvalidity",
        "uid", "guid", "size", "sha256", "imap_sha256", "content_sha256",
        "message_id", "internaldate",
        "duplicate_of", "content_duplicate_of", "archive", "action",
        "new_mailbox",
        "service", "session", "reason", "prev"}
# the columns of doveadm tresor journal that only purge, unhold, seal and
# tsr records fill
OTHER_EVENT_KEYS = {"save_seq", "retention_rule", "retention_end",
                    "hold_seq", "user", "head_seq", "head_hash", "key_id",
                    "sig", "tsq_nonce", "seal_seq", "gen_time", "tsr",
                    "invoice"}
INT_KEYS = {"seq", "uidvalidity", "uid", "size", "duplicate_of",
            "content_duplicate_of", "archive"}
EVENTS = {"save", "expunge", "denied", "duplicate", "delete", "rename"}
ACTIONS = {"expunge", "store-deleted", "move-out", "delete", "rename",
           "mailbox-guid"}
TIME_RE = r"^(\d{4})-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"
# keys that make no sense for an event and must then be absent
NOT_APPLICABLE = {
    "save": {"action", "new_mailbox"},
    "expunge": {"action", "new_mailbox", "duplicate_of",
                "content_duplicate_of", "archive"},
    "denied": {"new_mailbox", "duplicate_of", "content_duplicate_of",
               "sha256", "content_sha256", "archive"},
    "delete": {"action", "new_mailbox", "uid", "sha256", "content_sha256",
               "duplicate_of", "content_duplicate_of", "archive"},
    "rename": {"action", "uid", "sha256", "content_sha256", "duplicate_of",
               "content_duplicate_of", "archive"},
    "duplicate": {"action", "new_mailbox"},
}


class JournalTestCase(DovecotTestCase):
    archive = "Archiv Archiv/*"
    extra_plugin = {}

    @classmethod
    def dovecot_options(cls):
        plugin = {"tresor_archive": cls.archive}
        plugin.update(cls.extra_plugin)
        return {"plugin": plugin}

    def setUp(self):
        super().setUp()
        self.gen = MailGenerator(seed=zlib.crc32(self.id().encode()))

    def deliver(self, user, msg, folder=None, mail_from="sender@example.com"):
        rcpt = "%s%s@example.com" % (user, "+" + folder if folder else "")
        res = self.dc.lmtp_deliver(rcpt, msg, mail_from=mail_from)
        return res[rcpt]

    def saves(self, user, mailbox=None):
        return [r for r in self.dc.journal(user) if r.get("event") == "save"
                and (mailbox is None or r.get("mailbox") == mailbox)]


class JournalFormatTests(JournalTestCase):

    def make_activity(self, u):
        c = self.imap(u)
        c.cmd("CREATE Archiv")
        c.cmd("CREATE Temp")
        c.append_msg("INBOX", self.gen.mail())
        c.append_msg("INBOX", self.gen.mail())
        self.assertEqual(self.deliver(u, self.gen.invoice())[0], 250)
        self.assertEqual(self.deliver(u, self.gen.invoice(), "Archiv")[0],
                         250)
        c.append_msg("Archiv", self.gen.letter())
        c.append_msg("Temp", self.gen.simple())
        c.select_box("Archiv")
        self.assertRefusedIMAP(c.cmd("STORE 1 +FLAGS (\\Deleted)"))
        c.select_box("INBOX")
        c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
        self.assertOK(c.cmd("EXPUNGE"))
        c.cmd("CLOSE")
        self.assertOK(c.cmd("DELETE Temp"))
        return c

    def test_records_are_well_formed(self):
        u = self.user()
        self.make_activity(u)
        lines = self.dc.journal_lines(u)
        events = collections.Counter()
        for i, line in enumerate(lines, 1):
            self.assertNotIn(b"\r", line)
            rec = json.loads(line)
            self.assertIsInstance(rec, dict)
            self.assertLessEqual(set(rec), KEYS, "unknown keys in %s" % line)
            self.assertEqual(rec["seq"], i)
            self.assertRegex(rec["time"], TIME_RE)
            self.assertIn(rec["event"], EVENTS)
            events[rec["event"]] += 1
            for k, v in rec.items():
                self.assertNotIn(v, (None, ""), "%s present but empty in %s"
                                 % (k, line))
                if k in INT_KEYS:
                    self.assertIsInstance(v, int, "%s in %s" % (k, line))
                else:
                    self.assertIsInstance(v, str, "%s in %s" % (k, line))
            self.assertFalse(set(rec) & NOT_APPLICABLE[rec["event"]],
                             "keys not applicable to %s: %s" % (
                                 rec["event"], line))
            if "mailbox_guid" in rec:
                self.assertRegex(rec["mailbox_guid"], r"^[0-9a-f]{32}$")
            if rec["event"] == "save":
                for k in ("mailbox", "mailbox_guid", "uidvalidity", "uid",
                          "size", "sha256", "content_sha256", "service",
                          "session"):
                    self.assertIn(k, rec, line)
                self.assertRegex(rec["sha256"], r"^[0-9a-f]{64}$")
                self.assertRegex(rec["content_sha256"], r"^[0-9a-f]{64}$")
                self.assertNotIn("duplicate_of", rec)
            if rec["event"] == "denied":
                self.assertIn(rec.get("action"), ACTIONS)
                self.assertIn("mailbox", rec)
        self.assertEqual(check_chain(lines), [])
        recs = [json.loads(line) for line in lines]
        # Dovecot empties a folder before deleting it: an expunge record
        # for Temp's mail before the delete record is fine.
        expunges = [(r["mailbox"], r["uid"]) for r in recs
                    if r["event"] == "expunge"]
        self.assertIn(("INBOX", 1), expunges)
        self.assertLessEqual(set(expunges), {("INBOX", 1), ("Temp", 1)})
        events["expunge"] = 1
        self.assertEqual(events, collections.Counter(
            {"save": 6, "denied": 1, "expunge": 1, "delete": 1}), recs)
        self.assertEqual(recs[-1]["event"], "delete")

    def test_first_prev_is_zero_and_chain_links(self):
        u = self.user()
        c = self.imap(u)
        for _ in range(3):
            c.append_msg("INBOX", self.gen.simple())
        lines = self.dc.journal_lines(u)
        self.assertEqual(len(lines), 3)
        self.assertEqual(json.loads(lines[0])["prev"], "0" * 64)
        self.assertEqual(json.loads(lines[1])["prev"], sha256_hex(lines[0]))
        self.assertEqual(json.loads(lines[2])["prev"], sha256_hex(lines[1]))

    def test_journal_file_named_by_utc_year(self):
        u = self.user()
        c = self.imap(u)
        c.append_msg("INBOX", self.gen.simple())
        files = self.dc.journal_files(u)
        self.assertEqual(len(files), 1, files)
        rec = self.dc.journal(u)[0]
        year = re.match(TIME_RE, rec["time"]).group(1)
        self.assertEqual(os.path.basename(files[0]), "%s.jsonl" % year)
        self.assertEqual(year, str(datetime.datetime.now(
            datetime.timezone.utc).year))
        with open(files[0], "rb") as f:
            self.assertTrue(f.read().endswith(b"\n"))

    def test_expunge_in_non_archive_folder_journaled(self):
        u = self.user()
        c = self.imap(u)
        c.append_msg("INBOX", self.gen.simple())
        _, _, _, uid = c.append_msg("INBOX", self.gen.simple())
        before = len(self.dc.journal(u))
        c.select_box("INBOX")
        self.assertOK(c.cmd("UID STORE %d +FLAGS.SILENT (\\Deleted)" % uid))
        self.assertOK(c.cmd("EXPUNGE"))
        new = self.dc.journal(u)[before:]
        self.assertEqual(len(new), 1, new)
        rec = new[0]
        self.assertEqual(rec["event"], "expunge")
        self.assertEqual(rec.get("mailbox"), "INBOX")
        self.assertEqual(rec.get("uid"), uid)
        self.assertEqual(rec.get("mailbox_guid"),
                         self.saves(u)[1]["mailbox_guid"])
        self.assertEqual(rec.get("service"), "imap")
        self.assertChainIntact(u)

    def test_doveadm_expunge_in_non_archive_folder_journaled(self):
        u = self.user()
        c = self.imap(u)
        _, _, _, uid = c.append_msg("INBOX", self.gen.simple())
        c.logout()
        rc, out, err = self.dc.doveadm("expunge", "-u", u, "mailbox", "INBOX",
                                       "all")
        self.assertEqual(rc, 0, err)
        rec = self.dc.journal(u)[-1]
        self.assertEqual((rec["event"], rec.get("mailbox"), rec.get("uid"),
                          rec.get("service")),
                         ("expunge", "INBOX", uid, "doveadm"), rec)

    def test_delete_non_archive_folder_journaled(self):
        u = self.user()
        c = self.imap(u)
        self.assertOK(c.cmd("CREATE Entwuerfe"))
        c.append_msg("Entwuerfe", self.gen.simple())
        guid = self.saves(u)[0]["mailbox_guid"]
        self.assertOK(c.cmd("DELETE Entwuerfe"))
        rec = self.dc.journal(u)[-1]
        self.assertEqual(rec["event"], "delete", rec)
        self.assertEqual(rec.get("mailbox"), "Entwuerfe")
        self.assertEqual(rec.get("mailbox_guid"), guid)
        self.assertChainIntact(u)

    def test_lmtp_delivery_to_several_users_journaled_per_user(self):
        users = [self.user("-a"), self.user("-b")]
        msg = self.gen.invoice()
        res = self.dc.lmtp_deliver(["%s@example.com" % u for u in users], msg)
        self.assertEqual([code for code, _ in res.values()], [250, 250], res)
        for u in users:
            recs = self.dc.journal(u)
            self.assertEqual(len(recs), 1, recs)
            self.assertEqual(recs[0]["event"], "save")
            self.assertEqual(recs[0]["mailbox"], "INBOX")
            self.assertEqual(recs[0]["service"], "lmtp")
            c = self.imap(u)
            c.select_box("INBOX", readonly=True)
            self.assertEqual(recs[0]["sha256"], sha256_hex(c.fetch_body(1)))

    def test_session_id_correlates_with_log(self):
        u = self.user()
        c = self.imap(u)
        c.append_msg("INBOX", self.gen.simple())
        rec = self.dc.journal(u)[0]
        self.assertTrue(self.dc.wait_log(re.escape(rec["session"])),
                        "session id of the record not in the Dovecot log")


class HashTests(JournalTestCase):
    """sha256 / size / message_id / content_sha256 against what the test
    computes from FETCH BODY[] itself."""
    SECRET = ()
    CONTENT = DEFAULT_CONTENT_HEADERS

    def assertHashes(self, u, mailbox, rec):
        c = self.imap(u)
        c.select_box(mailbox, readonly=True)
        body = c.fetch_body(rec["uid"])
        self.assertEqual(rec["size"], len(body), rec)
        self.assertEqual(rec["sha256"], expected_sha256(body, self.SECRET),
                         rec)
        self.assertEqual(rec["content_sha256"], expected_content_sha256(
            body, self.CONTENT), rec)
        m = re.search(rb"(?im)^Message-ID:[ \t]*(<[^>\r\n]*>)", body)
        if m:
            self.assertEqual(rec.get("message_id"), m.group(1).decode())
        return body

    def test_sha256_of_appended_mails(self):
        u = self.user()
        c = self.imap(u)
        c.cmd("CREATE Archiv")
        msgs = [self.gen.invoice(attachments=("pdf", "xml", "csv")),
                self.gen.letter(html=True), self.gen.mail(), self.gen.mail(),
                self.gen.simple(body="no final newline")]
        for i, msg in enumerate(msgs):
            typ, text, _, uid = c.append_msg("Archiv" if i % 2 else "INBOX",
                                             msg)
            self.assertEqual(typ, "OK", text)
        recs = self.saves(u)
        self.assertEqual(len(recs), len(msgs))
        for rec in recs:
            self.assertHashes(u, rec["mailbox"], rec)

    def test_sha256_of_lf_only_lmtp_delivery(self):
        u = self.user()
        msg = crlf(self.gen.invoice()).replace(b"\r\n", b"\n")
        self.assertEqual(self.deliver(u, msg)[0], 250)
        rec = self.saves(u)[0]
        body = self.assertHashes(u, "INBOX", rec)
        self.assertIn(b"\r\n", body)

    def test_content_sha256_normalisation(self):
        u = self.user()
        msg = (b"Return-Path: <rechnung@lieferant.example>\r\n"
               b"From:   Lieferant   GmbH <rechnung@lieferant.example>  \r\n"
               b"To: alice@example.com\r\n"
               b"Cc: a@example.com\r\n"
               b"SUBJECT: Rechnung\t 4711\r\n"
               b"  \tvom   01.02.2024 \r\n"
               b"X-Mailer: test\r\n"
               b"Cc:  b@example.com ,\r\n\t c@example.com\r\n"
               b"Message-Id:  <norm.1@lieferant.example> \r\n"
               b"Date: Thu, 01 Feb 2024 10:00:00 +0100\r\n"
               b"Subject: =?utf-8?q?zweites_Subject_f=C3=BCr_M=C3=BCller?=\r\n"
               b"X-Real-Mailfrom: rechnung@lieferant.example\r\n"
               b"\r\n"
               b"Body  with   spaces \r\n\r\n\r\nend\r\n")
        c = self.imap(u)
        typ, text, _, uid = c.append_msg("INBOX", msg)
        self.assertEqual(typ, "OK", text)
        rec = self.saves(u)[0]
        self.assertEqual(rec["content_sha256"],
                         expected_content_sha256(msg, self.CONTENT))
        self.assertEqual(rec["sha256"], expected_sha256(msg, self.SECRET))
        self.assertEqual(rec["message_id"], "<norm.1@lieferant.example>")
        self.assertHashes(u, "INBOX", rec)

    def test_two_lmtp_deliveries_differ_in_sha256_not_in_content(self):
        u = self.user()
        msg = self.gen.invoice()
        self.assertEqual(self.deliver(u, msg)[0], 250)
        self.assertEqual(self.deliver(u, msg)[0], 250)
        a, b = self.saves(u)
        if "Received" in self.SECRET:
            # LMTP's Received field (with its session id) left out
            self.assertEqual(a["sha256"], b["sha256"])
        else:
            self.assertNotEqual(a["sha256"], b["sha256"])
        self.assertEqual(a["content_sha256"], b["content_sha256"])
        self.assertHashes(u, "INBOX", a)
        self.assertHashes(u, "INBOX", b)


class ConfiguredHashTests(HashTests):
    """tresor_secret_headers and a custom tresor_content_headers order."""
    SECRET = ("X-Secret-Token", "Received")
    CONTENT = ("Subject", "X-Kunde", "From")
    extra_plugin = {"tresor_secret_headers": " ".join(SECRET),
                    "tresor_content_headers": " ".join(CONTENT)}

    def test_secret_headers_left_out_of_sha256(self):
        u = self.user()
        msg = self.gen.simple(headers=[
            ("X-Secret-Token", "abc123\r\n\tcontinued;\r\n  more"),
            ("X-Kunde", "K-1"), ("x-secret-token", "zweites")])
        self.assertEqual(self.deliver(u, msg)[0], 250)
        rec = self.saves(u)[0]
        c = self.imap(u)
        c.select_box("INBOX", readonly=True)
        body = c.fetch_body(rec["uid"])
        # what the test strips itself: both X-Secret-Token fields with
        # their continuation lines, and LMTP's multi-line Received field
        stripped = re.sub(rb"(?im)^(x-secret-token|received):.*\r\n"
                          rb"([ \t].*\r\n)*", b"", body)
        self.assertNotIn(b"abc123", stripped)
        self.assertNotIn(b"continued", stripped)
        self.assertNotIn(b"with LMTP", stripped)
        self.assertIn(b"X-Kunde: K-1", stripped)
        self.assertEqual(rec["sha256"], sha256_hex(stripped))
        self.assertNotEqual(rec["sha256"], sha256_hex(body))
        self.assertEqual(rec["size"], len(body))

    def test_content_headers_in_configured_order(self):
        u = self.user()
        msg = (b"From: a@example.com\r\n"
               b"X-Kunde: zweiter\r\n"
               b"Subject:  Hallo\r\n"
               b"X-Kunde:  erster \r\n"
               b"\tFortsetzung\r\n"
               b"Message-ID: <order@example.com>\r\n"
               b"\r\n"
               b"Text\r\n")
        c = self.imap(u)
        typ, text, _, uid = c.append_msg("INBOX", msg)
        self.assertEqual(typ, "OK", text)
        rec = self.saves(u)[0]
        expected = sha256_hex(b"subject:Hallo\r\n"
                              b"x-kunde:zweiter\r\n"
                              b"x-kunde:erster Fortsetzung\r\n"
                              b"from:a@example.com\r\n"
                              b"\r\n"
                              b"Text\r\n")
        self.assertEqual(expected, expected_content_sha256(msg, self.CONTENT))
        self.assertEqual(rec["content_sha256"], expected)


class JournalScopeArchiveTests(JournalTestCase):
    extra_plugin = {"tresor_journal": "archive"}

    def test_only_archive_saves_journaled(self):
        u = self.user()
        c = self.imap(u)
        c.cmd("CREATE Archiv")
        c.append_msg("INBOX", self.gen.simple())
        self.assertEqual(self.deliver(u, self.gen.invoice())[0], 250)
        self.assertEqual(self.dc.journal(u), [],
                         "INBOX saves journaled with tresor_journal=archive")
        _, _, _, uid = c.append_msg("Archiv", self.gen.invoice())
        self.assertEqual(self.deliver(u, self.gen.invoice(), "Archiv")[0], 250)
        c.select_box("INBOX")
        c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
        self.assertOK(c.cmd("EXPUNGE"))
        recs = self.dc.journal(u)
        self.assertEqual([(r["event"], r["mailbox"]) for r in recs],
                         [("save", "Archiv"), ("save", "Archiv")], recs)
        self.assertEqual(recs[0]["uid"], uid)
        c.select_box("Archiv")
        self.assertRefusedIMAP(c.cmd("STORE 1 +FLAGS (\\Deleted)"))
        rec = self.dc.journal(u)[-1]
        self.assertEqual((rec["event"], rec.get("action")),
                         ("denied", "store-deleted"),
                         "refusals are journaled in every scope")
        self.assertChainIntact(u)


class TresorDirTests(JournalTestCase):
    extra_plugin = {"tresor_dir": "~/belege-journal"}

    def test_journal_under_configured_tresor_dir(self):
        u = self.user()
        c = self.imap(u)
        c.append_msg("INBOX", self.gen.simple())
        self.assertTrue(os.path.isdir(self.dc.journal_dir(u)),
                        self.dc.journal_dir(u))
        self.assertEqual(len(self.dc.journal(u)), 1)
        self.assertFalse(os.path.exists(os.path.join(self.dc.home(u),
                                                     "tresor")))


class ConcurrencyTests(JournalTestCase):
    ROUNDS = 2
    LMTP = 8
    IMAP = 8

    def test_parallel_lmtp_deliveries_and_imap_appends(self):
        u = self.user()
        setup = self.imap(u)
        setup.cmd("CREATE Archiv")
        # INBOX made before the race: Dovecot 2.3.19 on mdbox, without any
        # plugin, panics with "Resource deadlock avoided" on the list
        # index about once in 40 rounds when several processes create a
        # new user's INBOX at once (docs/admin.md, "mdbox specifics")
        self.assertOK(setup.cmd("SELECT INBOX"))
        setup.logout()
        sent = []
        errors = []
        for rnd in range(self.ROUNDS):
            clients = [self.imap(u) for _ in range(self.IMAP)]
            barrier = threading.Barrier(self.LMTP + self.IMAP)
            jobs = []
            for i in range(self.LMTP + self.IMAP):
                msg = self.gen.mail()
                mid = re.search(rb"(?im)^Message-ID:\s*(<[^>]+>)",
                                msg).group(1).decode()
                folder = "Archiv" if i % 2 else None
                sent.append(mid)
                jobs.append((i, msg, folder))

            def run(i, msg, folder):
                try:
                    barrier.wait(timeout=30)
                    if i < self.LMTP:
                        code, text = self.deliver(u, msg, folder)
                        if code != 250:
                            errors.append("LMTP %d: %s %s" % (i, code, text))
                    else:
                        c = clients[i - self.LMTP]
                        typ, text, _, _ = c.append_msg(folder or "INBOX", msg)
                        if typ != "OK":
                            errors.append("APPEND %d: %s %s" % (i, typ, text))
                except Exception as e:  # noqa: BLE001
                    errors.append("job %d: %r" % (i, e))

            threads = [threading.Thread(target=run, args=j) for j in jobs]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            self.assertEqual(errors, [])
        lines = self.dc.journal_lines(u)
        recs = [json.loads(line) for line in lines]
        self.assertEqual([r for r in recs if "uid" not in r], [],
                         "save records without uid")
        self.assertEqual([r["seq"] for r in recs],
                         list(range(1, len(recs) + 1)))
        self.assertEqual(check_chain(lines), [])
        self.assertTrue(all(r["event"] == "save" for r in recs), recs)
        counts = collections.Counter(r.get("message_id") for r in recs)
        self.assertEqual(sorted(counts), sorted(sent))
        self.assertEqual({m: n for m, n in counts.items() if n != 1}, {},
                         "messages without exactly one save record")
        # the records point at the mails that are really there
        c = self.imap(u)
        for box in ("INBOX", "Archiv"):
            uids = c.uids(box)
            box_recs = [r for r in recs if r["mailbox"] == box]
            self.assertEqual(sorted(r["uid"] for r in box_recs), uids)
            for r in box_recs:
                self.assertEqual(r["sha256"], sha256_hex(c.fetch_body(
                    r["uid"])))
        rc, data, err = self.dc.doveadm_json("tresor", "verify", "-u", u)
        self.assertEqual([row for row in data if row.get("problem")], [])
        self.assertEqual(rc, 0, err)


class DuplicateDropTests(JournalTestCase):
    """tresor_duplicates = drop. Received is a secret header, so two LMTP
    deliveries of one mail have the same sha256."""
    extra_plugin = {"tresor_duplicates": "drop",
                    "tresor_secret_headers": "Received"}

    def test_identical_lmtp_delivery_dropped(self):
        u = self.user()
        msg = self.gen.invoice()
        self.assertEqual(self.deliver(u, msg, "Archiv")[0], 250)
        code, text = self.deliver(u, msg, "Archiv")
        self.assertEqual(code, 250, "a dropped duplicate must still be "
                         "accepted: %s" % text)
        c = self.imap(u)
        self.assertEqual(len(c.uids("Archiv")), 1, "duplicate stored")
        recs = self.dc.journal(u)
        self.assertEqual([r["event"] for r in recs], ["save", "duplicate"],
                         recs)
        self.assertEqual(recs[1].get("duplicate_of"), recs[0]["seq"])
        self.assertEqual(recs[1].get("mailbox"), "Archiv")
        self.assertEqual(recs[1].get("sha256"), recs[0]["sha256"])
        self.assertChainIntact(u)

    def test_identical_append_dropped(self):
        u = self.user()
        c = self.imap(u)
        c.cmd("CREATE Archiv/2024")
        msg = self.gen.invoice()
        typ, text, _, uid1 = c.append_msg("Archiv/2024", msg)
        self.assertEqual(typ, "OK", text)
        typ, text, _, uid2 = c.append_msg("Archiv/2024", msg)
        self.assertEqual(typ, "OK", "APPEND of a duplicate must succeed: %s"
                         % text)
        self.assertEqual(c.uids("Archiv/2024"), [uid1])
        recs = self.dc.journal(u)
        self.assertEqual([r["event"] for r in recs], ["save", "duplicate"])
        self.assertEqual(recs[1].get("duplicate_of"), recs[0]["seq"])

    def test_what_was_stored_before_stays_readable(self):
        """A dropped copy is taken out of the store again; mdbox appends
        mails to shared storage files, and taking one out must leave the
        mails before it as they were. In a MULTIAPPEND with other mails
        mdbox can't take it out: it is kept and journaled as a save."""
        u = self.user()
        c = self.imap(u)
        box = "Archiv/2024"
        c.create_with_parents(box)
        first, second = self.gen.invoice(), self.gen.invoice()
        typ, text, _, uid1 = c.append_msg(box, first)
        self.assertEqual(typ, "OK", text)
        c.select_box(box, readonly=True)
        before = c.fetch_body(uid1)
        typ, text, _, _ = c.append_msg(box, first)
        self.assertEqual(typ, "OK", text)
        # the duplicate first, so that nothing of this command precedes it
        res = c.multiappend(box, [first, second])
        self.assertEqual(res.status, "OK", res.text)
        c.select_box(box, readonly=True)
        self.assertEqual(c.fetch_body(uid1), before)
        uids = c.uids(box)
        bodies = [c.fetch_body(uid) for uid in uids]
        mid = re.search(rb"(?im)^Message-ID:\s*(\S+)", second).group(1)
        self.assertEqual(sum(1 for b in bodies if mid in b), 1, mid)
        kept = self.dc.mail_format == "mdbox"
        self.assertEqual(len(uids), 3 if kept else 2, uids)
        self.assertEqual([r["event"] for r in self.dc.journal(u)],
                         ["save", "duplicate",
                          "save" if kept else "duplicate", "save"])
        self.assertChainIntact(u)
        rc, _, err = self.dc.doveadm("tresor", "verify", "-u", u)
        self.assertEqual(rc, 0, err)

    def test_same_mail_in_other_folders_kept(self):
        u = self.user()
        msg = self.gen.invoice()
        # (sibling folders: an mbox folder can't hold mails and folders)
        self.assertEqual(self.deliver(u, msg, "Archiv/2023")[0], 250)
        self.assertEqual(self.deliver(u, msg, "Archiv/2024")[0], 250)
        self.assertEqual(self.deliver(u, msg)[0], 250)
        self.assertEqual(self.deliver(u, msg)[0], 250)
        c = self.imap(u)
        self.assertEqual(len(c.uids("Archiv/2023")), 1)
        self.assertEqual(len(c.uids("Archiv/2024")), 1)
        self.assertEqual(len(c.uids("INBOX")), 2,
                         "drop applies to archive folders only")
        self.assertEqual([r["event"] for r in self.dc.journal(u)],
                         ["save"] * 4)

    def test_different_mail_not_dropped(self):
        u = self.user()
        self.assertEqual(self.deliver(u, self.gen.invoice(), "Archiv")[0], 250)
        self.assertEqual(self.deliver(u, self.gen.invoice(), "Archiv")[0], 250)
        c = self.imap(u)
        self.assertEqual(len(c.uids("Archiv")), 2)


class DuplicateDropWithMailLogTests(DuplicateDropTests):
    """The same with Dovecot's mail_log plugin, which checks that a commit
    reports one UID per save it was told of: a dropped duplicate's UID
    (the earlier copy's) is added to the commit's UIDs only after the
    plugins Dovecot notifies have seen it (on sdbox and mdbox the records
    are journaled inside Dovecot's commit)."""

    @classmethod
    def dovecot_options(cls):
        opts = super().dovecot_options()
        opts["mail_plugins"] = ["tresor", "notify", "mail_log"]
        opts["plugin"]["mail_log_events"] = "save copy expunge"
        opts["plugin"]["mail_log_fields"] = "uid msgid"
        return opts

    def tearDown(self):
        if self.dc is not None:
            bad = [line for line in self.dc.log_since_mark().splitlines()
                   if CRASH_RE.search(line)]
            self.assertEqual(bad, [], "Dovecot crashed")
        super().tearDown()


class ContentDuplicateDropTests(JournalTestCase):
    """tresor_content_duplicates = drop: the same mail by another path
    (different Received/Delivered-To) is recognised by content_sha256."""
    extra_plugin = {"tresor_content_duplicates": "drop"}

    def test_same_content_lmtp_redelivery_dropped(self):
        u = self.user()
        msg = self.gen.invoice()
        self.assertEqual(self.deliver(u, msg, "Archiv")[0], 250)
        code, text = self.deliver(u, msg, "Archiv")
        self.assertEqual(code, 250, text)
        c = self.imap(u)
        self.assertEqual(len(c.uids("Archiv")), 1, "content duplicate stored")
        recs = self.dc.journal(u)
        self.assertEqual([r["event"] for r in recs], ["save", "duplicate"],
                         recs)
        self.assertEqual(recs[1].get("content_duplicate_of"), recs[0]["seq"])
        self.assertEqual(recs[1].get("content_sha256"),
                         recs[0]["content_sha256"])
        self.assertNotEqual(recs[1].get("sha256"), recs[0]["sha256"])

    def test_different_subject_not_dropped(self):
        u = self.user()
        a = self.gen.simple(subject="Rechnung 1", message_id="<same@x>",
                            date="Thu, 01 Feb 2024 10:00:00 +0100")
        b = a.replace(b"Subject: Rechnung 1", b"Subject: Rechnung 2")
        self.assertEqual(self.deliver(u, a, "Archiv")[0], 250)
        self.assertEqual(self.deliver(u, b, "Archiv")[0], 250)
        c = self.imap(u)
        self.assertEqual(len(c.uids("Archiv")), 2)

    def test_different_return_path_not_dropped(self):
        u = self.user()
        msg = self.gen.invoice()
        self.assertEqual(self.deliver(u, msg, "Archiv",
                                      mail_from="a@example.net")[0], 250)
        self.assertEqual(self.deliver(u, msg, "Archiv",
                                      mail_from="b@example.net")[0], 250)
        c = self.imap(u)
        self.assertEqual(len(c.uids("Archiv")), 2,
                         "Return-Path is part of the content hash")


class DuplicateKeepTests(JournalTestCase):
    """The defaults (keep): duplicates are stored and point at the first."""
    extra_plugin = {"tresor_secret_headers": "Received"}

    def test_identical_delivery_kept_with_duplicate_of(self):
        u = self.user()
        msg = self.gen.invoice()
        self.assertEqual(self.deliver(u, msg, "Archiv")[0], 250)
        self.assertEqual(self.deliver(u, msg, "Archiv")[0], 250)
        c = self.imap(u)
        self.assertEqual(len(c.uids("Archiv")), 2)
        recs = self.dc.journal(u)
        self.assertEqual([r["event"] for r in recs], ["save", "save"])
        self.assertNotIn("duplicate_of", recs[0])
        self.assertEqual(recs[1].get("duplicate_of"), recs[0]["seq"])

    def test_same_content_kept_with_content_duplicate_of(self):
        u = self.user()
        c = self.imap(u)
        c.cmd("CREATE Archiv")
        msg = self.gen.invoice()
        typ, text, _, _ = c.append_msg(
            "Archiv", b"Delivered-To: a@example.com\r\n" + crlf(msg))
        self.assertEqual(typ, "OK", text)
        typ, text, _, _ = c.append_msg(
            "Archiv", b"Delivered-To: b@example.com\r\n" + crlf(msg))
        self.assertEqual(typ, "OK", text)
        self.assertEqual(len(c.uids("Archiv")), 2)
        recs = self.dc.journal(u)
        self.assertEqual([r["event"] for r in recs], ["save", "save"])
        self.assertNotEqual(recs[0]["sha256"], recs[1]["sha256"])
        self.assertNotIn("duplicate_of", recs[1])
        self.assertEqual(recs[1].get("content_duplicate_of"), recs[0]["seq"])


class BadSettingTests(JournalTestCase):
    """A bad value is an error naming the setting: IMAP login fails, LMTP
    answers 4xx (the MTA retries), doveadm fails - never a silent
    fallback."""

    def assertLoginFails(self, u, what):
        """The user gets no usable IMAP session: LOGIN fails, or Dovecot's
        "OK Logged in, but initialization failed." is followed by BYE."""
        c = self.dc.imap_connect()
        try:
            c.login(u, PASSWORD)
        except imaplib.IMAP4.error:
            return
        try:
            res = c.cmd("SELECT INBOX")
        except (imaplib.IMAP4.abort, OSError):
            return
        self.assertNotEqual(res.status, "OK", "IMAP session usable with "
                            + what)

    def check_bad(self, setting, value):
        plugin = {"tresor_archive": self.archive, setting: value}
        self.dc.restart(plugin=plugin, replace_plugin=True)
        u = self.user()
        self.assertLoginFails(u, "%s = %s" % (setting, value))
        code, text = self.deliver(u, self.gen.simple())
        self.assertTrue(400 <= code < 500, "LMTP with %s = %s: %s %s"
                        % (setting, value, code, text))
        rc, out, err = self.dc.doveadm("mailbox", "list", "-u", u)
        self.assertNotEqual(rc, 0, "doveadm with %s = %s: %s" % (
            setting, value, out))
        self.assertIn(setting, err)
        self.assertTrue(self.dc.wait_log(re.escape(setting)),
                        "the log does not name %s" % setting)
        self.assertEqual(self.dc.mail_files(u), [], "mail stored anyway")

    def test_bad_duplicates_value(self):
        self.check_bad("tresor_duplicates", "maybe")

    def test_bad_content_duplicates_value(self):
        self.check_bad("tresor_content_duplicates", "perhaps")

    def test_bad_journal_value(self):
        self.check_bad("tresor_journal", "sometimes")

    def test_relative_tresor_dir(self):
        self.check_bad("tresor_dir", "relative/journal")

    def check_refused_store(self, settings, named):
        """Dovecot settings the plugin can't serve: refused at login, at
        delivery (4xx) and in doveadm with an error naming the setting,
        never a crash."""
        restore = {k: None for k in settings}
        restore["mail_location"] = self.dc.mail_location()
        self.dc.restart(plugin={"tresor_archive": self.archive},
                        replace_plugin=True, settings=settings)
        try:
            u = self.user()
            self.assertLoginFails(u, repr(settings))
            code, text = self.deliver(u, self.gen.simple())
            self.assertTrue(400 <= code < 500, "LMTP with %r: %s %s"
                            % (settings, code, text))
            rc, out, err = self.dc.doveadm("mailbox", "list", "-u", u)
            self.assertNotEqual(rc, 0, "doveadm with %r: %s" % (settings,
                                                                out))
            self.assertIn(named, err)
            self.assertTrue(self.dc.wait_log(re.escape(named)),
                            "the log does not name %s" % named)
            crashes = re.findall(r"(?im)^.*(?:panic|child \d+ killed with "
                                 r"signal).*$", self.dc.log_since_mark())
            self.assertEqual(crashes, [], "crashed with %r" % settings)
        finally:
            self.dc.restart(settings=restore)

    def test_remote_mailbox_format_refused(self):
        # imapc: the mails would be another server's (here a plain
        # Dovecot), out of the plugin's reach
        with Dovecot(mail_plugins=[], doveadm_modules=[],
                     protocols=("imap",), name="tresor-it-remote") as remote:
            self.check_refused_store({
                "mail_location": "imapc:~/imapc",
                "imapc_host": "127.0.0.1",
                "imapc_port": str(remote.imap_port),
                "imapc_user": "%u", "imapc_password": PASSWORD},
                "mail_driver" if DOVECOT24 else "mail_location")

    def test_mbox_with_header_md5_refused(self):
        if self.dc.mail_format != "mbox":
            self.skipTest("mbox only: other formats add no header of their "
                          "own for pop3_uidl_format %m")
        self.check_refused_store(
            {"pop3_uidl_format": "%{md5}" if DOVECOT24 else "%m"},
            "pop3_uidl_format")


class DoveadmJournalTests(JournalTestCase):
    required_plugins = (TRESOR_MAIL_PLUGIN, TRESOR_DOVEADM_PLUGIN)

    def fill(self, u, n=5):
        c = self.imap(u)
        c.cmd("CREATE Archiv")
        for i in range(n):
            c.append_msg("Archiv" if i % 2 else "INBOX", self.gen.mail())
        c.select_box("Archiv")
        self.assertRefusedIMAP(c.cmd("STORE 1 +FLAGS (\\Deleted)"))
        return self.dc.journal(u)

    def assertRecordsEqual(self, printed, records):
        self.assertEqual(len(printed), len(records))
        for row, rec in zip(printed, records):
            for k, v in row.items():
                self.assertIsInstance(v, str, "json value of %s" % k)
                self.assertIn(k, KEYS | OTHER_EVENT_KEYS, "unknown key %s" % k)
            for k, v in rec.items():
                self.assertEqual(row.get(k), str(v), "%s of seq %s"
                                 % (k, rec["seq"]))
            for k in set(row) - set(rec):
                self.assertEqual(row[k], "", "%s not in the record" % k)

    def test_journal_json_equals_files(self):
        u = self.user()
        recs = self.fill(u)
        rc, data, err = self.dc.doveadm_json("tresor", "journal", "-u", u)
        self.assertEqual(rc, 0, err)
        self.assertRecordsEqual(data, recs)

    def test_journal_since(self):
        """--since SEQ: the records after SEQ (what a reader that has seen
        up to SEQ still needs)."""
        u = self.user()
        recs = self.fill(u)
        rc, data, err = self.dc.doveadm_json("tresor", "journal", "-u", u,
                                             "--since", "3")
        self.assertEqual(rc, 0, err)
        self.assertEqual([row["seq"] for row in data], ["4", "5", "6"])
        self.assertRecordsEqual(data, recs[3:])
        rc, data, err = self.dc.doveadm_json("tresor", "journal", "-u", u,
                                             "-s", "5")
        self.assertEqual(rc, 0, err)
        self.assertRecordsEqual(data, recs[5:])
        rc, data, err = self.dc.doveadm_json("tresor", "journal", "-u", u,
                                             "--since", "6")
        self.assertEqual(rc, 0, err)
        self.assertEqual(data, [])

    def test_journal_text_output(self):
        u = self.user()
        recs = self.fill(u, 2)
        rc, out, err = self.dc.doveadm("tresor", "journal", "-u", u)
        self.assertEqual(rc, 0, err)
        for rec in recs:
            self.assertIn(rec["prev"], out)
            self.assertIn(rec["time"], out)

    def test_journal_empty_user(self):
        u = self.user()
        self.imap(u).logout()
        rc, data, err = self.dc.doveadm_json("tresor", "journal", "-u", u)
        self.assertEqual(rc, 0, err)
        self.assertEqual(data, [])

    def test_status(self):
        u = self.user()
        self.fill(u)
        lines = self.dc.journal_lines(u)
        head = sha256_hex(lines[-1])
        rc, out, err = self.dc.doveadm("tresor", "status", "-u", u)
        self.assertEqual(rc, 0, err)
        self.assertIn(head, out, "status does not show the head hash")
        self.assertRegex(out, r"\b%d\b" % len(lines))
        self.assertIn(self.dc.journal_files(u)[0], out)
        rc, data, err = self.dc.doveadm_json("tresor", "status", "-u", u)
        self.assertEqual(rc, 0, err)
        values = [v for row in data for v in row.values()]
        self.assertIn(head, values)
        self.assertIn(str(len(lines)), values)


if __name__ == "__main__":
    unittest.main()
