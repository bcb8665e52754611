"""Structure builders: crystals, packing, densification, interfaces, defects."""

import numpy as np
import pytest
from ase.build import bulk as ase_bulk
from ase.neighborlist import neighbor_list

from mdsentry.build import (PHASES, PackingError, bulk, density_of, formula_units, frenkel_pair,
                            interface, interstitial, matches, pack, slab, strain_of, vacancy)

# X-ray densities (g/cm^3) from handbook lattice constants
KNOWN_DENSITY = {"Li": 0.534, "Na": 0.968, "LiF": 2.64, "NaF": 2.78, "Li2O": 2.01, "Na2O": 2.41,
                 "Li2CO3": 2.10}


@pytest.mark.parametrize("name", sorted(PHASES))
def test_shipped_crystals(name):
    atoms = bulk(name)
    assert density_of(atoms) == pytest.approx(KNOWN_DENSITY[name], rel=0.03)
    d = neighbor_list("d", atoms, 4.0)
    assert d.min() > 1.2  # no overlapping sites from the spacegroup expansion
    if name == "Li2CO3":
        assert atoms.get_chemical_formula() == "C4Li8O12"


def _formula_counts(composition):
    from collections import Counter

    from mdsentry.build import fragment

    c = Counter()
    for unit, n in composition.items():
        for frag in formula_units(unit):
            for s in fragment(frag).get_chemical_symbols():
                c[s] += n
    return c


def test_packing_composition_density_distance_and_seed():
    comp = {"Li2EDC": 4, "Li2CO3": 8, "Li": 2}
    a = pack(comp, 1.3, tolerance=2.0, seed=5)
    b = pack(comp, 1.3, tolerance=2.0, seed=5)
    c = pack(comp, 1.3, tolerance=2.0, seed=6)
    from collections import Counter

    assert Counter(a.get_chemical_symbols()) == _formula_counts(comp)
    assert Counter(a.get_chemical_symbols()) == {"Li": 26, "C": 24, "O": 48, "H": 16}
    assert density_of(a) == pytest.approx(1.3, rel=1e-12)
    ids = a.arrays["fragment_id"]
    i, j, d = neighbor_list("ijd", a, 2.5)
    between = ids[i] != ids[j]
    assert d[between].min() >= 2.0 * 0.98
    assert a.info["min_distance"] == pytest.approx(d[between].min())
    assert np.array_equal(a.positions, b.positions)          # reproducible
    assert not np.allclose(a.positions, c.positions)         # the seed matters
    # a glass composition in an elongated box
    g = pack({"Na3PS4": 6, "Na3PS3O": 2}, 1.8, tolerance=2.2, seed=1, aspect=(1, 1, 2))
    lengths = g.cell.lengths()
    assert lengths[2] == pytest.approx(2 * lengths[0]) and density_of(g) == pytest.approx(1.8)


def test_packing_errors():
    with pytest.raises(PackingError, match="no packing with all distances >= 3.0 A"):
        pack({"Li2CO3": 20}, 2.5, tolerance=3.0, seed=1, maxit=3)
    with pytest.raises(KeyError, match="unknown formula unit or fragment 'Xq2'"):
        pack({"Xq2": 1}, 1.0)
    with pytest.raises(ValueError, match="must be a non-negative integer"):
        pack({"LiF": 1.5}, 1.0)


def test_densify_with_an_ase_calculator_and_with_lammps_commands(tmp_path):
    from ase.calculators.emt import EMT

    from mdsentry.build import densify

    start = pack({"Cu": 32}, 4.0, tolerance=2.2, seed=1)
    dense = densify(start, EMT(), temperature=300, squeeze_steps=100, relax_steps=100,
                    thermo_every=50, workdir=str(tmp_path / "emt"))
    trace = dense.info["densify"]
    stages = [row[1] for row in trace]
    assert stages[0] == "start" and "squeeze" in stages and "relax" in stages
    assert dense.info["density"] > 1.5 * 4.0  # amorphous Cu ends near 8 g/cm^3
    # the energy LAMMPS reported through fix external is EMT's own
    check = dense.copy()
    check.calc = EMT()
    assert trace[-1][4] == pytest.approx(check.get_potential_energy(), abs=1e-8)
    lj = densify(start, ["pair_style lj/cut 5.0", "pair_coeff * * 0.4 2.3"], temperature=300,
                 squeeze_steps=200, relax_steps=200, workdir=str(tmp_path / "lj"))
    assert lj.info["density"] > 4.0 and len(lj) == 32


def test_interface_strain_for_a_known_pair():
    """Li(100) on LiF(100): sqrt5 x sqrt5 R26.6 Li against 2 x 2 LiF, 2.62 % compression."""
    li, lif = bulk("Li"), bulk("LiF")
    atoms = interface(li, (1, 0, 0), lif, (1, 0, 0), bottom_layers=3, top_layers=2,
                      max_area=100, max_strain=0.04)
    info = atoms.info["interface"]
    expected = 3.51 * np.sqrt(5) / (2 * 4.03) - 1
    s = info["strain"]
    assert s["xx"] == pytest.approx(expected, abs=1e-9)
    assert s["yy"] == pytest.approx(expected, abs=1e-9)
    assert s["xy"] == pytest.approx(0.0, abs=1e-9)
    assert s["area"] == pytest.approx((1 + expected) ** 2 - 1, abs=1e-9)
    assert info["area"] == pytest.approx(5 * 3.51 ** 2)
    region = atoms.arrays["region"]
    assert info["n_bottom"] == int(np.sum(region == 0)) == 5 * 2 * 3
    assert info["n_top"] == int(np.sum(region == 1)) == 4 * 8 * 2
    assert atoms.get_chemical_formula() == "F32Li62"
    # the strained LiF keeps its structure: Li-F nearest distance scaled by the strain
    top = atoms[region == 1]
    d = neighbor_list("d", top, 2.5)
    assert d.min() == pytest.approx(4.03 / 2 * (1 + expected), rel=1e-6)
    # periodic stacking: the cell holds both slabs and two gaps
    z = atoms.positions[:, 2]
    assert atoms.cell[2, 2] > z.max() - z.min()


def test_interface_strain_is_the_lattice_mismatch():
    a, b = ase_bulk("Li", "bcc", a=3.51, cubic=True), ase_bulk("Li", "bcc", a=3.60, cubic=True)
    atoms = interface(a, (1, 0, 0), b, (1, 0, 0), vacuum=10.0, min_length=9.0)
    s = atoms.info["interface"]["strain"]
    assert s["xx"] == pytest.approx(3.51 / 3.60 - 1) and s["max"] == pytest.approx(3.51 / 3.60 - 1)
    assert atoms.info["interface"]["repeat"] == [3, 3]
    assert atoms.info["interface"]["stacking"] == "vacuum 10.0"
    # a rotation alone is no strain
    rot = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    vecs = np.array([[3.0, 0.0], [1.0, 2.5]])
    s = strain_of(vecs, vecs @ rot.T)
    assert abs(s["max"]) < 1e-12 and s["rotation"] == pytest.approx(np.degrees(0.3))


def test_interface_matching_errors_and_choices():
    li, l2c = bulk("Li"), bulk("Li2CO3")
    found = matches(slab(li, (1, 1, 1), 2), slab(l2c, (0, 0, 1), 1), max_area=120, max_strain=0.04)
    assert found and all(abs(m["strain"]["max"]) <= 0.04 for m in found)
    assert [m["area"] for m in found] == sorted(m["area"] for m in found)
    with pytest.raises(ValueError, match="no coincidence supercell within 20"):
        interface(li, (1, 1, 0), l2c, (0, 0, 1), max_area=20, max_strain=0.01)


def test_slab_cuts_through_the_widest_gap():
    s = slab(bulk("Li2CO3"), (0, 0, 1), 1)
    # no carbonate is cut: every C keeps its three O within 1.35 A without crossing z
    from ase.neighborlist import neighbor_list as nl

    flat = s.copy()
    flat.pbc = [True, True, False]
    i, j = nl("ij", flat, 1.35)
    sym = np.array(flat.get_chemical_symbols())
    assert all(np.sum((sym[i] == "C") & (i == k) & (sym[j] == "O")) == 3
               for k in np.flatnonzero(sym == "C"))
    assert s.info["broken_bonds"] == 0
    # (100): every height cuts a carbonate; the slab says how many C-O bonds
    s = slab(bulk("Li2CO3"), (1, 0, 0), 2)
    flat = s.copy()
    flat.pbc = [True, True, False]
    assert s.info["broken_bonds"] == 2
    assert len(nl("i", flat, 1.35)) // 2 == 3 * 8 - 2  # 8 carbonates, 2 bonds cut
    # a slab is a window of the crystal: every atom keeps its bulk neighbour distances
    lif = slab(bulk("LiF"), (1, 1, 1), 3, vacuum=10.0)
    d = nl("d", lif, 2.1)
    assert np.allclose(d, 4.03 / 2)


def test_point_defects():
    lif = bulk("LiF").repeat(2)
    v = vacancy(lif, "Li", seed=3)
    assert len(v) == len(lif) - 1 and v.get_chemical_formula() == "F32Li31"
    i = interstitial(bulk("LiF"), "Li")
    assert i.info["void_radius"] == pytest.approx(4.03 * np.sqrt(3) / 4, abs=1e-3)
    f = frenkel_pair(bulk("Li2CO3").repeat((1, 2, 2)), "Li", min_separation=4.0, seed=1)
    assert f.get_chemical_formula() == "C16Li32O48" and f.info["separation"] >= 4.0
    with pytest.raises(ValueError, match="no Na atom"):
        vacancy(lif, "Na")
