"""Selection: which candidate frames are worth labelling.

Each frame gets a per-structure descriptor -- for every ordered element pair a
Gaussian-smeared histogram of interatomic distances up to ``rcut``, per atom of
the first element -- and frames are picked by farthest-point sampling against
everything already in the training set: the next pick is the candidate farthest
from all training frames and earlier picks.  Picking stops at the budget or when
the farthest candidate is closer than ``min_distance`` to something already
labelled: near-duplicates are never labelled twice.
"""

import os

import numpy as np
from ase.data import atomic_numbers
from ase.neighborlist import neighbor_list


NBINS = 40


def descriptor(atoms, elements, rcut=5.0, nbins=NBINS, width=0.1):
    """Fixed-length descriptor of one frame for the given element list."""
    centers = np.linspace(0.5, rcut, nbins)
    index = {s: k for k, s in enumerate(elements)}
    ne = len(elements)
    out = np.zeros((ne, ne, nbins))
    if len(atoms) > 1:
        i, j, d = neighbor_list("ijd", atoms, rcut)
        sym = np.array([index[s] for s in atoms.get_chemical_symbols()])
        weights = np.exp(-0.5 * ((d[:, None] - centers[None, :]) / width) ** 2)
        np.add.at(out, (sym[i], sym[j]), weights)
    counts = np.bincount([index[s] for s in atoms.get_chemical_symbols()], minlength=ne)
    out /= np.maximum(counts, 1)[:, None, None]
    return out.ravel()


def descriptors(frames, elements, rcut=5.0, cache=None):
    """Descriptors of ``frames`` as one array.  ``cache``: an .npz file of descriptors of
    earlier frames (by their store id, ``info["id"]``, for these elements and rcut):
    frames found there are not computed again, new ones are added (the training set
    grows by a batch per iteration; its descriptors are computed once)."""
    known = {}
    signature = f"{' '.join(elements)}|{rcut}"
    if cache is not None and os.path.exists(cache):
        with np.load(cache) as z:
            if str(z["signature"]) == signature:
                known = dict(zip(z["ids"].tolist(), z["values"]))
    out, added = [], False
    for atoms in frames:
        key = atoms.info.get("id")
        if key is None or int(key) not in known:
            value = descriptor(atoms, elements, rcut)
            if key is not None:
                known[int(key)] = value
                added = True
        else:
            value = known[int(key)]
        out.append(value)
    if cache is not None and added:
        ids = sorted(known)
        np.savez(cache + ".part.npz", signature=signature, ids=np.array(ids, dtype=np.int64),
                 values=np.array([known[i] for i in ids]))
        os.replace(cache + ".part.npz", cache)
    return np.array(out) if out else np.zeros((0, len(elements) ** 2 * NBINS))


def nearest_distance(points, others, block=2 ** 20):
    """Distance of each of ``points`` to its nearest row of ``others``, in blocks of rows,
    so that memory grows with len(points) + len(others), not with their product."""
    from scipy.spatial.distance import cdist

    out = np.empty(len(points))
    rows = max(1, block // max(1, len(others)))
    for start in range(0, len(points), rows):
        out[start:start + rows] = cdist(points[start:start + rows], others).min(axis=1)
    return out


def select(candidates, training=(), budget=10, min_distance=0.05, rcut=5.0, score=None,
           cache=None):
    """Indices of ``candidates`` to label, most informative first.

    ``score``: optional per-candidate priority (e.g. max deviation) that decides
    the first pick when the training set is empty.  ``min_distance`` is relative
    to the typical descriptor norm of the candidates.  ``cache``: see ``descriptors``.
    Memory is linear in the number of candidate and training frames.
    """
    candidates, training = list(candidates), list(training)
    if not candidates or budget <= 0:
        return []
    elements = sorted({s for a in [*candidates, *training] for s in a.get_chemical_symbols()},
                      key=lambda s: atomic_numbers[s])
    cand = np.array([descriptor(a, elements, rcut) for a in candidates])
    scale = np.median(np.linalg.norm(cand, axis=1)) or 1.0
    cand /= scale
    if training:
        train = descriptors(training, elements, rcut, cache) / scale
        dmin = nearest_distance(cand, train)
    else:
        dmin = np.full(len(cand), np.inf)
    picked = []
    while len(picked) < budget:
        if np.isinf(dmin).all():
            k = int(np.argmax(score)) if score is not None else 0
        else:
            k = int(np.argmax(dmin))
            if dmin[k] < min_distance:
                break  # everything left is a near-duplicate of something labelled
        picked.append(k)
        dmin = np.minimum(dmin, np.linalg.norm(cand - cand[k], axis=1))
        dmin[k] = -np.inf
    return picked
