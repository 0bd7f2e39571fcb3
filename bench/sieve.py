#!/usr/bin/env python3
"""Cost of the Sieve extension vnd.tresor.invoice: the documented default
script (sieve/tresor-invoice.sieve) against the same script without the
extension, through `sieve-test`, over one seeded corpus, in one run.

Corpus: mails from the seeded generator (mailgen: everyday letters and
invoices with a PDF, some with an XRechnung XML beside it), letters with a
PDF that is no invoice, and every e-invoice of ../shared/testdata/einvoice
wrapped into mails from four senders (trusted, no Authentication-Results,
look-alike domain, foreign domain). Every generated mail carries the
Authentication-Results header of the receiving MTA (mx.example.com), as it
would on a real server; the supplier file lists the generator's companies,
the test suppliers and --suppliers filler entries.

Baseline: for each mail, the default script with the extension's answers
written in - `invoice` replaced by `true`/`false` and each ${invoice.*}
by the value the extension gave for this mail, "vnd.tresor.invoice"
dropped from require. It runs the same commands and performs the same
actions (checked for every mail before timing), so the difference is the
analysis: MIME walk, document helper, supplier look-up, verdict.

sieve-test takes one script and one mail per invocation, and its process
start (about 10 ms) dwarfs the ordinary-mail cost; so every mail is run
through both scripts once per round, the two back to back in alternating
order, with the same configuration (plugin loaded in both), and the extra
time per mail is the median over all mails of a category and all rounds of
the paired difference time(with) - time(without). Targets (issue 3):
ordinary mail <= 1 ms extra, an e-invoice PDF <= 30 ms.

Beside it, for information: what loading the plugin costs a sieve-test
process (same baseline script, sieve_plugins set or not), and an LMTP
cross-check (--lmtp N ordinary mails per run, one connection, a fresh
Dovecot per run, alternating): the default script with the plugin against
stock Sieve without it. Pigeonhole loads and unloads its plugins with every
Sieve instance, and LMTP makes one per delivery; the module stays resident
(sieve_tresor_plugin_load()), so each delivery pays only for registering
the extension and finding the shared configuration.

    TRESOR_BUILDDIR=build bench/sieve.py [--messages 200] [--rounds 5]
                          [--suppliers 100] [--lmtp 150] [--seed 42]
"""
import argparse
import email
import email.policy
import email.utils
import math
import os
import random
import re
import shutil
import subprocess
import sys
import time

from common import deliver_parallel, harness, machine, median
import mailgen  # noqa: E402  (on the path through common)
import sieve_helpers  # noqa: E402

TARGETS = {"ordinary": 1.0, "einvoice-pdf": 30.0}

# category key, description (in report order)
CATEGORIES = [
    ("ordinary", "ordinary mail (mailgen letters)"),
    ("letter-pdf", "letter with a PDF that is no invoice"),
    ("pdf-invoice", "PDF invoice + keyword (mailgen)"),
    ("pdf-xml-invoice", "PDF + XRechnung UBL XML (mailgen)"),
    ("einvoice-xml", "e-invoice XML (testdata)"),
    ("einvoice-pdf", "e-invoice PDF, ZUGFeRD/Factur-X (testdata)"),
]

AUTHSERV = "mx.example.com"
LIEFERANT = ("Lieferant GmbH", "rechnung@lieferant.de")

# The test suppliers; the testdata invoices are Lieferant GmbH's
# (VAT ID DE123456789, IBANs as in the files).
TEST_SUPPLIERS = [
    ("Lieferant GmbH", "Lieferant", "lieferant.de", "rechnung@lieferant.de",
     "DE123456789",
     "DE02120300000000202051 DE08700901001234567890 DE79000000001234567890"),
]

# Senders for each testdata e-invoice: (label, From, Authentication-Results)
EINVOICE_SENDERS = [
    ("trusted", LIEFERANT,
     ["%s; dkim=pass header.d=lieferant.de header.s=s1; spf=pass "
      "smtp.mailfrom=lieferant.de; dmarc=pass (p=reject) "
      "header.from=lieferant.de" % AUTHSERV]),
    ("no-authres", LIEFERANT, []),
    ("lookalike", ("Lieferant GmbH", "rechnung@lieferamt.de"),
     ["%s; dmarc=pass header.from=lieferamt.de" % AUTHSERV]),
    ("foreign", ("Buchhaltung", "invoice@billing-portal.com"),
     ["%s; dmarc=pass header.from=billing-portal.com" % AUTHSERV]),
]


# --------------------------------------------------------------------------
# corpus


def from_domain(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    addr = email.utils.parseaddr(str(msg.get("From", "")))[1]
    return addr.rpartition("@")[2].lower()


def add_authres(raw):
    """What the receiving MTA puts on top: its own verdict for From."""
    d = from_domain(raw)
    ar = ("Authentication-Results: %s; dkim=pass header.d=%s header.s=mail; "
          "spf=pass smtp.mailfrom=%s; dmarc=pass (p=quarantine) "
          "header.from=%s\r\n" % (AUTHSERV, d, d, d))
    return ar.encode() + raw


def content_types(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return {p.get_content_type() for p in msg.walk()}


def with_brochure(raw, n):
    """The letter with a product brochure (a PDF without invoice words)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    doc = sieve_helpers.pdf(["Produktkatalog %d" % (2024 + n % 2),
                             "Neue Buerostuehle und Schreibtische",
                             "Lieferzeit zwei Wochen", "Seite 1 von 1"])
    msg.add_attachment(doc, maintype="application", subtype="pdf",
                       filename="katalog-%d.pdf" % n)
    return harness.crlf(msg.as_bytes(policy=email.policy.SMTP))


def build_corpus(n, seed):
    """[(category, label, mail bytes)]"""
    gen = mailgen.MailGenerator(seed=seed)
    out, letters = [], []
    for raw in gen.mails(n):
        types = content_types(raw)
        if "application/xml" in types:
            cat = "pdf-xml-invoice"
        elif "application/pdf" in types:
            cat = "pdf-invoice"
        else:
            cat = "ordinary"
            letters.append(raw)
        out.append((cat, "mailgen", harness.crlf(add_authres(raw))))
    for i, raw in enumerate(letters[:max(1, n // 10)]):
        out.append(("letter-pdf", "mailgen+pdf",
                    harness.crlf(add_authres(with_brochure(raw, i)))))
    for name in sorted(os.listdir(sieve_helpers.EINVOICE_DIR)):
        if not name.endswith((".xml", ".pdf")):
            continue
        cat = "einvoice-pdf" if name.endswith(".pdf") else "einvoice-xml"
        for label, sender, ar in EINVOICE_SENDERS:
            out.append((cat, label, sieve_helpers.einvoice_mail(
                name, sender=sender, auth_results=ar)))
    return out


def supplier_csv(fillers, seed):
    rows = ["name,folder,domains,addresses,vat_ids,ibans"]
    for row in TEST_SUPPLIERS:
        rows.append(",".join(row))
    for company, domain in mailgen.COMPANIES:
        folder = re.sub(r"[^A-Za-z0-9]+", "-", company).strip("-")
        rows.append('"%s",%s,%s,,,' % (company.replace('"', '""'), folder,
                                       domain))
    # Other suppliers of a mid-sized business: made-up names that
    # resemble neither each other nor the ones above.
    rng = random.Random(seed)
    seen = set()
    while len(seen) < fillers:
        label = "".join(rng.choice("bcdfghjklmnpqrstvwxz") +
                        rng.choice("aeiou") for _ in range(4))
        if label in seen:
            continue
        seen.add(label)
        rows.append("%s Handel GmbH,Lieferanten/%s,%s-handel.de,,,"
                    % (label.capitalize(), label.capitalize(), label))
    return "\n".join(rows) + "\n"


# --------------------------------------------------------------------------
# scripts


def sieve_string(value):
    if "${" in value:
        raise ValueError("value %r would be expanded by variables" % value)
    return value.replace("\\", "\\\\").replace('"', '\\"')


def baseline_script(default, res):
    """The default script with the extension's answers for one mail
    written in (see the module's docstring)."""
    text, n = re.subn(r',\s*"vnd\.tresor\.invoice"', "", default)
    if n != 1:
        raise RuntimeError("default script: require list not as expected")
    text, n = re.subn(r"\bif invoice\b(?!\.)",
                      "if true" if res.get("invoice") else "if false", text)
    if n != 1:
        raise RuntimeError("default script: one `if invoice` expected")
    text = re.sub(r"\$\{invoice\.([a-z]+)\}",
                  lambda m: sieve_string(res.get(m.group(1), "")
                                         if res.get("invoice") else ""),
                  text)
    if "invoice" in re.sub(r'"[^"]*"', "", text.split(";", 1)[1]):
        raise RuntimeError("default script: unexpected use of the extension")
    return text


def actions(out):
    """What sieve-test would do: the text from "Performed actions:" on,
    without log lines."""
    i = out.find("Performed actions:")
    if i < 0:
        return None
    return "\n".join(l for l in out[i:].splitlines()
                     if "Info:" not in l and "Warning:" not in l).strip()


# --------------------------------------------------------------------------
# timing


def timed(cmd):
    """Wall time and CPU time (user + system, including the helper
    processes sieve-test waited for) of one run, in ms; exit status."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall * 1000, (ru.ru_utime + ru.ru_stime) * 1000, p.returncode


def median_ci(values):
    """Median and a distribution-free ~95 % confidence interval of it
    (order statistics of the binomial)."""
    v = sorted(values)
    n = len(v)
    k = int(math.floor((n - 1.96 * math.sqrt(n)) / 2))
    if k < 0:
        return median(v), None, None
    return median(v), v[k], v[n - 1 - k]


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=200,
                    help="generated mails (letters and invoices); the "
                    "testdata e-invoices come on top (default 200)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--suppliers", type=int, default=100,
                    help="filler entries in the supplier file (default 100)")
    ap.add_argument("--lmtp", type=int, default=150, metavar="N",
                    help="ordinary mails per LMTP cross-check run, 0: skip "
                    "(default 150)")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    reason = harness.skip_reason()
    if reason:
        print("cannot run: %s" % reason)
        return 2
    if shutil.which("sieve-test") is None:
        print("cannot run: sieve-test not installed (apt-get install "
              "dovecot-sieve)")
        return 2
    with open(os.path.join(harness.SRCDIR, "sieve",
                           "tresor-invoice.sieve")) as f:
        default = f.read()

    corpus = build_corpus(args.messages, args.seed)
    env = sieve_helpers.SieveEnv(
        suppliers=supplier_csv(args.suppliers, args.seed))
    try:
        with harness.Dovecot(plugin=env.plugin_settings(), mail_plugins=[],
                             doveadm_modules=[], protocols=("lmtp",),
                             extra_conf=env.lmtp_conf(),
                             name="tresor-bench") as dc:
            status, extra = run(args, env, dc, default, corpus)
        if status == 0 and args.lmtp > 0:
            lmtp_check(args, env, default, corpus, extra)
        return status
    finally:
        env.cleanup()


def lmtp_check(args, env, default, corpus, sieve_test_extra):
    """Ordinary mails delivered by LMTP: default script with the plugin
    against stock Sieve (no sieve_plugins, the baseline script)."""
    letters = [m for cat, _, m in corpus if cat == "ordinary"]
    if not letters:
        return
    warm = 10
    mails = (letters * (1 + (args.lmtp + warm) // len(letters)))
    mails = mails[:args.lmtp + warm]
    stock = dict(env.plugin_settings())
    for k in list(stock):
        if k.startswith("sieve_") or k.startswith("tresor_"):
            del stock[k]
    stock["sieve"] = env.script("bench-stock", baseline_script(
        default, {"invoice": False}))
    tresor = dict(env.plugin_settings(), sieve=env.script("bench-lmtp",
                                                          default))
    times = {True: [], False: []}
    print()
    print("LMTP cross-check: %d ordinary mails per run over one connection "
          "(after %d to warm up), a fresh Dovecot per run" % (args.lmtp,
                                                              warm))
    for r in range(args.rounds):
        for with_tresor in ([True, False] if r % 2 == 0 else [False, True]):
            with harness.Dovecot(plugin=tresor if with_tresor else stock,
                                 mail_plugins=[], doveadm_modules=[],
                                 protocols=("lmtp",),
                                 extra_conf=env.lmtp_conf(),
                                 name="tresor-bench") as dc:
                rcpt = "bench%d@example.com" % r
                deliver_parallel(dc, rcpt, mails[:warm], 1)
                t = deliver_parallel(dc, rcpt, mails[warm:], 1)
            times[with_tresor].append(t * 1000 / args.lmtp)
            print("round %d %-12s %.2f ms per delivery" % (
                r + 1, "tresor" if with_tresor else "stock Sieve",
                times[with_tresor][-1]))
    t, p = median(times[True]), median(times[False])
    print("LMTP ordinary mail: stock Sieve %.2f ms, default script with "
          "the plugin %.2f ms per delivery (ratio %.2f); of the difference "
          "%+.2f ms is the analysis (sieve-test above), the rest setting up "
          "the extension, which Pigeonhole does anew for every delivery"
          % (p, t, t / p, sieve_test_extra))
    print("LMTP ordinary mail      extra %+.2f ms per mail <= 1 ms: %s "
          "(for information: counts the plugin load; the targets above "
          "compare script against script)"
          % (t - p, "MET" if t - p <= 1.0 else "NOT MET"))


def run(args, env, dc, default, corpus):
    cats = dict(CATEGORIES)
    counts = {c: 0 for c in cats}
    for cat, _, _ in corpus:
        counts[cat] += 1
    size = sum(len(m) for _, _, m in corpus)
    print("corpus: %d mails, %.1f MB (%s); supplier file: %d entries; "
          "seed %d" % (len(corpus), size / 1e6,
                       ", ".join("%d %s" % (counts[c], c) for c in cats),
                       args.suppliers + len(TEST_SUPPLIERS) +
                       len(mailgen.COMPANIES), args.seed))
    print("machine: %s; sieve-test %s" % (machine(), sieve_test_version()))
    print("method: sieve-test takes one mail per invocation, so each mail "
          "is run once per round through the default script (with) and "
          "through the same script with the extension's answers written in "
          "(without), back to back, alternating which goes first; extra = "
          "median over a category's mails x rounds of time(with) - "
          "time(without). Both use the same configuration with "
          "sieve_plugins = sieve_tresor loaded; wall time, CPU time "
          "(user+sys of sieve-test and the tresor-extract it ran) beside.")

    # ---- check every mail once (also warms caches and compiles scripts)
    default_path = env.script("bench-default", default)
    baselines = {}
    items = []  # (category, label, mail path, baseline path)
    verdicts = {c: {} for c in cats}
    problems = 0
    for i, (cat, label, raw) in enumerate(corpus):
        path = env.mail_file(raw, "bench-%05d.eml" % i)
        rc, out = env.sieve_test(dc.conf_path, sieve_helpers.DEBUG_SCRIPT,
                                 path)
        res = sieve_helpers.parse_debug(out)
        key = res.get("verdict") or "not an invoice"
        if res.get("invoice") and res.get("einvoice"):
            key += " (%s)" % res.get("format")
        verdicts[cat][key] = verdicts[cat].get(key, 0) + 1
        expect_invoice = cat not in ("ordinary", "letter-pdf")
        expect_einvoice = cat.startswith("einvoice") or cat == "pdf-xml-invoice"
        if (bool(res.get("invoice")) != expect_invoice or
                (expect_einvoice and not res.get("einvoice"))):
            problems += 1
            print("CHECK: mail %d (%s, %s) analysed as %r" % (i, cat, label,
                                                              res))
        text = baseline_script(default, res)
        if text not in baselines:
            baselines[text] = env.script("bench-baseline-%d" % len(baselines),
                                         text)
        base = baselines[text]
        rc1, out1 = env.sieve_test(dc.conf_path, default_path, path)
        rc2, out2 = env.sieve_test(dc.conf_path, base, path)
        a1, a2 = actions(out1), actions(out2)
        if rc1 != 0 or rc2 != 0 or a1 is None or a1 != a2:
            problems += 1
            print("CHECK: mail %d (%s, %s): with and without differ:\n"
                  "--- with (exit %d)\n%s\n--- without (exit %d)\n%s"
                  % (i, cat, label, rc1, out1, rc2, out2))
        items.append((cat, label, path, base))
    if problems:
        print("%d problems found; not timed" % problems)
        return 1, None
    print("checked: every mail analysed as its category expects, both "
          "scripts perform the same actions (%d baseline variants)"
          % len(baselines))
    for cat, desc in CATEGORIES:
        print("  %-16s %s" % (cat, ", ".join(
            "%s: %d" % kv for kv in sorted(verdicts[cat].items()))))

    # ---- timing
    rng = random.Random(args.seed)
    cmd = ["sieve-test", "-c", dc.conf_path]
    noplugin = cmd + ["-o", "plugin/sieve_plugins=",
                      "-o", "plugin/sieve_extensions=+vnd.dovecot.debug"]
    diffs = {c: [] for c in cats}
    cpu_diffs = {c: [] for c in cats}
    walls = {c: ([], []) for c in cats}
    load_diffs = []
    for r in range(args.rounds):
        order = list(range(len(items)))
        rng.shuffle(order)
        start = time.monotonic()
        for j, idx in enumerate(order):
            cat, label, path, base = items[idx]
            runs = [("with", default_path), ("without", base)]
            if (r + j) % 2:
                runs.reverse()
            got = {}
            for which, script in runs:
                wall, cpu, rc = timed(cmd + [script, path])
                if rc != 0:
                    raise RuntimeError("sieve-test %s %s: exit %d"
                                       % (script, path, rc))
                got[which] = (wall, cpu)
            diffs[cat].append(got["with"][0] - got["without"][0])
            cpu_diffs[cat].append(got["with"][1] - got["without"][1])
            walls[cat][0].append(got["without"][0])
            walls[cat][1].append(got["with"][0])
            if cat == "ordinary":
                # for information: the plugin loaded but unused, against
                # not loaded at all (same baseline script)
                pair = [cmd, noplugin]
                if (r + j) % 2:
                    pair.reverse()
                t = {}
                for c in pair:
                    wall, _, rc = timed(c + [base, path])
                    if rc != 0:
                        raise RuntimeError("sieve-test without plugin: "
                                           "exit %d" % rc)
                    t[c is cmd] = wall
                load_diffs.append(t[True] - t[False])
        print("round %d: %d mails x 2 scripts in %.1f s"
              % (r + 1, len(items), time.monotonic() - start))

    # ---- summary
    print()
    print("%-44s %5s %9s %9s %9s %19s %9s" % (
        "category (pairs = mails x rounds)", "pairs", "without", "with",
        "extra", "95% CI of extra", "cpu extra"))
    results = {}
    for cat, desc in CATEGORIES:
        if not diffs[cat]:
            continue
        m, lo, hi = median_ci(diffs[cat])
        results[cat] = (m, lo, hi)
        ci = ("%+.2f .. %+.2f" % (lo, hi)) if lo is not None else "-"
        print("%-44s %5d %6.2f ms %6.2f ms %+6.2f ms %19s %+6.2f ms" % (
            desc, len(diffs[cat]), median(walls[cat][0]),
            median(walls[cat][1]), m, ci, median(cpu_diffs[cat])))
    print("(without/with: median wall time of one sieve-test run; extra: "
          "median of the paired differences, wall time; ratio with/without "
          "of the medians: %s)" % ", ".join(
              "%s %.2f" % (cat, median(walls[cat][1]) /
                           median(walls[cat][0]))
              for cat, _ in CATEGORIES if walls[cat][0]))
    if load_diffs:
        m, lo, hi = median_ci(load_diffs)
        print("for information: loading the plugin (sieve_plugins = "
              "sieve_tresor) costs %+.2f ms per sieve-test process "
              "(95%% CI %+.2f .. %+.2f, %d pairs, ordinary mail, script not "
              "using it; not part of the extra above)"
              % (m, lo, hi, len(load_diffs)))
    print()
    for cat, target in TARGETS.items():
        if cat not in results:
            print("%s: no mails" % cat)
            continue
        m, lo, hi = results[cat]
        met = m <= target
        print("target %-13s extra %+.2f ms per mail <= %g ms: %s%s" % (
            cat, m, target, "MET" if met else "NOT MET",
            "" if hi is None or (hi <= target) == met else
            " (the 95%% CI reaches %+.2f ms)" % (hi if met else lo)))
    return 0, results.get("ordinary", (0.0,))[0]


def sieve_test_version():
    try:
        p = subprocess.run(["dovecot", "--version"], capture_output=True,
                           text=True, timeout=10)
        return "of Dovecot " + p.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "(version unknown)"


if __name__ == "__main__":
    sys.exit(main())
