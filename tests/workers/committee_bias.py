"""pair_style committee's exploration bias on a rattled Cu crystal, two EAM members.

Run as: mpirun -np P python committee_bias.py --eam A B --newton on|off --bias A B --out f.npz
Rank 0 writes, ordered by atom ID: each member alone (forces, energy, virial), the
committee with the bias (leader and mean forces, with compute pair's vector), and the
total energy along NVE runs with and without the bias.
"""

import argparse

import numpy as np
from mpi4py import MPI

from mdsentry.lmp import lammps

p = argparse.ArgumentParser()
p.add_argument("--eam", nargs=2, required=True)
p.add_argument("--newton", choices=["on", "off"], required=True)
p.add_argument("--bias", nargs=2, type=float, required=True)
p.add_argument("--out", required=True)
args = p.parse_args()

comm = MPI.COMM_WORLD
DATA = args.out + ".data"
if comm.rank == 0:
    # atom IDs must not depend on the decomposition: read_data, not create_atoms
    from ase.build import bulk
    from ase.io import write

    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((3, 3, 3))
    atoms.rattle(stdev=0.15, seed=48211)
    write(DATA, atoms, format="lammps-data", atom_style="atomic", masses=True, parallel=False)
comm.Barrier()

A = "* * {} " + args.eam[0] + " Cu"
B = "* * {} " + args.eam[1] + " Cu"
bias = f"bias {args.bias[0]!r} {args.bias[1]!r}"
CASES = {
    "A": ("pair_style eam/alloy", [A.format("")]),
    "B": ("pair_style eam/alloy", [B.format("")]),
    "bias_leader": (f"pair_style committee {bias} eam/alloy eam/alloy", [A.format(1), B.format(2)]),
    "bias_mean": (f"pair_style committee forces mean {bias} eam/alloy eam/alloy",
                  [A.format(1), B.format(2)]),
}
NKTV2P = 1.6021765e6
NVE_STEPS, NVE_EVERY = 400, 10
FD_STEP = 1e-4


def setup(style, coeffs):
    lmp = lammps(comm=comm)
    lmp.command(f"newton {args.newton}")
    lmp.commands_string(f"units metal\nread_data {DATA}\nmass 1 63.546\n")
    lmp.command(style)
    for c in coeffs:
        lmp.command(f"pair_coeff {c}")
    return lmp


result = {}
for name, (style, coeffs) in CASES.items():
    lmp = setup(style, coeffs)
    committee = style.startswith("pair_style committee")
    if committee:
        lmp.command("compute devi all pair committee")
    # per-atom virials (stress/atom is minus the virial per atom, in pressure x volume)
    lmp.command("compute sa all stress/atom NULL virial")
    lmp.command("compute sasum all reduce sum " + " ".join(f"c_sa[{i}]" for i in range(1, 7)))
    lmp.command("compute vir all pressure NULL virial")
    lmp.command("thermo_style custom step pe vol " + " ".join(f"c_vir[{i}]" for i in range(1, 7))
                + " c_sasum[1]")
    lmp.command("thermo_modify norm no")
    lmp.command("run 0")
    result[f"{name}_f"] = np.array(lmp.gather_atoms("f", 1, 3), dtype=float).reshape(-1, 3)
    result[f"{name}_pe"] = lmp.get_thermo("pe")
    vol = lmp.get_thermo("vol")
    result[f"{name}_virial"] = np.array(
        [lmp.extract_compute("vir", 0, 1)[i] for i in range(6)]) * vol / NKTV2P
    result[f"{name}_virial_atoms"] = -np.array(
        [lmp.extract_compute("sasum", 0, 1)[i] for i in range(6)]) / NKTV2P
    if committee:
        result[f"{name}_vector"] = np.array([lmp.extract_compute("devi", 0, 1)[i]
                                             for i in range(9)])
    if name == "bias_leader":
        # central differences of the bias energy (compute pair's element 8) along x, y, z
        # of three atoms: the bias force is minus its gradient
        fd = []
        for atom_id in (1, 40, 97):
            lmp.command(f"group one id {atom_id}")
            for d in range(3):
                shift = [0.0, 0.0, 0.0]
                e = []
                for sign in (1.0, -2.0, 1.0):
                    shift[d] = sign * FD_STEP
                    lmp.command("displace_atoms one move {} {} {} units box".format(*shift))
                    lmp.command("run 0")
                    e.append(lmp.extract_compute("devi", 0, 1)[7])
                fd.append(-(e[0] - e[1]) / (2.0 * FD_STEP))
            lmp.command("group one delete")
        result["fd_bias_force"] = np.array(fd).reshape(3, 3)
        result["fd_ids"] = np.array([1, 40, 97])
        # the committee re-created without the bias (a hot swap) reports none
        lmp.command("pair_style committee eam/alloy eam/alloy")
        lmp.command(f"pair_coeff {A.format(1)}")
        lmp.command(f"pair_coeff {B.format(2)}")
        lmp.command("run 0")
        result["unbiased_vector"] = np.array([lmp.extract_compute("devi", 0, 1)[i]
                                              for i in range(9)])
    result["natoms"] = lmp.get_natoms()
    lmp.close()

# NVE at 600 K, 1 fs: the bias is a potential energy, so pe + ke (which counts it) is kept
for name, style, coeffs in (("nve_plain", "pair_style committee eam/alloy eam/alloy", None),
                            ("nve_bias", CASES["bias_leader"][0], None)):
    lmp = setup(style, [A.format(1), B.format(2)])
    lmp.commands_string(f"""compute devi all pair committee
velocity all create 600.0 4711 loop geom
fix nve all nve
timestep 0.001
variable e equal etotal
variable sig equal c_devi[9]
fix rec all vector {NVE_EVERY} v_e v_sig
thermo {NVE_EVERY}
run {NVE_STEPS}""")
    rows = NVE_STEPS // NVE_EVERY
    result[f"{name}_etotal"] = np.array([lmp.extract_fix("rec", 0, 2, i, 0) for i in range(rows)])
    result[f"{name}_sigma_e"] = np.array([lmp.extract_fix("rec", 0, 2, i, 1)
                                          for i in range(rows)])
    lmp.close()

if comm.rank == 0:
    np.savez(args.out, **result)
