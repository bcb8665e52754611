"""Selection: budget, diversity, and no near-duplicates of labelled frames."""

import numpy as np
from ase.build import bulk

from mdsentry.select import descriptor, random_choice, select


def family(kind, n, seed):
    base = {"fcc": bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2)),
            "bcc": bulk("Cu", "bcc", a=2.87, cubic=True).repeat((3, 3, 3)),
            "hot": bulk("Cu", "fcc", a=3.75, cubic=True).repeat((2, 2, 2))}[kind]
    frames = []
    for k in range(n):
        a = base.copy()
        a.rattle(0.001 if kind != "hot" else 0.25, seed=seed + k)
        frames.append(a)
    return frames


def test_random_choice_is_uniform_without_replacement_and_seeded():
    picks = random_choice(50, 10, seed=7)
    assert len(picks) == len(set(picks)) == 10 and all(0 <= k < 50 for k in picks)
    assert picks == random_choice(50, 10, seed=7)  # a resumed selection picks the same
    assert picks != random_choice(50, 10, seed=8)
    assert sorted(random_choice(4, 10, seed=1)) == [0, 1, 2, 3] and random_choice(0, 5, 1) == []
    # uniform: every index drawn about equally often over many seeds
    counts = np.bincount(np.concatenate([random_choice(20, 5, s) for s in range(4000)]),
                         minlength=20)
    assert counts.min() > 0.85 * 1000 and counts.max() < 1.15 * 1000


def test_descriptor_invariances():
    a = bulk("LiF", "rocksalt", a=4.03).repeat((2, 2, 2))
    d = descriptor(a, ["Li", "F"])
    b = a.copy()
    b.positions = b.positions[::-1]  # permuted atoms
    b.numbers = b.numbers[::-1]
    c = a.copy()
    c.rotate(33, "z", rotate_cell=True)
    assert np.allclose(descriptor(b, ["Li", "F"]), d)
    assert np.allclose(descriptor(c, ["Li", "F"]), d)


def test_one_pick_per_cluster_within_budget():
    cands = family("fcc", 5, 0) + family("bcc", 5, 10) + family("hot", 5, 20)
    picks = select(cands, budget=10, min_distance=0.05)
    kinds = sorted({k // 5 for k in picks})
    assert kinds == [0, 1, 2]          # every structure family is covered
    # the near-identical fcc and bcc copies are not labelled twice; hot ones differ more
    assert sum(k // 5 == 0 for k in picks) == 1 and sum(k // 5 == 1 for k in picks) == 1
    assert len(picks) <= 10 and len(set(picks)) == len(picks)
    assert len(select(cands, budget=2)) == 2


def test_nothing_already_in_the_training_set():
    train = family("fcc", 3, 0) + family("bcc", 3, 10)
    cands = family("fcc", 4, 100) + family("bcc", 4, 110)
    assert select(cands, training=train, budget=5, min_distance=0.05) == []
    new = family("hot", 1, 50)
    assert select(cands + new, training=train, budget=5, min_distance=0.05) == [8]


def test_score_decides_the_first_pick():
    cands = family("fcc", 4, 0)
    assert select(cands, budget=1, score=[0.1, 0.9, 0.3, 0.2]) == [1]


def test_memory_grows_linearly_with_the_frames():
    """100 candidates x 100 training frames of LiF: the old candidates x training x D array
    alone was 100 * 100 * 160 * 8 B = 12.8 MB (it grew with the product of the counts); the
    blocked nearest distance needs about 1.7 MB in all."""
    import tracemalloc

    base = bulk("LiF", "rocksalt", a=4.03, cubic=True)
    frames = []
    for k in range(200):
        a = base.copy()
        a.rattle(0.05, seed=k)
        a.info["id"] = k
        frames.append(a)
    tracemalloc.start()
    picks = select(frames[:100], training=frames[100:], budget=5, min_distance=0.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(picks) == 5 and peak < 6e6, peak


def test_blocked_nearest_distance_equals_the_full_one():
    from mdsentry.select import nearest_distance

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(57, 9)), rng.normal(size=(23, 9))
    full = np.min(np.linalg.norm(a[:, None] - b[None], axis=2), axis=1)
    assert np.allclose(nearest_distance(a, b, block=50), full)  # two rows per block
    assert np.allclose(nearest_distance(a, b), full)


def test_training_descriptors_are_computed_once(tmp_path, monkeypatch):
    import mdsentry.select as sel

    train = family("fcc", 6, 0)
    for k, a in enumerate(train):
        a.info["id"] = k
    cands = family("hot", 4, 50)
    cache = str(tmp_path / "descriptors.npz")
    first = select(cands, training=train[:4], budget=2, cache=cache)
    calls = []
    real = sel.descriptor
    monkeypatch.setattr(sel, "descriptor", lambda a, *args, **kw: calls.append(a) or
                        real(a, *args, **kw))
    again = select(cands, training=train, budget=2, cache=cache)
    # the candidates and the two new training frames; the first four come from the cache
    assert len(calls) == len(cands) + 2
    assert first == select(cands, training=train[:4], budget=2, cache=cache)
    assert again == select(cands, training=train, budget=2)


# ----------------------------------------------------------------- maxdet
from ase import Atoms  # noqa: E402

from mdsentry.select import maxdet, uncertain_atoms  # noqa: E402


def frame(devi, symbols=None):
    n = len(devi)
    a = Atoms(symbols or "Cu" * n, positions=np.zeros((n, 3)))
    a.arrays["devi"] = np.asarray(devi, dtype=float)
    return a


def brute_greedy(blocks, train, budget, ridge=1.0):
    """Greedy log det with a full re-evaluation of every candidate at every pick."""
    a = ridge * np.eye(train.shape[1]) + train.T @ train
    picked = []
    for _ in range(budget):
        inv = np.linalg.inv(a)
        gains = [-np.inf if k in picked else
                 np.linalg.slogdet(np.eye(len(z)) + z @ inv @ z.T)[1]
                 for k, z in enumerate(blocks)]
        k = int(np.argmax(gains))
        picked.append(k)
        a = a + blocks[k].T @ blocks[k]
    return picked


def test_maxdet_prefers_what_the_training_set_lacks_and_no_twins():
    """Training atoms span features 0-2; candidates: 4 near the training set, 2 identical
    ones along feature 3, 1 along feature 4.  The first two picks are one twin and the
    feature-4 frame (never both twins)."""
    rng = np.random.default_rng(0)
    d = 6
    train = np.zeros((300, d))
    train[:, :3] = rng.normal(size=(300, 3))
    train[:, 3:] = 0.01 * rng.normal(size=(300, 3))
    feats = []
    for k in range(4):
        f = np.zeros((2, d))
        f[:, :3] = rng.normal(size=(2, 3))
        feats.append(f)
    twin = np.zeros((2, d))
    twin[:, 3] = 3.0
    other = np.zeros((2, d))
    other[:, 4] = 3.0
    feats += [twin, twin.copy(), other]
    cands = [frame([0.5, 0.5]) for _ in feats]
    picked = maxdet(cands, feats, train, ["Cu"] * len(train), budget=2, lo=0.1,
                    random_fraction=0.0)
    assert sorted(picked) in ([4, 6], [5, 6])


def test_maxdet_counts_only_uncertain_atoms():
    """Both candidates carry one novel atom; only in the first is it above lo."""
    d = 4
    train = np.random.default_rng(1).normal(size=(200, d)) * [1, 1, 0.01, 0.01]
    novel, known = np.array([0, 0, 5.0, 0]), np.array([0.5, 0.5, 0, 0])
    feats = [np.array([novel, known]), np.array([novel, known])]
    cands = [frame([0.4, 0.05]), frame([0.05, 0.4])]
    assert maxdet(cands, feats, train, ["Cu"] * 200, budget=1, lo=0.1,
                  random_fraction=0.0) == [0]
    assert list(uncertain_atoms(frame([0.05, 0.4, 0.2]), 0.1, 1)) == [1]  # the most uncertain
    assert list(uncertain_atoms(frame([0.05, 0.06]), 0.1, 8)) == [1]  # none above: the top one
    assert list(uncertain_atoms(frame([0.05, np.nan, 0.2]), 0.1, 8)) == [1, 2]  # NaN first


def test_maxdet_lazy_greedy_equals_full_greedy_and_elements_are_separate():
    rng = np.random.default_rng(2)
    d = 5
    train = rng.normal(size=(40, d))
    feats = [rng.normal(size=(int(rng.integers(1, 5)), d)) * rng.uniform(0.2, 3.0)
             for _ in range(40)]
    cands = [frame([1.0] * len(f)) for f in feats]
    picked = maxdet(cands, feats, train, ["Cu"] * 40, budget=12, lo=0.1, random_fraction=0.0)
    # the same features standardised as maxdet does (training mean/std)
    mu, sd = train.mean(axis=0), train.std(axis=0)
    assert picked == brute_greedy([(f - mu) / sd for f in feats], (train - mu) / sd, 12)
    # a second element with its own training atoms: its blocks never mix with Cu's
    two = [frame([1.0] * len(f), "Cu" + "O" * (len(f) - 1)) for f in feats]
    tsym = ["Cu"] * 20 + ["O"] * 20
    again = maxdet(two, feats, train, tsym, budget=12, lo=0.1, random_fraction=0.0)
    assert len(set(again)) == 12


def test_maxdet_random_share_and_budget():
    rng = np.random.default_rng(3)
    feats = [rng.normal(size=(3, 4)) for _ in range(30)]
    cands = [frame([1.0, 1.0, 1.0]) for _ in feats]
    train = rng.normal(size=(50, 4))
    a = maxdet(cands, feats, train, ["Cu"] * 50, budget=10, lo=0.1, random_fraction=0.3, seed=7)
    b = maxdet(cands, feats, train, ["Cu"] * 50, budget=10, lo=0.1, random_fraction=0.3, seed=7)
    greedy = maxdet(cands, feats, train, ["Cu"] * 50, budget=7, lo=0.1, random_fraction=0.0)
    assert a == b and len(set(a)) == 10 and a[:7] == greedy  # 7 greedy, then 3 random
    assert len(maxdet(cands[:4], feats[:4], train, ["Cu"] * 50, budget=10, lo=0.1)) == 4
    # no training set (a first committee from given models): standardised on the candidates
    assert len(maxdet(cands, feats, np.zeros((0, 4)), [], budget=5, lo=0.1)) == 5


def test_maxdet_memory_is_linear_in_candidates():
    import tracemalloc

    rng = np.random.default_rng(4)
    train = rng.normal(size=(500, 32))

    def peak(n):
        feats = [rng.normal(size=(20, 32)) for _ in range(n)]
        cands = [frame(np.ones(20)) for _ in range(n)]
        tracemalloc.start()
        maxdet(cands, feats, train, ["Cu"] * 500, budget=5, lo=0.1)
        out = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return out

    small, large = peak(200), peak(800)
    assert large < 5.0 * small  # 4x the candidates: about 4x the memory, not 16x


def test_atom_features_of_a_deepmd_model():
    """The fitting net's last-layer input, one row per atom (64 wide in the Cu model)."""
    import os

    from mdsentry.train import get_backend

    model = os.path.join(os.path.dirname(__file__), "data", "deepmd", "cu_1.pth")
    frames = family("fcc", 2, 0) + family("bcc", 1, 0)
    feats = get_backend("deepmd").atom_features(model, frames)
    assert [f.shape for f in feats] == [(32, 64), (32, 64), (54, 64)]
    assert np.all(np.isfinite(feats[2])) and not np.allclose(feats[0][0], feats[2][0])
