"""Partial radial distribution functions and coordination numbers."""

import itertools

import numpy as np


def rdf(frames, rmax=6.0, nbins=300, pairs=None):
    """Partial g_ab(r) averaged over ``frames`` (periodic, all images within rmax).

    pairs: [("Li", "O"), ...]; default every unordered pair of elements.
    Returns (r, {"Li-O": g}, {"Li-O": cn}) with cn_ab(r) the mean number of b
    atoms within r of an a atom.
    """
    from ase.neighborlist import neighbor_list

    frames = frames if isinstance(frames, (list, tuple)) else [frames]
    symbols = sorted(set(frames[0].get_chemical_symbols()))
    if pairs is None:
        pairs = list(itertools.combinations_with_replacement(symbols, 2))
    pairs = [tuple(p.split("-")) if isinstance(p, str) else tuple(p) for p in pairs]
    for a, b in pairs:
        for e in (a, b):
            if e not in symbols:
                raise ValueError(f"rdf: no {e} atoms in the frames (elements {symbols})")
    edges = np.linspace(0.0, rmax, nbins + 1)
    r = 0.5 * (edges[1:] + edges[:-1])
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    counts = {p: np.zeros(nbins) for p in pairs}
    norm = {p: 0.0 for p in pairs}      # sum over frames of N_a * rho_b
    n_a = {p: 0 for p in pairs}
    for atoms in frames:
        sym = np.array(atoms.get_chemical_symbols())
        i, j, d = neighbor_list("ijd", atoms, rmax)
        vol = atoms.get_volume()
        for a, b in pairs:
            sel = (sym[i] == a) & (sym[j] == b)
            counts[(a, b)] += np.histogram(d[sel], bins=edges)[0]
            na, nb = int(np.sum(sym == a)), int(np.sum(sym == b))
            norm[(a, b)] += na * (nb - (a == b)) / vol
            n_a[(a, b)] += na
    g = {f"{a}-{b}": counts[(a, b)] / (norm[(a, b)] * shell) for a, b in pairs}
    cn = {f"{a}-{b}": np.cumsum(counts[(a, b)]) / n_a[(a, b)] for a, b in pairs}
    return r, g, cn


def first_shell(r, g, cn, smooth=5):
    """(peak position, first minimum after it, coordination number at that minimum).

    The minimum is where the (moving-average smoothed) g stops decreasing after
    its highest peak; a flat zero stretch, as in a crystal, is walked through.
    """
    gs = np.convolve(g, np.ones(smooth) / smooth, mode="same") if smooth > 1 else g
    k = int(np.argmax(g))
    m = k
    while m + 1 < len(gs) and gs[m + 1] <= gs[m]:
        m += 1
    return float(r[k]), float(r[m]), float(cn[m])


def plot(r, g, cn, path):
    from mdsentry.plots import pyplot

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name in g:
        ax1.plot(r, g[name], label=name)
        ax2.plot(r, cn[name], label=name)
    ax1.set_xlabel("r (Å)")
    ax1.set_ylabel("g(r)")
    ax2.set_xlabel("r (Å)")
    ax2.set_ylabel("coordination number")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
