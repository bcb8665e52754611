"""DeePMD inside pair committee vs bare and vs deepmd-kit's own model deviation.

~1000 atoms of Cu with the tiny test models, on 1 and 2 MPI ranks; prints
steps/s and time ratios against the bare single model measured in the same
run (best of --repeat interleaved repetitions).

    .venv/bin/python benchmarks/bench_deepmd.py [--steps 100] [--repeat 2]
(runs itself under mpirun for the 2-rank rows)
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = [os.path.join(HERE, "..", "tests", "data", "deepmd", f"cu_{k}.pth") for k in (1, 2)]
FOUR = [MODELS[0], MODELS[1], MODELS[0], MODELS[1]]

SYSTEM = """units metal
lattice fcc 3.61
region box block 0 6 0 6 0 7
create_box 1 box
create_atoms 1 box
mass 1 63.546
velocity all create 600.0 4928459 mom yes rot yes dist gaussian
fix nve all nve
timestep 0.001
thermo 1000
"""


def cases():
    members = " ".join(f"deepmd {m}" for m in FOUR)
    return {
        "bare deepmd": (f"pair_style deepmd {MODELS[0]}", ["pair_coeff * * Cu"]),
        "committee N=1": (f"pair_style committee deepmd {MODELS[0]}", ["pair_coeff * * 1 Cu"]),
        "committee N=4 every 10": (f"pair_style committee every 10 {members}",
                                   [f"pair_coeff * * {k} Cu" for k in range(1, 5)]),
        "deepmd native 4 models out_freq 10": (
            f"pair_style deepmd {' '.join(FOUR)} out_freq 10 out_file /dev/null",
            ["pair_coeff * * Cu"]),
    }


def worker(steps, repeat):
    from mpi4py import MPI

    from mdsentry.lmp import lammps

    best = {}
    for _ in range(repeat):
        for name, (style, coeffs) in cases().items():
            lmp = lammps(comm=MPI.COMM_WORLD, deepmd=True)
            lmp.commands_string(SYSTEM)
            lmp.command(style)
            for c in coeffs:
                lmp.command(c)
            lmp.command("run 10")
            MPI.COMM_WORLD.Barrier()
            t0 = time.perf_counter()
            lmp.command(f"run {steps} pre no post no")
            rate = steps / (time.perf_counter() - t0)
            natoms = lmp.get_natoms()
            lmp.close()
            best[name] = max(best.get(name, 0.0), rate)
    if MPI.COMM_WORLD.rank == 0:
        print(json.dumps({"natoms": natoms, "rates": best}))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.steps, args.repeat)
    env = dict(os.environ, OMP_NUM_THREADS="1", DP_INTRA_OP_PARALLELISM_THREADS="1",
               DP_INTER_OP_PARALLELISM_THREADS="1")
    mpirun = os.path.join(os.path.dirname(sys.executable), "mpirun")
    for nprocs in (1, 2):
        out = subprocess.run([mpirun, "-np", str(nprocs), sys.executable, __file__, "--worker",
                              "--steps", str(args.steps), "--repeat", str(args.repeat)],
                             capture_output=True, text=True, env=env, check=True).stdout
        res = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
        base = res["rates"]["bare deepmd"]
        print(f"\n{res['natoms']} atoms, {nprocs} MPI rank(s), 1 thread each")
        print(f"{'case':40s} {'steps/s':>9s} {'time ratio':>11s}")
        for name, rate in res["rates"].items():
            print(f"{name:40s} {rate:9.2f} {base / rate:11.3f}")


if __name__ == "__main__":
    main()
