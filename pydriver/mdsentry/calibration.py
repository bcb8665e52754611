"""What a committee's deviation means in force error: a per-element conformal calibration.

The committee's per-atom force deviation sigma_i (deepmd-kit's definition, the number fix
sentry compares with lo/hi) is a proxy; a user cares about the error of the force that
drives the MD (the leader's, member 0).  On labelled frames the committee never saw, the
scores s_i = |F_leader,i - F_ref,i| / sigma_i of each element's atoms give a split-conformal
quantile q_el: for a new atom of that element drawn like the calibration atoms,
P(|dF_i| <= q_el sigma_i) >= coverage.  So "sigma_i = x means |dF_i| <= q_el x with 90 %
probability", and force-error targets (explore.lo_error / hi_error) turn into deviation
thresholds for the current committee: lo = lo_error / max_el q_el (the strictest element,
since fix sentry has one threshold for all atoms).

Caveats (documented in docs/driver.md): the guarantee is marginal over atoms drawn like the
held-out ones (frames the loop selected and labelled); atoms of one frame are correlated, so
the coverage holds on average over frames, not frame by frame.
"""

import json
import math
import os

import numpy as np

# a deviation below this (eV/A) is taken as this: a score divides by sigma
SIGMA_FLOOR = 1e-6


def per_atom(member_forces, ref_forces):
    """(sigma_i, error_i) of a frame: ``member_forces`` (M, N, 3) of the committee,
    ``ref_forces`` (N, 3) of the oracle; sigma_i = sqrt(mean_m |F_m,i - <F_i>|^2)
    (deepmd-kit's force deviation), error_i = |F_0,i - F_ref,i| (member 0 drives the MD)."""
    f = np.asarray(member_forces, dtype=float)
    ref = np.asarray(ref_forces, dtype=float)
    if f.ndim != 3 or f.shape[1:] != ref.shape:
        raise ValueError(f"member forces {f.shape} do not match reference forces {ref.shape}")
    sigma = np.sqrt(np.mean(np.sum((f - f.mean(axis=0)) ** 2, axis=2), axis=0))
    error = np.linalg.norm(f[0] - ref, axis=1)
    return sigma, error


def conformal_quantile(scores, coverage):
    """The split-conformal quantile: the ceil((n + 1) coverage)-th smallest score; inf when
    there are too few scores for that coverage (no finite bound is guaranteed)."""
    scores = np.asarray(scores, dtype=float)
    if np.isnan(scores).any():  # a NaN prediction: no bound can be claimed
        return math.inf
    scores = np.sort(scores)
    n = len(scores)
    k = math.ceil((n + 1) * coverage)
    return float(scores[k - 1]) if 0 < k <= n else math.inf


def fit(sigma, error, symbols, coverage=0.9):
    """Per-element quantiles of error/sigma: a dict with ``coverage``, ``quantile``
    ({element: q}), ``n`` ({element: atoms}) and ``median_ratio`` (for the plot)."""
    if not 0 < coverage < 1:
        raise ValueError(f"coverage {coverage} must be in (0, 1)")
    sigma, error = np.asarray(sigma, dtype=float), np.asarray(error, dtype=float)
    symbols = np.asarray(symbols)
    if not (sigma.shape == error.shape == symbols.shape):
        raise ValueError("sigma, error and symbols need one entry per atom")
    scores = error / np.maximum(sigma, SIGMA_FLOOR)
    out = {"coverage": float(coverage), "quantile": {}, "n": {}, "median_ratio": {}}
    for el in sorted(set(symbols.tolist())):
        s = scores[symbols == el]
        out["quantile"][el] = conformal_quantile(s, coverage)
        out["n"][el] = int(len(s))
        out["median_ratio"][el] = float(np.median(s))
    return out


def bound(sigma, symbols, cal):
    """The force-error bound q_el sigma_i of each atom (inf for an element without data)."""
    q = np.array([cal["quantile"].get(el, math.inf) for el in symbols])
    return q * np.asarray(sigma, dtype=float)


def thresholds(cal, lo_error, hi_error, elements=None):
    """Deviation thresholds (lo, hi) for force-error targets: the target divided by the
    largest quantile of the run's elements (every atom's bound stays below the target
    while its sigma is below the threshold).  None when an element has no finite quantile."""
    els = list(elements or cal["quantile"])
    qs = [cal["quantile"].get(el, math.inf) for el in els]
    if not qs or not all(math.isfinite(q) and q > 0 for q in qs):
        return None
    qmax = max(qs)
    return lo_error / qmax, hi_error / qmax


def coverage_of(sigma, error, symbols, cal):
    """Share of atoms whose error is within their bound (per element and overall)."""
    symbols = np.asarray(symbols)
    inside = np.asarray(error) <= bound(sigma, symbols, cal)
    out = {el: float(np.mean(inside[symbols == el])) for el in sorted(set(symbols.tolist()))}
    out["all"] = float(np.mean(inside))
    return out


def from_predictions(frames, member_predictions, coverage=0.9):
    """Calibration data and fit from held-out ``frames`` (labelled Atoms) and each member's
    predictions on them (a list per member of (energy, forces) per frame, as the training
    backends' ``predict`` returns).  Returns (cal, sigma, error, symbols)."""
    from mdsentry.frames import labels

    sig, err, sym = [], [], []
    for j, atoms in enumerate(frames):
        ref = labels(atoms)[1]
        if ref is None:
            continue
        forces = np.array([pred[j][1] for pred in member_predictions])
        s, e = per_atom(forces, ref)
        sig.append(s)
        err.append(e)
        sym += atoms.get_chemical_symbols()
    if not sym:
        raise ValueError("no held-out frame with forces to calibrate on")
    sigma, error = np.concatenate(sig), np.concatenate(err)
    return fit(sigma, error, sym, coverage), sigma, error, np.array(sym)


def jsonable(cal):
    """The calibration with its infinite quantiles (no bound) as None, for JSON."""
    return dict(cal, quantile={k: (v if math.isfinite(v) else None)
                               for k, v in cal["quantile"].items()})


def save(path, cal):
    """The calibration as JSON (inf written as null)."""
    data = jsonable(cal)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".part", "w") as fh:
        json.dump(data, fh, indent=1)
    os.replace(path + ".part", path)
    return path


def load(path):
    with open(path) as fh:
        data = json.load(fh)
    data["quantile"] = {k: (math.inf if v is None else v) for k, v in data["quantile"].items()}
    return data


def plot(sigma, error, symbols, cal, path):
    """Per-atom force error against deviation, each element's bound line q_el sigma."""
    from mdsentry.plots import pyplot, save

    plt = pyplot()
    symbols = np.asarray(symbols)
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    top = max(float(np.max(sigma)), 1e-3)
    x = np.linspace(0.0, top, 50)
    for el in sorted(set(symbols.tolist())):
        sel = symbols == el
        (pts,) = ax.plot(sigma[sel], error[sel], ".", ms=2, alpha=0.5, label=el)
        q = cal["quantile"].get(el, math.inf)
        if math.isfinite(q):
            ax.plot(x, q * x, "-", color=pts.get_color(), lw=1.2,
                    label=f"{el}: |dF| <= {q:.2f} sigma ({100 * cal['coverage']:.0f} %)")
    ax.set_xlabel("committee force deviation sigma_i (eV/Å)")
    ax.set_ylabel("force error of the MD model |dF_i| (eV/Å)")
    ax.legend(fontsize=7)
    return save(fig, path)
