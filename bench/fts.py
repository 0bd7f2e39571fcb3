#!/usr/bin/env python3
"""FTS backends compared: the same generated corpus indexed by fts_tresor,
fts_xapian (Debian's dovecot-fts-xapian), fts_lucene (Debian 12's
dovecot-lucene, Dovecot 2.3) and fts_flatcurve (Debian 13's
dovecot-flatcurve, Dovecot 2.4's core FTS) in one run - wall time, peak
RSS, index size, query latency, and how many attachment-only queries each
answers.

    TRESOR_BUILDDIR=build bench/fts.py [--messages 20000] [--seed 42]
        [--backends tresor,xapian,lucene|flatcurve] [--pdf-share 0.15]
        [--pdf-image-kb 0] [--reps 5] [--peer-decoder] [--no-reference]
        [--tresor-set NAME=VALUE ...] [--json FILE] [--perf DIR] [--keep]

How it measures:
- The corpus (bench/fts_corpus_big.py: German/English business mail,
  --pdf-share of it with a text PDF whose text holds words found nowhere
  else) is written once as maildir files and hard-linked into a fresh
  Maildir per backend (one throwaway Dovecot each, one after the other).
- `doveadm mailbox status` first builds Dovecot's own index (uidlist,
  dovecot.index) untimed; then `doveadm index -u bench INBOX` is timed:
  it runs the FTS indexing in the doveadm process. Peak RSS is doveadm's
  ru_maxrss as GNU time reports it (which also covers the children it
  reaped, such as tresor-extract); the sampled sum over the process tree
  is printed too. A "none" instance without FTS runs the same doveadm
  index: its time is Dovecot's fixed cost (printed, and subtracted in the
  "fts-only" row).
- Index size: every file under the user's home except the mail files and
  Dovecot's own index files (dovecot*), allocated blocks like du.
- Queries: a fixed set (whole words, substrings inside German compounds,
  names, invoice numbers, attachment-only words and numbers, two-key ANDs,
  absent words) sent as UID SEARCH CHARSET UTF-8 over one IMAP connection:
  one cold pass, then --reps warm passes; p50/p95 over the warm passes.
- Right answers: the "none" instance (Dovecot's own search, no FTS) gives
  each key's result; BODY/TEXT keys add the messages whose PDF text holds
  the key (Dovecot's own search cannot read the compressed PDF). A result
  "matches" when it equals that exactly; "text-complete" when it has every
  hit Dovecot's own search has and nothing beyond the expected set (an
  engine that ignores attachments can still be text-complete).

Targets (issue): indexing throughput >= 2x fts-xapian and >= fts-lucene;
index <= 25 % of the mail's size; peak RSS <= 150 MB; p95 query <= 50 ms;
every attachment-only query answered. On Dovecot 2.4 (issue 15):
throughput >= 3x fts-flatcurve, an index no larger than flatcurve's, every
answer exactly the expected one.

One program for both Dovecot versions (the harness writes a 2.3 or 2.4
configuration, tests/integration/conf24.py). The default backends are the
peers Debian ships for the Dovecot found: tresor,xapian,lucene on 2.3,
tresor,xapian,flatcurve on 2.4. A peer whose plugin is not installed
(lucene is not in Debian 13, flatcurve not in Debian 12) is reported as
unavailable and left out.

Peer configuration: xapian "partial=3 verbose=0" (2.3 also full=20, which
2.4's fts-xapian no longer has); lucene whitespace_chars=@.; flatcurve set
up fairly for IMAP substring search: substring_search = yes, the generic
and email-address tokenizers, and only the lowercase filter (Debian's
90-fts-flatcurve.conf adds snowball stemming and stopwords, which make
answers differ from IMAP's substring semantics; normalizer-icu would fold
umlauts, ä matching a).

Peers run as Debian ships them: no fts_decoder (Debian ships no
decode2text.sh), so they can't see PDF text. --peer-decoder gives them
Dovecot's documented decode2text service (pdftotext) instead; its
processes run under the Dovecot master and are not in the RSS figures.
"""
import argparse
import json
import os
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from common import harness, machine
import fts_corpus_big

USER = "bench"
ALL_BACKENDS = ("tresor", "xapian", "lucene", "flatcurve")
# the peers' plugins and the Debian packages they come in
PEER_MODULES = {
    "xapian": ("lib21_fts_xapian_plugin.so", "dovecot-fts-xapian"),
    "lucene": ("lib21_fts_lucene_plugin.so",
               "dovecot-lucene, Debian 12 / Dovecot 2.3 only"),
    "flatcurve": ("lib21_fts_flatcurve_plugin.so",
                  "dovecot-flatcurve, Debian 13 / Dovecot 2.4 only"),
}


def default_backends():
    """The peers Debian ships for the Dovecot found."""
    if harness.DOVECOT24:
        return ("tresor", "xapian", "flatcurve")
    return ("tresor", "xapian", "lucene")
PAGE = os.sysconf("SC_PAGE_SIZE")
SLOW_QUERY = 2.0      # s: a query this slow cold runs only once warm
IMAP_TIMEOUT = 1800
TIME = "/usr/bin/time"   # GNU time (Debian package "time")

TARGETS = {
    "xapian_ratio": 2.0,     # throughput tresor / xapian >=
    "lucene_ratio": 1.0,     # throughput tresor / lucene >=
    "flatcurve_ratio": 3.0,  # throughput tresor / flatcurve >= (2.4)
    "index_share": 0.25,     # index / mail size <=
    "rss_mb": 150.0,         # peak RSS <=
    "p95_ms": 50.0,          # warm p95 <=
}

DECODER_SCRIPT = """#!/bin/sh
# decode2text for bench/fts.py: Dovecot's example decoder
# (src/plugins/fts/decode2text.sh) reduced to PDF. The attachment comes on
# stdin, the text goes to stdout.
content_type=$1
if [ "$content_type" = "" ]; then
  printf 'application/pdf pdf\\napplication/x-pdf pdf\\n'
  exit 0
fi
case "$content_type" in
  application/pdf|application/x-pdf) ;;
  *) echo "Content-Type: $content_type not supported" >&2; exit 1 ;;
esac
path=`mktemp`
trap "rm -f $path" 0 1 2 3 14 15
cat > $path
LANG=C.UTF-8 /usr/bin/pdftotext $path - 2>/dev/null
exit 0
"""


# --------------------------------------------------------------------------
# corpus on disk


class Corpus:
    """The generated corpus written once as maildir files (cur/, LF line
    ends, names with S= and W=), plus what the query set needs."""

    def __init__(self, workdir, count, seed, pdf_share, pdf_image_kb):
        self.dir = os.path.join(workdir, "corpus", "cur")
        os.makedirs(self.dir)
        gen = fts_corpus_big.BigCorpus(seed=seed, count=count,
                                       pdf_share=pdf_share,
                                       pdf_image_kb=pdf_image_kb)
        pw = pwd.getpwnam(harness.MAIL_USER)
        self.files = []
        self.size = 0
        self.meta = []
        base = 1704182400  # 2024-01-02, the corpus' first day
        host = "fts-bench"
        for m in gen.generate():
            raw = m.raw
            vsize = len(raw) + raw.count(b"\n")
            name = "%d.M%06dP1.%s,S=%d,W=%d:2,S" % (
                base + m.index * 60, m.index, host, len(raw), vsize)
            path = os.path.join(self.dir, name)
            with open(path, "wb") as f:
                f.write(raw)
            os.chown(path, pw.pw_uid, pw.pw_gid)
            os.chmod(path, 0o600)
            self.files.append(name)
            self.size += len(raw)
            m.raw = None
            self.meta.append(m)
        self.attachment_words = gen.attachment_words
        self.with_pdf = sum(1 for m in self.meta if m.pdf_text)
        self.folded = None

    def blob(self):
        """Every message's visible text and PDF text, casefolded, one
        string (for checking that a string occurs nowhere else)."""
        if self.folded is None:
            self.folded = "\n\x00".join(
                (m.searchable + "\n" + m.pdf_text).casefold()
                for m in self.meta)
        return self.folded

    def pdf_hits(self, value):
        v = value.casefold()
        return {m.index for m in self.meta
                if m.pdf_text and v in m.pdf_text.casefold()}

    def install(self, home):
        """Hard-links (or copies) the corpus into home/Maildir/cur."""
        pw = pwd.getpwnam(harness.MAIL_USER)
        maildir = os.path.join(home, "Maildir")
        for d in (home, maildir) + tuple(
                os.path.join(maildir, s) for s in ("cur", "new", "tmp")):
            os.makedirs(d, mode=0o700, exist_ok=True)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        cur = os.path.join(maildir, "cur")
        for name in self.files:
            src = os.path.join(self.dir, name)
            dst = os.path.join(cur, name)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
                os.chown(dst, pw.pw_uid, pw.pw_gid)
        return maildir


def uid_map(maildir):
    """{uid: message index} from dovecot-uidlist (index = M<nnnnnn>)."""
    out = {}
    with open(os.path.join(maildir, "dovecot-uidlist"), "rb") as f:
        lines = f.read().decode("utf-8", "replace").splitlines()
    for line in lines[1:]:
        m = re.match(r"(\d+)\s.*?:\d+\.M(\d+)P", line)
        if m:
            out[int(m.group(1))] = int(m.group(2))
    return out


# --------------------------------------------------------------------------
# queries


class Query:
    """keys: [(IMAP key name, value)], ANDed. kind: category."""

    def __init__(self, kind, keys, note=""):
        self.kind = kind
        self.keys = list(keys)
        self.note = note

    def display(self):
        return " ".join('%s "%s"' % k for k in self.keys)

    def imap(self):
        """The search criteria as bytes (non-ASCII values as LITERAL+)."""
        out = b"CHARSET UTF-8"
        for name, value in self.keys:
            v = value.encode("utf-8")
            if re.fullmatch(rb"[\x20-\x7e]*", v) and b'"' not in v \
                    and b"\\" not in v:
                out += b" %s \"%s\"" % (name.encode(), v)
            else:
                out += b" %s {%d+}\r\n%s" % (name.encode(), len(v), v)
        return out


WORDS = [("BODY", "Skonto"), ("BODY", "Zusammenarbeit"),
         ("TEXT", "Zahlungsziel"), ("BODY", "geschlossen"),
         ("BODY", "cooperation"), ("BODY", "hesitate"),
         ("SUBJECT", "Mahnung"), ("BODY", "Kundennummer")]
COMPOUND_PARTS = [("BODY", "rechnung"), ("BODY", "vertrag"),
                  ("TEXT", "zahlung"), ("BODY", "lieferung"),
                  ("BODY", "prüfung"), ("BODY", "versicherung"),
                  ("TEXT", "abrechnung"), ("BODY", "bestätigung")]
NAMES = [("FROM", "Schäfer"), ("TO", "Nyström"), ("TEXT", "Öztürk"),
         ("CC", "köhler")]
ABSENT = [("BODY", "Xylophonkonzert"), ("TEXT", "RE-1999-00000")]
NUMBER_RE = re.compile(r"\b(RE-\d{4}-\d{5}|R\d{7}|INV-\d{6}|KD-\d{6}|"
                       r"B-\d{7}|JJD\d{14})\b")


def make_queries(corpus, seed):
    import random
    rng = random.Random("fts-bench-queries-%d" % seed)
    blob = corpus.blob()
    qs = []
    problems = []

    def occurs(v):
        return v.casefold() in blob

    for k in WORDS:
        qs.append(Query("word", [k]))
    for k in COMPOUND_PARTS:
        qs.append(Query("compound", [k]))
    for k in NAMES:
        qs.append(Query("name", [k]))
    # a trade from a company's name (FROM: display names, with umlauts)
    trades = [t for t in fts_corpus_big.TRADES
              if any(t in m.sender[0] for m in corpus.meta[:2000])]
    if trades:
        qs.append(Query("name", [("FROM", rng.choice(trades).lower())]))
    # invoice, customer, order and tracking numbers: from bodies for BODY
    # and TEXT, from subjects for SUBJECT
    seen = set()
    tries = 0
    while len(seen) < 6 and tries < 5000:
        tries += 1
        m = rng.choice(corpus.meta)
        key = ["BODY", "TEXT", "SUBJECT"][len(seen) % 3]
        nums = NUMBER_RE.findall(m.subject if key == "SUBJECT" else m.body)
        if not nums:
            continue
        n = rng.choice(nums)
        if n in seen:
            continue
        seen.add(n)
        qs.append(Query("number", [(key, n)]))
    # attachment-only words (some with umlauts) and numbers
    att = list(corpus.attachment_words)
    rng.shuffle(att)
    words = [a for a in att if not a[0].startswith("PRJ-")]
    numbers = [a for a in att if a[0].startswith("PRJ-")]
    umlaut = [a for a in words if re.search("[äöü]", a[0])]
    plain = [a for a in words if not re.search("[äöü]", a[0])]
    chosen = umlaut[:3] + plain[:4] + numbers[:3]
    for i, (w, idx) in enumerate(chosen):
        n = blob.count(w.casefold())
        if n != 1:
            problems.append("attachment-only %r occurs %d times" % (w, n))
        qs.append(Query("attachment", [("BODY" if i % 2 == 0 else "TEXT",
                                        w)], note=str(idx)))
    # two-key ANDs
    m = rng.choice([m for m in corpus.meta if not m.pdf_text])
    dom = m.sender[1].split("@")[1].split(".")[0]
    w = rng.choice([x for x in re.findall(r"[^\W\d_]{7,}", m.searchable)
                    if x.casefold() not in dom] or ["Rechnung"])
    pm = corpus.meta[chosen[4][1]] if len(chosen) > 4 else m
    pdom = pm.sender[1].split("@")[1].split(".")[0]
    pname = [m2 for m2 in corpus.meta if NUMBER_RE.search(m2.body)
             and not m2.pdf_text]
    nm = rng.choice(pname)
    qs += [
        Query("and", [("BODY", "rechnung"), ("BODY", "skonto")]),
        Query("and", [("FROM", dom), ("BODY", w)]),
        Query("and", [("BODY", pm.att_words[0] if pm.att_words else "x"),
                      ("FROM", pdom)], note="attachment"),
        Query("and", [("SUBJECT", "Mahnung"), ("TEXT", "2024")]),
        Query("and", [("BODY", "vertrag"), ("BODY", "kündigung")]),
        Query("and", [("FROM", nm.sender[1].split("@")[0]),
                      ("BODY", NUMBER_RE.search(nm.body).group(1))]),
    ]
    for k in ABSENT:
        if occurs(k[1]):
            problems.append("absent %r occurs" % k[1])
        qs.append(Query("absent", [k]))
    for q in qs:
        if q.kind in ("word", "compound", "name") and not occurs(q.keys[0][1]):
            problems.append("%s occurs nowhere" % q.display())
    return qs, problems


# --------------------------------------------------------------------------
# IMAP (raw, to time exactly one command and send LITERAL+)


class RawIMAP:
    def __init__(self, port, user):
        self.sock = socket.create_connection((harness.HOST, port),
                                             timeout=IMAP_TIMEOUT)
        self.f = self.sock.makefile("rb")
        self.n = 0
        self.f.readline()
        self.cmd(b'LOGIN %s "%s"' % (user.encode(),
                                     harness.PASSWORD.encode()), check=True)
        self.cmd(b"EXAMINE INBOX", check=True)

    def cmd(self, line, check=False):
        self.n += 1
        tag = b"b%d" % self.n
        self.sock.sendall(tag + b" " + line + b"\r\n")
        untagged = []
        while True:
            ln = self.f.readline()
            if not ln:
                raise RuntimeError("IMAP connection closed during %r" % line)
            m = re.search(rb"\{(\d+)\}\r\n$", ln)
            while m:  # a literal in the response
                ln += self.f.read(int(m.group(1)))
                rest = self.f.readline()
                ln += rest
                m = re.search(rb"\{(\d+)\}\r\n$", rest)
            if ln.startswith(tag + b" "):
                status = ln[len(tag) + 1:].split(b" ", 1)[0].decode()
                if check and status != "OK":
                    raise RuntimeError("IMAP %r: %r" % (line, ln))
                return status, ln, untagged
            untagged.append(ln)

    def search(self, criteria):
        start = time.perf_counter()
        status, ln, untagged = self.cmd(b"UID SEARCH " + criteria)
        elapsed = time.perf_counter() - start
        if status != "OK":
            return None, elapsed, ln.decode("utf-8", "replace").strip()
        uids = set()
        for u in untagged:
            if u.startswith(b"* SEARCH"):
                uids.update(int(x) for x in u[8:].split())
        return uids, elapsed, ""

    def close(self):
        try:
            self.cmd(b"LOGOUT")
        except Exception:  # noqa: BLE001
            pass
        self.sock.close()


# --------------------------------------------------------------------------
# measuring doveadm


def rss_of(pid):
    try:
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


def timed_doveadm(dc, args, log_path, perf_data=None):
    """Runs doveadm -c CONF ARGS under GNU time; returns wall s, cpu s,
    peak RSS bytes (ru_maxrss of doveadm as time's wait4 reports it: the
    process and the children it reaped, such as tresor-extract), the
    sampled peak of the whole process tree, exit code.

    Not os.wait4 on a child of ours: a process forked from this Python
    inherits its RSS high-water mark (the corpus' metadata), which
    survives exec into ru_maxrss. time is forked from us, doveadm from
    time. perf_data: record a call-graph profile there (perf record)."""
    rusage = log_path + ".rusage"
    cmd = [TIME, "-f", "%M %U %S %x", "-o", rusage,
           "doveadm", "-c", dc.conf_path] + list(args)
    if perf_data:
        cmd = cmd[:5] + ["perf", "record", "-q", "-F", "999", "-g",
                         "-o", perf_data, "--"] + cmd[5:]
    with open(log_path, "ab") as out:
        start = time.monotonic()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            pids = harness.descendants(p.pid)  # doveadm and below
            peak[0] = max(peak[0], sum(rss_of(x) for x in pids))
            done.wait(0.25)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        rc = p.wait()
    except BaseException:
        for pid in harness.descendants(p.pid) + [p.pid]:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        p.wait()
        raise
    finally:
        done.set()
        t.join()
    elapsed = time.monotonic() - start
    with open(rusage) as f:
        last = f.read().strip().splitlines()[-1].split()
    maxrss_kb, utime, stime, status = int(last[0]), float(last[1]), \
        float(last[2]), int(last[3])
    return dict(wall=elapsed, cpu=utime + stime, maxrss=maxrss_kb * 1024,
                tree_rss=peak[0], rc=status if rc == 0 else rc)


def disk_usage(home):
    """(bytes allocated, apparent bytes, {top dir: bytes}) of every file
    under home except the mail files and Dovecot's own index files."""
    alloc = apparent = 0
    parts = {}
    seen = set()
    for root, dirs, files in os.walk(home):
        rel = os.path.relpath(root, home)
        if rel.split(os.sep)[-1] in ("cur", "new", "tmp") and \
                rel.startswith("Maildir"):
            dirs[:] = []
            continue
        for f in files:
            if f.startswith("dovecot") or f in ("subscriptions",
                                                "maildirfolder"):
                continue
            st = os.lstat(os.path.join(root, f))
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            alloc += st.st_blocks * 512
            apparent += st.st_size
            top = os.path.join(*os.path.join(rel, f).split(os.sep)[:2]) \
                if rel != "." else f
            parts[top] = parts.get(top, 0) + st.st_blocks * 512
    return alloc, apparent, parts


def log_problems(dc):
    lines = [l for l in dc.log().splitlines()
             if re.search(r"\b(Error|Panic|Fatal)\b", l)]
    return lines


# --------------------------------------------------------------------------
# one backend


def backend_config(name, args, workdir):
    plugin = {}
    mail_plugins = []
    extra_modules = []
    extra_conf = ""
    if name == "tresor":
        mail_plugins = ["fts", "fts_tresor"]
        plugin = {"fts": "tresor",
                  "tresor_extract": os.path.join(args.builddir,
                                                 "tresor-extract")}
        for kv in args.tresor_set:
            k, _, v = kv.partition("=")
            if v == "":
                plugin.pop(k, None)
            else:
                plugin[k] = v
        extra_modules = [harness.built_plugin("lib21_fts_tresor_plugin.so",
                                              args.builddir)]
    elif name == "xapian":
        mail_plugins = ["fts", "fts_xapian"]
        plugin = {"fts": "xapian", "fts_xapian": "partial=3 full=20 verbose=0"}
    elif name == "lucene":
        mail_plugins = ["fts", "fts_lucene"]
        plugin = {"fts": "lucene", "fts_lucene": "whitespace_chars=@."}
    elif name == "flatcurve":
        # fair for IMAP substring search (see the top): written in 2.3's
        # terms like every setting here; conf24.py makes it
        #   fts flatcurve { substring_search = yes }
        #   language en { default = yes }
        #   language_filters = lowercase
        #   language_tokenizers = generic email-address
        mail_plugins = ["fts", "fts_flatcurve"]
        plugin = {"fts": "flatcurve",
                  "fts_flatcurve_substring_search": "yes",
                  "fts_languages": "en",
                  "fts_filters": "lowercase",
                  "fts_tokenizers": "generic email-address"}
    if name in ("xapian", "lucene", "flatcurve") and args.peer_decoder:
        script = os.path.join(workdir, "decode2text.sh")
        plugin["fts_decoder"] = "decode2text"
        extra_conf = ("service decode2text {\n"
                      "  executable = script %s\n"
                      "  user = %s\n"
                      "  unix_listener decode2text {\n    mode = 0666\n  }\n"
                      "}\n" % (script, harness.MAIL_USER))
    return dict(plugin=plugin, mail_plugins=mail_plugins,
                extra_modules=extra_modules, extra_conf=extra_conf,
                doveadm_modules=[], protocols=("imap",),
                builddir=args.builddir, name="fts-bench-" + (name or "none"))


def run_backend(name, args, corpus, queries, workdir, reference):
    """Indexes the corpus with one backend (name None: no FTS) and runs
    the query set. reference: {key: set of message indexes} to fill
    (name None) or to judge by."""
    res = {"backend": name or "none"}
    conf = backend_config(name, args, workdir)
    with harness.Dovecot(**conf) as dc:
        home = dc.home(USER)
        maildir = corpus.install(home)
        rc, out, err = dc.doveadm("mailbox", "status", "-u", USER,
                                  "messages", "INBOX")
        m = re.search(r"messages=(\d+)", out)
        if rc != 0 or not m or int(m.group(1)) != len(corpus.files):
            raise RuntimeError("%s: mailbox status: rc %d %s %s"
                               % (res["backend"], rc, out, err))
        uids = uid_map(maildir)
        if len(uids) != len(corpus.files):
            raise RuntimeError("uidlist has %d of %d mails"
                               % (len(uids), len(corpus.files)))
        before = disk_usage(home)[0]
        dc.mark_log()
        t = timed_doveadm(dc, ["index", "-u", USER, "INBOX"],
                          os.path.join(workdir, "doveadm-%s.log"
                                       % res["backend"]),
                          perf_data=os.path.join(
                              args.perf, "perf-%s.data" % res["backend"])
                          if args.perf else None)
        res.update(t)
        if t["rc"] != 0:
            res["error"] = "doveadm index exit %d" % t["rc"]
        alloc, apparent, parts = disk_usage(home)
        res["index_bytes"] = alloc
        res["index_apparent"] = apparent
        res["index_before"] = before
        res["index_parts"] = {k: v for k, v in sorted(
            parts.items(), key=lambda kv: -kv[1])[:6]}
        res["index_log"] = [l for l in dc.log_since_mark().splitlines()
                            if re.search(r"\b(Error|Panic|Fatal)\b", l)][:5]
        print("  %-7s indexed in %.1f s (cpu %.1f s), peak RSS %.0f MB "
              "(tree %.0f MB), index %.1f MB%s" % (
                  res["backend"], t["wall"], t["cpu"], t["maxrss"] / 1e6,
                  t["tree_rss"] / 1e6, alloc / 1e6,
                  "  ** " + res["error"] if "error" in res else ""))
        sys.stdout.flush()
        run_queries(dc, name, args, corpus, queries, uids, res, reference)
        res["log_errors"] = log_problems(dc)[:10]
    return res


def run_queries(dc, name, args, corpus, queries, uids, res, reference):
    imap = RawIMAP(dc.imap_port, USER)
    try:
        if name is None:
            # the reference: every key once, on its own
            times = []
            for q in queries:
                for key in q.keys:
                    if key in reference:
                        continue
                    got, el, err = imap.search(Query("", [key]).imap())
                    if got is None:
                        raise RuntimeError("reference search %s: %s"
                                           % (key, err))
                    reference[key] = {uids[u] for u in got}
                    times.append(el)
            res["ref_times"] = times
            return
        cold, warm = [], []
        per_query = []
        for q in queries:
            crit = q.imap()
            got, el, err = imap.search(crit)
            cold.append(el)
            samples = []
            reps = args.reps if el < SLOW_QUERY else 1
            for _ in range(reps):
                g2, e2, _ = imap.search(crit)
                samples.append(e2)
            warm += samples
            per_query.append(judge(q, got, err, uids, corpus, reference,
                                   statistics.median(samples)))
        res["cold"] = cold
        res["warm"] = warm
        res["queries"] = per_query
    finally:
        imap.close()


def expected_sets(q, corpus, reference):
    """(expected with attachments, Dovecot's own search) as sets of
    message indexes, or (None, None) when there is no reference."""
    exp = ref = None
    for key in q.keys:
        name, value = key
        if q.kind == "attachment" or (q.note == "attachment" and
                                      key == q.keys[0]):
            r = set()
            e = {i for w, i in corpus.attachment_words if w == value}
        elif key in reference:
            r = set(reference[key])
            e = r | (corpus.pdf_hits(value) if name in ("BODY", "TEXT")
                     else set())
        else:
            return None, None
        exp = e if exp is None else exp & e
        ref = r if ref is None else ref & r
    return exp, ref


def judge(q, got, err, uids, corpus, reference, median):
    out = {"kind": q.kind, "query": q.display(), "median_ms": median * 1000}
    if got is None:
        out["error"] = err
        return out
    found = {uids.get(u, -1) for u in got}
    out["hits"] = len(found)
    exp, ref = expected_sets(q, corpus, reference)
    if exp is None:
        return out
    out["expected"] = len(exp)
    out["match"] = found == exp
    out["missing_text"] = len(ref - found)
    out["missing_attachment"] = len((exp - ref) - found)
    out["extra"] = len(found - exp)
    out["text_complete"] = out["missing_text"] == 0 and out["extra"] == 0
    return out


# --------------------------------------------------------------------------
# report


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def summarise(res, corpus, baseline):
    n = len(corpus.files)
    s = {}
    s["msgs_per_s"] = n / res["wall"]
    s["mb_per_s"] = corpus.size / 1e6 / res["wall"]
    s["fts_only_s"] = res["wall"] - baseline if baseline is not None \
        else None
    s["index_share"] = res["index_bytes"] / corpus.size
    s["rss_mb"] = res["maxrss"] / 1e6
    s["tree_rss_mb"] = res["tree_rss"] / 1e6
    s["p50_ms"] = pct(res.get("warm", []), 50) * 1000
    s["p95_ms"] = pct(res.get("warm", []), 95) * 1000
    s["cold_p95_ms"] = pct(res.get("cold", []), 95) * 1000
    s["cold_max_ms"] = max(res.get("cold", [0])) * 1000
    qs = res.get("queries", [])
    att = [q for q in qs if q["kind"] == "attachment"]
    s["attachment_total"] = len(att)
    s["attachment_answered"] = sum(1 for q in att if q.get("match"))
    judged = [q for q in qs if "match" in q]
    s["judged"] = len(judged)
    s["match"] = sum(1 for q in judged if q["match"])
    s["text_complete"] = sum(1 for q in judged if q["text_complete"])
    comp = [q for q in judged if q["kind"] == "compound"]
    s["compound_total"] = len(comp)
    s["compound_text_complete"] = sum(1 for q in comp if q["text_complete"])
    s["errors"] = sum(1 for q in qs if "error" in q)
    return s


def print_report(results, summaries, corpus, args, baseline):
    order = [r["backend"] for r in results if r["backend"] != "none"]
    print()
    print("corpus: %d mails, %.1f MB (%.1f KB each), %d with a PDF; "
          "seed %d; %s; load average now %.1f" % (
              len(corpus.files), corpus.size / 1e6,
              corpus.size / 1e3 / len(corpus.files), corpus.with_pdf,
              args.seed, machine(), os.getloadavg()[0]))
    if baseline is not None:
        print("no-FTS doveadm index (Dovecot's fixed cost, in every time "
              "below): %.2f s" % baseline)
    rows = [
        ("doveadm index wall", lambda r, s: "%.1f s" % r["wall"]),
        ("  fts-only (minus no-FTS)", lambda r, s: "%.1f s" % s["fts_only_s"]
         if s["fts_only_s"] is not None else "-"),
        ("throughput", lambda r, s: "%.0f msg/s, %.2f MB/s"
         % (s["msgs_per_s"], s["mb_per_s"])),
        ("cpu (user+sys)", lambda r, s: "%.1f s" % r["cpu"]),
        ("peak RSS (ru_maxrss)", lambda r, s: "%.0f MB" % s["rss_mb"]),
        ("peak RSS tree (sampled)", lambda r, s: "%.0f MB"
         % s["tree_rss_mb"]),
        ("index size (du)", lambda r, s: "%.1f MB = %.1f %% of mail"
         % (r["index_bytes"] / 1e6, s["index_share"] * 100)),
        ("query p50 / p95 (warm)", lambda r, s: "%.1f / %.1f ms"
         % (s["p50_ms"], s["p95_ms"])),
        ("query p95 / max (cold)", lambda r, s: "%.1f / %.0f ms"
         % (s["cold_p95_ms"], s["cold_max_ms"])),
        ("attachment-only answered", lambda r, s: "%d / %d"
         % (s["attachment_answered"], s["attachment_total"])),
        ("compound substr text-complete", lambda r, s: "%d / %d"
         % (s["compound_text_complete"], s["compound_total"])
         if s["judged"] else "-"),
        ("queries exact / text-complete", lambda r, s: "%d / %d of %d"
         % (s["match"], s["text_complete"], s["judged"])
         if s["judged"] else "-"),
        ("search errors / log errors", lambda r, s: "%d / %d"
         % (s["errors"], len(r.get("log_errors", [])))),
    ]
    byname = {r["backend"]: r for r in results}
    w = 31
    print()
    print("%-*s" % (w, "") + "".join("%-28s" % b for b in order))
    for label, fn in rows:
        print("%-*s" % (w, label) + "".join(
            "%-28s" % fn(byname[b], summaries[b]) for b in order))
    print()
    print("per query (median warm ms; hits; + extra, - missing text hits, "
          "a missing attachment hits):")
    print("%-10s %-44s" % ("kind", "query") + "".join(
        "%-18s" % b for b in order))
    nq = len(byname[order[0]].get("queries", [])) if order else 0
    for i in range(nq):
        q0 = byname[order[0]]["queries"][i]
        line = "%-10s %-44s" % (q0["kind"], q0["query"][:44])
        for b in order:
            q = byname[b]["queries"][i]
            if "error" in q:
                cell = "ERR"
            else:
                cell = "%.1f %d" % (q["median_ms"], q["hits"])
                if "match" in q and not q["match"]:
                    cell += " " + "".join(
                        "%s%d" % (c, q[k]) for c, k in (
                            ("+", "extra"), ("-", "missing_text"),
                            ("a", "missing_attachment")) if q[k])
                elif "match" in q:
                    cell += " ok"
            line += "%-18s" % cell
        print(line)
    for b in order:
        r = byname[b]
        for l in r.get("log_errors", [])[:3]:
            print("%s log: %s" % (b, l[:200]))
        if r.get("index_parts"):
            print("%s index files: %s" % (b, ", ".join(
                "%s %.1f MB" % (k, v / 1e6)
                for k, v in r["index_parts"].items())))
    verdicts = []
    if "tresor" in summaries:
        t = summaries["tresor"]
        tr = byname["tresor"]

        def verdict(label, value, ok, target):
            verdicts.append((label, value, target, ok))
        for peer, key in (("xapian", "xapian_ratio"),
                          ("lucene", "lucene_ratio"),
                          ("flatcurve", "flatcurve_ratio")):
            if peer in byname:
                ratio = byname[peer]["wall"] / tr["wall"]
                verdict("throughput tresor / %s" % peer, "%.2f" % ratio,
                        ratio >= TARGETS[key], ">= %.1f" % TARGETS[key])
        verdict("index / mail size", "%.1f %%" % (t["index_share"] * 100),
                t["index_share"] <= TARGETS["index_share"],
                "<= %.0f %%" % (TARGETS["index_share"] * 100))
        if "flatcurve" in byname:
            fi = byname["flatcurve"]["index_bytes"]
            verdict("index / flatcurve's", "%.2f" % (tr["index_bytes"] / fi)
                    if fi else "-", tr["index_bytes"] <= fi, "<= 1")
        verdict("peak RSS", "%.0f MB" % t["rss_mb"],
                t["rss_mb"] <= TARGETS["rss_mb"],
                "<= %.0f MB" % TARGETS["rss_mb"])
        verdict("p95 query (warm)", "%.1f ms" % t["p95_ms"],
                t["p95_ms"] <= TARGETS["p95_ms"],
                "<= %.0f ms" % TARGETS["p95_ms"])
        verdict("attachment-only queries", "%d / %d" % (
            t["attachment_answered"], t["attachment_total"]),
            t["attachment_answered"] == t["attachment_total"] > 0, "all")
        if t["judged"]:
            verdict("answers exact", "%d / %d" % (t["match"], t["judged"]),
                    t["match"] == t["judged"] and not t["errors"], "all")
        print()
        print("targets (fts_tresor):")
        for label, value, target, ok in verdicts:
            print("  %-28s %-12s target %-10s %s" % (
                label, value, target, "PASS" if ok else "MISS"))
    return verdicts


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2])
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--backends", default=",".join(default_backends()),
                    help="comma-separated subset of %s (default on this "
                    "Dovecot: %%(default)s)" % ",".join(ALL_BACKENDS))
    ap.add_argument("--pdf-share", type=float, default=0.15)
    ap.add_argument("--pdf-image-kb", type=int, default=40,
                    help="an incompressible image of this size in every "
                    "PDF: real invoice PDFs carry logos and embedded fonts "
                    "(typically 30-150 KB); default 40, 0 for text-only "
                    "PDFs")
    ap.add_argument("--reps", type=int, default=5,
                    help="warm repetitions of every query")
    ap.add_argument("--peer-decoder", action="store_true",
                    help="give the peers fts_decoder = decode2text "
                    "(pdftotext)")
    ap.add_argument("--no-reference", action="store_true",
                    help="skip the no-FTS instance (no baseline time, "
                    "only attachment queries judged)")
    ap.add_argument("--tresor-set", action="append", default=[],
                    metavar="NAME=VALUE",
                    help="extra plugin setting for fts_tresor "
                    "(NAME= removes one)")
    ap.add_argument("--builddir", default=harness.BUILDDIR)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--perf", metavar="DIR",
                    help="profile each doveadm index with perf record "
                    "into DIR/perf-<backend>.data (times then include "
                    "perf's overhead)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directories")
    args = ap.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for b in backends:
        if b not in ALL_BACKENDS:
            ap.error("unknown backend %r" % b)
    reason = harness.skip_reason()
    if reason:
        print("cannot run: %s" % reason)
        return 2
    unavailable = {}
    for b, (so, package) in PEER_MODULES.items():
        if b in backends and not os.path.exists(
                os.path.join(harness.DOVECOT_MODULE_DIR, so)):
            unavailable[b] = "%s missing (%s)" % (so, package)
            backends.remove(b)
            print("%s: unavailable on Dovecot %d.%d: %s" % (
                b, *harness.dovecot_version(), unavailable[b]))
    if not backends:
        print("cannot run: no backend available")
        return 2
    if "tresor" in backends:
        harness.require_built("lib21_fts_tresor_plugin.so",
                              builddir=args.builddir)
        if not os.access(os.path.join(args.builddir, "tresor-extract"),
                         os.X_OK):
            print("cannot run: %s/tresor-extract missing" % args.builddir)
            return 2
    if not os.access(TIME, os.X_OK):
        print("cannot run: %s missing (apt-get install time)" % TIME)
        return 2
    if args.keep:
        os.environ["TRESOR_KEEP_TMP"] = "1"

    def on_signal(signum, frame):
        # unwind: the harness stops its Dovecots, the workdir goes
        raise SystemExit("interrupted by signal %d" % signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    workdir = tempfile.mkdtemp(prefix="fts-bench-")
    os.chmod(workdir, 0o755)
    try:
        if "tresor" in backends:
            # a private copy: a rebuild during the run changes nothing
            snap = os.path.join(workdir, "tresor-build")
            os.makedirs(os.path.join(snap, ".libs"))
            shutil.copy2(harness.built_plugin("lib21_fts_tresor_plugin.so",
                                              args.builddir),
                         os.path.join(snap, ".libs"))
            if harness.DOVECOT24:
                # 2.4's config process knows tresor_* from this module
                shutil.copy2(harness.built_plugin(
                    harness.TRESOR_SETTINGS_MODULE, args.builddir),
                    os.path.join(snap, ".libs"))
            shutil.copy2(os.path.join(args.builddir, "tresor-extract"), snap)
            for d in (snap, os.path.join(snap, ".libs")):
                os.chmod(d, 0o755)
            print("fts_tresor from %s (copied)" % os.path.abspath(
                args.builddir))
            args.builddir = snap
        if args.peer_decoder:
            script = os.path.join(workdir, "decode2text.sh")
            with open(script, "w") as f:
                f.write(DECODER_SCRIPT)
            os.chmod(script, 0o755)
        t0 = time.monotonic()
        corpus = Corpus(workdir, args.messages, args.seed, args.pdf_share,
                        args.pdf_image_kb)
        queries, problems = make_queries(corpus, args.seed)
        print("corpus: %d mails, %.1f MB, %d with a PDF, written in %.1f s; "
              "%d queries; workdir %s; load average %.1f" % (
                  len(corpus.files), corpus.size / 1e6, corpus.with_pdf,
                  time.monotonic() - t0, len(queries), workdir,
                  os.getloadavg()[0]))
        for p in problems:
            print("  query set problem: %s" % p)
        sys.stdout.flush()
        reference = {}
        results = []
        baseline = None
        if not args.no_reference:
            r = run_backend(None, args, corpus, queries, workdir, reference)
            baseline = r["wall"]
            rt = r.get("ref_times", [])
            print("  none    %d reference searches (no FTS): p50 %.0f ms, "
                  "p95 %.0f ms" % (len(rt), pct(rt, 50) * 1000,
                                   pct(rt, 95) * 1000))
            results.append(r)
        for b in backends:
            results.append(run_backend(b, args, corpus, queries, workdir,
                                       reference))
        summaries = {r["backend"]: summarise(r, corpus, baseline)
                     for r in results if r["backend"] != "none"}
        verdicts = print_report(results, summaries, corpus, args, baseline)
        for b, why in unavailable.items():
            print("%s: unavailable: %s" % (b, why))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({
                    "messages": len(corpus.files), "seed": args.seed,
                    "mail_bytes": corpus.size, "with_pdf": corpus.with_pdf,
                    "machine": machine(), "baseline_s": baseline,
                    "peer_decoder": args.peer_decoder,
                    "dovecot": "%d.%d" % harness.dovecot_version(),
                    "unavailable": unavailable,
                    "queries": [q.display() for q in queries],
                    "results": results, "summaries": summaries,
                    "targets": [dict(label=l, value=v, target=t, ok=ok)
                                for l, v, t, ok in verdicts],
                }, f, indent=1, default=str)
    finally:
        if args.keep:
            print("kept: %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
