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


def first_shell(r, g, cn, smooth=5, prominence=0.1):
    """(peak position, first minimum after it, coordination number at that minimum).

    The minimum is the lowest point of the (moving-average smoothed) g between its
    highest peak (once fallen to half height) and the next peak that stands out by
    ``prominence`` x its height: noise inside a sharp peak (C-O in a carbonate) is
    not a minimum, nor is the end of the range.  Where g is flat there (zero, as in
    a crystal) the middle of the flat stretch is taken.
    """
    from scipy.signal import find_peaks

    g = np.asarray(g, dtype=float)
    if smooth > 1:  # a moving average over the bins there are (no zero-padded edges)
        box = np.ones(smooth)
        gs = np.convolve(g, box, mode="same") / np.convolve(np.ones_like(g), box, mode="same")
    else:
        gs = g
    k = int(np.argmax(gs))
    # search from where the peak has fallen to half its height: its own split tops
    # (a crystal's near-equal distances) are not the next shell
    below = np.flatnonzero(gs[k:] < 0.5 * gs[k])
    j = k + int(below[0]) if len(below) else k
    peaks, _ = find_peaks(gs, prominence=prominence * gs[k])
    later = peaks[peaks > j]
    end = int(later[0]) if len(later) else len(gs) - 1
    segment = gs[j:end + 1]
    lowest = np.flatnonzero(segment <= segment.min() + 1e-12 * max(1.0, gs[k]))
    m = j + int(lowest[len(lowest) // 2])
    return float(r[int(np.argmax(g))]), float(r[m]), float(cn[m])


def plot(r, g, cn, path):
    from mdsentry.plots import pyplot, save

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
    return save(fig, path)
