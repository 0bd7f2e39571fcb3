"""The configuration file we ship (conf.d/90-tresor.conf, and its Dovecot
2.4 form made by make) is accepted by the Dovecot it is for with every
setting in it switched on: a renamed setting or a 2.3 form left in the 2.4
file fails here, not on an admin's server."""

import os
import re
import unittest

from harness import (BUILDDIR, DOVECOT24, INSTALLED, SRCDIR, Dovecot,
                     TRESOR_FTS_PLUGIN, require_built)

INSTALLED_CONF_DIR = "/usr/share/doc/dovecot-tresor/conf.d"


def shipped_config():
    """Path of the 90-tresor.conf for this Dovecot."""
    if DOVECOT24:
        if INSTALLED:
            return os.path.join(INSTALLED_CONF_DIR, "90-tresor-2.4.conf")
        return os.path.join(BUILDDIR, "90-tresor-2.4.conf")
    return os.path.join(SRCDIR, "conf.d", "90-tresor.conf")


SETTING_RE = re.compile(r"^\s*#[a-z_]+ = ")
BLOCK_RE = re.compile(r"^\s*#[a-z_][a-z_ -]*\{$")


def switched_on(text):
    """The file with every commented setting and block uncommented (the
    explanations, "# text", stay comments)."""
    out, depth = [], 0
    for line in text.splitlines():
        if depth > 0 and line.lstrip().startswith("#"):
            line = line.replace("#", "", 1)
            depth += line.count("{") - line.count("}")
        elif SETTING_RE.match(line):
            line = line.replace("#", "", 1)
        elif BLOCK_RE.match(line):
            line = line.replace("#", "", 1)
            depth = 1
        out.append(line)
    return "\n".join(out) + "\n"


class ShippedConfigTests(unittest.TestCase):
    def test_every_setting_switched_on_is_accepted(self):
        require_built(TRESOR_FTS_PLUGIN)
        path = shipped_config()
        with open(path) as f:
            text = switched_on(f.read())
        self.assertIn("tresor_archive = Archiv", text)
        dc = Dovecot(mail_plugins=["tresor", "fts", "fts_tresor"],
                     extra_conf=text, name="tresor-conf")
        try:
            dc.write_config()
            rc, out, err = dc.doveconf("-n")
            self.assertEqual(rc, 0, "doveconf refuses %s with every setting "
                             "on:\n%s" % (path, err))
            for name in ("tresor_archive", "tresor_retention",
                         "tresor_fts_attachments", "tresor_suppliers",
                         "tresor_seal_key", "sieve_tresor",
                         "vnd.tresor.invoice", "tresor-decoder"):
                self.assertIn(name, out, "doveconf -n lost %s" % name)
        finally:
            dc.stop()


if __name__ == "__main__":
    unittest.main()
