"""DMARC aggregate reports (issue 17), in a real Dovecot with the built
Sieve plugin, the tresor-extract helper and the doveadm plugin:

- the test `dmarc_report [:failing]` and ${dmarc.*} in sieve-test, on
  reports generated after RFC 7489 appendix C (plain XML, gzip, zip,
  whatever the attachment's declared type), and on what is no report
  (an e-invoice XML, a plain mail, broken archives, a gzip bomb, a
  billion-laughs XML), none of which may fail the script;
- delivery through LMTP with the shipped sieve/tresor-dmarc.sieve:
  reports land in DMARC, failing ones flagged $tresor_dmarc_failing;
- `doveadm tresor dmarc`: per domain and sending source, failing sources
  first, a report that came twice counted once, --since, -f json/tab,
  a missing folder.
"""

import os

from harness import SRCDIR
from mailgen import (DMARC_FORGER as FORGER, DMARC_NEWSLETTER as NEWSLETTER,
                     DMARC_OWN as OWN, DAY, JAN1, dmarc_report_mail as report_mail,
                     dmarc_report_xml as report_xml, gz, zipped)
from sieve_helpers import BILLION_LAUGHS, SieveEnv, make_mail, read_einvoice
from test_invoice import InvoiceFixture

DEBUG = ('require ["variables", "vnd.tresor.invoice", "vnd.dovecot.debug"];\n'
         'debug_log "BEFORE=[${dmarc.domain}]";\n'
         'if dmarc_report {\n'
         '  debug_log "REPORT|org=${dmarc.org}|email=${dmarc.email}|'
         'id=${dmarc.report_id}|domain=${dmarc.domain}|policy=${dmarc.policy}|'
         'begin=${dmarc.begin}|end=${dmarc.end}|messages=${dmarc.messages}|'
         'failing=${dmarc.failing}|records=${dmarc.records}|'
         'sources=${dmarc.failing_sources}|END";\n'
         '} else {\n'
         '  debug_log "NO-REPORT|domain=${dmarc.domain}|END";\n'
         '}\n'
         'if dmarc_report :failing { debug_log "FAILING"; }\n')


def parse(out):
    for line in out.splitlines():
        if "DEBUG: REPORT|" in line:
            body = line.split("DEBUG: REPORT|", 1)[1].rsplit("|END", 1)[0]
            res = dict(kv.split("=", 1) for kv in body.split("|"))
            res["report"] = True
            res["failing_test"] = "DEBUG: FAILING" in out
            return res
        if "DEBUG: NO-REPORT|" in line:
            return {"report": False, "failing_test": "DEBUG: FAILING" in out,
                    "domain": line.split("domain=", 1)[1].split("|END")[0]}
    raise AssertionError("the debug script printed nothing:\n" + out)


class DmarcFixture(InvoiceFixture):
    """The invoice tests' Dovecot (LMTP, Sieve with the tresor extension,
    the doveadm plugin) with the shipped DMARC script as every user's
    script."""

    @classmethod
    def prepare_env(cls):
        with open(os.path.join(SRCDIR, "sieve", "tresor-dmarc.sieve")) as f:
            cls.dmarc_script = cls.env.script("dmarc", f.read())

    @classmethod
    def dovecot_options(cls):
        plugin = cls.env.plugin_settings()
        plugin["sieve"] = cls.dmarc_script
        return {"plugin": plugin, "extra_conf": SieveEnv.lmtp_conf()}

    def analyse(self, mail):
        rc, out = self.sieve_test(DEBUG, mail)
        self.assertEqual(rc, 0, out)
        self.assertIn("final result: success", out, out)
        self.assertNotRegex(out, r"(?i)panic|fatal|segmentation", out)
        self.assertIn("DEBUG: BEFORE=[]", out)
        return parse(out)

    def deliver(self, user, mail):
        res = self.dc.lmtp_deliver("%s@example.com" % user, mail)
        code, text = res["%s@example.com" % user]
        self.assertEqual(code, 250, text)


class SieveTests(DmarcFixture):

    def test_gzip_zip_and_plain_reports_whatever_their_label(self):
        xml = report_xml(records=[OWN, FORGER, NEWSLETTER])
        for data, name, ctype in [
                (gz(xml), "google.com!example.com!1767225600!1767311999.xml.gz",
                 "application/gzip"),
                (zipped(xml), "google.com!example.com!1767225600!1767311999.zip",
                 "application/zip"),
                (xml, "report.xml", "text/xml"),
                (gz(xml), "report.bin", "application/octet-stream"),
                (zipped(xml), "report.zip", "application/x-zip-compressed")]:
            with self.subTest(name=name, ctype=ctype):
                res = self.analyse(report_mail(data, name, ctype))
                self.assertTrue(res["report"], res)
                self.assertEqual(res["org"], "google.com")
                self.assertEqual(res["email"], "noreply-dmarc@google.com")
                self.assertEqual(res["id"], "r1")
                self.assertEqual(res["domain"], "example.com")
                self.assertEqual(res["policy"], "reject")
                self.assertEqual(res["begin"], "2026-01-01T00:00:00Z")
                self.assertEqual(res["end"], "2026-01-01T23:59:59Z")
                self.assertEqual(res["messages"], "167")
                self.assertEqual(res["failing"], "47")
                self.assertEqual(res["records"], "3")
                self.assertEqual(res["sources"], "2")
                self.assertTrue(res["failing_test"])

    def test_a_report_where_everything_passes_is_not_failing(self):
        res = self.analyse(report_mail(gz(report_xml(records=[OWN])),
                                       "r.xml.gz", "application/gzip"))
        self.assertTrue(res["report"])
        self.assertEqual((res["messages"], res["failing"], res["sources"]),
                         ("120", "0", "0"))
        self.assertFalse(res["failing_test"])

    def test_what_is_no_report_is_none_and_never_fails_the_script(self):
        bomb = gz(b"<?xml version='1.0'?><feedback>" + b" " * (200 << 20)
                  + b"</feedback>")
        cases = {
            "plain mail": make_mail(subject="Hallo", body="Gruss\n"),
            "e-invoice XML": make_mail(attachments=[(
                read_einvoice("xrechnung-testsuite--01.01a-INVOICE_ubl.xml"),
                "rechnung.xml", "application/xml")]),
            "broken zip": report_mail(zipped(report_xml(records=[OWN]))[:60],
                                      "r.zip", "application/zip"),
            "broken gzip": report_mail(gz(report_xml(records=[OWN]))[:40],
                                       "r.xml.gz", "application/gzip"),
            "gzip bomb": report_mail(bomb, "r.xml.gz", "application/gzip"),
            "billion laughs": report_mail(BILLION_LAUGHS, "r.xml", "text/xml"),
            "other XML root": report_mail(b"<?xml version='1.0'?><note/>",
                                          "r.xml", "text/xml"),
        }
        for what, mail in cases.items():
            with self.subTest(what):
                res = self.analyse(mail)
                self.assertFalse(res["report"], res)
                self.assertFalse(res["failing_test"])
                self.assertEqual(res["domain"], "")

    def test_variables_are_read_only_and_known_names_only(self):
        rc, out = self.sieve_test(
            'require ["variables", "vnd.tresor.invoice"];\n'
            'set "dmarc.domain" "x";\n', make_mail())
        self.assertNotEqual(rc, 0, out)
        self.assertIn("cannot assign to `dmarc.domain'", out)
        rc, out = self.sieve_test(
            'require ["variables", "vnd.tresor.invoice", "vnd.dovecot.debug"];\n'
            'if dmarc_report { debug_log "[${dmarc.sender}]"; }\n',
            make_mail())
        self.assertIn("unknown variable `dmarc.sender'", out)
        rc, out = self.sieve_test(
            'require "vnd.tresor.invoice";\nif dmarc_report :passing { stop; }\n',
            make_mail())
        self.assertNotEqual(rc, 0, out)
        self.assertIn("unknown tagged argument ':passing'", out)

    def test_analysed_once_per_message_beside_the_invoice_test(self):
        script = ('require ["variables", "vnd.tresor.invoice"];\n'
                  'if dmarc_report { set "a" "1"; }\n'
                  'if dmarc_report :failing { set "b" "1"; }\n'
                  'if invoice { set "c" "1"; }\n')
        rc, out = self.sieve_test(
            script,
            report_mail(gz(report_xml(records=[FORGER])), "r.xml.gz",
                        "application/gzip"), trace=True)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.count("message analysed before (cached)"), 1, out)
        self.assertIn("DMARC report of `google.com' on `example.com': "
                      "7 messages, 7 failing", out)
        self.assertIn("message is not an invoice", out)


class DeliveryAndDigestTests(DmarcFixture):

    def deliver_reports(self, user):
        """Four report mails (Google twice with the same report, as sent to
        two rua addresses; Outlook; Google a month earlier) and a mail that
        is no report, all through LMTP with the shipped script."""
        mails = [
            report_mail(gz(report_xml(records=[OWN, FORGER, NEWSLETTER])),
                        "google.com!example.com!1767225600!1767311999.xml.gz",
                        "application/gzip"),
            report_mail(gz(report_xml(records=[OWN, FORGER, NEWSLETTER])),
                        "google.com!example.com!1767225600!1767311999.xml.gz",
                        "application/gzip"),
            report_mail(zipped(report_xml(
                org="Outlook.com", report_id="o1", begin=JAN1 + DAY,
                records=[dict(OWN, count=30), dict(FORGER, count=3,
                                                   disposition="quarantine")])),
                "outlook.zip", "application/zip", org="Outlook.com",
                report_id="o1"),
            report_mail(gz(report_xml(report_id="old", begin=JAN1 - 31 * DAY,
                                      records=[OWN])),
                        "old.xml.gz", "application/gzip", report_id="old"),
        ]
        for m in mails:
            self.deliver(user, m)
        self.deliver(user, make_mail(subject="Hallo", body="kein Bericht\n"))

    def test_reports_are_filed_and_digested_failing_sources_first(self):
        u = self.user()
        self.deliver_reports(u)
        c = self.imap(u)
        self.assertEqual(len(c.uids("INBOX")), 1, "the plain mail stays")
        uids = c.uids("DMARC")
        self.assertEqual(len(uids), 4)
        c.select_box("DMARC", readonly=True)
        flagged = ["$tresor_dmarc_failing" in c.fetch_flags(uid) for uid in uids]
        self.assertEqual(flagged, [True, True, True, False])

        rc, rows, err = self.dc.doveadm_json("tresor", "dmarc", "-u", u)
        self.assertEqual(rc, 0, err)
        self.assertIn("DMARC: 4 reports (3 counted in all), 0 mails "
                      "without a report", err)
        self.assertEqual([(r["source_ip"], r["messages"], r["dmarc_fail"])
                          for r in rows],
                         [("192.0.2.9", "40", "40"),
                          ("198.51.100.66", "10", "10"),
                          ("203.0.113.5", "270", "0")])
        forger = rows[1]
        self.assertEqual(forger["domain"], "example.com")
        self.assertEqual(forger["disposition"], "quarantine=3 reject=7")
        self.assertEqual(forger["dkim_fail"], "10")
        self.assertEqual(forger["spf_fail"], "10")
        self.assertEqual(forger["dkim_domains"], "none")
        self.assertEqual(forger["spf_domains"], "rechnung-example.net=pass")
        self.assertEqual(forger["reporters"], "Outlook.com, google.com")
        self.assertEqual(forger["begin"], "2026-01-01T00:00:00Z")
        self.assertEqual(forger["end"], "2026-01-02T23:59:59Z")
        self.assertEqual(rows[0]["dkim_domains"], "mailer.example=pass")
        self.assertEqual(rows[0]["spf_domains"], "bounces.mailer.example=pass")
        self.assertEqual(rows[2]["reporters"], "Outlook.com, google.com")
        self.assertEqual(rows[2]["begin"], "2025-12-01T00:00:00Z")

        # -f tab: the same columns in the same order
        rc, out, err = self.dc.doveadm("tresor", "dmarc", "-u", u, fmt="tab")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[0].split("\t"), list(rows[0].keys()))
        self.assertEqual(lines[1].split("\t")[:4],
                         ["example.com", "192.0.2.9", "40", "40"])

    def test_since_leaves_older_reports_out(self):
        u = self.user()
        self.deliver_reports(u)
        # every mail arrived today: --since filters by the reports' periods
        rc, rows, err = self.dc.doveadm_json("tresor", "dmarc", "-u", u,
                                             "--since", "2026-01-01")
        self.assertEqual(rc, 0, err)
        own = [r for r in rows if r["source_ip"] == "203.0.113.5"]
        self.assertEqual(own[0]["messages"], "150")
        self.assertEqual(own[0]["begin"], "2026-01-01T00:00:00Z")
        # arrival after the day: nothing is read
        rc, rows, err = self.dc.doveadm_json("tresor", "dmarc", "-u", u,
                                             "--since", "2099-01-01")
        self.assertEqual(rc, 0, err)
        self.assertEqual(rows, [])
        rc, _, err = self.dc.doveadm("tresor", "dmarc", "-u", u,
                                     "--since", "2026-02-30")
        self.assertEqual(rc, 64, err)
        self.assertIn("--since takes a date that exists", err)

    def test_a_mail_without_report_in_the_folder_is_named(self):
        u = self.user()
        self.deliver(u, report_mail(gz(report_xml(records=[FORGER])),
                                    "r.xml.gz", "application/gzip"))
        c = self.imap(u)
        typ, text, _, _ = c.append_msg("DMARC", make_mail(
            subject="Weitergeleitet", body="kein Bericht\n"))
        self.assertEqual(typ, "OK", text)
        rc, rows, err = self.dc.doveadm_json("tresor", "dmarc", "-u", u)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(rows), 1)
        self.assertRegex(err, r"DMARC UID 2 holds no report")
        self.assertIn("1 reports (1 counted in all), 1 mails without a report",
                      err)

    def test_other_folder_and_missing_folder(self):
        u = self.user()
        c = self.imap(u)
        self.assertEqual(c.create_with_parents("Berichte").status, "OK")
        typ, text, _, _ = c.append_msg("Berichte", report_mail(
            zipped(report_xml(records=[OWN])), "r.zip", "application/zip"))
        self.assertEqual(typ, "OK", text)
        rc, rows, err = self.dc.doveadm_json("tresor", "dmarc", "-u", u,
                                             "--mailbox", "Berichte")
        self.assertEqual(rc, 0, err)
        self.assertEqual([r["source_ip"] for r in rows], ["203.0.113.5"])
        rc, _, err = self.dc.doveadm("tresor", "dmarc", "-u", u)
        self.assertEqual(rc, 68, err)  # EX_NOUSER: not found
        self.assertIn("DMARC", err)


class AllUsersTests(DmarcFixture):
    USERS = ["dmarc-rua", "dmarc-other"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.dc is not None:
            cls.dc.list_users(cls.USERS)

    def test_users_without_the_folder_are_passed_over(self):
        rua, other = self.USERS
        self.deliver(rua, report_mail(gz(report_xml(records=[FORGER])),
                                      "r.xml.gz", "application/gzip"))
        self.deliver(other, make_mail(subject="Hallo", body="Gruss\n"))
        rc, rows, err = self.dc.doveadm_json("tresor", "dmarc", "-A")
        self.assertEqual(rc, 0, err)
        self.assertEqual([(r["username"], r["source_ip"], r["dmarc_fail"])
                          for r in rows], [(rua, "198.51.100.66", "7")])
        # one user by name: the missing folder is an error
        rc, _, err = self.dc.doveadm("tresor", "dmarc", "-u", other)
        self.assertEqual(rc, 68, err)
