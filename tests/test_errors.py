"""Every bad input is a clear LAMMPS error, on 1 rank and without hangs on 2."""

import os
import re
import subprocess

import numpy as np
import pytest

from conftest import HERE, LMP, MPIRUN
from conftest import LJ_CRYSTAL as SYSTEM

COMMITTEE = """pair_style committee lj/cut 2.5 lj/cut 2.5
pair_coeff 1 1 1 1.0 1.0 2.5
pair_coeff 1 1 2 1.2 1.0 2.5
"""

CASES = {
    "no args": ("pair_style committee", "missing argument"),
    "keyword without value": ("pair_style committee every", "missing argument"),
    "no members": ("pair_style committee every 10", "needs at least one member"),
    "unknown member style": ("pair_style committee lj/cutt 2.5",
                             "neither a keyword .* nor a known pair style"),
    "bad forces mode": ("pair_style committee forces median lj/cut 2.5",
                        "forces must be leader or mean"),
    "negative every": ("pair_style committee every -1 lj/cut 2.5", "every must be >= 0"),
    "nested committee": ("pair_style committee lj/cut 2.5 committee", "cannot be committee"),
    "accelerated member": ("pair_style committee lj/cut/omp 2.5", "accelerated variant"),
    "member index too large": ("pair_style committee lj/cut 2.5 lj/cut 2.5\n"
                               "pair_coeff 1 1 3 1.0 1.0", "committee member 3, but the "
                               "committee has 2 member"),
    "member index zero": ("pair_style committee lj/cut 2.5\npair_coeff 1 1 0 1.0 1.0",
                          "committee member 0"),
    "pair_coeff too short": ("pair_style committee lj/cut 2.5\npair_coeff 1 1",
                             "pair_coeff I J m"),
    "member without coeffs": ("pair_style committee lj/cut 2.5 lj/cut 2.5\n"
                              "pair_coeff 1 1 1 1.0 1.0\nrun 0",
                              r"Committee member 2 \(lj/cut\) has no coefficients"),
    "sentry lo == hi": (COMMITTEE + "fix s all sentry 10 0.5 0.5", "lo < hi"),
    "sentry lo > hi": (COMMITTEE + "fix s all sentry 10 0.5 0.1", "lo < hi"),
    "sentry N zero": (COMMITTEE + "fix s all sentry 0 0.1 0.5", "N must be a positive integer"),
    "sentry N negative": (COMMITTEE + "fix s all sentry -5 0.1 0.5",
                          "N must be a positive integer"),
    "sentry missing args": (COMMITTEE + "fix s all sentry 10 0.1", "missing argument"),
    "sentry bad keyword": (COMMITTEE + "fix s all sentry 10 0.1 0.5 halt maybe", "halt"),
    "sentry bad source": (COMMITTEE + "fix s all sentry 10 0.1 0.5 source f_x",
                          "source must be c_ID"),
    "sentry missing compute": (COMMITTEE + "fix s all sentry 10 0.1 0.5 source c_nope[1]\nrun 0",
                               "compute nope does not exist"),
    "sentry not a committee": ("pair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0\n"
                               "fix s all sentry 10 0.1 0.5\nrun 0",
                               "the default source is pair style committee, but the pair "
                               "style is lj/cut"),
    "compute pair on non-committee": ("pair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0\n"
                                      "compute d all pair committee",
                                      "pair style committee in compute pair command"),
    "fix pair on non-committee": ("pair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0\n"
                                  "fix d all pair 10 committee devi 1",
                                  "Pair style committee for fix pair not found"),
    "sentry elements count": (COMMITTEE + "fix s all sentry 10 0.1 0.5 elements",
                              "one symbol per atom type"),
    "committee rRESPA": (COMMITTEE + "run_style respa 2 2\nrun 1",
                         r"Pair style committee does not support rRESPA \(run_style respa\)"),
    "sentry rRESPA": ("pair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0\nvariable d equal 0.0\n"
                      "fix s all sentry 10 0.1 0.5 source v_d\nrun_style respa 2 2\nrun 1",
                      r"Fix sentry s does not support rRESPA \(run_style respa\)"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_error_message(name):
    from mdsentry.lmp import lammps

    script, pattern = CASES[name]
    lmp = lammps()
    lmp.commands_string(SYSTEM)
    with pytest.raises(Exception, match=pattern):
        lmp.commands_string(script)
    lmp.close()


def run_deck(tmp_path, text, nprocs=2, name="in.bad"):
    deck = tmp_path / name
    deck.write_text(text)
    return subprocess.run([MPIRUN, "-np", str(nprocs), LMP, "-in", str(deck), "-log", "none"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))


@pytest.mark.parametrize("name", ["member index too large", "sentry lo > hi",
                                  "member without coeffs", "sentry not a committee",
                                  "committee rRESPA", "sentry rRESPA"])
def test_error_on_two_ranks_no_hang(tmp_path, name):
    script, pattern = CASES[name]
    proc = run_deck(tmp_path, SYSTEM + script + "\nrun 10\n")
    assert proc.returncode != 0
    assert re.search("ERROR.*" + pattern, proc.stdout + proc.stderr)


# single(): deepmd-kit's styles keep LAMMPS's single_enable = 1 but do not implement it
MODELS = [os.path.join(HERE, "data", "deepmd", f"cu_{k}.pth") for k in (1, 2)]
CU = """units metal
lattice fcc 3.61
region box block 0 2 0 2 0 2
create_box 1 box
create_atoms 1 box
mass 1 63.546
"""
SINGLE = {
    "deepmd leader": (f"pair_style committee deepmd {MODELS[0]} deepmd {MODELS[1]}\n"
                      "pair_coeff * * 1 Cu\npair_coeff * * 2 Cu", 1),
    "deepmd in the mean": (f"pair_style committee forces mean lj/cut 4.0 deepmd {MODELS[0]}\n"
                           "pair_coeff 1 1 1 0.4 2.3\npair_coeff * * 2 Cu", 2),
}
PAIR_LOCAL = "compute pl all pair/local dist eng\nrun 0\n"


def single_pattern(member):
    return (r"Compute pl \(pair/local\) needs single\(\) of pair style committee, which "
            rf"committee member {member} \(deepmd\) does not implement")


@pytest.mark.parametrize("name", list(SINGLE))
def test_single_refused_without_member_support(name):
    from mdsentry.lmp import lammps

    script, member = SINGLE[name]
    lmp = lammps(deepmd=True)
    lmp.commands_string(CU + script)
    with pytest.raises(Exception, match=single_pattern(member)):
        lmp.commands_string(PAIR_LOCAL)
    lmp.close()


def test_single_of_a_leader_that_has_it():
    """forces leader: only member 1's single() is needed; deepmd as member 2 is fine."""
    from lammps import LMP_STYLE_LOCAL, LMP_TYPE_ARRAY

    from mdsentry.lmp import lammps

    lmp = lammps(deepmd=True)
    lmp.commands_string(CU + f"pair_style committee lj/cut 4.0 deepmd {MODELS[0]}\n"
                        "pair_coeff 1 1 1 0.4 2.3\npair_coeff * * 2 Cu\n" + PAIR_LOCAL)
    r, eng = np.array(lmp.numpy.extract_compute("pl", LMP_STYLE_LOCAL, LMP_TYPE_ARRAY)).T
    lmp.close()
    # deepmd's cutoff is the committee's: pairs beyond the leader's 4.0 count zero
    assert r.min() < 4.0 < r.max()
    expect = np.where(r < 4.0, 4 * 0.4 * ((2.3 / r)**12 - (2.3 / r)**6), 0.0)
    assert np.allclose(eng, expect, rtol=1e-12, atol=1e-15)


def test_single_refused_on_two_ranks_no_hang(tmp_path):
    script, member = SINGLE["deepmd leader"]
    proc = run_deck(tmp_path, CU + script + "\n" + PAIR_LOCAL)
    assert proc.returncode != 0
    assert re.search("ERROR.*" + single_pattern(member), proc.stdout + proc.stderr)


def test_restored_committee_missing_file_two_ranks_no_hang(tmp_path, eam_pair):
    """A committee restored from a restart file whose member file is gone: a clear error
    (eam names the file, raised on the rank that reads it) and no hang on 2 ranks."""
    import shutil

    old = tmp_path / "gone.eam.alloy"
    shutil.copy(eam_pair[0], old)
    proc = run_deck(tmp_path, CU + f"pair_style committee eam/alloy eam/alloy\n"
                    f"pair_coeff * * 1 {old} Cu\npair_coeff * * 2 {eam_pair[1]} Cu\n"
                    "run 0\nwrite_restart eam.restart\n", nprocs=1, name="in.write")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    old.unlink()
    proc = run_deck(tmp_path, "read_restart eam.restart\nrun 10\n")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert re.search(r"ERROR.*gone\.eam\.alloy", out)
    assert "Pair style committee from the restart file: 'pair_coeff * * 1 " in out
