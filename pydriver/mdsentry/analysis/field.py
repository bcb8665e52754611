"""Along the field axis of a slab in a field (``fix qeq/field``): binned charge density,
electrostatic potential, element densities, and how far each element moved.

Frames carry per-atom charges (``atoms.get_initial_charges()``: a LAMMPS dump with a
``q`` column, written by ``fix qeq/field`` with ``atom_style charge``).
"""

import numpy as np

# e / (4 pi eps0) in V Angstrom: the potential of one e at 1 Angstrom
COULOMB = 14.399645


def _axis(axis):
    return "xyz".index(axis) if isinstance(axis, str) else int(axis)


def charge_profile(frames, axis="z", bins=100, field=0.0, pad=3.0):
    """Average charge density rho(z) (e/A^3) over ``frames`` in ``bins`` slices along
    ``axis`` (the non-periodic axis of a slab), and the potential it makes with the
    applied field:

        phi(z) = -4 pi k int_z0^z dz' int_z0^z' rho dz'' - field (z - z_centre)

    with phi = 0 and zero induced field at the bottom (vacuum there).
    The bins span the atoms of all frames plus ``pad`` A of vacuum on each side (file
    formats do not all keep the box's origin along a non-periodic axis).  Also the
    number density of each element (1/A^3).  Returns a dict of arrays:
    ``z``, ``rho``, ``phi_induced``, ``phi`` and ``n_<element>``.
    """
    frames = frames if isinstance(frames, (list, tuple)) else [frames]
    k = _axis(axis)
    cell = frames[0].cell.array
    if frames[0].pbc[k]:
        raise ValueError(f"charge_profile: the cell is periodic along {'xyz'[k]}; a field "
                         f"profile needs the non-periodic axis of a slab (boundary p p f)")
    area = float(frames[0].get_volume()) / float(np.linalg.norm(cell[k]))
    along = [a.positions @ (a.cell.array[k] / np.linalg.norm(a.cell.array[k])) for a in frames]
    lo = min(float(p.min()) for p in along) - pad
    hi = max(float(p.max()) for p in along) + pad
    edges = np.linspace(lo, hi, bins + 1)
    z = 0.5 * (edges[1:] + edges[:-1])
    width = edges[1] - edges[0]
    symbols = sorted(set(frames[0].get_chemical_symbols()))
    rho = np.zeros(bins)
    counts = {s: np.zeros(bins) for s in symbols}
    for atoms, pos in zip(frames, along):
        q = atoms.get_initial_charges()
        if not np.any(q):
            raise ValueError("charge_profile: the frames carry no charges (dump the q column "
                             "of fix qeq/field with atom_style charge)")
        rho += np.histogram(pos, bins=edges, weights=q)[0]
        sym = np.array(atoms.get_chemical_symbols())
        for s in symbols:
            counts[s] += np.histogram(pos[sym == s], bins=edges)[0]
    norm = len(frames) * area * width
    rho /= norm
    induced_field = 4 * np.pi * COULOMB * np.cumsum(rho) * width   # V/A, zero below
    phi_induced = -np.cumsum(induced_field) * width
    phi = phi_induced - field * (z - 0.5 * (lo + hi))
    out = {"z": z, "rho": rho, "phi_induced": phi_induced, "phi": phi}
    for s in symbols:
        out[f"n_{s}"] = counts[s] / norm
    return out


def net_displacement(frames, axis="z", region=None, relative_to=None):
    """Mean displacement of each element along ``axis`` from the first frame, per frame
    (A): the drift a field drives.  The axis must be non-periodic (no wrapping).

    ``region`` (lo, hi): only atoms whose first-frame coordinate along the axis lies in
    [lo, hi) (e.g. the electrolyte side of an interface); ``relative_to``: an element
    whose mean displacement (same region) is subtracted from every element's, so that a
    drift of the whole slab does not count as transport (e.g. Li against the carbonate's C).
    """
    k = _axis(axis)
    first = frames[0].positions[:, k]
    sym = np.array(frames[0].get_chemical_symbols())
    keep = np.ones(len(sym), dtype=bool)
    if region is not None:
        lo, hi = region
        keep = (first >= lo) & (first < hi)
    disp = np.array([a.positions[:, k] - first for a in frames])
    out = {s: disp[:, keep & (sym == s)].mean(axis=1) for s in sorted(set(sym[keep]))}
    if relative_to is not None:
        if relative_to not in out:
            raise ValueError(f"no {relative_to} atoms in the region to measure against")
        ref = out[relative_to]
        out = {s: d - ref for s, d in out.items() if s != relative_to}
    return out


def plot(profile, path, displacement=None, dt=None):
    """Charge density, potential and element densities along the axis; with
    ``displacement`` (from net_displacement) a fourth panel of the drift in time."""
    from mdsentry.plots import pyplot, save

    plt = pyplot()
    panels = 4 if displacement is not None else 3
    fig, axes = plt.subplots(1, panels, figsize=(3.6 * panels, 3.6))
    z = profile["z"]
    axes[0].plot(z, profile["rho"], color="k")
    axes[0].set_ylabel("charge density (e/Å³)")
    axes[1].plot(z, profile["phi"], label="total")
    axes[1].plot(z, profile["phi_induced"], "--", label="from the charges")
    axes[1].set_ylabel("potential (V)")
    axes[1].legend(fontsize=8)
    for key in profile:
        if key.startswith("n_"):
            axes[2].plot(z, profile[key], label=key[2:])
    axes[2].set_ylabel("number density (1/Å³)")
    axes[2].legend(fontsize=8)
    for ax in axes[:3]:
        ax.set_xlabel("position along the field axis (Å)")
    if displacement is not None:
        for el, d in displacement.items():
            t = np.arange(len(d)) * (dt or 1.0)
            axes[3].plot(t, d, label=el)
        axes[3].set_xlabel("time (ps)" if dt else "frame")
        axes[3].set_ylabel("mean displacement along the axis (Å)")
        axes[3].legend(fontsize=8)
    return save(fig, path)
