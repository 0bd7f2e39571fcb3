#!/usr/bin/env python3
"""Verify throughput: `doveadm tresor verify` against `sha256sum` over the
same stored mail files, in one run.

Delivers a generated corpus into an archive folder, then times, in
alternating order, `doveadm tresor verify -u USER` (chain check plus a
re-hash of every mail through Dovecot) and `sha256sum` over every file of
the user's Maildir (with the page cache warm for both). Prints the median
of each and the ratio verify / sha256sum. Target: <= 1.10.

doveadm gets its configuration as an admin's `doveadm` on a running
server does: from Dovecot's config socket. --config-file times it with
`-c dovecot.conf` instead, which makes doveadm run doveconf to parse the
file first (about 15 ms on 2.3, 20-30 ms on 2.4: a fixed cost per run).

    bench/verify_throughput.py [--messages 5000] [--rounds 5] [--config-file]
"""
import argparse
import os
import subprocess
import sys
import time

from common import corpus, deliver_parallel, harness, machine, median


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--config-file", action="store_true",
                    help="doveadm -c dovecot.conf (runs doveconf each time) "
                    "instead of the running Dovecot's config socket")
    args = ap.parse_args()
    reason = harness.skip_reason()
    if reason:
        print("cannot run: %s" % reason)
        return 2
    harness.require_built(harness.TRESOR_MAIL_PLUGIN,
                          harness.TRESOR_DOVEADM_PLUGIN)
    mails = corpus(args.messages)
    with harness.Dovecot(plugin={"tresor_archive": "Archiv Archiv/*"},
                         name="tresor-bench") as dc:
        deliver_parallel(dc, "bench+Archiv@example.com", mails, 4)
        maildir = dc.maildir("bench", "Archiv")
        files = []
        for sub in ("cur", "new"):
            d = os.path.join(maildir, sub)
            files += [os.path.join(d, f) for f in sorted(os.listdir(d))]
        if len(files) != len(mails):
            print("expected %d files in %s, found %d"
                  % (len(mails), maildir, len(files)))
            return 1
        size = sum(os.path.getsize(f) for f in files)
        print("store: %d mails, %.1f MB; %s" % (len(files), size / 1e6,
                                                 machine()))
        config = dc.conf_path if args.config_file else dc.config_socket
        print("doveadm's configuration: %s" % (
            "parsed from the file by doveconf at every run"
            if args.config_file else "from the running Dovecot's config socket"))

        def run_sha256sum():
            start = time.monotonic()
            # xargs keeps the argument lists within limits
            p = subprocess.run("xargs -0 sha256sum >/dev/null", shell=True,
                               input=b"\0".join(f.encode() for f in files),
                               check=True)
            return time.monotonic() - start

        def run_verify():
            start = time.monotonic()
            rc, out, err = dc.doveadm("tresor", "verify", "-u", "bench",
                                      config=config)
            elapsed = time.monotonic() - start
            if rc != 0:
                raise RuntimeError("verify failed (%d): %s %s"
                                   % (rc, out, err))
            return elapsed

        run_sha256sum()  # warm the page cache for both
        verify, sums = [], []
        for r in range(args.rounds):
            order = [run_verify, run_sha256sum] if r % 2 == 0 else \
                [run_sha256sum, run_verify]
            for fn in order:
                t = fn()
                (verify if fn is run_verify else sums).append(t)
        v, s = median(verify), median(sums)
        ratio = v / s
        print("sha256sum median %.3f s (%.1f MB/s)" % (s, size / 1e6 / s))
        print("verify    median %.3f s (%.1f MB/s, %.0f mails/s)"
              % (v, size / 1e6 / v, len(files) / v))
        print("verify throughput ratio (verify/sha256sum): %.3f  "
              "target <= 1.10  %s" % (ratio, "MET" if ratio <= 1.10
                                     else "NOT MET"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
