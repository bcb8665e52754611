"""Label efficiency, online arm: the whole loop (explore, select, label, train,
validate, swap) per strategy, and the oracle calls each needs to reach random MD
frames' held-out force RMSE.

    .venv/bin/python benchmarks/bench_label_online.py [--seeds 3] [--iterations 4]
        [--budget 8] [--steps 1000] [--train-steps 300] [--json out.json]

The online protocol of issue #14, beside bench_label_efficiency.py's offline one: each
strategy runs ``mdsentry run`` from the same start (the shipped two-model Cu committee
and its data, tests/data/deepmd), with the same walkers (32-atom Cu, NVT at 900 and
1800 K, beyond the 300-1200 K the start saw), batch size, warm training schedule and
oracle (EMT); its own committee drives its own exploration, so what a strategy picks
changes what it explores next.  Seed k changes the walkers' velocities (explore.seed)
and the random draws; the training seeds are the loop's own (per iteration), so seeds
are paired across strategies.  Held-out test set: independent EMT MD at 900-1800 K
(the offline arm's), never seen by the loop (its thresholds and acceptance use its own
held-out picks).  No walker halts (explore.hi = 10 eV/A), so every strategy explores
the same number of steps.  Strategies:

- random: select.method = "random" with explore.lo = 1e-4 eV/A, so every checked
          frame is a candidate: random MD frames, the baseline;
- above:  select.method = "random" among frames at or above lo (DP-GEN's candidates;
          lo = the median max deviation of the starting committee over EMT MD at
          900-1800 K, as the offline arm's band);
- fps:    select.method = "fps" above the same lo (the default);
- maxdet: select.method = "maxdet" above the same lo.

Printed: per strategy the mean held-out force RMSE after each iteration, the oracle
calls each needs to reach random's final RMSE (per seed, paired; linear between
iterations), the ratio random/strategy with a bootstrap 90 % interval over seeds, and
the 99th percentile of the per-atom force error at the end.  Every frame has 32 atoms,
so atoms labelled = 32 x calls.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from ase.build import bulk
from ase.io import read, write

from mdsentry.config import dumps

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data")
sys.path.insert(0, DATA)
sys.path.insert(0, HERE)
from bench_label_efficiency import START  # noqa: E402
from labelcost import atom_deviation, cost_summary, force_errors, write_results  # noqa: E402

MODELS, CKPTS = START  # the offline arm's start: the shipped two-model committee
MDSENTRY = os.path.join(os.path.dirname(sys.executable), "mdsentry")
STRATEGIES = {"random": ("random", None), "above": ("random", "band"), "fps": ("fps", "band"),
              "maxdet": ("maxdet", "band")}


def run_loop(strategy, seed, lo, args, root):
    """``mdsentry run`` of one strategy and seed; its state.json."""
    method, band = STRATEGIES[strategy]
    work = os.path.join(root, f"{strategy}{seed}")
    done = os.path.join(work, "seconds.json")
    if os.path.exists(done):  # finished in an earlier call with the same --keep
        with open(os.path.join(work, "run", "state.json")) as fh, open(done) as fs:
            return json.load(fh), json.load(fs)
    if os.path.exists(work):
        shutil.rmtree(work)  # an unfinished run starts again
    os.makedirs(work)
    write(os.path.join(work, "cu.extxyz"), bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2))
    write(os.path.join(work, "initial.extxyz"),
          read(os.path.join(DATA, "cu_emt.extxyz"), "::4"))
    with open(os.path.join(work, "in.md"), "w") as fh:
        fh.write("fix md all nvt temp ${temp} ${temp} 0.1\nthermo 1000\n")
    cfg = {
        "workdir": "run",
        "system": {"structure": "cu.extxyz"},
        "explore": {"deck": "in.md", "temperatures": [900.0, 1800.0], "steps": args.steps,
                    "chunk": args.steps, "every": 10, "timestep": 0.002,
                    "lo": lo if band else 1e-4, "hi": 10.0, "seed": 12345 + 1000 * seed},
        "oracle": {"calculator": "emt", "timeout": 60.0},
        "data": {"initial": ["initial.extxyz"], "bootstrap": 0, "valid_fraction": 0.2},
        "select": {"budget": args.budget, "method": method},
        "train": {"models": 2, "steps": args.train_steps, "init_models": MODELS,
                  "init_checkpoints": CKPTS, "jobs": 2},
        "loop": {"max_iterations": args.iterations, "max_labels": 10000},
    }
    with open(os.path.join(work, "run.toml"), "w") as fh:
        fh.write(dumps(cfg))
    t0 = time.perf_counter()
    # one rank per walker (the driver's rule); the members train two at a time
    mpirun = os.path.join(os.path.dirname(sys.executable), "mpirun")
    proc = subprocess.run([mpirun, "-np", "2", MDSENTRY, "run", "run.toml", "--no-progress"],
                          cwd=work, capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    if proc.returncode:
        raise SystemExit(f"{strategy} seed {seed} failed:\n{proc.stdout[-3000:]}\n"
                         f"{proc.stderr[-3000:]}")
    with open(os.path.join(work, "run.log"), "w") as fh:
        fh.write(proc.stdout)
    seconds = time.perf_counter() - t0
    with open(done, "w") as fh:
        json.dump(seconds, fh)
    with open(os.path.join(work, "run", "state.json")) as fh:
        return json.load(fh), seconds


def curve_of(state, test):
    """(oracle calls so far, held-out force RMSE of the leader in use) after each
    iteration that labelled; the start first.  A rejected committee leaves the one in use."""
    from mdsentry.train.deepmd import evaluate

    leader, calls = MODELS[0], 0
    points = [(0, evaluate(leader, test)["f"])]
    for row in state["history"]:
        if "labelled" not in row:
            continue
        calls += row.get("labelled", 0) + row.get("failed", 0)
        if row.get("accepted"):
            leader = row["trained"]["models"][0]
        points.append((calls, evaluate(leader, test)["f"]))
    return points, leader


def main():
    from make_deepmd_models import emt_frames

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--iterations", type=int, default=4, help="loop.max_iterations")
    p.add_argument("--budget", type=int, default=8)
    p.add_argument("--steps", type=int, default=1000, help="MD steps per walker and iteration")
    p.add_argument("--train-steps", type=int, default=300)
    p.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES))
    p.add_argument("--keep", help="keep the runs' work directories here; a later call with "
                   "the same directory reuses the runs that finished (add seeds)")
    p.add_argument("--json", help="write the curves here")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    pool = emt_frames([900, 1200, 1500, 1800], per_temperature=40, seed=3, stride=5)
    test = emt_frames([900, 1200, 1500, 1800], per_temperature=8, seed=9, stride=10)
    lo = float(np.percentile(atom_deviation(MODELS, pool).max(axis=1), 50))
    print(f"test {len(test)} frames; lo = {lo:.4f} eV/A (median max deviation of the start "
          f"over {len(pool)} EMT MD frames)", flush=True)
    res, seconds = {}, {}
    root = args.keep or tempfile.mkdtemp(prefix="label_online_")
    for seed in range(args.seeds):
        for s in args.strategies:
            state, seconds[(s, seed)] = run_loop(s, seed, lo, args, root)
            points, leader = curve_of(state, test)
            res[(s, seed)] = (points, float(np.percentile(force_errors(leader, test), 99)))
            print(f"  {s:7s} seed {seed}: " + " ".join(f"{c}:{1000 * r:.1f}" for c, r in points)
                  + f" (calls:meV/A); p99 {1000 * res[(s, seed)][1]:.0f}; "
                  f"{seconds[(s, seed)]:.0f} s; {state.get('done')}", flush=True)
    seeds = range(args.seeds)
    print(f"\nmean held-out force RMSE (meV/A) after each iteration, {args.seeds} seeds")
    for s in args.strategies:
        n = min(len(res[(s, k)][0]) for k in seeds)
        mean = np.mean([[r for _, r in res[(s, k)][0][:n]] for k in seeds], axis=0)
        calls = np.mean([[c for c, _ in res[(s, k)][0][:n]] for k in seeds], axis=0)
        print(f"  {s:7s} " + " ".join(f"{c:.0f}:{1000 * m:.1f}" for c, m in zip(calls, mean))
              + f"   p99 {1000 * np.mean([res[(s, k)][1] for k in seeds]):.0f}; "
              f"{np.mean([seconds[(s, k)] for k in seeds]):.0f} s per run")
    # never reached: charged everything it labelled plus one more batch
    summary = cost_summary({key: v[0] for key, v in res.items()}, args.strategies, seeds,
                           {key: v[0][-1][0] + args.budget for key, v in res.items()})
    if args.json:
        write_results(args.json, res, lo=lo, args=vars(args), summary=summary,
                      seconds={f"{s}/{k}": v for (s, k), v in seconds.items()})


if __name__ == "__main__":
    main()
