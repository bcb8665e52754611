"""The committee's deviation calibrated as force error (mdsentry.calibration)."""

import math

import numpy as np
import pytest

from mdsentry import calibration


def synthetic(n, scale, seed):
    """Atoms whose leader error is a 3D Gaussian with std scale[el] * sigma per component
    (|dF| / sigma is scale * chi_3): sigma log-normal, two elements."""
    rng = np.random.default_rng(seed)
    symbols = np.where(rng.random(n) < 0.3, "Li", "O")
    sigma = np.exp(rng.normal(-2.5, 0.8, n))
    std = np.array([scale[s] for s in symbols]) * sigma
    error = np.linalg.norm(rng.normal(size=(n, 3)) * std[:, None], axis=1)
    return sigma, error, symbols


def test_conformal_quantile_is_the_finite_sample_rank():
    scores = np.arange(1, 20, dtype=float)  # 19 scores: ceil(20 * 0.9) = 18th smallest
    assert calibration.conformal_quantile(scores, 0.9) == 18.0
    assert calibration.conformal_quantile(scores[:5], 0.9) == math.inf  # ceil(5.4) = 6 > 5
    assert calibration.conformal_quantile([1.0, np.nan] * 20, 0.5) == math.inf  # NaN: no bound


def test_quantiles_match_the_known_error_law_and_cover_new_atoms():
    """With |dF| / sigma = c chi_3, the 90 % quantile is c sqrt(chi2_3(0.9)) = 2.500 c; on
    independent atoms the bound holds for 90 % of each element (conformal guarantee)."""
    from scipy.stats import chi2

    scale = {"Li": 0.5, "O": 1.5}
    cal = calibration.fit(*synthetic(20000, scale, seed=1), coverage=0.9)
    for el, c in scale.items():
        assert cal["quantile"][el] == pytest.approx(c * math.sqrt(chi2.ppf(0.9, 3)), rel=0.03)
    cover = calibration.coverage_of(*synthetic(20000, scale, seed=2), cal)
    for key in ("Li", "O", "all"):
        assert cover[key] == pytest.approx(0.9, abs=0.015)
    # one quantile for both elements would under-cover O and over-cover Li
    pooled = calibration.fit(*synthetic(20000, {"Li": 1.0, "O": 1.0}, seed=1), coverage=0.9)
    pooled["quantile"] = {el: pooled["quantile"]["O"] * 1.0 for el in ("Li", "O")}
    assert calibration.coverage_of(*synthetic(20000, scale, seed=2), pooled)["O"] < 0.7


def test_coverage_holds_at_small_calibration_sets_on_average():
    """Split conformal: the expected coverage over calibration draws is >= 90 % even with
    50 atoms per element."""
    scale = {"Li": 0.5, "O": 1.5}
    covers = []
    for seed in range(60):
        cal = calibration.fit(*synthetic(140, scale, seed=100 + seed), coverage=0.9)
        covers.append(calibration.coverage_of(*synthetic(4000, scale, seed=900 + seed),
                                              cal)["all"])
    assert np.mean(covers) >= 0.895


def test_thresholds_use_the_strictest_element():
    cal = {"coverage": 0.9, "quantile": {"Li": 2.0, "O": 4.0}, "n": {"Li": 9, "O": 9}}
    lo, hi = calibration.thresholds(cal, 0.2, 0.8)
    assert (lo, hi) == pytest.approx((0.05, 0.2))
    assert calibration.thresholds(cal, 0.2, 0.8, elements=["Li"]) == pytest.approx((0.1, 0.4))
    cal["quantile"]["O"] = math.inf
    assert calibration.thresholds(cal, 0.2, 0.8) is None


def test_per_atom_uses_deepmd_deviation_and_the_leader_error():
    f = np.zeros((2, 1, 3))
    f[0, 0] = [1.0, 0.0, 0.0]
    f[1, 0] = [-1.0, 0.0, 0.0]
    sigma, error = calibration.per_atom(f, np.array([[0.0, 2.0, 0.0]]))
    assert sigma[0] == pytest.approx(1.0)  # sqrt(mean(|+-1|^2))
    assert error[0] == pytest.approx(math.sqrt(5.0))  # member 0 against the reference
    with pytest.raises(ValueError, match="do not match"):
        calibration.per_atom(f, np.zeros((2, 3)))


def test_save_load_and_plot(tmp_path):
    sigma, error, symbols = synthetic(500, {"Li": 0.5, "O": 1.5}, seed=3)
    cal = calibration.fit(sigma, error, symbols)
    cal["quantile"]["C"] = math.inf
    path = calibration.save(str(tmp_path / "calibration.json"), cal)
    back = calibration.load(path)
    assert back["quantile"] == cal["quantile"]
    png = calibration.plot(sigma, error, symbols, cal, str(tmp_path / "calibration.png"))
    assert (tmp_path / "calibration.png").stat().st_size > 10000 and png.endswith(".png")
