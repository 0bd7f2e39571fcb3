"""Read-only archive folders: every way of removing or \\Deleted-flagging a
mail, moving it out, deleting or renaming the folder (or a parent of
archive folders) is refused over IMAP and doveadm - with and without
lazy_expunge - leaving the mail byte-for-byte untouched and journaling a
"denied" record. Adding, reading, searching, flags and keywords stay
allowed, and every save is journaled."""

import re
import unittest
import zlib

from harness import DOVECOT24, DovecotTestCase, crlf, sha256_hex, quote
from mailgen import MailGenerator

ARCHIVE = "Archiv Archiv/* Rechnungen/*"
# Set \Deleted with the folder not (yet) an archive: how \Deleted mails
# get into an archive folder for the EXPUNGE / CLOSE cases.
NOT_ARCHIVED = {"plugin/tresor_archive": "NoSuchFolder"}


class ArchiveFixture(DovecotTestCase):
    lazy_expunge = False

    @classmethod
    def dovecot_options(cls):
        return {"plugin": {"tresor_archive": ARCHIVE},
                "lazy_expunge": cls.lazy_expunge}

    def setUp(self):
        super().setUp()
        self.gen = MailGenerator(seed=zlib.crc32(self.id().encode()))

    # -------------------------------------------------- fixtures
    def archive_with_mails(self, user, mailbox="Archiv", n=2):
        """Creates the folder (and parents) and APPENDs n generated mails.
        Returns (client, [uids])."""
        c = self.imap(user)
        res = c.create_with_parents(mailbox)
        self.assertIn(res.status, ("OK", "NO"), res)
        uids = []
        for _ in range(n):
            typ, text, _, uid = c.append_msg(mailbox, self.gen.mail())
            self.assertEqual(typ, "OK", text)
            uids.append(uid)
        return c, uids

    def snapshot(self, user, mailbox):
        """What must not change: BODY[] of every UID (fresh session) and
        the mail files' bytes."""
        c = self.dc.imap(user)
        try:
            bodies = c.bodies(mailbox)
        finally:
            c.close_quietly()
        files = {}
        for path in self.dc.mail_files(user, mailbox):
            with open(path, "rb") as f:
                files[path.rsplit("/", 1)[-1].split(":")[0]] = \
                    self.dc.mail_content(f.read())
        return bodies, files

    def mark_deleted(self, user, mailbox, uids):
        rc, out, err = self.dc.doveadm(
            "flags", "add", "-u", user, "\\Deleted", "mailbox", mailbox,
            "uid", ",".join(str(u) for u in uids), options=NOT_ARCHIVED)
        self.assertEqual(rc, 0, "setting \\Deleted with the folder not "
                         "archived: %s" % err)
        c = self.dc.imap(user)
        try:
            c.select_box(mailbox, readonly=True)
            for uid in uids:
                self.assertIn("\\Deleted", c.fetch_flags(uid))
        finally:
            c.close_quietly()

    # -------------------------------------------------- assertions
    def assertUntouched(self, user, mailbox, snapshot):
        bodies, files = self.snapshot(user, mailbox)
        self.assertEqual(sorted(bodies), sorted(snapshot[0]),
                         "UIDs in %s changed" % mailbox)
        for uid, body in snapshot[0].items():
            self.assertEqual(bodies[uid], body, "UID %d changed" % uid)
        self.assertEqual(files, snapshot[1], "mail files of %s changed"
                         % mailbox)
        if self.lazy_expunge:
            c = self.dc.imap(user)
            try:
                res = c.cmd("STATUS EXPUNGED (MESSAGES)")
                if res.status == "OK":
                    m = re.search(rb"MESSAGES (\d+)", b" ".join(res.untagged))
                    self.assertEqual(m.group(1), b"0", "lazy_expunge got a "
                                     "copy of a refused expunge")
            finally:
                c.close_quietly()

    def assertDenied(self, user, before, action, mailbox):
        """Exactly one new journal record: event denied with this action."""
        new = self.new_records(user, before)
        self.assertEqual(len(new), 1, "expected one denied record, got %r"
                         % new)
        rec = new[0]
        self.assertEqual(rec.get("event"), "denied", rec)
        self.assertEqual(rec.get("action"), action, rec)
        self.assertEqual(rec.get("mailbox"), mailbox, rec)
        self.assertChainIntact(user)
        return rec

    def assertNoDeletedFlag(self, user, mailbox, uids):
        c = self.dc.imap(user)
        try:
            c.select_box(mailbox, readonly=True)
            for uid in uids:
                self.assertNotIn("\\Deleted", c.fetch_flags(uid))
        finally:
            c.close_quietly()

    def mailbox_names(self, user):
        rc, data, err = self.dc.doveadm_json("mailbox", "list", "-u", user)
        self.assertEqual(rc, 0, err)
        return {row["mailbox"] for row in data}


class RefusalTests:
    """Mixed into a DovecotTestCase running with and without lazy_expunge."""

    # -------------------------------------------------- IMAP
    def test_imap_expunge_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u)
        self.mark_deleted(u, "Archiv", uids[:1])
        snap = self.snapshot(u, "Archiv")
        before = len(self.dc.journal(u))
        c.select_box("Archiv")
        self.assertRefusedIMAP(c.cmd("EXPUNGE"))
        self.assertUntouched(u, "Archiv", snap)
        self.assertDenied(u, before, "expunge", "Archiv")

    def test_imap_uid_expunge_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u, "Archiv/2024")
        self.mark_deleted(u, "Archiv/2024", uids)
        snap = self.snapshot(u, "Archiv/2024")
        before = len(self.dc.journal(u))
        c.select_box("Archiv/2024")
        self.assertRefusedIMAP(c.cmd("UID EXPUNGE %d" % uids[1]))
        self.assertUntouched(u, "Archiv/2024", snap)
        self.assertDenied(u, before, "expunge", "Archiv/2024")

    def test_imap_close_with_deleted_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u)
        self.mark_deleted(u, "Archiv", uids)
        snap = self.snapshot(u, "Archiv")
        before = len(self.dc.journal(u))
        c.select_box("Archiv")
        self.assertRefusedIMAP(c.cmd("CLOSE"), allow_untagged=True)
        self.assertUntouched(u, "Archiv", snap)
        self.assertDenied(u, before, "expunge", "Archiv")

    def test_imap_move_out_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u)
        c.append_msg("INBOX", self.gen.simple())
        snap = self.snapshot(u, "Archiv")
        inbox = self.snapshot(u, "INBOX")
        before = len(self.dc.journal(u))
        c.select_box("Archiv")
        self.assertRefusedIMAP(c.cmd("UID MOVE %d INBOX" % uids[0]))
        self.assertUntouched(u, "Archiv", snap)
        self.assertUntouched(u, "INBOX", inbox)
        self.assertDenied(u, before, "move-out", "Archiv")

    def test_imap_move_out_by_sequence_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u, "Rechnungen/Lieferant")
        c.cmd("CREATE Ablage")
        snap = self.snapshot(u, "Rechnungen/Lieferant")
        before = len(self.dc.journal(u))
        c.select_box("Rechnungen/Lieferant")
        self.assertRefusedIMAP(c.cmd("MOVE 1:* Ablage"))
        self.assertUntouched(u, "Rechnungen/Lieferant", snap)
        self.assertEqual(c.uids("Ablage"), [], "refused MOVE left copies")
        self.assertDenied(u, before, "move-out", "Rechnungen/Lieferant")

    def test_imap_store_deleted_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u)
        snap = self.snapshot(u, "Archiv")
        before = len(self.dc.journal(u))
        c.select_box("Archiv")
        self.assertRefusedIMAP(c.cmd("STORE 1 +FLAGS (\\Deleted)"))
        self.assertNoDeletedFlag(u, "Archiv", uids)
        self.assertUntouched(u, "Archiv", snap)
        self.assertDenied(u, before, "store-deleted", "Archiv")

    def test_imap_uid_store_flags_replace_with_deleted_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u)
        snap = self.snapshot(u, "Archiv")
        before = len(self.dc.journal(u))
        c.select_box("Archiv")
        self.assertRefusedIMAP(
            c.cmd("UID STORE %d FLAGS.SILENT (\\Seen \\Deleted)" % uids[1]))
        self.assertNoDeletedFlag(u, "Archiv", uids)
        self.assertUntouched(u, "Archiv", snap)
        self.assertDenied(u, before, "store-deleted", "Archiv")

    def test_imap_delete_archive_folder_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u)
        snap = self.snapshot(u, "Archiv")
        before = len(self.dc.journal(u))
        self.assertRefusedIMAP(c.cmd("DELETE Archiv"))
        self.assertIn("Archiv", self.mailbox_names(u))
        self.assertUntouched(u, "Archiv", snap)
        self.assertDenied(u, before, "delete", "Archiv")

    def test_imap_delete_empty_archive_subfolder_refused(self):
        u = self.user()
        c, _ = self.archive_with_mails(u, "Archiv/2023", n=0)
        before = len(self.dc.journal(u))
        self.assertRefusedIMAP(c.cmd('DELETE "Archiv/2023"'))
        self.assertIn("Archiv/2023", self.mailbox_names(u))
        self.assertDenied(u, before, "delete", "Archiv/2023")

    def test_imap_rename_archive_folder_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u)
        snap = self.snapshot(u, "Archiv")
        before = len(self.dc.journal(u))
        self.assertRefusedIMAP(c.cmd("RENAME Archiv Papierkorb"))
        names = self.mailbox_names(u)
        self.assertIn("Archiv", names)
        self.assertNotIn("Papierkorb", names)
        self.assertUntouched(u, "Archiv", snap)
        self.assertDenied(u, before, "rename", "Archiv")

    def test_imap_delete_parent_of_archive_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u, "Rechnungen/Lieferant")
        snap = self.snapshot(u, "Rechnungen/Lieferant")
        before = len(self.dc.journal(u))
        self.assertRefusedIMAP(c.cmd("DELETE Rechnungen"))
        names = self.mailbox_names(u)
        self.assertIn("Rechnungen", names)
        self.assertIn("Rechnungen/Lieferant", names)
        self.assertUntouched(u, "Rechnungen/Lieferant", snap)
        self.assertDenied(u, before, "delete", "Rechnungen")

    def test_imap_rename_parent_of_archive_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u, "Rechnungen/Lieferant")
        snap = self.snapshot(u, "Rechnungen/Lieferant")
        before = len(self.dc.journal(u))
        self.assertRefusedIMAP(c.cmd("RENAME Rechnungen Belege"))
        names = self.mailbox_names(u)
        self.assertIn("Rechnungen/Lieferant", names)
        self.assertNotIn("Belege/Lieferant", names)
        self.assertUntouched(u, "Rechnungen/Lieferant", snap)
        self.assertDenied(u, before, "rename", "Rechnungen")

    # -------------------------------------------------- doveadm
    def test_doveadm_expunge_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u)
        c.logout()
        snap = self.snapshot(u, "Archiv")
        before = len(self.dc.journal(u))
        rc, out, err = self.dc.doveadm("expunge", "-u", u, "mailbox",
                                       "Archiv", "all")
        self.assertNotEqual(rc, 0, "doveadm expunge in an archive folder "
                            "succeeded: %s %s" % (out, err))
        self.assertUntouched(u, "Archiv", snap)
        rec = self.assertDenied(u, before, "expunge", "Archiv")
        self.assertEqual(rec.get("service"), "doveadm", rec)

    def test_doveadm_expunge_deleted_mails_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u, "Archiv/2024")
        c.logout()
        self.mark_deleted(u, "Archiv/2024", uids)
        snap = self.snapshot(u, "Archiv/2024")
        before = len(self.dc.journal(u))
        rc, out, err = self.dc.doveadm("expunge", "-u", u, "mailbox",
                                       "Archiv/2024", "DELETED")
        self.assertNotEqual(rc, 0, out + err)
        self.assertUntouched(u, "Archiv/2024", snap)
        self.assertDenied(u, before, "expunge", "Archiv/2024")

    def test_doveadm_mailbox_delete_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u)
        c.logout()
        snap = self.snapshot(u, "Archiv")
        before = len(self.dc.journal(u))
        rc, out, err = self.dc.doveadm("mailbox", "delete", "-u", u, "Archiv")
        self.assertNotEqual(rc, 0, out + err)
        self.assertIn("Archiv", self.mailbox_names(u))
        self.assertUntouched(u, "Archiv", snap)
        self.assertDenied(u, before, "delete", "Archiv")

    def test_doveadm_mailbox_delete_parent_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u, "Rechnungen/Lieferant")
        c.logout()
        snap = self.snapshot(u, "Rechnungen/Lieferant")
        before = len(self.dc.journal(u))
        rc, out, err = self.dc.doveadm("mailbox", "delete", "-u", u,
                                       "Rechnungen")
        self.assertNotEqual(rc, 0, out + err)
        self.assertIn("Rechnungen/Lieferant", self.mailbox_names(u))
        self.assertUntouched(u, "Rechnungen/Lieferant", snap)
        self.assertDenied(u, before, "delete", "Rechnungen")

    def test_doveadm_mailbox_rename_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u)
        c.logout()
        snap = self.snapshot(u, "Archiv")
        before = len(self.dc.journal(u))
        rc, out, err = self.dc.doveadm("mailbox", "rename", "-u", u,
                                       "Archiv", "Alt")
        self.assertNotEqual(rc, 0, out + err)
        names = self.mailbox_names(u)
        self.assertIn("Archiv", names)
        self.assertNotIn("Alt", names)
        self.assertUntouched(u, "Archiv", snap)
        self.assertDenied(u, before, "rename", "Archiv")

    def test_doveadm_move_out_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u)
        c.logout()
        snap = self.snapshot(u, "Archiv")
        before = len(self.dc.journal(u))
        rc, out, err = self.dc.doveadm("move", "-u", u, "INBOX", "mailbox",
                                       "Archiv", "uid", str(uids[0]))
        self.assertNotEqual(rc, 0, out + err)
        self.assertUntouched(u, "Archiv", snap)
        c = self.imap(u)
        self.assertEqual(c.uids("INBOX"), [], "refused move left a copy")
        self.assertDenied(u, before, "move-out", "Archiv")

    def test_doveadm_flags_add_deleted_refused(self):
        u = self.user()
        c, uids = self.archive_with_mails(u)
        c.logout()
        snap = self.snapshot(u, "Archiv")
        before = len(self.dc.journal(u))
        rc, out, err = self.dc.doveadm("flags", "add", "-u", u, "\\Deleted",
                                       "mailbox", "Archiv", "all")
        self.assertNotEqual(rc, 0, out + err)
        self.assertNoDeletedFlag(u, "Archiv", uids)
        self.assertUntouched(u, "Archiv", snap)
        self.assertDenied(u, before, "store-deleted", "Archiv")


class ArchiveRefusalTests(RefusalTests, ArchiveFixture):
    lazy_expunge = False


class ArchiveRefusalLazyExpungeTests(RefusalTests, ArchiveFixture):
    """The same refusals with lazy_expunge loaded before tresor
    (mail_plugins = $mail_plugins lazy_expunge tresor, lazy_expunge =
    EXPUNGED): lazy_expunge must not get a copy either."""
    lazy_expunge = True

    def test_lazy_expunge_still_works_outside_archive(self):
        u = self.user()
        c = self.imap(u)
        typ, text, _, uid = c.append_msg("INBOX", self.gen.simple(
            subject="lazy"))
        self.assertEqual(typ, "OK", text)
        c.select_box("INBOX")
        self.assertOK(c.cmd("UID STORE %d +FLAGS.SILENT (\\Deleted)" % uid))
        self.assertOK(c.cmd("EXPUNGE"))
        self.assertEqual(c.uids("INBOX"), [])
        self.assertEqual(len(c.uids("EXPUNGED")), 1,
                         "lazy_expunge kept no copy")


class ArchiveAllowedTests(ArchiveFixture):
    """What stays allowed in archive folders, and that it is journaled."""

    def assertSaveRecord(self, rec, mailbox, uid, body, service):
        self.assertEqual(rec.get("event"), "save", rec)
        self.assertEqual(rec.get("mailbox"), mailbox, rec)
        self.assertEqual(rec.get("uid"), uid, rec)
        self.assertEqual(rec.get("size"), len(body), rec)
        self.assertEqual(rec.get("sha256"), sha256_hex(body), rec)
        self.assertEqual(rec.get("service"), service, rec)
        self.assertRegex(rec.get("mailbox_guid", ""), r"^[0-9a-f]{32}$")
        m = re.search(rb"(?im)^Message-ID:\s*(<[^>]*>)", body)
        if m:
            self.assertEqual(rec.get("message_id"), m.group(1).decode(), rec)

    # mails whose stored form differs from what was sent in some format:
    # mbox drops its state fields and From_ header lines, adds a missing
    # end of header and a missing final line end
    FORMAT_SENSITIVE_MAILS = {
        "mbox state fields": (
            b"From: a@example.com\r\nSubject: Status\r\nStatus: RO\r\n"
            b"X-Status: A\r\nX-Keywords: $Gebucht\r\nX-UID: 77\r\n"
            b"Content-Length: 3\r\nX-IMAPbase: 1 2\r\n"
            b"X-Delivery-ID: abc\r\n\r\nRechnung\r\n"),
        "From_ line in the header": (
            b"From sender@example.com Mon Jan  5 10:00:00 2026\r\n"
            b"From: a@example.com\r\nSubject: envelope\r\n\r\n"
            b"From here on, a body line starting with From\r\n"),
        "no final line end": b"Subject: kurz\r\n\r\nohne Zeilenende",
        "no empty line after the header": b"Subject: nur Kopf\r\nX-A: b",
        "bare LF and CR": b"Subject: lf\n\nzeile\neins\rzwei\r\n",
    }

    def test_hash_is_of_the_mail_as_imap_serves_it(self):
        """On every format, for APPEND, COPY and LMTP: the journal's sha256
        and size are those of BODY[], and verify agrees afterwards."""
        u = self.user()
        c, _ = self.archive_with_mails(u, n=0)
        for name, msg in self.FORMAT_SENSITIVE_MAILS.items():
            typ, text, _, uid = c.append_msg("Archiv", msg)
            self.assertEqual(typ, "OK", "%s: %s" % (name, text))
            typ, text, _, src = c.append_msg("INBOX", msg)
            self.assertEqual(typ, "OK", "%s: %s" % (name, text))
        c.select_box("INBOX")
        self.assertOK(c.cmd("UID COPY 1:* Archiv"))
        for name, msg in self.FORMAT_SENSITIVE_MAILS.items():
            code = self.dc.lmtp_deliver("%s+Archiv@example.com" % u, msg)[
                "%s+Archiv@example.com" % u][0]
            self.assertEqual(code, 250, name)
        c.logout()
        saves = [r for r in self.dc.journal(u) if r["event"] == "save"]
        n = len(self.FORMAT_SENSITIVE_MAILS)
        self.assertEqual(len(saves), 4 * n, saves)
        for rec in saves:
            body = self.dc.served_body(u, rec["mailbox"], rec["uid"])
            self.assertEqual((rec["sha256"], rec["size"]),
                             (sha256_hex(body), len(body)),
                             "%s UID %d (%s): %r" % (rec["mailbox"],
                                                     rec["uid"],
                                                     rec["service"], body))
        rc, out, err = self.dc.doveadm("tresor", "verify", "-u", u)
        self.assertEqual((rc, out), (0, ""), err)

    def test_auditor_recipe_holds_for_a_mail_with_nul_bytes(self):
        """IMAP's BODY[] serves each NUL as 0x80: the journal also records
        the hash of that form (imap_sha256), so that the auditor's recipe
        - sha256 of BODY[] - matches a record for every mail."""
        u = self.user()
        c, _ = self.archive_with_mails(u, n=0)
        c.logout()
        utf16 = "Rechnung Nr. 4711, Betrag 119,00 EUR\r\n".encode("utf-16-le")
        msg = (b"From: lieferant@example.com\r\nTo: a@example.com\r\n"
               b"Subject: UTF-16\r\nMessage-ID: <nul.1@example.com>\r\n"
               b"MIME-Version: 1.0\r\n"
               b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
               b"--b\r\nContent-Type: text/plain; charset=utf-16le\r\n"
               b"Content-Transfer-Encoding: binary\r\n\r\n" + utf16 +
               b"\r\n--b--\r\n")
        self.assertIn(b"\0", msg)
        rc, out, err = self.dc.doveadm("save", "-u", u, "-m", "Archiv",
                                       input=msg)
        self.assertEqual(rc, 0, err)
        code = self.dc.lmtp_deliver("%s+Archiv@example.com" % u, msg)[
            "%s+Archiv@example.com" % u][0]
        self.assertEqual(code, 250)
        saves = [r for r in self.dc.journal(u) if r["event"] == "save"]
        self.assertEqual(len(saves), 2, saves)
        for rec in saves:
            body = self.dc.served_body(u, "Archiv", rec["uid"])
            self.assertNotIn(b"\0", body)
            self.assertIn(b"\x80", body)
            self.assertEqual(rec.get("imap_sha256"), sha256_hex(body), rec)
            self.assertNotEqual(rec["sha256"], rec["imap_sha256"])
        # a mail without NULs has no imap_sha256: its sha256 is BODY[]'s
        c = self.imap(u)
        typ, text, _, uid = c.append_msg("Archiv", self.gen.simple())
        c.logout()
        self.assertNotIn("imap_sha256", self.dc.journal(u)[-1])
        rc, out, err = self.dc.doveadm("tresor", "verify", "-u", u)
        self.assertEqual((rc, out), (0, ""), err)

    def test_flags_and_keywords_allowed(self):
        u = self.user()
        c, uids = self.archive_with_mails(u)
        snap = self.snapshot(u, "Archiv")
        before = len(self.dc.journal(u))
        c.select_box("Archiv")
        self.assertOK(c.cmd("UID STORE %d +FLAGS (\\Seen \\Flagged "
                            "\\Answered $Exported)" % uids[0]))
        self.assertOK(c.cmd("UID STORE %d +FLAGS ($Exported Gebucht)"
                            % uids[1]))
        self.assertOK(c.cmd("UID STORE %d -FLAGS (\\Flagged)" % uids[0]))
        self.assertEqual(c.fetch_flags(uids[0]) - {"\\Recent"},
                         {"\\Seen", "\\Answered", "$Exported"})
        self.assertEqual(c.fetch_flags(uids[1]) - {"\\Recent"},
                         {"$Exported", "Gebucht"})
        bodies, _ = self.snapshot(u, "Archiv")
        self.assertEqual(bodies, snap[0])
        self.assertEqual(self.new_records(u, before), [],
                         "flag changes must not be journaled as denied")

    def test_read_and_search_allowed(self):
        u = self.user()
        c, uids = self.archive_with_mails(u, n=0)
        typ, text, _, uid = c.append_msg("Archiv", self.gen.simple(
            subject="Rechnung 4711 Müller", body="Betrag 119,00 EUR\n"))
        self.assertEqual(typ, "OK", text)
        c.select_box("Archiv")
        res = c.cmd("UID SEARCH SUBJECT 4711")
        self.assertOK(res)
        self.assertEqual(res.untagged[-1].split()[1:], [str(uid).encode()])
        res = c.cmd("UID SEARCH BODY Betrag")
        self.assertEqual(res.untagged[-1].split()[1:], [str(uid).encode()])
        self.assertIn(b"119,00 EUR", c.fetch_body(uid))

    def test_append_into_archive_journaled(self):
        u = self.user()
        c, _ = self.archive_with_mails(u, n=0)
        msg = self.gen.invoice()
        before = len(self.dc.journal(u))
        typ, text, uidvalidity, uid = c.append_msg("Archiv", msg)
        self.assertEqual(typ, "OK", text)
        self.assertIsNotNone(uid, "no APPENDUID: %s" % text)
        new = self.new_records(u, before)
        self.assertEqual(len(new), 1, new)
        self.assertSaveRecord(new[0], "Archiv", uid, self.dc.served_form(msg),
                              "imap")
        self.assertEqual(new[0].get("uidvalidity"), uidvalidity)
        c.select_box("Archiv", readonly=True)
        self.assertEqual(c.fetch_body(uid), self.dc.served_form(msg))

    def test_append_strips_deleted_flag_in_archive(self):
        u = self.user()
        c, _ = self.archive_with_mails(u, n=0)
        typ, text, _, uid = c.append_msg("Archiv", self.gen.simple(),
                                         flags=["\\Deleted", "\\Seen"])
        self.assertEqual(typ, "OK", text)
        c.select_box("Archiv", readonly=True)
        flags = c.fetch_flags(uid)
        self.assertNotIn("\\Deleted", flags)
        self.assertIn("\\Seen", flags)

    def test_copy_into_archive_journaled_without_deleted(self):
        u = self.user()
        c, _ = self.archive_with_mails(u, n=0)
        msg = self.gen.invoice()
        typ, text, _, src = c.append_msg("INBOX", msg,
                                         flags=["\\Deleted", "\\Flagged"])
        self.assertEqual(typ, "OK", text)
        before = len(self.dc.journal(u))
        c.select_box("INBOX")
        res = c.cmd("UID COPY %d Archiv" % src)
        self.assertOK(res)
        m = re.search(r"\[COPYUID (\d+) (\S+) (\S+)\]", res.text)
        self.assertTrue(m, res)
        dest = int(m.group(3))
        new = self.new_records(u, before)
        self.assertEqual(len(new), 1, new)
        self.assertSaveRecord(new[0], "Archiv", dest, self.dc.served_form(msg), "imap")
        c.select_box("Archiv", readonly=True)
        flags = c.fetch_flags(dest)
        self.assertNotIn("\\Deleted", flags)
        self.assertIn("\\Flagged", flags)

    def test_move_into_archive_journaled(self):
        u = self.user()
        c, _ = self.archive_with_mails(u, "Rechnungen/2024", n=0)
        msg = self.gen.invoice()
        typ, text, _, src = c.append_msg("INBOX", msg)
        self.assertEqual(typ, "OK", text)
        before = len(self.dc.journal(u))
        c.select_box("INBOX")
        res = c.cmd("UID MOVE %d Rechnungen/2024" % src)
        self.assertOK(res)
        m = re.search(rb"\[COPYUID (\d+) (\S+) (\S+)\]",
                      b" ".join(res.untagged) + res.text.encode())
        self.assertTrue(m, res)
        dest = int(m.group(3))
        new = self.new_records(u, before)
        saves = [r for r in new if r.get("event") == "save"]
        expunges = [r for r in new if r.get("event") == "expunge"]
        self.assertEqual(len(saves), 1, new)
        self.assertSaveRecord(saves[0], "Rechnungen/2024", dest, self.dc.served_form(msg),
                              "imap")
        self.assertEqual(len(expunges), 1, new)
        self.assertEqual(expunges[0].get("mailbox"), "INBOX")
        self.assertEqual(expunges[0].get("uid"), src)
        self.assertEqual(len(new), 2, new)
        self.assertEqual(c.uids("INBOX"), [])

    def test_lmtp_delivery_into_archive_journaled(self):
        u = self.user()
        msg = self.gen.invoice()
        res = self.dc.lmtp_deliver("%s+Archiv@example.com" % u, msg)
        self.assertEqual(res["%s+Archiv@example.com" % u][0], 250, res)
        self.assertDeliveredIntoArchive(u, msg, "lmtp")

    def assertDeliveredIntoArchive(self, u, msg, service):
        """msg is the one mail in Archiv, unaltered, and journaled as a
        save by service. Returns an IMAP session."""
        c = self.imap(u)
        uids = c.uids("Archiv")
        self.assertEqual(len(uids), 1)
        body = c.fetch_body(uids[0])
        # (SMTP's DATA and mbox may each add a line end at the end)
        self.assertTrue(body.rstrip(b"\r\n").endswith(
            crlf(msg).rstrip(b"\r\n")), "delivered mail altered")
        recs = self.dc.journal(u)
        self.assertEqual(len(recs), 1, recs)
        self.assertSaveRecord(recs[0], "Archiv", uids[0], body, service)
        return c

    def test_lda_delivery_into_archive_journaled(self):
        u = self.user()
        msg = self.gen.invoice()
        rc, err = self.dc.lda_deliver(u, msg, mailbox="Archiv")
        self.assertEqual(rc, 0, err)
        c = self.assertDeliveredIntoArchive(u, msg, "lda")
        # and the archive holds it like any other mail
        c.select_box("Archiv")
        self.assertRefusedIMAP(c.cmd("STORE 1 +FLAGS (\\Deleted)"))

    def test_doveadm_save_into_archive_journaled(self):
        u = self.user()
        c, _ = self.archive_with_mails(u, n=0)
        c.logout()
        msg = crlf(self.gen.letter())
        before = len(self.dc.journal(u))
        rc, out, err = self.dc.doveadm("save", "-u", u, "-m", "Archiv",
                                       input=msg)
        self.assertEqual(rc, 0, err)
        c = self.imap(u)
        uids = c.uids("Archiv")
        self.assertEqual(len(uids), 1)
        body = c.fetch_body(uids[0])
        new = self.new_records(u, before)
        self.assertEqual(len(new), 1, new)
        self.assertSaveRecord(new[0], "Archiv", uids[0], body, "doveadm")

    def test_create_archive_folders_allowed(self):
        u = self.user()
        c = self.imap(u)
        names = ["Archiv", "Archiv/2024", "Rechnungen", "Rechnungen/X"]
        if self.dc.mail_format == "mbox":
            # an mbox folder holds mails or folders, not both (on 2.4 the
            # parents are made as directories by CREATE Archiv/2024)
            names = ["Archiv/", "Archiv/2024", "Rechnungen/", "Rechnungen/X"]
            if DOVECOT24:
                names = ["Archiv/2024", "Rechnungen/X"]
        for name in names:
            self.assertOK(c.cmd("CREATE %s" % quote(name)), name)
        self.assertTrue({"Archiv", "Archiv/2024", "Rechnungen/X"}
                        <= self.mailbox_names(u))


if __name__ == "__main__":
    unittest.main()
