"""pair_style committee's exploration bias (keyword bias A B): its energy, forces and virial
against the closed form from the members alone and against central differences, NVE
conservation, and 1 vs 2 ranks."""

import sys

import numpy as np
import pytest

from conftest import run_mpi, worker

LAYOUTS = [(1, "on"), (2, "on"), (2, "off")]
A, B = 2.0, 0.01    # eV, eV/atom: the members' energy deviation here is ~0.006 eV/atom


@pytest.fixture(scope="module")
def runs(tmp_path_factory, eam_pair):
    out = {}
    d = tmp_path_factory.mktemp("bias")
    for nprocs, newton in LAYOUTS:
        f = d / f"{nprocs}_{newton}.npz"
        run_mpi(nprocs, [sys.executable, worker("committee_bias.py"), "--eam", *eam_pair,
                         "--newton", newton, "--bias", str(A), str(B), "--out", str(f)])
        out[(nprocs, newton)] = dict(np.load(f))
    return out


def expected(d):
    """The bias from the two members' own energies, forces and virials."""
    n = int(d["natoms"])
    e = np.array([d["A_pe"], d["B_pe"]]) / n
    s = np.mean((e - e.mean()) ** 2)
    decay = np.exp(-s / B**2)
    c = -A / B**2 * decay * 2.0 / len(e) * (e - e.mean()) / n
    return {"energy": A * (decay - 1.0), "sigma_e": np.sqrt(s),
            "f": c[0] * d["A_f"] + c[1] * d["B_f"],
            "virial": c[0] * d["A_virial"] + c[1] * d["B_virial"]}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("mode", ["leader", "mean"])
def test_bias_closed_form(runs, layout, mode):
    d = runs[layout]
    b = expected(d)
    assert 0.1 < b["sigma_e"] / B < 1.0     # the exponential's curved part
    assert np.abs(b["f"]).max() > 0.1       # eV/A: the bias really pushes
    drive = {"leader": ("A",), "mean": ("A", "B")}[mode]
    f = sum(d[f"{m}_f"] for m in drive) / len(drive)
    pe = sum(d[f"{m}_pe"] for m in drive) / len(drive)
    virial = sum(d[f"{m}_virial"] for m in drive) / len(drive)
    fmax = np.abs(f).max()
    assert np.abs(d[f"bias_{mode}_f"] - (f + b["f"])).max() < 1e-10 * fmax
    assert d[f"bias_{mode}_pe"] == pytest.approx(pe + b["energy"], rel=1e-12)
    assert np.allclose(d[f"bias_{mode}_virial"], virial + b["virial"], rtol=1e-10,
                       atol=1e-10 * np.abs(virial).max())
    # per atom: the bias's virial is in compute stress/atom too
    assert np.allclose(d[f"bias_{mode}_virial_atoms"], d[f"bias_{mode}_virial"], rtol=1e-10,
                       atol=1e-10 * np.abs(virial).max())
    # compute pair committee's elements 8 and 9
    assert d[f"bias_{mode}_vector"][7] == pytest.approx(b["energy"], rel=1e-10)
    assert d[f"bias_{mode}_vector"][8] == pytest.approx(b["sigma_e"], rel=1e-10)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_committee_without_the_bias_reports_none(runs, layout):
    d = runs[layout]
    assert np.all(d["unbiased_vector"][7:] == 0.0)
    assert d["unbiased_vector"][0] > 0.0    # its deviations are there


@pytest.mark.parametrize("layout", LAYOUTS)
def test_bias_forces_are_its_gradient(runs, layout):
    """Central differences of the bias energy alone (h = 1e-4 A)."""
    d = runs[layout]
    bias_f = (d["bias_leader_f"] - d["A_f"])[d["fd_ids"] - 1]
    assert np.abs(d["fd_bias_force"] - bias_f).max() < 1e-6
    assert np.abs(bias_f).max() > 0.05


@pytest.mark.parametrize("layout", LAYOUTS)
def test_biased_nve_conserves_energy(runs, layout):
    """400 steps of 1 fs at 600 K: the total energy (bias included) varies no more than
    without the bias; the bias follows a changing deviation."""
    d = runs[layout]
    plain, biased = np.ptp(d["nve_plain_etotal"]), np.ptp(d["nve_bias_etotal"])
    assert plain < 0.03 and biased < 1.5 * plain
    assert np.ptp(d["nve_bias_sigma_e"]) > 1e-3


def test_layouts_agree(runs):
    ref = runs[(1, "on")]
    for layout in LAYOUTS[1:]:
        d = runs[layout]
        for key in ("bias_leader_f", "bias_mean_f", "bias_leader_virial"):
            assert np.allclose(d[key], ref[key], rtol=1e-10, atol=1e-10 * np.abs(ref[key]).max())
        assert d["bias_leader_pe"] == pytest.approx(ref["bias_leader_pe"], rel=1e-12)
        assert np.allclose(d["nve_bias_etotal"], ref["nve_bias_etotal"], rtol=1e-8)
