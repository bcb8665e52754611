"""fix sentry inside `run N every M "command"`: what the commands between the chunks and
the thermo output of each chunk read from the halted flag and the halt step.

mpirun -np P python plugin_sentry_every.py --pre yes|no --dir D
Rank 0 writes D/every_<pre>_<P>.txt (one line "case step halted halt_step" per command
invocation); the LAMMPS log D/every_<pre>_<P>.log holds the thermo output
(step f_s[4] f_s[7]).
"""

import argparse
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
tag = f"every_{args.pre}_{comm.size}"
log = os.path.join(args.dir, f"{tag}.log")
out = os.path.join(args.dir, f"{tag}.txt")

lmp = lammps(comm=comm, args=["-nocite", "-screen", "none", "-log", log])
lmp.commands_string(LJ_CRYSTAL + f"""velocity all create 1.0 4711 loop geom
pair_style committee lj/cut 2.5 lj/cut 2.5
pair_coeff 1 1 1 1.0 1.0 2.5
pair_coeff 1 1 2 1.2 1.0 2.5
fix nve all nve
print "# case step halted halt_step" file {out} screen no
""")


def every(case):
    return (f'pre {args.pre} post no every 10 '
            f'"print \'{case} $(step) $(f_s[4]) $(f_s[7])\' append {out} screen no"')


# variable source, checked every 5 steps from the first step of a chunk: above hi on
# steps 10 and 15 only.  Chunks 0-10 (halts at its last step 10), 10-20 (halts at 15),
# 15-25 and 25-35 (trusted)
lmp.commands_string("""variable d equal "(step >= 10 && step <= 15) * 1.0"
fix s all sentry 5 0.5 0.8 source v_d
thermo_style custom step f_s[4] f_s[7]
thermo 5
""")
lmp.command("run 40 " + every("variable"))

# the committee's deviation, checked in the setup too, above hi = 0.01: the first chunk
# halts in its setup before any step (at 35), the next one after its first check (40)
lmp.commands_string("""unfix s
fix s all sentry 5 0.001 0.01
""")
lmp.command("run 20 " + every("setup"))
lmp.close()
