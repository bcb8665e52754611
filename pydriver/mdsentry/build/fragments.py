"""Rigid fragments (ions, molecules) for amorphous packing, and formula units made of them.

Geometries are idealised (textbook bond lengths and angles, no optimisation):
packing only needs sensible shapes, the densification and the oracle do the rest.
``formula_units("Li2EDC")`` -> ["EDC", "Li", "Li"]; any ASE Atoms can be a fragment too.
"""

import numpy as np
from ase import Atoms


def _planar_xo3(center, ligand, bond):
    ang = np.radians([90.0, 210.0, 330.0])
    pos = [[0, 0, 0]] + [[bond * np.cos(a), bond * np.sin(a), 0.0] for a in ang]
    return Atoms(center + ligand * 3, positions=pos)


def _tetrahedral(center, ligands, bonds):
    dirs = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3.0)
    pos = [[0, 0, 0]] + [b * d for b, d in zip(bonds, dirs)]
    return Atoms(center + "".join(ligands), positions=pos)


def _octahedral(center, ligand, bond):
    dirs = np.vstack([np.eye(3), -np.eye(3)])
    return Atoms(center + ligand * 6, positions=[[0, 0, 0], *(bond * dirs)])


def _ethylene_carbonate():
    """C3H4O3: a planar five-membered ring O-C(=O)-O-CH2-CH2 with its carbonyl O."""
    r = 1.42 / (2 * np.sin(np.pi / 5))            # ring of 1.42 A bonds
    ang = np.pi / 2 + 2 * np.pi * np.arange(5) / 5   # carbonyl C first, on +y
    ring = np.column_stack([r * np.cos(ang), r * np.sin(ang), np.zeros(5)])
    symbols = ["C", "O", "C", "C", "O"]
    pos = list(ring) + [ring[0] + [0.0, 1.20, 0.0]]  # C=O
    symbols.append("O")
    for k in (2, 3):                                 # CH2: H above and below the ring
        out = ring[k] / np.linalg.norm(ring[k])
        for z in (1.0, -1.0):
            d = 0.55 * out + z * np.array([0.0, 0.0, 0.83])
            pos.append(ring[k] + 1.09 * d / np.linalg.norm(d))
            symbols.append("H")
    return Atoms(symbols, positions=pos)


def _edc():
    """Ethylene dicarbonate anion (CH2OCO2)2 2-, all-anti zigzag in a plane."""
    # backbone O2C-O-CH2-CH2-O-CO2, built from its centre outwards with 115 deg zigzags
    bonds = [1.52, 1.43, 1.35]          # C-C, C-O(ether), O-C(carbonate)
    half = [np.array([0.76, 0.0, 0.0])]
    direction = np.array([1.0, 0.0, 0.0])
    turn = np.radians(180.0 - 115.0)
    sign = 1.0
    symbols = ["C", "O", "C"]
    for b in bonds[1:]:
        c, s = np.cos(sign * turn), np.sin(sign * turn)
        direction = np.array([c * direction[0] - s * direction[1],
                              s * direction[0] + c * direction[1], 0.0])
        half.append(half[-1] + b * direction)
        sign = -sign
    # the carbonate's two terminal O at 120 deg, 1.25 A
    c_pos, o_eth = half[2], half[1]
    back = (o_eth - c_pos) / np.linalg.norm(o_eth - c_pos)
    terminals = []
    for a in (np.radians(120.0), np.radians(-120.0)):
        rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        terminals.append(c_pos + 1.25 * rot @ back)
    # H on the CH2 carbon, out of plane
    ch2 = half[0]
    bis = -((np.array([-0.76, 0, 0]) - ch2) / 1.52 + (half[1] - ch2) / 1.43)
    bis /= np.linalg.norm(bis)
    hs = [ch2 + 1.09 * (0.55 * bis + z * np.array([0, 0, 0.83])) /
          np.linalg.norm(0.55 * bis + z * np.array([0, 0, 0.83])) for z in (1, -1)]
    side = [*half, *terminals, *hs]
    side_symbols = ["C", "O", "C", "O", "O", "H", "H"]
    mirror = [np.array([-p[0], -p[1], p[2]]) for p in side]  # inversion centre in the plane
    return Atoms(side_symbols * 2, positions=side + mirror)


FRAGMENTS = {
    "CO3": lambda: _planar_xo3("C", "O", 1.29),
    "PS4": lambda: _tetrahedral("P", "SSSS", [2.05] * 4),
    "PS3O": lambda: _tetrahedral("P", "OSSS", [1.52, 2.05, 2.05, 2.05]),
    "PS2O2": lambda: _tetrahedral("P", "OOSS", [1.52, 1.52, 2.05, 2.05]),
    "PO4": lambda: _tetrahedral("P", "OOOO", [1.54] * 4),
    "PF6": lambda: _octahedral("P", "F", 1.60),
    "EC": _ethylene_carbonate,
    "EDC": _edc,
}

# formula unit -> fragments (the ions separately, so that packing mixes them)
FORMULAS = {
    "Li2CO3": ["CO3", "Li", "Li"],
    "Na2CO3": ["CO3", "Na", "Na"],
    "Li2EDC": ["EDC", "Li", "Li"],
    "Na2EDC": ["EDC", "Na", "Na"],
    "LiF": ["F", "Li"],
    "NaF": ["F", "Na"],
    "Li2O": ["O", "Li", "Li"],
    "Na2O": ["O", "Na", "Na"],
    "LiPF6": ["PF6", "Li"],
    "NaPF6": ["PF6", "Na"],
    "Na3PS4": ["PS4", "Na", "Na", "Na"],
    "Na3PS3O": ["PS3O", "Na", "Na", "Na"],
    "Na3PS2O2": ["PS2O2", "Na", "Na", "Na"],
    "Na3PO4": ["PO4", "Na", "Na", "Na"],
    "Li3PS4": ["PS4", "Li", "Li", "Li"],
}


def fragment(name):
    """A fragment by name (``FRAGMENTS``, or an element symbol: one atom), centred on
    its centre of mass."""
    from ase.data import atomic_numbers

    if name not in FRAGMENTS and name in atomic_numbers and name != "X":
        return Atoms(name, positions=[[0, 0, 0]], info={"fragment": name})
    if name not in FRAGMENTS:
        raise KeyError(f"no fragment {name!r}; known: {', '.join(sorted(FRAGMENTS))}")
    atoms = FRAGMENTS[name]()
    atoms.positions -= atoms.get_center_of_mass()
    atoms.info["fragment"] = name
    return atoms


def formula_units(name):
    """Fragment names that make one formula unit (a fragment is its own unit)."""
    if name in FORMULAS:
        return list(FORMULAS[name])
    from ase.data import atomic_numbers

    if name in FRAGMENTS or (name in atomic_numbers and name != "X"):
        return [name]
    raise KeyError(f"unknown formula unit or fragment {name!r}; known: "
                   f"{', '.join(sorted(set(FORMULAS) | set(FRAGMENTS)))}")
