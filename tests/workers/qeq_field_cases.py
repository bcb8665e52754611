"""Systems and runs for fix qeq/field, in-process (tests) or on P ranks:

mpirun -np P python qeq_field_cases.py --case slab --fix "..." --out D/x.npz [--md N]

A Cu slab (two atom types, both Cu to the DeePMD model, different QEq
parameters, so charge flows between them) in a p p f box, or a small cluster in
an f f f box.  Rank 0 writes positions, forces, charges (sorted by atom ID) and
the fix's global values.
"""

import argparse
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
MODEL = os.path.join(DATA, "deepmd", "cu_1.pth")

# test values, not a fitted parameter set: type chi J gamma zeta qcore
PARAMS = """# fix qeq/field test parameters: type chi(eV) J(eV) gamma(1/A) zeta qcore
1 4.00  9.0 0.45 0.0 0.0
2 5.50 10.0 0.50 0.0 0.0
"""

SLAB = """units {units}
atom_style {style}
boundary p p f
lattice fcc 3.615
region box block 0 3 0 3 -3 7
create_box 2 box
region slab block 0 3 0 3 0 4
create_atoms 1 region slab
set type 1 type/fraction 2 0.5 4821
displace_atoms all random 0.08 0.08 0.08 9127 units box
mass * 63.546
"""

CLUSTER = """units {units}
atom_style {style}
boundary f f f
lattice fcc 3.615
region box block -3 3 -3 3 -3 3
create_box 2 box
region ball sphere 0 0 0 1.05
create_atoms 1 region ball
set type 1 type/fraction 2 0.5 4821
displace_atoms all random 0.1 0.1 0.1 3311 units box
mass * 63.546
"""


def write_params(directory, text=PARAMS):
    path = os.path.join(directory, "qeq.params")
    with open(path, "w") as fh:
        fh.write(text)
    return path


def build(comm=None, case="slab", pair="deepmd", style="atomic", units="metal"):
    """A LAMMPS with the system and its ML (or zero) pair style, no fix yet."""
    from mdsentry.lmp import lammps

    lmp = lammps(comm=comm, deepmd=(pair == "deepmd"))
    lmp.commands_string((SLAB if case == "slab" else CLUSTER).format(style=style, units=units))
    if pair == "deepmd":
        lmp.command(f"pair_style deepmd {MODEL}")
        lmp.command("pair_coeff * * Cu Cu")
    elif pair.endswith(".eam.alloy"):  # a classical stand-in, for long runs
        lmp.command("pair_style eam/alloy")
        lmp.command(f"pair_coeff * * {pair} Cu Cu")
    else:
        lmp.command(f"pair_style zero {pair}")
        lmp.command("pair_coeff * *")
    lmp.command("neighbor 1.0 bin")
    # the pressure tensor of thermo (fix virials included; a "pressure NULL virial"
    # compute leaves fixes out): with atoms at rest it is the virial over the volume
    lmp.command("thermo_style custom step pe vol pxx pyy pzz pxy pxz pyz")
    lmp.command("thermo_modify norm no")
    return lmp


def gather(lmp, fix_id=None, nvector=6):
    """Per-atom arrays of the whole system (ordered by atom ID on every rank) and the
    fix's global values."""
    out = {
        "id": np.array(lmp.gather_atoms("id", 0, 1)),
        "type": np.array(lmp.gather_atoms("type", 0, 1)),
        "x": np.array(lmp.gather_atoms("x", 1, 3)).reshape(-1, 3),
        "f": np.array(lmp.gather_atoms("f", 1, 3)).reshape(-1, 3),
        "pe": lmp.get_thermo("pe"),
        "pressure": np.array([lmp.get_thermo(f"p{k}") for k in
                              ("xx", "yy", "zz", "xy", "xz", "yz")]),
        "volume": lmp.get_thermo("vol"),
    }
    if fix_id is not None:
        from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR, LMP_TYPE_VECTOR

        q = np.array(lmp.gather(f"f_{fix_id}", 1, 2)).reshape(-1, 2)
        out["q"], out["dq"] = q[:, 0], q[:, 1]
        out["vector"] = np.array([lmp.extract_fix(fix_id, LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR, k)
                                  for k in range(nvector)])
        out["scalar"] = lmp.extract_fix(fix_id, LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR)
    return out


if __name__ == "__main__":
    from mpi4py import MPI

    p = argparse.ArgumentParser()
    p.add_argument("--case", default="slab")
    p.add_argument("--pair", default="deepmd")
    p.add_argument("--fix", required=True)
    p.add_argument("--params", required=True)
    p.add_argument("--md", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    comm = MPI.COMM_WORLD
    lmp = build(comm, args.case, args.pair)
    lmp.command(args.fix.replace("PARAMS", args.params))
    lmp.command("fix_modify qf energy yes virial yes")
    if args.md:
        lmp.command("velocity all create 600 4411 dist gaussian")
        lmp.command("fix nve all nve")
        lmp.command(f"run {args.md}")
    else:
        lmp.command("run 0")
    out = gather(lmp, "qf")
    if comm.rank == 0:
        np.savez(args.out, **out)
    lmp.close()
