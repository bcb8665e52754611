"""Labelled frames in and out: ASE formats (extxyz, ...), deepmd npy systems, the store.

Frames are ASE Atoms whose calculator holds energy, forces and (optionally)
stress.  MPI note: ASE's own readers/writers are MPI-aware when mpi4py is
loaded; calling them on one rank only needs ``parallel=False`` (done here).
"""

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read


def labels(atoms):
    """(energy, forces, Voigt stress) of a labelled frame; NaN / None where absent."""
    calc = atoms.calc
    if calc is None or "energy" not in getattr(calc, "results", {}):
        return np.nan, None, None
    forces = atoms.get_forces() if "forces" in calc.results else None
    stress = atoms.get_stress(voigt=True) if "stress" in calc.results else None
    return atoms.get_potential_energy(), forces, stress


def read_deepmd_system(path) -> list:
    """Frames of one deepmd npy system directory (type.raw, type_map.raw, set.*/)."""
    path = Path(path)
    types = np.loadtxt(path / "type.raw", dtype=int, ndmin=1)
    type_map = (path / "type_map.raw").read_text().split()
    symbols = [type_map[t] for t in types]
    frames = []
    for s in sorted(path.glob("set.*")):
        coord = np.load(s / "coord.npy").reshape(-1, len(types), 3)
        box = np.load(s / "box.npy").reshape(-1, 3, 3)
        energy = np.load(s / "energy.npy").ravel()
        force = np.load(s / "force.npy").reshape(-1, len(types), 3)
        virial = np.load(s / "virial.npy").reshape(-1, 3, 3) if (s / "virial.npy").exists() else None
        for k in range(len(coord)):
            atoms = Atoms(symbols, positions=coord[k], cell=box[k], pbc=True)
            stress = None
            if virial is not None:
                stress = -virial[k] / atoms.get_volume()  # ASE stress from deepmd virial
            atoms.calc = SinglePointCalculator(atoms, energy=float(energy[k]), forces=force[k],
                                               stress=stress)
            frames.append(atoms)
    return frames


def read_frames(path, index=":") -> list:
    """Frames from a file ASE reads (extxyz, ...) or deepmd npy system dir(s); an mdsentry
    store is read by ``store.load_frames``."""
    path = Path(path)
    if path.suffix in (".h5", ".hdf5"):
        raise ValueError(f"{path} is an mdsentry store: read it with mdsentry.store.load_frames")
    if path.is_dir():
        systems = [p.parent for p in sorted(path.rglob("type.raw"))]
        if not systems:
            raise ValueError(f"{path} is a directory without deepmd systems (type.raw)")
        return [a for s in systems for a in read_deepmd_system(s)]
    if not path.is_file():
        raise FileNotFoundError(f"no such data file: {path}")
    frames = read(str(path), index=index, parallel=False)
    return frames if isinstance(frames, list) else [frames]


def held_out(n, fraction, seed=0) -> np.ndarray:
    """Which of n frames to hold out: a random share ``fraction``, at least one frame held
    out and one kept when possible (bool per frame)."""
    order = np.random.default_rng(seed).permutation(n)
    n_out = min(max(1, int(round(fraction * n))), n - 1) if fraction > 0 else 0
    mask = np.zeros(n, dtype=bool)
    mask[order[:n_out]] = True
    return mask


def split(frames, fraction, seed=0) -> tuple:
    """Random (train, held-out) split; at least one frame in each when possible."""
    held = held_out(len(frames), fraction, seed)
    return ([f for f, h in zip(frames, held) if not h], [f for f, h in zip(frames, held) if h])
