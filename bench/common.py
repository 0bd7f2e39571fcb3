"""Shared by the benchmarks: the integration harness, the seeded mail
generator, parallel LMTP delivery, and timing helpers."""
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness  # noqa: E402  (the test harness: a throwaway Dovecot)
import mailgen  # noqa: E402


def corpus(n, seed=42):
    """n generated mails (bytes), the same for every configuration."""
    gen = mailgen.MailGenerator(seed=seed)
    return [harness.crlf(m) for m in gen.mails(n)]


def deliver_parallel(dc, rcpts, mails, connections):
    """Delivers mails over `connections` parallel LMTP sessions, each
    sending its share one mail per transaction. rcpts: one recipient for
    all, or a list with one per mail. Returns the wall time."""
    import smtplib
    errors = []
    if isinstance(rcpts, str):
        rcpts = [rcpts] * len(mails)
    jobs = list(zip(rcpts, mails))

    def worker(share):
        try:
            with smtplib.LMTP(harness.HOST, dc.lmtp_port,
                              timeout=harness.LMTP_TIMEOUT) as s:
                for rcpt, m in share:
                    s.sendmail("bench@example.com", [rcpt], m)
        except Exception as e:  # reported below, the run is void
            errors.append(e)

    shares = [jobs[i::connections] for i in range(connections)]
    threads = [threading.Thread(target=worker, args=(s,)) for s in shares]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    if errors:
        raise RuntimeError("delivery failed: %r" % errors[0])
    return elapsed


def median(values):
    return statistics.median(values)


def machine():
    """One line describing the machine, for the results."""
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%d cores, %s" % (os.cpu_count() or 0, cpu)
