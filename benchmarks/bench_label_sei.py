"""Label cost on a 1,080-atom SEI cell: whole frames against cut-out cells (issue #14).

    .venv/bin/python benchmarks/bench_label_sei.py [--seeds 3] [--rounds 3] [--frames 3]
        [--cuts 2] [--core 3.5] [--buffer 7] [--hi 1] [--pool-temperatures 500 600]
        [--strategies random random-cut maxdet-cut]
        [--json out.json] [--keep DIR]

The offline protocol of bench_label_efficiency.py on the system the issue asks for: the
Li(111)/Li2CO3(001) interface of inputs/li_li2co3_interface (120 atoms, 12 A of vacuum)
repeated 3 x 3 in plane (1,080 atoms), labelled by CHGNet (its weights ship in its wheel).

- initial set: CHGNet Langevin MD of the 120-atom interface at 300, 400 and 500 K
  (--initial-temperatures, --initial-frames 16 each, 20 fs apart); the starting
  committee (two DeePMD se_e2_a members) is trained on it from scratch;
- held-out test set: independent CHGNet MD of the 120-atom interface at the pool's
  temperatures (8 frames each, 50 fs apart), never used for any threshold;
- frozen candidate pool: LAMMPS NVT of the 1,080-atom cell at 500 and 600 K
  (--pool-temperatures; --pool-frames 15 each, 25 fs apart), just past the initial set
  and Li's melting point (453 K), explored by the field deck's stand-in committee
  (--pool-model; trained on 602 CHGNet frames, stable for picoseconds), not by the
  starting committee: that one's own MD collapses carbonates within 200 fs (closest
  pair 0.7 A, max sigma_i past 1 eV/A in 26 of 30 frames), where a loop's fix sentry
  halts and labels, which an offline pool cannot; frames whose max sigma_i under the
  starting committee reaches --hi (1 eV/A) are dropped, as a loop never labels them;
- per round: ``random`` labels one whole pool frame (random MD frames: what labelling
  without cutting costs, 1,080 atoms); ``random-cut`` three random pool frames, each cut
  (cut.cut, clusters with 6 A of vacuum, core --core A, buffer --buffer A: 7 A by
  default, CHGNet's reach; the loop's default, the model's receptive field of 5 A,
  leaves 43-215 meV/A cut error in CHGNet's forces, docs/driver.md) around up to
  --cuts atoms at or above lo (the 90th percentile of the starting committee's sigma_i
  over the pool) more than the core apart, most uncertain first (the loop's cut_centres;
  a frame with none is cut around its most uncertain atom, as in the loop);
  ``maxdet-cut`` three frames chosen by select.maxdet (two greedy on the leader's
  per-atom features of their uncertain atoms against the training atoms, the core atoms
  of earlier cells; one drawn at random, its 20 % share), cut the same way.
  Cut cells train on their core atoms' forces only, each cell's force loss the mean
  over its core (train.deepmd.atom_weights), no energy or virial; whole frames on
  energy, forces and virial.
- training: the two-member committee warm-started each round, the same schedule (deepmd
  draws each frame equally often, as in the loop) and the same paired seeds for every
  strategy.

Printed first: how well a cut cell's core forces reproduce the big cell's under CHGNet
(whose own reach, 4 interactions of 5-6 A, exceeds the DeePMD model's 5 A), and
the pool's closest atom pair.  Metric: atoms labelled (the issue's proxy for DFT cost;
DFT scales worse than linearly, so a cut cell is cheaper than its share of atoms) and
oracle calls needed to reach random's final held-out force RMSE, paired per seed, the
ratio random/strategy with a bootstrap 90 % interval (a strategy that never reaches it
is charged the larger of its own and random's total, plus a round); the 99th
percentile of the per-atom force error at the end.  Stages are kept in --keep DIR
(frames as extxyz, the starting committee) and reused by a rerun.
"""

import argparse
import hashlib
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
                       oracle_md, pool_md, write_results)

ELEMENTS = ["Li", "C", "O"]
# a committee that explores the interface stably (602 CHGNet frames at 400/600 K,
# inputs/li_li2co3_field/README.md): the pool's explorer
STAND_IN = os.path.join(ROOT, "inputs", "li_li2co3_field", "potential", "model.01", "model.pth")


def interface(repeat=(3, 3, 1)):
    from ase.io import read

    atoms = read(os.path.join(ROOT, "inputs", "li_li2co3_interface", "structure.extxyz"))
    del atoms.arrays["region"]
    return atoms.repeat(repeat)


def cut_cells(atoms, sigma, lo, buffer, core, n_cuts):
    """Cut-out clusters around a frame's uncertain atoms (the loop's select stage)."""
    from mdsentry.cut import cut, cut_centres

    a = atoms.copy()
    a.arrays["devi"] = sigma
    centres = cut_centres(a, lo, core=core, max_cuts=n_cuts) or [int(np.argmax(sigma))]
    return [cut(a, [c], core=core, buffer=buffer, mode="cluster") for c in centres]


def pick_frames(strategy, rng, pool, left, chosen, base, models, n, lo):
    """Pool indices this strategy labels next, and each atom's deviation on them (the
    random arms need it on their picks alone)."""
    from mdsentry.select import maxdet
    from mdsentry.train import trained_atoms
    from mdsentry.train.deepmd import atom_features

    if strategy in ("random", "random-cut"):
        idx = [left[int(k)] for k in rng.choice(len(left), size=n, replace=False)]
        return idx, list(atom_deviation(models, [pool[i] for i in idx]))
    frames = [a.copy() for a in (pool[i] for i in left)]
    sig = atom_deviation(models, frames)
    for a, s in zip(frames, sig):
        a.arrays["devi"] = s
    train = base + chosen
    masks = [trained_atoms(a) for a in train]
    tfeat = np.concatenate([f[m] for f, m in zip(atom_features(models[0], train), masks)])
    syms = np.concatenate([np.asarray(a.get_chemical_symbols())[m]
                           for a, m in zip(train, masks)])
    sub = maxdet(frames, atom_features(models[0], frames), tfeat, syms, n, lo,
                 seed=int(rng.integers(1 << 30)))
    return [left[k] for k in sub], [sig[k] for k in sub]


def run(strategy, seed, pool, test, base, start, oracle, args, lo, buffer, workdir):
    """Per round (atoms labelled, oracle calls, held-out force RMSE, core atoms), and
    the p99 atom force error at the end."""
    from mdsentry.train import trained_atoms
    from mdsentry.train.deepmd import evaluate, train_committee

    models, ckpts = start
    rng = np.random.default_rng(1000 + seed)
    left, labelled = list(range(len(pool))), []
    atoms_used = calls = trained = 0
    curve = [(0, 0, evaluate(models[0], test)["f"], 0)]
    for r in range(args.rounds):
        n = 1 if strategy == "random" else args.frames
        idx, sigs = pick_frames(strategy, rng, pool, left, labelled, base, models, n, lo)
        left = [i for i in left if i not in idx]
        for i, s in zip(idx, sigs):
            if strategy == "random":
                new = [oracle.label(pool[i], key=i, stress=True)]
            else:
                new = [oracle.label(c) for c in
                       cut_cells(pool[i], s, lo, buffer, args.core, args.cuts)]
            labelled += new
            atoms_used += sum(len(a) for a in new)
            calls += len(new)
            trained += int(sum(trained_atoms(a).sum() for a in new))
        res = train_committee(base + labelled, test, os.path.join(workdir, f"{strategy}{seed}.{r}"),
                              n_models=2, steps=args.steps, init_models=ckpts,
                              seeds=[11 + 97 * seed + r, 23 + 97 * seed + r], jobs=2)
        models, ckpts = res.models, res.checkpoints
        curve.append((atoms_used, calls, res.rmse[0]["f"], trained))
    p99 = float(np.percentile(force_errors(models[0], test), 99))
    print(f"  {strategy:10s} seed {seed}: " + " ".join(
        f"{a}/{c}/{t}:{1000 * f:.0f}" for a, c, f, t in curve)
        + f" (atoms/calls/trained atoms:meV/A); p99 {1000 * p99:.0f}", flush=True)
    return curve, p99


def stage(path, make):
    """Frames from ``path`` if an earlier run left them, else ``make()`` written there."""
    from ase.io import read, write

    if os.path.exists(path):
        return read(path, index=":")
    frames = make()
    write(path + ".part", frames, format="extxyz")
    os.replace(path + ".part", path)
    return frames


def fidelity(pool, k, sigma, lo, buffer, core, oracle):
    """RMS and max |F(core atom in its cut cell) - F(same atom in the big cell)| under
    the oracle, over the cells of pool frame k (its label shared with the random arm)."""
    frame = pool[k]
    big = oracle.label(frame, key=k, stress=True).get_forces()
    diff = []
    for c in cut_cells(frame, sigma, lo, buffer, core, 3):
        f = oracle.label(c).get_forces()
        m = c.arrays["core"]
        diff.append(np.linalg.norm(f[m] - big[c.arrays["source_index"][m]], axis=1))
    d = np.concatenate(diff)
    return float(np.sqrt(np.mean(d ** 2))), float(d.max()), len(d)


def min_distance(frames):
    from ase.neighborlist import neighbor_list

    return min(float(neighbor_list("d", a, 2.5).min(initial=2.5)) for a in frames)


def write_json(path, args, lo, fid, summary, out):
    write_results(path, out, args=vars(args), lo=lo, fidelity_rms_max=list(fid),
                  curves_columns=["atoms", "calls", "rmse_f", "trained_atoms"],
                  summary=summary)


def main():
    from mdsentry.train.deepmd import receptive_field, train_committee

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--frames", type=int, default=3, help="pool frames cut per round")
    p.add_argument("--cuts", type=int, default=2, help="cut cells per frame, at most")
    p.add_argument("--core", type=float, default=3.5,
                   help="core radius of a cut cell (A; with the 7 A buffer and whole "
                        "carbonates, 4 A does not fit the 25.8 A wide cell)")
    p.add_argument("--buffer", type=float, default=7.0,
                   help="buffer around the core (A; CHGNet's reach, docs/driver.md; 0: the "
                        "model's receptive field, the loop's default)")
    p.add_argument("--initial-temperatures", type=float, nargs="+",
                   default=[300.0, 400.0, 500.0],
                   help="CHGNet MD of the 120-atom interface for the initial set (K)")
    p.add_argument("--initial-frames", type=int, default=16,
                   help="initial frames per temperature (20 fs apart)")
    p.add_argument("--pool-temperatures", type=float, nargs=2, default=[500.0, 600.0],
                   help="the pool's and the held-out test set's temperatures (K)")
    p.add_argument("--pool-model", default=STAND_IN,
                   help="DeePMD model whose MD makes the pool (default: the field deck's "
                        "stand-in committee leader; 'start': the starting committee's leader)")
    p.add_argument("--pool-frames", type=int, default=15, help="pool frames per temperature")
    p.add_argument("--hi", type=float, default=1.0,
                   help="drop pool frames whose max sigma_i reaches hi (eV/A; fix sentry's "
                        "halt: a loop never labels past it); 0: keep all")
    p.add_argument("--steps", type=int, default=400, help="training steps per round")
    p.add_argument("--start-steps", type=int, default=3000)
    p.add_argument("--strategies", nargs="+", default=["random", "random-cut", "maxdet-cut"])
    p.add_argument("--json", help="write the curves here")
    p.add_argument("--keep", help="work directory to keep and reuse (default: a temporary one)")
    args = p.parse_args()
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    workdir = os.path.abspath(args.keep or tempfile.mkdtemp(prefix="bench_label_sei."))
    os.makedirs(workdir, exist_ok=True)
    t0 = time.time()
    small = interface((1, 1, 1))
    temps = args.pool_temperatures
    init = args.initial_temperatures
    initial = "initial_{}_{}".format("_".join(f"{t:g}" for t in init), args.initial_frames)
    base = stage(os.path.join(workdir, initial + ".extxyz"),
                 lambda: oracle_md(small, [(t, 20 * args.initial_frames, 20, 1 + 10 * k)
                                           for k, t in enumerate(init)]))
    # the test set at the pool's temperatures: where the committee is to be accurate
    test = stage(os.path.join(workdir, "test_{:g}_{:g}.extxyz".format(*temps)),
                 lambda: oracle_md(small, [(t, 400, 50, 2 + 10 * k)
                                           for k, t in enumerate(temps)]))
    print(f"CHGNet MD: {len(base)} initial, {len(test)} test frames ({time.time() - t0:.0f} s)",
          flush=True)
    t0 = time.time()
    start_name = f"start_{args.start_steps}_{initial}"
    res = train_committee(base, test, os.path.join(workdir, start_name), n_models=2,
                          steps=args.start_steps, seeds=[1, 2], jobs=2, resume=True)
    start = (res.models, res.checkpoints)
    buffer = args.buffer or receptive_field(start[0][0])
    print(f"starting committee: held-out force RMSE {1000 * res.rmse[0]['f']:.0f} meV/A "
          f"({time.time() - t0:.0f} s); cut buffer {buffer:.1f} A", flush=True)
    t0 = time.time()
    big = interface()
    # the cached pool is named after its explorer: another model must not reuse it
    if args.pool_model == "start":
        explorer, tag = start[0][0], start_name
    else:
        explorer = os.path.abspath(args.pool_model)
        tag = "stand-in" if explorer == os.path.abspath(STAND_IN) else \
            hashlib.sha1(explorer.encode()).hexdigest()[:12]
    name = "pool_{}_{:g}_{:g}_{}.extxyz".format(tag, *temps, args.pool_frames)
    pool = stage(os.path.join(workdir, name),
                 lambda: [f for k, T in enumerate(temps)
                          for f in pool_md(explorer, big, ELEMENTS, T, args.pool_frames, 50,
                                           101 + k, workdir)])
    sig = atom_deviation(start[0], pool)
    if args.hi:
        keep = sig.max(axis=1) < args.hi
        print(f"pool: {int(keep.sum())} of {len(pool)} frames below hi = {args.hi} eV/A")
        pool, sig = [a for a, k in zip(pool, keep) if k], sig[keep]
    if args.rounds * max(1, args.frames) > len(pool):
        raise SystemExit(f"the pool has {len(pool)} frames: fewer than rounds x frames")
    lo = float(np.percentile(sig, 90))
    print(f"pool: {len(pool)} frames of {len(big)} atoms ({time.time() - t0:.0f} s); max "
          f"sigma_i median {np.median(sig.max(axis=1)):.3f} eV/A; lo (90th percentile of "
          f"sigma_i) {lo:.3f} eV/A; closest pair {min_distance(pool):.2f} A", flush=True)
    oracle = Oracle()
    rms, worst, n = fidelity(pool, 0, sig[0], lo, buffer, args.core, oracle)
    print(f"cut cells of pool frame 0 under CHGNet: core forces vs the big cell's RMS "
          f"{1000 * rms:.0f}, max {1000 * worst:.0f} meV/A over {n} core atoms", flush=True)
    out = {}
    t0 = time.time()
    for seed in range(args.seeds):
        for s in args.strategies:
            out[(s, seed)] = run(s, seed, pool, test, base, start, oracle, args, lo, buffer,
                                 workdir)
            if args.json:  # what is done so far, in case the run is stopped
                write_json(args.json, args, lo, (rms, worst), {}, out)
    print(f"({time.time() - t0:.0f} s for {len(out)} runs)")
    seeds = range(args.seeds)
    print(f"\nmean held-out force RMSE (meV/A) and atoms labelled per round, {args.seeds} seeds")
    for s in args.strategies:
        rm = np.mean([[c[2] for c in out[(s, k)][0]] for k in seeds], axis=0)
        at = np.mean([[c[0] for c in out[(s, k)][0]] for k in seeds], axis=0)
        tr = np.mean([out[(s, k)][0][-1][3] for k in seeds])
        p99 = np.mean([out[(s, k)][1] for k in seeds])
        print(f"  {s:10s} " + " ".join(f"{1000 * m:6.1f}@{a:.0f}" for m, a in zip(rm, at))
              + f"   p99 {1000 * p99:.0f}; {tr:.0f} atoms' forces trained")
    summary = {}
    for unit, col in (("atoms", 0), ("calls", 1)):
        # a strategy that never reaches random's final RMSE is charged the larger of its
        # own total and random's (of the same seed), plus one more round
        cap = {(s, k): max(v[0][-1][col], out[("random", k)][0][-1][col])
               * (args.rounds + 1) / args.rounds for (s, k), v in out.items()}
        summary[unit] = cost_summary({key: [(c[col], c[2]) for c in v[0]]
                                      for key, v in out.items()}, args.strategies, seeds, cap,
                                      unit=f"{unit} labelled")
    if args.json:
        write_json(args.json, args, lo, (rms, worst), summary, out)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
