"""fix qeq/field: an electric field with charge equilibration on top of an ML potential.

Checked against fix qeq/shielded (zero-field charges), an independent numpy
solution of the QEq equations (induced dipole, dE), finite differences (forces,
virial), the ML potential alone (bitwise at zero field), 1 vs 2 ranks, NVE energy
conservation, and every bad input."""

import os
import sys

import numpy as np
import pytest

from conftest import run_mpi, worker

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "workers"))
import qeq_field_cases as cases  # noqa: E402

COULOMB = 14.4  # fix qeq/shielded's e^2/(4 pi eps0) in eV A
FIX = "fix qf all qeq/field 1 8.0 1e-12 500 {params} efield {ex} {ey} {ez} {extra}"


@pytest.fixture
def params(tmp_path):
    return cases.write_params(str(tmp_path))


def run0(params, case="slab", pair="deepmd", field=(0.0, 0.0, 0.0), extra="", style="atomic",
         before="", nvector=6):
    lmp = cases.build(case=case, pair=pair, style=style)
    lmp.commands_string(before)
    lmp.command(FIX.format(params=params, ex=field[0], ey=field[1], ez=field[2], extra=extra))
    lmp.command("fix_modify qf energy yes virial yes")
    lmp.command("run 0")
    out = cases.gather(lmp, "qf", nvector)
    lmp.close()
    return out


# ----------------------------------------------------------------- reference
def taper(x):
    return 1 + x**4 * (-35 + x * (84 + x * (-70 + 20 * x)))


def reference(x, types, params, cutoff, field, center, qtot=0.0):
    """The QEq solution of a non-periodic cluster from the equations alone:
    minimise chi.q + 1/2 q.H.q + q.phi subject to sum q = qtot (a KKT system)."""
    chi = {t: params[t][0] for t in params}
    hard = {t: params[t][1] for t in params}
    gam = {t: params[t][2] for t in params}
    n = len(x)
    h = np.zeros((n, n))
    for i in range(n):
        h[i, i] = hard[types[i]]
        for j in range(n):
            if i == j:
                continue
            r = np.linalg.norm(x[i] - x[j])
            if r <= cutoff:
                shield = (gam[types[i]] * gam[types[j]]) ** -1.5
                h[i, j] = COULOMB * taper(r / cutoff) / np.cbrt(r**3 + shield)
    kkt = np.zeros((n + 1, n + 1))
    kkt[:n, :n] = h
    kkt[:n, n] = kkt[n, :n] = 1.0
    c = np.array([chi[t] for t in types])
    phi = -(x - center) @ np.asarray(field)

    def solve(p):
        sol = np.linalg.solve(kkt, np.concatenate([-c - p, [qtot]]))
        q = sol[:n]
        return q, c @ q + 0.5 * q @ h @ q + p @ q

    q0, w0 = solve(np.zeros(n))
    qe, we = solve(phi)
    return q0, qe, we - w0


PARAM_TABLE = {1: (4.0, 9.0, 0.45), 2: (5.5, 10.0, 0.50)}


# ----------------------------------------------------------------- physics
@pytest.mark.parametrize("slab", ["no", "yes"])
def test_zero_field_adds_nothing_bitwise(params, slab):
    alone = cases.build()
    # the same ghost shell as with the fix (cutoff + skin): pair deepmd's virial sums
    # over the ghosts, in an order that depends on how many there are
    alone.command("comm_modify cutoff 9.0")
    alone.command("run 0")
    ref = cases.gather(alone)
    alone.close()
    out = run0(params, extra=f"slab {slab}")
    assert np.array_equal(out["f"], ref["f"])
    assert out["pe"] == ref["pe"]
    assert np.array_equal(out["pressure"], ref["pressure"])
    assert out["scalar"] == 0.0
    assert np.abs(out["q"]).max() > 0.01  # charges were computed all the same


def test_zero_field_trajectory_equals_the_ml_potential_alone(params):
    def md(with_fix):
        lmp = cases.build()
        if with_fix:
            lmp.command(FIX.format(params=params, ex=0, ey=0, ez=0, extra=""))
            lmp.command("fix_modify qf energy yes virial yes")
        lmp.command("velocity all create 800 4411 dist gaussian")
        lmp.command("fix nve all nve")
        lmp.command("run 40")
        out = cases.gather(lmp)
        lmp.close()
        return out

    a, b = md(False), md(True)
    assert np.array_equal(a["x"], b["x"]) and np.array_equal(a["f"], b["f"])


def test_zero_field_charges_equal_fix_qeq_shielded(params):
    lmp = cases.build(pair="10.5", style="charge")
    lmp.command(f"fix q all qeq/shielded 1 8.0 1e-12 1000 {params}")
    lmp.command("run 0")
    shielded = np.array(lmp.gather_atoms("q", 1, 1))
    lmp.close()
    ours = run0(params, extra="slab no", style="charge")
    assert np.abs(shielded).max() > 0.05
    np.testing.assert_allclose(ours["q"], shielded, atol=1e-6, rtol=0)
    # with atom_style charge the fix writes its charges to atom->q as well
    assert abs(ours["vector"][5]) < 1e-10


def test_cluster_response_equals_the_linear_qeq_solution(params):
    field = (0.02, -0.01, 0.05)
    out = run0(params, case="cluster", pair="3.0", field=field)
    lmp = cases.build(case="cluster", pair="3.0")
    lo = np.array(lmp.extract_box()[0])
    hi = np.array(lmp.extract_box()[1])
    lmp.close()
    center = 0.5 * (lo + hi)
    q0, qe, de = reference(out["x"], out["type"], PARAM_TABLE, 8.0, field, center)
    np.testing.assert_allclose(out["q"], qe, atol=1e-6, rtol=0)
    np.testing.assert_allclose(out["dq"], qe - q0, atol=1e-6, rtol=0)
    ehat = np.array(field) / np.linalg.norm(field)
    dipole = qe @ ((out["x"] - center) @ ehat)
    induced = (qe - q0) @ ((out["x"] - center) @ ehat)
    assert out["scalar"] == pytest.approx(de, abs=1e-6, rel=1e-6)
    assert out["vector"][0] == out["scalar"]
    assert out["vector"][1] == pytest.approx(dipole, abs=1e-6)
    assert out["vector"][2] == pytest.approx(induced, abs=1e-6)
    assert induced > 0  # charge moves along the field
    assert abs(out["vector"][5]) < 1e-10  # neutral
    # pair zero: the forces are the fix's alone; the energy is dE
    assert out["pe"] == pytest.approx(de, abs=1e-6)


def finite_difference(params, case, pair, field, extra, atoms, h=1e-4):
    """Central differences of dE (the fix's energy) for a few atoms, and the forces."""
    lmp = cases.build(case=case, pair=pair)
    lmp.command(FIX.format(params=params, ex=field[0], ey=field[1], ez=field[2], extra=extra))
    lmp.command("fix_modify qf energy yes virial yes")
    lmp.command("run 0")
    forces = cases.gather(lmp)["f"]
    numeric = np.zeros((len(atoms), 3))
    for a, atom in enumerate(atoms):
        for k, axis in enumerate("xyz"):
            e = []
            for sign in (1, -1):
                lmp.command(f"group one id {atom}")
                d = [0.0, 0.0, 0.0]
                d[k] = sign * h
                lmp.command(f"displace_atoms one move {d[0]} {d[1]} {d[2]} units box")
                lmp.command("run 0")
                e.append(lmp.get_thermo("pe"))
                lmp.command(f"displace_atoms one move {-d[0]} {-d[1]} {-d[2]} units box")
                lmp.command("group one delete")
            numeric[a, k] = -(e[0] - e[1]) / (2 * h)
    lmp.close()
    return forces[np.array(atoms) - 1], numeric


def test_cluster_forces_are_minus_the_gradient_of_the_energy(params):
    analytic, numeric = finite_difference(params, "cluster", "3.0", (0.03, 0.0, -0.04), "",
                                          [1, 7, 15])
    assert np.abs(analytic).max() > 1e-3
    np.testing.assert_allclose(analytic, numeric, atol=2e-6, rtol=1e-4)


@pytest.mark.parametrize("slab", ["yes", "no"])
def test_slab_forces_are_minus_the_gradient_of_the_energy(params, slab):
    analytic, numeric = finite_difference(params, "slab", "3.0", (0.0, 0.0, 0.05),
                                          f"slab {slab}", [2, 50, 131])
    np.testing.assert_allclose(analytic, numeric, atol=2e-6, rtol=1e-4)


def test_slab_virial_is_minus_the_strain_derivative(params):
    """W_xx = -dE/d(eps_xx) under a homogeneous x strain (pair zero: the fix's alone);
    covers the pair terms and the slab term's volume dependence."""
    lmp = cases.build(pair="3.0")
    lmp.command(FIX.format(params=params, ex=0, ey=0, ez=0.05, extra="slab yes"))
    lmp.command("fix_modify qf energy yes virial yes")
    lmp.command("run 0")
    nktv2p = 1.6021765e6
    out = cases.gather(lmp)
    virial = out["pressure"] * out["volume"] / nktv2p  # atoms at rest: no kinetic part
    eps = 1e-5
    e = []
    for sign in (1, -1):
        s = 1 + sign * eps
        lmp.command(f"change_box all x scale {s} y scale 1.0 remap units box")
        lmp.command("run 0")
        e.append(lmp.get_thermo("pe"))
        lmp.command(f"change_box all x scale {1 / s} remap units box")
    lmp.close()
    w_xx = -(e[0] - e[1]) / (2 * eps)
    assert abs(w_xx) > 1e-3
    assert virial[0] == pytest.approx(w_xx, rel=1e-4, abs=1e-6)


def test_response_charges_gives_forces_qE(params):
    field = (0.0, 0.0, 0.08)
    out = run0(params, pair="3.0", field=field, extra="response charges")
    np.testing.assert_allclose(out["f"], np.outer(out["q"], field), atol=1e-12)
    # its energy is the field energy sum q phi, phi = -E.(r - box centre), as fix efield's
    lmp = cases.build(pair="3.0")
    lo, hi = lmp.extract_box()[:2]
    lmp.close()
    zc = 0.5 * (lo[2] + hi[2])
    assert out["scalar"] == pytest.approx(-(out["q"] @ (out["x"][:, 2] - zc)) * field[2],
                                          rel=1e-10)


def test_group_constraints_hold_each_group_neutral(params):
    before = "region top block INF INF INF INF 7.2 INF units box\n" \
             "group top region top\ngroup bottom subtract all top\n"
    out = run0(params, pair="3.0", field=(0, 0, 0.1), before=before,
               extra="qgroup top 0.0 qgroup bottom 0.0", nvector=8)
    top = out["x"][:, 2] > 7.2
    assert 0 < top.sum() < len(top)
    assert abs(out["q"][top].sum()) < 1e-9 and abs(out["q"][~top].sum()) < 1e-9
    assert out["vector"][6] == pytest.approx(out["q"][top].sum(), abs=1e-12)
    # without the constraint the field moves charge from one half to the other
    free = run0(params, pair="3.0", field=(0, 0, 0.1))
    assert abs(free["q"][top].sum()) > 1e-3


# ----------------------------------------------------------------- MPI
def test_one_and_two_ranks_agree(tmp_path, params, eam_pair):
    """20 MD steps in a field with the slab split between two ranks (a Sutton-Chen EAM
    stands in for the ML potential: the fix does not see it)."""
    fix = "fix qf all qeq/field 1 8.0 1e-12 500 PARAMS efield 0 0 0.05"
    outs = []
    for n in (1, 2):
        path = str(tmp_path / f"r{n}.npz")
        run_mpi(n, [sys.executable, worker("qeq_field_cases.py"), "--fix", fix, "--params",
                    params, "--pair", eam_pair[0], "--md", "20", "--out", path])
        outs.append(np.load(path))
    a, b = outs
    np.testing.assert_allclose(a["q"], b["q"], atol=1e-9, rtol=0)
    np.testing.assert_allclose(a["f"], b["f"], atol=1e-8, rtol=0)
    np.testing.assert_allclose(a["x"], b["x"], atol=1e-9, rtol=0)
    assert a["scalar"] == pytest.approx(float(b["scalar"]), abs=1e-8)


def test_nve_with_the_field_conserves_the_total_energy(params, eam_pair):
    """5 ps NVE (1 fs steps) at 0 and 0.1 V/A: with the fix's energy counted, the total
    energy drifts as little with the field as without it.  (A Sutton-Chen Cu EAM stands in
    for the ML potential, which would make this minutes long; the fix does not see it.)"""
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR, LMP_TYPE_VECTOR

    drifts, added = {}, {}
    for ez in (0.0, 0.1):
        lmp = cases.build(pair=eam_pair[0])
        lmp.command(FIX.format(params=params, ex=0, ey=0, ez=ez, extra="")
                    .replace("1e-12", "1e-9"))
        lmp.command("fix_modify qf energy yes virial yes")
        lmp.command("velocity all create 600 4411 dist gaussian")
        lmp.command("fix nve all nve")
        lmp.command("timestep 0.001")
        lmp.command("thermo_style custom step temp etotal")
        etot, de = [], []
        for _ in range(25):
            lmp.command("run 200")
            etot.append(lmp.get_thermo("etotal"))
            de.append(lmp.extract_fix("qf", LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR))
        iterations = lmp.extract_fix("qf", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR, 3)
        lmp.close()
        drifts[ez] = max(etot) - min(etot)
        added[ez] = (min(de), max(de), iterations)
    natoms = 162
    assert added[0.0][:2] == (0.0, 0.0)
    assert max(abs(added[0.1][0]), abs(added[0.1][1])) > 0.01  # the field does work
    assert 0 < added[0.1][2] < 200  # warm starts: few CG iterations per step
    assert drifts[0.1] / natoms < 1e-5  # eV/atom over 5 ps
    assert drifts[0.1] < 2 * drifts[0.0] + 2e-4, drifts


# ----------------------------------------------------------------- errors
ERRORS = {
    "missing type": (lambda p: FIX.format(params=p + ".one", ex=0, ey=0, ez=0.01, extra=""),
                     "", "no line for atom type\\(s\\) 2"),
    "periodic field": (lambda p: FIX.format(params=p, ex=0.01, ey=0, ez=0, extra=""), "",
                       "component along x, a periodic dimension"),
    "coulomb pair": (lambda p: FIX.format(params=p, ex=0, ey=0, ez=0.01, extra=""),
                     "pair_style coul/cut 8.0\npair_coeff * *\n", "Coulomb pair style"),
    "fix efield": (lambda p: FIX.format(params=p, ex=0, ey=0, ez=0.01, extra=""),
                   "fix e all efield 0 0 0.01\n", "cannot be used with fix e"),
    "shrink-wrapped": (lambda p: FIX.format(params=p, ex=0, ey=0, ez=0.01, extra=""),
                       "change_box all boundary p p s\n", "needs boundary f along z"),
    "respa": (lambda p: FIX.format(params=p, ex=0, ey=0, ez=0.01, extra=""),
              "run_style respa 2 2\n", "does not support run_style respa"),
    "N": (lambda p: f"fix qf all qeq/field 0 8.0 1e-8 100 {p} efield 0 0 0", "",
          "N must be a positive integer"),
    "cutoff": (lambda p: f"fix qf all qeq/field 1 -8.0 1e-8 100 {p} efield 0 0 0", "",
               "cutoff must be positive"),
    "tolerance": (lambda p: f"fix qf all qeq/field 1 8.0 0 100 {p} efield 0 0 0", "",
                  "tolerance must be positive"),
    "maxiter": (lambda p: f"fix qf all qeq/field 1 8.0 1e-8 0 {p} efield 0 0 0", "",
                "maxiter must be a positive integer"),
    "arguments": (lambda p: f"fix qf all qeq/field 1 8.0 1e-8 100 {p} efield 0 0", "",
                  "expected fix ID group qeq/field N cutoff"),
    "keyword": (lambda p: FIX.format(params=p, ex=0, ey=0, ez=0, extra="slab"), "",
                "slab"),
    "unknown keyword": (lambda p: FIX.format(params=p, ex=0, ey=0, ez=0, extra="colour red"),
                        "", "unknown keyword colour"),
    "no file": (lambda p: FIX.format(params=p + ".missing", ex=0, ey=0, ez=0, extra=""), "",
                "cannot open parameter file"),
    "unconverged": (lambda p: FIX.format(params=p, ex=0, ey=0, ez=0.05,
                                         extra="unconverged error").replace(" 500 ", " 2 "),
                    "", "not converged after 2 iterations"),
    "not positive definite": (lambda p: FIX.format(params=p + ".soft", ex=0, ey=0, ez=0.01,
                                                   extra=""),
                              "", "not positive definite"),
    "units": (lambda p: FIX.format(params=p, ex=0, ey=0, ez=0.01, extra=""),
              "real", "requires units metal"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_bad_input_is_a_clear_error(params, name):
    fix, before, message = ERRORS[name]
    with open(params + ".one", "w") as fh:
        fh.write("1 4.0 9.0 0.45 0 0\n")
    with open(params + ".soft", "w") as fh:  # hardness far below the kernel's couplings
        fh.write("1 4.0 0.5 0.45 0 0\n2 5.5 0.5 0.50 0 0\n")
    lmp = cases.build(pair="3.0", units="real" if before == "real" else "metal",
                      style="charge" if before.startswith(("pair", "fix")) else "atomic")
    try:
        with pytest.raises(Exception, match=message):
            if before != "real":
                lmp.commands_string(before)
            lmp.command(fix(params))
            lmp.command("run 0")
    finally:
        lmp.close()


def test_an_error_on_two_ranks_ends_both(tmp_path, params):
    """A parameter file only rank 0 reads, lacking a type: every rank stops with it."""
    bad = str(tmp_path / "one.params")
    with open(bad, "w") as fh:
        fh.write("1 4.0 9.0 0.45 0 0\n")
    proc = run_mpi(2, [sys.executable, worker("qeq_field_cases.py"), "--pair", "3.0", "--fix",
                       "fix qf all qeq/field 1 8.0 1e-8 100 PARAMS efield 0 0 0.01", "--params",
                       bad, "--out", str(tmp_path / "x.npz")], check=False, timeout=120)
    assert proc.returncode != 0
    assert "no line for atom type(s) 2" in proc.stdout + proc.stderr


# ----------------------------------------------------------------- analysis
def test_profile_of_a_charged_capacitor_has_the_analytic_potential_drop():
    """Two sheets +-sigma a distance d apart: the potential drops by 4 pi k sigma d
    between them and is flat outside."""
    from ase import Atoms

    from mdsentry.analysis.field import COULOMB, charge_profile

    n, a, d = 10, 3.0, 6.0
    xy = [(i * a, j * a) for i in range(n) for j in range(n)]
    pos = [(x, y, 12.0) for x, y in xy] + [(x, y, 12.0 + d) for x, y in xy]
    atoms = Atoms("Li" * len(xy) + "F" * len(xy), positions=pos,
                  cell=[n * a, n * a, 30.0], pbc=[True, True, False])
    atoms.set_initial_charges([0.1] * len(xy) + [-0.1] * len(xy))
    prof = charge_profile([atoms], bins=300)
    sigma = 0.1 / a**2
    drop = prof["phi"][-1] - prof["phi"][0]
    assert drop == pytest.approx(-4 * np.pi * COULOMB * sigma * d, rel=0.02)
    assert prof["phi"][-1] == pytest.approx(prof["phi"][-5], abs=1e-9)  # flat outside
    width = prof["z"][1] - prof["z"][0]
    assert np.sum(prof["n_Li"]) * width * (n * a) ** 2 == pytest.approx(len(xy))


def test_net_displacement_in_a_region_against_a_reference_element():
    """Li above z = 10 moves +0.3 A, the C there +0.1 A (a drift of the whole side), the Li
    below does not move: in the region, Li's drift against C is +0.2 A."""
    from ase import Atoms

    from mdsentry.analysis.field import net_displacement

    pos = [(0, 0, 5.0), (1, 0, 5.0), (0, 0, 12.0), (1, 0, 13.0), (2, 0, 14.0)]
    first = Atoms("Li2LiLiC", positions=pos, cell=[10, 10, 30], pbc=[True, True, False])
    last = first.copy()
    last.positions[2:4, 2] += 0.3
    last.positions[4, 2] += 0.1
    everywhere = net_displacement([first, last])
    assert everywhere["Li"][-1] == pytest.approx(0.15)
    side = net_displacement([first, last], region=(10.0, 30.0), relative_to="C")
    assert list(side) == ["Li"] and side["Li"][-1] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="no O atoms"):
        net_displacement([first, last], region=(10.0, 30.0), relative_to="O")


def test_field_profile_verb_on_a_dump_of_the_fix(tmp_path, params):
    """A slab in 0.2 V/A dumps its charges; the verb writes the table and the plot, the
    charges screen the field inside the slab."""
    import subprocess

    lmp = cases.build(pair="3.0", style="charge")
    lmp.command(FIX.format(params=params, ex=0, ey=0, ez=0.2, extra=""))
    dump = tmp_path / "field.dump"
    lmp.command(f"dump d all custom 1 {dump} id type element x y z q")
    lmp.command("dump_modify d element Cu Cu")
    lmp.command("run 0")
    lmp.close()
    out = tmp_path / "prof"
    mdsentry = os.path.join(os.path.dirname(sys.executable), "mdsentry")
    proc = subprocess.run([mdsentry, "analyze", "field-profile", str(dump), "--field", "0.2",
                           "--bins", "60", "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    import io

    body = "".join(line for line in open(out / "field_profile.csv") if not line.startswith("#"))
    table = np.genfromtxt(io.StringIO(body), delimiter=",", names=True)
    assert (out / "field_profile.png").stat().st_size > 10000
    assert abs(np.sum(table["rho"])) < 1e-5  # neutral, to the dump's 6 digits
    # the induced charges oppose the applied field: their potential rises along +z
    assert table["phi_induced"][-1] > 0.0
    assert "potential drop across the box" in proc.stdout


def test_the_field_deck_runs(tmp_path):
    """inputs/li_li2co3_field: prepare.py and in.field with its shipped stand-in DeePMD
    committee (potential.lmp) for a few steps: the deck, its groups, its QEq parameters
    (the solves converge) and the committee's deviation file work."""
    import shutil
    import subprocess

    inputs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "inputs")
    for name in ("li_li2co3_field", "li_li2co3_interface"):
        shutil.copytree(os.path.join(inputs, name), tmp_path / name)
    deck = tmp_path / "li_li2co3_field"
    subprocess.run([sys.executable, "prepare.py"], cwd=deck, check=True)
    lmp = os.path.join(os.path.dirname(sys.executable), "lmp")
    proc = subprocess.run([lmp, "-in", "in.field", "-var", "E", "0.03", "-var", "steps", "20",
                           "-log", "log.test"],
                          cwd=deck, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    log = (deck / "log.test").read_text()
    assert "480 atoms" in log and "f_field[2]" in log
    assert "not converged" not in log
    assert (deck / "field_0.03.dump").stat().st_size > 0
    devi = np.loadtxt(deck / "model_devi_0.03.out", ndmin=2)
    assert devi.shape[0] == 2 and np.all(devi[:, 4] < 0.5)  # steps 0 and 20, trusted
