"""The 12,000-atom amorphous Li2CO3 cell of run.toml: the tutorial's 96-atom cell
(inputs/li2co3_amorphous/structure.extxyz) repeated 5 x 5 x 5.

    python make_structure.py && mpirun -np 2 mdsentry run run.toml
"""
import os

from ase.io import read, write

HERE = os.path.dirname(os.path.abspath(__file__))
cell = read(os.path.join(HERE, "..", "..", "inputs", "li2co3_amorphous", "structure.extxyz"))
write(os.path.join(HERE, "structure.extxyz"), cell.repeat(5))
