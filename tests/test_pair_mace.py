"""pair_style mace (the torch-linked plugin library) against mace-torch itself.

Reference values come from mace-torch's MACECalculator on the ``.model`` file; LAMMPS
runs the ``.model-lammps.pt`` export of the same weights (tests/data/mace, made by
tests/data/make_mace_models.py).  Cells are written in LAMMPS's orientation (lower
triangular cell) so both codes see the same coordinates.
"""

import json
import os
import re
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
            cases += [mace_case(f"{name}_{g}", sys_[name][1], CUAU, g)
                      for g in graphs(nprocs, name)]
        cu = sys_["cu"][1]
        cases.append(committee_case("mm", cu, [("mace", CU[0]), ("mace", CU[1])]))
        if nprocs < 4:  # the 4-rank run checks the decomposition only (2 cores in CI)
            cases.append(mace_case("big_f32", sys_["big"][1],
                                   os.path.join(MACE, "cuau_f32.model")))
            cases.append(committee_case("dm", cu, [("deepmd", DEEPMD_CU), ("mace", CU[0])],
                                        deepmd=True))
        res[nprocs] = run_cases(tmp, cases, nprocs, str(nprocs))
    return res


def graphs(nprocs, cell):
    """The graphs run: owned only on one rank; auto (owned on one rank, ghost on more) once
    per rank count, on the big cell."""
    core = ("owned", "ghost") if nprocs == 1 else ("ghost",)
    return core + ("auto",) if cell == "big" and nprocs < 4 else core


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
    for g in graphs(nprocs, cell):
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
        for g in graphs(nprocs, cell):
            for q in ("pe", "f", "virial", "eatom"):
                assert rel(runs[nprocs][f"{cell}_{g}_{q}"], one[f"{cell}_owned_{q}"]) < 1e-10, \
                    (nprocs, g, q)


def test_float32_model(runs, references):
    ref = references["big"]
    for nprocs in (1, 2):
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


# --- errors: each a clear collective error, on 1 rank in process and on 2 ranks ---------

CUAU_BOX = """units metal
atom_style atomic
lattice fcc 3.75
region box block 0 2 0 2 0 2
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.25 4711
mass 1 63.546
mass 2 196.97
"""
PT = CUAU + "-lammps.pt"
ERRORS = {
    "missing file": (f"pair_style mace\npair_coeff * * {MACE}/nope-lammps.pt Cu Au",
                     "cannot read model file .*nope-lammps.pt"),
    "python .model": (f"pair_style mace\npair_coeff * * {CUAU} Cu Au",
                      "is not a TorchScript model .*mace_create_lammps_model .*cuau.model "
                      "--head"),
    # deepmd's TorchScript needs deepmd's custom ops: torch names them unless deepmd's
    # Python module loaded them into this process before
    "deepmd model": (f"pair_style mace\npair_coeff * * {DEEPMD_CU} Cu Au",
                     r"cu_1.pth is (not a TorchScript model \(\w|a TorchScript model but not "
                     r"mace-torch's LAMMPS export)"),
    "element not in model": (f"pair_style mace\npair_coeff * * {PT} Cu Ag",
                             r"element Ag \(type 2\) is not in model .*elements: Cu Au"),
    "not an element": (f"pair_style mace\npair_coeff * * {PT} Cu Xx", "Xx is not an element"),
    "dtype mismatch": (f"pair_style mace dtype float32\npair_coeff * * {PT} Cu Au",
                       "dtype float32 but .*cuau.model-lammps.pt is a float64 model"),
    "too few elements": (f"pair_style mace\npair_coeff * * {PT} Cu",
                         r"one element per atom type \(2 types\)"),
    "not * *": (f"pair_style mace\npair_coeff 1 1 {PT} Cu Au", r"must start with \* \*"),
    "unknown keyword": ("pair_style mace colour blue", "Unknown pair_style mace keyword: colour"),
    "keyword without value": ("pair_style mace graph", "graph needs a value"),
    "bad graph": ("pair_style mace graph halo", "graph must be auto, owned or ghost"),
    "bad device": ("pair_style mace device gpu", "device must be cpu or cuda"),
    "no cuda": (f"pair_style mace device cuda\npair_coeff * * {PT} Cu Au", "sees no CUDA device"),
    "threads zero": ("pair_style mace threads 0", "threads must be >= 1"),
    "newton off": (f"newton off on\npair_style mace\npair_coeff * * {PT} Cu Au\nrun 0",
                   "needs newton pair on"),
    "per-atom virial": (f"pair_style mace\npair_coeff * * {PT} Cu Au\n"
                        "compute s all stress/atom NULL\ncompute ss all reduce sum c_s[1]\n"
                        "thermo_style custom step c_ss\nrun 0", "no per-atom virial"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_error_message(name):
    from mdsentry.lmp import lammps

    script, pattern = ERRORS[name]
    lmp = lammps()
    lmp.commands_string(CUAU_BOX)
    with pytest.raises(Exception, match=pattern):
        lmp.commands_string(script)
    lmp.close()


def test_units_must_be_metal():
    from mdsentry.lmp import lammps

    lmp = lammps()
    lmp.commands_string(CUAU_BOX.replace("units metal", "units real"))
    with pytest.raises(Exception, match="needs units metal"):
        lmp.commands_string(f"pair_style mace\npair_coeff * * {PT} Cu Au\nrun 0")
    lmp.close()


def run_deck(tmp_path, text, nprocs=2):
    import subprocess

    from conftest import LMP, MPIRUN

    deck = tmp_path / "in.bad"
    deck.write_text(text)
    return subprocess.run([MPIRUN, "-np", str(nprocs), LMP, "-in", str(deck), "-log", "none"],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))


@pytest.mark.parametrize("name", ["missing file", "element not in model", "newton off",
                                  "graph owned"])
def test_error_on_two_ranks_no_hang(tmp_path, name):
    script, pattern = ERRORS.get(name) or (
        f"pair_style mace graph owned\npair_coeff * * {PT} Cu Au",
        "graph owned builds the periodic graph of one rank's atoms: use graph ghost")
    proc = run_deck(tmp_path, CUAU_BOX + script + "\nrun 5\n")
    assert proc.returncode != 0
    assert re.search("ERROR.*" + pattern, proc.stdout + proc.stderr)


ONE_RANK_MISSING = """
import sys
from mpi4py import MPI
from mdsentry.lmp import lammps
box, good, bad = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
lmp = lammps()
lmp.commands_string(box)
lmp.command("pair_style mace")
try:
    lmp.command(f"pair_coeff * * {good if MPI.COMM_WORLD.rank == 0 else bad} Cu Au")
except Exception as exc:
    print(f"rank {MPI.COMM_WORLD.rank} caught: {exc}", flush=True)
"""


def test_missing_file_on_one_rank_only(tmp_path):
    """A model that only rank 0 can read (node-local disks): every rank stops with the
    message of the rank that failed, and the job ends (no rank waits)."""
    script, box = tmp_path / "one_rank.py", tmp_path / "box.in"
    script.write_text(ONE_RANK_MISSING)
    box.write_text(CUAU_BOX)
    bad = tmp_path / "only-on-rank0-lammps.pt"
    proc = run_mpi(2, [sys.executable, str(script), str(box), PT, str(bad)], timeout=180,
                   check=False)
    out = proc.stdout + proc.stderr
    for rank in (0, 1):
        assert re.search(rf"rank {rank} caught: .*cannot read model file "
                         r".*only-on-rank0-lammps.pt \(on MPI rank 1\)", out), out


def test_not_a_mace_export(tmp_path):
    import torch

    from mdsentry.lmp import lammps

    class Plain(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * x

    path = tmp_path / "plain-lammps.pt"
    torch.jit.script(Plain()).save(str(path))
    lmp = lammps()
    lmp.commands_string(CUAU_BOX)
    with pytest.raises(Exception, match="not mace-torch's LAMMPS export"):
        lmp.commands_string(f"pair_style mace\npair_coeff * * {path} Cu Au")
    lmp.close()


@pytest.mark.slow  # 2 ps of MD (~35 s); forces = -dE/dr is checked by the other tests
def test_nve_conserves_energy():
    """2 ps of NVE (1000 steps of 2 fs, 32 Cu atoms at ~600 K): the total energy neither
    drifts nor jumps (smooth model, exact forces of its energy)."""
    from mdsentry.lmp import lammps

    lmp = lammps()
    lmp.commands_string(f"""units metal
atom_style atomic
lattice fcc 3.61
region box block 0 2 0 2 0 2
create_box 1 box
create_atoms 1 box
mass 1 63.546
pair_style mace
pair_coeff * * {CU[0]}-lammps.pt Cu
velocity all create 1200 4711 loop geom
fix nve all nve
timestep 0.002
run 0""")
    rows = [(lmp.get_thermo("etotal"), lmp.get_thermo("temp"))]
    for _ in range(50):
        lmp.command("run 20 pre no post no")
        rows.append((lmp.get_thermo("etotal"), lmp.get_thermo("temp")))
    lmp.close()
    e, temp = np.array(rows).T
    per_atom = np.abs(e - e[0]) / 32
    assert temp[1:].mean() > 400  # it really moved
    assert per_atom[-1] < 5e-4 and per_atom.max() < 1e-3, per_atom  # eV/atom over 2 ps


def test_pair_coeff_rereads_and_a_rejected_model_is_not_kept(tmp_path):
    """A model retrained in place under the same name is read again by pair_coeff (hot
    swap); a model that fails a check leaves no model behind; a new model needs a setup."""
    import shutil

    from mdsentry.lmp import lammps

    live = tmp_path / "live-lammps.pt"
    shutil.copy(PT, live)
    lmp = lammps()
    lmp.commands_string(CUAU_BOX + f"pair_style mace\npair_coeff * * {live} Cu Au\nrun 0")
    e64 = lmp.get_thermo("pe")
    shutil.copy(os.path.join(MACE, "cuau_f32.model-lammps.pt"), live)  # "retrained"
    lmp.commands_string(f"pair_coeff * * {live} Cu Au\nrun 0")
    e32 = lmp.get_thermo("pe")
    assert e32 != e64 and e32 == pytest.approx(e64, rel=1e-5)
    with pytest.raises(Exception, match="read a new model after the last setup"):
        lmp.commands_string(f"pair_coeff * * {live} Cu Au\nrun 1 pre no")
    lmp.command("pair_style mace dtype float64")
    with pytest.raises(Exception, match="is a float32 model"):
        lmp.command(f"pair_coeff * * {live} Cu Au")
    with pytest.raises(Exception, match="no model"):
        lmp.command("run 0")
    lmp.commands_string(f"pair_coeff * * {PT} Cu Au\nrun 0")
    assert lmp.get_thermo("pe") == pytest.approx(e64, rel=1e-12)
    lmp.close()


def test_ghost_cutoff_given_back(tmp_path):
    """The ghost graph raises comm_modify cutoff to num_interactions x r_max + skin; the
    user's value is back once another pair style replaces mace."""
    from mdsentry.lmp import lammps

    log = tmp_path / "log.lammps"
    lmp = lammps(args=("-nocite", "-screen", "none", "-log", str(log)))
    lmp.commands_string(CUAU_BOX + "comm_modify cutoff 3.0\npair_style mace graph ghost\n"
                        f"pair_coeff * * {PT} Cu Au\nrun 0\ninfo communication out log\n"
                        "pair_style lj/cut 2.5\npair_coeff * * 0.1 2.0\nrun 0\n"
                        "info communication out log")
    lmp.close()
    cutoffs = re.findall(r"Communication cutoff = (\S+)", log.read_text())
    assert [float(c) for c in cutoffs] == [10.0, 4.5]  # 2 x 4 A + skin 2; then lj's 2.5 + 2
