"""Label efficiency: oracle calls to reach a test force RMSE, mdsentry selection vs random.

    .venv/bin/python benchmarks/bench_label_efficiency.py [--rounds 4] [--budget 8]

Same system (32-atom Cu, EMT as the oracle), same pool of MD frames (EMT Langevin
at 900-1800 K, beyond the 300-1200 K the starting committee saw), same budget per
round, same training (the shipped two-model committee warm-started each round).
"mdsentry": frames whose committee force deviation is at least the pool's median
(what fix sentry would flag), then farthest-point selection against everything
labelled (select.py).  "random": uniform draws from the pool.  Printed: held-out
force RMSE after each round, and the oracle calls each strategy needed to reach
the final RMSE of random selection.
"""

import argparse
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data")
sys.path.insert(0, DATA)


def max_deviation(models, frames):
    from mdsentry.train.deepmd import predict

    forces = np.array([[f for _, f, _ in predict(m, frames)] for m in models])  # (M, N, n, 3)
    sigma = np.sqrt(np.mean(np.sum((forces - forces.mean(axis=0)) ** 2, axis=-1), axis=0))
    return sigma.max(axis=-1)


def run(strategy, pool, test, base, rounds, budget, steps, workdir, seed=0):
    from mdsentry.select import select
    from mdsentry.train.deepmd import evaluate, train_committee

    models = [os.path.join(DATA, "deepmd", f"cu_{k}.pth") for k in (1, 2)]
    ckpts = [os.path.join(DATA, "deepmd", f"cu_{k}.ckpt.pt") for k in (1, 2)]
    rng = np.random.default_rng(seed)
    left = list(range(len(pool)))
    chosen = []
    curve = [(0, evaluate(models[0], test)["f"])]
    for r in range(rounds):
        if strategy == "random":
            picks = list(rng.choice(left, size=budget, replace=False))
        else:
            devi = max_deviation(models, [pool[i] for i in left])
            flagged = [i for i, d in zip(left, devi) if d >= np.median(devi)]
            sub = select([pool[i] for i in flagged], base + [pool[i] for i in chosen],
                         budget=budget, score=devi[[left.index(i) for i in flagged]])
            picks = [flagged[k] for k in sub]
        chosen += [int(i) for i in picks]
        left = [i for i in left if i not in set(chosen)]
        res = train_committee(base + [pool[i] for i in chosen], test,
                              os.path.join(workdir, f"{strategy}{r}"), n_models=2, steps=steps,
                              init_models=ckpts, seeds=[11 + r, 23 + r])
        models, ckpts = res.models, res.checkpoints
        curve.append((len(chosen), res.rmse[0]["f"]))
        print(f"  {strategy:8s} round {r + 1}: {len(chosen):3d} labels, "
              f"test force RMSE {1000 * res.rmse[0]['f']:.1f} meV/A", flush=True)
    return curve


def calls_to_reach(curve, target):
    for calls, rmse in curve:
        if rmse <= target:
            return calls
    return None


def main():
    from make_deepmd_models import emt_frames

    from mdsentry.frames import read_frames

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--budget", type=int, default=8)
    p.add_argument("--steps", type=int, default=400)
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    pool = emt_frames([900, 1200, 1500, 1800], per_temperature=40, seed=3, stride=5)
    test = emt_frames([900, 1200, 1500, 1800], per_temperature=8, seed=9, stride=10)
    base = read_frames(os.path.join(DATA, "cu_emt.extxyz"), index="::4")
    with tempfile.TemporaryDirectory() as tmp:
        curves = {s: run(s, pool, test, base, args.rounds, args.budget, args.steps, tmp)
                  for s in ("mdsentry", "random")}
    target = curves["random"][-1][1]
    print(f"\n{'labels':>7s} {'mdsentry F RMSE':>16s} {'random F RMSE':>14s}   (meV/A, held out)")
    for (n, a), (_, b) in zip(curves["mdsentry"], curves["random"]):
        print(f"{n:7d} {1000 * a:16.1f} {1000 * b:14.1f}")
    na, nr = calls_to_reach(curves["mdsentry"], target), calls_to_reach(curves["random"], target)
    print(f"\noracle calls to reach {1000 * target:.1f} meV/A (random's final RMSE): "
          f"mdsentry {na if na is not None else '>' + str(args.rounds * args.budget)}, "
          f"random {nr}" + (f"  -> {nr / na:.2f}x fewer" if na else ""))


if __name__ == "__main__":
    main()
