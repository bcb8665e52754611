"""pair_style deepmd alone and inside a committee, on P ranks.

mpirun -np P python deepmd_cases.py --models m1.pth m2.pth --frames cu.extxyz --eam X --out D
Rank 0 writes D/deepmd_<P>.npz and the model_devi files D/{native,committee}_<P>.out.
"""

import argparse
import os

import numpy as np
from mpi4py import MPI

from mdsentry.lmp import lammps

p = argparse.ArgumentParser()
p.add_argument("--models", nargs=2, required=True)
p.add_argument("--frames", required=True)
p.add_argument("--eam", required=True)
p.add_argument("--out", required=True)
args = p.parse_args()
comm = MPI.COMM_WORLD
tag = comm.size
data = os.path.join(args.out, f"cu_{tag}.data")
if comm.rank == 0:
    from ase.io import read, write

    atoms = read(args.frames, index=5, parallel=False)
    write(data, atoms, format="lammps-data", atom_style="atomic", masses=True, parallel=False)
comm.Barrier()
m1, m2 = args.models
SYSTEM = f"""units metal
read_data {data}
replicate 2 2 2
"""


def run(style, coeff, extra="", md=""):
    lmp = lammps(comm=comm, deepmd=True)
    lmp.commands_string(SYSTEM)
    lmp.command(style)
    lmp.command(coeff) if isinstance(coeff, str) else [lmp.command(c) for c in coeff]
    lmp.commands_string(extra)
    lmp.command("compute vir all pressure NULL virial")
    lmp.command("thermo_style custom step pe vol c_vir[1] c_vir[2] c_vir[3] c_vir[4] c_vir[5] c_vir[6]")
    lmp.command("thermo_modify norm no")
    lmp.commands_string(md or "run 0")
    out = {
        "x": np.array(lmp.gather_atoms("x", 1, 3)).reshape(-1, 3),
        "f": np.array(lmp.gather_atoms("f", 1, 3)).reshape(-1, 3),
        "type": np.array(lmp.gather_atoms("type", 0, 1)),
        "pe": lmp.get_thermo("pe"),
        "virial": np.array([lmp.extract_compute("vir", 0, 1)[i] for i in range(6)])
        * lmp.get_thermo("vol") / 1.6021765e6,
    }
    boxlo, boxhi, xy, yz, xz, _, _ = lmp.extract_box()
    out["cell"] = np.array([[boxhi[0] - boxlo[0], 0, 0], [xy, boxhi[1] - boxlo[1], 0],
                            [xz, yz, boxhi[2] - boxlo[2]]])
    lmp.close()
    return out


res = {}
for k, v in run(f"pair_style deepmd {m1}", "pair_coeff * * Cu").items():
    res[f"dp_{k}"] = v
for k, v in run(f"pair_style committee deepmd {m1} deepmd {m2}",
                ["pair_coeff * * 1 Cu", "pair_coeff * * 2 Cu"]).items():
    res[f"committee_{k}"] = v
for k, v in run(f"pair_style committee deepmd {m1} eam/alloy",
                ["pair_coeff * * 1 Cu", f"pair_coeff * * 2 {args.eam} Cu"],
                "compute devi all pair committee").items():
    res[f"mixed_{k}"] = v

# the same 60-step trajectory with deepmd's own deviation and with the committee's
MD = """velocity all create 800 12345 loop geom
fix nve all nve
timestep 0.001
thermo 1000
run 60"""
native = os.path.join(args.out, f"native_{tag}.out")
committee = os.path.join(args.out, f"committee_{tag}.out")
run(f"pair_style deepmd {m1} {m2} out_freq 10 out_file {native}", "pair_coeff * * Cu", md=MD)
run(f"pair_style committee out_freq 10 out_file {committee} deepmd {m1} deepmd {m2}",
    ["pair_coeff * * 1 Cu", "pair_coeff * * 2 Cu"], md=MD)
if comm.rank == 0:
    np.savez(os.path.join(args.out, f"deepmd_{tag}.npz"), **res)
