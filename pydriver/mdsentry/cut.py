"""Cut-out environments: label the uncertain atoms of a large cell in a small one.

The oracle's cost grows with the atoms it sees (DFT roughly as N^2-N^3), and in a
10,000-atom frame the committee doubts a few environments.  ``cut`` copies the atoms
within ``core`` of the chosen centres (the *core*: their forces are what training uses)
and everything within a further ``buffer`` (at least the model's receptive field: DeePMD
rcut, MACE layers x r_max, so the core atoms' environments are the big cell's), whole
molecular anions kept whole, into

- ``mode="cluster"``: a box with ``vacuum`` around the atoms (open boundaries for a
  molecular code, or a periodic box whose images are 2 x vacuum apart for plane waves);
- ``mode="cell"``: a periodic cube of side 2 (core + buffer) + ``gap`` around the centre,
  holding the atoms inside that cube: an atom's periodic image is at least buffer + gap
  from any core atom, so the core still sees only its true neighbours within ``buffer``
  and the cell has no vacuum (no surface for the oracle to relax into).

The cut frame carries ``arrays["core"]`` (True for core atoms) and
``info["cut_from"]``; energy and virial of a cut cell are not those of any real
structure, so training must use only its core atoms' forces.  Distances go through
a cell list (``ase.neighborlist``), so cutting a 10k-atom frame is linear in its size.
"""

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

# elements whose bonds make molecules (alkali, alkaline-earth and metal atoms stay single:
# a metal or a Li-O network would otherwise be one "molecule")
COVALENT = frozenset("H B C N O F Si P S Cl Se Br I".split())


def molecules(atoms, scale=1.15):
    """Label of the bonded fragment of each atom: covalent bonds (sum of covalent radii x
    ``scale``) between atoms of COVALENT elements; every other atom is its own fragment."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(atoms)
    symbols = np.array(atoms.get_chemical_symbols())
    cov = np.array([s in COVALENT for s in symbols])
    radii = covalent_radii[atoms.numbers]
    if not cov.any():
        return np.arange(n)
    i, j, d = neighbor_list("ijd", atoms, 2 * scale * float(radii[cov].max()))
    bonded = cov[i] & cov[j] & (d < scale * (radii[i] + radii[j]))
    graph = coo_matrix((np.ones(int(bonded.sum())), (i[bonded], j[bonded])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _vectors(atoms, origin):
    """Minimum-image vectors from atom ``origin`` to every atom (linear in the size)."""
    return atoms.get_distances(origin, np.arange(len(atoms)), mic=True, vector=True)


def _check_room(atoms, radius, cube=False):
    """Everything within ``radius`` of the origin (a ball, or with ``cube`` the cube of
    half side ``radius``) must not meet its own periodic images."""
    if not atoms.pbc.any() or atoms.cell.rank < 3:
        return
    if cube and not atoms.cell.orthorhombic:
        radius *= np.sqrt(3.0)  # the cube's corners, for a skewed lattice
    cell = atoms.cell.array
    heights = atoms.cell.volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]),
                                                 axis=1)
    across = float(np.min(heights[atoms.pbc]))
    if 2 * radius > across:
        raise ValueError(f"the cell ({across:.1f} A across) is too small to cut {radius:.1f} A "
                         f"around the centres without meeting their periodic images")


def cut_centres(atoms, lo, core=3.0, max_cuts=4):
    """Centres of cut cells for a candidate: its most uncertain atom (``arrays["devi"]``
    at or above ``lo``), then the most uncertain one not within ``core`` of an earlier
    centre (the earlier cell trains it already), at most ``max_cuts``."""
    devi = np.asarray(atoms.arrays.get("devi", np.full(len(atoms), np.nan)), dtype=float)
    left = np.flatnonzero(np.nan_to_num(devi, nan=-np.inf) >= lo)
    left = left[np.argsort(-devi[left], kind="stable")]
    chosen = []
    while len(left) and len(chosen) < max_cuts:
        c = int(left[0])
        chosen.append(c)
        d = atoms.get_distances(c, left, mic=True)
        left = left[d > core]
    return chosen


def cut(atoms, centres, core=3.0, buffer=6.0, mode="cluster", vacuum=6.0, gap=2.0,
        whole=True, charges=None, max_fragment=40):
    """A small frame around ``centres`` (atom indices; the first is the origin of the
    cut) with ``arrays["core"]``; see the module docstring.

    ``whole``: molecules of at most ``max_fragment`` atoms (``molecules``) with an atom in
    the cut come whole, unwrapped along their own bonds (a bonded network, e.g. a
    glass's P-S chains, is cut as it is).  ``charges``: formal charge per element (e.g.
    {"Li": 1, "C": 4, "O": -2}) to make the cut neutral: the nearest whole fragments from
    outside the cut with a charge of the opposite sign (cations, anions) are added until
    it is; nothing inside is dropped, so the core atoms' environments stay exact.  None:
    no neutrality.
    """
    if mode not in ("cluster", "cell"):
        raise ValueError(f"cut mode must be 'cluster' or 'cell', got {mode!r}")
    if core < 0 or buffer <= 0:
        raise ValueError("cut needs core >= 0 and buffer > 0")
    centres = [int(c) for c in np.atleast_1d(centres)]
    reach = core + buffer
    origin = centres[0]
    disp = _vectors(atoms, origin)
    cdisp = disp[centres]
    spread = float(np.max(np.linalg.norm(cdisp, axis=1)))
    # every centre's ball (a cell's cube covers them all) must fit between images
    half = reach + spread
    _check_room(atoms, half, cube=mode == "cell")
    dist = np.min(np.linalg.norm(disp[:, None, :] - cdisp[None, :, :], axis=2), axis=1)
    if mode == "cluster":
        keep = dist <= reach
    else:  # the cube of half side reach + spread around the origin: all centres' balls
        keep = np.all(np.abs(disp) <= half, axis=1)
    frag = molecules(atoms) if (whole or charges is not None) else None
    if whole:
        # a fragment with one atom in the cut comes whole (an anion cut in half would
        # put dangling bonds next to the core)
        sizes = np.bincount(frag)
        touched = np.unique(frag[keep])
        keep |= np.isin(frag, touched[sizes[touched] <= max_fragment])
    chosen = np.flatnonzero(keep)
    if charges is not None:
        chosen = _neutral(atoms, chosen, charges, frag, dist)
    pos = _unwrapped(atoms, chosen, disp, frag)
    core_mask = dist[chosen] <= core
    extent = float(np.max(np.abs(pos))) if mode == "cell" else \
        float(np.max(np.linalg.norm(pos, axis=1)))
    if extent > half:  # whole molecules (or added ions) reach beyond: room for them too
        _check_room(atoms, extent, cube=mode == "cell")
    out = Atoms(numbers=atoms.numbers[chosen], positions=pos)
    if mode == "cluster":
        out.center(vacuum=vacuum)
    else:
        # an atom's image is side - |x| - |y| >= gap from any other atom, and at least
        # buffer + gap from any core atom (|core| <= core + spread)
        side = 2 * max(half, extent) + gap
        out.set_cell([side, side, side])
        out.positions += 0.5 * side
    out.pbc = True
    out.arrays["core"] = core_mask
    out.arrays["source_index"] = chosen
    if "devi" in atoms.arrays:  # the committee's view of these atoms in the big cell
        out.arrays["devi"] = np.asarray(atoms.arrays["devi"])[chosen]
    out.info["cut_from"] = atoms.info.get("id", -1)
    out.info["cut_mode"] = mode
    return out


def _unwrapped(atoms, chosen, disp, frag):
    """Positions of the chosen atoms from the origin; a molecule's atoms placed along its
    own bonds from its atom nearest the origin (minimum images from the origin could put
    parts of a molecule that sticks out on opposite sides)."""
    pos = disp[chosen].copy()
    if frag is None:
        return pos
    labels = frag[chosen]
    for f in np.unique(labels):
        members = np.flatnonzero(labels == f)
        if len(members) < 2:
            continue
        anchor = members[np.argmin(np.linalg.norm(pos[members], axis=1))]
        rel = atoms.get_distances(chosen[anchor], chosen[members], mic=True, vector=True)
        pos[members] = pos[anchor] + rel
    return pos


def _neutral(atoms, chosen, charges, frag, dist):
    """``chosen`` and the nearest whole fragments from outside it whose formal charge
    brings the total to zero."""
    symbols = np.array(atoms.get_chemical_symbols())
    missing = sorted(set(symbols[chosen]) - set(charges))
    if missing:
        raise ValueError(f"cut: no formal charge for {missing}")
    q = sum(charges[s] for s in symbols[chosen])
    if abs(q) < 1e-9:
        return chosen
    inside = np.zeros(len(atoms), dtype=bool)
    inside[chosen] = True
    nearest = {}
    for j in np.argsort(dist, kind="stable"):  # fragments by their atom nearest the centres
        if not inside[j] and frag[j] not in nearest:
            nearest[frag[j]] = j
    added = []
    for f in nearest:
        if abs(q) < 1e-9:
            break
        members = np.flatnonzero(frag == f)
        if any(symbols[m] not in charges for m in members):
            continue
        qf = sum(charges[symbols[m]] for m in members)
        if qf * q < 0 and abs(qf) <= abs(q) + 1e-9:
            added.append(members)
            q += qf
    if abs(q) > 1e-9:
        raise ValueError(f"cut: cannot make the cut neutral with whole ions (left {q:+g})")
    return np.concatenate([chosen, *added]).astype(int) if added else chosen
