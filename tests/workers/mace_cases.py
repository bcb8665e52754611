"""Energies, forces, virials, per-atom energies (and committee deviations) of LAMMPS
runs described in a JSON file, on however many ranks mpirun gives.

Run as: mpirun -np P python mace_cases.py cases.json out.npz
cases.json: [{"name": ..., "data": lammps data file, "masses": [..],
              "commands": [pair_style ..., pair_coeff ..., ...], "devi": bool}, ...]
Rank 0 writes every array ordered by atom ID; a case that fails stores its error.
"""

import json
import sys

import numpy as np
from mpi4py import MPI

from mdsentry.lmp import lammps

cases = json.load(open(sys.argv[1]))
comm = MPI.COMM_WORLD
result = {}
for case in cases:
    name = case["name"]
    lmp = lammps(comm=comm, deepmd=case.get("deepmd", False))
    lmp.commands_string("units metal\natom_style atomic\natom_modify map array\n")
    lmp.command(f"read_data {case['data']}")
    for t, m in enumerate(case["masses"], 1):
        lmp.command(f"mass {t} {m}")
    for c in case["commands"]:
        lmp.command(c)
    if case.get("devi"):
        lmp.commands_string("compute devi all pair committee\nfix devi all pair 1 committee devi 1")
    lmp.commands_string("""compute vir all pressure NULL virial
compute pea all pe/atom
thermo_style custom step pe vol c_vir[1] c_vir[2] c_vir[3] c_vir[4] c_vir[5] c_vir[6]
thermo_modify norm no
run 0""")
    nktv2p = lmp.extract_global("nktv2p")
    vol = lmp.get_thermo("vol")
    result[f"{name}_pe"] = lmp.get_thermo("pe")
    result[f"{name}_f"] = np.array(lmp.gather_atoms("f", 1, 3), dtype=float).reshape(-1, 3)
    result[f"{name}_virial"] = np.array(
        [lmp.extract_compute("vir", 0, 1)[i] for i in range(6)]) * vol / nktv2p
    result[f"{name}_eatom"] = np.array(lmp.gather("c_pea", 1, 1), dtype=float)
    if case.get("devi"):
        result[f"{name}_devi_atom"] = np.array(lmp.gather("f_devi", 1, 1), dtype=float)
        result[f"{name}_devi"] = np.array([lmp.extract_compute("devi", 0, 1)[i] for i in range(7)])
    lmp.close()

if comm.rank == 0:
    np.savez(sys.argv[2], **result)
