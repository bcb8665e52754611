"""mdsentry: on-the-fly active learning of ML interatomic potentials in LAMMPS.

Kept import-light on purpose: mdsentry-plugin.pth imports mdsentry._autoload
at every interpreter start of the environment it is installed in.
"""

__version__ = "0.1.0"
