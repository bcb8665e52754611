"""Walkers on sub-communicators: chunks, candidates, halt, hot swap.

mpirun -np P python engine_walkers.py --walkers W --dir D
Each walker root writes D/walker<k>.json.
"""

import argparse
import json
import os

import numpy as np
from mpi4py import MPI

from mdsentry.engine import Walker, split_walkers

p = argparse.ArgumentParser()
p.add_argument("--walkers", type=int, required=True)
p.add_argument("--dir", required=True)
args = p.parse_args()

index, comm = split_walkers(MPI.COMM_WORLD, args.walkers)
DECK = f"""units lj
lattice fcc 0.8442
region box block 0 4 0 4 0 4
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create {1.0 + 0.5 * index} {4711 + index} loop geom
pair_style committee lj/cut 2.5 lj/cut 2.5
pair_coeff 1 1 1 1.0 1.0 2.5
pair_coeff 1 1 2 1.2 1.0 2.5
fix sentry all sentry 5 2.0 9.0 elements Ar frames ${{workdir}}/candidates.xyz
fix nvt all nvt temp {1.0 + 0.5 * index} 6.0 0.5
thermo 1000
"""
w = Walker(comm, index, os.path.join(args.dir, f"walker{index}"), DECK)
out = {"ranks": comm.Get_size(), "chunks": [], "candidates": []}
swapped = False
while w.step() < 400:
    chunk = w.run(50)
    out["chunks"].append([chunk.step, chunk.halted, chunk.counts])
    out["candidates"] += [[int(a.info["step"]), a.info["status"], len(a)] for a in chunk.candidates]
    if chunk.halted and not swapped:
        v0, x0, img0 = w.gather("v", 3), w.gather("x", 3), w.gather("image", 1)
        step0 = w.step()
        # identical members: the committee now agrees everywhere
        out["swap_seconds"] = w.swap("pair_style committee lj/cut 2.5 lj/cut 2.5",
                                     ["pair_coeff 1 1 1 1.0 1.0 2.5", "pair_coeff 1 1 2 1.0 1.0 2.5"])
        v1, x1, img1 = w.gather("v", 3), w.gather("x", 3), w.gather("image", 1)
        out["swap_v_equal"] = bool(np.array_equal(v0, v1))
        moved = np.any(img0 != img1, axis=1)  # atoms wrapped back into the box
        out["swap_x_equal"] = bool(np.array_equal(x0[~moved], x1[~moved]))
        out["swap_step_equal"] = step0 == w.step()
        out["halt_step"] = step0
        swapped = True
out["final"] = w.sentry_vector()
w.close()
if comm.Get_rank() == 0:
    with open(os.path.join(args.dir, f"walker{index}.json"), "w") as fh:
        json.dump(out, fh)
