"""Retention, legal holds and purge: doveadm tresor purge expunges only
expired, unheld mails of archive folders with a tresor_retention rule and
journals a purge record for each first; -n only lists; holds by mailbox,
UID, Message-ID or the whole user block it until removed; IMAP and
doveadm expunge stay refused; verify accepts proper purges (and an
interrupted one) and reports improper ones as PURGE.

Mails become "old" by rewriting the times of their save records (and the
chain after them) the way an old journal would look: the product has no
clock hooks."""

import hashlib
import json
import os
import zlib

from harness import (DovecotTestCase, chown_mail_user, rewrite_file,
                     TRESOR_DOVEADM_PLUGIN, TRESOR_MAIL_PLUGIN)
from mailgen import MailGenerator

ARCHIVE = "Archiv Archiv/* Rechnungen/* Altablage"
RETENTION = "Rechnungen/*=10y Archiv=6y"
ALL_USERS = ("retention-all-a", "retention-all-b")


class RetentionFixture(DovecotTestCase):
    required_plugins = (TRESOR_MAIL_PLUGIN, TRESOR_DOVEADM_PLUGIN)

    @classmethod
    def dovecot_options(cls):
        return {"plugin": {"tresor_archive": ARCHIVE,
                           "tresor_retention": RETENTION}}

    def setUp(self):
        super().setUp()
        self.gen = MailGenerator(seed=zlib.crc32(self.id().encode()))

    # -------------------------------------------------- fixtures
    def fill(self, user, mailbox, n, message_ids=None):
        """Creates the folder (and parents) and APPENDs n mails; returns
        their UIDs."""
        c = self.imap(user)
        c.create_with_parents(mailbox)
        uids = []
        for i in range(n):
            mid = message_ids[i] if message_ids else None
            typ, text, _, uid = c.append_msg(
                mailbox, self.gen.simple(message_id=mid))
            self.assertEqual(typ, "OK", text)
            uids.append(uid)
        c.close_quietly()
        return uids

    def save_seq(self, user, mailbox, uid):
        for rec in self.dc.journal(user):
            if (rec.get("event") == "save" and rec.get("mailbox") == mailbox
                    and rec.get("uid") == uid):
                return rec["seq"]
        self.fail("no save record for %s UID %d" % (mailbox, uid))

    def backdate(self, user, times):
        """Sets the time of the save records of {(mailbox, uid): time}
        and re-chains the journal after them, as if they had been written
        then. The catalog (derived) is removed."""
        def change(rec):
            key = (rec.get("mailbox"), rec.get("uid"))
            if rec.get("event") == "save" and key in times:
                rec["time"] = times[key]
            return rec
        self.rewrite_records(user, change)

    def interrupt(self, user, keys, lose_guid=()):
        """Turns the save records of keys [(mailbox, uid)] into the
        'interrupted' records a process killed after the commit leaves
        (no UID); for those in lose_guid also with another GUID (the
        mail's was lost on the way, so only its hash finds it)."""
        def change(rec):
            key = (rec.get("mailbox"), rec.get("uid"))
            if rec.get("event") != "save" or key not in keys:
                return rec
            out = {}
            for k, v in rec.items():
                if k in ("uid", "uidvalidity", "duplicate_of",
                         "content_duplicate_of"):
                    continue
                if k == "event":
                    v = "interrupted"
                if k == "guid" and key in lose_guid:
                    v = "0" * 32
                if k == "service":
                    out["action"] = "save"
                out[k] = v
            return out
        self.rewrite_records(user, change)

    def rewrite_records(self, user, change):
        """Rewrites every record with change(rec) and re-chains; removes
        the catalog (derived)."""
        paths = self.dc.journal_files(user)
        prev = "0" * 64
        for path in paths:
            with open(path, "rb") as f:
                lines = f.read().split(b"\n")[:-1]
            out = []
            for line in lines:
                rec = change(json.loads(line))
                rec["prev"] = prev
                line = json.dumps(rec, separators=(",", ":"),
                                  ensure_ascii=False).encode("utf-8")
                prev = hashlib.sha256(line).hexdigest()
                out.append(line)
            rewrite_file(path, b"".join(l + b"\n" for l in out))
        self.dc.remove_catalog(user)

    def append_record(self, user, rec):
        """Appends a record by hand (as a tamperer or a crash would leave
        it), chained to the head."""
        path = self.dc.journal_files(user)[-1]
        lines = self.dc.journal_lines(user)
        rec = dict(rec)
        rec["seq"] = json.loads(lines[-1])["seq"] + 1
        rec["prev"] = hashlib.sha256(lines[-1]).hexdigest()
        ordered = {"seq": rec.pop("seq")}
        ordered.update(rec)
        ordered["prev"] = ordered.pop("prev")
        with open(path, "ab") as f:
            f.write(json.dumps(ordered, separators=(",", ":")).encode() + b"\n")
        chown_mail_user(path)
        return ordered["seq"]

    def purge(self, user, *args):
        rc, data, err = self.dc.doveadm_json("tresor", "purge", "-u", user,
                                             *args)
        self.assertIsInstance(data, list, data)
        return rc, data, err

    def rows(self, data, result):
        return sorted((r["mailbox"], int(r["uid"])) for r in data
                      if r["result"] == result)

    def uids(self, user, mailbox):
        c = self.imap(user)
        try:
            c.select_box(mailbox, readonly=True)
            return c.uids()
        finally:
            c.close_quietly()

    def assertVerifyClean(self, user):
        rc, data, err = self.dc.doveadm_json("tresor", "verify", "-u", user)
        self.assertEqual([r for r in data if r.get("problem")], [], err)
        self.assertEqual(rc, 0, err)

    def standard_store(self, user):
        """Rechnungen/Lieferant: UID 1 saved 2014 (expired), UID 2 on the
        last second of 2016 (kept until 2027), UID 3 now. Archiv: UID 1
        saved 2019 (6y: expired since 2026), UID 2 now. Altablage (an
        archive folder without a rule) and INBOX: saved 2000."""
        self.fill(user, "Rechnungen/Lieferant", 3)
        self.fill(user, "Archiv", 2)
        self.fill(user, "Altablage", 1)
        self.fill(user, "INBOX", 1)
        self.backdate(user, {
            ("Rechnungen/Lieferant", 1): "2014-05-01T08:00:00.000000Z",
            ("Rechnungen/Lieferant", 2): "2016-12-31T23:59:59.999999Z",
            ("Archiv", 1): "2019-06-01T08:00:00.000000Z",
            ("Altablage", 1): "2000-01-01T08:00:00.000000Z",
            ("INBOX", 1): "2000-01-01T08:00:00.000000Z",
        })
        self.assertVerifyClean(user)


class PurgeTests(RetentionFixture):

    def test_dry_run_lists_and_changes_nothing(self):
        u = self.user()
        self.standard_store(u)
        journal = self.dc.journal_lines(u)
        files = {b: self.dc.mail_files(u, b) for b in
                 ("Rechnungen/Lieferant", "Archiv", "Altablage", "INBOX")}
        rc, data, err = self.purge(u, "-n")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.rows(data, "purgeable"),
                         [("Archiv", 1), ("Rechnungen/Lieferant", 1)])
        self.assertEqual(len(data), 2, data)
        row = [r for r in data if r["mailbox"] == "Archiv"][0]
        self.assertEqual(row["rule"], "Archiv=6y")
        self.assertEqual(row["retention_end"], "2026-01-01T00:00:00Z")
        self.assertEqual(row["saved"], "2019-06-01T08:00:00.000000Z")
        self.assertEqual(row["save_seq"], str(self.save_seq(u, "Archiv", 1)))
        self.assertEqual(self.dc.journal_lines(u), journal)
        for b, f in files.items():
            self.assertEqual(self.dc.mail_files(u, b), f, b)

        # a preview of the turn of the year 2027
        rc, data, err = self.purge(u, "-n", "--now", "2027-01-01")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.rows(data, "purgeable"),
                         [("Archiv", 1), ("Rechnungen/Lieferant", 1),
                          ("Rechnungen/Lieferant", 2)])
        rc, data, err = self.purge(u, "-n", "--now", "2026-12-31T23:59:59Z")
        self.assertEqual(len(self.rows(data, "purgeable")), 2)
        # only for previews, and only valid dates
        rc, _, err = self.dc.doveadm("tresor", "purge", "-u", u, "--now",
                                     "2030-01-01")
        self.assertEqual(rc, 64, err)
        rc, _, err = self.dc.doveadm("tresor", "purge", "-u", u, "-n",
                                     "--now", "2030-02-30")
        self.assertEqual(rc, 64, err)
        self.assertEqual(self.dc.journal_lines(u), journal)

    def test_purge_expunges_only_expired_mails_and_journals_them(self):
        u = self.user()
        self.standard_store(u)
        before = len(self.dc.journal(u))
        sha = {r["uid"]: r["sha256"] for r in self.dc.journal(u)
               if r.get("event") == "save" and r.get("mailbox") == "Archiv"}
        rc, data, err = self.purge(u)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.rows(data, "purged"),
                         [("Archiv", 1), ("Rechnungen/Lieferant", 1)])
        new = self.new_records(u, before)
        self.assertEqual([r["event"] for r in new], ["purge", "purge"], new)
        by_box = {r["mailbox"]: r for r in new}
        rec = by_box["Archiv"]
        self.assertEqual(rec["uid"], 1)
        self.assertEqual(rec["sha256"], sha[1])
        self.assertEqual(rec["save_seq"], self.save_seq(u, "Archiv", 1))
        self.assertEqual(rec["retention_rule"], "Archiv=6y")
        self.assertEqual(rec["retention_end"], "2026-01-01T00:00:00Z")
        self.assertEqual(rec["service"], "doveadm")
        for k in ("mailbox_guid", "uidvalidity", "guid", "reason"):
            self.assertIn(k, rec)
        self.assertEqual(by_box["Rechnungen/Lieferant"]["retention_rule"],
                         "Rechnungen/*=10y")
        self.assertEqual({r["seq"] for r in new},
                         {int(r["purge_seq"]) for r in data})
        self.assertChainIntact(u)

        self.assertEqual(self.uids(u, "Rechnungen/Lieferant"), [2, 3])
        self.assertEqual(self.uids(u, "Archiv"), [2])
        self.assertEqual(self.uids(u, "Altablage"), [1])
        self.assertEqual(self.uids(u, "INBOX"), [1])
        self.assertVerifyClean(u)

        # nothing left to do
        rc, data, err = self.purge(u)
        self.assertEqual((rc, data), (0, []), err)
        self.assertEqual(len(self.dc.journal(u)), before + 2)

    def test_purge_of_named_mailboxes_only(self):
        u = self.user()
        self.standard_store(u)
        rc, data, err = self.purge(u, "Archiv")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.rows(data, "purged"), [("Archiv", 1)])
        self.assertEqual(self.uids(u, "Rechnungen/Lieferant"), [1, 2, 3])
        # a folder without a rule is named: nothing happens, it says so
        rc, data, err = self.purge(u, "Altablage")
        self.assertEqual((rc, data), (0, []), err)
        self.assertIn("no archive folder with a tresor_retention rule", err)

    def test_unjournaled_mails_are_never_purged(self):
        u = self.user()
        self.standard_store(u)
        # a mail slipped into the archive folder behind the plugin's back
        self.dc.plant_mail(u, "Archiv", self.gen.simple())
        rc, data, err = self.purge(u, "Archiv")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.rows(data, "unjournaled"), [("Archiv", 3)])
        self.assertEqual(self.rows(data, "purged"), [("Archiv", 1)])
        self.assertEqual(self.uids(u, "Archiv"), [2, 3])

    def test_modified_mail_is_not_purged(self):
        u = self.user()
        self.standard_store(u)
        self.dc.edit_stored_mail(
            u, "Archiv", 1, lambda body: body.replace(b"e", b"E", 1))
        before = len(self.dc.journal(u))
        rc, rows, err = self.purge(u, "Archiv")
        self.assertEqual(rc, 65, err)
        self.assertEqual(self.rows(rows, "modified"), [("Archiv", 1)])
        self.assertEqual(len(self.dc.journal(u)), before)
        self.assertEqual(self.uids(u, "Archiv"), [1, 2])


class HoldTests(RetentionFixture):

    def hold(self, user, *args):
        rc, data, err = self.dc.doveadm_json("tresor", "hold", "add", "-u",
                                             user, *args)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(data), 1, data)
        return int(data[0]["hold"])

    def unhold(self, user, hold_id):
        rc, data, err = self.dc.doveadm_json("tresor", "hold", "remove", "-u",
                                             user, "--reason", "erledigt",
                                             str(hold_id))
        self.assertEqual(rc, 0, err)

    def test_holds_block_purge_until_removed(self):
        u = self.user()
        mids = ["<hold-%d@lieferant.example>" % i for i in range(1, 5)]
        self.fill(u, "Rechnungen/X", 4, message_ids=mids)
        self.fill(u, "Archiv", 1)
        old = "2014-05-01T08:00:00.000000Z"
        self.backdate(u, {("Rechnungen/X", i): old for i in range(1, 5)})
        self.backdate(u, {("Archiv", 1): old})

        by_uid = self.hold(u, "--mailbox", "Rechnungen/X", "--uid", "1",
                           "--reason", "Rechtsstreit")
        by_mid = self.hold(u, "--message-id", "hold-2@lieferant.example")
        by_box = self.hold(u, "--mailbox", "Archiv")
        rc, data, err = self.dc.doveadm_json("tresor", "hold", "list", "-u", u)
        self.assertEqual(rc, 0, err)
        self.assertEqual([int(r["hold"]) for r in data],
                         [by_uid, by_mid, by_box])
        self.assertEqual(data[0]["scope"], "UID 1 in Rechnungen/X")
        self.assertEqual(data[0]["reason"], "Rechtsstreit")
        self.assertEqual(data[2]["scope"], "mailbox Archiv")
        recs = [r for r in self.dc.journal(u) if r["event"] == "hold"]
        self.assertEqual([r["seq"] for r in recs], [by_uid, by_mid, by_box])
        self.assertEqual(recs[1]["message_id"], "hold-2@lieferant.example")

        rc, data, err = self.purge(u, "-n")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.rows(data, "held"),
                         [("Archiv", 1), ("Rechnungen/X", 1),
                          ("Rechnungen/X", 2)])
        held = {(r["mailbox"], r["uid"]): r["hold"] for r in data
                if r["result"] == "held"}
        self.assertEqual(held[("Rechnungen/X", "2")], str(by_mid))
        self.assertEqual(self.rows(data, "purgeable"),
                         [("Rechnungen/X", 3), ("Rechnungen/X", 4)])

        rc, data, err = self.purge(u)
        self.assertEqual(self.rows(data, "purged"),
                         [("Rechnungen/X", 3), ("Rechnungen/X", 4)])
        self.assertEqual(self.uids(u, "Rechnungen/X"), [1, 2])

        # a hold on the whole user, then the others go
        everything = self.hold(u)
        for h in (by_uid, by_mid, by_box):
            self.unhold(u, h)
        rc, data, err = self.purge(u)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.rows(data, "purged"), [])
        self.assertEqual(len(self.rows(data, "held")), 3)
        self.assertEqual(self.uids(u, "Rechnungen/X"), [1, 2])
        self.assertEqual(self.uids(u, "Archiv"), [1])

        self.unhold(u, everything)
        rc, data, err = self.dc.doveadm_json("tresor", "hold", "list", "-u", u)
        self.assertEqual(data, [])
        rc, data, err = self.purge(u)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.rows(data, "purged"),
                         [("Archiv", 1), ("Rechnungen/X", 1),
                          ("Rechnungen/X", 2)])
        self.assertEqual(self.uids(u, "Rechnungen/X"), [])
        unholds = [r for r in self.dc.journal(u) if r["event"] == "unhold"]
        self.assertEqual(sorted(r["hold_seq"] for r in unholds),
                         sorted([by_uid, by_mid, by_box, everything]))
        self.assertVerifyClean(u)

    def test_control_characters_never_printed_raw(self):
        """A hold's reason (free text) with a terminal escape and a tab:
        hold list and journal print '?' for each in every format, and
        journal shows the columns only seal, purge and hold records have."""
        u = self.user()
        self.fill(u, "Archiv", 1)
        reason = "Streit\x1b[2J\tmit Lieferant"
        hold = self.hold(u, "--mailbox", "Archiv", "--reason", reason)
        for cmd in (("hold", "list"), ("journal",)):
            for fmt in ("tab", "flow", "json"):
                rc, out, err = self.dc.doveadm("tresor", *cmd, "-u", u,
                                               fmt=fmt)
                self.assertEqual(rc, 0, err)
                self.assertNotIn("\x1b", out, (cmd, fmt))
                self.assertIn("Streit?[2J?mit Lieferant", out, (cmd, fmt))
        rc, data, err = self.dc.doveadm_json("tresor", "journal", "-u", u)
        self.assertEqual(rc, 0, err)
        self.assertIn("hold_seq", data[0], "journal has no hold_seq column")
        self.unhold(u, hold)
        rc, data, err = self.dc.doveadm_json("tresor", "journal", "-u", u)
        self.assertEqual(data[-1]["event"], "unhold")
        self.assertEqual(data[-1]["hold_seq"], str(hold))

    def test_hold_errors(self):
        u = self.user()
        self.fill(u, "Archiv", 1)
        rc, _, err = self.dc.doveadm("tresor", "hold", "remove", "-u", u, "99")
        self.assertEqual(rc, 68, err)
        rc, _, err = self.dc.doveadm("tresor", "hold", "add", "-u", u,
                                     "--uid", "1")
        self.assertEqual(rc, 64, err)
        rc, _, err = self.dc.doveadm("tresor", "hold", "add", "-u", u,
                                     "--mailbox", "Archiv", "--uid", "7")
        self.assertEqual(rc, 68, err)
        rc, _, err = self.dc.doveadm("tresor", "hold", "add", "-u", u,
                                     "--mailbox", "NoSuchBox")
        self.assertNotEqual(rc, 0, err)
        self.assertEqual([r for r in self.dc.journal(u)
                          if r["event"] in ("hold", "unhold")], [])


class GuardTests(RetentionFixture):

    def test_imap_and_doveadm_expunge_still_refused(self):
        u = self.user()
        self.standard_store(u)
        box = "Rechnungen/Lieferant"
        c = self.imap(u)
        c.select_box(box)
        res = c.cmd("UID STORE 1 +FLAGS (\\Deleted)")
        self.assertRefusedIMAP(res)
        c.close_quietly()
        # \Deleted set while the folder wasn't archived: EXPUNGE of the
        # expired mail is still refused
        rc, _, err = self.dc.doveadm(
            "flags", "add", "-u", u, "\\Deleted", "mailbox", box, "uid",
            "1", options={"plugin/tresor_archive": "NoSuchFolder"})
        self.assertEqual(rc, 0, err)
        c = self.imap(u)
        c.select_box(box)
        self.assertRefusedIMAP(c.cmd("UID EXPUNGE 1"))
        self.assertRefusedIMAP(c.cmd("EXPUNGE"))
        c.close_quietly()
        rc, _, err = self.dc.doveadm("expunge", "-u", u, "mailbox", box,
                                     "uid", "1")
        self.assertNotEqual(rc, 0, err)
        self.assertEqual(self.uids(u, box), [1, 2, 3])
        self.assertFalse([r for r in self.dc.journal(u)
                          if r["event"] in ("purge", "expunge")])
        # purge itself still works afterwards
        rc, data, err = self.purge(u, box)
        self.assertEqual(self.rows(data, "purged"), [(box, 1)])


class VerifyPurgeTests(RetentionFixture):

    def purge_record(self, user, mailbox, uid, rule):
        save = [r for r in self.dc.journal(user) if r.get("event") == "save"
                and r["mailbox"] == mailbox and r["uid"] == uid][0]
        return {"time": "2026-02-01T00:00:00.000000Z", "event": "purge",
                "mailbox": mailbox, "mailbox_guid": save["mailbox_guid"],
                "uid": uid, "sha256": save["sha256"],
                "reason": "retention period ended",
                "save_seq": save["seq"], "retention_rule": rule}

    def test_interrupted_purge_is_pending_and_finished(self):
        u = self.user()
        self.standard_store(u)
        # the purge record was written, the expunge never happened
        seq = self.append_record(u, self.purge_record(u, "Archiv", 1,
                                                      "Archiv=6y"))
        self.dc.mark_log()
        rc, out, err = self.dc.doveadm("tresor", "verify", "-u", u)
        self.assertEqual((rc, out.strip()), (0, ""), err)
        self.assertIn("1 purged mail is still in the store", err)
        rc, data, err = self.purge(u, "-n", "Archiv")
        self.assertEqual(self.rows(data, "pending"), [("Archiv", 1)])
        before = len(self.dc.journal(u))
        rc, data, err = self.purge(u, "Archiv")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.rows(data, "finished"), [("Archiv", 1)])
        self.assertEqual(data[0]["purge_seq"], str(seq))
        self.assertEqual(len(self.dc.journal(u)), before)
        self.assertEqual(self.uids(u, "Archiv"), [2])
        self.assertVerifyClean(u)

    def test_interrupted_saves_are_purged_like_saves(self):
        u = self.user()
        self.standard_store(u)
        # both expired; one found by its GUID, one by its hash
        self.interrupt(u, [("Rechnungen/Lieferant", 1), ("Archiv", 1)],
                       lose_guid=[("Archiv", 1)])
        self.assertEqual([r["event"] for r in self.dc.journal(u)].count(
            "interrupted"), 2)
        self.assertVerifyClean(u)
        rc, data, err = self.purge(u, "-n")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.rows(data, "purgeable"),
                         [("Archiv", 1), ("Rechnungen/Lieferant", 1)])
        self.assertEqual(self.rows(data, "unjournaled"), [])
        rc, data, err = self.purge(u)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.rows(data, "purged"),
                         [("Archiv", 1), ("Rechnungen/Lieferant", 1)])
        self.assertEqual(self.uids(u, "Archiv"), [2])
        self.assertEqual(self.uids(u, "Rechnungen/Lieferant"), [2, 3])
        purges = {r["mailbox"]: r for r in self.dc.journal(u)
                  if r["event"] == "purge"}
        interrupted = {r["mailbox"]: r for r in self.dc.journal(u)
                       if r["event"] == "interrupted"}
        for box in ("Archiv", "Rechnungen/Lieferant"):
            self.assertEqual(purges[box]["save_seq"], interrupted[box]["seq"])
            self.assertEqual(purges[box]["uid"], 1)
        # verify takes the purges as proper
        self.assertVerifyClean(u)

    def test_improper_purge_is_reported(self):
        u = self.user()
        self.standard_store(u)
        # retention of a mail saved in 2016 ends 2027: a purge in 2026 is
        # abuse, even though the mail is gone
        seq = self.append_record(u, self.purge_record(
            u, "Rechnungen/Lieferant", 2, "Rechnungen/*=10y"))
        self.dc.remove_stored_mail(u, "Rechnungen/Lieferant", 2)
        rc, data, err = self.dc.doveadm_json("tresor", "verify", "-u", u)
        self.assertEqual(rc, 65, err)
        problems = [r for r in data if r.get("problem")]
        self.assertEqual([(p["problem"], p["seq"], p["uid"]) for p in problems],
                         [("PURGE", str(seq), "2")], problems)
        self.assertIn("ends 2027-01-01T00:00:00Z", problems[0]["detail"])


class AllUsersTests(RetentionFixture):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.dc is None:
            return
        cls.dc.list_users(ALL_USERS)

    def test_purge_all_users(self):
        for u in ALL_USERS:
            self.fill(u, "Archiv", 2)
            self.backdate(u, {("Archiv", 1): "2019-06-01T08:00:00.000000Z"})
        rc, data, err = self.dc.doveadm_json("tresor", "purge", "-A", "-n")
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted((r["username"], r["result"], r["uid"])
                                for r in data),
                         [(u, "purgeable", "1") for u in ALL_USERS])
        rc, data, err = self.dc.doveadm_json("tresor", "purge", "-A")
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted((r["username"], r["result"]) for r in data),
                         [(u, "purged") for u in ALL_USERS])
        for u in ALL_USERS:
            self.assertEqual(self.uids(u, "Archiv"), [2])
            self.assertVerifyClean(u)
