"""doveadm tresor seal / verify / export: Ed25519 seals over the journal
head, RFC 3161 time stamps from a local TSA made with `openssl ts`, and the
evidence export, checked with exactly the commands of its VERIFY.txt
(bash, sha256sum, openssl - no project code)."""

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import zlib

from harness import (DovecotTestCase, chown_mail_user, crlf, rewrite_file,
                     sha256_hex, TRESOR_DOVEADM_PLUGIN, TRESOR_MAIL_PLUGIN)
from mailgen import MailGenerator


def run(cmd, cwd=None, check=True):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=120,
                       shell=isinstance(cmd, str), executable="/bin/bash"
                       if isinstance(cmd, str) else None)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s %s" % (
            cmd, p.returncode, p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace")))
    return p


class Keys:
    """Seal keys (the private one readable by root only), a CA and a TSA
    certificate (extendedKeyUsage critical timeStamping), a rogue TSA, and
    `openssl ts -reply` as the TSA."""

    def __init__(self):
        self.private_dir = tempfile.mkdtemp(prefix="tresor-seal-key-")
        self.public_dir = tempfile.mkdtemp(prefix="tresor-seal-pub-")
        os.chmod(self.public_dir, 0o755)
        self.key = os.path.join(self.private_dir, "seal.key")
        self.pub = os.path.join(self.public_dir, "seal.pub.pem")
        self.other_key = os.path.join(self.private_dir, "other.key")
        self.other_pub = os.path.join(self.public_dir, "other.pub.pem")
        for key, pub in ((self.key, self.pub), (self.other_key, self.other_pub)):
            run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key])
            os.chmod(key, 0o600)
            run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub])
            os.chmod(pub, 0o644)
        self.ca = os.path.join(self.public_dir, "tsa-ca.pem")
        self.tsa = {}
        for name, signed_by_ca in (("tsa", True), ("rogue", False)):
            self.tsa[name] = self._make_tsa(name, signed_by_ca)
        os.chmod(self.ca, 0o644)

    def _make_tsa(self, name, signed_by_ca):
        d = os.path.join(self.private_dir, name)
        os.makedirs(d)
        if not os.path.exists(self.ca):
            run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                 "-keyout", os.path.join(self.private_dir, "ca.key"),
                 "-out", self.ca, "-subj", "/CN=tresor test CA", "-days", "30",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        ext = os.path.join(d, "ext.cnf")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=critical,timeStamping\n")
        key, crt = os.path.join(d, "tsa.key"), os.path.join(d, "tsa.crt")
        run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
             "-out", os.path.join(d, "tsa.csr"), "-subj", "/CN=%s" % name])
        if signed_by_ca:
            run(["openssl", "x509", "-req", "-in", os.path.join(d, "tsa.csr"),
                 "-CA", self.ca, "-CAkey", os.path.join(self.private_dir, "ca.key"),
                 "-CAcreateserial", "-out", crt, "-days", "30", "-extfile", ext])
        else:
            run(["openssl", "x509", "-req", "-in", os.path.join(d, "tsa.csr"),
                 "-signkey", key, "-out", crt, "-days", "30", "-extfile", ext])
        cnf = os.path.join(d, "tsa.cnf")
        with open(cnf, "w") as f:
            f.write("[ tsa ]\ndefault_tsa = tsa_config1\n"
                    "[ tsa_config1 ]\n"
                    "serial = %s/serial\n" % d +
                    "crypto_device = builtin\n"
                    "signer_cert = %s\n" % crt +
                    "signer_key = %s\n" % key +
                    "signer_digest = sha256\n"
                    "default_policy = 1.2.3.4.1\n"
                    "digests = sha256\n"
                    "accuracy = secs:1\n"
                    "ordering = yes\n"
                    "tsa_name = yes\n"
                    "ess_cert_id_chain = no\n"
                    "ess_cert_id_alg = sha256\n")
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("01\n")
        return cnf

    def reply(self, tsq, tsr, tsa="tsa"):
        run(["openssl", "ts", "-reply", "-config", self.tsa[tsa],
             "-queryfile", tsq, "-out", tsr])

    def cleanup(self):
        shutil.rmtree(self.private_dir, ignore_errors=True)
        shutil.rmtree(self.public_dir, ignore_errors=True)


def signed_text(rec):
    return ("tresor-seal-v1\nuser=%s\nseq=%d\nhash=%s\ntime=%s\n" % (
        rec["user"], rec["head_seq"], rec["head_hash"], rec["time"])).encode()


def rechain(lines):
    """The wholesale attack: every prev recomputed."""
    out, prev = [], "0" * 64
    for line in lines:
        line = re.sub(rb'"prev":"[0-9a-f]{64}"}$',
                      b'"prev":"' + prev.encode() + b'"}', line)
        out.append(line)
        prev = sha256_hex(line)
    return out


def sh_blocks(text):
    return re.findall(r"```sh\n(.*?)```", text, re.S)


def run_verify_txt(test, out_dir):
    """Runs every ```sh block of out_dir/VERIFY.txt in out_dir, as the
    auditor does; each must exit 0. The CompletedProcess of each."""
    with open(os.path.join(out_dir, "VERIFY.txt")) as f:
        blocks = sh_blocks(f.read())
    results = [subprocess.run(["bash", "-c", b], cwd=out_dir,
                              capture_output=True, timeout=300)
               for b in blocks]
    for b, p in zip(blocks, results):
        test.assertEqual(p.returncode, 0, "%s\n%s%s" % (
            b, p.stdout.decode(), p.stderr.decode()))
    return results


class SealFixture(DovecotTestCase):
    """A Dovecot with seal keys and a TSA; mails, seals and verify."""
    required_plugins = (TRESOR_MAIL_PLUGIN, TRESOR_DOVEADM_PLUGIN)
    keys = None

    @classmethod
    def dovecot_options(cls):
        return {"plugin": {"tresor_archive": "Archiv Archiv/*",
                           "tresor_secret_headers": "X-Secret-Rcpt",
                           "tresor_seal_key": cls.keys.key,
                           "tresor_seal_pubkey": cls.keys.pub,
                           "tresor_tsa_ca": cls.keys.ca}}

    @classmethod
    def setUpClass(cls):
        cls.keys = Keys()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.keys.cleanup()

    def setUp(self):
        super().setUp()
        self.gen = MailGenerator(seed=zlib.crc32(self.id().encode()))
        # files doveadm writes or reads as the mail user
        self.work = tempfile.mkdtemp(prefix="tresor-seal-work-",
                                     dir=self.dc.tmp)
        chown_mail_user(self.work)
        os.chmod(self.work, 0o755)

    # -------------------------------------------------- helpers
    def populate(self, u, n=3):
        c = self.imap(u)
        c.cmd("CREATE Archiv")
        for i in range(n):
            c.append_msg("INBOX" if i % 2 else "Archiv", self.gen.invoice())
        c.append_msg("Archiv", b"X-Secret-Rcpt: boss@example.com\r\n"
                     b"Subject: secret\r\nFrom: a@example.com\r\n\r\nbody\r\n")
        c.logout()
        return self.dc.journal(u)

    def seal(self, u, *args, options=None):
        rc, out, err = self.dc.doveadm("tresor", "seal", "-u", u, *args,
                                       options=options)
        self.assertEqual(rc, 0, "seal failed: %s %s" % (out, err))
        return out

    def verify(self, u, options=None):
        rc, data, err = self.dc.doveadm_json("tresor", "verify", "-u", u,
                                             options=options)
        return rc, [r for r in data if r.get("problem")], err

    def assertClean(self, u):
        rc, problems, err = self.verify(u)
        self.assertEqual(problems, [], err)
        self.assertEqual(rc, 0, err)

    def assertProblemKinds(self, u, expected, options=None):
        rc, problems, err = self.verify(u, options=options)
        self.assertEqual(sorted((p["problem"], p["seq"]) for p in problems),
                         sorted((k, str(s)) for k, s in expected),
                         json.dumps(problems, indent=1))
        self.assertEqual(rc, 65, err)
        return problems

    def journal_path(self, u):
        files = self.dc.journal_files(u)
        self.assertEqual(len(files), 1)
        return files[0]

    def write_journal(self, u, lines):
        rewrite_file(self.journal_path(u), b"".join(l + b"\n" for l in lines))

    def last_seal(self, u):
        return [r for r in self.dc.journal(u) if r["event"] == "seal"][-1]



class SealTests(SealFixture):
    def test_seal_and_verify_clean(self):
        u = self.user()
        recs = self.populate(u)
        lines = self.dc.journal_lines(u)
        self.seal(u)
        rec = self.last_seal(u)
        self.assertEqual(rec["seq"], len(recs) + 1)
        self.assertEqual(rec["head_seq"], len(recs))
        self.assertEqual(rec["head_hash"], sha256_hex(lines[-1]))
        self.assertEqual(rec["prev"], rec["head_hash"])
        self.assertEqual(rec["user"], u)
        der = run(["openssl", "pkey", "-pubin", "-in", self.keys.pub,
                   "-outform", "DER"]).stdout
        self.assertEqual(rec["key_id"], hashlib.sha256(der).hexdigest())
        self.assertClean(u)
        # the auditor's command, on the text rebuilt with printf
        d = self.work
        run("printf 'tresor-seal-v1\\nuser=%%s\\nseq=%%s\\nhash=%%s\\ntime=%%s\\n' "
            "'%s' %d %s %s > signed.txt" % (u, rec["head_seq"], rec["head_hash"],
                                             rec["time"]), cwd=d)
        with open(os.path.join(d, "signed.txt"), "rb") as f:
            self.assertEqual(f.read(), signed_text(rec))
        with open(os.path.join(d, "sig.bin"), "wb") as f:
            f.write(base64.b64decode(rec["sig"]))
        shutil.copy(self.keys.pub, os.path.join(d, "seal.pub.pem"))
        cmd = ("openssl pkeyutl -verify -pubin -inkey seal.pub.pem -rawin "
               "-in signed.txt -sigfile sig.bin")
        self.assertIn(b"Signature Verified Successfully", run(cmd, cwd=d).stdout)
        with open(os.path.join(d, "signed.txt"), "ab") as f:
            f.write(b"x")
        self.assertNotEqual(run(cmd, cwd=d, check=False).returncode, 0)

    def test_records_after_seal_keep_verify_clean(self):
        u = self.user()
        self.populate(u)
        self.seal(u)
        c = self.imap(u)
        c.append_msg("INBOX", self.gen.letter())
        c.logout()
        self.dc.lmtp_deliver("%s@example.com" % u, self.gen.invoice())
        self.seal(u)
        self.assertGreater(self.dc.journal(u)[-1]["seq"], self.last_seal(u)["seq"] - 1)
        self.assertClean(u)

    def test_wholesale_rewrite_with_old_seal_is_seal_problem(self):
        """Change an archived mail, its journal sha256 and every prev after
        it, and delete the catalog: the chain is perfect, the seal isn't."""
        u = self.user()
        recs = self.populate(u)
        self.seal(u)
        c = self.imap(u)
        c.append_msg("INBOX", self.gen.letter())
        c.logout()
        rec = next(r for r in recs if r["mailbox"] == "Archiv")
        self.dc.edit_stored_mail(u, "Archiv", rec["uid"],
                                 lambda body: body.replace(b"EUR", b"USD", 1))
        forged_sha256 = sha256_hex(self.dc.served_body(u, "Archiv",
                                                       rec["uid"]))
        lines = self.dc.journal_lines(u)
        i = rec["seq"] - 1
        lines[i] = lines[i].replace(rec["sha256"].encode(),
                                    forged_sha256.encode())
        self.write_journal(u, rechain(lines))
        self.dc.remove_catalog(u)
        seal = self.last_seal(u)
        problems = self.assertProblemKinds(u, [("SEAL", seal["seq"])])
        self.assertIn("not in the chain", problems[0]["detail"])

    def test_seal_by_another_key_is_seal_problem(self):
        u = self.user()
        self.populate(u)
        self.seal(u, options={"plugin/tresor_seal_key": self.keys.other_key})
        seal = self.last_seal(u)
        problems = self.assertProblemKinds(u, [("SEAL", seal["seq"])])
        self.assertIn("not in tresor_seal_pubkey", problems[0]["detail"])
        # a forged key_id doesn't help: the signature fails
        lines = self.dc.journal_lines(u)
        der = run(["openssl", "pkey", "-pubin", "-in", self.keys.pub,
                   "-outform", "DER"]).stdout
        lines[-1] = lines[-1].replace(seal["key_id"].encode(),
                                      hashlib.sha256(der).hexdigest().encode())
        self.write_journal(u, lines)
        self.dc.remove_catalog(u)
        problems = self.assertProblemKinds(u, [("SEAL", seal["seq"])])
        self.assertIn("signature does not verify", problems[0]["detail"])

    def test_line_edited_before_seal_is_chain_and_seal(self):
        u = self.user()
        recs = self.populate(u)
        self.seal(u)
        lines = self.dc.journal_lines(u)
        rec = json.loads(lines[1])
        rec["mailbox"] = "Archiv-Renamed"
        lines[1] = json.dumps(rec, separators=(",", ":")).encode()
        self.write_journal(u, lines)
        rc, data, err = self.dc.doveadm_json("tresor", "verify", "-u", u)
        self.assertNotEqual(rc, 0)
        found = {(p["problem"], p["seq"]) for p in data if p.get("problem")}
        self.assertLessEqual({("CHAIN", "3"), ("SEAL", str(len(recs) + 1))},
                             found)
        # the edited record also names another folder under Archiv's GUID:
        # whatever else is reported is about that folder
        self.assertLessEqual({k for k, _ in found},
                             {"CHAIN", "SEAL", "IDENTITY", "MISSING",
                              "UNJOURNALED"}, found)

    def test_seals_unchecked_without_pubkey(self):
        u = self.user()
        self.populate(u)
        self.seal(u)
        problems = self.assertProblemKinds(
            u, [("SEAL", self.last_seal(u)["seq"])],
            options={"plugin/tresor_seal_pubkey": ""})
        self.assertIn("tresor_seal_pubkey is not set", problems[0]["detail"])

    def test_bad_settings_are_named(self):
        u = self.user()
        self.populate(u)
        rc, out, err = self.dc.doveadm(
            "tresor", "seal", "-u", u,
            options={"plugin/tresor_seal_key": self.keys.pub})
        self.assertEqual(rc, 78, err)
        self.assertIn("tresor_seal_key", err)
        rc, out, err = self.dc.doveadm(
            "tresor", "verify", "-u", u,
            options={"plugin/tresor_seal_pubkey": "/nonexistent/key.pem"})
        self.assertEqual(rc, 78, err)
        self.assertIn("tresor_seal_pubkey", err)

    def test_all_users(self):
        users = [self.user("-a"), self.user("-b")]
        for u in users:
            self.populate(u, n=1)
        user_file = os.path.join(self.work, "users")
        with open(user_file, "w") as f:
            f.write("\n".join(users) + "\n")
        rc, out, err = self.dc.doveadm("tresor", "seal", "-F", user_file)
        self.assertEqual(rc, 0, err)
        for u in users:
            self.assertEqual(self.dc.journal(u)[-1]["event"], "seal", u)
            self.assertEqual(self.last_seal(u)["user"], u)
            self.assertClean(u)
        rc, out, err = self.dc.doveadm("tresor", "seal", "-F", user_file,
                                       "--tsq", os.path.join(self.work, "x.tsq"))
        self.assertEqual(rc, 64, err)  # one file for several users

    def test_export_refuses_dates_that_do_not_exist(self):
        u = self.user()
        self.populate(u, n=1)
        for frm, to in (("2026-02-30", "2026-12-31"), ("2026-01-01", "2026-04-31"),
                        ("2025-02-29", "2026-01-01"), ("2026-13-01", "2026-12-31")):
            out_dir = os.path.join(self.work, "export-%s-%s" % (frm, to))
            rc, out, err = self.dc.doveadm("tresor", "export", "-u", u, "--from",
                                           frm, "--to", to, out_dir)
            self.assertEqual(rc, 64, "%s..%s: %s" % (frm, to, err))
            self.assertFalse(os.path.exists(out_dir))

    # -------------------------------------------------- time stamps
    def tsq_roundtrip(self, u, tsa="tsa"):
        tsq = os.path.join(self.work, "%s.tsq" % u)
        tsr = os.path.join(self.work, "%s.tsr" % u)
        self.seal(u, "--tsq", tsq)
        seal = self.last_seal(u)
        self.assertIn("tsq_nonce", seal)
        text = run(["openssl", "ts", "-query", "-in", tsq, "-text"]).stdout.decode()
        self.assertIn("sha256", text)
        imprint = hashlib.sha256(signed_text(seal)).hexdigest()
        # "    0000 - ac 1e f3 dd 22 93 a6 1f-60 ff 61 39 7c 65 49 b3   ...."
        # (only the hex column: the ASCII one can look like hex too)
        dump = text.split("Message data:")[1].split("Policy OID")[0]
        hexdump = "".join(
            "".join(re.findall(r"[0-9a-f]{2}", m.group(1)))
            for m in re.finditer(r"^\s*[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -]){0,15}[0-9a-f]{2})",
                                 dump, re.M))
        self.assertIn(imprint, hexdump)
        self.assertIn("Certificate required: yes", text)
        self.keys.reply(tsq, tsr, tsa)
        os.chmod(tsr, 0o644)
        return seal, tsr

    def test_tsq_tsr_round_trip(self):
        u = self.user()
        self.populate(u)
        seal, tsr = self.tsq_roundtrip(u)
        out = self.seal(u, "--tsr", tsr)
        self.assertIn("attached", out)
        rec = self.dc.journal(u)[-1]
        self.assertEqual(rec["event"], "tsr")
        self.assertEqual(rec["seal_seq"], seal["seq"])
        with open(tsr, "rb") as f:
            self.assertEqual(base64.b64decode(rec["tsr"]), f.read())
        self.assertClean(u)
        # what openssl ts -verify says about the same bytes
        with open(os.path.join(self.work, "signed.txt"), "wb") as f:
            f.write(signed_text(seal))
        p = run(["openssl", "ts", "-verify", "-data", "signed.txt", "-in", tsr,
                 "-CAfile", self.keys.ca], cwd=self.work)
        self.assertIn(b"Verification: OK", p.stdout)

    def test_bad_tsr_is_refused_or_seal_problem(self):
        u = self.user()
        self.populate(u)
        seal, tsr = self.tsq_roundtrip(u, tsa="rogue")
        # checked against tresor_tsa_ca when attached: refused
        rc, out, err = self.dc.doveadm("tresor", "seal", "-u", u, "--tsr", tsr)
        self.assertNotEqual(rc, 0)
        self.assertEqual(self.dc.journal(u)[-1]["event"], "seal")
        # a response to another request: refused
        other = os.path.join(self.work, "other.tsq")
        with open(os.path.join(self.work, "other.txt"), "w") as f:
            f.write("something else\n")
        run(["openssl", "ts", "-query", "-data", os.path.join(self.work, "other.txt"),
             "-sha256", "-cert", "-out", other])
        self.keys.reply(other, other + ".tsr")
        os.chmod(other + ".tsr", 0o644)
        rc, out, err = self.dc.doveadm("tresor", "seal", "-u", u, "--tsr",
                                       other + ".tsr")
        self.assertNotEqual(rc, 0)
        self.assertIn("matches no seal", err)
        # attached without a CA to check it: verify reports it
        self.seal(u, "--tsr", tsr, options={"plugin/tresor_tsa_ca": ""})
        tsr_seq = self.dc.journal(u)[-1]["seq"]
        problems = self.assertProblemKinds(u, [("SEAL", tsr_seq)])
        self.assertIn("time-stamp response", problems[0]["detail"])

    # -------------------------------------------------- export
    def test_export_checked_with_verify_txt_commands(self):
        u = self.user()
        recs = self.populate(u, n=4)
        seal, tsr = self.tsq_roundtrip(u)
        self.seal(u, "--tsr", tsr)
        out_dir = os.path.join(self.work, "export")
        rc, out, err = self.dc.doveadm("tresor", "export", "-u", u, "--from",
                                       "2000-01-01", "--to", "2999-12-31", out_dir)
        self.assertEqual(rc, 0, out + err)
        saves = [r for r in recs if r["event"] == "save"]
        self.assertEqual(len(saves), 5)
        for r in saves:
            with open(os.path.join(out_dir, "mails", "%d.eml" % r["seq"]), "rb") as f:
                data = f.read()
            self.assertEqual(sha256_hex(data), r["sha256"])
            self.assertNotIn(b"X-Secret-Rcpt", data)
        with open(os.path.join(out_dir, "VERIFY.txt")) as f:
            blocks = sh_blocks(f.read())
        self.assertEqual(len(blocks), 7)

        def run_all():
            return [subprocess.run(["bash", "-c", b], cwd=out_dir,
                                   capture_output=True, timeout=300)
                    for b in blocks]

        results = run_all()
        for b, p in zip(blocks, results):
            self.assertEqual(p.returncode, 0, "%s\n%s%s" % (
                b, p.stdout.decode(), p.stderr.decode()))
        joined = b"".join(p.stdout for p in results).decode()
        self.assertIn("mails: all 5 OK", joined)
        self.assertIn("seals: all 1 OK", joined)
        self.assertIn("time-stamp responses: all 1 OK", joined)

        # tamper with one mail and one journal line: the same commands fail
        eml = os.path.join(out_dir, "mails", "%d.eml" % saves[0]["seq"])
        with open(eml, "rb") as f:
            data = bytearray(f.read())
        data[-3] ^= 0x01
        rewrite_file(eml, bytes(data))
        jpath = os.path.join(out_dir, "journal", os.path.basename(self.journal_path(u)))
        with open(jpath, "rb") as f:
            jlines = f.read().split(b"\n")
        jlines[1] = jlines[1].replace(b'"mailbox":"', b'"mailbox":"X', 1)
        rewrite_file(jpath, b"\n".join(jlines))
        results = run_all()
        manifest, chain, mails = results[1], results[2], results[3]
        self.assertNotEqual(manifest.returncode, 0)
        self.assertNotEqual(chain.returncode, 0)
        self.assertIn(b"FAILED", chain.stdout)
        self.assertNotEqual(mails.returncode, 0)
        self.assertIn(b"FAILED: mails/%d.eml" % saves[0]["seq"], mails.stdout)

    def test_export_mailbox_filter(self):
        """--mailbox: only the mails of the matching folders are exported
        (the separator '.' is in the unit tests), the journal whole, and
        VERIFY.txt's commands pass on it."""
        u = self.user()
        c = self.imap(u)
        c.create_with_parents("Rechnungen/Lieferant")
        c.append_msg("INBOX", self.gen.invoice())
        c.append_msg("Rechnungen/Lieferant", self.gen.invoice())
        c.append_msg("Rechnungen/Lieferant", self.gen.invoice())
        c.logout()
        saves = [r for r in self.dc.journal(u) if r["event"] == "save"]
        out_dir = os.path.join(self.work, "export-filtered")
        rc, data, err = self.dc.doveadm_json(
            "tresor", "export", "-u", u, "--from", "2000-01-01", "--to",
            "2999-12-31", "--mailbox", "Rechnungen/*", out_dir)
        self.assertEqual(rc, 0, err)
        self.assertEqual(data[0]["exported"], "2", data)
        self.assertEqual(sorted(os.listdir(os.path.join(out_dir, "mails"))),
                         sorted("%d.eml" % r["seq"] for r in saves
                                if r["mailbox"] != "INBOX"))
        with open(os.path.join(out_dir, "VERIFY.txt")) as f:
            self.assertIn("Only the mails saved into the mailboxes matching "
                          "Rechnungen/*", f.read())
        self.assertEqual(len(run_verify_txt(self, out_dir)), 7)

    def test_export_includes_mails_of_interrupted_saves(self):
        """A save whose process was killed after the commit is journaled
        as 'interrupted' (no UID): its mail is exported when it is there
        (found by GUID, or by hash when the GUID was lost), and listed as
        not-stored when it never arrived; VERIFY.txt checks it all."""
        u = self.user()
        recs = self.populate(u, n=2)
        saves = [r for r in recs if r["event"] == "save"]
        self.assertEqual([r["mailbox"] for r in saves],
                         ["Archiv", "INBOX", "Archiv"])
        by_guid, by_hash = saves[0]["seq"], saves[2]["seq"]
        never = dict(saves[1], sha256="ab" * 32, guid="cd" * 16)
        lines = self.dc.journal_lines(u)

        def interrupted(rec, guid=None):
            out = {}
            for k, v in rec.items():
                if k in ("uid", "uidvalidity", "duplicate_of",
                         "content_duplicate_of"):
                    continue
                if k == "service":
                    out["action"] = "save"
                if k != "prev":
                    out[k] = "interrupted" if k == "event" else v
            if guid is not None:
                out["guid"] = guid
            out["prev"] = rec["prev"]  # last, where rechain() finds it
            return json.dumps(out, separators=(",", ":")).encode()

        lines[by_guid - 1] = interrupted(saves[0])
        lines[by_hash - 1] = interrupted(saves[2], guid="0" * 32)
        never["seq"] = len(lines) + 1
        lines.append(interrupted(never))
        self.write_journal(u, rechain(lines))
        self.dc.remove_catalog(u)
        self.assertClean(u)

        out_dir = os.path.join(self.work, "export")
        rc, out, err = self.dc.doveadm("tresor", "export", "-u", u, "--from",
                                       "2000-01-01", "--to", "2999-12-31", out_dir)
        self.assertEqual(rc, 0, out + err)
        with open(os.path.join(out_dir, "mails.csv")) as f:
            rows = {int(r.split(",")[0]): r.split(",")
                    for r in f.read().splitlines()[1:]}
        self.assertEqual({seq: r[8] for seq, r in rows.items()},
                         {by_guid: "exported", saves[1]["seq"]: "exported",
                          by_hash: "exported", never["seq"]: "not-stored"})
        self.assertEqual(rows[by_hash][5], "2")  # the UID it was found under
        self.assertFalse(os.path.exists(
            os.path.join(out_dir, "mails", "%d.eml" % never["seq"])))
        results = run_verify_txt(self, out_dir)
        self.assertIn(b"mails: all 3 OK", results[3].stdout)

    def test_export_refuses_non_empty_dir(self):
        u = self.user()
        self.populate(u, n=1)
        out_dir = os.path.join(self.work, "full")
        os.makedirs(out_dir)
        with open(os.path.join(out_dir, "x"), "w") as f:
            f.write("x")
        rc, out, err = self.dc.doveadm("tresor", "export", "-u", u, "--from",
                                       "2000-01-01", "--to", "2999-12-31", out_dir)
        self.assertNotEqual(rc, 0)
        self.assertIn("not empty", err)

    def test_export_as_root_into_a_root_owned_dir(self):
        """The admin's own audit directory (root's, 0700): doveadm run as
        root for the user creates the export there as root; a symbolic
        link as the target is refused and nothing is written through it."""
        if os.getuid() != 0:
            self.skipTest("needs root: the export is run as root for a mail user")
        u = self.user()
        self.populate(u, n=2)
        audit = os.path.join(self.work, "srv-audit")
        os.makedirs(audit)
        os.chown(audit, 0, 0)
        os.chmod(audit, 0o700)
        for target in (os.path.join(audit, u), audit):
            if target == audit:
                shutil.rmtree(os.path.join(audit, u))
            rc, out, err = self.dc.doveadm("tresor", "export", "-u", u, "--from",
                                           "2000-01-01", "--to", "2999-12-31", target)
            self.assertEqual(rc, 0, err)
            for root, dirs, files in os.walk(target):
                for name in [""] + dirs + files:
                    st = os.lstat(os.path.join(root, name))
                    self.assertEqual((st.st_uid, st.st_gid), (0, 0),
                                     os.path.join(root, name))
                    self.assertEqual(st.st_mode & 0o077, 0, os.path.join(root, name))
            results = run_verify_txt(self, target)
            self.assertIn(b"mails: all 3 OK", results[3].stdout)
        # a link to an empty directory the mail user may write to
        theirs = os.path.join(self.work, "theirs")
        os.makedirs(theirs)
        link = os.path.join(audit, "link")
        shutil.rmtree(audit)
        os.makedirs(audit, 0o700)
        os.symlink(theirs, link)
        rc, out, err = self.dc.doveadm("tresor", "export", "-u", u, "--from",
                                       "2000-01-01", "--to", "2999-12-31", link)
        self.assertNotEqual(rc, 0)
        self.assertIn("symbolic link", err)
        self.assertEqual(os.listdir(theirs), [])


if __name__ == "__main__":
    unittest.main()


class OutputFormatTests(SealFixture):
    """-f json and -f tab for every doveadm tresor command that prints
    records: the same columns, in the same order, and (where running the
    command again changes nothing) the same values."""

    @classmethod
    def dovecot_options(cls):
        options = super().dovecot_options()
        options["plugin"]["tresor_retention"] = "Archiv=1y"
        return options

    def tab_rows(self, out):
        lines = out.rstrip("\n").split("\n") if out.strip() else []
        if not lines:
            return [], []
        header = lines[0].split("\t")
        rows = [line.split("\t") for line in lines[1:]]
        for row in rows:
            self.assertEqual(len(row), len(header), (header, row))
        return header, [dict(zip(header, row)) for row in rows]

    def formats(self, *args, tab_args=None, same_values=True):
        """Runs doveadm ARGS with -f json and -f tab (TAB_ARGS, for a
        command that changes what it acts on): both succeed (or fail
        alike), name the same columns in one order, and print as many
        rows, with the same values when same_values. The JSON rows."""
        rc_json, out_json, err_json = self.dc.doveadm(*args, fmt="json")
        rc_tab, out_tab, err_tab = self.dc.doveadm(*(tab_args or args), fmt="tab")
        what = " ".join(args)
        self.assertEqual(rc_json, rc_tab, "%s: %s / %s" % (what, err_json, err_tab))
        rows_json = json.loads(out_json) if out_json.strip() else []
        self.assertIsInstance(rows_json, list, what)
        header, rows_tab = self.tab_rows(out_tab)
        self.assertEqual(len(rows_json), len(rows_tab), "%s\n%s\n%s" % (what, out_json, out_tab))
        for row in rows_json:
            self.assertIsInstance(row, dict, what)
            self.assertEqual(list(row), header, what)
        if same_values:
            self.assertEqual(rows_json, rows_tab, what)
        return rows_json

    def test_every_command_prints_json_and_tab_alike(self):
        u = self.user()
        self.populate(u, n=2)
        rows = self.formats("tresor", "status", "-u", u)
        self.assertEqual(len(rows), 1)
        rows = self.formats("tresor", "journal", "-u", u)
        self.assertEqual([r["event"] for r in rows], ["save"] * 3)
        self.assertEqual(self.formats("tresor", "verify", "-u", u), [])
        rows = self.formats("tresor", "adopt", "-u", u)
        self.assertEqual(rows[0]["adopted"], "0")
        rows = self.formats("tresor", "seal", "-u", u, same_values=False)
        self.assertEqual(len(rows), 1)
        rows = self.formats("tresor", "hold", "add", "-u", u, "--mailbox", "Archiv",
                            "--reason", "Betriebsprüfung 2026", same_values=False)
        holds = [r["hold"] for r in rows]
        rows = self.formats("tresor", "hold", "list", "-u", u)
        self.assertEqual([r["hold"] for r in rows], holds + [str(int(holds[0]) + 1)])
        rows = self.formats("tresor", "purge", "-u", u, "-n", "--now", "2100-01-01")
        self.assertEqual(sorted(r["result"] for r in rows), ["held", "held"])
        remove = ("tresor", "hold", "remove", "-u", u, "--reason", "erledigt")
        rows = self.formats(*remove, holds[0], tab_args=remove + (str(int(holds[0]) + 1),),
                            same_values=False)
        self.assertEqual(len(rows), 1)
        export = ("tresor", "export", "-u", u, "--from", "2000-01-01", "--to", "2999-12-31")
        rows = self.formats(*export, os.path.join(self.work, "json"),
                            tab_args=export + (os.path.join(self.work, "tab"),),
                            same_values=False)
        self.assertEqual([r["exported"] for r in rows], ["3"])
        # (purging itself prints the rows of purge -n: test_retention)
        # a problem row, and the journal with the seal's and hold's columns
        self.dc.flip_stored_byte(u, "Archiv", 1)
        rows = self.formats("tresor", "verify", "-u", u)
        self.assertEqual([r["problem"] for r in rows], ["MODIFIED"])
        rows = self.formats("tresor", "journal", "-u", u)
        self.assertIn("seal", [r["event"] for r in rows])

    def test_through_the_doveadm_server(self):
        """doveadm -S: the command runs in Dovecot's doveadm server
        (service doveadm, its UNIX socket) and answers in JSON as when run
        directly."""
        u = self.user()
        self.populate(u, n=2)
        socket = os.path.join(self.dc.base_dir, "doveadm-server")
        for args in (("tresor", "status", "-u", u), ("tresor", "journal", "-u", u),
                     ("tresor", "verify", "-u", u), ("tresor", "hold", "list", "-u", u)):
            rc, direct, err = self.dc.doveadm(*args, fmt="json")
            self.assertEqual(rc, 0, err)
            at = args.index("-u")
            rc, served, err = self.dc.doveadm(*args[:at], "-S", socket, *args[at:],
                                              fmt="json")
            self.assertEqual(rc, 0, "%s: %s" % (" ".join(args), err))
            self.assertEqual(json.loads(served or "[]"), json.loads(direct or "[]"), args)
        rows = json.loads(self.dc.doveadm("tresor", "journal", "-S", socket, "-u", u,
                                          fmt="json")[1])
        self.assertEqual([r["event"] for r in rows], ["save"] * 3)
        # a problem found there is the command's exit status here
        self.dc.flip_stored_byte(u, "Archiv", 1)
        rc, served, err = self.dc.doveadm("tresor", "verify", "-S", socket, "-u", u,
                                          fmt="json")
        self.assertEqual(rc, 65, err)
        self.assertEqual([r["problem"] for r in json.loads(served)], ["MODIFIED"])
