"""A walker that writes restarts between chunks walks as one that does not.

mpirun -np P python engine_restart_chunks.py --dir D   -> D/result.json (rank 0)
write_restart re-wraps atoms and rebuilds ghosts without new neighbor lists, so
the chunk after it must start with a full setup.
"""

import argparse
import json
import os

import numpy as np
from mpi4py import MPI

from mdsentry.engine import Walker

p = argparse.ArgumentParser()
p.add_argument("--dir", required=True)
args = p.parse_args()
comm = MPI.COMM_WORLD
DECK = """units lj
lattice fcc 0.8442
region box block 0 5 0 5 0 5
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create 3.0 4711 loop geom
pair_style committee lj/cut 2.5 lj/cut 2.5
pair_coeff 1 1 1 1.0 1.0 2.5
pair_coeff 1 1 2 1.0 1.0 2.5
neigh_modify every 1 delay 0 check yes
fix sentry all sentry 5 1.0 9.0 elements Ar frames ${workdir}/candidates.xyz
fix md all nve
thermo 1000
"""
out = {}
for restarts in (False, True):
    w = Walker(comm, 0, os.path.join(args.dir, f"restarts{int(restarts)}"), DECK)
    for k in range(12):
        w.run(15)  # chunks that end between reneighborings
        if restarts:
            w.write_restart(os.path.join(args.dir, f"restarts1/chunk{k}.restart"))
    x, img = w.gather("x", 3), w.gather("image", 3)
    lo, hi = np.array(w.lmp.extract_box()[0]), np.array(w.lmp.extract_box()[1])
    out[str(restarts)] = {"x": (x + img * (hi - lo)).tolist(), "v": w.gather("v", 3).tolist(),
                          "pe": w.lmp.get_thermo("pe")}
    w.close()
if comm.Get_rank() == 0:
    with open(os.path.join(args.dir, "result.json"), "w") as fh:
        json.dump(out, fh)
