"""Point defects: vacancy, interstitial, Frenkel pair (periodic cells of any shape)."""

import numpy as np
from ase import Atom


def _pick(atoms, element, index, rng):
    if index is not None:
        if atoms[index].symbol != element:
            raise ValueError(f"atom {index} is {atoms[index].symbol}, not {element}")
        return int(index)
    candidates = [a.index for a in atoms if a.symbol == element]
    if not candidates:
        raise ValueError(f"no {element} atom in {atoms.get_chemical_formula()}")
    return int(rng.choice(candidates))


def vacancy(atoms, element, index=None, seed=0):
    """A copy of ``atoms`` without one ``element`` atom (``index`` or a seeded random one).
    ``info["vacancy"]`` holds the removed atom's position."""
    rng = np.random.default_rng(seed)
    out = atoms.copy()
    k = _pick(out, element, index, rng)
    out.info["vacancy"] = out.positions[k].tolist()
    del out[k]
    return out


def largest_voids(atoms, n=1, grid=0.25, exclude=()):
    """Up to ``n`` points of the cell farthest from every atom (and from each other),
    found on a grid of spacing ``grid`` A: [(position, distance to the nearest atom)]."""
    from scipy.spatial import cKDTree

    cell = atoms.cell.array
    shape = np.maximum(4, np.ceil(atoms.cell.lengths() / grid).astype(int))
    frac = np.stack(np.meshgrid(*[np.arange(s) / s for s in shape], indexing="ij"), -1).reshape(-1, 3)
    points = frac @ cell
    # atoms and their 26 periodic images: exact nearest distances for cells of any shape
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    images = (atoms.positions[None, :, :] + (shifts @ cell)[:, None, :]).reshape(-1, 3)
    extra = [np.asarray(p, dtype=float) for p in exclude]
    if extra:
        images = np.vstack([images, (np.array(extra)[None] + (shifts @ cell)[:, None]).reshape(-1, 3)])
    tree = cKDTree(images)
    dist = tree.query(points)[0]
    found = []
    for _ in range(n):
        best = int(np.argmax(dist))
        found.append(_refine(tree, points[best], grid))
        # the next void must be away from this one (with its images)
        pts = points[best][None] + shifts @ cell
        dist = np.minimum(dist, cKDTree(pts).query(points)[0])
    return found


def _refine(tree, start, step):
    """Move a grid point to the nearby local maximum of the nearest-atom distance."""
    from scipy.optimize import minimize

    res = minimize(lambda p: -tree.query(p)[0], start, method="Nelder-Mead",
                   options={"initial_simplex": start + step * np.vstack([np.zeros(3), np.eye(3)]),
                            "xatol": 1e-4, "fatol": 1e-6})
    best = res.x if -res.fun >= tree.query(start)[0] else start
    return best, float(tree.query(best)[0])


def interstitial(atoms, element, position=None, grid=0.25):
    """A copy with one ``element`` atom added at ``position`` or at the largest void.
    ``info["interstitial"]`` holds its position and ``info["void_radius"]`` the distance
    to the nearest atom."""
    out = atoms.copy()
    if position is None:
        position, radius = largest_voids(atoms, 1, grid)[0]
    else:
        position = np.asarray(position, dtype=float)
        radius = float(np.min(np.linalg.norm(_mic(out, out.positions - position), axis=1)))
    out.append(Atom(element, position))
    out.info.update(interstitial=list(map(float, position)), void_radius=radius)
    return out


def _mic(atoms, vectors):
    from ase.geometry import find_mic

    return find_mic(vectors, atoms.cell, atoms.pbc)[0]


def frenkel_pair(atoms, element, index=None, min_separation=4.0, seed=0, grid=0.25):
    """Move one ``element`` atom from its site to a void at least ``min_separation`` A away.
    ``info`` records the vacancy, the interstitial and their separation."""
    rng = np.random.default_rng(seed)
    k = _pick(atoms, element, index, rng)
    site = atoms.positions[k].copy()
    out = vacancy(atoms, element, index=k)
    # the vacant site counts as occupied, so the interstitial does not refill it
    for position, radius in largest_voids(out, n=64, grid=grid, exclude=[site]):
        separation = float(np.linalg.norm(_mic(out, position - site)))
        if separation >= min_separation:
            out.append(Atom(element, position))
            out.info.update(vacancy=site.tolist(), interstitial=list(map(float, position)),
                            void_radius=radius, separation=separation)
            return out
    raise ValueError(f"no void at least {min_separation} A from the vacancy in this cell; "
                     f"use a larger cell or a smaller min_separation")
