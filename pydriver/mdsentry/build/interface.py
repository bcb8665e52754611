"""Surfaces and metal/SEI interfaces with in-plane lattice matching.

The coincidence-lattice search is pymatgen's Zur-McGill implementation
(``ZSLGenerator``); slabs come from ASE.  The top slab (the SEI phase by
convention) is strained onto the bottom one (the metal) and the strain it takes
is reported as the symmetric in-plane strain tensor (polar decomposition of the
2D deformation, so a rotation is not counted as strain).
"""

import numpy as np
from ase import Atoms
from ase.build import make_supercell
from ase.build import surface as _ase_surface


def slab(bulk_atoms, miller, layers, vacuum=None, termination=None):
    """A slab of ``layers`` periods along ``miller`` with the normal along z.

    termination: height (A, within one period) where the crystal is cut; by default
    the middle of the widest atom-free layer, so that no bond across the thinnest
    spacing is cut.  The slab is a window of the crystal, never atoms moved by a
    cell vector (ASE's slab cell is orthogonal, the crystal's period need not be).
    vacuum: None gives the bulk-like slab (cell c = its thickness).
    """
    s = _ase_surface(bulk_atoms, tuple(miller), layers + 1, vacuum=None, periodic=True)
    period = s.cell[2, 2] / (layers + 1)
    broken = None
    if termination is None:
        termination, broken = _best_cut(s, period, layers)
    out = _window(s, termination, layers, period)
    out.info["broken_bonds"] = broken  # short bonds the cut breaks (None: not checked)
    out.info.update(miller=tuple(int(m) for m in miller), layers=int(layers))
    if vacuum is not None:
        out.center(vacuum=vacuum / 2.0, axis=2)
    return out


def _window(s, termination, layers, period, tol=1e-6):
    """The atoms of ``s`` between ``termination`` and ``layers`` periods above, z from 0."""
    z = s.positions[:, 2]
    out = s[(z >= termination - tol) & (z < termination + layers * period - tol)]
    out.positions[:, 2] -= termination
    out.set_cell([s.cell[0], s.cell[1], [0.0, 0.0, layers * period]], scale_atoms=False)
    out.wrap()
    return out


def _best_cut(s, period, layers, bond=1.6):
    """(height, bonds broken): the middle of the widest atom-free layer whose cut breaks
    no bond shorter than ``bond`` (C-O, C-H of a molecular ion), else the widest layer
    and the number of such bonds it cuts (some orientations cut a carbonate whatever
    the height)."""
    from ase.neighborlist import neighbor_list

    zs = np.sort(np.mod(s.positions[:, 2], period))
    gaps = np.diff(np.append(zs, zs[0] + period))
    order = np.argsort(-gaps)
    cuts = [float(np.mod(zs[k] + 0.5 * gaps[k], period)) for k in order]
    broken = []
    for t in cuts:
        w = _window(s, t, layers, period)
        inside = w.copy()
        inside.pbc = [True, True, False]
        # the same window periodic along z is the crystal: missing pairs are cut bonds
        broken.append((len(neighbor_list("i", w, bond)) - len(neighbor_list("i", inside, bond)))
                      // 2)
        if broken[-1] == 0:
            return t, 0
    return cuts[0], broken[0]


def _plane(atoms):
    return np.asarray(atoms.cell.array[:2, :2], dtype=float)


def _integer_matrix(base, target):
    """2x2 integer P with P @ base = target (rows are lattice vectors)."""
    p = np.linalg.solve(base.T, target.T).T
    q = np.rint(p)
    if not np.allclose(p, q, atol=1e-6):
        raise ValueError("superlattice vectors are not integer combinations of the cell")
    return q.astype(int)


def strain_of(top_vectors, bottom_vectors):
    """Strain taking the 2D lattice ``top_vectors`` onto ``bottom_vectors`` (rows).

    Returns dict: tensor (2x2 symmetric, U - I of F = R U), xx, yy, xy, max (largest
    principal strain by magnitude), area (relative area change), rotation (deg).
    """
    F = bottom_vectors.T @ np.linalg.inv(top_vectors.T)
    w, v = np.linalg.eigh(F.T @ F)
    U = v @ np.diag(np.sqrt(w)) @ v.T
    R = F @ np.linalg.inv(U)
    eps = U - np.eye(2)
    principal = np.linalg.eigvalsh(eps)
    return {"tensor": eps.tolist(), "xx": float(eps[0, 0]), "yy": float(eps[1, 1]),
            "xy": float(eps[0, 1]), "max": float(principal[np.argmax(np.abs(principal))]),
            "area": float(np.linalg.det(F) - 1.0),
            "rotation": float(np.degrees(np.arctan2(R[1, 0], R[0, 0])))}


def matches(bottom, top, max_area=200.0, max_strain=0.05, max_angle_tol=0.01):
    """Coincidence supercells of two slabs, smallest area first.

    Returns a list of dicts: bottom (2x2 integer matrix), top (2x2), area (A^2),
    strain (``strain_of``) -- only those whose largest principal strain is within
    ``max_strain``.
    """
    from pymatgen.analysis.interfaces.zsl import ZSLGenerator

    def vec3(v2):
        return [np.array([v[0], v[1], 0.0]) for v in v2]

    bp, tp = _plane(bottom), _plane(top)
    zsl = ZSLGenerator(max_area=max_area, max_length_tol=max_strain,
                       max_angle_tol=max_angle_tol, max_area_ratio_tol=2 * max_strain)
    found, seen = [], set()
    for m in zsl(vec3(tp), vec3(bp)):
        t2 = np.array(m.film_sl_vectors)[:, :2]
        b2 = np.array(m.substrate_sl_vectors)[:, :2]
        if np.linalg.det(b2) < 0:  # keep both supercells right-handed
            t2, b2 = t2[::-1], b2[::-1]
        if np.linalg.det(t2) < 0:  # a mirror image, not a rotation, of the top slab
            continue
        try:
            pb, pt = _integer_matrix(bp, b2), _integer_matrix(tp, t2)
        except ValueError:
            continue
        strain = strain_of(t2, b2)
        if abs(strain["max"]) > max_strain:
            continue
        key = (tuple(pb.ravel()), tuple(pt.ravel()))
        if key in seen:
            continue
        seen.add(key)
        found.append({"bottom": pb.tolist(), "top": pt.tolist(),
                      "area": float(abs(np.linalg.det(b2))), "strain": strain})
    found.sort(key=lambda m: (round(m["area"], 3), abs(m["strain"]["max"])))
    return found


def _supercell(s, p2, reps=(1, 1)):
    p = np.eye(3, dtype=int)
    p[:2, :2] = np.array(p2) * np.array(reps)[:, None]
    return make_supercell(s, p)  # in-plane rows stay in the xy plane, c along z


def interface(bottom_bulk, bottom_miller, top_bulk, top_miller, *, bottom_layers=3,
              top_layers=2, gap=2.0, vacuum=None, max_area=200.0, max_strain=0.05,
              min_length=0.0, match=None):
    """A bottom(hkl)/top(hkl) interface, the top slab strained onto the bottom one.

    vacuum: None for periodic stacking (two interfaces per cell, ``gap`` A each),
        or the vacuum thickness above the top slab (one interface, two surfaces).
    min_length: repeat the matched supercell until both in-plane vectors are at
        least this long (e.g. twice a potential's cutoff).
    match: one of ``matches(...)`` to use instead of the smallest one.
    Returns Atoms with ``info["interface"]``: the match, strain, area and atom
    counts; ``arrays["region"]`` is 0 for the bottom slab and 1 for the top one.
    """
    b = slab(bottom_bulk, bottom_miller, bottom_layers)
    t = slab(top_bulk, top_miller, top_layers)
    if match is None:
        found = matches(b, t, max_area=max_area, max_strain=max_strain)
        if not found:
            raise ValueError(f"no coincidence supercell within {max_area} A^2 and "
                             f"{100 * max_strain:g} % strain; raise max_area or max_strain")
        match = found[0]
    bs = _supercell(b, match["bottom"])
    widths = [abs(np.linalg.det(bs.cell.array[:2, :2])) / np.linalg.norm(bs.cell[1 - i, :2])
              for i in range(2)]
    reps = tuple(int(max(1, np.ceil(min_length / w))) for w in widths)
    bs = _supercell(b, match["bottom"], reps)
    ts = _supercell(t, match["top"], reps)
    B, T = _plane(bs), _plane(ts)
    F = B.T @ np.linalg.inv(T.T)
    strain = strain_of(T, B)

    top = ts.copy()
    top.positions[:, :2] = ts.positions[:, :2] @ F.T
    top.set_cell(np.vstack([bs.cell[:2], ts.cell[2]]), scale_atoms=False)
    out = stack(bs, top, gap=gap, vacuum=vacuum)
    closest = _closest_across(out)
    out.info["interface"] = {
        "bottom": f"{bottom_bulk.get_chemical_formula()}{tuple(bottom_miller)}",
        "top": f"{top_bulk.get_chemical_formula()}{tuple(top_miller)}",
        "bottom_supercell": match["bottom"], "top_supercell": match["top"],
        "repeat": list(reps), "area": float(abs(np.linalg.det(B))), "strain": strain,
        "n_bottom": len(bs), "n_top": len(ts), "gap": gap,
        "broken_bonds": {"bottom": b.info["broken_bonds"], "top": t.info["broken_bonds"]},
        "closest": closest,
        "stacking": "periodic" if vacuum is None else f"vacuum {vacuum}"}
    return out


def stack(bottom, top, gap=2.0, vacuum=None):
    """``top`` on ``bottom`` along z; both must share the in-plane cell vectors.

    vacuum None: periodic stacking (``gap`` at both interfaces); else one
    interface and ``vacuum`` A above the top.  ``arrays["region"]``: 0 bottom, 1 top.
    """
    if not np.allclose(bottom.cell[:2], top.cell[:2], atol=1e-6):
        raise ValueError("stack: the two parts have different in-plane cells")
    zb = bottom.positions[:, 2] - bottom.positions[:, 2].min()
    zt = top.positions[:, 2]
    z_top = zt - zt.min() + zb.max() + gap
    cell = np.zeros((3, 3))
    cell[:2] = bottom.cell[:2]
    cell[2, 2] = z_top.max() + (gap if vacuum is None else vacuum)
    out = Atoms(bottom.get_chemical_symbols() + top.get_chemical_symbols(),
                positions=np.vstack([np.column_stack([bottom.positions[:, :2], zb]),
                                     np.column_stack([top.positions[:, :2], z_top])]),
                cell=cell, pbc=True)
    # LAMMPS's convention (a along x, b in the xy plane): a rotation about z only
    out.set_cell(out.cell.standard_form()[0], scale_atoms=True)
    out.wrap()
    out.set_array("region", np.array([0] * len(bottom) + [1] * len(top)))
    return out


def _closest_across(atoms, cutoff=6.0):
    """Shortest distance between an atom of the bottom and one of the top part."""
    from ase.neighborlist import neighbor_list

    region = atoms.arrays["region"]
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    across = region[i] != region[j]
    return float(d[across].min()) if np.any(across) else float("inf")


def describe(atoms):
    """One line about an interface's match and strain."""
    i = atoms.info["interface"]
    s = i["strain"]
    return (f"{i['bottom']} / {i['top']}: area {i['area']:.1f} A^2, {i['n_bottom']} + "
            f"{i['n_top']} atoms, strain of the top slab xx {100 * s['xx']:+.2f} %, "
            f"yy {100 * s['yy']:+.2f} %, xy {100 * s['xy']:+.2f} %, area {100 * s['area']:+.2f} %, "
            f"closest atoms across {i['closest']:.2f} A"
            + "".join(f"; the {k} slab's cut breaks {n} short bonds" for k, n in
                      i.get("broken_bonds", {}).items() if n))
