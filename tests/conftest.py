import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
MPIRUN = os.path.join(BIN, "mpirun")
LMP = os.path.join(BIN, "lmp")

# 108-atom LJ fcc crystal, periodic: images matter at a 2.5 sigma cutoff
LJ_CRYSTAL = """units lj
lattice fcc 0.8442
region box block 0 3 0 3 0 3
create_box 1 box
create_atoms 1 box
mass 1 1.0
"""


def _launch(cmd, timeout, cwd, check, env):
    env = dict(env or os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def run_mpi(nprocs, argv, timeout=300, cwd=None, check=True, env=None):
    """Run argv under the venv's mpirun; returns the CompletedProcess."""
    return _launch([MPIRUN, "-np", str(nprocs), *argv], timeout, cwd, check, env)


def run_mpi_nodes(nodes, argv, timeout=300, cwd=None, check=True, env=None):
    """Run argv with one rank per name in ``nodes``, each rank told it is on that node
    (MDSENTRY_NODE_NAME, placement.node_name): a job of several nodes on one machine."""
    cmd = [MPIRUN]
    for k, name in enumerate(nodes):
        cmd += ([":"] if k else []) + ["-np", "1", "-env", "MDSENTRY_NODE_NAME", name, *argv]
    return _launch(cmd, timeout, cwd, check, env)


def worker(name):
    return os.path.join(HERE, "workers", name)


@pytest.fixture(scope="session")
def eam_pair(tmp_path_factory):
    """Two different Sutton-Chen Cu setfl files."""
    from mdsentry.potentials import SUTTON_CHEN_CU, write_sutton_chen

    d = tmp_path_factory.mktemp("eam")
    a = write_sutton_chen(str(d / "A.eam.alloy"), **SUTTON_CHEN_CU)
    b_par = dict(SUTTON_CHEN_CU, eps=SUTTON_CHEN_CU["eps"] * 1.05, c=SUTTON_CHEN_CU["c"] * 0.97)
    b = write_sutton_chen(str(d / "B.eam.alloy"), **b_par)
    return a, b
