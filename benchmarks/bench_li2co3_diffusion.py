"""Li diffusion in amorphous Li2CO3: the driver's DeePMD committee vs the oracle itself.

Same structure (inputs/li2co3_amorphous), same NVT protocol, same analysis
(mdsentry.analysis: MSD with block errors, Arrhenius fit), two force fields:

    # the oracle (CHGNet) directly, LAMMPS integrating through fix external: slow, short
    python benchmarks/bench_li2co3_diffusion.py oracle --temperatures 1000 1200 1400 --steps 1500
    # the committee trained by `mpirun -np 2 mdsentry run inputs/li2co3_amorphous/run.toml`:
    # the same short protocol, and a long one
    python benchmarks/bench_li2co3_diffusion.py model RUN_DIR --temperatures ... --steps 1500
    python benchmarks/bench_li2co3_diffusion.py model RUN_DIR --temperatures ... --steps 30000 --tag long
    # or the tutorial's production trajectories (mdsentry md --out DIR), dumped every 25 steps:
    python benchmarks/bench_li2co3_diffusion.py production RUN_DIR DIR --dt 0.025
    python benchmarks/bench_li2co3_diffusion.py compare            # the table and a plot

Each MD writes an npz of unwrapped Li positions under benchmarks/results/li2co3/ (not
committed); `compare` prints D(T) and Ea side by side and the wall time per MD step,
and writes li2co3_diffusion.png there.
"""

import argparse
import glob
import json
import os
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DECK = os.path.join(HERE, "..", "inputs", "li2co3_amorphous")
RESULTS = os.path.join(HERE, "results", "li2co3")
ELEMENTS = ["Li", "C", "O"]
TIMESTEP = 0.001  # ps
EQUILIBRATE = 200
DUMP_EVERY = 10


def _md(lmp, atoms, temperature, steps, seed):
    """Equilibrate, then collect positions every DUMP_EVERY steps (on rank 0)."""
    from ase import Atoms

    lmp.commands_list([f"timestep {TIMESTEP}",
                       f"velocity all create {temperature} {seed} mom yes rot yes dist gaussian",
                       f"fix md all nvt temp {temperature} {temperature} {100 * TIMESTEP}",
                       f"run {EQUILIBRATE}"])
    frames = []
    n = len(atoms)
    t0 = time.perf_counter()
    for _ in range(steps // DUMP_EVERY):
        lmp.command(f"run {DUMP_EVERY} pre no post no")
        x = np.array(lmp.gather_atoms("x", 1, 3)).reshape(n, 3)
        frames.append(Atoms(atoms.get_chemical_symbols(), positions=x, cell=atoms.cell, pbc=True))
    seconds = time.perf_counter() - t0
    return frames, seconds / (steps // DUMP_EVERY * DUMP_EVERY)


def _save(tag, temperature, frames, per_step, meta, dt=TIMESTEP * DUMP_EVERY):
    from mdsentry.analysis.diffusion import unwrap

    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"{tag}_T{temperature:g}.npz")
    np.savez(path, positions=unwrap(frames), symbols=np.array(frames[0].get_chemical_symbols()),
             dt=dt, per_step=per_step,
             temperature=temperature, meta=json.dumps(meta))
    print(f"{tag} {temperature:g} K: {len(frames)} frames, {per_step * 1000:.2f} ms/step -> {path}",
          flush=True)


def _start():
    from ase.io import read

    return read(os.path.join(DECK, "structure.extxyz"))


def cmd_oracle(args):
    from mpi4py import MPI

    from mdsentry.ase_lammps import attach_calculator
    from mdsentry.lmp import lammps
    from mdsentry.oracles import chgnet
    from mdsentry.structure import mass_commands, write_data

    atoms = _start()
    os.makedirs(RESULTS, exist_ok=True)
    data = write_data(atoms, os.path.join(RESULTS, "start.data"), ELEMENTS)
    calc = chgnet(threads=args.threads)
    for k, temperature in enumerate(args.temperatures):
        if os.path.exists(os.path.join(RESULTS, f"oracle_T{temperature:g}.npz")):
            continue
        lmp = lammps(comm=MPI.COMM_SELF, args=["-nocite", "-screen", "none", "-log", "none"])
        lmp.commands_list(["units metal", "atom_style atomic", "atom_modify map array",
                           f"read_data {data}", *mass_commands(ELEMENTS)])
        attach_calculator(lmp, calc, atoms, ELEMENTS)
        frames, per_step = _md(lmp, atoms, temperature, args.steps, seed=100 + k)
        lmp.close()
        _save("oracle", temperature, frames, per_step, {"force_field": "CHGNet 0.3.0"})


def cmd_model(args):
    from mpi4py import MPI

    from mdsentry.lmp import lammps
    from mdsentry.production import committee_of, deck

    models, cfg, version = committee_of(args.run_dir)
    atoms = _start()
    data = os.path.join(args.run_dir, "start.data")
    for k, temperature in enumerate(args.temperatures):
        lmp = lammps(comm=MPI.COMM_SELF, args=["-nocite", "-screen", "none", "-log", "none"],
                     deepmd=True)
        # the production deck's committee and sentry, without its own velocity/fix/run lines
        lines = [line for line in deck(cfg, models, data, temperature, 0, 0, 0, 1, TIMESTEP,
                                       RESULTS).splitlines()
                 if not line.startswith(("velocity", "fix md", "run", "dump", "thermo"))]
        lmp.commands_list([x for x in lines if x])
        frames, per_step = _md(lmp, atoms, temperature, args.steps, seed=100 + k)
        trusted = lmp.extract_fix("watch", 0, 1, 1), sum(lmp.extract_fix("watch", 0, 1, i)
                                                          for i in (1, 2, 5))
        lmp.close()
        _save(args.tag, temperature, frames, per_step,
              {"force_field": f"DeePMD committee v{version}", "trusted_share": trusted[0] / trusted[1]})


def cmd_production(args):
    """The trajectories of `mdsentry md` (tutorial's production) into the comparison."""
    from mdsentry.analysis.trajectory import read_trajectory
    from mdsentry.production import committee_of

    _, _, version = committee_of(args.run_dir)
    for tdir in sorted(glob.glob(os.path.join(args.production, "T*"))):
        temperature = float(os.path.basename(tdir)[1:])
        frames = read_trajectory(os.path.join(tdir, "traj.dump"), ELEMENTS)
        log = os.path.join(tdir, "log.lammps")
        per_step = _loop_seconds_per_step(log) if os.path.exists(log) else float("nan")
        _save(args.tag, temperature, frames, per_step,
              {"force_field": f"DeePMD committee v{version}", "source": tdir}, dt=args.dt)


def _loop_seconds_per_step(log):
    """Wall time per step of the last `run` in a LAMMPS log ("Loop time of X ... for N steps")."""
    import re

    found = re.findall(r"Loop time of ([0-9.eE+-]+) on \d+ procs for (\d+) steps", open(log).read())
    return float(found[-1][0]) / int(found[-1][1]) if found else float("nan")


def cmd_compare(args):
    from mdsentry.analysis import arrhenius, diffusion
    from mdsentry.plots import pyplot

    rows = {}
    for path in sorted(glob.glob(os.path.join(RESULTS, "*_T*.npz"))):
        d = np.load(path)
        tag = os.path.basename(path).split("_T")[0]
        res = diffusion.diffusion_coefficient(d["positions"], float(d["dt"]),
                                              select=d["symbols"] == "Li", blocks=args.blocks)
        rows.setdefault(tag, []).append((float(d["temperature"]), res["D"], res["D_err"],
                                         float(d["per_step"]), json.loads(str(d["meta"]))))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    print(f"{'force field':34s} {'T (K)':>6s} {'D(Li) cm^2/s':>22s} {'ms/step':>8s}")
    for tag, vals in rows.items():
        vals.sort()
        T, D, E = (np.array([v[i] for v in vals]) for i in range(3))
        for t, dv, de, v in zip(T, D, E, vals):
            extra = f"  trusted {100 * v[4]['trusted_share']:.0f} %" if "trusted_share" in v[4] else ""
            print(f"{v[4]['force_field'] + ' (' + tag + ')':34s} {t:6g} {dv:11.3e} +- {de:8.1e} "
                  f"{1000 * v[3]:8.2f}{extra}")
        if len(T) >= 2 and np.all(D > 0):
            fit = arrhenius.fit(T, D, E if np.all(E > 0) else None)
            print(f"{'':34s} Ea = {fit['Ea']:.3f} +- {fit['Ea_err']:.3f} eV")
            label = f"{tag}: Ea = {fit['Ea']:.2f} ± {fit['Ea_err']:.2f} eV"
        else:
            label = tag
        ax.errorbar(1000 / T, D, yerr=E, fmt="o-", capsize=3, label=label)
    if rows:
        speed = {tag: np.mean([v[3] for v in vals]) for tag, vals in rows.items()}
        if "oracle" in speed:
            for tag in speed:
                if tag != "oracle":
                    print(f"speed: {tag} is {speed['oracle'] / speed[tag]:.0f}x faster per step "
                          f"than the oracle")
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("D(Li) (cm²/s)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = os.path.join(RESULTS, "li2co3_diffusion.png")
    fig.savefig(out, dpi=120)
    print("wrote", out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("oracle")
    q.add_argument("--temperatures", type=float, nargs="+", default=[1000.0, 1200.0, 1400.0])
    q.add_argument("--steps", type=int, default=1500)
    q.add_argument("--threads", type=int, default=1)
    q.set_defaults(func=cmd_oracle)
    q = sub.add_parser("model")
    q.add_argument("run_dir")
    q.add_argument("--temperatures", type=float, nargs="+", default=[1000.0, 1200.0, 1400.0])
    q.add_argument("--steps", type=int, default=1500)
    q.add_argument("--tag", default="model")
    q.set_defaults(func=cmd_model)
    q = sub.add_parser("production", help="import `mdsentry md` trajectories (T*/traj.dump)")
    q.add_argument("run_dir")
    q.add_argument("production", help="the --out directory of mdsentry md")
    q.add_argument("--dt", type=float, required=True, help="ps between dumped frames")
    q.add_argument("--tag", default="production")
    q.set_defaults(func=cmd_production)
    q = sub.add_parser("compare")
    q.add_argument("--blocks", type=int, default=3)
    q.set_defaults(func=cmd_compare)
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
