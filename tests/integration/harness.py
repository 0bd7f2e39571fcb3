"""A throwaway Dovecot for integration tests, demos and benchmarks.

    from harness import Dovecot
    with Dovecot(plugin={"tresor_archive": "Archiv Archiv/*"}) as dc:
        c = dc.imap("alice")
        dc.lmtp_deliver("alice@example.com", msg_bytes)
        rc, out, err = dc.doveadm("tresor", "verify", "-u", "alice")
        records = dc.journal("alice")

Everything lives in one temporary directory: the configuration (never
/etc/dovecot), base_dir, state_dir, the log, the users' homes and a module
directory holding symlinks to Debian's mail plugins plus the freshly built
ones. Dovecot listens on 127.0.0.1 only, on free high ports.

doveadm loads its plugins only from /usr/lib/dovecot/modules/doveadm, so
the built doveadm plugins are symlinked there while at least one harness
is running and removed (anything that was there before restored) when the
last one stops - also after an exception (context manager, atexit,
SIGTERM/SIGHUP).

Needs root (CI runs as root): Dovecot must switch to dovenull and read the
test's files. Python 3.11 standard library only.
"""

import atexit
import fcntl
import glob
import hashlib
import imaplib
import json
import os
import pwd
import grp
import re
import shlex
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import conf24

# The mailbox format the test Dovecots use (TRESOR_MAIL_FORMAT; tests/
# integration/run --format): mbox is laid out as Debian's default
# (mbox:~/mail:INBOX=/var/mail/%u, with the INBOX file in a var/mail/ of
# the test's own).
MAIL_FORMATS = ("maildir", "mbox", "sdbox", "mdbox")
MAIL_FORMAT = os.environ.get("TRESOR_MAIL_FORMAT", "maildir")
if MAIL_FORMAT not in MAIL_FORMATS:
    raise SystemExit("TRESOR_MAIL_FORMAT=%s: not one of %s"
                     % (MAIL_FORMAT, ", ".join(MAIL_FORMATS)))

HOST = "127.0.0.1"
PASSWORD = "pass"
DOVECOT_MODULE_DIR = "/usr/lib/dovecot/modules"
DOVEADM_MODULE_DIR = os.path.join(DOVECOT_MODULE_DIR, "doveadm")
MAIL_USER = "dovenull"

SRCDIR = os.environ.get("TRESOR_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
# (absolute: it ends up in Dovecot's settings, such as tresor_extract)
BUILDDIR = os.path.abspath(os.environ.get("TRESOR_BUILDDIR") or
                           os.path.join(SRCDIR, "build"))

SETTINGS_MODULE_DIR = os.path.join(DOVECOT_MODULE_DIR, "settings")

# A line of Dovecot's log saying a process crashed or gave up.
CRASH_RE = re.compile(r"Panic:|Fatal:|killed with signal|killed by signal|"
                      r"Segmentation fault|core dumped|Out of memory")


def dovecot_version():
    """(major, minor) of the installed Dovecot; (0, 0) when there is none."""
    try:
        out = subprocess.run(["dovecot", "--version"], capture_output=True,
                             timeout=30).stdout.decode()
    except OSError:
        return (0, 0)
    m = re.match(r"(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


# Dovecot 2.4 (Debian 13) takes another configuration (conf24.py)
DOVECOT24 = dovecot_version() >= (2, 4)

TRESOR_MAIL_PLUGIN = "lib01_tresor_plugin.so"
TRESOR_DOVEADM_PLUGIN = "lib10_doveadm_tresor_plugin.so"
TRESOR_FTS_PLUGIN = "lib21_fts_tresor_plugin.so"
# 2.4's config process knows the tresor_* settings from this module
TRESOR_SETTINGS_MODULE = "lib01_tresor_settings.so"

# TRESOR_INSTALLED=1: test the installed package (make install, or the
# Debian package) instead of a build tree. Plugins and tresor-extract are
# then taken from Dovecot's directories, and the doveadm plugin is already
# where doveadm loads it (nothing is linked).
INSTALLED = os.environ.get("TRESOR_INSTALLED", "") not in ("", "0")
INSTALLED_EXTRACT = "/usr/lib/dovecot/tresor-extract"
_INSTALLED_SUBDIR = {TRESOR_DOVEADM_PLUGIN: "doveadm",
                     "lib90_sieve_tresor_plugin.so": "sieve",
                     TRESOR_SETTINGS_MODULE: "settings"}

# TRESOR_SANITIZE=1 (the default when BUILDDIR was configured with
# --enable-sanitizers): the plugins and tresor-extract carry ASan + UBSan,
# Dovecot's own programs don't. ASan must be loaded before any instrumented
# library, so the Dovecot programs that load our plugins run with the ASan
# and UBSan runtimes in LD_PRELOAD (dovecot passes it on to its children
# through import_environment), and ASAN_OPTIONS/UBSAN_OPTIONS send every
# report to a file in SANITIZER_LOG_DIR (for UBSan with the help of
# tests/sanitizer/ubsan-log-path.c), which tests/integration/run checks
# after each test. See enable_sanitizers().
SANITIZED_PROGRAMS = ("dovecot", "doveadm", "doveconf", "sieve-test", "sievec")
SANITIZER_ENV = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")
# Dovecot's default import_environment, which setting it replaces.
DOVECOT_IMPORT_ENVIRONMENT = ("TZ CORE_OUTOFMEM CORE_ERROR LISTEN_PID "
                              "LISTEN_FDS NOTIFY_SOCKET")
SANITIZER_LOG_DIR = None  # set by enable_sanitizers()
SANITIZER_PRELOAD = None  # LD_PRELOAD for programs started by path
DOVECOT_LDA = "/usr/lib/dovecot/dovecot-lda"

IMAP_TIMEOUT = 60
LMTP_TIMEOUT = 60
DOVEADM_TIMEOUT = 120
START_TIMEOUT = 20
STOP_GRACE = 1.5


class HarnessError(Exception):
    """The test environment could not be set up (not a product failure
    in itself, but a test run that can't proceed must fail, not skip)."""


# --------------------------------------------------------------------------
# preconditions


def skip_reason():
    """Why the integration tests can't run here at all (they are then
    skipped), or None."""
    if os.geteuid() != 0:
        return ("integration tests need root (Dovecot must switch to the "
                "dovenull user and doveadm plugins go to %s); run them as "
                "root" % DOVEADM_MODULE_DIR)
    if shutil.which("dovecot") is None or shutil.which("doveadm") is None:
        return "dovecot/doveadm not installed (apt-get install dovecot-core dovecot-imapd dovecot-lmtpd)"
    try:
        pwd.getpwnam(MAIL_USER)
    except KeyError:
        return "user %s does not exist (it comes with dovecot-core)" % MAIL_USER
    return None


def sanitizer_build(builddir=None):
    """Whether builddir was configured with --enable-sanitizers."""
    try:
        with open(os.path.join(builddir or BUILDDIR, "Makefile")) as f:
            makefile = f.read()
    except OSError:
        return False
    return re.search(r"(?m)^CFLAGS = .*-fsanitize=address", makefile) is not None


def sanitize_wanted():
    """TRESOR_SANITIZE=1/0 if set, else whether BUILDDIR is a sanitizer
    build (never for TRESOR_INSTALLED=1 unless asked for)."""
    value = os.environ.get("TRESOR_SANITIZE")
    if value is not None:
        return value not in ("", "0")
    return not INSTALLED and sanitizer_build()


def sanitizer_runtimes():
    """Paths of the ASan and UBSan runtimes the build links against:
    $TRESOR_SANITIZER_PRELOAD (space-separated), else what gcc (or $CC)
    names. libtool links the plugins without them (-nostdlib)."""
    paths = os.environ.get("TRESOR_SANITIZER_PRELOAD", "").split()
    if not paths:
        cc = os.environ.get("CC", "gcc")
        for lib in ("libasan.so", "libubsan.so"):
            try:
                paths.append(subprocess.run(
                    [cc, "-print-file-name=" + lib], capture_output=True,
                    text=True, timeout=30).stdout.strip())
            except (OSError, subprocess.SubprocessError) as e:
                raise HarnessError("can't ask %s for %s: %s" % (cc, lib, e))
    paths = [os.path.realpath(p) for p in paths]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise HarnessError("sanitizer runtime(s) %s not found (set "
                           "TRESOR_SANITIZER_PRELOAD)" % ", ".join(missing))
    return paths


def enable_sanitizers(log_dir):
    """From now on, SANITIZED_PROGRAMS started by name (by the harness or a
    test) load the ASan and UBSan runtimes first: wrappers that set
    LD_PRELOAD come first in PATH. Other programs (openssl, xapian-check,
    ...) are left alone. Sanitizer reports of every process go to log_dir,
    made writable for Dovecot's unprivileged processes. Dovecot doesn't
    free everything at exit: no leak checking."""
    global SANITIZER_LOG_DIR
    os.makedirs(log_dir, exist_ok=True)
    os.chmod(log_dir, 0o1777)
    # ':' between the libraries, not ' ': Dovecot 2.4's master splits
    # its import_environment at spaces (after the config process expanded
    # %{env:LD_PRELOAD}), which would keep only the first library
    preload = ":".join(dict.fromkeys(sanitizer_runtimes() + [
        p for p in re.split(r"[\s:]+", os.environ.get("LD_PRELOAD", "")) if p]))
    # report options only; the -fno-sanitize-recover build ends the process
    os.environ["ASAN_OPTIONS"] = ":".join([
        "log_path=%s/asan" % log_dir, "detect_leaks=0",
        "abort_on_error=0", "disable_coredump=1",
        # a test Dovecot runs dozens of processes: a smaller quarantine
        "quarantine_size_mb=32", "malloc_context_size=20"])
    os.environ["UBSAN_OPTIONS"] = ":".join([
        "log_path=%s/ubsan" % log_dir, "print_stacktrace=1",
        "halt_on_error=1"])
    bin_dir = tempfile.mkdtemp(prefix="tresor-sanitizer-bin-")
    atexit.register(shutil.rmtree, bin_dir, True)
    for name in SANITIZED_PROGRAMS:
        real = shutil.which(name)
        if real is None:
            continue
        wrapper = os.path.join(bin_dir, name)
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nLD_PRELOAD=%s exec %s \"$@\"\n"
                    % (shlex.quote(preload), shlex.quote(real)))
        os.chmod(wrapper, 0o755)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    SANITIZER_LOG_DIR = log_dir
    global SANITIZER_PRELOAD
    SANITIZER_PRELOAD = preload
    return preload


def sanitizers_enabled():
    """Whether enable_sanitizers() ran: the plugins run instrumented, with
    no vsz_limit (ASan needs terabytes of address space)."""
    return SANITIZER_LOG_DIR is not None


def sanitizer_reports(log_dir=None, seen=()):
    """Report files in log_dir not in seen, sorted, as (path, text); waits
    (up to 10 s) for the process writing a report to end, so that the
    text is complete."""
    log_dir = log_dir or SANITIZER_LOG_DIR
    if not log_dir or not os.path.isdir(log_dir):
        return []
    out = []
    for path in sorted(glob.glob(os.path.join(log_dir, "*"))):
        if path in seen or not os.path.isfile(path):
            continue
        pid = path.rsplit(".", 1)[-1]
        deadline = time.time() + 10
        while pid.isdigit() and pid_alive(int(pid)) and time.time() < deadline:
            time.sleep(0.1)
        with open(path, "rb") as f:
            out.append((path, f.read().decode("utf-8", "replace")))
    return out


def built_plugin(name, builddir=None):
    """Path of a plugin built by libtool in builddir/.libs (the installed
    one with TRESOR_INSTALLED=1)."""
    if INSTALLED:
        return os.path.join(DOVECOT_MODULE_DIR,
                            _INSTALLED_SUBDIR.get(name, ""), name)
    return os.path.join(builddir or BUILDDIR, ".libs", name)


def extract_path(builddir=None):
    """Path of the tresor-extract helper in builddir (the installed one
    with TRESOR_INSTALLED=1)."""
    if INSTALLED:
        return INSTALLED_EXTRACT
    return os.path.join(builddir or BUILDDIR, "tresor-extract")


def require_built(*names, builddir=None):
    """Paths of the built plugins; HarnessError naming every missing one."""
    paths = [built_plugin(n, builddir) for n in names]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing and INSTALLED:
        raise HarnessError("installed plugin(s) missing: %s (TRESOR_INSTALLED"
                           "=1: is dovecot-tresor installed?)"
                           % ", ".join(missing))
    if missing:
        raise HarnessError(
            "built plugin(s) missing: %s - build first (scripts/check, or "
            "mkdir build && cd build && ../configure && make) and point "
            "TRESOR_BUILDDIR at the build directory (now %s)"
            % (", ".join(missing), builddir or BUILDDIR))
    return paths


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


def descendants(pid):
    """All processes below pid (by parent links in /proc)."""
    children = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(
                int(stat.split("/")[2]))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def crlf(data):
    """Every LF not preceded by CR becomes CRLF, as in IMAP FETCH BODY[]
    (a lone CR stays as it is)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------
# doveadm plugin directory: shared by concurrent harnesses (reference
# counted by pid under a lock), restored when the last one leaves.

_LINK_STATE_DIR = "/run/dovecot-tresor-test"


class _ModuleLinks:
    """Symlinks to built modules in the directories Dovecot loads some
    from whatever the configuration says (doveadm's plugins; 2.4's settings
    modules), counted across test processes and undone by the last."""

    def __init__(self):
        # (name, directory) of the links this process holds a reference on
        self.linked = []

    def _lock(self):
        os.makedirs(_LINK_STATE_DIR, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(_LINK_STATE_DIR, "lock"),
                     os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def _state(self, name):
        path = os.path.join(_LINK_STATE_DIR, name + ".json")
        try:
            with open(path) as f:
                st = json.load(f)
        except (OSError, ValueError):
            st = {"users": [], "saved": None}
        st["users"] = [p for p in st["users"] if pid_alive(p)]
        return path, st

    @staticmethod
    def _save(path, st):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(st, f)
        os.rename(tmp, path)

    def add(self, src, module_dir=DOVEADM_MODULE_DIR):
        name = os.path.basename(src)
        dest = os.path.join(module_dir, name)
        if os.path.dirname(os.path.abspath(src)) == module_dir:
            return  # installed: already where Dovecot loads it
        os.makedirs(module_dir, exist_ok=True)
        backup = os.path.join(module_dir,
                              "." + name + ".saved-by-tresor-test")
        fd = self._lock()
        try:
            path, st = self._state(name)
            if not st["users"]:
                # First user: remember what was there (a left-over of a
                # killed run is recognisable by the saved marker).
                if st.get("saved") is None:
                    if os.path.lexists(dest):
                        os.rename(dest, backup)
                        st["saved"] = backup
                    else:
                        st["saved"] = ""
                elif os.path.lexists(dest):
                    os.unlink(dest)
            if os.path.realpath(dest) != os.path.realpath(src):
                if os.path.lexists(dest):
                    os.unlink(dest)
                os.symlink(os.path.abspath(src), dest)
            if os.getpid() not in st["users"]:
                st["users"].append(os.getpid())
            self._save(path, st)
            if (name, module_dir) not in self.linked:
                self.linked.append((name, module_dir))
        finally:
            os.close(fd)

    def release_all(self):
        if not self.linked:
            return
        fd = self._lock()
        try:
            for name, module_dir in self.linked:
                dest = os.path.join(module_dir, name)
                path, st = self._state(name)
                st["users"] = [p for p in st["users"] if p != os.getpid()]
                if not st["users"]:
                    if os.path.lexists(dest):
                        os.unlink(dest)
                    if st.get("saved"):
                        if os.path.lexists(st["saved"]):
                            os.rename(st["saved"], dest)
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
                else:
                    self._save(path, st)
            self.linked = []
        finally:
            os.close(fd)


_links = _ModuleLinks()
_running = []  # Dovecot instances not yet stopped
_registry_lock = threading.Lock()


def running_instances():
    with _registry_lock:
        return list(_running)


def cleanup_all():
    """Stops every Dovecot this process started and restores the doveadm
    module directory. Safe to call more than once."""
    for dc in running_instances():
        try:
            dc.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
    try:
        _links.release_all()
    except Exception:  # noqa: BLE001
        pass


atexit.register(cleanup_all)


def _on_signal(signum, frame):
    cleanup_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


for _sig in (signal.SIGTERM, signal.SIGHUP):
    try:
        if signal.getsignal(_sig) in (signal.SIG_DFL, None):
            signal.signal(_sig, _on_signal)
    except (ValueError, OSError):  # not the main thread
        pass


# --------------------------------------------------------------------------
# IMAP helpers


class IMAPResult:
    """Outcome of one IMAP command: status ("OK"/"NO"/"BAD"), the tagged
    text, every untagged line received meanwhile (raw bytes, without
    "* "; a literal's bytes are inlined), and the literals separately as
    (text of the line before the literal, literal bytes)."""

    def __init__(self, status, text, untagged, literals=()):
        self.status = status
        self.text = text
        self.untagged = untagged
        self.literals = list(literals)

    def untagged_no(self):
        return [u for u in self.untagged if re.match(rb"(?i)NO\b", u)]

    def __repr__(self):
        return "IMAPResult(%s %r, untagged=%r)" % (
            self.status, self.text, [u[:200] for u in self.untagged])


class IMAPClient(imaplib.IMAP4):
    """imaplib.IMAP4 plus cmd(), a raw command helper that keeps the
    tagged status text and the untagged lines (CLOSE reports failures
    untagged, MOVE sends COPYUID untagged), and helpers built on it that
    never confuse unsolicited responses with the answer."""

    def cmd(self, line):
        """Runs one command given as the text after the tag, e.g.
        'UID MOVE 3 INBOX'. Literals in the command are not supported
        (use append_msg())."""
        if isinstance(line, str):
            line = line.encode("utf-8")
        tag = self._new_tag()
        self.send(tag + b" " + line + b"\r\n")
        return self._response(tag, line)

    def _response(self, tag, line):
        """Reads up to the tagged answer to the command `line` (bytes,
        without the tag) sent as `tag`."""
        untagged, literals = [], []
        while True:
            resp = self._get_line()
            if resp.startswith(tag + b" "):
                rest = resp[len(tag) + 1:]
                status, _, text = rest.partition(b" ")
                status = status.decode().upper()
                verb = line.split(b" ", 1)[0].upper()
                if status == "OK" and verb in (b"SELECT", b"EXAMINE"):
                    self.state = "SELECTED"
                elif verb in (b"CLOSE", b"UNSELECT") or (
                        verb in (b"SELECT", b"EXAMINE") and status != "OK"):
                    self.state = "AUTH"
                return IMAPResult(status, text.decode("utf-8", "replace"),
                                  untagged, literals)
            if resp.startswith(b"* "):
                full = resp
                while True:
                    lit = re.search(rb"\{(\d+)\}$", resp)
                    if not lit:
                        break
                    data = self.read(int(lit.group(1)))
                    literals.append((full[2:], data))
                    resp = self._get_line()
                    full += b"\r\n" + data + resp
                untagged.append(full[2:])
            # continuation requests are not expected here

    def create_with_parents(self, mailbox):
        """CREATEs a folder ("/"-separated) and its parents so that the
        parents can hold folders: mbox makes a folder either a mail file
        or a directory. Dovecot 2.3 makes a directory of "CREATE name/";
        2.4 makes a file of that too, but creates the missing parents of
        "CREATE a/b" as directories: there the folder comes first, and
        the parents after it are mailboxes of their own (other formats)
        or exist already (mbox). Returns the folder's CREATE result."""
        parts = mailbox.split("/")
        parents = ["/".join(parts[:i]) for i in range(1, len(parts))]
        if DOVECOT24:
            res = self.cmd("CREATE %s" % quote(mailbox))
            for name in parents:
                self.cmd("CREATE %s" % quote(name))
            return res
        for name in parents:
            self.cmd("CREATE %s" % quote(name + "/"))
        return self.cmd("CREATE %s" % quote(mailbox))

    def select_box(self, mailbox, readonly=False):
        res = self.cmd("%s %s" % ("EXAMINE" if readonly else "SELECT",
                                  quote(mailbox)))
        if res.status != "OK":
            raise AssertionError("SELECT %s failed: %r" % (mailbox, res))
        return res

    def append_msg(self, mailbox, msg, flags=None):
        """APPEND; returns (status, text, uidvalidity, uid) with the
        APPENDUID values (None when absent)."""
        typ, data = self.append(quote(mailbox),
                                "(%s)" % " ".join(flags) if flags else None,
                                None, crlf(msg))
        text = b" ".join(d for d in data if isinstance(d, bytes)).decode(
            "utf-8", "replace")
        m = re.search(r"\[APPENDUID (\d+) (\d+)\]", text)
        if m:
            return typ, text, int(m.group(1)), int(m.group(2))
        return typ, text, None, None

    def multiappend(self, mailbox, msgs):
        """MULTIAPPEND (RFC 3502): several mails in one APPEND command, as
        non-synchronising literals (LITERAL+); returns the IMAPResult."""
        tag = self._new_tag()
        line = tag + b" APPEND " + quote(mailbox).encode("utf-8")
        for msg in msgs:
            msg = crlf(msg)
            line += b" {%d+}\r\n" % len(msg) + msg
        self.send(line + b"\r\n")
        return self._response(tag, b"APPEND")

    def uids(self, mailbox=None):
        if mailbox is not None:
            self.select_box(mailbox, readonly=True)
        res = self.cmd("UID SEARCH ALL")
        assert res.status == "OK", res
        for u in res.untagged:
            if u.upper().startswith(b"SEARCH"):
                return [int(x) for x in u.split()[1:]]
        return []

    def fetch_body(self, uid):
        """BODY.PEEK[] of one UID of the selected mailbox, exactly as sent."""
        res = self.cmd("UID FETCH %d (BODY.PEEK[])" % uid)
        assert res.status == "OK", res
        for prefix, data in res.literals:
            if re.search(rb"\bUID %d\b" % uid, prefix) and b"BODY[]" in prefix:
                return data
        raise AssertionError("no BODY[] for UID %s: %r" % (uid, res))

    def fetch_flags(self, uid):
        """The flags of one UID of the selected mailbox (a set of str)."""
        res = self.cmd("UID FETCH %d (FLAGS)" % uid)
        assert res.status == "OK", res
        for u in res.untagged:
            if re.search(rb"\bUID %d\b" % uid, u):
                m = re.search(rb"FLAGS \(([^)]*)\)", u)
                if m:
                    return set(m.group(1).decode().split())
        raise AssertionError("no FLAGS for UID %s: %r" % (uid, res))

    def bodies(self, mailbox):
        """{uid: BODY[]} of every mail in mailbox (EXAMINE, no side
        effects)."""
        out = {}
        for uid in self.uids(mailbox):
            out[uid] = self.fetch_body(uid)
        return out

    def close_quietly(self):
        try:
            self.logout()
        except Exception:  # noqa: BLE001
            try:
                self.shutdown()
            except Exception:  # noqa: BLE001
                pass


def option_args(options):
    """-o K=V arguments for doveadm, sieve-test and the like from settings
    given in 2.3's terms ({"plugin/NAME": V, "mail_location": L, ...})."""
    options = options or {}
    if DOVECOT24:
        return conf24.option_args(options)
    args = []
    for k, v in options.items():
        args += ["-o", "%s=%s" % (k, v)]
    return args


def protocol_mail_plugins_conf(protocol, names):
    """Configuration text adding mail plugins for one protocol."""
    if DOVECOT24:
        return conf24.protocol_mail_plugins(protocol, names)
    return "protocol %s {\n  mail_plugins = $mail_plugins %s\n}\n" % (
        protocol, " ".join(names))


def userdb_passwd_file_conf(path):
    """A passwd-file userdb (one that can list its users, for -A)."""
    if DOVECOT24:
        return conf24.block("userdb passwd-file", {"passwd_file_path": path})
    return "userdb {\n  driver = passwd-file\n  args = %s\n}\n" % path


def quote(mailbox):
    return '"%s"' % mailbox.replace("\\", "\\\\").replace('"', '\\"')


# --------------------------------------------------------------------------


class Dovecot:
    """One throwaway Dovecot.

    plugin        dict of plugin { } settings
    mail_plugins  mail plugin names after $mail_plugins (default: ["tresor"],
                  with lazy_expunge=True ["lazy_expunge", "tresor"])
    lazy_expunge  load lazy_expunge (plugin { lazy_expunge = EXPUNGED }, a
                  mailbox EXPUNGED with autoexpunge; the ".EXPUNGED" of
                  Dovecot's docs is no valid name with Maildir++)
    mailboxes     {name: {setting: value}} entries of the inbox namespace
    extra_modules built mail plugin .so files to offer next to Debian's
                  (the built tresor / FTS backend plugin is added when
                  "tresor" / "fts_tresor" is among mail_plugins)
    doveadm_modules built doveadm plugin .so files to link into
                  /usr/lib/dovecot/modules/doveadm (default: the tresor one
                  when "tresor" is among mail_plugins)
    protocols     Dovecot protocols (listeners are made for imap and lmtp)
    settings      extra top-level settings {name: value}
    mail_format   maildir, mbox, sdbox or mdbox (default: MAIL_FORMAT)
    separator     the inbox namespace's hierarchy separator; None sets
                  none, as Debian's configuration (maildir then uses '.')
    extra_conf    raw text appended to the configuration
    """

    def __init__(self, plugin=None, mail_plugins=None, lazy_expunge=False,
                 mailboxes=None, extra_modules=None, doveadm_modules=None,
                 protocols=("imap", "lmtp"), settings=None, extra_conf="",
                 builddir=None, name="tresor-it", mail_format=None,
                 separator="/"):
        self.builddir = builddir or BUILDDIR
        self.mail_format = mail_format or MAIL_FORMAT
        self.separator = separator
        self.name = name
        self.plugin = dict(plugin or {})
        self.lazy_expunge = lazy_expunge
        if mail_plugins is None:
            mail_plugins = ["tresor"]
            if lazy_expunge:
                mail_plugins = ["lazy_expunge", "tresor"]
        self.mail_plugins = list(mail_plugins)
        self.mailboxes = dict(mailboxes or {})
        self.extra_modules = list(extra_modules or [])
        if "tresor" in self.mail_plugins:
            self.extra_modules.append(
                built_plugin(TRESOR_MAIL_PLUGIN, self.builddir))
        if "fts_tresor" in self.mail_plugins:
            self.extra_modules.append(
                built_plugin(TRESOR_FTS_PLUGIN, self.builddir))
        if doveadm_modules is None:
            doveadm_modules = []
            if "tresor" in self.mail_plugins:
                doveadm_modules = [
                    built_plugin(TRESOR_DOVEADM_PLUGIN, self.builddir)]
        self.doveadm_modules = list(doveadm_modules)
        self.protocols = list(protocols)
        self.settings = dict(settings or {})
        self.extra_conf = extra_conf
        self.tmp = None
        self.ports = {}
        self.master_pid = None
        self._clients = []
        self._log_mark = 0
        self.missing_doveadm = []

    # ---------------------------------------------------------- paths
    @property
    def conf_path(self):
        return os.path.join(self.tmp, "dovecot.conf")

    @property
    def log_path(self):
        return os.path.join(self.tmp, "dovecot.log")

    @property
    def base_dir(self):
        return os.path.join(self.tmp, "run")

    @property
    def config_socket(self):
        """The running Dovecot's config socket: `doveadm -c` with it gets
        the parsed configuration from there, as a root doveadm without -c
        does from the system's Dovecot, instead of running doveconf."""
        return os.path.join(self.base_dir, "config")

    @property
    def imap_port(self):
        return self.ports.get("imap")

    @property
    def lmtp_port(self):
        return self.ports.get("lmtp")

    def home(self, user):
        return os.path.join(self.tmp, "home", user)

    def tresor_dir(self, user):
        """The user's tresor_dir as configured ("~/" and %u/%n expanded)."""
        d = self.plugin.get("tresor_dir", "~/tresor")
        d = d.replace("%u", user).replace("%n", user.split("@")[0])
        if d.startswith("~/"):
            d = os.path.join(self.home(user), d[2:])
        return d

    def remove_catalog(self, user):
        """Deletes the user's catalog (derived from the journal; rebuilt on
        next use), with its SQLite side files."""
        base = os.path.join(self.tresor_dir(user), "catalog.sqlite")
        for path in (base, base + "-wal", base + "-shm", base + "-journal"):
            # A process that just logged out may still be closing the
            # catalog and remove its side files itself.
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def journal_dir(self, user):
        return os.path.join(self.tresor_dir(user), "journal")

    def mail_location(self):
        """The mail_location of this Dovecot's format."""
        return {
            "maildir": "maildir:~/Maildir",
            "mbox": "mbox:~/mail:INBOX=%s/%%u" % self.mbox_spool_dir,
            "sdbox": "sdbox:~/sdbox",
            "mdbox": "mdbox:~/mdbox",
        }[self.mail_format]

    @property
    def mbox_spool_dir(self):
        """mbox's INBOX directory (Debian: /var/mail)."""
        return os.path.join(self.tmp, "var", "mail")

    def mail_store_paths(self, user):
        """Every file of the user's mail store that holds mail (no index,
        UID list or other state files)."""
        roots = [os.path.join(self.home(user), d)
                 for d in ("Maildir", "mail", "sdbox", "mdbox")]
        paths = []
        inbox = os.path.join(self.mbox_spool_dir, user)
        if os.path.isfile(inbox):
            paths.append(inbox)
        for root in roots:
            for d, dirs, files in os.walk(root):
                dirs[:] = [x for x in dirs if x != ".imap"]
                for f in files:
                    if (f.startswith("dovecot") or f.startswith(".")
                            or f in ("subscriptions", "maildirfolder")):
                        continue
                    if self.mail_format in ("sdbox", "mdbox") and not (
                            f.startswith("u.") or f.startswith("m.")):
                        continue
                    paths.append(os.path.join(d, f))
        return sorted(paths)

    def index_dir(self, user):
        """The root of the user's Dovecot index files (where FTS backends
        keep theirs): the mail root, for mbox its .imap directory."""
        root = {"maildir": "Maildir", "mbox": os.path.join("mail", ".imap"),
                "sdbox": "sdbox", "mdbox": "mdbox"}[self.mail_format]
        return os.path.join(self.home(user), root)

    def served_body(self, user, mailbox, uid):
        """BODY[] of a mail, fetched in a session of its own."""
        c = self.imap(user)
        try:
            c.select_box(mailbox, readonly=True)
            return c.fetch_body(uid)
        finally:
            c.close_quietly()

    def mail_region(self, user, mailbox, uid):
        """(path, start, end): where the body of the mail with this UID
        lies in the mail store's files, found by its bytes (each format
        stores the body as IMAP serves it, with LF line ends)."""
        raw = self.served_body(user, mailbox, uid)
        body = raw.split(b"\r\n\r\n", 1)[1]
        forms = [body.replace(b"\r\n", b"\n"), body]
        found = []
        for path in self.mail_store_paths(user):
            with open(path, "rb") as f:
                data = f.read()
            for form in forms:
                if not form:
                    continue
                i = data.find(form)
                if i >= 0:
                    found.append((path, i, i + len(form)))
                    break
        if len(found) != 1:
            raise AssertionError("body of UID %d in %s found %d times in "
                                 "the %s store" % (uid, mailbox, len(found),
                                                   self.mail_format))
        return found[0]

    def edit_stored_mail(self, user, mailbox, uid, edit):
        """Changes the stored body of a mail behind Dovecot's back:
        edit(body bytes) returns the new body, of the same length."""
        path, start, end = self.mail_region(user, mailbox, uid)
        with open(path, "rb") as f:
            data = f.read()
        new = edit(data[start:end])
        if len(new) != end - start or new == data[start:end]:
            raise AssertionError("edit must change the body, not its size")
        rewrite_file(path, data[:start] + new + data[end:])

    def flip_stored_byte(self, user, mailbox, uid):
        """Changes the case of one letter of a stored mail's body."""
        def flip(body):
            b = bytearray(body)
            i = next(k for k in range(len(b)) if chr(b[k]).isalpha())
            b[i] ^= 0x20
            return bytes(b)
        self.edit_stored_mail(user, mailbox, uid, flip)

    def remove_stored_mail(self, user, mailbox, uid):
        """Removes one mail from the store behind Dovecot's back: its file
        (maildir, sdbox) or its part of the mbox file. mdbox keeps many
        mails in one m.* file: unittest.SkipTest there."""
        if self.mail_format == "maildir":
            os.unlink(self.mail_file_for_uid(user, mailbox, uid))
            return
        if self.mail_format == "mdbox":
            raise unittest.SkipTest(
                "mdbox stores several mails in one m.* file and refers to "
                "them through its map index: no single file to remove")
        path, start, end = self.mail_region(user, mailbox, uid)
        if self.mail_format == "sdbox":
            # and, as whoever removes it would, resyncs the index (else
            # sdbox reports the folder corrupted and can't read the mail)
            os.unlink(path)
            rc, out, err = self.doveadm("force-resync", "-u", user, mailbox)
            if rc != 0:
                raise AssertionError("doveadm force-resync: %s" % err)
            return
        with open(path, "rb") as f:
            data = f.read()
        # from the mail's "From " line to the next one
        begin = data.rfind(b"\nFrom ", 0, start)
        begin = 0 if begin < 0 else begin + 1
        nxt = data.find(b"\nFrom ", end)
        rest = data[nxt + 1:] if nxt >= 0 else b""
        base = re.search(rb"(?m)^X-IMAPbase:[^\n]*\n", data[begin:start])
        if base and rest:
            # the first mail carries the folder's UIDVALIDITY and next UID:
            # moved on, as a careful attacker would, so that Dovecot keeps
            # every other mail's UID
            eol = rest.index(b"\n") + 1
            rest = rest[:eol] + base.group(0) + rest[eol:]
        rewrite_file(path, data[:begin] + rest)

    def plant_mail(self, user, mailbox, data):
        """Puts a mail into a folder behind the plugin's back: a file or
        an mbox entry written directly, for dbox (whose files carry
        Dovecot's own metadata) doveadm save without the tresor plugin."""
        data = data.replace(b"\r\n", b"\n")
        if self.mail_format == "maildir":
            name = "%d.M%dP%d.planted,S=%d:2," % (
                time.time(), os.getpid(), threading.get_ident() % 100000,
                len(data))
            path = os.path.join(self.maildir(user, mailbox), "cur", name)
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o600)
            chown_mail_user(path)
        elif self.mail_format == "mbox":
            if mailbox.upper() == "INBOX":
                path = os.path.join(self.mbox_spool_dir, user)
            else:
                path = os.path.join(self.home(user), "mail", mailbox)
            with open(path, "ab") as f:
                f.write(b"From planted@example.com  Mon Jan  5 10:00:00 2026\n"
                        + data + (b"" if data.endswith(b"\n") else b"\n")
                        + b"\n")
        else:
            rc, out, err = self.doveadm("save", "-u", user, "-m", mailbox,
                                        options={"mail_plugins": ""},
                                        input=data)
            if rc != 0:
                raise AssertionError("doveadm save without tresor: %s" % err)

    def maildir(self, user, mailbox="INBOX"):
        """Directory of a Maildir++ folder (namespace separator '/')."""
        root = os.path.join(self.home(user), "Maildir")
        if mailbox.upper() == "INBOX":
            return root
        return os.path.join(root, "." + mailbox.replace("/", "."))

    def served_form(self, raw):
        """The bytes IMAP's BODY[] serves for a mail saved as raw: CRLF
        line ends; mbox also ends the body with a line end (and drops the
        header fields it keeps its state in, which generated mails lack)."""
        data = crlf(raw)
        if self.mail_format == "mbox" and not data.endswith(b"\r\n"):
            data += b"\r\n"
        return data

    MBOX_STATE_LINE = re.compile(
        rb"(?im)^(Status|X-Status|X-Keywords|X-UID|X-IMAPbase|Content-Length):"
        rb"[^\n]*\n")

    def mail_content(self, data):
        """A mail file's bytes without what the store may rewrite of its
        own accord: mbox's state header lines (flags, UIDs, lengths)."""
        if self.mail_format == "mbox":
            return self.MBOX_STATE_LINE.sub(b"", data)
        return data

    def mail_files(self, user, mailbox="INBOX"):
        """Paths of the files that hold a folder's mails, sorted: maildir's
        new/ and cur/ files, the mbox file, sdbox's u.* files, mdbox's
        m.* files (which it shares with the user's other folders)."""
        if self.mail_format == "mbox":
            path = (os.path.join(self.mbox_spool_dir, user)
                    if mailbox.upper() == "INBOX"
                    else os.path.join(self.home(user), "mail", mailbox))
            return [path] if os.path.isfile(path) else []
        if self.mail_format in ("sdbox", "mdbox"):
            root = os.path.join(self.home(user), self.mail_format)
            pattern = (os.path.join(root, "mailboxes", mailbox,
                                    "dbox-Mails", "u.*")
                       if self.mail_format == "sdbox"
                       else os.path.join(root, "storage", "m.*"))
            return sorted(glob.glob(pattern))
        d = self.maildir(user, mailbox)
        files = []
        for sub in ("new", "cur"):
            p = os.path.join(d, sub)
            if os.path.isdir(p):
                files += [os.path.join(p, f) for f in os.listdir(p)
                          if not f.startswith(".")]
        return sorted(files)

    def mail_file_for_uid(self, user, mailbox, uid):
        """Maildir file of a UID, looked up in dovecot-uidlist."""
        d = self.maildir(user, mailbox)
        with open(os.path.join(d, "dovecot-uidlist"), "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        for line in lines[1:]:
            if not line or not line[0].isdigit():
                continue
            head, _, fname = line.partition(" :")
            if not fname:
                # "uid [ext...] :filename" - older form "uid filename"
                parts = line.split()
                fname = parts[-1].lstrip(":")
            if int(head.split()[0]) == uid:
                base = fname.split(":")[0]
                for path in self.mail_files(user, mailbox):
                    if os.path.basename(path).split(":")[0] == base:
                        return path
                raise AssertionError("UID %d of %s: file %s not found"
                                     % (uid, mailbox, base))
        raise AssertionError("UID %d not in %s/dovecot-uidlist" % (uid, d))

    def journal_files(self, user):
        return sorted(glob.glob(os.path.join(self.journal_dir(user),
                                             "*.jsonl")))

    def journal_lines(self, user):
        """Raw journal lines (bytes, without "\\n") in file order."""
        lines = []
        for path in self.journal_files(user):
            with open(path, "rb") as f:
                data = f.read()
            lines += data.split(b"\n")[:-1] if data.endswith(b"\n") \
                else data.split(b"\n")
        return lines

    def journal(self, user):
        """The journal records as dicts, read directly from the files."""
        return [json.loads(line) for line in self.journal_lines(user)]

    def mailbox_guid(self, user, mailbox="INBOX"):
        """The mailbox's GUID, as doveadm mailbox status gives it."""
        rc, data, err = self.doveadm_json("mailbox", "status", "-u", user,
                                          "guid", mailbox)
        if rc != 0 or not data:
            raise AssertionError("doveadm mailbox status guid %s: rc %d %s"
                                 % (mailbox, rc, err))
        return data[0]["guid"]

    # ---------------------------------------------------------- config
    def _config_text(self):
        if DOVECOT24:
            return self._config_text_24()
        return self._config_text_23()

    def _listeners(self, address_key):
        text = ""
        for proto, login in (("imap", "imap-login"), ("pop3", "pop3-login")):
            if proto in self.protocols:
                text += (
                    "service %s {\n"
                    "  inet_listener %s {\n    %s = %s\n    port = %d\n  }\n"
                    "  inet_listener %ss {\n    port = 0\n  }\n"
                    "}\n" % (login, proto, address_key, HOST,
                              self.ports[proto], proto))
        if "lmtp" in self.protocols:
            text += (
                "service lmtp {\n"
                "  inet_listener lmtp {\n    %s = %s\n    port = %d\n  }\n"
                "}\n" % (address_key, HOST, self.ports["lmtp"]))
        return text

    def _namespace_and_services(self, address_key):
        """The inbox namespace and the services, alike in both versions but
        for the listeners' address key."""
        text = ("namespace inbox {\n  inbox = yes\n%s%s}\n" % (
            "" if self.separator is None
            else "  separator = %s\n" % self.separator, self._mailboxes()))
        text += self._listeners(address_key)
        text += "service imap {\n  process_limit = 100\n}\n"
        text += "service lmtp {\n  process_min_avail = 0\n}\n"
        return text

    def _plugin_settings(self):
        plugin = dict(self.plugin)
        if self.lazy_expunge:
            plugin.setdefault("lazy_expunge", "EXPUNGED")
            plugin.setdefault("lazy_expunge_only_last_instance", "yes")
        return plugin

    def _mailboxes(self):
        boxes = dict(self.mailboxes)
        if self.lazy_expunge:
            boxes.setdefault("EXPUNGED", {"autoexpunge": "7days"})
        text = ""
        for name, opts in boxes.items():
            text += "  mailbox %s {\n" % quote(name)
            for k, v in opts.items():
                text += "    %s = %s\n" % (k, v)
            text += "  }\n"
        return text

    def _common_settings(self):
        """Top-level settings both versions spell alike."""
        return {
            "base_dir": self.base_dir,
            "state_dir": os.path.join(self.tmp, "state"),
            "instance_name": "%s-%d" % (self.name, os.getpid()),
            "log_path": self.log_path,
            "info_log_path": self.log_path,
            "debug_log_path": self.log_path,
            "protocols": " ".join(self.protocols),
            "listen": HOST,
            "ssl": "no",
            "auth_mechanisms": "plain",
            "mail_uid": MAIL_USER,
            "mail_gid": grp.getgrgid(pwd.getpwnam(MAIL_USER).pw_gid).gr_name,
            "first_valid_uid": "1",
            "first_valid_gid": "1",
            "mail_plugin_dir": os.path.join(self.tmp, "modules"),
            "login_trusted_networks": "127.0.0.0/8",
            "recipient_delimiter": "+",
            "lmtp_save_to_detail_mailbox": "yes",
            "lda_mailbox_autocreate": "yes",
            "lda_mailbox_autosubscribe": "yes",
            "postmaster_address": "postmaster@example.com",
            "hostname": "mx.example.com",
            "mail_max_userip_connections": "100",
            "auth_verbose": "yes",
            "log_timestamp": '"%Y-%m-%d %H:%M:%S "',
        }

    def _config_text_24(self):
        """The configuration in Dovecot 2.4's terms (conf24.py)."""
        home = os.path.join(self.tmp, "home")
        settings = {"dovecot_config_version": "2.4.1",
                    "dovecot_storage_version": "2.4.1"}
        settings.update(self._common_settings())
        settings.update(conf24.mail_location(self.mail_location()))
        settings["auth_allow_cleartext"] = "yes"
        settings["auth_username_format"] = "%{user | username | lower}"
        top, blocks = conf24.plugin_settings(self._plugin_settings())
        settings.update(top)
        if SANITIZER_LOG_DIR:
            settings["default_vsz_limit"] = "unlimited"
        for k, v in self.settings.items():
            if k == "mail_location":
                for name in ("mail_driver", "mail_path", "mail_inbox_path"):
                    settings.pop(name, None)
                if v is not None:
                    settings.update(conf24.mail_location(v))
            elif k.startswith("imapc_") and v:
                settings[k] = conf24.variables(v)
            else:
                settings[k] = v
        text = "# generated by tests/integration/harness.py (Dovecot 2.4)\n"
        text += "".join("%s = %s\n" % (k, v) for k, v in settings.items()
                        if v is not None)
        if self.mail_plugins:
            text += conf24.block("mail_plugins",
                                 {n: "yes" for n in self.mail_plugins})
        if SANITIZER_LOG_DIR:
            env = {name: "%%{env:%s}" % name for name in SANITIZER_ENV}
            env.update({name: "%%{env:%s}" % name
                        for name in DOVECOT_IMPORT_ENVIRONMENT.split()})
            text += conf24.block("import_environment", env)
        text += conf24.block("passdb static", {"password": PASSWORD})
        text += ("userdb static {\n  fields {\n    uid = %s\n    gid = %s\n"
                 "    home = %s/%%{user}\n  }\n}\n"
                 % (MAIL_USER, settings["mail_gid"], home))
        text += self._namespace_and_services("listen")
        text += blocks
        text += self.extra_conf
        return text

    def _config_text_23(self):
        home = os.path.join(self.tmp, "home")
        plugin_text = "".join("  %s = %s\n" % (k, v)
                              for k, v in self._plugin_settings().items())
        settings = self._common_settings()
        settings.update({
            "disable_plaintext_auth": "no",
            "auth_username_format": "%Ln",
            "mail_location": self.mail_location(),
            "mail_plugins": " ".join(["$mail_plugins"] + self.mail_plugins),
        })
        if SANITIZER_LOG_DIR:
            # Dovecot clears its children's environment; ASan reserves
            # terabytes of address space, more than any vsz_limit
            settings["import_environment"] = " ".join(
                (DOVECOT_IMPORT_ENVIRONMENT,) + SANITIZER_ENV)
            settings["default_vsz_limit"] = "0"
        settings.update(self.settings)
        text = "# generated by tests/integration/harness.py\n"
        text += "".join("%s = %s\n" % (k, v) for k, v in settings.items()
                        if v is not None)
        text += (
            "passdb {\n  driver = static\n  args = password=%s\n}\n"
            "userdb {\n  driver = static\n"
            "  args = uid=%s gid=%s home=%s/%%u\n}\n"
            % (PASSWORD, MAIL_USER, settings["mail_gid"], home))
        text += self._namespace_and_services("address")
        text += "plugin {\n%s}\n" % plugin_text
        text += self.extra_conf
        return text

    def _prepare_tmp(self):
        self.tmp = tempfile.mkdtemp(prefix="%s-" % self.name)
        os.chmod(self.tmp, 0o755)
        pw = pwd.getpwnam(MAIL_USER)
        home = os.path.join(self.tmp, "home")
        os.mkdir(home, 0o755)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        os.makedirs(self.mbox_spool_dir, 0o755)
        os.chown(self.mbox_spool_dir, pw.pw_uid, pw.pw_gid)
        mod_dir = os.path.join(self.tmp, "modules")
        os.mkdir(mod_dir, 0o755)
        self._link_modules()

    def _link_modules(self):
        mod_dir = os.path.join(self.tmp, "modules")
        for f in os.listdir(mod_dir):
            os.unlink(os.path.join(mod_dir, f))
        for so in glob.glob(os.path.join(DOVECOT_MODULE_DIR, "*.so")):
            os.symlink(so, os.path.join(mod_dir, os.path.basename(so)))
        for so in self.extra_modules:
            if not os.path.isfile(so):
                raise HarnessError("built plugin missing: %s (build first; "
                                   "TRESOR_BUILDDIR=%s)" % (so, self.builddir))
            dest = os.path.join(mod_dir, os.path.basename(so))
            if os.path.lexists(dest):
                os.unlink(dest)
            os.symlink(os.path.abspath(so), dest)

    # ---------------------------------------------------------- lifecycle
    def start(self):
        reason = skip_reason()
        if reason:
            raise HarnessError(reason)
        if (SANITIZER_LOG_DIR is None and not INSTALLED
                and sanitizer_build(self.builddir)):
            raise HarnessError(
                "%s is a sanitizer build (--enable-sanitizers): its plugins "
                "need the sanitizer runtimes preloaded - run "
                "tests/integration/run, or call harness.enable_sanitizers() "
                "first" % self.builddir)
        # A missing doveadm plugin fails only the doveadm commands that
        # need it (see doveadm()), not the whole instance.
        self.missing_doveadm = [so for so in self.doveadm_modules
                                if not os.path.isfile(so)]
        if self.tmp is None:
            self._prepare_tmp()
        else:
            self._link_modules()
        with _registry_lock:
            if self not in _running:
                _running.append(self)
        for so in self.doveadm_modules:
            if so not in self.missing_doveadm:
                _links.add(so)
        if DOVECOT24:
            module = built_plugin(TRESOR_SETTINGS_MODULE, self.builddir)
            if not os.path.isfile(module):
                raise HarnessError("built settings module missing: %s (build "
                                   "first; TRESOR_BUILDDIR=%s)"
                                   % (module, self.builddir))
            _links.add(module, SETTINGS_MODULE_DIR)
        last = None
        for attempt in range(4):
            if not self.ports or attempt > 0:
                self.ports = {p: free_port() for p in self.protocols
                              if p in ("imap", "lmtp", "pop3")}
            with open(self.conf_path, "w") as f:
                f.write(self._config_text())
            try:
                self._start_once()
                return self
            except HarnessError as e:
                last = e
                tail = self.log_tail(20)
                # "already running": a master from before (slow to die
                # on a loaded machine) rewrote master.pid; kill it too.
                if ("Address already in use" not in tail
                        and "is already running" not in tail):
                    break
                self.master_pid = None
                self._kill_master()
        raise last

    def write_config(self):
        """Writes the configuration (and links the modules) without
        starting Dovecot: for doveconf."""
        if self.tmp is None:
            self._prepare_tmp()
        if DOVECOT24:
            _links.add(built_plugin(TRESOR_SETTINGS_MODULE, self.builddir),
                       SETTINGS_MODULE_DIR)
        with _registry_lock:
            if self not in _running:
                _running.append(self)
        self.ports = {p: free_port() for p in self.protocols
                      if p in ("imap", "lmtp", "pop3")}
        with open(self.conf_path, "w") as f:
            f.write(self._config_text())
        return self.conf_path

    def _start_once(self):
        with open(os.path.join(self.tmp, "dovecot.stdout"), "ab") as out:
            p = subprocess.run(["dovecot", "-c", self.conf_path],
                               stdin=subprocess.DEVNULL, stdout=out,
                               stderr=subprocess.STDOUT, timeout=START_TIMEOUT)
        if p.returncode != 0:
            raise HarnessError("dovecot -c %s failed (exit %d): %s\n%s" % (
                self.conf_path, p.returncode, self._stdout_text(),
                self.log_tail(20)))
        pidfile = os.path.join(self.base_dir, "master.pid")
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            if self.master_pid is None and os.path.exists(pidfile):
                try:
                    with open(pidfile) as f:
                        self.master_pid = int(f.read().strip())
                except ValueError:
                    pass
            if self.master_pid is not None and not pid_alive(self.master_pid):
                break
            if all(port_open(p) for p in self.ports.values()):
                return
            time.sleep(0.05)
        raise HarnessError("dovecot did not come up on %s: %s\n%s" % (
            self.ports, self._stdout_text(), self.log_tail(30)))

    def _stdout_text(self):
        try:
            with open(os.path.join(self.tmp, "dovecot.stdout"), "rb") as f:
                return f.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def _kill_master(self):
        pid = self.master_pid
        if pid is None:
            try:
                with open(os.path.join(self.base_dir, "master.pid")) as f:
                    pid = int(f.read().strip())
            except (OSError, ValueError):
                return
        procs = descendants(pid)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        # Dovecot's own shutdown can take seconds (login processes wait
        # for the stats-writer handshake); a test Dovecot holds nothing
        # worth waiting for once its clients are gone.
        deadline = time.time() + STOP_GRACE
        while time.time() < deadline and pid_alive(pid):
            time.sleep(0.05)
        procs = list(dict.fromkeys(procs + descendants(pid)))
        for p in procs + [pid]:
            if pid_alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        deadline = time.time() + 5
        while time.time() < deadline and any(pid_alive(p) for p in [pid] + procs):
            time.sleep(0.05)
        # A killed master may linger as a zombie (when init does not reap),
        # and a new master refuses to start while master.pid names it.
        try:
            os.unlink(os.path.join(self.base_dir, "master.pid"))
        except OSError:
            pass
        self.master_pid = None

    def stop(self, remove=True):
        """Stops Dovecot (and its children), releases the doveadm plugin
        links when no other harness needs them, and removes the temp dir
        (unless remove=False or TRESOR_KEEP_TMP is set)."""
        for c in self._clients:
            c.close_quietly()
        self._clients = []
        if self.tmp is not None:
            self._kill_master()
        with _registry_lock:
            if self in _running:
                _running.remove(self)
            others = bool(_running)
        if not others:
            _links.release_all()
        if remove and self.tmp is not None and not os.environ.get("TRESOR_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def list_users(self, users):
        """Restarts with a passwd-file userdb naming users after the static
        one (which answers the look-ups): -A needs a userdb that can list
        its users."""
        path = os.path.join(self.tmp, "users")
        with open(path, "w") as f:
            for u in users:
                f.write("%s::::::\n" % u)
        self.extra_conf += userdb_passwd_file_conf(path)
        self.restart()

    def restart(self, plugin=None, mail_plugins=None, settings=None,
                replace_plugin=False):
        """Stops and starts again with changed settings (homes, journals
        and mails are kept). plugin entries are merged into the current
        ones (or replace them with replace_plugin=True); a value of None
        removes a setting."""
        for c in self._clients:
            c.close_quietly()
        self._clients = []
        self._kill_master()
        if plugin is not None:
            if replace_plugin:
                self.plugin = {}
            for k, v in plugin.items():
                if v is None:
                    self.plugin.pop(k, None)
                else:
                    self.plugin[k] = v
        if mail_plugins is not None:
            self.mail_plugins = list(mail_plugins)
        if settings is not None:
            self.settings.update(settings)
        return self.start()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
        return False

    # ---------------------------------------------------------- log
    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log().splitlines()[-n:])

    def mark_log(self):
        """Remembers the log's current end; log_since_mark() returns what
        was written after it."""
        try:
            self._log_mark = os.path.getsize(self.log_path)
        except OSError:
            self._log_mark = 0

    def log_since_mark(self):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_mark)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=5, since_mark=True):
        """Waits until the log (after the mark) matches a regex."""
        deadline = time.time() + timeout
        while True:
            text = self.log_since_mark() if since_mark else self.log()
            if re.search(pattern, text):
                return text
            if time.time() > deadline:
                return None
            time.sleep(0.05)

    # ---------------------------------------------------------- clients
    def imap(self, user, password=PASSWORD):
        """A logged-in IMAP client (closed when Dovecot stops)."""
        c = IMAPClient(HOST, self.imap_port, timeout=IMAP_TIMEOUT)
        try:
            c.login(user, password)
        except BaseException:
            c.close_quietly()
            raise
        self._clients.append(c)
        return c

    def imap_connect(self):
        """An IMAP client that is not logged in."""
        c = IMAPClient(HOST, self.imap_port, timeout=IMAP_TIMEOUT)
        self._clients.append(c)
        return c

    def lmtp_deliver(self, rcpts, msg, mail_from="sender@example.com"):
        """Delivers msg (bytes or str) by LMTP to the recipients
        ("alice@example.com", "alice+Archiv@example.com" for the Archiv
        folder). Returns {rcpt: (code, text)}: the RCPT reply when the
        recipient was refused, else its reply after DATA."""
        if isinstance(rcpts, str):
            rcpts = [rcpts]
        data = crlf(msg)
        result = {}
        with smtplib.LMTP(HOST, self.lmtp_port, timeout=LMTP_TIMEOUT) as s:
            s.ehlo_or_helo_if_needed()
            code, text = s.mail(mail_from)
            if code != 250:
                return {r: (code, text.decode("utf-8", "replace"))
                        for r in rcpts}
            accepted = []
            for r in rcpts:
                code, text = s.rcpt(r)
                if code in (250, 251):
                    accepted.append(r)
                else:
                    result[r] = (code, text.decode("utf-8", "replace"))
            if accepted:
                code, text = s.docmd("DATA")
                if code != 354:
                    for r in accepted:
                        result[r] = (code, text.decode("utf-8", "replace"))
                else:
                    q = re.sub(rb"(?m)^\.", b"..", data)
                    if not q.endswith(b"\r\n"):
                        q += b"\r\n"
                    s.send(q + b".\r\n")
                    for r in accepted:
                        code, text = s.getreply()
                        result[r] = (code, text.decode("utf-8", "replace"))
            try:
                s.quit()
            except smtplib.SMTPException:
                pass
        return result

    # ---------------------------------------------------------- doveadm
    def lda_deliver(self, user, msg, mailbox=None,
                    mail_from="sender@example.com"):
        """Delivers msg with dovecot-lda -d USER [-m MAILBOX], as an MTA's
        local delivery does. Returns (exit status, stderr text): 0 is
        delivered, 75 (EX_TEMPFAIL) a temporary failure."""
        cmd = [DOVECOT_LDA, "-c", self.conf_path, "-d", user, "-f",
               mail_from]
        if mailbox:
            cmd += ["-m", mailbox]
        env = dict(os.environ)
        if SANITIZER_PRELOAD:
            env["LD_PRELOAD"] = SANITIZER_PRELOAD
        p = subprocess.run(cmd, input=msg, capture_output=True, env=env,
                           timeout=LMTP_TIMEOUT)
        return p.returncode, p.stderr.decode("utf-8", "replace")

    def doveadm(self, *args, fmt=None, options=None, timeout=DOVEADM_TIMEOUT,
                input=None, config=None):
        """Runs doveadm -c CONFIG [-o k=v ...] [-f fmt] ARGS; CONFIG is
        the config file unless given (e.g. config_socket).
        Returns (returncode, stdout, stderr) as text."""
        cmd = ["doveadm", "-c", config or self.conf_path] + option_args(options)
        if fmt:
            cmd += ["-f", fmt]
        cmd += [str(a) for a in args]
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL if input is None
                           else None, input=input, capture_output=True,
                           timeout=timeout)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        if p.returncode != 0 and re.search(r"(?im)unknown command|^usage: doveadm \[-", err):
            hint = ""
            if self.missing_doveadm:
                hint = ("the built doveadm plugin(s) %s are missing - build "
                        "first (TRESOR_BUILDDIR=%s)"
                        % (", ".join(self.missing_doveadm), self.builddir))
            elif self.doveadm_modules:
                hint = ("the doveadm plugin(s) %s are linked into %s but "
                        "doveadm does not know the command: it ignores "
                        "plugins it can't dlopen (run doveadm -D to see why)"
                        % (", ".join(self.doveadm_modules), DOVEADM_MODULE_DIR))
            if hint:
                raise HarnessError("doveadm %s: %s\n%s" % (
                    " ".join(str(a) for a in args), hint, err.strip()))
        return p.returncode, out, err

    def doveadm_json(self, *args, options=None, timeout=DOVEADM_TIMEOUT):
        """doveadm -f json ARGS: (returncode, parsed list, stderr). Empty
        output is an empty list."""
        rc, out, err = self.doveadm(*args, fmt="json", options=options,
                                    timeout=timeout)
        out = out.strip()
        try:
            data = json.loads(out) if out else []
        except ValueError as e:
            raise AssertionError("doveadm %s printed no valid JSON (%s): "
                                 "%r\nstderr: %s" % (" ".join(args), e, out,
                                                     err))
        return rc, data, err

    def doveconf(self, *args):
        p = subprocess.run(["doveconf", "-c", self.conf_path] + list(args),
                           capture_output=True, timeout=30)
        return p.returncode, p.stdout.decode(), p.stderr.decode()


# --------------------------------------------------------------------------
# journal helpers shared by the tests


ZERO_HASH = "0" * 64


def check_chain(lines):
    """Problems (list of text) in a journal given as raw lines: seq
    1..n without gaps, prev = sha256 of the previous line."""
    problems = []
    prev = ZERO_HASH
    for i, line in enumerate(lines, 1):
        try:
            rec = json.loads(line)
        except ValueError:
            problems.append("line %d is not JSON" % i)
            prev = sha256_hex(line)
            continue
        if rec.get("seq") != i:
            problems.append("line %d has seq %r" % (i, rec.get("seq")))
        if rec.get("prev") != prev:
            problems.append("line %d: prev %r, expected %s"
                            % (i, rec.get("prev"), prev))
        prev = sha256_hex(line)
    return problems


def rewrite_file(path, data):
    """Replaces a file's bytes in place (owner and mode unchanged)."""
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate()


def chown_mail_user(path):
    pw = pwd.getpwnam(MAIL_USER)
    os.chown(path, pw.pw_uid, pw.pw_gid)


# --------------------------------------------------------------------------
# the message hashes, computed independently of the product (docs:
# sha256 / content_sha256 definitions in the issue and docs/archive.md)

DEFAULT_CONTENT_HEADERS = ("X-Real-Mailfrom", "X-Real-Rcptto", "Return-Path",
                           "Subject", "Message-Id", "Date", "From", "To", "Cc")


def split_message(raw):
    """(header fields, body) of a message in CRLF form: fields as a list
    of (name or None for a line without ":", raw bytes of the whole field
    including continuation lines and their CRLFs); body = the bytes after
    the empty line (docs/archive.md 1.1)."""
    raw = crlf(raw)
    end = raw.find(b"\r\n\r\n")
    if raw.startswith(b"\r\n"):
        header, body = b"", raw[2:]
    elif end < 0:
        header, body = raw, b""
    else:
        header, body = raw[:end + 2], raw[end + 4:]
    fields = []
    for line in re.findall(rb".*?\r\n|.+$", header, re.S):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + line)
        else:
            first = line.split(b"\r\n")[0]
            # a line without ":" is no field of any name
            name = first.split(b":", 1)[0].rstrip(b" \t").decode(
                "latin-1") if b":" in first else None
            fields.append((name, line))
    return fields, body


def expected_sha256(raw, secret_headers=()):
    """sha256 of the message as FETCH BODY[] gives it, without the secret
    header fields (and their continuation lines)."""
    raw = crlf(raw)
    secret = {h.lower() for h in secret_headers}
    fields, body = split_message(raw)
    if not secret:
        return sha256_hex(raw)
    kept = b"".join(f for name, f in fields
                    if name is None or name.lower() not in secret)
    has_sep = b"\r\n\r\n" in raw or raw.startswith(b"\r\n")
    return sha256_hex(kept + (b"\r\n" + body if has_sep else b""))


def normalised_value(field):
    value = field.split(b":", 1)[1] if b":" in field else b""
    value = value.replace(b"\r\n", b"")
    value = re.sub(rb"[ \t]+", b" ", value)
    return value.strip(b" \t")


def expected_content_sha256(raw, content_headers=DEFAULT_CONTENT_HEADERS):
    """content_sha256: for each configured name in order, each occurrence
    in message order: lowercase(name) ":" normalised value CRLF; then CRLF;
    then the CRLF body."""
    fields, body = split_message(raw)
    out = b""
    names = {}
    for name in content_headers:  # a name listed twice counts once
        names.setdefault(name.lower(), name)
    for name in names.values():
        for fname, f in fields:
            if fname is not None and fname.lower() == name.lower():
                out += name.lower().encode() + b":" + normalised_value(f) + b"\r\n"
    return sha256_hex(out + b"\r\n" + body)


# --------------------------------------------------------------------------
# unittest base class: one Dovecot per test class


class DovecotTestCase(unittest.TestCase):
    """Starts one Dovecot for the class (dovecot_options()), stops it
    afterwards. Not root: every test is skipped with the reason. Built
    plugins missing or Dovecot not starting: every test fails with the
    message (never a silent skip)."""

    required_plugins = (TRESOR_MAIL_PLUGIN,)
    dc = None
    _skip = None
    _setup_error = None

    @classmethod
    def dovecot_options(cls):
        return {}

    @classmethod
    def setUpClass(cls):
        cls.dc = None
        cls._skip = skip_reason()
        cls._setup_error = None
        if cls._skip:
            return
        try:
            require_built(*cls.required_plugins)
            cls.dc = Dovecot(**cls.dovecot_options())
            cls.dc.start()
        except HarnessError as e:
            cls._setup_error = str(e)
            if cls.dc is not None:
                cls.dc.stop()
                cls.dc = None

    @classmethod
    def tearDownClass(cls):
        if cls.dc is not None:
            cls.dc.stop()
            cls.dc = None

    def setUp(self):
        if self._skip:
            self.skipTest(self._skip)
        if self._setup_error:
            self.fail("test environment: " + self._setup_error)
        self.dc.mark_log()

    def user(self, suffix=""):
        """A user name of its own for each test (own home, own journal)."""
        name = self.id().rsplit(".", 1)[-1]
        name = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        name = name.replace("test-", "", 1)[:40]
        return name + suffix

    def imap(self, user):
        c = self.dc.imap(user)
        self.addCleanup(c.close_quietly)
        return c

    # -------------------------------------------------- assertions
    def assertRefusedIMAP(self, res, allow_untagged=False):
        """IMAP refusal of an archive operation: NO [NOPERM] or [CANNOT]
        with "read-only archive" in the text. For CLOSE, which always
        ends OK in Dovecot, an untagged NO with that text (Dovecot gives
        untagged storage errors no response code)."""
        pat = r"^\[(NOPERM|CANNOT)\].*read-only archive"
        if res.status == "NO" and re.search(pat, res.text, re.I):
            return
        if allow_untagged:
            # Dovecot sends storage errors untagged without a response
            # code (client_send_untagged_storage_error()).
            for u in res.untagged_no():
                if re.search(r"read-only archive", u.decode(
                        "utf-8", "replace"), re.I):
                    return
        self.fail("expected NO [NOPERM]/[CANNOT] ... read-only archive, got "
                  "%s %r (untagged: %r)" % (res.status, res.text,
                                            res.untagged))

    def assertOK(self, res, what=""):
        self.assertEqual(res.status, "OK", "%s: %r" % (what, res))

    def new_records(self, user, before):
        return self.dc.journal(user)[before:]

    def assertChainIntact(self, user):
        lines = self.dc.journal_lines(user)
        self.assertEqual(check_chain(lines), [], "journal chain of %s" % user)
        return lines
