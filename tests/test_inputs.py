"""The ready decks in inputs/: they validate, their structures are what build.sh makes,
the oracle is one config block, and (slow) each runs an iteration with CHGNet."""

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from ase.io import read

from conftest import BIN, run_mpi
from mdsentry.config import load

INPUTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "inputs")
DECKS = ["li_li2co3_interface", "li2edc_li2co3_amorphous", "na_electrolyte", "naps_glass",
         "li2co3_amorphous"]
# made by packmol alone (seconds); li2co3_amorphous is densified with CHGNet (minutes)
FAST = DECKS[:4]


def env():
    return dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"], OMP_NUM_THREADS="1")


@pytest.mark.parametrize("deck", DECKS)
def test_deck_config_validates(deck):
    cfg = load(os.path.join(INPUTS, deck, "run.toml"))
    atoms = read(cfg["system"]["structure"])
    assert set(atoms.get_chemical_symbols()) == set(cfg["system"]["elements"])
    assert cfg["oracle"]["calculator"] == "chgnet" and 50 <= len(atoms) <= 150


# What build.sh makes is compared exactly where it is geometry (crystals, slabs, the
# lattice-matched interface) and by its properties where packmol placed molecules: packmol's
# placements depend on its binary (version, compiler, floating point), so a packing is checked
# for what the deck relies on -- composition, cell, density, intact molecules, no contacts closer
# than the packing tolerance -- not atom by atom.  The pins make a fresh install get the tested
# packmol; a packing is still reproducible on one machine (test_build's same-seed test).
PACKED = {"li2edc_li2co3_amorphous": 2.0, "naps_glass": 2.2, "na_electrolyte": 2.0}


def bonds(atoms):
    """(i, j, length) of the covalent bonds (covalent radii x 1.2; alkali ions bond to nothing)."""
    from ase.neighborlist import natural_cutoffs, neighbor_list

    cut = [0.0 if s in ("Li", "Na") else c for s, c in
           zip(atoms.get_chemical_symbols(), natural_cutoffs(atoms, mult=1.2))]
    return neighbor_list("ijd", atoms, cut)


def molecules(atoms):
    """Molecule index per atom: the bonded clusters."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    i, j, _ = bonds(atoms)
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(len(atoms), len(atoms)))
    return connected_components(graph, directed=False)[1]


def molecule_formulas(atoms, ids):
    return sorted(atoms[ids == m].get_chemical_formula() for m in np.unique(ids))


def closest_between_molecules(atoms, ids):
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, 4.0)
    return float(d[ids[i] != ids[j]].min())


@pytest.mark.parametrize("deck", FAST)
def test_deck_structure_is_what_build_makes(deck, tmp_path):
    work = tmp_path / deck
    shutil.copytree(os.path.join(INPUTS, deck), work)
    os.remove(work / "structure.extxyz")
    proc = subprocess.run(["bash", str(work / "build.sh")], capture_output=True, text=True,
                          env=env(), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    made, shipped = read(work / "structure.extxyz"), read(os.path.join(INPUTS, deck,
                                                                        "structure.extxyz"))
    assert made.get_chemical_formula() == shipped.get_chemical_formula()
    assert np.allclose(made.cell.array, shipped.cell.array, atol=1e-6)
    if deck not in PACKED:
        assert np.allclose(made.positions, shipped.positions, atol=1e-5)
        return
    if "region" in shipped.arrays:  # the metal slab under the packed layer is geometry
        slab = shipped.arrays["region"] == 0
        assert np.array_equal(made.arrays["region"] == 0, slab)
        assert np.allclose(made.positions[slab], shipped.positions[slab], atol=1e-5)
    tolerance = PACKED[deck]
    for atoms in (made, shipped):
        ids = molecules(atoms)
        assert molecule_formulas(atoms, ids) == molecule_formulas(shipped, molecules(shipped))
        assert closest_between_molecules(atoms, ids) >= 0.98 * tolerance
    # molecules are rigid in packmol: the same bond lengths in both
    lengths = [np.sort(bonds(a)[2]) for a in (made, shipped)]
    assert len(lengths[0]) == len(lengths[1]) and np.allclose(*lengths, atol=1e-4)


def test_the_oracle_is_one_block(tmp_path):
    """Swap the [oracle] block of a deck for another ASE calculator: the loop labels with it."""
    work = tmp_path / "naps_glass"
    shutil.copytree(os.path.join(INPUTS, "naps_glass"), work)
    text = (work / "run.toml").read_text()
    block = re.search(r"\n\[oracle\]\n(.*?)\n\n", text, re.S)
    assert block is not None
    text = text.replace(block.group(0), '\n[oracle]\ncalculator = "ase.calculators.lj:LennardJones"\n'
                        'kwargs = { sigma = 2.5, epsilon = 0.01, rc = 6.0 }\nname = "lj"\n\n')
    text = re.sub(r"^bootstrap = \d+$", "bootstrap = 3", text, flags=re.M)
    (work / "run.toml").write_text(text)
    # two walkers (temperatures) need a multiple of two ranks
    run_mpi(2, [os.path.join(BIN, "mdsentry"), "run", str(work / "run.toml"), "--no-progress",
                "--stop-after", "bootstrap"], env=env(), timeout=300, cwd=work)
    from mdsentry import store

    t = store.table(str(work / "runs" / "frames.h5"))
    assert list(t["oracle"]) == ["lj"] * 3 and np.all(t["status"] == store.STATUS["labelled"])


@pytest.mark.slow
@pytest.mark.parametrize("deck", DECKS)
def test_deck_runs_an_iteration_with_chgnet(deck, tmp_path):
    """One short iteration of each deck with the shipped oracle (minutes each)."""
    work = tmp_path / deck
    shutil.copytree(os.path.join(INPUTS, deck), work, ignore=shutil.ignore_patterns("build",
                                                                                    "runs"))
    text = (work / "run.toml").read_text()
    for key, value in (("chunk", "100"), ("bootstrap", "6"), ("budget", "4"), ("models", "2"),
                       ("warm_steps", "100"), ("max_iterations", "2")):
        text = re.sub(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
    text = re.sub(r"^steps = \d+$", "steps = 300", text, flags=re.M)  # MD and training
    (work / "run.toml").write_text(text)
    proc = run_mpi(2, [os.path.join(BIN, "mdsentry"), "run", str(work / "run.toml"),
                       "--no-progress"], env=env(), timeout=1800, cwd=work)
    assert "finished:" in proc.stdout
    from mdsentry import store

    t = store.table(str(work / "runs" / "frames.h5"))
    assert np.sum(t["status"] == store.STATUS["labelled"]) >= 6
    assert set(t["oracle"][t["status"] == store.STATUS["labelled"]]) == {"chgnet"}
