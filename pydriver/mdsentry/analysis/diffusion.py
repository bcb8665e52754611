"""Mean-squared displacement and diffusion coefficients with honest error bars.

Positions are unwrapped from the frames themselves (fractional displacements
between consecutive frames folded into [-1/2, 1/2), applied with each frame's
cell, so NPT runs work); frames must be close enough in time that no atom moves
half a box between two of them.  The MSD averages over atoms and over every
time origin.

D comes from a generalised least-squares (GLS) fit of MSD(t) = 6 D t + c over a
window of lag times.  MSD values at different lags share most of their
displacements, so they are strongly correlated; the fit uses their covariance
matrix, computed exactly for the model of independent atoms doing Gaussian
random walks with diffusion coefficient D plus white position noise per frame
(variance c/6 per component, the intercept: vibrations).  The error bar is the
larger of (a) that model's standard deviation of the GLS slope and (b) the
scatter of the same linear estimator applied to each atom's own MSD (standard
error over the atoms), which holds whatever the motion of each atom is, as long
as atoms move independently of each other.  See docs/analysis.md for the
coverage measured on synthetic walks.
"""

import numpy as np

A2_PER_PS_TO_CM2_PER_S = 1e-4
MAX_FIT_LAGS = 64          # lags used in the GLS fit, evenly spread over the window
_CHUNK_BYTES = 64 << 20    # working memory of the FFT MSD per chunk of atoms


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


def _msd_fft(pos, max_lag):
    """Per-atom MSD at lags 0..max_lag over every time origin, summed over x, y, z.

    sum_s |x(s+k) - x(s)|^2 = sum_s x(s+k)^2 + x(s)^2 - 2 x(s) x(s+k); the last term
    for all k at once from one zero-padded FFT.  Atoms in chunks to bound the memory.
    """
    n, n_atoms = pos.shape[:2]
    lags = np.arange(max_lag + 1)
    out = np.empty((max_lag + 1, n_atoms))
    chunk = max(1, int(_CHUNK_BYTES // (2 * n * 3 * 16)))
    for a0 in range(0, n_atoms, chunk):
        x = pos[:, a0:a0 + chunk].reshape(n, -1)
        x = x - x.mean(axis=0)                          # the MSD ignores a constant shift
        f = np.fft.rfft(x, 2 * n, axis=0)
        cross = np.fft.irfft(f * np.conj(f), 2 * n, axis=0)[:max_lag + 1]
        cs = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x * x, axis=0)])
        squares = (cs[n] - cs[lags]) + cs[n - lags]
        m = (squares - 2.0 * cross) / (n - lags)[:, None]
        out[:, a0:a0 + chunk] = m.reshape(max_lag + 1, -1, 3).sum(axis=2)
    out[0] = 0.0
    return np.maximum(out, 0.0)


def msd(positions, max_lag=None, origin_every=1, remove_drift=True, masses=None):
    """MSD(lag) for lags 0..max_lag frames, averaged over atoms and time origins.

    positions: (n_frames, n_atoms, 3) unwrapped.  ``remove_drift`` subtracts the
    (mass-weighted) centre-of-mass displacement of all atoms given.  With every
    origin (``origin_every`` 1) the sum over origins is done by FFT, O(n log n).
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
    if origin_every == 1:
        return lags, _msd_fft(pos, max_lag)
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


def _origin_sums(lags, n_frames):
    """The three sums over pairs of time origins that make the MSD covariance.

    For lags k, l (frames) and origins s, u = s + d, the 1-D displacements
    x(s+k) - x(s) and x(u+l) - x(u) of a random walk with variance ``a`` per frame
    plus white noise of variance ``s2`` per frame have covariance
    a * overlap(d) + s2 * e(d): overlap is the number of steps they share, e counts
    their shared end frames (+1 same sign, -1 opposite).  For Gaussian
    displacements, cov(|r|^2, |r'|^2) = 2 * 3 * cov_1d^2 in 3-D.  Returns
    (Sbb, Sbn, Snn), each (L, L): the sums over all origin pairs of overlap^2,
    overlap * e and e^2, in closed form when k + l <= n_frames (always for lags up
    to half the run), else summed over d.
    """
    lags = np.asarray(lags, dtype=np.int64)
    if 2 * lags.max() > n_frames:
        return _origin_sums_direct(lags, n_frames)
    n = float(n_frames)
    k = np.minimum.outer(lags, lags).astype(float)
    l = np.maximum.outer(lags, lags).astype(float)
    # with k <= l: d in (-l, k-l) overlap d + l with (n - k - l) + (d + l) origin pairs;
    # d in [k-l, 0] overlap k with n - l pairs; d in (0, k) overlap k - d with n - l - d
    m = k - 1.0
    p2 = m * (m + 1) * (2 * m + 1) / 6.0                # sum_{j<k} j^2
    p3 = (m * (m + 1) / 2.0) ** 2                       # sum_{j<k} j^3
    sbb = 2.0 * (n - k - l) * p2 + 2.0 * p3 + (l - k + 1.0) * (n - l) * k * k
    # shared end frames at d = k-l and d = 0 (overlap k), d = k and d = -l (overlap 0)
    sbn = 2.0 * (n - l) * k
    snn = np.where(k == l, 4.0 * (n - k) + 2.0 * (n - 2.0 * k), 2.0 * (n - l) + 2.0 * (n - k - l))
    return np.stack([sbb, sbn, snn])


def _origin_sums_direct(lags, n_frames):
    """``_origin_sums`` summed over the origin offset d (any lags; O(L^2 max_lag))."""
    lags = np.asarray(lags, dtype=np.int64)
    L = len(lags)
    sums = np.zeros((3, L, L))
    ll = lags[:, None]
    for i, k in enumerate(lags):
        d = np.arange(-lags.max(), k + 1)[None, :]
        ov = np.clip(np.minimum(k, d + ll) - np.maximum(0, d), 0, None).astype(float)
        e = ((d == k - ll).astype(float) + (d == 0) - (d == k) - (d == -ll))
        count = np.clip(np.minimum(n_frames - k - 1, n_frames - ll - 1 - d) - np.maximum(0, -d)
                        + 1, 0, None).astype(float)
        sums[0, i] = np.sum(count * ov * ov, axis=1)
        sums[1, i] = np.sum(count * ov * e, axis=1)
        sums[2, i] = np.sum(count * e * e, axis=1)
    return sums


def msd_covariance(lags, n_frames, n_atoms, step_var, noise_var=0.0, sums=None):
    """Covariance (A^4) of the atom- and origin-averaged 3-D MSD at ``lags`` (frames).

    Model: ``n_atoms`` independent atoms whose every Cartesian component does a
    Gaussian random walk with variance ``step_var`` (A^2) per frame (2 D dt), seen
    through white Gaussian noise of variance ``noise_var`` (A^2) per frame; the MSD
    over every time origin of ``n_frames`` frames.  ``sums``: ``_origin_sums``
    of the same lags, to reuse.
    """
    lags = np.asarray(lags)
    sums = _origin_sums(lags, n_frames) if sums is None else sums
    total = (step_var ** 2 * sums[0] + 2.0 * step_var * noise_var * sums[1]
             + noise_var ** 2 * sums[2])
    n_origins = (n_frames - lags).astype(float)
    return 6.0 * total / (n_atoms * np.outer(n_origins, n_origins))


def _gls_weights(t, cov):
    """Rows (slope, intercept) of the GLS estimator: beta = W @ y for y(t) = slope t + c."""
    X = np.column_stack([t, np.ones(len(t))])
    scale = np.sqrt(np.diag(cov))
    if not np.all(scale > 0):
        return np.linalg.pinv(X)                    # degenerate model: ordinary least squares
    corr = cov / np.outer(scale, scale)
    Xs = X / scale[:, None]
    jitter = 0.0
    for _ in range(8):
        try:
            chol = np.linalg.cholesky(corr + jitter * np.eye(len(t)))
            break
        except np.linalg.LinAlgError:
            jitter = max(1e-12, 10 * jitter)
    else:
        return np.linalg.pinv(X)
    A = np.linalg.solve(chol, Xs)                   # whitened design
    # beta = (A^T A)^-1 A^T chol^-1 (y / scale)
    B = np.linalg.solve(chol.T, A)                  # corr^-1 Xs
    return np.linalg.solve(A.T @ A, B.T) / scale[None, :]


def _fit_lags(lags, window):
    """The lags (frames, > 0) inside ``window`` (fractions of the longest), at most
    MAX_FIT_LAGS of them, evenly spread."""
    lo, hi = window
    top = lags[-1]
    sel = lags[(lags >= lo * top) & (lags <= hi * top) & (lags > 0)]
    if len(sel) < 2:
        raise ValueError("too few points in the fit window")
    if len(sel) > MAX_FIT_LAGS:
        sel = np.unique(np.round(np.linspace(sel[0], sel[-1], MAX_FIT_LAGS)).astype(np.int64))
    return sel


def gls_fit(lags, msd_atoms, dt, n_frames, iterations=3):
    """D from a GLS fit of the MSD at ``lags`` (frames); msd_atoms: (len(lags), n_atoms).

    The covariance (``msd_covariance``) is that of the model with the fitted D and
    the noise variance from the fitted intercept (c / 6), iterated.  Returns dict:
    slope (A^2/ps), intercept (A^2), D, D_err, D_err_model, D_err_atoms (cm^2/s),
    noise_var (A^2), linearity_z (GLS minus ordinary least-squares slope over its
    standard error: beyond +-3 the MSD is not straight over the window), weights
    (the slope row of the linear estimator), msd_err (A^2, standard error of the
    MSD at each lag, the larger of the model's and the atom-to-atom one).
    """
    lags = np.asarray(lags)
    m = np.asarray(msd_atoms, dtype=float)
    n_atoms = m.shape[1]
    mean = m.mean(axis=1)
    t = lags * dt
    sums = _origin_sums(lags, n_frames)
    ratio = 0.0                                     # noise_var / step_var of the weights
    for _ in range(iterations):
        W = _gls_weights(t, msd_covariance(lags, n_frames, n_atoms, 1.0, ratio, sums))
        slope, intercept = W @ mean
        step_var = 2.0 * max(slope / 6.0, 0.0) * dt
        noise_var = max(intercept, 0.0) / 6.0
        new = noise_var / step_var if step_var > 0 else (1e6 if noise_var > 0 else 0.0)
        new = min(new, 1e6)
        if abs(new - ratio) <= 0.02 * max(ratio, 1e-12):
            break
        ratio = new
    cov = msd_covariance(lags, n_frames, n_atoms, step_var, noise_var, sums)

    def sigma(w):  # of the linear estimator w @ mean: (model, atom-to-atom)
        model = float(np.sqrt(max(w @ cov @ w, 0.0)))
        atoms = float(np.std(w @ m, ddof=1) / np.sqrt(n_atoms)) if n_atoms > 1 else float("nan")
        return model, atoms, (model if not np.isfinite(atoms) else max(model, atoms))

    err_model, err_atoms, err = (x / 6.0 * A2_PER_PS_TO_CM2_PER_S for x in sigma(W[0]))
    # linearity check: the GLS slope leans on the start of the window, ordinary least
    # squares on both ends; they agree within their error unless the MSD is curved
    w_diff = W[0] - np.linalg.pinv(np.column_stack([t, np.ones(len(t))]))[0]
    s_diff = sigma(w_diff)[2]
    z = float(w_diff @ mean / s_diff) if s_diff > 0 else 0.0
    msd_err = np.sqrt(np.diag(cov))
    if n_atoms > 1:
        msd_err = np.maximum(msd_err, np.std(m, axis=1, ddof=1) / np.sqrt(n_atoms))
    return {"slope": float(slope), "intercept": float(intercept),
            "D": float(slope / 6.0 * A2_PER_PS_TO_CM2_PER_S), "D_err": err,
            "D_err_model": err_model, "D_err_atoms": err_atoms, "noise_var": float(noise_var),
            "linearity_z": z, "msd_err": msd_err, "weights": W[0]}


def diffusion_coefficient(positions, dt, select=None, window=(0.2, 0.8), blocks=5,
                          max_lag_fraction=0.5, remove_drift=True, masses=None):
    """D (cm^2/s) of the atoms ``select`` (indices or mask) with its standard error.

    dt: time between frames (ps).  The MSD uses lags up to ``max_lag_fraction``
    of the trajectory; D is the GLS slope / 6 over ``window`` (fractions of the
    longest lag), D_err the larger of the model's and the atom-to-atom standard
    error (``gls_fit``).  ``blocks`` > 1 also fits each of that many consecutive
    parts of the run on its own (a check that D does not drift, e.g. from
    equilibration; not used for D_err).  Returns a dict: D, D_err, D_err_model,
    D_err_atoms, linearity_z, n_atoms, t (ps), msd (A^2, mean over the selected atoms), fit
    (slope, intercept), fit_t (the lag times fitted), fit_msd_err (A^2, standard error
    of the MSD there), blocks (D of each block), blocks_err, window.
    """
    pos = np.asarray(positions, dtype=float)
    # the drift of the whole system is removed, then the selection is taken
    w = None if masses is None else np.asarray(masses, dtype=float)
    idx = np.arange(pos.shape[1]) if select is None else np.arange(pos.shape[1])[select]

    def one(p):
        if remove_drift:
            ww = np.ones(p.shape[1]) if w is None else w
            com = np.einsum("tai,a->ti", p, ww) / ww.sum()
            p = p - (com - com[0])[:, None, :]
        lags, m = msd(p[:, idx], max_lag=int(max_lag_fraction * (len(p) - 1)), remove_drift=False)
        k = _fit_lags(lags, window)
        return lags * dt, m.mean(axis=1), k, gls_fit(k, m[k], dt, len(p))

    t, mean, k, res = one(pos)
    d_blocks, e_blocks = [], []
    if blocks and blocks > 1:
        size = len(pos) // blocks
        if size < 8:
            raise ValueError(f"{len(pos)} frames are too few for {blocks} blocks")
        for b in range(blocks):
            rb = one(pos[b * size:(b + 1) * size])[3]
            d_blocks.append(rb["D"])
            e_blocks.append(rb["D_err"])
    return {"D": res["D"], "D_err": res["D_err"], "D_err_model": res["D_err_model"],
            "D_err_atoms": res["D_err_atoms"], "linearity_z": res["linearity_z"],
            "n_atoms": len(idx), "t": t, "msd": mean,
            "fit": (res["slope"], res["intercept"]), "fit_t": k * dt,
            "fit_msd_err": res["msd_err"], "blocks": d_blocks,
            "blocks_err": e_blocks, "window": window}


def plot(results, path):
    """MSD curves with their fits; ``results``: label -> diffusion_coefficient result.

    The shaded band is the MSD +- its standard error over the fitted lags: MSD
    errors at neighbouring lags are almost fully correlated, so the curve wanders
    within it as a whole, and the GLS line follows the precise start of the window.
    """
    from mdsentry.plots import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, res in results.items():
        t = res["t"]
        line, = ax.plot(t, res["msd"], label=f"{label}: D = {res['D']:.3g} ± {res['D_err']:.2g} "
                                              f"cm²/s")
        lo, hi = res["window"]
        sel = (t >= lo * t[-1]) & (t <= hi * t[-1])
        ax.plot(t[sel], res["fit"][0] * t[sel] + res["fit"][1], "--", color=line.get_color())
        if "fit_t" in res:
            ft = res["fit_t"]
            m = np.interp(ft, t, res["msd"])
            ax.fill_between(ft, m - res["fit_msd_err"], m + res["fit_msd_err"],
                            color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("t (ps)")
    ax.set_ylabel("MSD (Å²)")
    ax.legend(fontsize=8)
    return save(fig, path)
