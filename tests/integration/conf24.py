"""Dovecot 2.4 forms of the settings the tests write in 2.3's terms.

The tests say what they want as Dovecot 2.3 (Debian 12) spells it - a
plugin { } dict, mail_location, "+ext" lists, doveadm -o plugin/NAME=V -
and the harness writes the configuration of the Dovecot it finds. On 2.4
(Debian 13) plugin { } is gone: its settings are top-level, some renamed,
some became named filters or boolean lists. Checked against 2.4.1's
doveconf; the table is in docs/admin.md ("Dovecot 2.3 and 2.4").

Python 3.11 standard library only.
"""

import re


def block(name, entries, indent=""):
    """name {\n  k = v\n ... }\n; entries is a dict or a list of lines."""
    inner = indent + "  "
    if isinstance(entries, dict):
        lines = ["%s%s = %s\n" % (inner, k, v) for k, v in entries.items()]
    else:
        lines = ["%s%s\n" % (inner, line) for line in entries]
    return "%s%s {\n%s%s}\n" % (indent, name, "".join(lines), indent)


def bool_list(words):
    """2.3's "a b +c -d" as a 2.4 boolean list {a: yes, ..., d: no}."""
    out = {}
    for w in words.split():
        if w.startswith("-"):
            out[w[1:]] = "no"
        else:
            out[w.lstrip("+")] = "yes"
    return out


# Pigeonhole 2.4.1's default sieve_extensions (sieve-settings.c), which a
# 2.3-style "+ext" adds to
SIEVE_DEFAULT_EXTENSIONS = (
    "fileinto reject envelope encoded-character vacation subaddress "
    "comparator-i;ascii-numeric relational regex imap4flags copy include "
    "body variables enotify environment mailbox date index ihave "
    "duplicate mime foreverypart extracttext").split()


def extensions_from_defaults(value):
    """2.3's sieve_extensions value as the whole list 2.4 wants."""
    words = value.split()
    if words and all(w[0] in "+-" for w in words):
        names = list(SIEVE_DEFAULT_EXTENSIONS)
    else:
        names = []
    for w in words:
        name = w.lstrip("+-")
        if w.startswith("-"):
            names = [n for n in names if n != name]
        elif name not in names:
            names.append(name)
    return names


def mail_location(location):
    """mail_location = FORMAT:PATH[:INBOX=P][:KEY=V...] as 2.4 settings."""
    fmt, _, rest = location.partition(":")
    parts = rest.split(":") if rest else []
    out = {"mail_driver": fmt}
    if parts and "=" not in parts[0]:
        out["mail_path"] = parts.pop(0)
    keys = {"INBOX": "mail_inbox_path", "INDEX": "mail_index_path",
            "CONTROL": "mail_control_path", "ALT": "mail_alt_path"}
    for p in parts:
        k, _, v = p.partition("=")
        if k in keys:
            out[keys[k]] = variables(v)
    if "mail_path" in out:
        out["mail_path"] = variables(out["mail_path"])
    return out


def variables(value):
    """2.3's %u / %n / %d / %h as 2.4's %{...}."""
    names = {"u": "user", "n": "user | username", "d": "user | domain",
             "h": "home"}
    return re.sub(r"%([undh])", lambda m: "%%{%s}" % names[m.group(1)],
                  value)


# The tresor_* settings that expand variables (src/plugins/settings:
# STR, the others are STR_NOVARS: "%" stays a mailbox wildcard)
PATH_SETTINGS = {"tresor_dir", "tresor_seal_key", "tresor_seal_pubkey",
                 "tresor_tsa_ca", "tresor_extract", "tresor_suppliers"}


def plugin_settings(plugin):
    """2.3's plugin { } dict as (top-level settings dict, blocks text)."""
    top, blocks = {}, ""
    plugin = dict(plugin)
    fts = plugin.pop("fts", None)
    if fts:
        inner = {}
        if fts == "xapian":
            # "full" no longer exists in fts-xapian for 2.4
            for w in plugin.pop("fts_xapian", "").split():
                k, _, v = w.partition("=")
                if k != "full":
                    inner[k] = v
        elif fts == "flatcurve":
            # 2.3's fts_flatcurve_NAME (flatcurve 1.0) is NAME in the
            # fts flatcurve { } filter of 2.4.1's core flatcurve
            prefix = "fts_flatcurve_"
            for k in [k for k in plugin if k.startswith(prefix)]:
                inner[k[len(prefix):]] = plugin.pop(k)
        blocks += block("fts %s" % fts, inner)
        # 2.3's lib-fts settings: fts_languages (the first is the
        # default), fts_filters and fts_tokenizers for every language
        # (2.4: language_filters, language_tokenizers). 2.4 requires a
        # default language even for backends that ignore it.
        languages = plugin.pop("fts_languages", "en").split()
        for i, lang in enumerate(languages):
            blocks += block("language %s" % lang,
                            {"default": "yes"} if i == 0 else {})
        for old, new in (("fts_filters", "language_filters"),
                         ("fts_tokenizers", "language_tokenizers")):
            if old in plugin:
                top[new] = plugin.pop(old)
    enforced = plugin.pop("fts_enforced", None)
    if enforced == "yes":
        top["fts_search_add_missing"] = "yes"
        top["fts_search_read_fallback"] = "no"
    decoder = plugin.pop("fts_decoder", None)
    if decoder:
        top["fts_decoder_driver"] = "script"
        top["fts_decoder_script_socket_path"] = decoder
    if "lazy_expunge" in plugin:
        top["lazy_expunge_mailbox"] = plugin.pop("lazy_expunge")
    script = plugin.pop("sieve", None)
    if script:
        blocks += block("sieve_script personal", {"path": script})
    for name in ("sieve_plugins", "sieve_extensions",
                 "sieve_global_extensions"):
        if name in plugin:
            blocks += block(name, bool_list(plugin.pop(name)))
    for k, v in plugin.items():
        top[k] = variables(v) if k in PATH_SETTINGS else v
    return top, blocks


def option_args(options):
    """doveadm / sieve-test -o K=V arguments for 2.4 from 2.3's
    {plugin/NAME: V, mail_location: ..., ...}."""
    args = []
    for k, v in options.items():
        if k.startswith("plugin/"):
            k = k[len("plugin/"):]
        if k == "mail_location":
            pairs = mail_location(v).items()
        elif k in ("sieve_extensions", "sieve_global_extensions"):
            # 2.3's value replaces the configured one, "+a -b" relative
            # to the defaults: so does a string on 2.4
            pairs = [(k, " ".join(extensions_from_defaults(v)))]
        elif k == "sieve_plugins":
            pairs = [(k, v)]
        elif k in PATH_SETTINGS:
            pairs = [(k, variables(v))]
        else:
            pairs = [(k, v)]
        for name, value in pairs:
            args += ["-o", "%s=%s" % (name, value)]
    return args


def protocol_mail_plugins(protocol, names):
    """protocol P { mail_plugins = $mail_plugins NAMES } for 2.4."""
    inner = "".join("    %s = yes\n" % n for n in names)
    return "protocol %s {\n  mail_plugins {\n%s  }\n}\n" % (protocol, inner)
