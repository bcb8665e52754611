"""fix sentry across runs: what the halted flag and the halt step say about each run,
and a halt found by the `run 0` after a hot swap.

mpirun -np P python plugin_sentry_runs.py --pre yes|no --dir D
Rank 0 writes D/runs_<pre>_<P>.json: per run the step reached and the fix's vector;
the LAMMPS log D/runs_<pre>_<P>.log holds the thermo output (step f_s[4] f_s[7]).
"""

import argparse
import json
import os
import sys

from mpi4py import MPI

from mdsentry.lmp import lammps

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from conftest import LJ_CRYSTAL  # noqa: E402 - the tests' 108-atom LJ crystal

p = argparse.ArgumentParser()
p.add_argument("--pre", choices=["yes", "no"], required=True)
p.add_argument("--dir", required=True)
args = p.parse_args()
comm = MPI.COMM_WORLD
tag = f"runs_{args.pre}_{comm.size}"
log = os.path.join(args.dir, f"{tag}.log")

lmp = lammps(comm=comm, args=["-nocite", "-screen", "none", "-log", log])
lmp.commands_string(LJ_CRYSTAL + """velocity all create 1.0 4711 loop geom
pair_style committee lj/cut 2.5 lj/cut 2.5
pair_coeff 1 1 1 1.0 1.0 2.5
pair_coeff 1 1 2 1.2 1.0 2.5
variable d equal 1.0
fix s all sentry 5 0.5 0.8 source v_d
fix nve all nve
thermo_style custom step f_s[4] f_s[7]
thermo 5
""")
out = {}


def record(name, command):
    lmp.command(command)
    out[name] = {"step": int(lmp.get_thermo("step")),
                 "vector": [lmp.extract_fix("s", 0, 1, i) for i in range(9)]}


# the watched value is a variable: above hi, then below lo, then above hi again
pre = f"pre {args.pre} post no"
record("halt", "run 20")
lmp.command("variable d equal 0.1")
record("below", f"run 20 {pre}")
lmp.command("variable d equal 1.0")
record("above", f"run 20 {pre}")

# the committee's deviation (members eps 1.0 and 1.2: at most ~7 here) under hi = 20;
# the hot swap to eps 1.0 and 3.0 puts it ~10 times higher, above hi
lmp.commands_string("""unfix s
variable d delete
fix s all sentry 5 1.0 20.0
""")
record("trusted", "run 20 post no")          # a new fix needs the setup of pre yes
lmp.commands_string("""pair_style committee lj/cut 2.5 lj/cut 2.5
pair_coeff 1 1 1 1.0 1.0 2.5
pair_coeff 1 1 2 3.0 1.0 2.5
""")
record("swap", "run 0 pre yes post no")     # what the driver does after a swap
record("owed", f"run 20 {pre}")             # stops at once: the halt of the run 0
record("continued", "run 20 pre no post no")  # the halt was delivered once: runs on
lmp.close()
if comm.rank == 0:
    with open(os.path.join(args.dir, f"{tag}.json"), "w") as fh:
        json.dump(out, fh)
