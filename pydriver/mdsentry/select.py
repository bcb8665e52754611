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


def random_choice(n, budget, seed):
    """Indices of ``budget`` of ``n`` candidates drawn uniformly without replacement
    (select.method = "random"): DP-GEN's choice within the candidate band, and, with
    explore.lo near 0 (every checked frame a candidate), random MD frames, the baseline
    any selection must beat.  A fixed seed, so a resumed selection picks the same."""
    rng = np.random.default_rng(seed)
    return [int(k) for k in rng.choice(n, size=min(n, max(budget, 0)), replace=False)]


# ----------------------------------------------------------------- maxdet
# Batch selection on the committee's own per-atom features (select.method = "maxdet"):
# a model whose per-atom energy is linear in its last-layer features f_i learns most
# from the atoms whose features the training set spans least.  With the training
# atoms' features X_e of element e and A_e = ridge I + X_e^T X_e, labelling a frame whose
# uncertain atoms have features Z_e gains sum_e log det(I + Z_e A_e^-1 Z_e^T) (the
# information gain of a Bayesian linear model on those features); picks are greedy on
# that gain with A updated after each pick, so a batch does not pick one environment
# twice.  The gain is submodular, so a lazy greedy re-evaluates few candidates per pick.


def standardizer(features, symbols):
    """Per-element (mean, std) of feature rows (features of different elements live in
    different spaces: se_e2_a has one fitting net per element)."""
    out = {}
    for el in sorted(set(symbols)):
        rows = features[np.asarray(symbols) == el]
        std = rows.std(axis=0)
        # a floor relative to the typical spread: a nearly constant feature must not be
        # blown up until its noise decides the selection
        floor = max(1e-3 * float(np.median(std)), 1e-12)
        out[el] = (rows.mean(axis=0), np.maximum(std, floor))
    return out


def uncertain_atoms(atoms, lo, max_atoms):
    """Indices of the atoms whose deviation is at least ``lo`` (at most ``max_atoms``, the
    most uncertain first); the most uncertain atom when none is; a fixed random sample of
    ``max_atoms`` when no deviation was recorded."""
    devi = atoms.arrays.get("devi")
    if devi is None or np.all(np.isnan(devi)):  # unknown: a spread-out sample of atoms
        n = len(atoms)
        return np.sort(np.random.default_rng(n).permutation(n)[:max_atoms])
    devi = np.nan_to_num(devi, nan=np.inf)  # a NaN deviation is the least trusted
    order = np.argsort(-devi, kind="stable")
    keep = order[devi[order] >= lo][:max_atoms]
    return keep if len(keep) else order[:1]


def _gain(blocks, inverse):
    """sum over elements of log det(I + Z A^-1 Z^T) for one candidate's blocks."""
    total = 0.0
    for el, z in blocks.items():
        m = np.eye(len(z)) + z @ inverse[el] @ z.T
        total += np.linalg.slogdet(m)[1]
    return total


def maxdet(candidates, cand_features, train_features, train_symbols, budget, lo,
           random_fraction=0.2, seed=0, max_atoms=64, ridge=1.0):
    """Indices of ``candidates`` to label (greedy picks first, then the random share).

    ``cand_features``: per candidate an (natoms, d) array of the leader model's per-atom
    features; ``train_features``/``train_symbols``: the training atoms' feature rows and
    elements (stacked).  Only each candidate's uncertain atoms (deviation >= ``lo``,
    ``uncertain_atoms``) count.  ``random_fraction`` of the budget is drawn uniformly
    from the candidates the greedy left (against the bias of any model-based choice).
    Memory and time are linear in the number of candidates (their uncertain atoms).
    """
    import heapq

    n = len(candidates)
    budget = min(budget, n)
    if budget <= 0:
        return []
    n_random = int(round(random_fraction * budget))
    n_greedy = budget - n_random
    which = [uncertain_atoms(a, lo, max_atoms) for a in candidates]
    rows = [f[w] for f, w in zip(cand_features, which)]
    syms = [np.asarray(a.get_chemical_symbols())[w] for a, w in zip(candidates, which)]
    train_features = np.asarray(train_features, dtype=float)
    train_symbols = np.asarray(train_symbols)
    if len(train_features):
        scale = standardizer(train_features, train_symbols)
    else:
        scale = {}
    # elements without training atoms: standardised on the candidates' own atoms
    missing = sorted({s for s in np.concatenate(syms)} - set(scale)) if n else []
    if missing:
        allrows, allsyms = np.concatenate(rows), np.concatenate(syms)
        scale.update({el: v for el, v in standardizer(allrows, allsyms).items()
                      if el in missing})
    d = rows[0].shape[1]
    a_mat = {el: ridge * np.eye(d) for el in scale}
    for el in scale:
        sel = train_symbols == el
        if np.any(sel):
            x = (train_features[sel] - scale[el][0]) / scale[el][1]
            a_mat[el] += x.T @ x
    inverse = {el: np.linalg.inv(m) for el, m in a_mat.items()}
    blocks = []
    for r, s in zip(rows, syms):
        blocks.append({el: (r[s == el] - scale[el][0]) / scale[el][1] for el in set(s.tolist())})
    # lazy greedy: stale upper bounds in a heap, re-evaluated only at the top
    heap = [(-_gain(b, inverse), k, 0) for k, b in enumerate(blocks)]
    heapq.heapify(heap)
    picked, version = [], 0
    while heap and len(picked) < n_greedy:
        neg, k, seen = heapq.heappop(heap)
        if seen != version:
            heapq.heappush(heap, (-_gain(blocks[k], inverse), k, version))
            continue
        picked.append(k)
        for el, z in blocks[k].items():
            a_mat[el] += z.T @ z
            inverse[el] = np.linalg.inv(a_mat[el])
        version += 1
    rest = np.setdiff1d(np.arange(n), picked)
    rng = np.random.default_rng(seed)
    picked += [int(k) for k in rng.permutation(rest)[:n_random]]
    return picked
