"""Mean-squared displacement and diffusion coefficients with error bars.

Positions are unwrapped from the frames themselves (fractional displacements
between consecutive frames folded into [-1/2, 1/2), applied with each frame's
cell, so NPT runs work); frames must be close enough in time that no atom moves
half a box between two of them.  The MSD averages over atoms and over time
origins; D comes from a linear fit of MSD(t) = 6 D t + c over a window of lag
times, its error from independent blocks of the trajectory.
"""

import numpy as np

A2_PER_PS_TO_CM2_PER_S = 1e-4


def unwrap(frames):
    """Unwrapped Cartesian positions, shape (n_frames, n_atoms, 3)."""
    out = np.empty((len(frames), len(frames[0]), 3))
    out[0] = frames[0].positions
    prev = frames[0].get_scaled_positions(wrap=False)
    for t in range(1, len(frames)):
        if len(frames[t]) != len(frames[0]):
            raise ValueError(f"frame {t} has {len(frames[t])} atoms, frame 0 {len(frames[0])}")
        frac = frames[t].get_scaled_positions(wrap=False)
        d = frac - prev
        d -= np.round(d)
        out[t] = out[t - 1] + d @ frames[t].cell.array
        prev = frac
    return out


def msd(positions, max_lag=None, origin_every=1, remove_drift=True, masses=None):
    """MSD(lag) for lags 0..max_lag frames, averaged over atoms and time origins.

    positions: (n_frames, n_atoms, 3) unwrapped.  ``remove_drift`` subtracts the
    (mass-weighted) centre-of-mass displacement of all atoms given.
    Returns (lags, msd per atom averaged) with msd shape (n_lags, n_atoms).
    """
    pos = np.asarray(positions, dtype=float)
    if remove_drift:
        w = np.ones(pos.shape[1]) if masses is None else np.asarray(masses, dtype=float)
        com = np.einsum("tai,a->ti", pos, w) / w.sum()
        pos = pos - (com - com[0])[:, None, :]
    n = len(pos)
    max_lag = n - 1 if max_lag is None else min(max_lag, n - 1)
    lags = np.arange(max_lag + 1)
    out = np.zeros((len(lags), pos.shape[1]))
    for k, lag in enumerate(lags[1:], 1):
        d = pos[lag::origin_every][: len(pos[: n - lag:origin_every])] - pos[: n - lag:origin_every]
        out[k] = np.mean(np.sum(d * d, axis=2), axis=0)
    return lags, out


def fit_slope(t, y, window=(0.2, 0.8)):
    """Least-squares slope and intercept of y(t) over a fraction ``window`` of t."""
    lo, hi = window
    sel = (t >= lo * t[-1]) & (t <= hi * t[-1])
    if sel.sum() < 2:
        raise ValueError("too few points in the fit window")
    slope, intercept = np.polyfit(t[sel], y[sel], 1)
    return float(slope), float(intercept)


def diffusion_coefficient(positions, dt, select=None, window=(0.2, 0.8), blocks=5,
                          max_lag_fraction=0.5, remove_drift=True, masses=None):
    """D (cm^2/s) of the atoms ``select`` (indices or mask) with a block error bar.

    dt: time between frames (ps).  The MSD uses lags up to ``max_lag_fraction``
    of the trajectory (of each block for the error).  Returns a dict: D, D_err,
    n_atoms, t (ps), msd (A^2, mean over the selected atoms), fit (slope,
    intercept), blocks (D of each block).
    """
    pos = np.asarray(positions, dtype=float)
    # the drift of the whole system is removed, then the selection is taken
    w = None if masses is None else np.asarray(masses, dtype=float)
    idx = np.arange(pos.shape[1]) if select is None else np.arange(pos.shape[1])[select]

    def one(p):
        lags, m = msd(p, max_lag=int(max_lag_fraction * (len(p) - 1)), remove_drift=remove_drift,
                      masses=w)
        t = lags * dt
        mean = m[:, idx].mean(axis=1)
        slope, intercept = fit_slope(t, mean, window)
        return t, mean, slope, intercept

    t, mean, slope, intercept = one(pos)
    d_blocks = []
    if blocks and blocks > 1:
        size = len(pos) // blocks
        if size < 8:
            raise ValueError(f"{len(pos)} frames are too few for {blocks} blocks")
        d_blocks = [one(pos[b * size:(b + 1) * size])[2] / 6.0 * A2_PER_PS_TO_CM2_PER_S
                    for b in range(blocks)]
    D = slope / 6.0 * A2_PER_PS_TO_CM2_PER_S
    err = float(np.std(d_blocks, ddof=1) / np.sqrt(len(d_blocks))) if d_blocks else float("nan")
    return {"D": D, "D_err": err, "n_atoms": len(idx), "t": t, "msd": mean,
            "fit": (slope, intercept), "blocks": d_blocks, "window": window}


def plot(results, path):
    """MSD curves with their fits; ``results``: label -> diffusion_coefficient result."""
    from mdsentry.plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, res in results.items():
        t = res["t"]
        line, = ax.plot(t, res["msd"], label=f"{label}: D = {res['D']:.3g} ± {res['D_err']:.2g} "
                                              f"cm²/s")
        lo, hi = res["window"]
        sel = (t >= lo * t[-1]) & (t <= hi * t[-1])
        ax.plot(t[sel], res["fit"][0] * t[sel] + res["fit"][1], "--", color=line.get_color())
    ax.set_xlabel("t (ps)")
    ax.set_ylabel("MSD (Å²)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
