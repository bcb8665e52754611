"""Forces, energies and deviations of one configuration under several pair setups.

Run as: mpirun -np P python committee_cases.py --pot lj|eam --newton on|off --out f.npz
        [--eam A B]   (two setfl files for the eam case)
Rank 0 writes every array ordered by atom ID.
"""

import argparse

import numpy as np
from mpi4py import MPI

from mdsentry.lmp import lammps

p = argparse.ArgumentParser()
p.add_argument("--pot", choices=["lj", "eam"], required=True)
p.add_argument("--newton", choices=["on", "off"], required=True)
p.add_argument("--eam", nargs=2)
p.add_argument("--out", required=True)
args = p.parse_args()

DATA = args.out + ".data"
if MPI.COMM_WORLD.rank == 0:
    # atom IDs must not depend on the decomposition: read_data, not create_atoms
    from ase.build import bulk
    from ase.io import write

    a = 1.6796 if args.pot == "lj" else 3.61  # LJ: reduced density 0.8442
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat((3, 3, 3))
    atoms.rattle(stdev=0.08 if args.pot == "lj" else 0.15, seed=48211)
    write(DATA, atoms, format="lammps-data", atom_style="atomic", masses=True, parallel=False)
MPI.COMM_WORLD.Barrier()

if args.pot == "lj":
    SYSTEM = f"""units lj
read_data {DATA}
mass 1 1.0
"""
    A, B = "lj/cut 2.5", "lj/cut 2.5"
    CA, CB = "1 1 {} 1.0 1.0 2.5", "1 1 {} 1.2 1.0 2.5"
else:
    SYSTEM = f"""units metal
read_data {DATA}
mass 1 63.546
"""
    A, B = "eam/alloy", "eam/alloy"
    CA, CB = "* * {} " + args.eam[0] + " Cu", "* * {} " + args.eam[1] + " Cu"

MEMBER_DEVI = """compute devi all pair committee
fix devi all pair 1 committee devi 1
"""

CASES = {
    "A": (f"pair_style {A}", [CA.format("")], ""),
    "B": (f"pair_style {B}", [CB.format("")], ""),
    "AA_leader": (f"pair_style committee {A} {A}", [CA.format(1), CA.format(2)], MEMBER_DEVI),
    "AB_leader": (f"pair_style committee {A} {B}", [CA.format(1), CB.format(2)], MEMBER_DEVI),
    "AB_mean": (f"pair_style committee forces mean {A} {B}", [CA.format(1), CB.format(2)],
                MEMBER_DEVI),
    "scaled": (f"pair_style hybrid/scaled 0.5 {A} 0.5 {B}",
               [CA.format(A.split()[0] + " 1"), CB.format(B.split()[0] + " 2")], ""),
}

comm = MPI.COMM_WORLD
result = {}
for name, (style, coeffs, extra) in CASES.items():
    lmp = lammps(comm=comm)
    lmp.command(f"newton {args.newton}")
    lmp.commands_string(SYSTEM)
    lmp.command(style)
    for c in coeffs:
        lmp.command(f"pair_coeff {c}")
    lmp.commands_string(extra)
    lmp.command("compute vir all pressure NULL virial")
    lmp.command("thermo_style custom step pe vol c_vir[1] c_vir[2] c_vir[3] c_vir[4] c_vir[5] c_vir[6]")
    lmp.command("thermo_modify norm no")
    lmp.command("run 0")
    f = np.array(lmp.gather_atoms("f", 1, 3), dtype=float).reshape(-1, 3)
    result[f"{name}_f"] = f
    result[f"{name}_pe"] = lmp.get_thermo("pe")
    nktv2p = 1.0 if args.pot == "lj" else 1.6021765e6
    vol = lmp.get_thermo("vol")
    result[f"{name}_virial"] = np.array(
        [lmp.extract_compute("vir", 0, 1)[i] for i in range(6)]) * vol / nktv2p
    if extra:
        result[f"{name}_devi_atom"] = np.array(lmp.gather("f_devi", 1, 1), dtype=float)
        result[f"{name}_devi"] = np.array([lmp.extract_compute("devi", 0, 1)[i] for i in range(7)])

    # the same 30 MD steps, deviation evaluated only at step 0 (thermo 100)
    if name in ("A", "AA_leader"):
        lmp.commands_string("""velocity all create 1.0 4711 loop geom
fix nve all nve
thermo 100
run 30""")
        result[f"{name}_x30"] = np.array(lmp.gather_atoms("x", 1, 3), dtype=float).reshape(-1, 3)
    natoms = lmp.get_natoms()
    lmp.close()

if comm.rank == 0:
    result["natoms"] = natoms
    np.savez(args.out, **result)
