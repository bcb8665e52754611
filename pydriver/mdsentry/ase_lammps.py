"""An ASE calculator as LAMMPS's force field, through ``fix external`` (one MPI rank).

Used to densify with the oracle and to run the oracle's own MD for comparisons:
LAMMPS integrates (thermostats, barostats, dumps), the calculator (CHGNet, a DFT
code, ...) supplies energy, forces and the virial at every step.
"""

import numpy as np


def lammps_cell(lmp):
    """(origin, 3x3 cell with rows a, b, c) of a LAMMPS instance's box."""
    lo, hi, xy, yz, xz, *_ = lmp.extract_box()
    cell = np.array([[hi[0] - lo[0], 0, 0], [xy, hi[1] - lo[1], 0], [xz, yz, hi[2] - lo[2]]])
    return np.asarray(lo), cell


def attach_calculator(lmp, calc, atoms, elements, fix_id="mdsentry_ext", cutoff=6.0):
    """Make ``calc`` the force field of the LAMMPS instance ``lmp`` (box and atoms
    defined, ``atoms`` their ASE twin in the same order of elements)."""
    if lmp.extract_setting("world_size") > 1:
        raise ValueError("an ASE calculator as the force field runs on one MPI rank")
    lmp.commands_list([f"pair_style zero {cutoff}", "pair_coeff * *",
                       f"fix {fix_id} all external pf/callback 1 1",
                       f"fix_modify {fix_id} energy yes virial yes"])
    work = atoms.copy()
    work.calc = calc
    symbols = np.array(elements)

    def callback(_, step, nlocal, tag, x, f):
        lo, cell = lammps_cell(lmp)
        order = np.argsort(tag)
        types = np.asarray(lmp.numpy.extract_atom("type"))[:nlocal]
        work.set_cell(cell, scale_atoms=False)
        work.set_chemical_symbols(symbols[types[order] - 1])
        work.set_positions(np.asarray(x)[order] - lo)
        f[order] = work.get_forces()
        stress = work.get_stress(voigt=True)  # xx yy zz yz xz xy, ASE sign
        vol = work.get_volume()
        lmp.fix_external_set_energy_global(fix_id, float(work.get_potential_energy()))
        # LAMMPS's virial (xx yy zz xy xz yz) is -stress * V
        lmp.fix_external_set_virial_global(
            fix_id, [float(-vol * stress[i]) for i in (0, 1, 2, 5, 4, 3)])

    lmp.set_fix_external_callback(fix_id, callback)
    return callback
