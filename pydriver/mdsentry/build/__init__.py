"""Structure builders for SEI systems (ASE Atoms in, ASE Atoms out).

* ``bulk(name)``: shipped crystals (Li, Na, LiF, NaF, Li2O, Na2O, Li2CO3)
* ``pack(composition, density)``: amorphous random packing of formula units (packmol)
* ``densify(atoms, potential)``: low-density start -> high-pressure NPT -> relax, in LAMMPS
* ``slab``, ``matches``, ``interface``, ``stack``: surfaces, lattice-matched metal/SEI
  interfaces, a packed electrolyte on a slab
* ``vacancy``, ``interstitial``, ``frenkel_pair``: point defects
"""

from mdsentry.build.crystals import PHASES, bulk
from mdsentry.build.defects import frenkel_pair, interstitial, largest_voids, vacancy
from mdsentry.build.fragments import FORMULAS, FRAGMENTS, formula_units, fragment
from mdsentry.build.interface import describe, interface, matches, slab, stack, strain_of
from mdsentry.build.packing import PackingError, density_of, pack


def densify(*args, **kwargs):
    """See mdsentry.build.densify.densify (imports LAMMPS only when called)."""
    from mdsentry.build.densify import densify as _densify

    return _densify(*args, **kwargs)


__all__ = ["PHASES", "bulk", "pack", "densify", "density_of", "PackingError", "slab", "matches",
           "interface", "stack", "describe", "strain_of", "vacancy", "interstitial", "frenkel_pair",
           "largest_voids", "FORMULAS", "FRAGMENTS", "fragment", "formula_units"]
