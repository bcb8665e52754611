"""Write interface.data (atom_style charge, types Li C O, boundary p p f with 10 A of
vacuum on each side) and interface.vars (the z that separates metal from carbonate)
from the builder's Li(111)/Li2CO3(001) interface in ../li_li2co3_interface."""

import os

from ase.io import read, write

here = os.path.dirname(os.path.abspath(__file__))
atoms = read(os.path.join(here, "..", "li_li2co3_interface", "structure.extxyz"))
atoms.pbc = [True, True, False]
atoms.center(vacuum=10.0, axis=2)
region = atoms.arrays["region"]  # 0: Li metal, 1: Li2CO3 (mdsentry build interface)
z = atoms.positions[:, 2]
zsplit = 0.5 * (z[region == 0].max() + z[region == 1].min())
write(os.path.join(here, "interface.data"), atoms, format="lammps-data", atom_style="charge",
      specorder=["Li", "C", "O"], masses=True)
with open(os.path.join(here, "interface.vars"), "w") as fh:
    fh.write(f"variable zsplit equal {zsplit:.4f}  # between the metal and the carbonate\n")
print(f"interface.data: {len(atoms)} atoms, metal below z = {zsplit:.2f} A")
