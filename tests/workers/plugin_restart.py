"""pair_style committee through write_restart / read_restart on P ranks.

mpirun -np P python plugin_restart.py --dir D [--case plain|kspace]
1. 10 MD steps, write_restart;  2. read_restart and 10 more steps without re-specifying
the pair style;  3. the same 20 steps in one go (reference).  Rank 0 writes
D/restart_<P>.npz (D/restart_kspace_<P>.npz for the kspace case; per-atom arrays ordered
by atom ID); the restored committee appends to D/devi_<P>.out (devi_kspace_<P>.out).
kspace: charged atoms, lj/cut/coul/long members and kspace_style ewald, which LAMMPS does
not store in restart files: it is given again after read_restart, before the run, and
initializes (asking the committee for its Coulomb cutoff) before the pair style does.
"""

import argparse
import os

import numpy as np
from mpi4py import MPI

from mdsentry.lmp import lammps

p = argparse.ArgumentParser()
p.add_argument("--dir", required=True)
p.add_argument("--case", choices=["plain", "kspace"], default="plain")
args = p.parse_args()
comm = MPI.COMM_WORLD
P = comm.size
tag = f"{P}" if args.case == "plain" else f"{args.case}_{P}"
restart = os.path.join(args.dir, f"committee_{tag}.restart")

SYSTEM = """units lj
lattice fcc 0.8442
region box block 0 3 0 3 0 3
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create 1.2 4711 loop geom
"""
# members with different cutoffs, shifted energies, an output file: all must come back
COMMITTEE = """pair_style committee forces mean out_file {out} out_freq 5 lj/cut 2.5 lj/cut 2.0
pair_coeff 1 1 1 1.0 1.0
pair_coeff 1 1 2 1.2 1.0
pair_modify shift yes
"""
KSPACE = ""
if args.case == "kspace":
    SYSTEM = SYSTEM.replace("units lj\n", "units lj\natom_style charge\n")
    SYSTEM += """set group all charge 0.4
group odd id 1:108:2
set group odd charge -0.4
"""
    COMMITTEE = """pair_style committee forces mean out_file {out} out_freq 5 \
lj/cut/coul/long 2.5 lj/cut/coul/long 2.5 2.2
pair_coeff 1 1 1 1.0 1.0
pair_coeff 1 1 2 1.2 1.0
"""
    KSPACE = "kspace_style ewald 1.0e-5\n"
MD = """compute devi all pair committee
fix nve all nve
thermo_style custom step pe c_devi[1] c_devi[4] c_devi[5]
thermo_modify norm no
thermo 1000
"""


def state(lmp):
    return {"x": np.array(lmp.gather_atoms("x", 1, 3)).reshape(-1, 3),
            "f": np.array(lmp.gather_atoms("f", 1, 3)).reshape(-1, 3),
            "pe": lmp.get_thermo("pe"), "step": lmp.get_thermo("step"),
            "devi": np.array([lmp.extract_compute("devi", 0, 1)[i] for i in range(7)])}


res = {}
lmp = lammps(comm=comm)
lmp.commands_string(SYSTEM + COMMITTEE.format(out=os.path.join(args.dir, f"devi_{tag}.out"))
                    + KSPACE + MD)
lmp.command("run 10")
lmp.command(f"write_restart {restart}")
lmp.close()

lmp = lammps(comm=comm)
lmp.command(f"read_restart {restart}")
lmp.commands_string(KSPACE + MD)     # no pair_style, no pair_coeff, no pair_modify
lmp.command("run 10")
for k, v in state(lmp).items():
    res[f"restored_{k}"] = v
lmp.close()

lmp = lammps(comm=comm)
lmp.commands_string(SYSTEM + COMMITTEE.format(out=os.path.join(args.dir, f"ref_{tag}.out"))
                    + KSPACE + MD)
lmp.command("run 20")
for k, v in state(lmp).items():
    res[f"straight_{k}"] = v
lmp.close()
if comm.rank == 0:
    np.savez(os.path.join(args.dir, f"restart_{tag}.npz"), **res)
