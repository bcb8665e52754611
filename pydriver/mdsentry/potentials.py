"""Analytic EAM potentials written as LAMMPS setfl files (pair_style eam/alloy).

Used by the demo and the tests to build committees of physically sensible
but different members without shipping third-party potential files.
Sutton-Chen form (Sutton & Chen, Phil. Mag. Lett. 61, 139 (1990)):
    E_i = eps * [ 1/2 sum_j (a/r_ij)^n - c * sqrt(rho_i) ],  rho_i = sum_j (a/r_ij)^m
with both radial functions smoothly tapered to zero between r_s and r_c.
"""

import numpy as np

# Sutton-Chen parameters of Cu: eps (eV), a (A), n, m, c
SUTTON_CHEN_CU = dict(eps=1.2382e-2, a=3.61, n=9, m=6, c=39.432)


def _taper(r, rs, rc):
    """1 below rs, 0 above rc, C2-smooth (quintic) in between."""
    x = np.clip((r - rs) / (rc - rs), 0.0, 1.0)
    return 1.0 - x**3 * (10.0 - 15.0 * x + 6.0 * x**2)


def write_sutton_chen(path, element="Cu", mass=63.546, lattice=3.61, *, eps, a, n, m, c,
                      rs=6.0, rc=7.0, nr=2000, nrho=2000, rho_max=600.0):
    """Write one-element Sutton-Chen EAM as a setfl file; returns ``path``."""
    dr = rc / (nr - 1)
    drho = rho_max / (nrho - 1)
    r = np.arange(nr) * dr
    reff = np.maximum(r, 0.5)  # values below 0.5 A are never sampled
    s = _taper(r, rs, rc)
    phi = eps * (a / reff) ** n * s
    dens = (a / reff) ** m * s
    rho = np.arange(nrho) * drho
    embed = -eps * c * np.sqrt(rho)

    def block(values):
        return "\n".join(" ".join(f"{v:.16e}" for v in values[i:i + 5])
                         for i in range(0, len(values), 5))

    with open(path, "w") as fh:
        fh.write(f"Sutton-Chen EAM for {element} written by mdsentry.potentials\n")
        fh.write(f"eps={eps} a={a} n={n} m={m} c={c} taper {rs}-{rc} A\n")
        fh.write("setfl format for pair_style eam/alloy\n")
        fh.write(f"1 {element}\n")
        fh.write(f"{nrho} {drho:.16e} {nr} {dr:.16e} {rc:.16e}\n")
        fh.write(f"29 {mass} {lattice} fcc\n")
        fh.write(block(embed) + "\n")
        fh.write(block(dens) + "\n")
        fh.write(block(r * phi) + "\n")  # setfl stores r * phi(r)
    return path


def sutton_chen_committee(directory, size=4, spread=0.03, seed=0, element="Cu"):
    """Write ``size`` perturbed Sutton-Chen Cu members; returns their paths.

    Member 1 has the published parameters; the others scale eps and c by
    independent factors 1 + spread * N(0, 1), mimicking an ensemble of fits.
    """
    import os

    rng = np.random.default_rng(seed)
    paths = []
    for k in range(size):
        p = dict(SUTTON_CHEN_CU)
        if k > 0:
            p["eps"] *= 1.0 + spread * rng.standard_normal()
            p["c"] *= 1.0 + spread * rng.standard_normal()
        paths.append(write_sutton_chen(os.path.join(directory, f"{element}_sc{k + 1}.eam.alloy"),
                                       element=element, **p))
    return paths
