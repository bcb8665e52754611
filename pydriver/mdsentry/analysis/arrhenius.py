"""Arrhenius fits D(T) = D0 exp(-Ea / kB T) with uncertainties, and Nernst-Einstein conductivity."""

import numpy as np

KB_EV = 8.617333262e-5          # eV/K
E_CHARGE = 1.602176634e-19      # C
KB_SI = 1.380649e-23            # J/K


def fit(temperatures, D, D_err=None):
    """Weighted least squares of ln D against 1/T.

    With D_err (all > 0; e.g. ``diffusion_coefficient``'s, whose 2-sigma
    coverage is about 95 %), each ln D has the standard error D_err / D and the
    errors of Ea and ln D0 come from the unscaled parameter covariance: they are
    as honest as the D_err given.  chi2/dof then tests the straight line: much
    above 1 (p_value small) means D(T) is not Arrhenius over the range, or the
    D_err are too small.  Without D_err the errors come from the scatter about
    the line (NaN for two temperatures).  Returns dict: Ea, Ea_err (eV), D0,
    lnD0, lnD0_err, chi2_per_dof, p_value, weighted, n.
    """
    T = np.asarray(temperatures, dtype=float)
    D = np.asarray(D, dtype=float)
    if len(T) < 2 or np.any(D <= 0):
        raise ValueError("an Arrhenius fit needs at least two temperatures with D > 0")
    x, y = 1.0 / T, np.log(D)
    weighted = D_err is not None and np.all(np.asarray(D_err, dtype=float) > 0)
    if weighted:
        sigma = np.asarray(D_err, dtype=float) / D
        (slope, icpt), cov = np.polyfit(x, y, 1, w=1.0 / sigma, cov="unscaled")
        chi2 = float(np.sum(((y - (slope * x + icpt)) / sigma) ** 2))
    else:
        if len(T) > 2:
            (slope, icpt), cov = np.polyfit(x, y, 1, cov=True)
        else:
            (slope, icpt), cov = np.polyfit(x, y, 1), np.full((2, 2), np.nan)
        chi2 = float("nan")
    dof = max(1, len(T) - 2)
    p_value = float("nan")
    if weighted and len(T) > 2:
        from scipy.stats import chi2 as chi2_dist

        p_value = float(chi2_dist.sf(chi2, len(T) - 2))
    return {"Ea": float(-slope * KB_EV), "Ea_err": float(np.sqrt(cov[0, 0]) * KB_EV),
            "lnD0": float(icpt), "lnD0_err": float(np.sqrt(cov[1, 1])), "D0": float(np.exp(icpt)),
            "chi2_per_dof": chi2 / dof, "p_value": p_value, "weighted": bool(weighted), "n": len(T)}


def extrapolate(result, temperature):
    return float(np.exp(result["lnD0"] - result["Ea"] / (KB_EV * temperature)))


def nernst_einstein(D, n_carriers, volume, temperature, charge=1, D_err=None):
    """Ionic conductivity sigma = n (z e)^2 D / (kB T), Haven ratio 1.

    D in cm^2/s, volume in A^3 (the cell holding ``n_carriers`` carriers).
    Returns dict: sigma (S/cm), sigma_err, concentration (carriers/cm^3).
    """
    n = n_carriers / (volume * 1e-24)                     # 1/cm^3
    factor = n * 1e6 * (charge * E_CHARGE) ** 2 / (KB_SI * temperature)  # S/m per (m^2/s)
    sigma = factor * D * 1e-4 / 100.0                     # D cm^2/s -> m^2/s; S/m -> S/cm
    err = factor * D_err * 1e-4 / 100.0 if D_err is not None else float("nan")
    return {"sigma": float(sigma), "sigma_err": float(err), "concentration": float(n),
            "charge": charge, "temperature": float(temperature)}


def plot(T, D, D_err, result, path):
    from mdsentry.plots import pyplot, save

    plt = pyplot()
    T = np.asarray(T, dtype=float)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.errorbar(1000.0 / T, D, yerr=D_err, fmt="o", capsize=3, label="MD")
    x = np.linspace(T.min() * 0.95, T.max() * 1.05, 50)
    ax.plot(1000.0 / x, [extrapolate(result, t) for t in x], "-",
            label=f"Ea = {result['Ea']:.3f} ± {result['Ea_err']:.3f} eV")
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("D (cm²/s)")
    ax.legend(fontsize=8)
    return save(fig, path)
