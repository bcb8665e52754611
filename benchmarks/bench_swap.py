"""Hot swap vs restarting LAMMPS from a data file (what DP-GEN / MLIP-style loops do).

    .venv/bin/python benchmarks/bench_swap.py [--sizes 1000 10000] [--repeat 3]

A Cu crystal with a committee of the two shipped DeePMD test models (tests/data/deepmd)
and fix sentry.  "swap": ``Walker.swap`` installs a new committee in the running
LAMMPS (pair_style/pair_coeff + run 0 pre yes).  "restart": write_data, close the
instance, start a new one, read_data, define the committee, the sentry and the
thermostat again, run 0 -- the cheapest restart (velocities in the data file,
thermostat state lost).  Printed: seconds and the ratio restart / swap.
"""

import argparse
import os
import tempfile
import time

from mpi4py import MPI

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = [os.path.join(HERE, "..", "tests", "data", "deepmd", f"cu_{k}.pth") for k in (1, 2)]


def committee(models=MODELS):
    style = "pair_style committee every 10 " + " ".join(f"deepmd {m}" for m in models)
    return style, [f"pair_coeff * * {k + 1} Cu" for k in range(len(models))]


def system(n_cells):
    return f"""units metal
lattice fcc 3.61
region box block 0 {n_cells} 0 {n_cells} 0 {n_cells}
create_box 1 box
create_atoms 1 box
mass 1 63.546
velocity all create 600 4711 loop geom
"""


TAIL = """fix sentry all sentry 10 0.05 0.5 elements Cu frames ${workdir}/candidates.xyz
fix md all nvt temp 600 600 0.1
timestep 0.002
"""


def measure(n_cells, workdir, repeat):
    from mdsentry.engine import Walker
    from mdsentry.lmp import lammps

    style, coeffs = committee()
    deck = system(n_cells) + style + "\n" + "\n".join(coeffs) + "\n" + TAIL
    w = Walker(MPI.COMM_WORLD, 0, workdir, deck, sentry="sentry", deepmd=True)
    w.run(20)
    natoms = w.lmp.get_natoms()
    swap = []
    for _ in range(repeat):
        swap.append(w.swap(style, coeffs))
        w.run(10)
    restart = []
    data = os.path.join(workdir, "state.data")
    lmp = w.lmp
    for _ in range(repeat):
        t0 = time.perf_counter()
        lmp.command(f"write_data {data}")
        lmp.close()
        lmp = lammps(args=["-nocite", "-screen", "none", "-log", "none", "-var", "workdir",
                           workdir], deepmd=True)
        lmp.commands_string(f"units metal\nread_data {data}\n{style}\n" + "\n".join(coeffs)
                            + "\n" + TAIL + "run 0 post no\n")
        restart.append(time.perf_counter() - t0)
        lmp.command("run 10 post no")
    lmp.close()
    return natoms, min(swap), min(restart)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    rows = []
    for size in args.sizes:
        n_cells = max(1, round((size / 4) ** (1 / 3)))
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(measure(n_cells, tmp, args.repeat))
    if MPI.COMM_WORLD.Get_rank() == 0:
        print(f"\n{'atoms':>8s} {'swap (s)':>10s} {'restart (s)':>12s} {'restart/swap':>13s}")
        for natoms, swap, restart in rows:
            print(f"{natoms:8d} {swap:10.3f} {restart:12.3f} {restart / swap:12.2f}x")


if __name__ == "__main__":
    main()
