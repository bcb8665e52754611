"""Put the plugin directory on LAMMPS_PLUGIN_PATH at interpreter start.

LAMMPS loads every ``*plugin.so`` found there when an instance is created,
so ``from lammps import lammps; lammps()`` has pair committee and fix sentry
without a ``plugin load`` line.  Imported by mdsentry-plugin.pth.
"""

import os

PLUGIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib")


def _prepend():
    # MDSENTRY_NO_AUTOLOAD=1: LAMMPS_PLUGIN_PATH as given (e.g. a plugin you built
    # yourself against another LAMMPS, tested in this environment)
    if os.environ.get("MDSENTRY_NO_AUTOLOAD", "") not in ("", "0"):
        return
    parts = [p for p in os.environ.get("LAMMPS_PLUGIN_PATH", "").split(os.pathsep) if p]
    if PLUGIN_DIR not in parts and os.path.isdir(PLUGIN_DIR):
        os.environ["LAMMPS_PLUGIN_PATH"] = os.pathsep.join([PLUGIN_DIR, *parts])


_prepend()
