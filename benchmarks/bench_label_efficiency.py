"""Label efficiency: oracle calls to reach random sampling's held-out force RMSE.

    .venv/bin/python benchmarks/bench_label_efficiency.py [--system cu-emt|lif-chgnet]
        [--seeds 5] [--rounds 3] [--budget 8] [--steps 300]
        [--strategies random band top fps maxdet]

The offline protocol of issue #14: one frozen candidate pool and one held-out test set
from independent oracle MD at the pool's temperatures, never used for any threshold.
Systems: ``cu-emt`` (default), EMT Langevin MD of 32-atom Cu at 900-1800 K, beyond the
300-1200 K the shipped starting committee saw; ``lif-chgnet``, the demo's 64-atom LiF
labelled by CHGNet, the starting committee trained on CHGNet MD at 300-600 K, the pool
from LAMMPS MD with it at 900 and 1200 K (``lif_chgnet``).  For every strategy the same
initial set, batch size and training schedule (the two-model committee warm-started
each round); seeds paired across strategies (seed k: the same random stream and training seeds).
Strategies:

- random: uniform draws from the pool (random MD frames);
- band:   uniform draws among frames whose committee deviation max sigma_i lies in
          [lo, hi) (DP-GEN's candidate band; lo, hi = the 50th and 95th percentiles of
          the first committee's deviations over the pool);
- top:    the highest max sigma_i first;
- fps:    frames at or above lo, then farthest-point sampling on structure
          descriptors against everything labelled (select.method = "fps");
- maxdet: the committee leader's per-atom features of the uncertain atoms (sigma_i >=
          lo), greedy log-det against the training set, 20 % random share
          (select.method = "maxdet").

Printed: per strategy the mean held-out force RMSE after each round, the labels each
needs to reach random's final RMSE (per seed, paired), the ratio random/strategy
with a bootstrap 90 % interval over seeds, and the 99th percentile of the per-atom
force error at the end.  Frames are whole cells of one size (32 or 64 atoms), so atoms
labelled = that size x calls.
"""

import argparse
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data")
sys.path.insert(0, DATA)
sys.path.insert(0, HERE)
from labelcost import atom_deviation, cost_summary, force_errors, write_results  # noqa: E402

START = ([os.path.join(DATA, "deepmd", f"cu_{k}.pth") for k in (1, 2)],
         [os.path.join(DATA, "deepmd", f"cu_{k}.ckpt.pt") for k in (1, 2)])


def pick(strategy, rng, pool, left, chosen, base, models, budget, band):
    """Indices (into pool) this strategy labels next."""
    from mdsentry.select import maxdet, select
    from mdsentry.train.deepmd import atom_features

    if strategy == "random":
        return [int(i) for i in rng.choice(left, size=budget, replace=False)]
    frames = [pool[i] for i in left]
    sig = atom_deviation(models, frames)
    smax = sig.max(axis=1)
    lo, hi = band
    if strategy == "band":
        inside = [i for i, s in zip(left, smax) if lo <= s < hi]
        if len(inside) < budget:  # the band ran dry: the nearest below it
            rest = [i for _, i in sorted(zip(-smax, left)) if i not in inside]
            inside += rest[:budget - len(inside)]
        return [int(i) for i in rng.choice(inside, size=budget, replace=False)]
    if strategy == "top":
        return [left[k] for k in np.argsort(-smax, kind="stable")[:budget]]
    if strategy == "fps":
        flagged = [k for k, s in enumerate(smax) if s >= lo] or list(range(len(left)))
        sub = select([frames[k] for k in flagged], base + [pool[i] for i in chosen],
                     budget=budget, score=smax[flagged])
        return [left[flagged[k]] for k in sub]
    if strategy == "maxdet":
        for a, s in zip(frames, sig):
            a.arrays["devi"] = s
        train = base + [pool[i] for i in chosen]
        tfeat = np.concatenate(atom_features(models[0], train))
        syms = np.concatenate([a.get_chemical_symbols() for a in train])
        sub = maxdet(frames, atom_features(models[0], frames), tfeat, syms, budget, lo,
                     seed=int(rng.integers(1 << 30)))
        return [left[k] for k in sub]
    raise ValueError(strategy)


def run(strategy, seed, pool, test, base, start, band, args, workdir):
    """Held-out force RMSE after 0, 1, .. rounds, and the p99 atom force error at the end."""
    from mdsentry.train.deepmd import evaluate, train_committee

    models, ckpts = start
    rng = np.random.default_rng(1000 + seed)
    left, chosen = list(range(len(pool))), []
    curve = [evaluate(models[0], test)["f"]]
    for r in range(args.rounds):
        chosen += pick(strategy, rng, pool, left, chosen, base, models, args.budget, band)
        left = [i for i in left if i not in set(chosen)]
        res = train_committee(base + [pool[i] for i in chosen], test,
                              os.path.join(workdir, f"{strategy}{seed}.{r}"), n_models=2,
                              steps=args.steps, init_models=ckpts,
                              seeds=[11 + 97 * seed + r, 23 + 97 * seed + r], jobs=2)
        models, ckpts = res.models, res.checkpoints
        curve.append(res.rmse[0]["f"])
    p99 = float(np.percentile(force_errors(models[0], test), 99))
    print(f"  {strategy:7s} seed {seed}: " + " ".join(f"{1000 * c:.1f}" for c in curve)
          + f" meV/A; p99 {1000 * p99:.0f}", flush=True)
    return curve, p99


def cu_emt(args, workdir):
    """Pool, test and initial frames of 32-atom Cu labelled by EMT, and the shipped
    two-model committee (tests/data/deepmd) as the start."""
    from make_deepmd_models import emt_frames

    from mdsentry.frames import read_frames

    pool = emt_frames([900, 1200, 1500, 1800], per_temperature=40, seed=3, stride=5)
    test = emt_frames([900, 1200, 1500, 1800], per_temperature=8, seed=9, stride=10)
    base = read_frames(os.path.join(DATA, "cu_emt.extxyz"), index="::4")
    return pool, test, base, START


def lif_chgnet(args, workdir):
    """64-atom LiF (the demo's cell) labelled by CHGNet: initial frames from CHGNet MD
    at 300 and 600 K (16 each), the test set from independent CHGNet MD at 900 and
    1200 K (8 each), a two-model committee trained on the initial frames from scratch,
    and the pool from LAMMPS NVT with its leader at 900 and 1200 K (40 frames each,
    10 fs apart), every pool frame labelled by CHGNet."""
    from ase.io import read

    from labelcost import Oracle, oracle_md, pool_md

    from mdsentry.train.deepmd import train_committee

    lif = read(os.path.join(HERE, "..", "inputs", "lif_demo", "lif.extxyz"))
    base = oracle_md(lif, [(300.0, 160, 10, 1), (600.0, 160, 10, 2)])
    test = oracle_md(lif, [(900.0, 200, 25, 3), (1200.0, 200, 25, 4)])
    res = train_committee(base, test, os.path.join(workdir, "start"), n_models=2,
                          steps=args.start_steps, seeds=[1, 2], jobs=2)
    print(f"starting committee: held-out force RMSE {1000 * res.rmse[0]['f']:.0f} meV/A",
          flush=True)
    pool = [f for k, t in enumerate((900.0, 1200.0))
            for f in pool_md(res.models[0], lif, ["Li", "F"], t, 40, 20, 101 + k, workdir)]
    oracle = Oracle()
    pool = [oracle.label(a, stress=True) for a in pool]
    return pool, test, base, (res.models, res.checkpoints)


SYSTEMS = {"cu-emt": cu_emt, "lif-chgnet": lif_chgnet}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--system", choices=sorted(SYSTEMS), default="cu-emt")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--budget", type=int, default=8)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--start-steps", type=int, default=2000,
                   help="training steps of the starting committee (lif-chgnet)")
    p.add_argument("--strategies", nargs="+",
                   default=["random", "band", "top", "fps", "maxdet"])
    p.add_argument("--json", help="write the curves here")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:  # removed also when a run fails
        pool, test, base, start = SYSTEMS[args.system](args, tmp)
        smax = atom_deviation(start[0], pool).max(axis=1)
        band = (float(np.percentile(smax, 50)), float(np.percentile(smax, 95)))
        print(f"pool {len(pool)} frames, test {len(test)}, initial {len(base)}; band "
              f"[{band[0]:.3f}, {band[1]:.3f}) eV/A", flush=True)
        res = {}
        for seed in range(args.seeds):
            for s in args.strategies:
                res[(s, seed)] = run(s, seed, pool, test, base, start, band, args, tmp)
                if args.json:  # what is done so far, in case the run is stopped
                    write_results(args.json, res, band=band, args=vars(args), summary={})
    seeds = range(args.seeds)
    labels = [args.budget * r for r in range(args.rounds + 1)]
    print(f"\nmean held-out force RMSE (meV/A) after {labels} labels, {args.seeds} seeds")
    for s in args.strategies:
        mean = np.mean([res[(s, k)][0] for k in seeds], axis=0)
        p99 = np.mean([res[(s, k)][1] for k in seeds])
        print(f"  {s:7s} " + " ".join(f"{1000 * m:6.1f}" for m in mean)
              + f"   p99 {1000 * p99:.0f}")
    # per seed: labels to reach random's final RMSE of that seed (paired); a strategy
    # that never reaches it is charged the whole budget + one round
    summary = cost_summary({key: [(args.budget * r, c) for r, c in enumerate(v[0])]
                            for key, v in res.items()}, args.strategies, seeds,
                           dict.fromkeys(res, args.budget * (args.rounds + 1)))
    if args.json:
        write_results(args.json, res, band=band, args=vars(args), summary=summary)


if __name__ == "__main__":
    main()
