"""Cut-out environments (mdsentry.cut): core forces of a cut equal the big cell's."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from mdsentry.cut import cut, molecules


@pytest.fixture(scope="module")
def copper():
    """A rattled 4000-atom Cu cell and its EMT forces."""
    big = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(10)
    big.rattle(0.1, seed=1)
    big.calc = EMT()
    return big, big.get_forces()


@pytest.mark.parametrize("mode", ["cluster", "cell"])
def test_core_forces_converge_with_the_buffer(copper, mode):
    """EMT's forces reach about 2 x its cutoff (5.9 A): a 2 A buffer is visibly wrong, a
    9 A buffer gives the big cell's core forces to round-off."""
    big, forces = copper
    errors = {}
    for buffer in (2.0, 9.0):
        small = cut(big, [0, 1], core=2.0, buffer=buffer, mode=mode)
        core, src = small.arrays["core"], small.arrays["source_index"]
        assert core.sum() == 2 and set(src[core]) == {0, 1}
        small.calc = EMT()
        errors[buffer] = np.abs(small.get_forces()[core] - forces[src[core]]).max()
        assert len(small) < len(big) / 2
    assert errors[2.0] > 1e-4 and errors[9.0] < 1e-8
    # the cut is the big cell's geometry: distances from the origin atom are kept
    small = cut(big, [0], core=2.0, buffer=5.0, mode=mode)
    src = small.arrays["source_index"]
    o = int(np.flatnonzero(src == 0)[0])
    d_small = small.get_distances(o, np.arange(len(small)))
    assert np.allclose(d_small, big.get_distances(0, src, mic=True), atol=1e-9)
    if mode == "cell":
        side = 2 * 7.0 + 2.0
        assert np.allclose(small.cell.lengths(), side) and small.pbc.all()


@pytest.mark.parametrize("mode", ["cluster", "cell"])
def test_every_centre_gets_its_whole_buffer(copper, mode):
    """Two centres 7 A apart: the cut covers both centres' balls (a cell's cube is sized
    for all of them), so both core atoms' forces are exact."""
    big, forces = copper
    far = int(np.argmin(np.abs(big.get_distances(0, np.arange(len(big)), mic=True) - 7.0)))
    small = cut(big, [0, far], core=0.5, buffer=9.0, mode=mode)
    core, src = small.arrays["core"], small.arrays["source_index"]
    assert set(src[core]) == {0, far}
    small.calc = EMT()
    assert np.abs(small.get_forces()[core] - forces[src[core]]).max() < 1e-8


def test_anions_stay_whole_and_the_cut_is_neutral():
    """Li2CO3: every carbonate touched by the cut comes with its C and three O; formal
    charges Li +1, C +4, O -2 sum to zero after the farthest Li are dropped (or nearest
    added)."""
    from mdsentry.build.crystals import bulk as shipped

    big = shipped("Li2CO3").repeat((4, 6, 5))
    frag = molecules(big)
    symbols = np.array(big.get_chemical_symbols())
    carbonates = [f for f in np.unique(frag) if "C" in symbols[frag == f]]
    assert all(sorted(symbols[frag == f]) == ["C", "O", "O", "O"] for f in carbonates)
    for centre in (0, int(np.flatnonzero(symbols == "O")[0])):
        small = cut(big, [centre], core=3.0, buffer=4.0, charges={"Li": 1, "C": 4, "O": -2})
        src = small.arrays["source_index"]
        for f in set(frag[src].tolist()):
            assert np.isin(np.flatnonzero(frag == f), src).all()  # whole
        q = {"Li": 1, "C": 4, "O": -2}
        assert sum(q[s] for s in small.get_chemical_symbols()) == 0
        assert small.arrays["core"].any() and centre in src[small.arrays["core"]]
    # as a periodic cube: molecules whole and unbroken, no atom on top of another's image
    big = big.repeat((2, 2, 2))  # a skewed cell: the cube needs sqrt(3) x its half side
    frag = molecules(big)
    for centre in (0, 5, 17):
        small = cut(big, [centre], core=2.0, buffer=4.0, mode="cell",
                    charges={"Li": 1, "C": 4, "O": -2})
        src = small.arrays["source_index"]
        for f in set(frag[src].tolist()):
            members = np.flatnonzero(np.isin(src, np.flatnonzero(frag == f)))
            assert len(members) == np.sum(frag == f)
            if len(members) > 1:  # C-O bonds as in the crystal (no atom wrapped across)
                assert small.get_distances(members[0], members[1:], mic=False).max() < 2.3
        d = small.get_all_distances(mic=True)
        assert d[np.triu_indices(len(small), 1)].min() > 1.1
    # without whole molecules the sphere cuts carbonates
    half = cut(big, [0], core=3.0, buffer=4.0, whole=False)
    src = half.arrays["source_index"]
    assert any(not np.isin(np.flatnonzero(frag == f), src).all() for f in set(frag[src]))


def test_networks_are_not_pulled_in_whole():
    """Diamond is one bonded network: bigger than max_fragment, it is cut as it is."""
    big = bulk("C", "diamond", a=3.57, cubic=True).repeat(6)
    assert len(set(molecules(big).tolist())) == 1
    a = cut(big, [0], core=2.0, buffer=4.0)
    b = cut(big, [0], core=2.0, buffer=4.0, whole=False)
    assert len(a) == len(b) < len(big)


def test_bad_cuts():
    big = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
    with pytest.raises(ValueError, match="too small to cut"):
        cut(big, [0], core=2.0, buffer=6.0)
    big = big.repeat(3)
    with pytest.raises(ValueError, match="mode must be"):
        cut(big, [0], mode="slab")
    with pytest.raises(ValueError, match="no formal charge for"):
        cut(big, [0], core=1.0, buffer=3.0, charges={"Li": 1})
    with pytest.raises(ValueError, match="cannot make the cut neutral"):
        cut(big, [0], core=1.0, buffer=3.0, charges={"Cu": 2, "Xx": 0})
