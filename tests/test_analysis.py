"""Analysis: RDF, MSD/D, Arrhenius, Nernst-Einstein, parity, adhesion, NEB, and the CLI verbs."""

import os
import subprocess

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from conftest import BIN
from mdsentry.analysis import arrhenius, diffusion, parity, rdf

MDSENTRY = os.path.join(BIN, "mdsentry")


def test_first_shell_of_a_sharp_carbonate_peak():
    """C-O in Li2CO3: three O per C. A peak a few bins wide, noisy inside (the first
    shell once ended inside the peak: CN 1.3 in the tutorial's glass)."""
    from mdsentry.build import bulk

    rng = np.random.default_rng(3)
    for sigma, nbins in ((0.0, 300), (0.02, 400), (0.05, 400)):  # noisy, narrow bins
        frames = []
        for _ in range(4):
            a = bulk("Li2CO3").repeat((2, 2, 2))
            a.positions += rng.normal(0, sigma, a.positions.shape)
            frames.append(a)
        r, g, cn = rdf.rdf(frames, rmax=4.0, nbins=nbins, pairs=[("C", "O")])
        peak, minimum, n = rdf.first_shell(r, g["C-O"], cn["C-O"])
        assert 1.25 < peak < 1.32 and 1.5 < minimum < 3.0
        assert n == pytest.approx(3.0)


def test_first_shell_of_a_weak_liquid_peak():
    """Li-Li in the glass: a first peak of 1.4 whose minimum (0.9) is above half of
    it, and a range that ends on the next peak's tail: the minimum is between them."""
    r = np.arange(0.01, 6.0, 0.02)
    g = np.where(r < 2.4, 0.0, 1 + 0.45 * np.exp(-(r - 3.1) / 2.5) * np.cos(2 * np.pi * (r - 3.1) / 2.2))
    g[r < 2.4] = 0.0
    g *= 1 - np.exp(-np.clip(r - 2.4, 0, None) / 0.15)  # a soft rise at contact
    cn = np.cumsum(g * r ** 2)
    peak, minimum, n = rdf.first_shell(r, g, cn)
    assert abs(peak - 3.1) < 0.15 and abs(minimum - 4.2) < 0.15 and n == cn[np.argmin(abs(r - minimum))]


def test_rdf_of_fcc():
    a = 3.61
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(3)
    r, g, cn = rdf.rdf([atoms, atoms], rmax=5.0, nbins=500)
    gcu = g["Cu-Cu"]
    shells = np.array([a / np.sqrt(2), a, a * np.sqrt(1.5)])
    occupied = r[gcu > 0]
    assert np.all(np.min(np.abs(occupied[:, None] - shells[None]), axis=1) < 0.01)
    assert all(np.any(np.abs(occupied - s) < 0.01) for s in shells)
    peak, minimum, n = rdf.first_shell(r, gcu, cn["Cu-Cu"])
    assert peak == pytest.approx(a / np.sqrt(2), abs=0.01) and n == pytest.approx(12.0)
    assert cn["Cu-Cu"][-1] == pytest.approx(12 + 6 + 24)  # 3 shells within 5 A
    # partials of rock salt: Li-F first shell 6 at a/2, Li-Li 12 at a/sqrt2
    lif = bulk("LiF", "rocksalt", a=4.03, cubic=True).repeat(2)
    r, g, cn = rdf.rdf(lif, rmax=3.5, nbins=350)
    assert rdf.first_shell(r, g["F-Li"], cn["F-Li"])[2] == pytest.approx(6.0)
    assert rdf.first_shell(r, g["Li-Li"], cn["Li-Li"])[2] == pytest.approx(12.0)
    # an ideal gas has g = 1
    rng = np.random.default_rng(0)
    gas = Atoms("Ar" * 400, positions=rng.uniform(0, 20, (400, 3)), cell=[20] * 3, pbc=True)
    r, g, _ = rdf.rdf([gas], rmax=6, nbins=12)
    assert np.allclose(g["Ar-Ar"][4:], 1.0, atol=0.12)


def _random_walk(D, dt, n_steps, n_atoms, seed, box=None):
    """Brownian positions with diffusion coefficient D (A^2/ps), optionally wrapped."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, np.sqrt(2 * D * dt), size=(n_steps, n_atoms, 3))
    pos = np.cumsum(steps, axis=0)
    if box is None:
        return pos
    frames = [Atoms("Li" * n_atoms, positions=p, cell=[box] * 3, pbc=True) for p in pos]
    for f in frames:
        f.wrap()
    return pos, frames


def test_msd_of_a_random_walk_recovers_D():
    D, dt = 0.5, 0.1  # A^2/ps
    truth, frames = _random_walk(D, dt, 1500, 100, seed=1, box=12.0)
    pos = diffusion.unwrap(frames)
    assert np.allclose(pos - pos[0], truth - truth[0], atol=1e-9)  # unwrapping is exact
    res = diffusion.diffusion_coefficient(pos, dt, blocks=5, remove_drift=False)
    expected = D * 1e-4  # cm^2/s
    assert abs(res["D"] - expected) < 3 * res["D_err"]
    assert 0 < res["D_err"] < 0.1 * expected
    # removing the drift of 100 walkers changes D by about 1 %
    res2 = diffusion.diffusion_coefficient(pos, dt, blocks=5)
    assert res2["D"] == pytest.approx(expected, rel=0.05)


def test_msd_of_a_vibrating_crystal_is_flat():
    rng = np.random.default_rng(2)
    xtal = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    frames = []
    for _ in range(400):
        f = xtal.copy()
        f.positions += rng.normal(0, 0.1, f.positions.shape)
        f.wrap()
        frames.append(f)
    res = diffusion.diffusion_coefficient(diffusion.unwrap(frames), 0.1, blocks=4)
    assert abs(res["D"]) < 1e-7 and abs(res["D"]) < 4 * res["D_err"]
    assert res["msd"][1:].mean() == pytest.approx(2 * 3 * 0.1 ** 2, rel=0.1)  # 2 <u^2>


def test_msd_fft_and_covariance_model():
    """The FFT MSD equals the direct sum over origins; the closed-form origin sums equal
    the direct ones; the model covariance of the MSD between lags (random walk plus white
    noise) matches the sample covariance of many walks."""
    rng = np.random.default_rng(5)
    pos = np.cumsum(rng.normal(size=(60, 3, 3)), axis=0) + 500.0
    lags, fast = diffusion.msd(pos, remove_drift=False)
    direct = np.array([np.mean(np.sum((pos[k:] - pos[:len(pos) - k]) ** 2, axis=2), axis=0)
                       for k in lags])
    assert np.allclose(fast, direct, rtol=1e-9, atol=1e-9)
    assert np.allclose(diffusion.msd(pos, origin_every=2, remove_drift=False)[1][1],
                       np.mean(np.sum((pos[1::2][:30] - pos[:59:2]) ** 2, axis=2), axis=0))
    for n in (20, 21, 300):
        k = np.unique(np.r_[1, 2, np.arange(3, n // 2 + 1, 5), n // 2])
        assert np.array_equal(diffusion._origin_sums(k, n), diffusion._origin_sums_direct(k, n))
    n, n_atoms, step_var, noise_var = 21, 2, 1.0, 0.5
    k = np.array([1, 2, 5, 10])
    samples = []
    for _ in range(3000):
        p = np.cumsum(rng.normal(0, np.sqrt(step_var), (n, n_atoms, 3)), axis=0)
        p += rng.normal(0, np.sqrt(noise_var), p.shape)
        samples.append(diffusion.msd(p, remove_drift=False)[1][k].mean(axis=1))
    model = diffusion.msd_covariance(k, n, n_atoms, step_var, noise_var)
    sample = np.cov(np.array(samples).T)
    assert np.allclose(np.diag(sample) / np.diag(model), 1.0, atol=0.1)

    def corr(c):
        return c / np.sqrt(np.outer(np.diag(c), np.diag(c)))

    assert np.allclose(corr(sample), corr(model), atol=0.06)
    assert corr(model)[0, 3] < 0.3 and corr(model)[2, 3] > 0.7      # far from uncorrelated


def test_diffusion_error_bars_cover_the_truth():
    """Issue 7: on many independent random walks (with vibration-like position noise) of
    known D, D +- 2 D_err covers the truth in ~95 % of them and the mean D_err equals the
    scatter of D (the old block error was half of it: 2-sigma coverage 0.53 in the issue's
    setup); the Arrhenius fit of such D(T) gets an honest Ea error from them."""
    T = np.array([500.0, 650.0, 800.0])
    Ea, dt, n_frames, n_atoms = 0.25, 0.1, 201, 16
    d_T = 0.25 * np.exp(-Ea / arrhenius.KB_EV * (1 / T - 1 / 800.0))  # A^2/ps, 0.07-0.25
    rng = np.random.default_rng(7)
    dev, err, ea = [], [], []
    for _ in range(150):
        Ds, errs = [], []
        for d in d_T:
            pos = np.cumsum(rng.normal(0, np.sqrt(2 * d * dt), (n_frames, n_atoms, 3)), axis=0)
            pos += rng.normal(0, 0.2, pos.shape)
            res = diffusion.diffusion_coefficient(pos, dt, blocks=0, remove_drift=False)
            Ds.append(res["D"])
            errs.append(res["D_err"])
            dev.append(res["D"] / (d * 1e-4) - 1)
            err.append(res["D_err"] / (d * 1e-4))
        fit = arrhenius.fit(T, Ds, errs)
        ea.append((fit["Ea"], fit["Ea_err"]))
    dev, err, ea = np.array(dev), np.array(err), np.array(ea)
    print(f"D: bias {dev.mean():.4f}, 2-sigma coverage {np.mean(np.abs(dev) < 2 * err):.3f}, "
          f"1-sigma {np.mean(np.abs(dev) < err):.3f}, "
          f"sigma/scatter {err.mean() / dev.std(ddof=1):.3f}; "
          f"Ea: bias {ea[:, 0].mean() - Ea:.4f}, 2-sigma coverage "
          f"{np.mean(np.abs(ea[:, 0] - Ea) < 2 * ea[:, 1]):.3f}, sigma/scatter "
          f"{ea[:, 1].mean() / ea[:, 0].std(ddof=1):.3f}")
    assert abs(dev.mean()) < 0.01                                   # unbiased
    assert 0.92 <= np.mean(np.abs(dev) < 2 * err) <= 0.98          # 450 walks
    assert 0.60 <= np.mean(np.abs(dev) < err) <= 0.76
    assert 0.85 <= err.mean() / dev.std(ddof=1) <= 1.25
    assert abs(ea[:, 0].mean() - Ea) < 0.005
    assert 0.88 <= np.mean(np.abs(ea[:, 0] - Ea) < 2 * ea[:, 1]) <= 0.99   # 150 fits
    assert 0.8 <= ea[:, 1].mean() / ea[:, 0].std(ddof=1) <= 1.25


def test_curved_msd_is_flagged():
    """The GLS slope leans on the start of the fit window: a MSD still bending there (a
    slow cage-like component) is flagged by linearity_z; straight ones are not."""
    D, dt, n, n_atoms = 0.25, 0.1, 401, 64
    rng = np.random.default_rng(8)
    walk = np.cumsum(rng.normal(0, np.sqrt(2 * D * dt), (n, n_atoms, 3)), axis=0)
    straight = diffusion.diffusion_coefficient(walk, dt, blocks=0, remove_drift=False)
    assert abs(straight["linearity_z"]) < 3
    phi = np.exp(-1 / 40.0)  # a bounded component relaxing over 40 frames, 2 A wide
    cage = np.empty_like(walk)
    cage[0] = rng.normal(0, 2.0, (n_atoms, 3))
    kicks = rng.normal(0, 2.0 * np.sqrt(1 - phi ** 2), walk.shape)
    for i in range(1, n):
        cage[i] = phi * cage[i - 1] + kicks[i]
    curved = diffusion.diffusion_coefficient(walk + cage, dt, blocks=0, remove_drift=False)
    assert curved["linearity_z"] > 3 and curved["D"] > straight["D"] + 3 * curved["D_err"]


def test_arrhenius_recovers_Ea():
    T = np.array([500.0, 600.0, 700.0, 800.0])
    D0, Ea = 2e-3, 0.35
    D = D0 * np.exp(-Ea / (arrhenius.KB_EV * T))
    res = arrhenius.fit(T, D, D_err=0.05 * D)
    assert res["Ea"] == pytest.approx(Ea, abs=1e-10) and res["D0"] == pytest.approx(D0, rel=1e-8)
    assert res["Ea_err"] > 0
    rng = np.random.default_rng(3)
    ok = 0
    for trial in range(50):  # the error bar covers the truth about as often as it should
        noisy = D * (1 + 0.1 * rng.normal(size=D.shape))
        r = arrhenius.fit(T, noisy, D_err=0.1 * D)
        ok += abs(r["Ea"] - Ea) < 2 * r["Ea_err"]
    assert ok >= 40
    with pytest.raises(ValueError, match="at least two temperatures"):
        arrhenius.fit([500.0], [1e-5])


def test_nernst_einstein():
    # 10 Li+ in 1000 A^3 at 600 K with D = 1e-5 cm^2/s
    res = arrhenius.nernst_einstein(1e-5, 10, 1000.0, 600.0, charge=1)
    n = 10 / 1000e-30  # 1/m^3
    sigma = n * 1.602176634e-19 ** 2 * 1e-9 / (1.380649e-23 * 600.0)  # S/m
    assert res["sigma"] == pytest.approx(sigma / 100.0, rel=1e-12)
    assert res["concentration"] == pytest.approx(1e22)
    assert arrhenius.nernst_einstein(1e-5, 10, 1000.0, 600.0, charge=2)["sigma"] == \
        pytest.approx(4 * res["sigma"])


def _labelled_frames(n=6, seed=0, noise=0.0):
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        a = bulk("Cu", "fcc", a=3.61 + 0.02 * k, cubic=True).repeat(2)
        a.positions += rng.normal(0, 0.05, a.positions.shape)
        a.calc = EMT()
        e, f, s = a.get_potential_energy(), a.get_forces(), a.get_stress()
        e += noise * rng.normal()
        f = f + noise * rng.normal(size=f.shape)
        s = s + noise * 1e-3 * rng.normal(size=6)
        a.calc = SinglePointCalculator(a, energy=e, forces=f, stress=s)
        frames.append(a)
    return frames


def test_parity_numbers_equal_numpy():
    ref = _labelled_frames()
    pred = _labelled_frames(noise=0.01)
    res = parity.errors(ref, pred)
    e_ref = np.array([a.get_potential_energy() / len(a) for a in ref])
    e_pred = np.array([a.get_potential_energy() / len(a) for a in pred])
    f_ref = np.concatenate([a.get_forces().ravel() for a in ref])
    f_pred = np.concatenate([a.get_forces().ravel() for a in pred])
    s_ref = np.concatenate([a.get_stress() for a in ref])
    s_pred = np.concatenate([a.get_stress() for a in pred])
    v_ref = np.concatenate([-a.get_stress() * a.get_volume() / len(a) for a in ref])
    v_pred = np.concatenate([-a.get_stress() * a.get_volume() / len(a) for a in pred])
    assert res["e"]["rmse"] == pytest.approx(np.sqrt(np.mean((e_pred - e_ref) ** 2)), rel=1e-12)
    assert res["f"]["rmse"] == pytest.approx(np.sqrt(np.mean((f_pred - f_ref) ** 2)), rel=1e-12)
    assert res["f"]["mae"] == pytest.approx(np.mean(np.abs(f_pred - f_ref)), rel=1e-12)
    assert res["v"]["rmse"] == pytest.approx(np.sqrt(np.mean((v_pred - v_ref) ** 2)), rel=1e-12)
    assert res["s"]["rmse"] == pytest.approx(
        160217.6634 * np.sqrt(np.mean((s_pred - s_ref) ** 2)), rel=1e-9)
    # a calculator as the model: EMT against EMT is exact
    exact = parity.errors(ref, parity.predict(ref, calculator=EMT()))
    assert exact["f"]["rmse"] < 1e-12 and exact["e"]["rmse"] < 1e-12


def test_parity_of_a_deepmd_model_on_its_own_data():
    from mdsentry.frames import read_frames

    here = os.path.dirname(os.path.abspath(__file__))
    frames = read_frames(os.path.join(here, "data", "cu_emt.extxyz"))[:10]
    res = parity.errors(frames, parity.predict(frames, model=os.path.join(here, "data", "deepmd",
                                                                          "cu_1.pth")))
    # the shipped tiny model: a few meV/atom and well under 0.1 eV/A on its training data
    assert res["e"]["rmse"] < 0.01 and res["f"]["rmse"] < 0.1 and "s" in res


def test_adhesion_of_a_perfect_crystal_is_twice_the_surface_energy():
    """Cu(100) on Cu(100) at the bulk layer spacing is bulk Cu: W_sep = 2 gamma."""
    from mdsentry.analysis.energetics import adhesion, surface_energy
    from mdsentry.build import interface, slab

    cu = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms = interface(cu, (1, 0, 0), cu, (1, 0, 0), bottom_layers=2, top_layers=2, gap=3.61 / 2,
                      min_length=7.0)
    calc = EMT()
    res = adhesion(atoms, calc)
    ref = cu.repeat((2, 2, 1))
    ref.calc = EMT()
    e_bulk_atom = ref.get_potential_energy() / len(ref)
    assert res["E_interface"] / len(atoms) == pytest.approx(e_bulk_atom, abs=1e-9)
    s = slab(cu, (1, 0, 0), 2, vacuum=12.0).repeat((2, 2, 1))
    gamma = surface_energy(s, ref, calc)
    assert res["W"] == pytest.approx(2 * gamma, rel=1e-6) and res["W"] > 0


def test_neb_vacancy_hop_with_a_lammps_potential(tmp_path):
    from mdsentry.analysis.energetics import lammps_calculator, neb_barrier
    from mdsentry.potentials import SUTTON_CHEN_CU, write_sutton_chen

    pot = write_sutton_chen(str(tmp_path / "cu.eam.alloy"), **SUTTON_CHEN_CU)
    cmds = ["pair_style eam/alloy", f"pair_coeff * * {pot} Cu"]
    xtal = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
    probe = xtal.copy()
    probe.calc = lammps_calculator(cmds, ["Cu"])
    e_lmp = probe.get_potential_energy() / len(probe)
    assert -3.6 < e_lmp < -3.3  # Sutton-Chen Cu cohesive energy
    initial = xtal.copy()
    del initial[0]                       # vacancy at the origin
    final = initial.copy()
    j = int(np.argmin(np.linalg.norm(initial.positions, axis=1)))
    final.positions[j] = 0.0             # a neighbour hops into it
    res = neb_barrier(initial, final, lambda: lammps_calculator(cmds, ["Cu"]), n_images=3)
    assert res["converged"]
    assert 0.2 < res["barrier"] < 1.2
    assert res["barrier"] == pytest.approx(res["reverse_barrier"], abs=1e-3)  # symmetric hop
    assert np.argmax(res["energies"]) == 2  # the saddle is the middle image


def _run(*args):
    proc = subprocess.run([MDSENTRY, "analyze", *args], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_cli_verbs(tmp_path):
    # a LAMMPS-style dump of a wrapped random walk (types, no element column)
    D, dt = 0.3, 0.05
    _, frames = _random_walk(D, dt, 400, 40, seed=4, box=10.0)
    dump = tmp_path / "walk.lammpstrj"
    with open(dump, "w") as fh:  # as LAMMPS writes it: types, wrapped x y z
        for step, f in enumerate(frames):
            fh.write(f"ITEM: TIMESTEP\n{step * 50}\nITEM: NUMBER OF ATOMS\n{len(f)}\n"
                     "ITEM: BOX BOUNDS pp pp pp\n" + "0.0 10.0\n" * 3 +
                     "ITEM: ATOMS id type x y z\n")
            fh.writelines(f"{i + 1} 1 {x:.6f} {y:.6f} {z:.6f}\n"
                          for i, (x, y, z) in enumerate(f.positions))
    out = _run("msd", str(dump), "--elements", "Li", "--dt", str(dt), "--blocks", "4",
               "--temperature", "600", "--charge", "1", "--out", str(tmp_path / "msd"),
               "--species", "Li", "--table", str(tmp_path / "dt.csv"))
    line = next(x for x in out.splitlines() if x.startswith("D(Li)"))
    d_val, d_err = float(line.split()[2]), float(line.split()[4])
    assert abs(d_val - D * 1e-4) < 4 * d_err
    assert "Nernst-Einstein sigma" in line and "carriers 4e+22 /cm^3" in line
    assert "D(Li) in 4 consecutive blocks:" in out and "not straight" not in out
    for name in ("msd.csv", "msd.png"):
        assert os.path.getsize(tmp_path / "msd" / name) > 1000
    from mdsentry.analysis.trajectory import read_table

    table = read_table(str(tmp_path / "dt.csv"))
    assert table["T"][0] == 600 and table["D"][0] == pytest.approx(d_val, rel=1e-3)
    # rdf of an fcc crystal written as extxyz
    write(str(tmp_path / "cu.extxyz"), [bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)] * 2)
    out = _run("rdf", str(tmp_path / "cu.extxyz"), "--rmax", "4.0", "--out", str(tmp_path / "rdf"))
    row = next(x for x in out.splitlines() if x.startswith("Cu-Cu")).split()
    assert float(row[1]) == pytest.approx(3.61 / np.sqrt(2), abs=0.01) and row[3] == "12.000"
    assert os.path.getsize(tmp_path / "rdf" / "rdf.png") > 1000
    # arrhenius from a table
    T = np.array([500.0, 600.0, 700.0])
    Dv = 1e-3 * np.exp(-0.4 / (arrhenius.KB_EV * T))
    (tmp_path / "d.csv").write_text("T,D,D_err\n" + "".join(f"{t},{d},{0.05 * d}\n"
                                                           for t, d in zip(T, Dv)))
    out = _run("arrhenius", str(tmp_path / "d.csv"), "--out", str(tmp_path / "arr"))
    assert out.startswith("Ea = 0.4000 +- ") and "chi2/dof 0.00 (errors from D_err)" in out
    assert os.path.getsize(tmp_path / "arr" / "arrhenius.png") > 1000
    # parity of EMT-labelled frames against EMT itself and against noisy labels
    write(str(tmp_path / "ref.extxyz"), _labelled_frames())
    write(str(tmp_path / "pred.extxyz"), _labelled_frames(noise=0.01))
    out = _run("parity", str(tmp_path / "ref.extxyz"), "--calculator", "emt",
               "--out", str(tmp_path / "par"))
    assert "force   RMSE      0.000 meV/Å" in out
    out = _run("parity", str(tmp_path / "ref.extxyz"), "--pred", str(tmp_path / "pred.extxyz"),
               "--out", str(tmp_path / "par2"))
    res = parity.errors(_labelled_frames(), _labelled_frames(noise=0.01))
    assert f"force   RMSE {1000 * res['f']['rmse']:10.3f} meV/Å" in out
    assert os.path.getsize(tmp_path / "par2" / "parity.csv") > 1000


def test_cli_adhesion_and_neb(tmp_path):
    from mdsentry.analysis.energetics import adhesion
    from mdsentry.build import interface
    from mdsentry.potentials import SUTTON_CHEN_CU, write_sutton_chen

    cu = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms = interface(cu, (1, 0, 0), cu, (1, 0, 0), bottom_layers=2, top_layers=2, gap=2.5,
                      vacuum=12.0, min_length=7.0)
    clean = atoms.copy()
    clean.info = {}
    write(str(tmp_path / "cu_cu.extxyz"), clean)
    out = _run("adhesion", str(tmp_path / "cu_cu.extxyz"), "--calculator", "emt",
               "--out", str(tmp_path / "adh"))
    expected = adhesion(atoms, EMT())["W"]
    assert f"W_sep = {expected:.4f} J/m^2 (vacuum stacking, 1 interface(s)" in out
    assert os.path.getsize(tmp_path / "adh" / "adhesion.png") > 1000
    # a vacancy hop in Sutton-Chen Cu, the potential given as LAMMPS commands
    pot = write_sutton_chen(str(tmp_path / "cu.eam.alloy"), **SUTTON_CHEN_CU)
    xtal = cu.repeat(3)
    initial = xtal.copy()
    del initial[0]
    final = initial.copy()
    j = int(np.argmin(np.linalg.norm(initial.positions, axis=1)))
    final.positions[j] = 0.0
    write(str(tmp_path / "ini.extxyz"), initial)
    write(str(tmp_path / "fin.extxyz"), final)
    out = _run("neb", str(tmp_path / "ini.extxyz"), str(tmp_path / "fin.extxyz"), "--images", "3",
               "--lammps", "pair_style eam/alloy", f"pair_coeff * * {pot} Cu",
               "--out", str(tmp_path / "neb"))
    barrier = float(out.split("barrier ")[1].split()[0])
    assert 0.2 < barrier < 1.2 and "converged" in out and "NOT" not in out
    from mdsentry.analysis.trajectory import read_table

    table = read_table(str(tmp_path / "neb" / "neb.csv"))
    assert len(table["energy_eV"]) == 5 and table["energy_eV"].max() == pytest.approx(barrier, abs=1e-4)
