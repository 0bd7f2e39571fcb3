#!/usr/bin/env python3
"""Soak test: a real Dovecot with everything dovecot-tresor brings, under a
steady mixed load for a bounded time, then checked.

The server: harness.Dovecot with the tresor archive plugin (tresor_archive
"Archiv Archiv/* Rechnungen/*", every folder journaled), FTS by fts_tresor
(fts_autoindex, fts_enforced), LMTP with Sieve running the documented
default script (sieve/tresor-invoice.sieve) with vnd.tresor.invoice, a
supplier file listing the generator's companies and the test supplier,
authserv-id mx.example.com, and a passwd-file userdb listing the users (so
`doveadm ... -A` works).

The mails: bench/sieve.py's corpus (mailgen letters, PDF invoices, some
with an XRechnung XML, letters with a PDF that is no invoice, every
e-invoice of ../shared/testdata/einvoice from a trusted, an unauthenticated,
a look-alike and a foreign sender, each with the Authentication-Results of
mx.example.com) plus Dovecot's malformed MIME messages (as they are, and
with an invoice Subject/From) and the RFC examples of ../shared/testdata.
Each of these templates is delivered once before the load to a calibration
user: where it lands there is where it must land under load. Every mail
sent gets a Message-ID of its own (the template's is replaced).

The load, all at once until --minutes are over:
- --lmtp-threads threads delivering random templates by LMTP (one
  connection per delivery, one in ten to two users at once) to --users
  users; latency is from connect to the last reply;
- --imap-clients clients, each logged in as one of the users: SEARCH
  (TEXT/BODY/SUBJECT/FROM with words and parts of words, in a random
  folder), FETCH of random messages (BODY.PEEK[], ENVELOPE,
  BODYSTRUCTURE), APPEND to Archiv, Archiv/2024 and Archiv/2025 - a text
  mail carrying a unique token, found again by searching part of it
  (exactly its UID, or it counts as an error), or a template;
  reconnecting every 100 commands (but client 0, which stays, so that one
  imap process lives for the whole run);
- `doveadm tresor verify -A` in a loop (a problem found counts as an
  error: verify confirms racy results under the journal lock);
- every --sample-seconds, the RSS of every process of this Dovecot (and of
  doveadm run against its configuration) by kind, from /proc.

At the end: the load stops; no process followed for half the load or
more may have grown its anonymous memory by over 16 MB and more than
doubled it; a final `doveadm tresor verify -A` must be clean; every
accepted delivery and APPEND must be present exactly once (by Message-ID,
over all folders of the user) and in the folder its template went to
during calibration; nothing may be there that was not
accepted, and Dovecot's log must show no crash. Exit status 1 when
anything failed (also any error during the load), 2 when it can't run.

    TRESOR_BUILDDIR=build bench/soak.py [--minutes 10] [--lmtp-threads 4]
        [--imap-clients 4] [--users 4] [--seed 42] [--templates 120]
        [--rate 0] [--imap-pause 0] [--sample-seconds 5] [--json FILE]

--rate paces the deliveries (transactions per second over all LMTP
threads) and --imap-pause each IMAP client, for a soak at the rate of a
given business rather than at the server's limit.

Needs root, like the integration tests. Results: docs/reliability.md.
"""
import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time

from common import harness, machine
import sieve as sieve_bench  # bench/sieve.py: corpus and supplier file
import mailgen  # noqa: E402  (on the path through common)
import sieve_helpers  # noqa: E402

ARCHIVE = "Archiv Archiv/* Rechnungen/*"
APPEND_FOLDERS = ("Archiv", "Archiv/2024", "Archiv/2025")
CALIBRATION_USER = "calib"
RECONNECT_EVERY = 100     # IMAP commands per connection (not client 0)
VERIFY_PAUSE = 2.0        # s between two verify runs
TWO_RCPT_SHARE = 0.1
EXAMPLES = 3              # messages kept per error kind
CLK_TCK = os.sysconf("SC_CLK_TCK")
# A process followed (after WARMUP) for half the load or more, and at least
# a minute, whose anonymous memory grew by more than this and more than
# doubled is reported.
RSS_GROWTH_LIMIT = 16 * 1024 * 1024
WARMUP = 30               # s before a process' memory is its baseline

# share of the deliveries per template category
CATEGORY_WEIGHTS = {
    "ordinary": 40, "pdf-invoice": 18, "pdf-xml-invoice": 10,
    "letter-pdf": 5, "einvoice-xml": 10, "einvoice-pdf": 7,
    "malformed": 7, "rfc": 3,
}

# (key, value): words and parts of words found in the corpus' headers,
# bodies and attachments, and some that are nowhere
SEARCHES = [
    ("TEXT", "rechnung"), ("BODY", "Zahlungsziel"), ("BODY", "ahlungszi"),
    ("SUBJECT", "Rechnung"), ("SUBJECT", "ahnung"), ("FROM", "lieferant"),
    ("FROM", "buchhaltung"), ("FROM", "software"), ("TEXT", "471102"),
    ("BODY", "Kopierpapier"), ("TEXT", "Skonto"), ("BODY", "cooperation"),
    ("TEXT", "Lieferant GmbH"), ("BODY", "Xylophonkonzert"),
    ("SUBJECT", "Angebot"), ("TEXT", "IBAN"), ("BODY", "Stromlieferung"),
]


# --------------------------------------------------------------------------
# mails


def with_headers(raw, msgid, add=()):
    """raw with its top-level Message-ID fields replaced by msgid and the
    (name, value) pairs of add put on top unless the mail has that field
    already (harness.split_message parses the header)."""
    raw = harness.crlf(raw)
    fields, body = harness.split_message(raw)
    names = {n.lower() for n, _ in fields if n is not None}
    kept = b"".join(f for n, f in fields
                    if n is None or n.lower() != "message-id")
    top = "Message-ID: %s\r\n" % msgid
    top += "".join("%s: %s\r\n" % (k, v) for k, v in add
                   if k.lower() not in names)
    has_sep = b"\r\n\r\n" in raw or raw.startswith(b"\r\n")
    return top.encode() + kept + (b"\r\n" + body if has_sep else b"")


def testdata_templates():
    """Dovecot's malformed MIME messages (as they are, and dressed as an
    invoice from the test supplier) and the RFC examples."""
    out = []
    for cat, d in (("malformed", sieve_helpers.MALFORMED_DIR),
                   ("rfc", sieve_helpers.RFC_DIR)):
        for name in sorted(os.listdir(d)):
            if not name.endswith(".eml"):
                continue
            with open(os.path.join(d, name), "rb") as f:
                raw = f.read()
            out.append((cat, name, raw))
            if cat == "malformed":
                out.append((cat, name + "+invoice", with_headers(raw, "<x>", [
                    ("Authentication-Results",
                     sieve_bench.EINVOICE_SENDERS[0][2][0]),
                    ("From", "Lieferant GmbH <rechnung@lieferant.de>"),
                    ("Subject", "Rechnung 2024-%s" % name[:3])])))
    return out


class Templates:
    """The mails delivered, by category, with the folder each one went to
    in calibration."""

    def __init__(self, n, seed):
        self.items = [dict(category=c, label=l, raw=r) for c, l, r in
                      sieve_bench.build_corpus(n, seed) +
                      testdata_templates()]
        self.by_category = {}
        for i, t in enumerate(self.items):
            t["index"] = i
            self.by_category.setdefault(t["category"], []).append(i)
        self.categories = [c for c in CATEGORY_WEIGHTS
                           if c in self.by_category]
        self.weights = [CATEGORY_WEIGHTS[c] for c in self.categories]

    def pick(self, rng):
        cat = rng.choices(self.categories, self.weights)[0]
        return self.items[rng.choice(self.by_category[cat])]


# --------------------------------------------------------------------------
# shared bookkeeping


class Pacer:
    """Spaces events evenly over all threads: at most `rate` per second
    (0: no limit). A thread that falls behind does not catch up in a
    burst: the schedule restarts from now."""

    def __init__(self, rate):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.lock = threading.Lock()
        self.next = time.monotonic()

    def wait(self, stop):
        if self.interval == 0.0:
            return
        with self.lock:
            now = time.monotonic()
            slot = max(self.next, now)
            self.next = slot + self.interval
        stop.wait(max(0.0, slot - time.monotonic()))


class Stats:
    """What the load threads record, under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.errors = {}           # kind -> {"count", "examples"}
        self.deliveries = []       # (end time, latency s, recipients ok)
        self.searches = []         # (end time, latency s)
        self.fetches = 0
        self.appends = []          # (end time, latency s)
        self.expected = {}         # (user, msgid) -> folder or None
        self.maybe = set()         # (user, msgid) outcome unknown
        self.sent = set()          # (user, msgid) refused or unknown
        self.verify_runs = []      # dicts
        self.transactions = 0
        self.category_count = {}

    def error(self, kind, message):
        with self.lock:
            e = self.errors.setdefault(kind, {"count": 0, "examples": []})
            e["count"] += 1
            if len(e["examples"]) < EXAMPLES:
                e["examples"].append(str(message)[:300])

    def error_total(self):
        with self.lock:
            return sum(e["count"] for e in self.errors.values())


def pct(values, p):
    """The p-th percentile (nearest rank) of values, None when empty."""
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))]


# --------------------------------------------------------------------------
# LMTP


def lmtp_worker(n, dc, args, templates, users, stats, stop, run_id, pacer):
    rng = random.Random("%d-lmtp-%d" % (args.seed, n))
    count = 0
    while not stop.is_set():
        pacer.wait(stop)
        if stop.is_set():
            break
        count += 1
        t = templates.pick(rng)
        rcpt_users = [rng.choice(users)]
        if rng.random() < TWO_RCPT_SHARE and len(users) > 1:
            rcpt_users.append(rng.choice([u for u in users
                                          if u != rcpt_users[0]]))
        msgid = "<soak.%s.l%d.%d@soak.example>" % (run_id, n, count)
        raw = with_headers(t["raw"], msgid)
        rcpts = ["%s@example.com" % u for u in rcpt_users]
        start = time.monotonic()
        try:
            res = dc.lmtp_deliver(rcpts, raw, mail_from="soak@example.net")
        except Exception as e:  # noqa: BLE001 - counted, outcome unknown
            res = None
            err = e
        end = time.monotonic()
        ok = 0
        with stats.lock:
            stats.transactions += 1
            stats.category_count[t["category"]] = \
                stats.category_count.get(t["category"], 0) + 1
            for u, r in zip(rcpt_users, rcpts):
                key = (u, msgid)
                if res is None:
                    stats.maybe.add(key)
                    stats.sent.add(key)
                elif res.get(r, (0,))[0] == 250:
                    stats.expected[key] = t
                    ok += 1
                else:
                    stats.sent.add(key)
            stats.deliveries.append((end, end - start, ok))
        if res is None:
            stats.error("lmtp-exception",
                        "%s: %r" % (t["label"], err))
        else:
            for r, (code, text) in res.items():
                if code != 250:
                    stats.error("lmtp-%dxx" % (code // 100),
                                "%s %s (%s): %d %s" % (r, msgid, t["label"],
                                                       code, text))


# --------------------------------------------------------------------------
# IMAP


def list_folders(c):
    res = c.cmd('LIST "" "*"')
    if res.status != "OK":
        raise RuntimeError("LIST: %r" % res)
    out = []
    for u in res.untagged:
        m = re.match(rb'LIST \(([^)]*)\) (?:"[^"]*"|NIL) (.*)$', u)
        if m and not re.search(rb"(?i)\\(noselect|nonexistent)\b",
                               m.group(1)):
            name = m.group(2).decode("utf-8", "replace")
            if name.startswith('"'):
                name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            out.append(name)
    return out


def exists_count(res):
    for u in res.untagged:
        m = re.match(rb"(\d+) EXISTS", u)
        if m:
            return int(m.group(1))
    return 0


def imap_worker(n, dc, args, templates, user, stats, stop, run_id):
    rng = random.Random("%d-imap-%d" % (args.seed, n))
    gen = mailgen.MailGenerator(seed=args.seed * 1000 + n)
    c = None
    folders = []
    commands = 0
    appended = 0
    while not stop.is_set():
        try:
            if c is None:
                c = dc.imap(user)
                for f in APPEND_FOLDERS:
                    c.cmd("CREATE %s" % harness.quote(f))  # NO if it exists
                folders = list_folders(c)
                commands = 0
            elif n != 0 and commands >= RECONNECT_EVERY:
                c.close_quietly()
                c = None
                continue
            commands += 1
            if args.imap_pause > 0 and stop.wait(args.imap_pause):
                break
            if commands % 20 == 0:
                folders = list_folders(c)
            action = rng.choices(("search", "fetch", "append"),
                                 (5, 3, 2))[0]
            if action == "search":
                box = rng.choice(folders)
                c.select_box(box, readonly=True)
                key, value = rng.choice(SEARCHES)
                start = time.monotonic()
                res = c.cmd('UID SEARCH CHARSET UTF-8 %s "%s"' % (key, value))
                end = time.monotonic()
                if res.status != "OK":
                    stats.error("imap-search-" + res.status,
                                "%s %s %s: %s" % (box, key, value, res.text))
                else:
                    with stats.lock:
                        stats.searches.append((end, end - start))
            elif action == "fetch":
                box = rng.choice(folders)
                res = c.select_box(box, readonly=True)
                count = exists_count(res)
                if count == 0:
                    continue
                seq = rng.randint(1, count)
                res = c.cmd("FETCH %d (UID RFC822.SIZE ENVELOPE "
                            "BODYSTRUCTURE BODY.PEEK[])" % seq)
                if res.status != "OK" or not res.literals:
                    stats.error("imap-fetch", "%s #%d: %r" % (box, seq, res))
                else:
                    with stats.lock:
                        stats.fetches += 1
            else:
                appended += 1
                box = rng.choice(APPEND_FOLDERS)
                msgid = "<soak.%s.a%d.%d@soak.example>" % (run_id, n,
                                                           appended)
                token = None
                if appended % 2:
                    token = "soaktok%s%02dn%06dz" % (run_id, n, appended)
                    raw = gen.simple(subject="Ablage %s" % token,
                                     body="Abgelegt: %s\n" % token,
                                     to="%s@example.com" % user,
                                     message_id=msgid)
                    template = None
                else:
                    template = templates.pick(rng)
                    raw = with_headers(template["raw"], msgid)
                key = (user, msgid)
                start = time.monotonic()
                try:
                    typ, text, _, uid = c.append_msg(box, raw)
                except Exception:
                    with stats.lock:
                        stats.maybe.add(key)
                        stats.sent.add(key)
                    raise
                end = time.monotonic()
                if typ != "OK":
                    with stats.lock:
                        stats.sent.add(key)
                    stats.error("imap-append", "%s: %s %s" % (box, typ, text))
                    continue
                with stats.lock:
                    stats.expected[key] = {"folder": box}
                    stats.appends.append((end, end - start))
                if token is not None:
                    # part of the token, as a substring search finds it
                    c.select_box(box, readonly=True)
                    part = token[4:]
                    start = time.monotonic()
                    res = c.cmd('UID SEARCH BODY "%s"' % part)
                    end = time.monotonic()
                    found = []
                    for u in res.untagged:
                        if u.upper().startswith(b"SEARCH"):
                            found = [int(x) for x in u.split()[1:]]
                    if res.status != "OK" or found != [uid]:
                        stats.error("search-wrong-result",
                                    "%s BODY %s: %s %s, expected [%s]"
                                    % (box, part, res.status, found, uid))
                    else:
                        with stats.lock:
                            stats.searches.append((end, end - start))
        except Exception as e:  # noqa: BLE001 - counted, then reconnect
            if stop.is_set():
                break
            stats.error("imap-exception", "%s: %r" % (user, e))
            if c is not None:
                c.close_quietly()
            c = None
            time.sleep(1)
    if c is not None:
        c.close_quietly()


# --------------------------------------------------------------------------
# verify


def run_verify(dc, timeout):
    """One `doveadm -f json tresor verify -A`: a dict with duration, exit
    code, problem rows and stderr."""
    start = time.monotonic()
    try:
        rc, data, err = dc.doveadm_json("tresor", "verify", "-A",
                                        timeout=timeout)
    except (AssertionError, subprocess.TimeoutExpired) as e:
        return {"seconds": time.monotonic() - start, "rc": None,
                "problems": [], "stderr": str(e)[:500]}
    problems = [r for r in data if r.get("problem")]
    records, checked = verify_summary(err)
    return {"seconds": time.monotonic() - start, "rc": rc,
            "problems": problems, "stderr": err.strip()[-500:],
            "records": records, "checked": checked}


def verify_summary(err):
    """The numbers of verify's summary lines (one per user): records,
    mails checked."""
    records = checked = 0
    for m in re.finditer(r"tresor verify: (\d+) journal records?, (\d+) "
                         r"mails? checked", err):
        records += int(m.group(1))
        checked += int(m.group(2))
    return records, checked


def verify_worker(dc, stats, stop):
    while not stop.is_set():
        v = run_verify(dc, timeout=3600)
        v["end"] = time.monotonic()
        with stats.lock:
            stats.verify_runs.append(v)
        if v["rc"] != 0 or v["problems"]:
            stats.error("verify-during-load", "exit %s, %d problems: %s %s"
                        % (v["rc"], len(v["problems"]),
                           json.dumps(v["problems"][:2]), v["stderr"][-200:]))
        stop.wait(VERIFY_PAUSE)


# --------------------------------------------------------------------------
# processes: kind, RSS, CPU


def proc_stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()


def proc_kind(pid, master):
    if pid == master:
        return "master"
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


def proc_memory(pid):
    """(VmRSS, RssAnon) in bytes."""
    rss = anon = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("RssAnon:"):
                anon = int(line.split()[1]) * 1024
    return rss, anon


def master_pid(dc):
    """The master's pid (the harness may have started it before the pid
    file was there)."""
    if dc.master_pid is None:
        with open(os.path.join(dc.base_dir, "master.pid")) as f:
            dc.master_pid = int(f.read().strip())
    return dc.master_pid


def dovecot_pids(dc):
    """The master, everything below it, and doveadm processes using this
    Dovecot's configuration."""
    master = master_pid(dc)
    pids = [master] + harness.descendants(master)
    conf = dc.conf_path.encode()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if cmd and os.path.basename(cmd[0]) == b"doveadm" and conf in cmd:
            pids.append(int(d))
            pids += harness.descendants(int(d))
    return master, list(dict.fromkeys(pids))


def sample_processes(dc):
    """{kind: {"n", "max", "sum", "anon_max"}} and {pid: (kind, rss)}."""
    master, pids = dovecot_pids(dc)
    kinds, per_pid = {}, {}
    for pid in pids:
        try:
            kind = proc_kind(pid, master)
            rss, anon = proc_memory(pid)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if rss == 0:
            continue  # a zombie
        k = kinds.setdefault(kind, {"n": 0, "max": 0, "sum": 0,
                                    "anon_max": 0})
        k["n"] += 1
        k["max"] = max(k["max"], rss)
        k["sum"] += rss
        k["anon_max"] = max(k["anon_max"], anon)
        per_pid[pid] = (kind, rss, anon)
    return kinds, per_pid


def tree_cpu_seconds(dc):
    """CPU time (user+sys, including reaped children) of this Dovecot's
    processes."""
    master, pids = dovecot_pids(dc)
    ticks = 0
    for pid in pids:
        try:
            f = proc_stat_fields(pid)
            ticks += sum(int(x) for x in f[11:15])
        except (OSError, ValueError, IndexError):
            continue
    return ticks / CLK_TCK


def machine_cpu_seconds():
    """(busy, total) CPU seconds of the whole machine since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
    return busy / CLK_TCK, (busy + v[3] + v[4]) / CLK_TCK


def own_cpu_seconds():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


class Sampler:
    """Samples RSS by process kind and the counters every `every` seconds;
    follows each process from its first sample after WARMUP seconds (a
    process just forked or still starting up is no baseline) to its
    last."""

    def __init__(self, dc, stats, every, t0):
        self.dc, self.stats, self.every, self.t0 = dc, stats, every, t0
        self.samples = []
        # pid -> dict(kind, seen, t0, rss0, anon0, t, rss, anon)
        self.pids = {}

    def sample(self):
        kinds, per_pid = sample_processes(self.dc)
        now = time.monotonic() - self.t0
        for pid, (kind, rss, anon) in per_pid.items():
            p = self.pids.get(pid)
            if p is None or p["kind"] != kind:  # new, or exec'd into another
                p = self.pids[pid] = dict(kind=kind, seen=now, t0=None)
            if p["t0"] is None and now - p["seen"] >= WARMUP:
                p.update(t0=now, rss0=rss, anon0=anon)
            p.update(t=now, rss=rss, anon=anon)
        with self.stats.lock:
            counters = dict(deliveries=sum(d[2] for d in
                                           self.stats.deliveries),
                            searches=len(self.stats.searches),
                            appends=len(self.stats.appends),
                            fetches=self.stats.fetches,
                            verify_runs=len(self.stats.verify_runs))
        self.samples.append(dict(t=now, load=loadavg(), kinds=kinds,
                                 **counters))

    def followed(self):
        """{pid: process} of those with a baseline."""
        return {pid: p for pid, p in self.pids.items()
                if p["t0"] is not None}

    def run(self, stop):
        while not stop.is_set():
            self.sample()
            stop.wait(self.every)


# --------------------------------------------------------------------------
# the checks after the load


def stored_messages(dc, users):
    """{(user, Message-ID): [folder, ...]} of every stored mail."""
    out = {}
    for u in users:
        rc, data, err = dc.doveadm_json("fetch", "-u", u,
                                        "mailbox hdr.message-id", "ALL",
                                        timeout=3600)
        if rc != 0:
            raise RuntimeError("doveadm fetch -u %s: exit %d %s"
                               % (u, rc, err))
        for row in data:
            mid = row.get("hdr.message-id", "").strip()
            out.setdefault((u, mid), []).append(row.get("mailbox"))
    return out


def check_growth(sampler, load_seconds, stats):
    """An error for each process followed for half the load or more whose
    anonymous memory grew beyond RSS_GROWTH_LIMIT and more than doubled."""
    for pid, p in sampler.followed().items():
        if p["t"] - p["t0"] < max(60, load_seconds / 2):
            continue
        if p["anon"] - p["anon0"] > max(RSS_GROWTH_LIMIT, p["anon0"]):
            stats.error("rss-growth", "%s pid %d: anonymous memory %s -> "
                        "%s MB in %.0f s" % (p["kind"], pid, mb(p["anon0"]),
                                             mb(p["anon"]),
                                             p["t"] - p["t0"]))


def calibrate(dc, templates, stats):
    """Delivers each template once to the calibration user, one after the
    other, and notes the folder it lands in."""
    for t in templates.items:
        msgid = "<soak.calib.%d@soak.example>" % t["index"]
        t["calib_id"] = msgid
        rcpt = "%s@example.com" % CALIBRATION_USER
        res = dc.lmtp_deliver(rcpt, with_headers(t["raw"], msgid))
        if res[rcpt][0] != 250:
            stats.error("calibration-refused", "%s: %r" % (t["label"], res))
    stored = stored_messages(dc, [CALIBRATION_USER])
    for t in templates.items:
        where = stored.get((CALIBRATION_USER, t["calib_id"]), [])
        t["folder"] = where[0] if len(where) == 1 else None
        if len(where) != 1:
            stats.error("calibration-not-stored",
                        "%s: found in %r" % (t["label"], where))
    folders = {}
    for t in templates.items:
        k = (t["category"], t["folder"])
        folders[k] = folders.get(k, 0) + 1
    return folders


def check_store(dc, users, stats):
    """Every accepted mail present once, in the expected folder; nothing
    that was not accepted. Returns a dict of counts."""
    stored = stored_messages(dc, users)
    soak = {k: v for k, v in stored.items() if "@soak.example>" in k[1]
            and ".calib." not in k[1]}
    missing = duplicate = misfiled = unexpected = 0
    for key, t in stats.expected.items():
        where = soak.get(key, [])
        want = t.get("folder")
        if not where:
            missing += 1
            stats.error("final-missing", "%s %s (%s)"
                        % (key[0], key[1], t.get("label", want)))
        elif len(where) > 1:
            duplicate += 1
            stats.error("final-duplicate", "%s %s in %r"
                        % (key[0], key[1], where))
        elif want is not None and where[0] != want:
            misfiled += 1
            stats.error("final-misfiled", "%s %s (%s): in %s, calibration "
                        "put it in %s" % (key[0], key[1], t.get("label"),
                                          where[0], want))
    maybe_found = 0
    for key, where in soak.items():
        if key in stats.expected:
            continue
        if key in stats.maybe and len(where) == 1:
            maybe_found += 1  # a delivery whose reply was lost
            continue
        unexpected += 1
        stats.error("final-unexpected", "%s %s in %r (%s)"
                    % (key[0], key[1], where,
                       "refused" if key in stats.sent else "never sent"))
    return dict(expected=len(stats.expected), stored=sum(
        len(v) for v in soak.values()), missing=missing,
        duplicate=duplicate, misfiled=misfiled, unexpected=unexpected,
        unknown_outcome=len(stats.maybe), unknown_outcome_stored=maybe_found)


LOG_CRASH = re.compile(r"Panic:|Fatal:|killed with signal|killed by signal|"
                       r"Segmentation fault|core dumped|Out of memory")


def log_summary(text):
    """Dovecot's log: crash lines, and error/warning lines counted by
    their text with numbers and paths taken out."""
    crashes = [l for l in text.splitlines() if LOG_CRASH.search(l)]
    groups = {}
    for line in text.splitlines():
        m = re.search(r"\b(Error|Warning): (.*)", line)
        if not m:
            continue
        key = m.group(1) + ": " + re.sub(r"/\S+|\d+", "#", m.group(2))[:150]
        g = groups.setdefault(key, {"count": 0, "example": line[:400]})
        g["count"] += 1
    return crashes, groups


# --------------------------------------------------------------------------
# report


def machine_info():
    info = {"cpu": machine()}
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                info["ram_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    info["kernel"] = os.uname().release
    try:
        with open("/etc/debian_version") as f:
            info["debian"] = f.read().strip()
    except OSError:
        info["debian"] = "?"
    info["dovecot"] = sieve_bench.sieve_test_version().replace(
        "of Dovecot ", "")
    return info


def mb(n):
    return "%.1f" % (n / 1e6)


def ms(s):
    return "-" if s is None else "%.0f" % (s * 1000)


def rss_report(sampler):
    """Per kind: processes (max at once), max-per-process RSS over the
    samples (min / median / max, first and last sample), and the largest
    growth of one process that was seen for at least a minute."""
    kinds = {}
    for s in sampler.samples:
        for k, v in s["kinds"].items():
            kinds.setdefault(k, []).append((s["t"], v))
    out = {}
    for k, series in sorted(kinds.items()):
        maxes = [v["max"] for _, v in series]
        growth = None
        for pid, p in sampler.followed().items():
            if p["kind"] != k or p["t"] - p["t0"] < 60:
                continue
            g = dict(pid=pid, seconds=round(p["t"] - p["t0"]),
                     first=p["rss0"], last=p["rss"], anon_first=p["anon0"],
                     anon_last=p["anon"])
            if growth is None or g["anon_last"] - g["anon_first"] > \
                    growth["anon_last"] - growth["anon_first"]:
                growth = g
        out[k] = dict(samples=len(series),
                      procs_max=max(v["n"] for _, v in series),
                      min=min(maxes), median=statistics.median(maxes),
                      max=max(maxes), first=maxes[0], last=maxes[-1],
                      first_t=series[0][0], last_t=series[-1][0],
                      longest_process=growth)
    return out


def timeline(sampler, stats, load_seconds):
    """One row per minute of load (the last one possibly shorter): rates,
    p99 delivery latency and the max-per-process RSS of the main kinds at
    the minute's end."""
    rows = []
    prev = {"t": 0, "deliveries": 0, "searches": 0, "appends": 0}
    for m in range(1, int(load_seconds // 60) + 2):
        at = [s for s in sampler.samples
              if s["t"] <= min(m * 60 + 1e-6, load_seconds)]
        if not at:
            continue
        s = at[-1]
        if s["t"] <= prev["t"]:
            continue
        span = s["t"] - prev["t"]
        lat = [d[1] for d in stats.deliveries
               if prev["t"] < d[0] - sampler.t0 <= s["t"]]
        rows.append(dict(
            minute=m, t=s["t"], load1=s["load"][0],
            deliveries_s=(s["deliveries"] - prev["deliveries"]) / span,
            searches_s=(s["searches"] - prev["searches"]) / span,
            appends_s=(s["appends"] - prev["appends"]) / span,
            p99_ms=(pct(lat, 99) or 0) * 1000,
            rss={k: v["max"] for k, v in s["kinds"].items()}))
        prev = s
    return rows


def calibration_by_category(calibration):
    """{category: {folder: templates}}, the suppliers' own folders
    counted together as Rechnungen/<supplier>."""
    out = {}
    for key, n in calibration.items():
        cat, folder = key.split("|", 1)
        if folder.startswith("Rechnungen/") and folder != "Rechnungen/Pruefen":
            folder = "Rechnungen/<supplier>"
        f = out.setdefault(cat, {})
        f[folder] = f.get(folder, 0) + n
    return out


def print_report(r):
    p = print
    m = r["machine"]
    p("machine: %s, %s GiB RAM, kernel %s, Debian %s, Dovecot %s"
      % (m["cpu"], m["ram_gib"], m["kernel"], m["debian"], m["dovecot"]))
    p("load: %.1f min, %d LMTP threads (%s), %d IMAP clients (%s), %d "
      "users, seed %d; %d templates" % (
          r["load_seconds"] / 60, r["lmtp_threads"],
          "%.2f transactions/s" % r["rate"] if r.get("rate") else
          "unpaced", r["imap_clients"],
          "%.1f s between commands" % r["imap_pause"]
          if r.get("imap_pause") else "unpaced",
          r["users"], r["seed"], r["templates"]))
    c = r["cpu"]
    p("CPU during the load: this Dovecot %.0f s, the benchmark (Python, "
      "doveadm) %.0f s, everything else on the machine %.0f s, of %.0f s "
      "available (%d cores); load average %.2f at the start, mean %.2f, "
      "%.2f at the end" % (c["dovecot"], c["bench"], c["others"],
                           c["available"], os.cpu_count() or 0,
                           r["load_start"][0], r["load_mean"],
                           r["load_end"][0]))
    p("templates and where calibration put them:")
    for cat, folders in sorted(calibration_by_category(
            r["calibration"]).items()):
        p("  %-16s %s" % (cat, ", ".join("%s %d" % kv for kv in sorted(
            folders.items()))))
    p()
    t = r["totals"]
    p("deliveries: %d accepted in %d LMTP transactions (%.1f/s), p50 %s ms, "
      "p95 %s ms, p99 %s ms, max %s ms" % (
          t["deliveries"], t["transactions"], t["deliveries_s"],
          ms(t["delivery_p50"]), ms(t["delivery_p95"]),
          ms(t["delivery_p99"]), ms(t["delivery_max"])))
    p("  by category: " + ", ".join("%s %d" % kv for kv in
                                    sorted(r["category_count"].items())))
    p("APPENDs: %d (%.2f/s), p99 %s ms" % (t["appends"], t["appends_s"],
                                           ms(t["append_p99"])))
    p("searches: %d (%.2f/s), p50 %s ms, p99 %s ms; FETCHes: %d"
      % (t["searches"], t["searches_s"], ms(t["search_p50"]),
         ms(t["search_p99"]), t["fetches"]))
    v = r["verify"]
    p("verify -A during the load: %d runs (%d clean), %.1f s median, "
      "%.1f s longest; outcomes: %s" % (
          v["runs"], v["clean"], v["median_s"], v["max_s"],
          ", ".join("exit %s: %d" % kv for kv in sorted(
              v["outcomes"].items()))))
    p()
    p("per minute (RSS: largest process of the kind, MB):")
    kinds = ["lmtp", "imap", "indexer-worker", "doveadm", "master"]
    p("%4s %6s %8s %8s %8s %8s  %s" % ("min", "load1", "deliv/s", "search/s",
                                       "append/s", "p99 ms",
                                       " ".join("%14s" % k for k in kinds)))
    for row in r["timeline"]:
        p("%4d %6.2f %8.1f %8.2f %8.2f %8.0f  %s" % (
            row["minute"], row["load1"], row["deliveries_s"],
            row["searches_s"], row["appends_s"], row["p99_ms"],
            " ".join("%14s" % (mb(row["rss"][k]) if k in row["rss"] else "-")
                     for k in kinds)))
    p()
    p("RSS by process kind (largest process of the kind at each sample, MB):")
    p("%-16s %5s %7s %7s %7s %7s %7s  %s" % (
        "kind", "procs", "min", "median", "max", "first", "last",
        "the process of the kind that grew most (anonymous memory) after "
        "%d s: RSS first -> last (anon first -> last)" % WARMUP))
    for k, v in r["rss"].items():
        g = v["longest_process"]
        gtext = "-" if g is None else "pid %d, %d s: %s -> %s (%s -> %s)" % (
            g["pid"], g["seconds"], mb(g["first"]), mb(g["last"]),
            mb(g["anon_first"]), mb(g["anon_last"]))
        p("%-16s %5d %7s %7s %7s %7s %7s  %s" % (
            k, v["procs_max"], mb(v["min"]), mb(v["median"]), mb(v["max"]),
            mb(v["first"]), mb(v["last"]), gtext))
    p()
    f = r["final"]
    p("final verify -A: exit %s, %d problems, %.1f s (%d journal records, "
      "%d mails checked)" % (f["verify_rc"], f["verify_problems"],
                             f["verify_seconds"], f["journal_records"],
                             f["mails_checked"]))
    s = f["store"]
    p("store: %d accepted, %d stored; missing %d, duplicate %d, misfiled %d, "
      "unexpected %d; %d outcomes unknown (%d of them stored)" % (
          s["expected"], s["stored"], s["missing"], s["duplicate"],
          s["misfiled"], s["unexpected"], s["unknown_outcome"],
          s["unknown_outcome_stored"]))
    p("Dovecot log: %d crash lines; errors/warnings: %s" % (
        len(r["log_crashes"]), sum(g["count"] for g in
                                   r["log_groups"].values())))
    for line in r["log_crashes"][:5]:
        p("  CRASH " + line)
    for k, g in sorted(r["log_groups"].items(), key=lambda kv: -kv[1][
            "count"])[:8]:
        p("  %5d x %s" % (g["count"], g["example"]))
    p()
    if r["errors"]:
        p("errors by kind:")
        for k, e in sorted(r["errors"].items()):
            p("  %-24s %d" % (k, e["count"]))
            for ex in e["examples"]:
                p("      " + ex)
    else:
        p("errors: none")
    p("wall time: %.1f min end to end" % (r["wall_seconds"] / 60))
    p("RESULT: %s" % ("PASS" if r["passed"] else "FAIL"))


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--lmtp-threads", type=int, default=4)
    ap.add_argument("--imap-clients", type=int, default=4)
    ap.add_argument("--users", type=int, default=4)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--templates", type=int, default=120,
                    help="generated mails in the template corpus (the "
                    "testdata mails come on top; default 120)")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="LMTP transactions per second over all threads "
                    "(default 0: as fast as the server takes them)")
    ap.add_argument("--imap-pause", type=float, default=0.0,
                    help="seconds each IMAP client waits before each "
                    "command (default 0)")
    ap.add_argument("--sample-seconds", type=float, default=5.0)
    ap.add_argument("--json", metavar="FILE",
                    help="write every figure and sample as JSON")
    args = ap.parse_args()
    wall_start = time.monotonic()

    reason = harness.skip_reason()
    if reason:
        print("cannot run: %s" % reason)
        return 2
    try:
        harness.require_built(harness.TRESOR_MAIL_PLUGIN,
                              harness.TRESOR_DOVEADM_PLUGIN,
                              harness.TRESOR_FTS_PLUGIN)
        env = sieve_helpers.SieveEnv(suppliers=sieve_bench.supplier_csv(
            100, args.seed))
    except harness.HarnessError as e:
        print("cannot run: %s" % e)
        return 2
    try:
        return soak(args, env, wall_start)
    except harness.HarnessError as e:
        print("cannot run: %s" % e)
        return 2
    finally:
        env.cleanup()


def soak(args, env, wall_start):
    users = ["soak%d" % (i + 1) for i in range(args.users)]
    all_users = users + [CALIBRATION_USER]
    with open(os.path.join(harness.SRCDIR, "sieve",
                           "tresor-invoice.sieve")) as f:
        script = env.script("soak-default", f.read())
    # -A needs a userdb that can list its users
    userlist = env.write_file(os.path.join(env.dir, "users"), "".join(
        "%s::::::\n" % u for u in all_users))
    plugin = env.plugin_settings()
    plugin.update({"sieve": script, "tresor_archive": ARCHIVE,
                   "fts": "tresor", "fts_autoindex": "yes",
                   "fts_enforced": "yes"})
    extra = env.lmtp_conf() + ("userdb {\n  driver = passwd-file\n"
                               "  args = %s\n}\n" % userlist)
    templates = Templates(args.templates, args.seed)
    stats = Stats()
    run_id = "%x" % (int(time.time()) % 0xffffff)
    report = dict(seed=args.seed, lmtp_threads=args.lmtp_threads,
                  rate=args.rate, imap_pause=args.imap_pause,
                  imap_clients=args.imap_clients, users=args.users,
                  templates=len(templates.items), machine=machine_info())
    with harness.Dovecot(plugin=plugin,
                         mail_plugins=["tresor", "fts", "fts_tresor"],
                         extra_conf=extra, name="tresor-soak") as dc:
        folders = calibrate(dc, templates, stats)
        report["calibration"] = {"%s|%s" % k: v for k, v in folders.items()}
        print("calibrated %d templates in %.0f s" % (
            len(templates.items), time.monotonic() - wall_start))
        sys.stdout.flush()

        stop = threading.Event()
        t0 = time.monotonic()
        sampler = Sampler(dc, stats, args.sample_seconds, t0)
        cpu0 = (tree_cpu_seconds(dc), own_cpu_seconds(),
                machine_cpu_seconds())
        report["load_start"] = loadavg()
        threads = [threading.Thread(target=sampler.run, args=(stop,)),
                   threading.Thread(target=verify_worker,
                                    args=(dc, stats, stop))]
        pacer = Pacer(args.rate)
        threads += [threading.Thread(target=lmtp_worker, args=(
            n, dc, args, templates, users, stats, stop, run_id, pacer))
            for n in range(args.lmtp_threads)]
        threads += [threading.Thread(target=imap_worker, args=(
            n, dc, args, templates, users[n % len(users)], stats, stop,
            run_id)) for n in range(args.imap_clients)]
        for t in threads:
            t.start()
        deadline = t0 + args.minutes * 60
        try:
            while time.monotonic() < deadline:
                time.sleep(min(10, max(0.1, deadline - time.monotonic())))
                done = len(stats.deliveries)
                print("  %4.0f s: %d LMTP transactions, %d searches, "
                      "%d appends, %d verify runs, %d errors" % (
                          time.monotonic() - t0, done, len(stats.searches),
                          len(stats.appends), len(stats.verify_runs),
                          stats.error_total()))
                sys.stdout.flush()
        finally:
            load_seconds = time.monotonic() - t0
            cpu1 = (tree_cpu_seconds(dc), own_cpu_seconds(),
                    machine_cpu_seconds())
            report["load_end"] = loadavg()
            stop.set()
            for t in threads:
                t.join(3600)
        sampler.sample()
        check_growth(sampler, load_seconds, stats)

        final = run_verify(dc, timeout=3600)
        if final["rc"] != 0 or final["problems"]:
            stats.error("final-verify", "exit %s: %s %s" % (
                final["rc"], json.dumps(final["problems"][:3]),
                final["stderr"][-300:]))
        records, checked = final.get("records", 0), final.get("checked", 0)
        store = check_store(dc, all_users, stats)
        crashes, groups = log_summary(dc.log())
        if crashes:
            stats.error("dovecot-crash", crashes[0])

    deliveries = sum(d[2] for d in stats.deliveries)
    lat = [d[1] for d in stats.deliveries]
    search_lat = [s[1] for s in stats.searches]
    runs = stats.verify_runs
    outcomes = {}
    for v in runs:
        key = "%s%s" % (v["rc"], "" if not v["problems"] else "+problems")
        outcomes[key] = outcomes.get(key, 0) + 1
    busy = cpu1[2][0] - cpu0[2][0]
    report.update(
        load_seconds=load_seconds,
        load_mean=statistics.mean(s["load"][0] for s in sampler.samples),
        cpu=dict(dovecot=cpu1[0] - cpu0[0], bench=cpu1[1] - cpu0[1],
                 others=busy - (cpu1[0] - cpu0[0]) - (cpu1[1] - cpu0[1]),
                 available=cpu1[2][1] - cpu0[2][1]),
        category_count=stats.category_count,
        totals=dict(
            deliveries=deliveries, transactions=stats.transactions,
            deliveries_s=deliveries / load_seconds,
            delivery_p50=pct(lat, 50), delivery_p95=pct(lat, 95),
            delivery_p99=pct(lat, 99), delivery_max=max(lat, default=None),
            appends=len(stats.appends),
            appends_s=len(stats.appends) / load_seconds,
            append_p99=pct([a[1] for a in stats.appends], 99),
            searches=len(search_lat), searches_s=len(search_lat) /
            load_seconds, search_p50=pct(search_lat, 50),
            search_p99=pct(search_lat, 99), fetches=stats.fetches),
        verify=dict(runs=len(runs), clean=sum(
            1 for v in runs if v["rc"] == 0 and not v["problems"]),
            median_s=statistics.median([v["seconds"] for v in runs])
            if runs else 0, max_s=max((v["seconds"] for v in runs),
                                      default=0), outcomes=outcomes,
            seconds=[round(v["seconds"], 2) for v in runs]),
        timeline=timeline(sampler, stats, load_seconds),
        rss=rss_report(sampler),
        final=dict(verify_rc=final["rc"],
                   verify_problems=len(final["problems"]),
                   verify_seconds=final["seconds"],
                   journal_records=records, mails_checked=checked,
                   store=store),
        log_crashes=crashes[:20], log_groups=groups,
        errors=stats.errors, samples=sampler.samples,
        processes=sampler.pids,
        wall_seconds=time.monotonic() - wall_start)
    # an error in Dovecot's log fails the run too (a setting it refused
    # turns a plugin off without a client noticing)
    report["passed"] = not stats.errors and not crashes and not any(
        k.startswith("Error:") for k in groups)
    print()
    print_report(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=str)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
