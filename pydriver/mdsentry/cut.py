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


def _check_room(atoms, radius):
    """A sphere of ``radius`` must not meet its own periodic images."""
    if not atoms.pbc.any() or atoms.cell.rank < 3:
        return
    cell = atoms.cell.array
    heights = atoms.cell.volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]),
                                                 axis=1)
    across = float(np.min(heights[atoms.pbc]))
    if 2 * radius > across:
        raise ValueError(f"the cell ({across:.1f} A across) is too small to cut {radius:.1f} A "
                         f"around the centres without meeting their periodic images")


def cut(atoms, centres, core=3.0, buffer=6.0, mode="cluster", vacuum=6.0, gap=2.0,
        whole=True, charges=None, max_fragment=40):
    """A small frame around ``centres`` (atom indices; the first is the origin of the
    cut) with ``arrays["core"]``; see the module docstring.

    ``whole``: molecules of at most ``max_fragment`` atoms (``molecules``) with an atom in
    the cut come whole (a bonded network, e.g. a glass's P-S chains, is cut as it is).
    ``charges``: formal charge per element (e.g. {"Li": 1, "C": 4, "O": -2}) to make the
    cut neutral: cations of the buffer farthest from the centres are dropped while the cut
    is positive, the nearest cations outside it added while it is negative (they are
    atoms of the big cell, so the environment stays a real one).  None: no neutrality.
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
    # the sphere (or the cube's half side) around every centre, plus a bond or two
    # where whole molecules stick out, must fit between periodic images
    _check_room(atoms, reach + spread + (3.0 if whole else 0.0))
    dist = np.min(np.linalg.norm(disp[:, None, :] - cdisp[None, :, :], axis=2), axis=1)
    if mode == "cluster":
        keep = dist <= reach
    else:  # the cube of half side core + buffer around the origin
        keep = np.all(np.abs(disp) <= reach, axis=1)
    frag = molecules(atoms) if (whole or charges is not None) else None
    if whole:
        # a fragment with one atom in the cut comes whole (an anion cut in half would
        # put dangling bonds next to the core)
        sizes = np.bincount(frag)
        touched = np.unique(frag[keep])
        keep |= np.isin(frag, touched[sizes[touched] <= max_fragment])
    chosen = np.flatnonzero(keep)
    pos = disp[chosen]
    core_mask = dist[chosen] <= core
    if charges is not None:
        ion = np.bincount(frag)[frag] == 1  # monatomic: a cation that may go or come
        chosen, pos, core_mask = _neutral(atoms, chosen, pos, core_mask, charges, disp, dist,
                                          ion)
    out = Atoms(numbers=atoms.numbers[chosen], positions=pos)
    if mode == "cluster":
        out.center(vacuum=vacuum)
    else:
        side = 2 * reach + gap
        out.set_cell([side, side, side])
        out.positions += 0.5 * side
    out.pbc = True
    out.arrays["core"] = core_mask
    out.arrays["source_index"] = chosen
    out.info["cut_from"] = atoms.info.get("id", -1)
    out.info["cut_mode"] = mode
    return out


def _neutral(atoms, chosen, pos, core_mask, charges, disp, dist, ion):
    """Drop (or add) monatomic cations (``ion``) until the formal charge of the cut is
    zero."""
    symbols = np.array(atoms.get_chemical_symbols())
    missing = sorted(set(symbols[chosen]) - set(charges))
    if missing:
        raise ValueError(f"cut: no formal charge for {missing}")
    q = sum(charges[s] for s in symbols[chosen])
    drop = []
    for k in np.argsort(-dist[chosen], kind="stable"):  # farthest buffer cations first
        if q <= 0:
            break
        c = charges[symbols[chosen[k]]]
        if 0 < c <= q and ion[chosen[k]] and not core_mask[k]:
            drop.append(k)
            q -= c
    keep = np.setdiff1d(np.arange(len(chosen)), drop)
    chosen, pos, core_mask = chosen[keep], pos[keep], core_mask[keep]
    if q < 0:  # the nearest cations outside the cut
        add = []
        for j in np.argsort(dist, kind="stable"):
            if q >= 0:
                break
            c = charges.get(symbols[j], 0)
            if 0 < c <= -q and ion[j] and j not in chosen:
                add.append(j)
                q += c
        chosen = np.concatenate([chosen, add]).astype(int)
        pos = np.vstack([pos, disp[add]])
        core_mask = np.concatenate([core_mask, np.zeros(len(add), dtype=bool)])
    if q != 0:
        raise ValueError(f"cut: cannot make the cut neutral with whole cations (left {q:+g})")
    return chosen, pos, core_mask
