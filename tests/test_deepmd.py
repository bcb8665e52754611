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
