"""A small library of crystalline SEI and anode phases (experimental lattices).

``bulk("Li2CO3")`` returns the conventional cell as ASE Atoms; ``PHASES`` lists
what is shipped and where the numbers come from.
"""

from ase.build import bulk as _ase_bulk
from ase.spacegroup import crystal

# name: (builder, description); lattice constants in Angstrom, room temperature
PHASES = {
    "Li": (lambda: _ase_bulk("Li", "bcc", a=3.51, cubic=True), "Li metal, bcc, a = 3.51"),
    "Na": (lambda: _ase_bulk("Na", "bcc", a=4.29, cubic=True), "Na metal, bcc, a = 4.29"),
    "LiF": (lambda: _ase_bulk("LiF", "rocksalt", a=4.03, cubic=True), "LiF, rock salt, a = 4.03"),
    "NaF": (lambda: _ase_bulk("NaF", "rocksalt", a=4.63, cubic=True), "NaF, rock salt, a = 4.63"),
    # antifluorite: O on the fcc sites, the alkali in the tetrahedral holes
    "Li2O": (lambda: crystal(["O", "Li"], [(0, 0, 0), (0.25, 0.25, 0.25)], spacegroup=225,
                             cellpar=[4.61, 4.61, 4.61, 90, 90, 90]),
             "Li2O, antifluorite Fm-3m, a = 4.61"),
    "Na2O": (lambda: crystal(["O", "Na"], [(0, 0, 0), (0.25, 0.25, 0.25)], spacegroup=225,
                             cellpar=[5.55, 5.55, 5.55, 90, 90, 90]),
             "Na2O, antifluorite Fm-3m, a = 5.55"),
    # zabuyelite (Effenberger & Zemann 1979): C2/c, Z = 4, 2.10 g/cm^3
    "Li2CO3": (lambda: crystal(["Li", "C", "O", "O"],
                               [(0.1965, 0.4484, 0.8352), (0.0, 0.0657, 0.25),
                                (0.0, 0.3213, 0.25), (0.1459, -0.0636, 0.3127)],
                               spacegroup=15, cellpar=[8.359, 4.973, 6.197, 90, 114.79, 90]),
               "Li2CO3, monoclinic C2/c, a = 8.359, b = 4.973, c = 6.197, beta = 114.79"),
}


def bulk(name):
    """Conventional cell of a shipped phase (see ``PHASES``)."""
    if name not in PHASES:
        raise KeyError(f"no shipped crystal {name!r}; known: {', '.join(sorted(PHASES))}")
    atoms = PHASES[name][0]()
    atoms.info["phase"] = name
    return atoms
