"""Interface energies and NEB barriers with any ASE calculator, LAMMPS-backed ones included."""

import numpy as np

EV_PER_A2_TO_J_PER_M2 = 16.02176634


def lammps_calculator(commands, elements, **kwargs):
    """An ASE calculator running LAMMPS with the given pair commands (any style the
    LAMMPS here knows, the committee and deepmd included), through ASE's LAMMPSlib."""
    from mpi4py import MPI  # noqa: F401  (before lammps: libmpi for liblammps)
    from ase.calculators.lammpslib import LAMMPSlib

    from mdsentry.lmp import has_style, lammps

    probe = lammps()
    need = []
    if not has_style(probe, "committee"):
        from mdsentry.plugin import plugin_path

        need.append(f"plugin load {plugin_path()}")
    probe.close()
    header = ["units metal", "atom_style atomic", "atom_modify map array sort 0 0"]
    return LAMMPSlib(lmpcmds=need + list(commands), atom_types={e: k + 1 for k, e in enumerate(elements)},
                     lammps_header=header, keep_alive=True, **kwargs)


def _energy(atoms, calc):
    a = atoms.copy()
    a.calc = calc
    return float(a.get_potential_energy())


def adhesion(interface_atoms, calc):
    """Work of separation of an interface built by ``mdsentry.build.interface``.

    Both slabs are evaluated alone in the same cell (so the top slab keeps its
    strain and the strain energy cancels):
        W = (E_bottom + E_top - E_interface) / (n A)
    with n = 2 interfaces for periodic stacking, 1 with vacuum.  Returns dict:
    W (J/m^2, positive = bound), energies (eV), area (A^2), n_interfaces.
    """
    info = interface_atoms.info.get("interface")
    region = interface_atoms.arrays.get("region")
    if info is None or region is None:
        raise ValueError("adhesion needs an interface from mdsentry.build.interface")
    e_int = _energy(interface_atoms, calc)
    e_bot = _energy(interface_atoms[region == 0], calc)
    e_top = _energy(interface_atoms[region == 1], calc)
    n = 2 if info["stacking"] == "periodic" else 1
    area = float(np.linalg.norm(np.cross(interface_atoms.cell[0], interface_atoms.cell[1])))
    w = (e_bot + e_top - e_int) / (n * area)
    return {"W": w * EV_PER_A2_TO_J_PER_M2, "E_interface": e_int, "E_bottom": e_bot,
            "E_top": e_top, "area": area, "n_interfaces": n}


def surface_energy(slab_atoms, bulk_atoms, calc, n_surfaces=2):
    """gamma = (E_slab - N_slab/N_bulk E_bulk) / (n A), J/m^2 (same composition ratio)."""
    e_slab, e_bulk = _energy(slab_atoms, calc), _energy(bulk_atoms, calc)
    area = float(np.linalg.norm(np.cross(slab_atoms.cell[0], slab_atoms.cell[1])))
    gamma = (e_slab - len(slab_atoms) / len(bulk_atoms) * e_bulk) / (n_surfaces * area)
    return gamma * EV_PER_A2_TO_J_PER_M2


def neb_barrier(initial, final, calc_factory, n_images=5, fmax=0.05, steps=500, climb=True,
                relax_ends=True, log=None):
    """Minimum-energy path between two structures with the same atoms (ASE NEB, FIRE).

    calc_factory: () -> a new ASE calculator (one per image).
    Returns dict: barrier (forward, eV), reverse barrier, energies along the path
    (relative to the initial state), images, converged.
    """
    from ase.mep import NEB
    from ase.optimize import BFGS, FIRE

    ends = [initial.copy(), final.copy()]
    for atoms in ends:
        atoms.calc = calc_factory()
        if relax_ends:
            BFGS(atoms, logfile=log).run(fmax=fmax / 2, steps=steps)
    images = [ends[0]] + [ends[0].copy() for _ in range(n_images)] + [ends[1]]
    for image in images[1:-1]:
        image.calc = calc_factory()
    neb = NEB(images, climb=climb, method="improvedtangent", allow_shared_calculator=False)
    neb.interpolate(mic=True)
    converged = FIRE(neb, logfile=log).run(fmax=fmax, steps=steps)
    energies = np.array([im.get_potential_energy() for im in images])
    return {"barrier": float(energies.max() - energies[0]),
            "reverse_barrier": float(energies.max() - energies[-1]),
            "energies": (energies - energies[0]).tolist(), "images": images,
            "converged": bool(converged)}
