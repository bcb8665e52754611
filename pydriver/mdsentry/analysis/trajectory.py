"""Reading trajectories for analysis: LAMMPS dumps, extxyz, ASE .traj."""

import numpy as np


def read_trajectory(path, elements=None, index=":"):
    """Frames of a trajectory as ASE Atoms.

    LAMMPS text dumps (``*.dump``, ``*.lammpstrj``) carry atom types: ``elements``
    names them in type order (a dump with an ``element`` column needs nothing, and
    ``elements`` is then not used).
    """
    from ase.data import atomic_numbers
    from ase.io import read

    lower = str(path).lower()
    if lower.endswith((".dump", ".lammpstrj")) or ".dump." in lower:
        frames = read(path, index=index, format="lammps-dump-text", parallel=False)
        frames = frames if isinstance(frames, list) else [frames]
        if elements and not _has_element_column(path):
            z = np.array([0] + [atomic_numbers[e] for e in elements])
            for atoms in frames:
                types = atoms.numbers  # ASE stores the LAMMPS type when there is no element
                if types.max() >= len(z):
                    raise ValueError(f"{path}: atom type {types.max()} but only "
                                     f"{len(elements)} elements given")
                atoms.numbers = z[types]
        return frames
    frames = read(path, index=index, parallel=False)
    return frames if isinstance(frames, list) else [frames]


def _has_element_column(path):
    with open(path) as fh:
        for line in fh:
            if line.startswith("ITEM: ATOMS"):
                return "element" in line.split()[2:]
    return False


def write_table(path, columns, header=""):
    """Columns (name -> 1D array) as a CSV file with an optional ``#`` header."""
    names = list(columns)
    data = np.column_stack([np.asarray(columns[n], dtype=float) for n in names])
    comments = "".join(f"# {line}\n" for line in header.splitlines() if line)
    np.savetxt(path, data, delimiter=",", header=",".join(names), comments="",
               fmt="%.8g")
    if comments:
        with open(path) as fh:
            body = fh.read()
        with open(path, "w") as fh:
            fh.write(comments + body)
    return path


def read_table(path):
    """A CSV written by ``write_table`` (or any CSV with a header row) as name -> array."""
    with open(path) as fh:
        lines = [line for line in fh if not line.startswith("#") and line.strip()]
    names = [n.strip() for n in lines[0].split(",")]
    data = np.loadtxt(lines[1:], delimiter=",", ndmin=2)
    return {n: data[:, k] for k, n in enumerate(names)}
