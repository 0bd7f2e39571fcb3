"""doveadm tresor verify: clean stores exit 0 without output; a changed
mail is MODIFIED, a vanished one MISSING, one slipped into the Maildir
behind Dovecot's back UNJOURNALED, and a removed / edited / swapped /
truncated journal line breaks the CHAIN at the right seq. Exit status is
non-zero whenever anything was found."""

import json
import os
import re
import shutil
import time
import unittest
import zlib

from harness import (DovecotTestCase, chown_mail_user, crlf, rewrite_file,
                     sha256_hex, TRESOR_DOVEADM_PLUGIN, TRESOR_MAIL_PLUGIN)
from mailgen import MailGenerator

PROBLEMS = ("CHAIN", "MODIFIED", "MISSING", "UNJOURNALED", "BYPASS",
            "IDENTITY")


class VerifyCase(DovecotTestCase):
    """The helpers of the verify tests."""
    required_plugins = (TRESOR_MAIL_PLUGIN, TRESOR_DOVEADM_PLUGIN)

    @classmethod
    def dovecot_options(cls):
        return {"plugin": {"tresor_archive": "Archiv Archiv/* Rechnungen/*"}}

    def setUp(self):
        super().setUp()
        self.gen = MailGenerator(seed=zlib.crc32(self.id().encode()))

    # -------------------------------------------------- helpers
    def verify(self, u, *mailboxes):
        """(exit code, problem rows of -f json, stderr)."""
        rc, data, err = self.dc.doveadm_json("tresor", "verify", "-u", u,
                                             *mailboxes)
        self.assertIsInstance(data, list, data)
        problems = [row for row in data if row.get("problem")]
        for row in problems:
            self.assertIn(row["problem"], PROBLEMS, row)
            for k in ("problem", "seq", "mailbox", "uid", "detail"):
                self.assertIn(k, row, row)
                self.assertIsInstance(row[k], str, row)
        return rc, problems, err

    def assertClean(self, u, *mailboxes):
        rc, problems, err = self.verify(u, *mailboxes)
        self.assertEqual(problems, [], "verify found problems: %s" % err)
        self.assertEqual(rc, 0, "verify exit code on a clean store: %s"
                         % err)
        rc, out, err = self.dc.doveadm("tresor", "verify", "-u", u,
                                       *mailboxes)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip(), "", "verify printed lines for a "
                         "clean store")

    def assertProblems(self, u, expected, *mailboxes):
        """expected: list of (kind, {field: value or set of values}) - the
        problems found must be exactly these (in any order)."""
        rc, problems, err = self.verify(u, *mailboxes)
        self.assertNotEqual(rc, 0, "verify exited 0 despite %r" % expected)
        unmatched = list(problems)
        for kind, fields in expected:
            for row in unmatched:
                if row["problem"] != kind:
                    continue
                if all((row.get(k) in v) if isinstance(v, set)
                       else row.get(k) == str(v)
                       for k, v in fields.items()):
                    unmatched.remove(row)
                    break
            else:
                self.fail("no %s problem with %r among %s" % (
                    kind, fields, json.dumps(problems, indent=1)))
        self.assertEqual(unmatched, [], "unexpected problems")
        rc2, out, _ = self.dc.doveadm("tresor", "verify", "-u", u,
                                      *mailboxes)
        self.assertNotEqual(rc2, 0)
        lines = [line for line in out.splitlines() if line.strip()]
        kinds = sorted(k for k, _ in expected)
        self.assertEqual(len(lines), len(problems),
                         "one line per problem expected:\n" + out)
        self.assertEqual(sorted(next(k for k in PROBLEMS if k in line)
                                for line in lines), kinds, out)
        return problems

    def populate(self, u):
        """5 records: 1 save INBOX, 2 save Archiv, 3 denied, 4 and 5 save
        INBOX. Returns the records."""
        c = self.imap(u)
        c.cmd("CREATE Archiv")
        c.append_msg("INBOX", self.gen.mail())
        c.append_msg("Archiv", self.gen.invoice())
        c.select_box("Archiv")
        self.assertRefusedIMAP(c.cmd("STORE 1 +FLAGS (\\Deleted)"))
        c.cmd("CLOSE")
        c.append_msg("INBOX", self.gen.letter())
        self.assertEqual(self.dc.lmtp_deliver("%s@example.com" % u,
                                              self.gen.invoice())
                         ["%s@example.com" % u][0], 250)
        c.logout()
        recs = self.dc.journal(u)
        self.assertEqual([r["event"] for r in recs],
                         ["save", "save", "denied", "save", "save"])
        return recs

    def journal_file(self, u):
        files = self.dc.journal_files(u)
        self.assertEqual(len(files), 1)
        return files[0]

    def edit_journal(self, u, fn):
        path = self.journal_file(u)
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")[:-1]
        lines = fn(lines)
        rewrite_file(path, b"".join(line + b"\n" for line in lines))



class VerifyTests(VerifyCase):
    # -------------------------------------------------- clean
    def test_clean_store(self):
        u = self.user()
        self.populate(u)
        c = self.imap(u)
        # everything a user may do keeps the store clean
        c.cmd("CREATE Projekte")
        c.append_msg("Projekte", self.gen.letter())
        c.append_msg("Projekte", self.gen.letter())
        self.assertOK(c.cmd("RENAME Projekte Projekte-alt"))
        c.cmd("CREATE Temp")
        c.append_msg("Temp", self.gen.letter())
        self.assertOK(c.cmd("DELETE Temp"))
        c.select_box("INBOX")
        self.assertOK(c.cmd("UID MOVE 1 Archiv"))
        self.assertOK(c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)"))
        self.assertOK(c.cmd("EXPUNGE"))
        c.select_box("Archiv")
        self.assertOK(c.cmd("STORE 1:* +FLAGS ($Exported \\Seen)"))
        c.logout()
        self.assertClean(u)

    def test_clean_after_expunge_in_non_archive_folder(self):
        u = self.user()
        c = self.imap(u)
        for _ in range(3):
            c.append_msg("INBOX", self.gen.mail())
        c.select_box("INBOX")
        self.assertOK(c.cmd("UID STORE 2 +FLAGS.SILENT (\\Deleted)"))
        self.assertOK(c.cmd("EXPUNGE"))
        c.logout()
        recs = self.dc.journal(u)
        self.assertEqual([(r["event"], r.get("uid")) for r in recs],
                         [("save", 1), ("save", 2), ("save", 3),
                          ("expunge", 2)])
        self.assertClean(u)

    def test_empty_user_is_clean(self):
        u = self.user()
        self.imap(u).logout()
        self.assertClean(u)

    def test_temporary_file_left_by_dovecot_is_not_a_mailbox(self):
        """A process killed in the middle of a write leaves Dovecot's
        temporary file in the mail directory, and Dovecot 2.4 lists an mbox
        one as a mailbox: verify passes over it, says so, and stays clean
        (it failed with "Can't get the mailbox GUID: Mailbox isn't a valid
        mbox file" and exit code 65 until the file was removed)."""
        u = self.user()
        self.populate(u)
        root = {"mbox": "mail", "maildir": "Maildir", "sdbox": "sdbox",
                "mdbox": "mdbox"}[self.dc.mail_format]
        name = ".temp.%s.4242.0123456789abcdef" % os.uname().nodename
        path = os.path.join(self.dc.home(u), root, name)
        with open(path, "wb") as f:
            f.write(b"From: half a mail\n")
        chown_mail_user(path)
        rc, listed, err = self.dc.doveadm_json("mailbox", "list", "-u", u)
        self.assertEqual(rc, 0, err)
        self.assertClean(u)
        if any(row.get("mailbox") == name for row in listed):
            rc, out, err = self.dc.doveadm("tresor", "verify", "-u", u)
            self.assertIn("%s is a temporary file Dovecot left" % name, err)

    # -------------------------------------------------- mails
    def test_flipped_byte_is_modified(self):
        u = self.user()
        recs = self.populate(u)
        rec = recs[1]  # the Archiv mail
        # one letter's case: same size, other bytes
        self.dc.flip_stored_byte(u, "Archiv", rec["uid"])
        self.assertProblems(u, [("MODIFIED", {"seq": rec["seq"],
                                              "uid": rec["uid"],
                                              "mailbox": "Archiv"})])

    def test_since_reads_only_newer_mails_but_finds_every_one(self):
        """verify --since SEQ: mails saved before SEQ are found by their
        UIDs, not read again (a change to one is only seen by the full
        run); newer mails are read; a removed old mail is MISSING; the
        chain is checked from the start."""
        u = self.user()
        recs = self.populate(u)
        archived = recs[1]  # Archiv, seq 2
        newer = recs[4]     # INBOX, seq 5
        self.dc.flip_stored_byte(u, "Archiv", archived["uid"])
        rc, out, err = self.dc.doveadm("tresor", "verify", "-u", u,
                                       "--since", str(newer["seq"]))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip(), "")
        self.assertIn("5 journal records", err)
        self.assertIn("1 mail checked (and 3 saved before seq %d found by "
                      "their UIDs, not read)" % newer["seq"], err)
        # the full run sees the change
        self.assertProblems(u, [("MODIFIED", {"seq": archived["seq"],
                                              "uid": archived["uid"],
                                              "mailbox": "Archiv"})])
        # a newer mail changed: found by --since; an old one removed:
        # MISSING with --since too
        self.dc.flip_stored_byte(u, "INBOX", newer["uid"])
        self.dc.remove_stored_mail(u, "INBOX", recs[0]["uid"])
        rc, problems, err = self.dc.doveadm_json(
            "tresor", "verify", "-u", u, "--since", str(newer["seq"]))
        self.assertEqual(rc, 65, err)
        self.assertEqual(sorted((p["problem"], p["seq"]) for p in problems),
                         [("MISSING", str(recs[0]["seq"])),
                          ("MODIFIED", str(newer["seq"]))])
        # a broken chain is found however late --since starts
        self.edit_journal(u, lambda lines: lines[:1] + lines[2:])
        rc, problems, err = self.dc.doveadm_json(
            "tresor", "verify", "-u", u, "--since", "999999")
        self.assertIn("CHAIN", [p["problem"] for p in problems], err)

    def test_since_seal_and_bad_values(self):
        u = self.user()
        self.populate(u)
        rc, out, err = self.dc.doveadm("tresor", "verify", "-u", u,
                                       "--since", "seal")
        self.assertEqual(rc, 0, err)
        self.assertIn("the journal has no seal yet, every mail is read", err)
        self.assertIn("4 mails checked, 0 problems", err)
        for bad in ("0", "-3", "x", "seals"):
            rc, _, err = self.dc.doveadm("tresor", "verify", "-u", u,
                                         "--since", bad)
            self.assertEqual(rc, 64, (bad, err))
            self.assertIn("--since takes a journal seq", err)

    def test_removed_file_is_missing(self):
        u = self.user()
        recs = self.populate(u)
        rec = recs[3]
        self.dc.remove_stored_mail(u, "INBOX", rec["uid"])
        self.assertProblems(u, [("MISSING", {"seq": rec["seq"],
                                             "uid": rec["uid"],
                                             "mailbox": "INBOX"})])

    def test_removed_archive_file_is_missing(self):
        u = self.user()
        recs = self.populate(u)
        rec = recs[1]
        self.dc.remove_stored_mail(u, "Archiv", rec["uid"])
        self.assertProblems(u, [("MISSING", {"seq": rec["seq"],
                                             "uid": rec["uid"],
                                             "mailbox": "Archiv"})])

    def test_unreadable_mails_amid_readable_ones(self):
        """Mails verify can't read, between many it can (which it hashes
        on a thread of its own while reading the next): each unreadable
        one is reported and named, every other one found as journaled,
        in a folder of its own as in the inbox. Readable again, the store
        is clean."""
        if self.dc.mail_format not in ("maildir", "sdbox"):
            raise unittest.SkipTest(
                "%s keeps several mails in one file: no single mail can be "
                "made unreadable" % self.dc.mail_format)
        u = self.user()
        c = self.imap(u)
        c.cmd("CREATE Archiv")
        for i in range(40):
            c.append_msg("Archiv" if i % 2 else "INBOX",
                         self.gen.invoice() if i % 3 else self.gen.letter())
        c.logout()
        recs = {(r["mailbox"], r["uid"]): r for r in self.dc.journal(u)
                if r["event"] == "save"}
        self.assertEqual(len(recs), 40)
        blocked = [("Archiv", 1), ("Archiv", 7), ("Archiv", 8),
                   ("INBOX", 20)]
        paths = []
        for box, uid in blocked:
            if self.dc.mail_format == "maildir":
                path = self.dc.mail_file_for_uid(u, box, uid)
            else:
                path = self.dc.mail_region(u, box, uid)[0]
            os.chmod(path, 0)
            paths.append(path)
        try:
            rows = self.assertProblems(u, [
                ("MODIFIED", {"mailbox": box, "uid": uid,
                              "seq": recs[(box, uid)]["seq"]})
                for box, uid in blocked])
            for row in rows:
                self.assertIn("no readable content", row["detail"], row)
            _, _, err = self.verify(u)
            for box, uid in blocked:
                self.assertRegex(err, r"%s UID %d: can't read the mail"
                                 % (box, uid))
            self.assertRegex(err, r"40 mails checked")
        finally:
            for path in paths:
                os.chmod(path, 0o600)
        self.assertClean(u)

    def planted_mail(self, u, mailbox):
        """Puts a mail into the folder behind the plugin's back; returns
        the UID Dovecot will give it."""
        c = self.imap(u)
        res = c.cmd("STATUS %s (UIDNEXT)" % mailbox)
        uidnext = int(re.search(rb"UIDNEXT (\d+)", b" ".join(
            res.untagged)).group(1))
        c.logout()
        self.dc.plant_mail(u, mailbox, self.gen.invoice())
        return uidnext

    def test_planted_file_is_unjournaled(self):
        u = self.user()
        self.populate(u)
        uid = self.planted_mail(u, "INBOX")
        self.assertProblems(u, [("UNJOURNALED", {"uid": uid,
                                                 "mailbox": "INBOX"})])

    def test_planted_archive_file_is_unjournaled(self):
        u = self.user()
        self.populate(u)
        uid = self.planted_mail(u, "Archiv")
        self.assertProblems(u, [("UNJOURNALED", {"uid": uid,
                                                 "mailbox": "Archiv"})])

    def test_several_problems_all_reported(self):
        u = self.user()
        recs = self.populate(u)
        self.dc.remove_stored_mail(u, "INBOX", recs[0]["uid"])
        self.dc.edit_stored_mail(u, "INBOX", recs[4]["uid"],
                                 lambda body: body.replace(b"EUR", b"USD", 1))
        uid = self.planted_mail(u, "Archiv")
        self.assertProblems(u, [
            ("MISSING", {"seq": recs[0]["seq"], "uid": recs[0]["uid"]}),
            ("MODIFIED", {"seq": recs[4]["seq"], "uid": recs[4]["uid"]}),
            ("UNJOURNALED", {"uid": uid, "mailbox": "Archiv"})])

    def test_verify_only_named_mailboxes(self):
        u = self.user()
        recs = self.populate(u)
        self.dc.edit_stored_mail(u, "Archiv", recs[1]["uid"],
                                 lambda body: body.replace(b"EUR", b"USD", 1))
        self.assertClean(u, "INBOX")
        self.assertProblems(u, [("MODIFIED", {"seq": recs[1]["seq"],
                                              "mailbox": "Archiv"})],
                            "Archiv")

    # -------------------------------------------------- journal chain
    def test_removed_journal_line_breaks_chain(self):
        u = self.user()
        self.populate(u)
        self.edit_journal(u, lambda lines: lines[:2] + lines[3:])
        self.assertProblems(u, [("CHAIN", {"seq": {"3", "4"}})])

    def test_edited_journal_line_breaks_chain(self):
        """The attack: change an archived mail and rewrite its sha256 in
        the journal to match."""
        u = self.user()
        recs = self.populate(u)
        rec = recs[1]
        self.dc.edit_stored_mail(u, "Archiv", rec["uid"],
                                 lambda body: body.replace(b"EUR", b"USD", 1))
        new_hash = sha256_hex(self.dc.served_body(u, "Archiv", rec["uid"]))
        self.assertNotEqual(new_hash, rec["sha256"])

        def edit(lines):
            self.assertIn(rec["sha256"].encode(), lines[1])
            lines[1] = lines[1].replace(rec["sha256"].encode(),
                                        new_hash.encode())
            return lines
        self.edit_journal(u, edit)
        self.assertEqual(self.dc.journal(u)[1]["sha256"], new_hash)
        self.assertProblems(u, [("CHAIN", {"seq": {"2", "3"}})])

    def test_edited_denied_record_breaks_chain(self):
        u = self.user()
        self.populate(u)

        def edit(lines):
            rec = json.loads(lines[2])
            rec["action"] = "store-flagged"
            lines[2] = json.dumps(rec, separators=(",", ":")).encode()
            return lines
        self.edit_journal(u, edit)
        self.assertProblems(u, [("CHAIN", {"seq": {"3", "4"}})])

    def test_swapped_journal_lines_break_chain(self):
        u = self.user()
        self.populate(u)
        self.edit_journal(u, lambda lines: lines[:3] + [lines[4], lines[3]])
        rc, problems, err = self.verify(u)
        self.assertNotEqual(rc, 0)
        self.assertTrue(problems)
        self.assertEqual({p["problem"] for p in problems}, {"CHAIN"},
                         problems)
        seqs = {p["seq"] for p in problems}
        self.assertTrue(seqs & {"4", "5"}, problems)
        self.assertLessEqual(seqs, {"4", "5", "6"}, problems)

    def test_truncated_journal_tail_detected(self):
        u = self.user()
        recs = self.populate(u)
        self.edit_journal(u, lambda lines: lines[:4])
        self.assertProblems(u, [
            ("CHAIN", {"seq": recs[4]["seq"]}),
            ("UNJOURNALED", {"uid": recs[4]["uid"], "mailbox": "INBOX"})])

    def test_appending_after_tampering_keeps_reporting(self):
        """New saves after a removed line must not heal the chain."""
        u = self.user()
        self.populate(u)
        self.edit_journal(u, lambda lines: lines[:2] + lines[3:])
        c = self.imap(u)
        c.append_msg("INBOX", self.gen.simple())
        c.logout()
        rc, problems, err = self.verify(u)
        self.assertNotEqual(rc, 0)
        self.assertIn("CHAIN", {p["problem"] for p in problems})


if __name__ == "__main__":
    unittest.main()


class FolderIdentityTests(VerifyCase):
    """Issue 13: verify is fooled neither by a second folder given the
    archive's mailbox GUID nor by a removal with the archive protection
    switched off for one command."""

    def verify(self, u, *mailboxes):
        rc, data, err = self.dc.doveadm_json("tresor", "verify", "-u", u,
                                             *mailboxes)
        self.assertIsInstance(data, list, data)
        return rc, [row for row in data if row.get("problem")], err

    def kinds(self, u):
        rc, problems, err = self.verify(u)
        self.assertNotEqual(rc, 0, "verify exited 0: %s" % err)
        return {p["problem"] for p in problems}, problems

    def archive_with_mails(self, u, n=2):
        c = self.imap(u)
        c.cmd("CREATE Archiv")
        for _ in range(n):
            c.append_msg("Archiv", self.gen.invoice())
        c.logout()
        return self.dc.mailbox_guid(u, "Archiv")

    def denied(self, u, action):
        return [r for r in self.dc.journal(u)
                if r["event"] == "denied" and r.get("action") == action]

    # -------------------------------------------------- refused in the plugin
    def test_create_with_a_journaled_guid_refused(self):
        u = self.user()
        guid = self.archive_with_mails(u)
        rc, out, err = self.dc.doveadm("mailbox", "create", "-u", u, "-g",
                                       guid, "Decoy")
        self.assertNotEqual(rc, 0, "created a folder with Archiv's GUID")
        self.assertIn("refused", err)
        self.assertEqual(len(self.denied(u, "mailbox-guid")), 1,
                         self.dc.journal(u))
        c = self.imap(u)
        res = c.cmd('LIST "" "*"')
        c.logout()
        self.assertNotIn(b"Decoy", b" ".join(res.untagged))
        self.assertClean(u)

    def test_giving_a_folder_the_archive_guid_refused(self):
        u = self.user()
        guid = self.archive_with_mails(u)
        c = self.imap(u)
        c.cmd("CREATE Scratch")
        c.logout()
        rc, out, err = self.dc.doveadm("mailbox", "update", "-u", u,
                                       "--mailbox-guid", guid, "Scratch")
        self.assertNotEqual(rc, 0, "Scratch got Archiv's GUID")
        self.assertNotEqual(self.dc.mailbox_guid(u, "Scratch"), guid)
        self.assertEqual(len(self.denied(u, "mailbox-guid")), 1)
        self.assertClean(u)

    def test_changing_the_archive_guid_refused(self):
        u = self.user()
        guid = self.archive_with_mails(u)
        rc, out, err = self.dc.doveadm("mailbox", "update", "-u", u,
                                       "--mailbox-guid", "1" * 32, "Archiv")
        self.assertNotEqual(rc, 0, "Archiv's GUID changed")
        self.assertEqual(self.dc.mailbox_guid(u, "Archiv"), guid)
        self.assertEqual(len(self.denied(u, "mailbox-guid")), 1)
        self.assertClean(u)

    def test_a_new_folder_may_take_an_unused_guid(self):
        u = self.user()
        self.archive_with_mails(u)
        rc, out, err = self.dc.doveadm("mailbox", "create", "-u", u, "-g",
                                       "2" * 32, "Neu")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.dc.mailbox_guid(u, "Neu"), "2" * 32)
        self.assertClean(u)

    # -------------------------------------------------- with the plugin out of the path
    def decoy_without_plugin(self, u, guid):
        """The insider's way around the refusal: doveadm without the
        tresor plugin creates a second folder with the archive's GUID."""
        rc, out, err = self.dc.doveadm("mailbox", "create", "-u", u, "-g",
                                       guid, "Decoy",
                                       options={"mail_plugins": ""})
        if rc != 0:
            self.skipTest("the %s format refuses a second folder with one "
                          "GUID by itself: %s" % (self.dc.mail_format,
                                                  err.strip()))

    def test_decoy_with_the_archive_guid_is_an_identity_problem(self):
        u = self.user()
        guid = self.archive_with_mails(u)
        self.decoy_without_plugin(u, guid)
        c = self.imap(u)
        c.append_msg("Decoy", self.gen.letter())  # journaled, under Decoy
        c.logout()
        kinds, problems = self.kinds(u)
        self.assertIn("IDENTITY", kinds, problems)

    def test_decoy_deleted_does_not_cancel_the_archive(self):
        """Deleting the decoy journals a delete under the archive's GUID;
        the archive's mails, removed afterwards, are still missed."""
        u = self.user()
        guid = self.archive_with_mails(u)
        self.decoy_without_plugin(u, guid)
        c = self.imap(u)
        self.assertOK(c.cmd("DELETE Decoy"))
        c.logout()
        saves = [r for r in self.dc.journal(u) if r["event"] == "save"]
        for rec in saves:
            self.dc.remove_stored_mail(u, "Archiv", rec["uid"])
        kinds, problems = self.kinds(u)
        self.assertIn("MISSING", kinds, problems)
        self.assertIn("IDENTITY", kinds, problems)

    def test_edited_archive_mail_copied_into_a_decoy_is_modified(self):
        u = self.user()
        guid = self.archive_with_mails(u, n=1)
        self.decoy_without_plugin(u, guid)
        self.dc.edit_stored_mail(u, "Archiv", 1,
                                 lambda body: body.replace(b"EUR", b"USD", 1))
        forged = self.dc.served_body(u, "Archiv", 1)
        c = self.imap(u)
        typ, text, _, uid = c.append_msg("Decoy", forged)
        self.assertEqual(typ, "OK", text)
        c.logout()
        kinds, problems = self.kinds(u)
        self.assertIn("MODIFIED", kinds, problems)

    # -------------------------------------------------- settings overridden
    def test_expunge_with_the_archive_setting_overridden_is_a_bypass(self):
        u = self.user()
        self.archive_with_mails(u)
        rc, out, err = self.dc.doveadm(
            "expunge", "-u", u, "mailbox", "Archiv", "uid", "1",
            options={"plugin/tresor_archive": ""})
        self.assertEqual(rc, 0, "the override let doveadm expunge: %s" % err)
        kinds, problems = self.kinds(u)
        self.assertEqual(kinds, {"BYPASS"}, problems)
        self.assertEqual([p["uid"] for p in problems], ["1"])

    def test_delete_with_the_archive_setting_overridden_is_a_bypass(self):
        u = self.user()
        self.archive_with_mails(u)
        rc, out, err = self.dc.doveadm(
            "mailbox", "delete", "-u", u, "-s", "Archiv",
            options={"plugin/tresor_archive": ""})
        self.assertEqual(rc, 0, err)
        kinds, problems = self.kinds(u)
        self.assertEqual(kinds, {"BYPASS"}, problems)

    def test_a_pattern_added_later_does_not_blame_earlier_removals(self):
        u = self.user()
        c = self.imap(u)
        c.cmd("CREATE Projekte")
        c.append_msg("Projekte", self.gen.letter())
        c.append_msg("Projekte", self.gen.letter())
        c.select_box("Projekte")
        self.assertOK(c.cmd("UID STORE 1 +FLAGS.SILENT (\\Deleted)"))
        self.assertOK(c.cmd("EXPUNGE"))
        c.logout()
        # next year: Projekte becomes an archive folder
        rc, out, err = self.dc.doveadm(
            "tresor", "verify", "-u", u,
            options={"plugin/tresor_archive": "Archiv Archiv/* Rechnungen/* "
                                              "Projekte"})
        self.assertEqual((rc, out), (0, ""), err)

    def test_renaming_a_parent_keeps_its_children_known(self):
        u = self.user()
        c = self.imap(u)
        c.create_with_parents("Kunden/A")
        c.cmd("CREATE Kunden/B")
        c.append_msg("Kunden/A", self.gen.letter())
        c.append_msg("Kunden/B", self.gen.letter())
        self.assertOK(c.cmd("RENAME Kunden Kunden-alt"))
        c.logout()
        renames = [(r["mailbox"], r["new_mailbox"])
                   for r in self.dc.journal(u) if r["event"] == "rename"]
        self.assertIn(("Kunden/A", "Kunden-alt/A"), renames)
        self.assertIn(("Kunden/B", "Kunden-alt/B"), renames)
        self.assertClean(u)


class AllUsersTests(VerifyCase):
    """verify -A and adopt -A over a userdb that lists users who never had
    mail (system accounts on a Debian server): they are skipped without
    anything being created for them, and counted in one line; a user with
    mail but no journal is still verified (removing a journal hides
    nothing)."""
    USERS = ("all-users-clean", "all-users-never-mail", "all-users-no-journal")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.dc is None:
            return
        cls.dc.list_users(cls.USERS)

    def test_users_without_mail_skipped_and_nothing_created(self):
        clean, never, no_journal = self.USERS
        for u in (clean, no_journal):
            self.assertEqual(self.dc.lmtp_deliver(
                "%s@example.com" % u, self.gen.simple())
                ["%s@example.com" % u][0], 250)
        shutil.rmtree(self.dc.journal_dir(no_journal))
        never_home = self.dc.home(never)
        self.assertFalse(os.path.exists(never_home), never_home)

        for cmd in ("verify", "adopt"):
            rc, out, err = self.dc.doveadm("tresor", cmd, "-A")
            self.assertFalse(os.path.exists(never_home),
                             "tresor %s -A created %s" % (cmd, never_home))
            self.assertIn("tresor %s: 1 user without a journal or mail "
                          "skipped" % cmd, err)
            # the mail whose journal went is reported, not skipped; adopt
            # refuses to start a journal over the one that went
            self.assertNotEqual(rc, 0, out)
            if cmd == "verify":
                self.assertNotIn(clean, out)
                self.assertRegex(out, r"(?m)^%s: UNJOURNALED mailbox=INBOX"
                                 % no_journal)
            else:
                self.assertIn("tresor adopt: the journal in %s is damaged"
                              % self.dc.tresor_dir(no_journal), err)
                self.assertIn("%s: adopted 0 mails in 0 mailboxes, 1 already "
                              "journaled" % clean, out)
        self.assertClean(clean)
        rc, problems, err = self.verify(no_journal)
        self.assertNotEqual(rc, 0, err)
        self.assertEqual(sorted(p["problem"] for p in problems),
                         ["CHAIN", "UNJOURNALED"], problems)
        self.assertEqual(self.dc.journal(no_journal), [])
