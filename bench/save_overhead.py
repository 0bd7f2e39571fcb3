#!/usr/bin/env python3
"""Save overhead of the tresor plugin: LMTP delivery of the same generated
corpus into a real Dovecot with and without `tresor`, in one run.

Each round starts a fresh Dovecot (empty store) per configuration, in
alternating order, and delivers the corpus over parallel LMTP sessions to
--users recipients in turn (a small office; the plugin serialises commits
per user, so parallel deliveries to one user queue behind each other).
Prints the median throughput of each and the ratio
time(tresor) / time(plain). Target: <= 1.10.

    bench/save_overhead.py [--messages 2000] [--rounds 3] [--connections 4]
                           [--users 8]
"""
import argparse
import sys

from common import corpus, deliver_parallel, harness, machine, median

ARCHIVE = {"tresor_archive": "Archiv Archiv/*"}


def one_run(with_tresor, mails, connections, users):
    plugins = ["tresor"] if with_tresor else []
    names = ["bench%d" % i for i in range(users)]
    rcpts = ["%s@example.com" % names[i % users] for i in range(len(mails))]
    with harness.Dovecot(plugin=ARCHIVE, mail_plugins=plugins,
                         doveadm_modules=[], name="tresor-bench") as dc:
        # warm up: user creation, index files, first journal file
        warm = len(names)
        deliver_parallel(dc, rcpts[:warm], mails[:warm], 1)
        elapsed = deliver_parallel(dc, rcpts[warm:], mails[warm:],
                                   connections)
        if with_tresor:
            records = sum(len(dc.journal(u)) for u in names)
            if records != len(mails):
                raise RuntimeError("journals have %d records for %d mails"
                                   % (records, len(mails)))
        return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--users", type=int, default=8)
    args = ap.parse_args()
    reason = harness.skip_reason()
    if reason:
        print("cannot run: %s" % reason)
        return 2
    harness.require_built(harness.TRESOR_MAIL_PLUGIN)
    mails = corpus(args.messages + args.users)
    size = sum(len(m) for m in mails)
    print("corpus: %d mails, %.1f MB; %d LMTP connections; %d users; %s"
          % (args.messages, size / 1e6, args.connections, args.users,
             machine()))
    plain, tresor = [], []
    for r in range(args.rounds):
        order = [False, True] if r % 2 == 0 else [True, False]
        for with_tresor in order:
            t = one_run(with_tresor, mails, args.connections, args.users)
            (tresor if with_tresor else plain).append(t)
            print("round %d %-7s %6.2f s  %6.1f msg/s"
                  % (r + 1, "tresor" if with_tresor else "plain", t,
                     args.messages / t))
    p, t = median(plain), median(tresor)
    ratio = t / p
    print("plain  median %.2f s (%.1f msg/s)" % (p, args.messages / p))
    print("tresor median %.2f s (%.1f msg/s)" % (t, args.messages / t))
    print("save overhead ratio (tresor/plain): %.3f  target <= 1.10  %s"
          % (ratio, "MET" if ratio <= 1.10 else "NOT MET"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
