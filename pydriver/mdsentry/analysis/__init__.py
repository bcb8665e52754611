"""From MD to numbers: RDFs, diffusion, Arrhenius, conductivity, parity, interface energies, NEB.

Each module is small and numpy/ASE-based; ``mdsentry analyze ...`` wraps them
(``cli_analyze.py``), writing a CSV table and a PNG per verb.

* ``rdf.rdf`` / ``rdf.first_shell``: partial g(r), coordination numbers
* ``diffusion.unwrap`` / ``msd`` / ``diffusion_coefficient``: MSD, D with a generalised-least-squares error bar (MSD covariance between lags)
* ``arrhenius.fit`` / ``nernst_einstein``: Ea with uncertainty, ionic conductivity
* ``parity.errors`` / ``predict``: RMSE of energy/atom, forces, virial, stress
* ``energetics.adhesion`` / ``surface_energy`` / ``neb_barrier`` / ``lammps_calculator``
"""
