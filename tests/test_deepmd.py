"""The DeePMD path: frozen models in LAMMPS equal deepmd's Python DeepPot, the
committee's deviation equals deepmd-kit's own model_devi.out, mixed committees
work, element errors are clear, and warm-started training improves."""

import os
import sys

import numpy as np
import pytest

from conftest import HERE, run_mpi, worker

DATA = os.path.join(HERE, "data")
MODELS = [os.path.join(DATA, "deepmd", f"cu_{k}.pth") for k in (1, 2)]
FRAMES = os.path.join(DATA, "cu_emt.extxyz")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, eam_pair):
    d = tmp_path_factory.mktemp("deepmd")
    out = {}
    for nprocs in (1, 2):
        run_mpi(nprocs, [sys.executable, worker("deepmd_cases.py"), "--models", *MODELS,
                         "--frames", FRAMES, "--eam", eam_pair[0], "--out", str(d)])
        out[nprocs] = dict(np.load(d / f"deepmd_{nprocs}.npz"))
    out["dir"] = d
    return out


def read_devi(path):
    lines = open(path).read().splitlines()
    return lines[0], np.array([[float(x) for x in line.split()] for line in lines[1:]])


@pytest.mark.parametrize("nprocs", [1, 2])
def test_lammps_equals_deeppot(runs, nprocs):
    from deepmd.infer import DeepPot

    r = runs[nprocs]
    dp = DeepPot(MODELS[0])
    e, f, v = dp.eval(r["dp_x"].reshape(1, -1), r["dp_cell"].reshape(1, 9),
                      list(r["dp_type"] - 1))[:3]
    assert r["dp_pe"] == pytest.approx(float(e.ravel()[0]), rel=1e-8)
    f = f.reshape(-1, 3)
    assert np.max(np.abs(r["dp_f"] - f)) <= 1e-8 * np.max(np.abs(f))
    v6 = v.reshape(9)[[0, 4, 8, 1, 2, 5]]  # LAMMPS order xx yy zz xy xz yz
    assert np.max(np.abs(r["dp_virial"] - v6)) <= 1e-8 * np.max(np.abs(v6))


@pytest.mark.parametrize("nprocs", [1, 2])
def test_committee_leader_is_the_model(runs, nprocs):
    r = runs[nprocs]
    assert np.array_equal(r["committee_f"], r["dp_f"])
    assert r["committee_pe"] == r["dp_pe"]
    # deepmd + eam/alloy, deepmd leads: the lists follow eam's longer cutoff, so deepmd
    # sums its neighbors in another order -- equal to machine precision, not bitwise
    assert np.allclose(r["mixed_f"], r["dp_f"], rtol=0, atol=1e-12 * np.max(np.abs(r["dp_f"])))


@pytest.mark.parametrize("nprocs", [1, 2])
def test_model_devi_equals_deepmd(runs, nprocs):
    d = runs["dir"]
    h_native, native = read_devi(d / f"native_{nprocs}.out")
    h_comm, comm = read_devi(d / f"committee_{nprocs}.out")
    assert h_comm == h_native
    assert np.array_equal(comm[:, 0], native[:, 0]) and len(comm) == 7
    assert np.allclose(comm[:, 1:], native[:, 1:], rtol=2e-6, atol=0)  # 7 digits written
    assert np.all(native[:, 4] > 0)


def test_layouts_agree(runs):
    for key in ("dp_pe", "dp_f", "dp_virial", "committee_f"):
        a, b = runs[1][key], runs[2][key]
        assert np.allclose(a, b, rtol=1e-10, atol=1e-10 * np.max(np.abs(a)))


@pytest.mark.parametrize("coeff", ["pair_coeff * * 1 Ag", "pair_coeff * * 1 Cu Ag"])
def test_element_not_in_model(coeff):
    from mdsentry.lmp import lammps

    lmp = lammps(deepmd=True)
    lmp.commands_string("""units metal
region b block 0 10 0 10 0 10
create_box 2 b
mass * 63.5
""")
    lmp.command(f"pair_style committee deepmd {MODELS[0]} deepmd {MODELS[1]}")
    with pytest.raises(Exception, match=r"Committee member 1 \(deepmd\): .*element Ag not "
                                        r"found in the model"):
        lmp.command(coeff)
    lmp.close()


def test_hot_swap_to_a_deepmd_committee(tmp_path, eam_pair):
    """A running EAM walker receives a DeePMD committee: state kept, models in use."""
    from mpi4py import MPI

    from mdsentry.engine import Walker

    deck = f"""units metal
lattice fcc 3.61
region box block 0 3 0 3 0 3
create_box 1 box
create_atoms 1 box
mass 1 63.546
velocity all create 600 9876 loop geom
pair_style committee eam/alloy eam/alloy
pair_coeff * * 1 {eam_pair[0]} Cu
pair_coeff * * 2 {eam_pair[1]} Cu
fix sentry all sentry 5 0.5 5.0 elements Cu frames ${{workdir}}/candidates.xyz
fix nvt all nvt temp 600 600 0.1
thermo 1000
"""
    w = Walker(MPI.COMM_SELF, 0, tmp_path / "w", deck, deepmd=True)
    w.run(20)
    v0, x0 = w.gather("v", 3), w.gather("x", 3)
    seconds = w.swap(f"pair_style committee deepmd {MODELS[0]} deepmd {MODELS[1]}",
                     ["pair_coeff * * 1 Cu", "pair_coeff * * 2 Cu"])
    assert np.array_equal(w.gather("v", 3), v0)
    # run 0 pre yes wraps atoms that left the periodic box: same positions modulo L
    shift = w.gather("x", 3) - x0
    L = 3 * 3.61
    assert np.allclose(shift - L * np.round(shift / L), 0.0, atol=1e-9)
    assert np.mean(shift == 0.0) > 0.5
    assert w.step() == 20 and seconds > 0
    chunk = w.run(20)
    assert chunk.step == 40 and not chunk.halted
    assert 0 < w.sentry_vector()[0] < 0.5  # the DeePMD members' (small) disagreement
    w.close()
