"""Chunks of one exploration are one run: a temperature ramp over 180 steps run as one
chunk and as 12 chunks (run 15 start 0 stop 180) gives the same trajectory; without
start/stop every chunk restarts the ramp.

mpirun -np P python engine_ramp_chunks.py --dir D   -> D/result.json (rank 0)
"""

import argparse
import json
import os

from mpi4py import MPI

from mdsentry.engine import Walker

p = argparse.ArgumentParser()
p.add_argument("--dir", required=True)
args = p.parse_args()
comm = MPI.COMM_WORLD
DECK = """units lj
lattice fcc 0.8442
region box block 0 4 0 4 0 4
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create 0.5 4711 loop geom
pair_style committee lj/cut 2.5 lj/cut 2.5
pair_coeff 1 1 1 1.0 1.0 2.5
pair_coeff 1 1 2 1.0 1.0 2.5
fix sentry all sentry 5 1.0 9.0 elements Ar frames ${workdir}/candidates.xyz
fix md all nvt temp 0.5 3.0 0.05
thermo 1000
"""
out = {}
for name, chunks, window in (("one", [180], True), ("chunks", [15] * 12, True),
                             ("chunks_without_window", [15] * 12, False)):
    w = Walker(comm, 0, os.path.join(args.dir, name), DECK)
    for n in chunks:
        w.run(n, **({"start": 0, "stop": 180} if window else {}))
    out[name] = {"v": w.gather("v", 3).tolist(), "temp": w.lmp.get_thermo("temp"),
                 "step": w.step()}
    w.close()
if comm.Get_rank() == 0:
    with open(os.path.join(args.dir, "result.json"), "w") as fh:
        json.dump(out, fh)
