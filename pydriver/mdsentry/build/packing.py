"""Amorphous random packing of formula units at a target density, through packmol.

packmol (the PyPI wheel ships the binary) places rigid fragments so that atoms
of different fragments are at least ``tolerance`` apart, in a periodic box.
The composition is exact by construction, the box is sized from the mass and
the density, and the result is checked again here: a packing that packmol
could not converge is an error, not a silent overlap.
"""

import os
import shutil
import subprocess
import tempfile
from collections import Counter

import numpy as np
from ase import Atoms, units
from ase.io import read, write

from mdsentry.build.fragments import formula_units, fragment

AMU_PER_A3_TO_G_PER_CM3 = 1e24 / units.mol  # 1 amu/A^3 in g/cm^3 (1.66054)


class PackingError(RuntimeError):
    pass


def packmol_binary():
    exe = shutil.which("packmol")
    if exe is None:
        try:
            from packmol.cli import get_binary_path

            exe = str(get_binary_path())
        except ImportError:
            raise PackingError("packmol is not installed: pip install packmol") from None
    return exe


def density_of(atoms):
    """Mass density in g/cm^3."""
    return float(np.sum(atoms.get_masses()) / atoms.get_volume() * AMU_PER_A3_TO_G_PER_CM3)


def _fragments(composition, extra):
    """Fragment name -> count, expanding formula units, in a stable order."""
    counts = Counter()
    for unit, n in composition.items():
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"composition: {unit} = {n!r} must be a non-negative integer")
        if unit in extra:
            counts[unit] += n
            continue
        for frag in formula_units(unit):
            counts[frag] += n
    return {k: v for k, v in counts.items() if v}


def min_distance_between_fragments(atoms, molecule_ids):
    """Shortest periodic distance between atoms of different fragments."""
    from ase.neighborlist import neighbor_list

    cutoff = 4.0
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    other = molecule_ids[i] != molecule_ids[j]
    return float(d[other].min()) if np.any(other) else cutoff


def pack(composition, density, *, tolerance=2.0, seed=1, aspect=(1.0, 1.0, 1.0),
         area=None, fragments=None, workdir=None, maxit=40):
    """Random packing of ``composition`` at ``density`` (g/cm^3) in a periodic box.

    composition: formula unit (``FORMULAS``) or fragment (``FRAGMENTS``) -> count,
        e.g. ``{"Li2EDC": 8, "Li2CO3": 16, "Li": 4}``.
    tolerance: minimum distance (A) between atoms of different fragments.
    aspect: relative box lengths (orthorhombic box).
    area: (Lx, Ly) fixed in-plane lengths (e.g. a slab's, for ``stack``); Lz then
        follows from the density, and the box is not periodic along z: fragments
        stay whole inside 0 <= z <= Lz, ready to be stacked on a surface.
    fragments: extra name -> ASE Atoms fragments.
    Returns Atoms (pbc, wrapped) with ``info``: composition, density, seed,
    min_distance; ``arrays["fragment_id"]`` numbers the fragments.
    """
    extra = dict(fragments or {})
    counts = _fragments(composition, extra)
    if not counts:
        raise ValueError("composition is empty")
    if density <= 0:
        raise ValueError(f"density = {density} must be positive")
    mols = {name: (extra[name].copy() if name in extra else fragment(name)) for name in counts}
    mass = sum(n * np.sum(mols[name].get_masses()) for name, n in counts.items())
    volume = mass / (density / AMU_PER_A3_TO_G_PER_CM3)
    if area is not None:
        lengths = np.array([area[0], area[1], volume / (area[0] * area[1])], dtype=float)
    else:
        aspect = np.asarray(aspect, dtype=float)
        lengths = aspect * (volume / np.prod(aspect)) ** (1.0 / 3.0)

    tmp = workdir or tempfile.mkdtemp(prefix="mdsentry-pack-")
    os.makedirs(tmp, exist_ok=True)
    layer = area is not None
    # a layer: periodic in x, y; along z a margin beyond the tolerance, fragments kept inside
    pbc_box = lengths + ([0.0, 0.0, 2.0 * tolerance + 1.0] if layer else 0.0)
    lines = [f"tolerance {tolerance}", "filetype xyz", "output packed.xyz", f"seed {int(seed)}",
             f"nloop {maxit * 50}", f"maxit {maxit}",
             "pbc 0. 0. 0. " + " ".join(f"{x:.6f}" for x in pbc_box)]
    inside = "  inside box 0. 0. 0. " + " ".join(f"{x:.6f}" for x in lengths)
    order = []
    for k, (name, n) in enumerate(counts.items()):
        fname = f"frag{k}.xyz"
        write(os.path.join(tmp, fname), mols[name], format="xyz", parallel=False)
        lines += [f"structure {fname}", f"  number {n}", *([inside] if layer else []),
                  "end structure"]
        order.append((name, n))
    with open(os.path.join(tmp, "pack.inp"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    with open(os.path.join(tmp, "pack.inp")) as stdin:
        proc = subprocess.run([packmol_binary()], stdin=stdin, capture_output=True, text=True,
                              cwd=tmp)
    out = os.path.join(tmp, "packed.xyz")
    if proc.returncode != 0 or not os.path.exists(out) or \
            os.path.exists(out + "_FORCED") or "Solution written" not in proc.stdout:
        tail = "\n".join(proc.stdout.strip().splitlines()[-8:])
        raise PackingError(f"packmol found no packing with all distances >= {tolerance} A at "
                           f"{density} g/cm^3 (try a lower density or tolerance; "
                           f"input in {tmp}):\n{tail}")
    packed = read(out, format="xyz", parallel=False)
    atoms = Atoms(packed.get_chemical_symbols(), positions=packed.positions,
                  cell=np.diag(lengths), pbc=[True, True, not layer])
    atoms.wrap()  # along the periodic directions only
    ids = np.concatenate([np.repeat(np.arange(n), len(mols[name])) + offset
                          for (name, n), offset in zip(order, np.cumsum([0] + [n for _, n in order])[:-1])])
    atoms.set_array("fragment_id", ids.astype(int))
    dmin = min_distance_between_fragments(atoms, ids)
    if dmin < tolerance * 0.98:  # packmol's own criterion has a small slack
        raise PackingError(f"packmol returned a packing with atoms {dmin:.3f} A apart "
                           f"(tolerance {tolerance} A)")
    atoms.info.update(composition=dict(composition), density=density_of(atoms), seed=int(seed),
                      min_distance=dmin, tolerance=float(tolerance))
    if workdir is None:
        shutil.rmtree(tmp, ignore_errors=True)
    return atoms
