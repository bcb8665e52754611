"""The densification route for amorphous packings, run in LAMMPS with any potential.

    minimize (fixed box) -> NPT squeeze at high pressure -> NPT relax at the target
    pressure -> minimize with the box relaxed

``potential`` is either LAMMPS commands (``pair_style``/``pair_coeff`` of any
style: a committee, deepmd, eam, ...) or an ASE calculator -- the oracle itself
-- which LAMMPS calls through ``fix external`` (one MPI rank).
"""

import os

import numpy as np
from ase import Atoms

from mdsentry.structure import mass_commands, write_data


def densify(atoms, potential, elements=None, *, temperature=600.0, pressure=1.0,
            squeeze_pressure=20000.0, squeeze_steps=2000, relax_steps=2000, timestep=0.0005,
            tdamp=None, pdamp=None, minimize=True, min_steps=500, seed=1, workdir=None,
            thermo_every=100, comm=None):
    """Densify ``atoms`` (a packing) and return the relaxed structure.

    Pressures in bar, temperature in K, timestep, tdamp and pdamp in ps (default 50
    and 200 steps: a quick barostat, since a squeeze is short); ``min_steps`` bounds each
    minimisation (an oracle costs seconds a step).  ``info["densify"]`` holds the
    density trace (step, stage, density g/cm^3, pressure bar, pe eV).
    """
    from mpi4py import MPI

    from mdsentry.build.packing import density_of
    from mdsentry.lmp import lammps

    if elements is None:
        from ase.data import atomic_numbers

        elements = sorted(set(atoms.get_chemical_symbols()), key=atomic_numbers.get)
    is_ase = not isinstance(potential, (list, tuple, str))
    comm = comm or (MPI.COMM_SELF if is_ase else MPI.COMM_WORLD)
    if is_ase and comm.Get_size() > 1:
        raise ValueError("an ASE calculator as the potential runs on one MPI rank")
    workdir = workdir or "."
    os.makedirs(workdir, exist_ok=True)
    data = write_data(atoms, os.path.join(workdir, "densify_start.data"), elements)
    log = os.path.join(workdir, "densify.lammps")
    lmp = lammps(comm=comm, args=["-nocite", "-screen", "none", "-log", log])
    trace = []
    try:
        lmp.commands_list(["units metal", "atom_style atomic", "atom_modify map array",
                           "box tilt large", f"read_data {data}", *mass_commands(elements),
                           "neighbor 2.0 bin", "neigh_modify every 1 delay 0 check yes",
                           f"timestep {timestep}",
                           f"thermo {thermo_every}",
                           "thermo_style custom step temp pe press density vol"])
        if is_ase:
            from mdsentry.ase_lammps import attach_calculator

            attach_calculator(lmp, potential, atoms, elements)
        else:
            lmp.commands_list([potential] if isinstance(potential, str) else list(potential))

        def record(stage):
            trace.append((int(lmp.get_thermo("step")), stage, float(lmp.get_thermo("density")),
                          float(lmp.get_thermo("press")), float(lmp.get_thermo("pe"))))

        def md(stage, steps, press):
            lmp.command(f"fix mdsentry_npt all npt temp {temperature} {temperature} "
                        f"{tdamp or 50 * timestep} iso {press} {press} {pdamp or 200 * timestep}")
            done = 0
            while done < steps:
                n = min(thermo_every, steps - done)
                lmp.command(f"run {n}")
                done += n
                record(stage)
            lmp.command("unfix mdsentry_npt")

        lmp.command("run 0")
        record("start")
        if minimize:
            lmp.command(f"minimize 1e-6 1e-3 {min_steps} {10 * min_steps}")
            record("minimize")
        lmp.command(f"velocity all create {temperature} {seed} mom yes rot yes dist gaussian")
        md("squeeze", squeeze_steps, squeeze_pressure)
        md("relax", relax_steps, pressure)
        if minimize:
            lmp.command("velocity all set 0.0 0.0 0.0")  # a static pressure at the end
            lmp.command(f"fix mdsentry_box all box/relax iso {pressure} vmax 0.001")
            lmp.command(f"minimize 1e-8 1e-4 {min_steps} {10 * min_steps}")
            lmp.command("unfix mdsentry_box")
            record("minimize")
        out = _atoms_from(lmp, elements)
    finally:
        lmp.close()
    # what still holds after the MD: the composition and the seed, not the packing's distances
    out.info.update({k: atoms.info[k] for k in ("composition", "seed") if k in atoms.info})
    out.info["density"] = density_of(out)
    out.info["densify"] = trace
    return out


def _atoms_from(lmp, elements):
    """The LAMMPS system as ASE Atoms (ordered by atom ID)."""
    from mdsentry.ase_lammps import lammps_cell

    lo, cell = lammps_cell(lmp)
    n = lmp.get_natoms()
    x = np.array(lmp.gather_atoms("x", 1, 3)).reshape(n, 3) - lo
    types = np.array(lmp.gather_atoms("type", 0, 1))
    atoms = Atoms([elements[t - 1] for t in types], positions=x, cell=cell, pbc=True)
    atoms.wrap()
    return atoms
