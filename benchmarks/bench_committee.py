"""Overhead of pair committee and fix sentry on ~4000 atoms of EAM Cu.

Prints steps/s and ratios against the bare pair style measured in the same
run (best of --repeat interleaved repetitions).  Targets from the foundation
issue: N=1 <= 1.02x, N=4 every 10 <= 1.33x, sentry < 1 % on top of it.

    .venv/bin/python benchmarks/bench_committee.py [--steps 300] [--repeat 3]
"""

import argparse
import os
import tempfile
import time

from mdsentry.lmp import lammps
from mdsentry.potentials import sutton_chen_committee

SYSTEM = """units metal
lattice fcc 3.61
region box block 0 10 0 10 0 10
create_box 1 box
create_atoms 1 box
mass 1 63.546
velocity all create 600.0 4928459 mom yes rot yes dist gaussian
fix nve all nve
thermo 1000
"""


def setups(pots):
    member = "eam/alloy"
    coeff = "pair_coeff * * {m} {p} Cu"
    return {
        "bare": f"pair_style {member}\npair_coeff * * {pots[0]} Cu",
        "committee N=1": f"pair_style committee {member}\n" + coeff.format(m=1, p=pots[0]),
        "committee N=4 every 10": f"pair_style committee every 10 {' '.join([member] * 4)}\n"
        + "\n".join(coeff.format(m=k + 1, p=p) for k, p in enumerate(pots)),
    }


def timed(script, steps):
    lmp = lammps()
    lmp.commands_string(SYSTEM)
    lmp.commands_string(script)
    lmp.command("run 20")  # neighbor lists, warm caches
    t0 = time.perf_counter()
    lmp.command(f"run {steps} pre no post no")
    dt = time.perf_counter() - t0
    lmp.close()
    return steps / dt


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    with tempfile.TemporaryDirectory() as tmp:
        pots = sutton_chen_committee(tmp, size=4)
        cases = setups(pots)
        cases["committee N=4 every 10 + sentry"] = (
            cases["committee N=4 every 10"] + "\nfix watch all sentry 10 0.05 10.0 halt no")
        best = {name: 0.0 for name in cases}
        for _ in range(args.repeat):  # interleaved, so drifts in machine load hit all cases
            for name, script in cases.items():
                best[name] = max(best[name], timed(script, args.steps))

    base = best["bare"]
    print(f"{'case':36s} {'steps/s':>10s} {'time ratio':>11s}")
    for name, rate in best.items():
        print(f"{name:36s} {rate:10.2f} {base / rate:11.3f}")
    sentry = best["committee N=4 every 10"] / best["committee N=4 every 10 + sentry"]
    print(f"\nsentry overhead on top of the committee: {100 * (sentry - 1):+.2f} %")
    print("targets: N=1 <= 1.02, N=4 every 10 <= 1.33, sentry < 1 %")


if __name__ == "__main__":
    main()
