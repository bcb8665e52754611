"""Every bad input is a clear LAMMPS error, on 1 rank and without hangs on 2."""

import os
import subprocess

import pytest

from conftest import LJ_CRYSTAL as SYSTEM
from conftest import LMP, MPIRUN

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


@pytest.mark.parametrize("name", ["member index too large", "sentry lo > hi",
                                  "member without coeffs", "sentry not a committee"])
def test_error_on_two_ranks_no_hang(tmp_path, name):
    script, pattern = CASES[name]
    deck = tmp_path / "in.bad"
    deck.write_text(SYSTEM + script + "\nrun 10\n")
    proc = subprocess.run([MPIRUN, "-np", "2", LMP, "-in", str(deck), "-log", "none"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode != 0
    import re

    assert re.search("ERROR.*" + pattern, proc.stdout + proc.stderr)
