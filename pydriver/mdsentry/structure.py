"""Structures in and out of LAMMPS: data files with a fixed element <-> type order."""

import os

from ase.data import atomic_masses, atomic_numbers


def read_structure(path, elements=None):
    """First frame of any ASE-readable file, or a LAMMPS data file (``.data``/``.lmp``,
    atom_style atomic, types mapped to ``elements``)."""
    from ase.io import read

    if os.path.splitext(path)[1] in (".data", ".lmp"):
        if not elements:
            raise ValueError("a LAMMPS data file needs system.elements (one per atom type)")
        return read(path, format="lammps-data", style="atomic", units="metal", parallel=False,
                    Z_of_type={k + 1: atomic_numbers[e] for k, e in enumerate(elements)})
    return read(path, index=0, parallel=False)


def boundary(atoms):
    """LAMMPS's boundary for the structure: p along periodic axes, f (fixed, vacuum
    around a slab or cluster) along the others, e.g. "p p f" for pbc = T T F."""
    return " ".join("p" if periodic else "f" for periodic in atoms.pbc)


def outside_cell(atoms):
    """Axes along which the structure is not periodic and atoms lie outside the cell: a
    fixed boundary would lose them."""
    frac = atoms.cell.scaled_positions(atoms.positions) if atoms.cell.rank == 3 else None
    if frac is None:
        return [a for a, p in zip("xyz", atoms.pbc) if not p]
    return [a for k, (a, p) in enumerate(zip("xyz", atoms.pbc))
            if not p and (frac[:, k].min() < 0.0 or frac[:, k].max() >= 1.0)]


def write_data(atoms, path, elements):
    """LAMMPS data file (atom_style atomic, metal units) with types in ``elements`` order."""
    from ase.io import write

    write(path, atoms, format="lammps-data", specorder=list(elements), atom_style="atomic",
          units="metal", masses=True, parallel=False)
    return path


def mass_commands(elements):
    return [f"mass {k + 1} {atomic_masses[atomic_numbers[e]]:.6f}" for k, e in enumerate(elements)]
