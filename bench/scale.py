#!/usr/bin/env python3
"""Scale: the archive's commands over a large store, per mail and in peak
memory, to show that their cost is linear in the mail and their memory
bounded.

Delivers --messages generated mails by LMTP into the Archiv folders of
--users users (plain Dovecot, so that the mails predate the archive, as
in a business that starts using it), then with the tresor plugin runs and
times, each under /usr/bin/time for its peak RSS:

    doveadm tresor adopt -A          journals every mail (hashes it)
    doveadm tresor seal -A           a seal per user (Ed25519 key)
    doveadm tresor verify -A         chain + every mail read and hashed
    doveadm tresor verify -A --since seal
                                     chain + every mail found, none read
    doveadm tresor export -u USER0   one user's evidence export
    doveadm index -A '*'             fts_tresor indexes every folder

and prints seconds, microseconds per mail and peak RSS for each; then the
latency of IMAP searches (SEARCH_KEYS, each --search-rounds times, over
one IMAP connection) in USER0's archive: p50 and p95. Run it at two sizes
(e.g. 20,000 and 200,000) and compare the per-mail costs. (One folder of
200,000 mails with attachments: bench/fts.py --messages 200000.)

    bench/scale.py [--messages 20000] [--users 50] [--connections 4]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from common import corpus, deliver_parallel, harness, machine

# words, parts of words, a number and an absent word, in the fields IMAP
# users search
SEARCH_KEYS = ['BODY "Rechnung"', 'BODY "rechnung"', 'TEXT "Zahlung"',
               'BODY "Vertrag"', 'SUBJECT "Angebot"', 'FROM "gmbh"',
               'TEXT "2024"', 'BODY "Lieferung"', 'BODY "Xylophonkonzert"',
               'TEXT "Kundennummer"']

ARCHIVE = {"tresor_archive": "Archiv Archiv/*"}


def timed_doveadm(dc, *args):
    """Runs doveadm under /usr/bin/time: (seconds, peak RSS in MB)."""
    cmd = ["/usr/bin/time", "-f", "TIME %e %M", "doveadm", "-c",
           dc.conf_path] + [str(a) for a in args]
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    peak = 0.0
    for line in p.stderr.splitlines():
        if line.startswith("TIME "):
            peak = int(line.split()[2]) / 1024.0
    if p.returncode != 0:
        raise RuntimeError("doveadm %s failed (%d): %s"
                           % (" ".join(map(str, args)), p.returncode,
                              p.stderr[-2000:]))
    return elapsed, peak


def search_latency(dc, user, mails, rounds):
    """Prints p50/p95 of UID SEARCH over the user's Archiv (warm: the
    first round is not counted)."""
    c = dc.imap(user)
    c.select_box("Archiv", readonly=True)
    times = []
    for r in range(rounds + 1):
        for key in SEARCH_KEYS:
            start = time.monotonic()
            res = c.cmd("UID SEARCH CHARSET UTF-8 %s" % key)
            elapsed = time.monotonic() - start
            if res.status != "OK":
                raise RuntimeError("SEARCH %s: %s" % (key, res.text))
            if r > 0:
                times.append(elapsed)
    c.close_quietly()
    times.sort()
    print("IMAP SEARCH in %s's Archiv (%d mails), %d keys x %d rounds: "
          "p50 %.1f ms, p95 %.1f ms, max %.1f ms" % (
              user, mails, len(SEARCH_KEYS), rounds,
              times[len(times) // 2] * 1e3,
              times[min(len(times) - 1, int(len(times) * 0.95))] * 1e3,
              times[-1] * 1e3))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--search-rounds", type=int, default=5)
    args = ap.parse_args()
    reason = harness.skip_reason()
    if reason:
        print("cannot run: %s" % reason)
        return 2
    harness.require_built(harness.TRESOR_MAIL_PLUGIN,
                          harness.TRESOR_DOVEADM_PLUGIN,
                          harness.TRESOR_FTS_PLUGIN)
    keydir = tempfile.mkdtemp(prefix="tresor-scale-key-")
    key = os.path.join(keydir, "seal.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out",
                    key], check=True, capture_output=True)
    os.chmod(key, 0o600)
    pub = os.path.join(keydir, "seal.pub.pem")
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub],
                   check=True, capture_output=True)
    # verify reads the public key as the mail user, seal the private one
    # as root
    os.chmod(keydir, 0o755)
    os.chmod(pub, 0o644)
    users = ["scale%d" % i for i in range(args.users)]
    mails = corpus(args.messages)
    size = sum(len(m) for m in mails)
    rcpts = ["%s+Archiv@example.com" % users[i % len(users)]
             for i in range(len(mails))]
    exportdir = tempfile.mkdtemp(prefix="tresor-scale-export-")
    os.rmdir(exportdir)
    try:
        with harness.Dovecot(plugin=dict(ARCHIVE, tresor_seal_key=key,
                                         tresor_seal_pubkey=pub),
                             mail_plugins=["tresor", "fts", "fts_tresor"],
                             name="tresor-bench") as dc:
            # (started with the plugins so that the harness links them in)
            dc.list_users(users)
            dc.restart(mail_plugins=[])
            t = deliver_parallel(dc, rcpts, mails, args.connections)
            print("store: %d mails, %.1f MB, %d users; delivered in %.1f s "
                  "(plain Dovecot); %s" % (len(mails), size / 1e6,
                                           len(users), t, machine()))
            dc.restart(mail_plugins=["tresor"])
            per_user = sum(1 for r in rcpts if r.startswith(users[0] + "+"))
            steps = [
                ("adopt -A", ("tresor", "adopt", "-A"), len(mails)),
                ("seal -A", ("tresor", "seal", "-A"), len(mails)),
                ("verify -A", ("tresor", "verify", "-A"), len(mails)),
                ("verify -A --since seal",
                 ("tresor", "verify", "-A", "--since", "seal"), len(mails)),
                ("export -u %s" % users[0],
                 ("tresor", "export", "-u", users[0], "--from", "2000-01-01",
                  "--to", "2099-12-31", exportdir), per_user),
                ("index -A (fts_tresor)", ("index", "-A", "*"), len(mails)),
            ]
            print("%-26s %9s %12s %10s" % ("command", "seconds", "us/mail",
                                            "peak RSS"))
            for name, cmd, n in steps:
                if cmd[0] == "index":
                    dc.restart(plugin={"fts": "tresor", "tresor_extract":
                                       harness.extract_path()},
                               mail_plugins=["tresor", "fts", "fts_tresor"])
                elapsed, peak = timed_doveadm(dc, *cmd)
                print("%-26s %9.2f %12.1f %7.1f MB" % (
                    name, elapsed, elapsed / n * 1e6, peak))
            search_latency(dc, users[0], per_user, args.search_rounds)
    finally:
        shutil.rmtree(keydir, ignore_errors=True)
        shutil.rmtree(exportdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
