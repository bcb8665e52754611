"""Selection: which candidate frames are worth labelling.

Each frame gets a per-structure descriptor -- for every ordered element pair a
Gaussian-smeared histogram of interatomic distances up to ``rcut``, per atom of
the first element -- and frames are picked by farthest-point sampling against
everything already in the training set: the next pick is the candidate farthest
from all training frames and earlier picks.  Picking stops at the budget or when
the farthest candidate is closer than ``min_distance`` to something already
labelled: near-duplicates are never labelled twice.
"""

import numpy as np
from ase.data import atomic_numbers
from ase.neighborlist import neighbor_list


def descriptor(atoms, elements, rcut=5.0, nbins=40, width=0.1):
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


def select(candidates, training=(), budget=10, min_distance=0.05, rcut=5.0, score=None):
    """Indices of ``candidates`` to label, most informative first.

    ``score``: optional per-candidate priority (e.g. max deviation) that decides
    the first pick when the training set is empty.  ``min_distance`` is relative
    to the typical descriptor norm of the candidates.
    """
    candidates = list(candidates)
    if not candidates or budget <= 0:
        return []
    elements = sorted({s for a in [*candidates, *training] for s in a.get_chemical_symbols()},
                      key=lambda s: atomic_numbers[s])
    cand = np.array([descriptor(a, elements, rcut) for a in candidates])
    scale = np.median(np.linalg.norm(cand, axis=1)) or 1.0
    cand /= scale
    if training:
        train = np.array([descriptor(a, elements, rcut) for a in training]) / scale
        dmin = np.min(np.linalg.norm(cand[:, None, :] - train[None, :, :], axis=2), axis=1)
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
