"""fix sentry scenarios on a heated LJ committee (members eps 1.0 and 1.2).

mpirun -np P python sentry_run.py --mode ref|halt|chunk|min --dir D [--lo X --hi Y]
Rank 0 writes D/<mode>_<P>.json with what the fix reported.
"""

import argparse
import json
import os

from mpi4py import MPI

from mdsentry.lmp import lammps

p = argparse.ArgumentParser()
p.add_argument("--mode", choices=["ref", "halt", "chunk", "min"], required=True)
p.add_argument("--dir", required=True)
p.add_argument("--lo", type=float, default=1e-9)
p.add_argument("--hi", type=float, default=1e9)
args = p.parse_args()
comm = MPI.COMM_WORLD
tag = f"{args.mode}_{comm.size}"
data = os.path.join(args.dir, "lj256.data")
if comm.rank == 0 and not os.path.exists(data):
    from ase.build import bulk
    from ase.io import write

    atoms = bulk("Ar", "fcc", a=1.6796, cubic=True).repeat((4, 4, 4))
    write(data, atoms, format="lammps-data", atom_style="atomic", masses=True, parallel=False)
comm.Barrier()

lmp = lammps(comm=comm)
lmp.commands_string(f"""units lj
read_data {data}
mass 1 1.0
velocity all create 1.0 87287 loop geom
pair_style committee lj/cut 2.5 lj/cut 2.5
pair_coeff 1 1 1 1.0 1.0 2.5
pair_coeff 1 1 2 1.2 1.0 2.5
compute devi all pair committee
thermo 1000
""")
halt = "no" if args.mode == "ref" else "yes"
lmp.command(f"fix s all sentry 5 {args.lo} {args.hi} halt {halt} elements Ar "
            f"file {args.dir}/{tag}.log frames {args.dir}/{tag}.xyz")
if args.mode == "ref":
    # the same deviation through compute pair committee: needs energy tallied on its steps
    lmp.command(f"fix c all sentry 5 {args.lo} {args.hi} halt no source c_devi[1] "
                f"file {args.dir}/{tag}_compute.log")

out = {}
if args.mode == "min":
    lmp.command("minimize 0 1e-10 100 1000")
else:
    lmp.command("fix nvt all nvt temp 1.0 8.0 0.5")
    if args.mode == "chunk":
        # driver style: short chunks without re-initialisation
        while lmp.get_thermo("step") < 400 and not lmp.extract_fix("s", 0, 1, 3):
            lmp.command("run 10 start 0 stop 400 pre no post no")
    else:
        lmp.command("run 400 start 0 stop 400")

vec = [lmp.extract_fix("s", 0, 1, i) for i in range(9)]
out["vector"] = vec
out["step"] = int(lmp.get_thermo("step"))
nrec = int(vec[2] + vec[5])
out["records"] = [[lmp.extract_fix("s", 0, 2, i, j) for j in range(4)] for i in range(nrec)]
if args.mode in ("halt", "chunk"):
    # continue semantics: the next run starts normally
    lmp.command("run 20 start 0 stop 400")
    out["step_after"] = int(lmp.get_thermo("step"))
    out["vector_after"] = [lmp.extract_fix("s", 0, 1, i) for i in range(9)]
lmp.close()
if comm.rank == 0:
    with open(os.path.join(args.dir, f"{tag}.json"), "w") as fh:
        json.dump(out, fh)
