"""Label cost on a 1,080-atom SEI cell: whole frames against cut-out cells (issue #14).

    .venv/bin/python benchmarks/bench_label_sei.py [--seeds 3] [--rounds 3]
        [--strategies random random-cut maxdet-cut] [--json out.json] [--keep DIR]

The offline protocol of bench_label_efficiency.py on the system the issue asks for: the
Li(111)/Li2CO3(001) interface of inputs/li_li2co3_interface (120 atoms, 12 A of vacuum)
repeated 3 x 3 in plane (1,080 atoms), labelled by CHGNet (its weights ship in its wheel).

- initial set: CHGNet Langevin MD of the 120-atom interface at 400 K (12 frames); the
  starting committee (two DeePMD se_e2_a members) is trained on it from scratch;
- held-out test set: independent CHGNet MD of the 120-atom interface at 600 and 800 K
  (8 frames each), never used for any threshold;
- frozen candidate pool: LAMMPS NVT of the 1,080-atom cell with the starting
  committee's leader at 600 and 800 K (10 frames each, 25 fs apart);
- each round labels about 1,100 atoms: ``random`` one whole pool frame (random MD
  frames, what labelling without cutting costs); ``random-cut`` three random pool
  frames, each cut (cut.cut, clusters with 6 A of vacuum, core 3 A, buffer = the model's
  receptive field) around its three most uncertain atoms (deviation >= lo, the 90th
  percentile of the starting committee's over the pool); ``maxdet-cut`` three frames chosen
  by select.maxdet on the leader's per-atom features of their uncertain atoms, cut the
  same way.  Cut cells train on their core atoms' forces only (as in the loop).
- training: the two-member committee warm-started each round, the same schedule and
  the same paired seeds for every strategy.

Metric: atoms labelled (the issue's proxy for DFT cost; a DFT call on a cut cell of
~270 atoms is far cheaper than on 1,080 atoms, which this proxy does not credit) and
oracle calls needed to reach random's final held-out force RMSE, paired per seed, the
ratio random/strategy with a bootstrap 90 % interval; the 99th percentile of the
per-atom force error at the end.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, HERE)
from labelcost import (Oracle, atom_deviation, cost_summary, force_errors,  # noqa: E402
                       oracle_md, pool_md)

ELEMENTS = ["Li", "C", "O"]


def interface(repeat=(3, 3, 1)):
    from ase.io import read

    atoms = read(os.path.join(ROOT, "inputs", "li_li2co3_interface", "structure.extxyz"))
    del atoms.arrays["region"]
    return atoms.repeat(repeat)


def cut_cells(atoms, sigma, lo, buffer, n_cuts):
    from mdsentry.cut import cut, cut_centres

    a = atoms.copy()
    a.arrays["devi"] = sigma
    return [cut(a, [c], core=3.0, buffer=buffer, mode="cluster")
            for c in cut_centres(a, lo, core=3.0, max_cuts=n_cuts)]


def pick_frames(strategy, rng, pool, left, chosen, base, models, n, lo):
    """Pool indices this strategy labels next, and each atom's deviation on them."""
    from mdsentry.select import maxdet
    from mdsentry.train.deepmd import atom_features

    frames = [pool[i] for i in left]
    sig = atom_deviation(models, frames)
    if strategy in ("random", "random-cut"):
        sub = [int(k) for k in rng.choice(len(left), size=n, replace=False)]
    else:
        for a, s in zip(frames, sig):
            a.arrays["devi"] = s
        train = base + chosen
        tfeat = np.concatenate(atom_features(models[0], train))
        syms = np.concatenate([a.get_chemical_symbols() for a in train])
        sub = maxdet(frames, atom_features(models[0], frames), tfeat, syms, n, lo,
                     seed=int(rng.integers(1 << 30)))
    return [left[k] for k in sub], [sig[k] for k in sub]


def run(strategy, seed, pool, test, base, start, oracle, args, lo, buffer, workdir):
    """Per round (atoms labelled, oracle calls, held-out force RMSE), and the p99 atom
    force error at the end."""
    from mdsentry.train.deepmd import evaluate, train_committee

    models, ckpts = start
    rng = np.random.default_rng(1000 + seed)
    left, labelled = list(range(len(pool))), []
    atoms_used = calls = 0
    curve = [(0, 0, evaluate(models[0], test)["f"])]
    for r in range(args.rounds):
        n = 1 if strategy == "random" else args.frames
        idx, sigs = pick_frames(strategy, rng, pool, left, labelled, base, models, n, lo)
        left = [i for i in left if i not in idx]
        for i, s in zip(idx, sigs):
            if strategy == "random":
                new = [oracle.label(pool[i], key=i)]
            else:
                new = [oracle.label(c) for c in cut_cells(pool[i], s, lo, buffer, args.cuts)]
            labelled += new
            atoms_used += sum(len(a) for a in new)
            calls += len(new)
        res = train_committee(base + labelled, test, os.path.join(workdir, f"{strategy}{seed}.{r}"),
                              n_models=2, steps=args.steps, init_models=ckpts,
                              seeds=[11 + 97 * seed + r, 23 + 97 * seed + r], jobs=2)
        models, ckpts = res.models, res.checkpoints
        curve.append((atoms_used, calls, res.rmse[0]["f"]))
    p99 = float(np.percentile(force_errors(models[0], test), 99))
    print(f"  {strategy:10s} seed {seed}: " + " ".join(
        f"{a}/{c}:{1000 * f:.0f}" for a, c, f in curve) + f" (atoms/calls:meV/A); "
        f"p99 {1000 * p99:.0f}", flush=True)
    return curve, p99


def main():
    from mdsentry.train.deepmd import receptive_field, train_committee

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--frames", type=int, default=3, help="pool frames cut per round")
    p.add_argument("--cuts", type=int, default=3, help="cut cells per frame")
    p.add_argument("--steps", type=int, default=400, help="training steps per round")
    p.add_argument("--start-steps", type=int, default=3000)
    p.add_argument("--strategies", nargs="+", default=["random", "random-cut", "maxdet-cut"])
    p.add_argument("--json", help="write the curves here")
    p.add_argument("--keep", help="work directory to keep (default: a temporary one)")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    workdir = args.keep or tempfile.mkdtemp(prefix="bench_label_sei.")
    os.makedirs(workdir, exist_ok=True)
    t0 = time.time()
    small = interface((1, 1, 1))
    base = oracle_md(small, [(400.0, 240, 20, 1)])
    test = oracle_md(small, [(600.0, 400, 50, 2), (800.0, 400, 50, 3)])
    print(f"CHGNet MD: {len(base)} initial, {len(test)} test frames ({time.time() - t0:.0f} s)",
          flush=True)
    t0 = time.time()
    res = train_committee(base, test, os.path.join(workdir, "start"), n_models=2,
                          steps=args.start_steps, seeds=[1, 2], jobs=2)
    start = (res.models, res.checkpoints)
    buffer = receptive_field(start[0][0])
    print(f"starting committee: held-out force RMSE {1000 * res.rmse[0]['f']:.0f} meV/A "
          f"({time.time() - t0:.0f} s); cut buffer {buffer:.1f} A", flush=True)
    t0 = time.time()
    big = interface()
    pool = [f for k, T in enumerate((600.0, 800.0))
            for f in pool_md(start[0][0], big, ELEMENTS, T, 10, 50, 101 + k, workdir)]
    sig = atom_deviation(start[0], pool)
    lo = float(np.percentile(sig, 90))
    print(f"pool: {len(pool)} frames of {len(big)} atoms ({time.time() - t0:.0f} s); max "
          f"sigma_i median {np.median(sig.max(axis=1)):.3f} eV/A; lo (90th percentile of "
          f"sigma_i) {lo:.3f} eV/A", flush=True)
    oracle = Oracle()
    out = {}
    t0 = time.time()
    for seed in range(args.seeds):
        for s in args.strategies:
            out[(s, seed)] = run(s, seed, pool, test, base, start, oracle, args, lo, buffer,
                                 workdir)
    print(f"({time.time() - t0:.0f} s for {len(out)} runs)")
    seeds = range(args.seeds)
    print(f"\nmean held-out force RMSE (meV/A) and atoms labelled per round, {args.seeds} seeds")
    for s in args.strategies:
        rm = np.mean([[c[2] for c in out[(s, k)][0]] for k in seeds], axis=0)
        at = np.mean([[c[0] for c in out[(s, k)][0]] for k in seeds], axis=0)
        p99 = np.mean([out[(s, k)][1] for k in seeds])
        print(f"  {s:10s} " + " ".join(f"{1000 * m:6.1f}@{a:.0f}" for m, a in zip(rm, at))
              + f"   p99 {1000 * p99:.0f}")
    summary = {}
    for unit, col in (("atoms", 0), ("calls", 1)):
        # a strategy that never reaches random's final RMSE is charged its own total
        # plus one more round
        cap = {key: v[0][-1][col] * (args.rounds + 1) / args.rounds for key, v in out.items()}
        summary[unit] = cost_summary({key: [(c[col], c[2]) for c in v[0]]
                                      for key, v in out.items()}, args.strategies, seeds, cap,
                                      unit=f"{unit} labelled")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "lo": lo, "summary": summary,
                       "curves": {f"{s}/{k}": v[0] for (s, k), v in out.items()},
                       "p99": {f"{s}/{k}": v[1] for (s, k), v in out.items()}}, fh, indent=1)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
