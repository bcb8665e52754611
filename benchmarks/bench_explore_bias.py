"""What the uncertainty-seeking bias (explore.bias, pair_style committee bias A B) does to
the sampled distribution, and whether its frames teach the committee more.

    .venv/bin/python benchmarks/bench_explore_bias.py [--biases 0 0.5 2] [--width 0.002]
        [--seeds 3] [--steps 4000] [--temperature 900] [--labels 16] [--json out.json]

Walkers: the shipped two-member Cu committee (tests/data/deepmd, trained on EMT MD at
300-1200 K) drives NVT MD of a 32-atom fcc Cu cell (Nose-Hoover, 2 fs); one walker per
(bias, seed), the seed shared across biases (same start and velocities).  A frame is kept
every 20 steps.  Per bias the script reports:

- sampling: the committee's max force deviation sigma_F and energy deviation sigma_E
  (median, 90th percentile), the share of frames in the candidate band [lo, hi) and above
  hi, the cost per MD step against the unbiased walker;
- what the frames are (EMT as the truth): the leader's real max-atom force error
  (median, 90th percentile), EMT energy per atom above the unbiased mean, mean
  temperature, nearest-neighbour distance (mean, smallest), i.e. how far the bias pulls
  the walker from the model's Boltzmann distribution;
- learning: ``--labels`` frames drawn at random among each walker's candidates
  (sigma_F >= lo; DP-GEN's rule), labelled by EMT, the committee warm-started on them
  (2 x 300 steps), held-out force RMSE on independent EMT MD at 900-1800 K, paired by seed.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data")
sys.path.insert(0, DATA)
MODELS = [os.path.join(DATA, "deepmd", f"cu_{k}.pth") for k in (1, 2)]
CKPTS = [os.path.join(DATA, "deepmd", f"cu_{k}.ckpt.pt") for k in (1, 2)]
EVERY = 20


def walk(bias, width, seed, steps, temperature, workdir):
    """Frames (ASE Atoms) every EVERY steps with sigma_F, sigma_E; seconds per step."""
    from ase import Atoms
    from ase.build import bulk
    from ase.io import write
    from mpi4py import MPI

    from mdsentry.lmp import lammps

    data = os.path.join(workdir, "start.data")
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    write(data, atoms, format="lammps-data", atom_style="atomic", masses=True)
    lmp = lammps(comm=MPI.COMM_SELF, deepmd=True)
    kw = f"bias {bias!r} {width!r} " if bias > 0 else ""
    lmp.commands_string(f"""units metal
atom_style atomic
read_data {data}
pair_style committee every {EVERY} {kw}deepmd {MODELS[0]} deepmd {MODELS[1]}
pair_coeff * * 1 Cu
pair_coeff * * 2 Cu
compute devi all pair committee
velocity all create {temperature} {4711 + seed} loop geom
fix md all nvt temp {temperature} {temperature} 0.1
timestep 0.002
thermo_style custom step temp pe c_devi[1] c_devi[4] c_devi[8]
thermo {EVERY}
run 0""")
    frames, rows = [], []
    t0 = time.perf_counter()
    for _ in range(steps // EVERY):
        lmp.command(f"run {EVERY} pre no post no")
        x = np.array(lmp.gather_atoms("x", 1, 3), dtype=float).reshape(-1, 3)
        box = lmp.extract_box()
        cell = np.diag(np.array(box[1]) - np.array(box[0]))
        frames.append(Atoms("Cu" * len(x), positions=x, cell=cell, pbc=True))
        devi = lmp.extract_compute("devi", 0, 1)
        rows.append([lmp.get_thermo("temp"), lmp.get_thermo("pe"), devi[0], devi[3], devi[7]])
    seconds = (time.perf_counter() - t0) / steps
    lmp.close()
    rows = np.array(rows)
    return frames, {"temp": rows[:, 0], "sigma_f": rows[:, 2], "sigma_e": rows[:, 3],
                    "bias_energy": rows[:, 4]}, seconds


def truth(frames):
    """EMT energies per atom and forces, and the frames labelled with them."""
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    labelled = []
    for a in frames:
        a = a.copy()
        a.calc = EMT()
        e, f, s = a.get_potential_energy(), a.get_forces(), a.get_stress()
        a.calc = SinglePointCalculator(a, energy=e, forces=f, stress=s)
        labelled.append(a)
    return labelled


def nn_distances(frames):
    from ase.neighborlist import neighbor_list

    return np.array([neighbor_list("d", a, 3.0).min() if len(neighbor_list("d", a, 3.0))
                     else np.nan for a in frames])


def main():
    from make_deepmd_models import emt_frames

    from mdsentry.frames import read_frames
    from mdsentry.train.deepmd import predict, train_committee

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--biases", type=float, nargs="+", default=[0.0, 0.5, 2.0])
    p.add_argument("--width", type=float, default=0.002, help="B, eV/atom")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--temperature", type=float, default=900.0)
    p.add_argument("--lo", type=float, default=0.1)
    p.add_argument("--hi", type=float, default=0.3)
    p.add_argument("--labels", type=int, default=16)
    p.add_argument("--train-steps", type=int, default=300)
    p.add_argument("--json")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    test = emt_frames([900, 1200, 1500, 1800], per_temperature=8, seed=9, stride=10)
    base = read_frames(os.path.join(DATA, "cu_emt.extxyz"), index="::4")
    out = {"args": vars(args), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for bias in args.biases:
                wd = os.path.join(tmp, f"b{bias}_s{seed}")
                os.makedirs(wd)
                frames, obs, sec = walk(bias, args.width, seed, args.steps, args.temperature, wd)
                lab = truth(frames)
                lead = predict(MODELS[0], frames)
                err = np.array([np.linalg.norm(f - a.get_forces(), axis=1).max()
                                for (_, f, _), a in zip(lead, lab)])
                e_emt = np.array([a.get_potential_energy() / len(a) for a in lab])
                cand = [i for i, s in enumerate(obs["sigma_f"]) if s >= args.lo]
                rng = np.random.default_rng(100 + seed)
                pool = cand if len(cand) >= args.labels else list(range(len(frames)))
                picked = rng.choice(pool, size=args.labels, replace=False)
                res = train_committee(base + [lab[i] for i in picked], test,
                                      os.path.join(wd, "train"), n_models=2,
                                      steps=args.train_steps, init_models=CKPTS,
                                      seeds=[11 + 97 * seed, 23 + 97 * seed], jobs=2)
                r = {"seconds_per_step": sec,
                     "sigma_f": obs["sigma_f"].tolist(), "sigma_e": obs["sigma_e"].tolist(),
                     "true_max_error": err.tolist(), "emt_energy": e_emt.tolist(),
                     "temp": obs["temp"].tolist(), "nn_min": nn_distances(frames).tolist(),
                     "bias_energy": obs["bias_energy"].tolist(),
                     "candidates": len(cand), "test_rmse_f": res.rmse[0]["f"],
                     "test_rmse_f_before": None}
                out["runs"][f"{bias}/{seed}"] = r
                print(f"bias {bias:4.1f} seed {seed}: sigma_F median "
                      f"{np.median(obs['sigma_f']):.3f}, candidates {len(cand)}/{len(frames)}, "
                      f"true max err median {np.median(err):.3f} eV/A, held-out F RMSE "
                      f"{1000 * res.rmse[0]['f']:.1f} meV/A, {1000 * sec:.2f} ms/step",
                      flush=True)
    from mdsentry.train.deepmd import evaluate
    out["start_rmse_f"] = evaluate(MODELS[0], test)["f"]
    summarize(out, args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


def summarize(out, args):
    runs, seeds = out["runs"], range(args.seeds)

    def pooled(bias, key):
        return np.concatenate([np.asarray(runs[f"{bias}/{k}"][key], float) for k in seeds])

    ref_e = np.mean(pooled(args.biases[0], "emt_energy"))
    ref_t = np.mean([runs[f"{args.biases[0]}/{k}"]["seconds_per_step"] for k in seeds])
    print(f"\n{args.temperature:.0f} K, {args.steps} steps x {args.seeds} seeds per bias, "
          f"B = {args.width} eV/atom, band [{args.lo}, {args.hi}) eV/A; starting committee "
          f"held-out F RMSE {1000 * out['start_rmse_f']:.1f} meV/A")
    print("   A   sigma_F med/p90  sigma_E med (meV/at)  band  above  true err med/p90  "
          "dE_EMT (meV/at)  T (K)  nn min (A)  F RMSE after (meV/A)  cost/step")
    summary = {}
    for b in args.biases:
        sf, se, err = pooled(b, "sigma_f"), pooled(b, "sigma_e"), pooled(b, "true_max_error")
        band = np.mean((sf >= args.lo) & (sf < args.hi))
        above = np.mean(sf >= args.hi)
        de = 1000 * (np.mean(pooled(b, "emt_energy")) - ref_e)
        rmse = [runs[f"{b}/{k}"]["test_rmse_f"] for k in seeds]
        cost = np.mean([runs[f"{b}/{k}"]["seconds_per_step"] for k in seeds]) / ref_t
        s = {"sigma_f_median": float(np.median(sf)), "sigma_f_p90": float(np.percentile(sf, 90)),
             "sigma_e_median": float(np.median(se)), "band": float(band), "above": float(above),
             "true_error_median": float(np.median(err)),
             "true_error_p90": float(np.percentile(err, 90)), "emt_energy_shift": float(de),
             "temp": float(np.mean(pooled(b, "temp"))),
             "nn_min": float(np.nanmin(pooled(b, "nn_min"))),
             "nn_mean_of_min": float(np.nanmean(pooled(b, "nn_min"))),
             "rmse_after": rmse, "rmse_after_mean": float(np.mean(rmse)), "cost": float(cost)}
        summary[str(b)] = s
        print(f"{b:5.1f}  {s['sigma_f_median']:.3f}/{s['sigma_f_p90']:.3f}       "
              f"{1000 * s['sigma_e_median']:6.2f}            {band:4.2f}  {above:4.2f}   "
              f"{s['true_error_median']:.3f}/{s['true_error_p90']:.3f}     {de:7.1f}       "
              f"{s['temp']:6.0f}  {s['nn_mean_of_min']:.2f}/{s['nn_min']:.2f}   "
              f"{1000 * s['rmse_after_mean']:6.1f} {[round(1000 * x, 1) for x in rmse]}  "
              f"{cost:.2f}x")
    out["summary"] = summary


if __name__ == "__main__":
    main()
