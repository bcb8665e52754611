"""pair_style mace (the torch-linked plugin library) against mace-torch itself.

Reference values come from mace-torch's MACECalculator on the ``.model`` file; LAMMPS
runs the ``.model-lammps.pt`` export of the same weights (tests/data/mace, made by
tests/data/make_mace_models.py).  Cells are written in LAMMPS's orientation (lower
triangular cell) so both codes see the same coordinates.
"""

import json
import os
import sys

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from conftest import HERE, run_mpi, worker

MACE = os.path.join(HERE, "data", "mace")
CUAU = os.path.join(MACE, "cuau.model")
CU = [os.path.join(MACE, f"cu_{k}.model") for k in (1, 2)]
DEEPMD_CU = os.path.join(HERE, "data", "deepmd", "cu_1.pth")
MASS = {"Cu": 63.546, "Au": 196.97}


def lattice_cell(cell, frac, symbols, rattle, seed):
    rng = np.random.default_rng(seed)
    cell = np.asarray(cell, float)
    pos = np.asarray(frac, float) @ cell + rattle * rng.standard_normal((len(frac), 3))
    return Atoms(symbols, positions=pos, cell=cell, pbc=True)


def fcc_frac(n):
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    grid = np.array([[i, j, k] for i in range(n) for j in range(n) for k in range(n)])
    return ((grid[:, None, :] + base[None]) / n).reshape(-1, 3)


def cells():
    """A 32-atom tilted cell, an 8-atom triclinic one and a 2-atom cell smaller than r_max
    (every atom sees many images of itself), all CuAu, lower-triangular cells."""
    rng = np.random.default_rng(7)
    sym32 = np.where(rng.random(32) < 0.3, "Au", "Cu")
    big = lattice_cell([[7.45, 0, 0], [0.31, 7.38, 0], [-0.22, 0.41, 7.52]], fcc_frac(2),
                       sym32, 0.12, 1)
    tri = lattice_cell([[5.2, 0, 0], [2.5, 4.6, 0], [2.4, 1.5, 4.4]],
                       [[i / 2, j / 2, k / 2] for i in range(2) for j in range(2) for k in range(2)],
                       ["Cu", "Au", "Cu", "Cu", "Au", "Cu", "Cu", "Cu"], 0.1, 2)
    small = lattice_cell([[2.7, 0, 0], [1.2, 2.5, 0], [1.1, 0.8, 2.6]], [[0, 0, 0], [0.5, 0.5, 0.5]],
                         ["Cu", "Au"], 0.05, 3)
    return {"big": big, "tri": tri, "small": small}


def cu_cell():
    return lattice_cell([[7.3, 0, 0], [0.2, 7.25, 0], [0.1, -0.3, 7.2]], fcc_frac(2), ["Cu"] * 32,
                        0.1, 4)


def mace_reference(model, atoms):
    from mace.calculators import MACECalculator

    from mdsentry.logs import quiet

    with quiet():
        calc = MACECalculator(model_paths=model, device="cpu", default_dtype="float64")
    a = atoms.copy()
    a.calc = calc
    e, f, s = a.get_potential_energy(), a.get_forces(), a.get_stress()
    # virial (LAMMPS order xx yy zz xy xz yz) = -stress * volume
    vir = -np.array([s[0], s[1], s[2], s[5], s[4], s[3]]) * a.get_volume()
    return {"pe": e, "f": f, "virial": vir, "eatom": np.array(calc.results["energies"])}


def write_data(atoms, path, species):
    write(path, atoms, format="lammps-data", specorder=species, atom_style="atomic")
    return str(path)


@pytest.fixture(scope="module")
def systems(tmp_path_factory):
    d = tmp_path_factory.mktemp("mace")
    out = {}
    for name, atoms in cells().items():
        out[name] = (atoms, write_data(atoms, d / f"{name}.data", ["Cu", "Au"]))
    cu = cu_cell()
    out["cu"] = (cu, write_data(cu, d / "cu.data", ["Cu"]))
    return d, out


def mace_case(name, data, model, graph="auto", species=("Cu", "Au"), extra=""):
    return {"name": name, "data": data, "masses": [MASS[s] for s in species],
            "commands": [f"pair_style mace graph {graph} {extra}".strip(),
                         f"pair_coeff * * {model}-lammps.pt {' '.join(species)}"]}


def committee_case(name, data, members, deepmd=False):
    styles, coeffs = [], []
    for k, (kind, path) in enumerate(members, 1):
        styles.append(kind if kind == "mace" else f"deepmd {path}")
        coeffs.append(f"pair_coeff * * {k} {path}-lammps.pt Cu" if kind == "mace"
                      else f"pair_coeff * * {k} Cu")
    return {"name": name, "data": data, "masses": [MASS["Cu"]], "devi": True, "deepmd": deepmd,
            "commands": [f"pair_style committee {' '.join(styles)}", *coeffs]}


def run_cases(tmp, cases, nprocs, tag):
    spec = tmp / f"cases_{tag}.json"
    spec.write_text(json.dumps(cases))
    out = tmp / f"out_{tag}.npz"
    run_mpi(nprocs, [sys.executable, worker("mace_cases.py"), str(spec), str(out)], timeout=600)
    return dict(np.load(out))


@pytest.fixture(scope="module")
def runs(systems):
    """The same cases on 1, 2 and 4 ranks (owned graph only on 1)."""
    tmp, sys_ = systems
    res = {}
    for nprocs in (1, 2, 4):
        cases = []
        for name in ("big", "tri", "small"):
            data = sys_[name][1]
            graphs = ("owned", "ghost", "auto") if nprocs == 1 else ("ghost", "auto")
            cases += [mace_case(f"{name}_{g}", data, CUAU, g) for g in graphs]
        cases.append(mace_case("big_f32", sys_["big"][1], os.path.join(MACE, "cuau_f32.model")))
        cu = sys_["cu"][1]
        cases.append(committee_case("mm", cu, [("mace", CU[0]), ("mace", CU[1])]))
        if nprocs < 4:
            cases.append(committee_case("dm", cu, [("deepmd", DEEPMD_CU), ("mace", CU[0])],
                                        deepmd=True))
        res[nprocs] = run_cases(tmp, cases, nprocs, str(nprocs))
    return res


@pytest.fixture(scope="module")
def references(systems):
    _, sys_ = systems
    ref = {name: mace_reference(CUAU, sys_[name][0]) for name in ("big", "tri", "small")}
    ref["cu"] = [mace_reference(m, sys_["cu"][0]) for m in CU]
    return ref


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("nprocs", [1, 2])
@pytest.mark.parametrize("cell", ["big", "tri", "small"])
def test_matches_mace_calculator(runs, references, nprocs, cell):
    r, ref = runs[nprocs], references[cell]
    graphs = ("owned", "ghost", "auto") if nprocs == 1 else ("ghost", "auto")
    for g in graphs:
        key = f"{cell}_{g}"
        assert rel(r[f"{key}_pe"], ref["pe"]) < 1e-8, key
        assert rel(r[f"{key}_f"], ref["f"]) < 1e-8, key
        assert rel(r[f"{key}_virial"], ref["virial"]) < 1e-8, key
        assert rel(r[f"{key}_eatom"], ref["eatom"]) < 1e-8, key


@pytest.mark.parametrize("cell", ["big", "tri", "small"])
def test_domain_decomposition_exact(runs, cell):
    """1, 2 and 4 ranks (ghost graph) and the owned graph agree to 1e-10."""
    one = runs[1]
    for nprocs in (1, 2, 4):
        for g in ("ghost", "auto"):
            for q in ("pe", "f", "virial", "eatom"):
                assert rel(runs[nprocs][f"{cell}_{g}_{q}"], one[f"{cell}_owned_{q}"]) < 1e-10, \
                    (nprocs, g, q)


def test_float32_model(runs, references):
    ref = references["big"]
    for nprocs in (1, 2, 4):
        r = runs[nprocs]
        assert rel(r["big_f32_pe"], ref["pe"]) < 1e-6
        assert rel(r["big_f32_f"], ref["f"]) < 1e-4
        assert rel(r["big_f32_virial"], ref["virial"]) < 1e-4
        assert rel(r["big_f32_f"], ref["f"]) > 1e-12  # it really ran in float32


def deviation(forces):
    """deepmd-kit's per-atom force deviation of a committee (members, atoms, 3)."""
    f = np.asarray(forces)
    return np.sqrt(np.mean(np.sum((f - f.mean(axis=0)) ** 2, axis=-1), axis=0))


@pytest.mark.parametrize("nprocs", [1, 2, 4])
def test_mace_committee_deviation(runs, references, nprocs):
    r, ref = runs[nprocs], references["cu"]
    want = deviation([ref[0]["f"], ref[1]["f"]])
    assert rel(r["mm_devi_atom"], want) < 1e-8
    assert r["mm_devi"][0] == pytest.approx(want.max(), rel=1e-8)
    assert r["mm_devi"][2] == pytest.approx(want.mean(), rel=1e-8)
    assert rel(r["mm_f"], ref[0]["f"]) < 1e-8  # the leader drives


@pytest.mark.parametrize("nprocs", [1, 2])
def test_mixed_deepmd_mace_committee(runs, references, systems, nprocs):
    from mdsentry.train.deepmd import predict

    atoms = systems[1]["cu"][0]
    (_, f_dp, _), = predict(DEEPMD_CU, [atoms])
    want = deviation([f_dp, references["cu"][0]["f"]])
    r = runs[nprocs]
    assert rel(r["dm_devi_atom"], want) < 1e-8
    assert rel(r["dm_f"], f_dp) < 1e-8
