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
    "bias with one value": ("pair_style committee bias 1.0 lj/cut 2.5",
                            "bias takes two values, A and B"),
    "bias without values": ("pair_style committee bias", "missing argument"),
    "bias negative strength": ("pair_style committee bias -1 0.01 lj/cut 2.5 lj/cut 2.5",
                               "bias strength A must be >= 0"),
    "bias zero width": ("pair_style committee bias 1 0 lj/cut 2.5 lj/cut 2.5",
                        "bias width B must be > 0"),
    "bias one member": ("pair_style committee bias 1 0.01 lj/cut 2.5",
                        "bias needs at least two members"),
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
    "sentry modify lo > hi": (COMMITTEE + "fix s all sentry 10 0.1 0.5\n"
                              "fix_modify s thresholds 0.5 0.2", "lo < hi"),
    "sentry modify missing": (COMMITTEE + "fix s all sentry 10 0.1 0.5\n"
                              "fix_modify s thresholds 0.5", "missing argument"),
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
    # hybrid ends a sub-style's arguments at the next pair style name: the committee would
    # get none of its members (quoted, they reach it as one word)
    "committee in hybrid": ("pair_style hybrid committee lj/cut 2.5 lj/cut 2.5",
                            "Pair style committee cannot be a sub-style of pair style hybrid:"),
    "committee in hybrid/overlay": ('pair_style hybrid/overlay lj/cut 2.5 committee every 10 '
                                    '"lj/cut 2.5 lj/cut 2.5"', "Pair style committee cannot be "
                                    "a sub-style of pair style hybrid/overlay:"),
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
    """mpirun lmp -in deck; stdout also holds rank 0's log file, which keeps an error that
    rank raised alone even when MPI_Abort ends the job before mpirun forwards its output
    (seen on a loaded machine)."""
    deck = tmp_path / name
    deck.write_text(text)
    log = tmp_path / f"{name}.log"
    proc = subprocess.run([MPIRUN, "-np", str(nprocs), LMP, "-in", str(deck), "-log", str(log)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    if log.exists():
        proc.stdout += log.read_text()
    return proc


@pytest.mark.parametrize("name", ["member index too large", "sentry lo > hi",
                                  "member without coeffs", "sentry not a committee",
                                  "committee rRESPA", "sentry rRESPA", "committee in hybrid"])
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


def test_single_refused_after_restart(tmp_path):
    """pair_write checks single_enable before it initializes anything: a committee read
    from a restart file answers with the flag of the committee that was written (its
    deepmd leader has no single()), before its members are rebuilt."""
    from mdsentry.lmp import lammps

    script, _ = SINGLE["deepmd leader"]
    lmp = lammps(deepmd=True)
    lmp.commands_string(CU + script + f"\nrun 0\nwrite_restart {tmp_path}/dp.restart")
    lmp.close()
    for restored in (False, True):
        lmp = lammps(deepmd=True)
        lmp.commands_string(f"read_restart {tmp_path}/dp.restart" if restored else CU + script)
        with pytest.raises(Exception, match="Pair style committee does not support pair_write"):
            lmp.command(f"pair_write 1 1 50 r 2.0 4.0 {tmp_path}/table.txt CU")
        lmp.close()


# a pair style named like one of deepmd-kit's (dpa4spin) that, like them, keeps
# single_enable = 1 without implementing single(); it adds no forces
FAKE_ML = r"""
#include "lammpsplugin.h"

#include "atom.h"
#include "memory.h"
#include "neighbor.h"
#include "pair.h"

using namespace LAMMPS_NS;

namespace {
class PairFakeML : public Pair {
 public:
  PairFakeML(LAMMPS *lmp) : Pair(lmp) {}
  ~PairFakeML() override
  {
    if (allocated) {
      memory->destroy(setflag);
      memory->destroy(cutsq);
    }
  }
  void compute(int eflag, int vflag) override { ev_init(eflag, vflag); }
  void settings(int, char **) override {}
  void coeff(int, char **) override
  {
    const int n = atom->ntypes;
    if (!allocated) {
      allocated = 1;
      memory->create(setflag, n + 1, n + 1, "fake:setflag");
      memory->create(cutsq, n + 1, n + 1, "fake:cutsq");
    }
    for (int i = 1; i <= n; i++)
      for (int j = i; j <= n; j++) setflag[i][j] = 1;
  }
  void init_style() override { neighbor->add_request(this); }
  double init_one(int, int) override { return 3.0; }
};

Pair *creator(LAMMPS *lmp) { return new PairFakeML(lmp); }
}    // namespace

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  plugin.version = VERSION;
  plugin.style = "pair";
  plugin.name = "dpa4spin";
  plugin.info = "mdsentry test: single_enable without single()";
  plugin.author = "mdsentry tests";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &creator;
  plugin.handle = handle;
  ((lammpsplugin_regfunc) regfunc)(&plugin, lmp);
}
"""


@pytest.fixture(scope="module")
def fake_ml_plugin(tmp_path_factory):
    """FAKE_ML built against the installed LAMMPS headers, as the mdsentry plugin is."""
    import shutil
    import sys

    cxx = shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    root = os.path.dirname(HERE)
    found = subprocess.run([sys.executable, os.path.join(root, "lammps_plugin", "find_lammps.py")],
                           capture_output=True, text=True, check=True).stdout.strip()
    headers, version, mpi_include, _ = found.split(";")
    d = tmp_path_factory.mktemp("fake_ml")
    (d / "fake_ml.cpp").write_text(FAKE_ML)
    lib = d / "fakemlplugin.so"
    subprocess.run([cxx, "-std=c++17", "-shared", "-fPIC", "-O0", "-DLAMMPS_SMALLBIG",
                    f'-DVERSION="{version}"', "-I", os.path.join(root, "lammps_plugin", "compat"),
                    "-I", headers, "-I", mpi_include, str(d / "fake_ml.cpp"), "-o", str(lib),
                    "-Wl,--allow-shlib-undefined"], check=True, capture_output=True, text=True)
    return lib


@pytest.mark.parametrize("forces", ["leader", "mean"])
def test_single_refused_for_deepmd_family_names(fake_ml_plugin, forces):
    """deepmd-kit's styles are known by name prefix (deepmd, deepspin, dpa...): a dpa4spin
    member without single() is refused, not read as zero energies and forces."""
    from mdsentry.lmp import lammps

    members, m = ("dpa4spin lj/cut 2.5", 1) if forces == "leader" else ("lj/cut 2.5 dpa4spin", 2)
    lmp = lammps()
    lmp.command(f"plugin load {fake_ml_plugin}")
    lmp.commands_string(SYSTEM + f"""pair_style committee forces {forces} {members}
pair_coeff * * {m}
pair_coeff 1 1 {3 - m} 1.0 1.0
""")
    with pytest.raises(Exception, match=r"Compute pl \(pair/local\) needs single\(\) of pair "
                       rf"style committee, which committee member {m} \(dpa4spin\) does not"):
        lmp.commands_string("compute pl all pair/local dist eng\nrun 0")
    lmp.close()


def test_fix_modify_thresholds_reclassifies_later_checks():
    """fix_modify ID thresholds lo hi between runs: a deviation of 0.3 is a candidate
    under 0.1/0.5, trusted under 0.4/0.8; the counts so far stay."""
    from mdsentry.lmp import lammps

    lmp = lammps()
    lmp.commands_string(SYSTEM)
    lmp.commands_string("pair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0\n"
                        "variable d equal 0.3\nfix s all sentry 1 0.1 0.5 source v_d halt no\n"
                        "run 4\nfix_modify s thresholds 0.4 0.8\nrun 6")
    vec = [lmp.extract_fix("s", 0, 1, i) for i in range(3)]
    assert vec[1:] == [6.0, 4.0]  # 6 trusted (second run), 4 candidates (first run)
    lmp.close()
