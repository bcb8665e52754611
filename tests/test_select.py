"""Selection: budget, diversity, and no near-duplicates of labelled frames."""

import numpy as np
from ase.build import bulk

from mdsentry.select import descriptor, select


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
